//! Corruption on disk: flipped bytes in SST files, a damaged CURRENT or
//! MANIFEST, a missing SST file. Opening must fail with a clear error, or
//! every read must give either exactly what the intact database gives or
//! a clear error — never a panic, never a silently wrong value.
//! (A corrupt format tag is covered by the unit tests of `db::format`.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn identifiers() -> Vec<Identifier> {
    (0..12)
        .map(|n| id(&[format!("user_id:p{n}"), format!("email:p{n}@x.com"), format!("device_id:p{n}")][n % 3]))
        .collect()
}

fn open(dir: &Path) -> profiledb::Result<ProfileDb> {
    ProfileDb::builder(dir).clock(Arc::new(ManualClock::new(Timestamp(1_000_000)))).snapshot_every(4).open()
}

/// A database with traits, merges, an unmerge, snapshots and folded
/// history, compacted so everything is in SST files; then closed.
fn build(dir: &Path) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).snapshot_every(4).open().unwrap();
    let ids = identifiers();
    for round in 0..6 {
        for (n, ident) in ids.iter().enumerate() {
            clock.advance(1_000);
            let u = Update::new()
                .set("round", round)
                .set("name", format!("person {n}"))
                .add_to_set("tags", [format!("t{round}")]);
            db.update(ident, u).unwrap();
        }
    }
    let horizon = clock.now();
    for pair in ids.chunks(4) {
        clock.advance(1_000);
        db.identify(&[pair[0].clone(), pair[1].clone()], Update::new().increment("logins", 1)).unwrap();
    }
    clock.advance(1_000);
    db.unmerge(db.resolve(&ids[1]).unwrap().unwrap(), &ids[1]).unwrap();
    db.retain_history(horizon).unwrap();
    db.compact().unwrap();
    assert!(db.check().unwrap().is_clean());
}

/// What each read gave, by label: the value or the error as `Debug`/`Display` text.
type Reads = BTreeMap<String, Result<String, String>>;

/// Every read the public API offers, labelled, with its raw result.
fn read_everything(db: &ProfileDb) -> Vec<(String, profiledb::Result<String>)> {
    fn text<T: std::fmt::Debug>(r: profiledb::Result<T>) -> profiledb::Result<String> {
        r.map(|v| format!("{v:?}"))
    }
    let mut out = Vec::new();
    for ident in identifiers() {
        out.push((format!("resolve {ident}"), text(db.resolve(&ident))));
        out.push((format!("get {ident}"), text(db.get(&ident))));
    }
    for n in 0..14 {
        let p = ProfileId(n);
        out.push((format!("get_by_id {n}"), text(db.get_by_id(p))));
        out.push((format!("identifiers {n}"), text(db.identifiers(p))));
        out.push((format!("identity_graph {n}"), text(db.identity_graph(p))));
        out.push((format!("history {n}"), text(db.history(p))));
        for version in 1..12 {
            out.push((format!("as_of {n}@{version}"), text(db.get_as_of_version(p, version))));
        }
        out.push((format!("as_of_time {n}"), text(db.get_as_of_time(p, Timestamp(20_000)))));
    }
    out.push(("profile_count".into(), text(db.profile_count())));
    out.push(("raw_dump".into(), text(db.raw_dump())));
    out.push(("check".into(), db.check().map(|r| r.to_string())));
    out
}

fn as_text(reads: &[(String, profiledb::Result<String>)]) -> Reads {
    reads.iter().map(|(l, r)| (l.clone(), r.as_ref().cloned().map_err(ToString::to_string))).collect()
}

/// A clear error names what went wrong in storage: RocksDB's corruption
/// report, or ours for a value that does not decode.
fn assert_clear(e: &Error, context: &str) {
    let text = e.to_string();
    // A MANIFEST truncated to its first record lists no family of ours:
    // the open cannot tell it from another program's database.
    let kinds = matches!(e, Error::Storage { .. } | Error::Corrupt { .. } | Error::ForeignDatabase { .. });
    assert!(kinds, "{context}: unexpected error kind: {text}");
    let lower = text.to_lowercase();
    assert!(
        ["corrupt", "checksum", "no such file", "magic", "mismatch", "truncated", "bad", "invalid", "damaged"]
            .iter()
            .any(|w| lower.contains(w)),
        "{context}: error does not say what is wrong: {text}"
    );
}

#[derive(Debug, Default)]
struct Outcomes {
    open_failed: u32,
    some_reads_failed: u32,
    all_reads_intact: u32,
}

/// Opens `dir` and requires: a clear open error, or every read equal to
/// the intact database's or a clear error.
fn assert_never_silently_wrong(dir: &Path, intact: &Reads, context: &str, tally: &mut Outcomes) {
    let db = match open(dir) {
        Ok(db) => db,
        Err(e) => {
            assert_clear(&e, &format!("{context}: open"));
            tally.open_failed += 1;
            return;
        }
    };
    let mut failed = false;
    for (label, got) in read_everything(&db) {
        let same = match (&got, &intact[&label]) {
            (Ok(v), Ok(w)) => v == w,
            (Err(e), Err(w)) => e.to_string() == *w,
            _ => false,
        };
        match got {
            _ if same => {}
            Ok(v) => panic!("{context}: {label} silently differs from the intact database: {v}"),
            Err(e) => {
                assert_clear(&e, &format!("{context}: {label}"));
                failed = true;
            }
        }
    }
    if failed {
        tally.some_reads_failed += 1;
    } else {
        tally.all_reads_intact += 1;
    }
}

/// splitmix64, for reproducible corruption positions.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(suffix)))
        .collect();
    out.sort();
    out
}

/// A pristine database and what every read gives on it.
fn pristine() -> (tempfile::TempDir, Reads) {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("pristine");
    build(&dir);
    let reads = read_everything(&open(&dir).unwrap());
    for (label, r) in &reads {
        if let Err(e) = r {
            assert!(matches!(e, Error::NotFound(_) | Error::HistoryTruncated { .. }), "intact {label}: {e}");
        }
    }
    let reads = as_text(&reads);
    assert!(reads.values().filter(|r| r.is_ok()).count() > 100, "the fixture reads real data");
    (root, reads)
}

#[test]
fn flipped_bytes_in_sst_files_never_give_a_silently_wrong_value() {
    let (root, intact) = pristine();
    let dir = root.path().join("pristine");
    let ssts = files_ending(&dir, ".sst");
    assert!(ssts.len() >= 5, "compaction left one SST per column family: {ssts:?}");
    // The first data block, the footer, and ten places anywhere, per file.
    let mut rng = Rng(0xc0de);
    let mut tally = Outcomes::default();
    for (i, sst) in ssts.iter().enumerate() {
        let len = std::fs::metadata(sst).unwrap().len();
        let mut positions = vec![rng.below(len.min(64)), len - 1 - rng.below(len.min(48))];
        positions.extend((0..10).map(|_| rng.below(len)));
        for (j, pos) in positions.into_iter().enumerate() {
            let copy = root.path().join(format!("sst-{i}-{j}"));
            copy_dir(&dir, &copy);
            let target = copy.join(sst.file_name().unwrap());
            let mut bytes = std::fs::read(&target).unwrap();
            let run = 1 + rng.below(4) as usize;
            for b in bytes.iter_mut().skip(pos as usize).take(run) {
                *b ^= 1 << rng.below(8);
            }
            std::fs::write(&target, bytes).unwrap();
            let context = format!("{} bytes {pos}..+{run} flipped", sst.file_name().unwrap().to_string_lossy());
            assert_never_silently_wrong(&copy, &intact, &context, &mut tally);
            std::fs::remove_dir_all(&copy).unwrap();
        }
    }
    eprintln!("SST corruption: {tally:?}");
    assert!(tally.open_failed + tally.some_reads_failed > 0, "no corruption was ever detected: {tally:?}");
}

#[test]
fn a_damaged_current_file_is_a_clear_open_error() {
    let (root, _) = pristine();
    let dir = root.path().join("pristine");
    for (n, content) in [&b""[..], b"garbage", b"MANIFEST-999999\n", b"\xff\xfe\x00\x01\n"].into_iter().enumerate() {
        let copy = root.path().join(format!("current-{n}"));
        copy_dir(&dir, &copy);
        std::fs::write(copy.join("CURRENT"), content).unwrap();
        let err = open(&copy).expect_err("a damaged CURRENT must not open");
        assert_clear(&err, &format!("CURRENT = {content:?}"));
    }
}

/// RocksDB, asked to create a missing database, creates a new empty one
/// over a directory whose CURRENT is gone: the first open fails (a WAL is
/// in the way) but leaves a fresh CURRENT behind, the second opens an
/// empty database and deletes the old SST files as obsolete.
#[test]
fn a_missing_current_file_never_opens_an_empty_database() {
    let (root, _) = pristine();
    let dir = root.path().join("pristine");
    std::fs::remove_file(dir.join("CURRENT")).unwrap();
    let ssts = files_ending(&dir, ".sst");
    for attempt in 0..2 {
        match open(&dir) {
            Ok(db) => panic!("attempt {attempt}: opened a database of {} profiles", db.profile_count().unwrap()),
            Err(e) => assert_clear(&e, &format!("attempt {attempt} without CURRENT")),
        }
    }
    assert_eq!(files_ending(&dir, ".sst"), ssts, "the data files are untouched");
}

#[test]
fn a_damaged_manifest_is_a_clear_open_error_or_reads_intact() {
    let (root, intact) = pristine();
    let dir = root.path().join("pristine");
    let manifest = files_ending(&dir, "").into_iter().find(|p| p.to_string_lossy().contains("MANIFEST-")).unwrap();
    let len = std::fs::metadata(&manifest).unwrap().len() as usize;
    let mut rng = Rng(0x3a41);
    let mut tally = Outcomes::default();
    for trial in 0..12 {
        let copy = root.path().join(format!("manifest-{trial}"));
        copy_dir(&dir, &copy);
        let target = copy.join(manifest.file_name().unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        let context = if trial < 8 {
            let pos = rng.below(len as u64) as usize;
            bytes[pos] ^= 1 << rng.below(8);
            format!("MANIFEST byte {pos} flipped")
        } else {
            let keep = rng.below(len as u64) as usize;
            bytes.truncate(keep);
            format!("MANIFEST truncated to {keep} of {len} bytes")
        };
        std::fs::write(&target, bytes).unwrap();
        assert_never_silently_wrong(&copy, &intact, &context, &mut tally);
    }
    eprintln!("MANIFEST corruption: {tally:?}");
    assert!(tally.open_failed > 0, "{tally:?}");
}

#[test]
fn a_missing_sst_file_is_a_clear_open_error() {
    let (root, _) = pristine();
    let dir = root.path().join("pristine");
    for (i, sst) in files_ending(&dir, ".sst").iter().enumerate() {
        let copy = root.path().join(format!("missing-{i}"));
        copy_dir(&dir, &copy);
        std::fs::remove_file(copy.join(sst.file_name().unwrap())).unwrap();
        let err = open(&copy).expect_err("a database missing an SST file must not open");
        assert_clear(&err, &format!("{} deleted", sst.display()));
    }
}
