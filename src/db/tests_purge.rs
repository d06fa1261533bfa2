//! An erase whose batch committed but whose compaction did not run (the
//! process died in between) is finished by the next writable open: the
//! erased bytes do not stay in the files.

use std::path::Path;
use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::{keys, schema, Identifier, ProfileDb, Update};

const SECRET: &str = "zq-secret-7731@example.com";

fn open(dir: &Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    ProfileDb::builder(dir).clock(clock).compression(false).open().expect("open")
}

/// The files in `dir` that hold `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file() && std::fs::read(p).expect("read").windows(needle.len()).any(|w| w == needle))
        .map(|p| p.display().to_string())
        .collect()
}

fn last_purge(db: &ProfileDb) -> Option<u64> {
    schema::META_U64.get(&db.core.store.latest(), keys::meta::LAST_PURGE).expect("read meta")
}

#[test]
fn an_erase_cut_short_before_its_compaction_is_purged_by_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let email = Identifier::new("email", SECRET).expect("identifier");
    let db = open(dir.path());
    db.update(&email, Update::new().set("name", "Zed")).expect("update");
    db.compact().expect("compact"); // the bytes are in table files
    db.erase_committed(&email, None).expect("erase");
    assert_eq!(last_purge(&db), Some(0), "the erase's batch marks its compaction pending");
    drop(db); // the process dies before the compaction
    assert!(
        !files_holding(dir.path(), SECRET.as_bytes()).is_empty(),
        "precondition: without the compaction the erased bytes are still in the files"
    );

    let db = open(dir.path());
    assert!(last_purge(&db).is_some_and(|t| t > 0), "the open ran the pending compaction");
    assert_eq!(db.resolve(&email).expect("resolve"), None);
    drop(db);
    assert_eq!(files_holding(dir.path(), SECRET.as_bytes()), Vec::<String>::new());
}

#[test]
fn a_finished_erase_leaves_nothing_pending_and_anonymize_marks_its_purge_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    let a = Identifier::new("email", "a@example.com").expect("identifier");
    let b = Identifier::new("email", "b@example.com").expect("identifier");
    db.update(&a, Update::new().set("x", 1)).expect("update");
    db.update(&b, Update::new().set("x", 2)).expect("update");
    db.erase(&a, None).expect("erase");
    assert!(last_purge(&db).is_some_and(|t| t > 0));
    db.anonymize(&b, None, None).expect("anonymize");
    assert!(last_purge(&db).is_some_and(|t| t > 0), "anonymize's purge ran and cleared the mark");
}

/// Runs `f` with every compaction on this thread failing, as on a full disk.
fn with_failing_compactions<T>(f: impl FnOnce() -> T) -> T {
    crate::storage::FAIL_COMPACTIONS.with(|c| c.set(true));
    let out = f();
    crate::storage::FAIL_COMPACTIONS.with(|c| c.set(false));
    out
}

#[test]
fn an_erase_whose_compaction_fails_says_so_and_stays_pending_until_a_compaction_succeeds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let email = Identifier::new("email", SECRET).expect("identifier");
    let db = open(dir.path());
    db.update(&email, Update::new().set("name", "Zed")).expect("update");
    db.compact().expect("compact");

    let err = with_failing_compactions(|| db.erase(&email, None)).expect_err("the failed compaction is reported");
    assert!(matches!(err, crate::Error::PurgePending { action: "erase", .. }), "{err}");
    assert!(err.to_string().contains("erase committed"), "{err}");
    assert_eq!(db.resolve(&email).expect("resolve"), None, "the erase itself committed");
    assert!(db.purge_pending().expect("pending"), "the mark stays until a compaction succeeds");
    assert_eq!(last_purge(&db), Some(0));

    // `compact` failing again keeps it pending and says why.
    let err = with_failing_compactions(|| db.compact()).expect_err("compact reports its failure");
    assert!(matches!(err, crate::Error::PurgePending { .. }), "{err}");
    assert!(db.purge_pending().expect("pending"));
    drop(db);
    assert!(!files_holding(dir.path(), SECRET.as_bytes()).is_empty(), "precondition: the bytes are still there");

    // A writable open whose purge fails again is refused, naming the purge.
    let err = with_failing_compactions(|| {
        let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
        ProfileDb::builder(dir.path()).clock(clock).compression(false).open().map(drop)
    })
    .expect_err("the open's purge failed");
    assert!(matches!(err, crate::Error::PurgePending { .. }), "{err}");

    // With space back, the next open finishes it.
    let db = open(dir.path());
    assert!(!db.purge_pending().expect("pending"));
    drop(db);
    assert_eq!(files_holding(dir.path(), SECRET.as_bytes()), Vec::<String>::new());
}

#[test]
fn compact_finishes_a_pending_purge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = Identifier::new("email", SECRET).expect("identifier");
    let db = open(dir.path());
    db.update(&a, Update::new().set("x", 1)).expect("update");
    db.compact().expect("compact");
    let err = with_failing_compactions(|| db.anonymize(&a, None, None)).expect_err("reported");
    assert!(matches!(err, crate::Error::PurgePending { action: "anonymize", .. }), "{err}");
    assert!(db.purge_pending().expect("pending"));
    db.compact().expect("compact");
    assert!(!db.purge_pending().expect("pending"), "compact ran the purge and cleared the mark");
    drop(db);
    assert_eq!(files_holding(dir.path(), SECRET.as_bytes()), Vec::<String>::new());
}
