//! The purge compaction after an erase or anonymize cannot remove versions a
//! read still sees: a read that began before the erase (its snapshot) and is
//! still open when the purge runs keeps the erased bytes in the files. The
//! purge then waits (bounded) for such reads; if one is still open, it is
//! reported pending (`Error::PurgePending`, `purge_pending()`), never done,
//! and retried by `compact`, the next erase or anonymize, a tick and the
//! next writable open (privacy review 27, finding 1).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use profiledb::{Error, ManualClock, ProfileDb, Timestamp, Update};

mod common;
use common::{files_containing, id};

const SECRET: &str = "Snapshot-Kept-Secret-8123";
const EMAIL: &str = "zed.snapshot@example.com";

fn open(dir: &std::path::Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    ProfileDb::builder(dir).clock(clock).compression(false).open().expect("open")
}

/// A database whose table files hold Zed's secret (and Ann's).
fn zed_in_the_files(dir: &std::path::Path) -> Arc<ProfileDb> {
    let db = open(dir);
    db.update(&id("user_id:other"), Update::new().set("plan", "free")).expect("update");
    db.update(&id(&format!("email:{EMAIL}")), Update::new().set("ssn", SECRET)).expect("update");
    db.update(&id("email:ann.snapshot@example.com"), Update::new().set("ssn", "Ann-Kept-Secret-5521")).expect("update");
    db.compact().expect("compact");
    assert!(!files_containing(dir, &[SECRET]).is_empty(), "precondition: the secret is in the files");
    Arc::new(db)
}

/// Runs `f` on another thread while this thread holds a read that began
/// before it (`dump_cf_each`'s snapshot), as any long read on another
/// thread (a query, an export, `check`) does; returns what `f` returned
/// and whether a purge was pending inside the read, after `f`.
fn during_a_read<T: Send + 'static>(
    db: &Arc<ProfileDb>,
    f: impl FnOnce(&ProfileDb) -> T + Send + 'static,
) -> (T, bool) {
    let mut f = Some(f);
    let mut out = None;
    db.dump_cf_each("meta", |_| {
        if let Some(f) = f.take() {
            let db2 = db.clone();
            let got = std::thread::spawn(move || f(&db2)).join().expect("the thread ran");
            out = Some((got, db.purge_pending()?));
        }
        Ok::<bool, Error>(true)
    })
    .expect("the read");
    out.expect("meta holds a key")
}

fn assert_pending_because_of_a_read(err: &Error, action: &str) {
    assert!(matches!(err, Error::PurgePending { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with(&format!("{action} committed")), "{msg}");
    assert!(msg.contains("a read that began before"), "the message says why: {msg}");
    assert!(!msg.contains("free disk space"), "not a full disk: {msg}");
}

fn close(db: Arc<ProfileDb>) {
    let Ok(db) = Arc::try_unwrap(db) else { panic!("another handle is still open") };
    drop(db);
}

#[test]
fn an_erase_under_a_read_that_began_before_it_is_reported_pending_and_compact_finishes_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = zed_in_the_files(dir.path());
    let zed = id(&format!("email:{EMAIL}"));
    let (erased, pending) = during_a_read(&db, move |db| db.erase(&zed, None));
    let err = erased.expect_err("the purge cannot finish while the read is open");
    assert_pending_because_of_a_read(&err, "erase");
    assert!(pending, "purge_pending() says so inside the read");
    assert_eq!(db.resolve(&id(&format!("email:{EMAIL}"))).expect("resolve"), None, "the erase committed");
    assert!(db.purge_pending().expect("pending"), "still pending after the read: nothing retried it yet");

    db.compact().expect("compact runs the pending purge");
    assert!(!db.purge_pending().expect("pending"));
    assert_eq!(files_containing(dir.path(), &[SECRET, EMAIL]), Vec::<String>::new());
    close(db);
    assert_eq!(files_containing(dir.path(), &[SECRET, EMAIL]), Vec::<String>::new());
}

#[test]
fn a_purge_left_pending_by_a_read_is_finished_by_the_next_writable_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = zed_in_the_files(dir.path());
    let zed = id(&format!("email:{EMAIL}"));
    let (erased, _) = during_a_read(&db, move |db| db.erase(&zed, None));
    assert_pending_because_of_a_read(&erased.expect_err("pending"), "erase");
    close(db);
    let db = open(dir.path());
    assert!(!db.purge_pending().expect("pending"), "the open ran the purge");
    drop(db);
    assert_eq!(files_containing(dir.path(), &[SECRET, EMAIL]), Vec::<String>::new());
}

#[test]
fn a_purge_left_pending_by_a_read_is_finished_by_the_next_erase() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = zed_in_the_files(dir.path());
    let zed = id(&format!("email:{EMAIL}"));
    let (erased, _) = during_a_read(&db, move |db| db.erase(&zed, None));
    assert_pending_because_of_a_read(&erased.expect_err("pending"), "erase");
    db.erase(&id("email:ann.snapshot@example.com"), None).expect("no read is open now");
    assert!(!db.purge_pending().expect("pending"));
    let left = files_containing(dir.path(), &[SECRET, EMAIL, "Ann-Kept-Secret-5521"]);
    assert_eq!(left, Vec::<String>::new());
}

#[test]
fn a_purge_left_pending_by_a_read_is_retried_by_a_tick() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = zed_in_the_files(dir.path());
    let zed = id(&format!("email:{EMAIL}"));
    let (erased, _) = during_a_read(&db, move |db| db.erase(&zed, None));
    assert_pending_because_of_a_read(&erased.expect_err("pending"), "erase");
    db.tick().expect("tick");
    assert!(!db.purge_pending().expect("pending"), "the tick ran the purge");
    assert_eq!(files_containing(dir.path(), &[SECRET, EMAIL]), Vec::<String>::new());
}

#[test]
fn an_anonymize_under_a_read_that_began_before_it_is_reported_pending() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = zed_in_the_files(dir.path());
    let zed = id(&format!("email:{EMAIL}"));
    let (anonymized, pending) = during_a_read(&db, move |db| db.anonymize(&zed, None, None).map(drop));
    assert_pending_because_of_a_read(&anonymized.expect_err("pending"), "anonymize");
    assert!(pending);
    db.compact().expect("compact");
    assert!(!db.purge_pending().expect("pending"));
    assert_eq!(files_containing(dir.path(), &[SECRET, EMAIL]), Vec::<String>::new());
}

/// The realistic case: ordinary queries on two threads while `erase` runs
/// (each query's snapshot is short-lived, so the purge's wait ends).
#[test]
fn an_erase_with_queries_running_on_other_threads_leaves_no_bytes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Arc::new(open(dir.path()));
    let secret = "Query-Race-Secret-4417";
    for i in 0..20_000 {
        let update = Update::new().set("plan", if i % 2 == 0 { "pro" } else { "free" }).set("age", i % 90);
        db.update(&id(&format!("user_id:u{i}")), update).expect("update");
    }
    let zed = id("email:zed.race@example.com");
    db.update(&zed, Update::new().set("ssn", secret)).expect("update");
    db.compact().expect("compact");
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    db.query_count(r#"traits.age > 40 and traits.plan = "pro""#).expect("query");
                    n += 1;
                }
                n
            })
        })
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    db.erase(&zed, None).expect("the queries' snapshots end; the purge finishes");
    assert!(!db.purge_pending().expect("pending"));
    let during = files_containing(dir.path(), &[secret, "zed.race"]);
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().expect("reader") > 0);
    }
    assert_eq!(during, Vec::<String>::new(), "the bytes are gone as erase returns, with the queries still running");
    close(db);
    assert_eq!(files_containing(dir.path(), &[secret, "zed.race"]), Vec::<String>::new());
}
