//! A missing or damaged write-ahead log (`*.log`: acknowledged writes not
//! yet in table files) fails the open with `Error::WalDamaged` and changes
//! nothing, instead of answering silently from older data; a crash's torn
//! last record still opens with everything before it;
//! `WalRecovery::Salvage` opens a damaged database anyway, accepting the
//! loss; databases written before the logs were tracked still open.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use profiledb::{AccessMode, Durability, Error, Identifier, ProfileDb, Update, WalRecovery};

const CHILD_ENV: &str = "PROFILEDB_WAL_CHILD";

fn id(n: usize) -> Identifier {
    format!("user_id:u{n}").parse().expect("valid identifier")
}

/// Every file of `dir` with its size (and a hash of its bytes), but
/// RocksDB's diagnostic log (`LOG`, rotated to `LOG.old.*` by every open).
fn listing(dir: &Path) -> BTreeMap<String, (u64, u64)> {
    use std::hash::{Hash, Hasher};
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).expect("list the database") {
        let entry = entry.expect("entry");
        if entry.file_name().to_string_lossy().starts_with("LOG") {
            continue;
        }
        let bytes = std::fs::read(entry.path()).expect("read a database file");
        let mut h = std::collections::hash_map::DefaultHasher::new();
        bytes.hash(&mut h);
        out.insert(entry.file_name().to_string_lossy().into_owned(), (bytes.len() as u64, h.finish()));
    }
    out
}

/// The write-ahead log of `dir` holding data (the newest with any: a clean
/// close starts a new, empty one).
fn data_wal(dir: &Path) -> PathBuf {
    wals(dir).into_iter().rev().find(|p| std::fs::metadata(p).unwrap().len() > 0).expect("a log holds data")
}

/// The write-ahead logs of `dir`, oldest first.
fn wals(dir: &Path) -> Vec<PathBuf> {
    let mut logs: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list the database")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    logs.sort();
    logs
}

fn open(dir: &Path) -> profiledb::Result<ProfileDb> {
    ProfileDb::builder(dir).create_if_missing(false).open()
}

/// Writes `range` (one update each: `n` = its number) with `Durability::Wal`.
fn write(db: &ProfileDb, range: std::ops::Range<usize>) {
    for n in range {
        db.update(&id(n), Update::new().set("n", n as i64).set("pad", "x".repeat(200))).expect("write");
    }
}

/// The number of `0..upto` whose profile is there.
fn present(db: &ProfileDb, upto: usize) -> usize {
    (0..upto).filter(|&n| db.get(&id(n)).expect("read").is_some()).count()
}

/// A database whose first 100 writes are in table files and whose next 100
/// are only in its newest write-ahead log, closed cleanly.
fn database_with_unflushed_writes() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let db = ProfileDb::builder(&dir).durability(Durability::Wal).open().unwrap();
    write(&db, 0..100);
    db.compact().unwrap();
    write(&db, 100..200);
    drop(db);
    (root, dir)
}

/// Requires the open of `dir` (writable, read-only) to fail with
/// `WalDamaged` and change nothing, then a salvage open to answer the
/// writes before the damage: returns how many of the 200 it has.
fn refused_then_salvaged(dir: &Path) -> usize {
    let before = listing(dir);
    // Read-only first: it writes no diagnostic LOG to name the file from.
    for mode in [AccessMode::ReadOnly, AccessMode::ReadWrite] {
        let err = ProfileDb::builder(dir).create_if_missing(false).access_mode(mode).open().unwrap_err();
        assert!(matches!(err, Error::WalDamaged { .. }), "{mode:?}: {err}");
        let text = err.to_string();
        let Error::WalDamaged { detail, .. } = &err else { unreachable!() };
        assert!(detail.contains(".log"), "{mode:?}: the error names the log file: {detail:?}");
        for needed in ["write-ahead log", "acknowledged writes", "nothing was read or changed", "Salvage"] {
            assert!(text.contains(needed), "{mode:?}: {text:?} lacks {needed:?}");
        }
        assert_eq!(listing(dir), before, "{mode:?}: a refused open changed the directory");
    }
    let salvage = ProfileDb::builder(dir).create_if_missing(false).wal_recovery(WalRecovery::Salvage);
    let err = salvage.clone().access_mode(AccessMode::ReadOnly).open().unwrap_err();
    assert!(err.to_string().contains("needs read-write access"), "{err}");
    assert_eq!(listing(dir), before, "a refused salvage changed the directory");
    let salvaged = salvage.open().unwrap();
    assert_eq!(present(&salvaged, 100), 100, "writes in table files survive a salvage");
    let n = present(&salvaged, 200);
    drop(salvaged);
    assert!(open(dir).is_ok(), "after a salvage, the database opens normally again");
    n
}

#[test]
fn a_deleted_wal_fails_the_open_and_changes_nothing() {
    let (_root, dir) = database_with_unflushed_writes();
    std::fs::remove_file(data_wal(&dir)).unwrap();
    assert_eq!(refused_then_salvaged(&dir), 100, "the salvage loses the deleted log's writes");
}

#[test]
fn deleting_the_empty_log_a_clean_close_starts_loses_nothing() {
    let (_root, dir) = database_with_unflushed_writes();
    let newest = wals(&dir).pop().expect("a log");
    assert_eq!(std::fs::metadata(&newest).unwrap().len(), 0, "a clean close starts an empty log");
    std::fs::remove_file(newest).unwrap();
    assert_eq!(present(&open(&dir).unwrap(), 200), 200);
}

#[test]
fn a_wal_cut_short_after_a_clean_close_fails_the_open() {
    let (_root, dir) = database_with_unflushed_writes();
    let log = data_wal(&dir);
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len - 7).unwrap();
    assert_eq!(refused_then_salvaged(&dir), 199, "the salvage drops the cut record");
}

#[test]
fn deleting_every_wal_fails_the_open() {
    let (_root, dir) = database_with_unflushed_writes();
    for log in wals(&dir) {
        std::fs::remove_file(log).unwrap();
    }
    assert_eq!(refused_then_salvaged(&dir), 100);
}

#[test]
fn corruption_inside_a_wal_fails_the_open_and_salvage_keeps_what_precedes_it() {
    let (_root, dir) = database_with_unflushed_writes();
    let log = data_wal(&dir);
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 8].copy_from_slice(b"\xde\xad\xbe\xef\xde\xad\xbe\xef");
    std::fs::write(&log, bytes).unwrap();
    let kept = refused_then_salvaged(&dir);
    assert!((110..200).contains(&kept), "a salvage keeps the records before the damage: {kept}");
}

/// The writer child of [`a_torn_last_record_after_a_crash_opens_with_everything_before_it`]:
/// writes 0..200 and reports, then waits to be killed.
#[test]
fn wal_child_entry() {
    let Ok(dir) = std::env::var(CHILD_ENV) else { return };
    let db = ProfileDb::builder(&dir).durability(Durability::Wal).open().expect("child open");
    write(&db, 100..200);
    println!("written");
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn a_torn_last_record_after_a_crash_opens_with_everything_before_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let db = ProfileDb::builder(&dir).open().unwrap();
    write(&db, 0..100);
    db.compact().unwrap();
    drop(db);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["wal_child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, &dir)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("written") {
        line.clear();
        assert_ne!(std::io::BufRead::read_line(&mut out, &mut line).unwrap(), 0, "the child exited early");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The crash cut the last record short.
    let log = wals(&dir).pop().expect("a log");
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(len - 7).unwrap();
    let db = open(&dir).expect("a torn last record is a crash, not damage");
    assert_eq!(present(&db, 199), 199, "every record before the torn one is there");
    assert!(db.get(&id(199)).unwrap().is_none(), "the torn record is dropped");
}

#[test]
fn a_database_written_before_wal_tracking_still_opens() {
    // The v14 fixture was written without WAL tracking; its data is in its log.
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v14");
    let root = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), root.path().join(entry.file_name())).unwrap();
    }
    let ann: Identifier = "email:ann@example.com".parse().unwrap();
    let read_only = ProfileDb::builder(root.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(read_only.get(&ann).unwrap().is_some());
    drop(read_only);
    let db = open(root.path()).unwrap();
    assert!(db.get(&ann).unwrap().is_some());
    write(&db, 0..10);
    drop(db);
    let db = open(root.path()).unwrap();
    assert_eq!(present(&db, 10), 10);
}
