//! `index_trait` against a concurrent write of the trait it indexes: the
//! write must be in the index, in memory and on disk. A test hook runs a
//! write on another thread between the index's commit and its publication
//! — where the writer lock used to be released already — and waits for
//! it (briefly: with the lock still held, as it must be, the write can
//! only run after the publication).

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::Result;
use crate::identity::identifier::Identifier;
use crate::profile::operator::Update;
use crate::ProfileDb;

/// Work to run at a point of `index_trait`, per database path.
type Hook = Box<dyn FnOnce(&ProfileDb) + Send>;
type Hooks = Mutex<Vec<(PathBuf, Hook)>>;

/// Hooks run right after `index_trait` commits.
static HOOKS: Hooks = Mutex::new(Vec::new());
/// Hooks run after `index_trait` scanned its snapshot, before it takes the
/// writer lock again.
static SCAN_HOOKS: Hooks = Mutex::new(Vec::new());

/// Runs the hook of `hooks` registered for this database, if any.
fn run(hooks: &Hooks, db: &ProfileDb) {
    let hook = {
        let mut hooks = hooks.lock();
        let at = hooks.iter().position(|(path, _)| path == db.path());
        at.map(|i| hooks.remove(i).1)
    };
    if let Some(hook) = hook {
        hook(db);
    }
}

/// Called by `index_trait` between its commit and the publication of the
/// index.
pub(super) fn after_commit(db: &ProfileDb) {
    run(&HOOKS, db);
}

/// Called by `index_trait` after its scan, without the writer lock.
pub(super) fn after_scan(db: &ProfileDb) {
    run(&SCAN_HOOKS, db);
}

fn user(n: u32) -> Identifier {
    Identifier::new("user_id", &n.to_string()).expect("identifier")
}

#[test]
fn a_write_between_the_commit_and_the_publication_of_an_index_is_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    db.update(&user(1), Update::new().set("country", "DE")).expect("update");
    let racer: Arc<Mutex<Option<JoinHandle<Result<()>>>>> = Arc::default();
    let slot = racer.clone();
    let writer = db.clone();
    let hook: Hook = Box::new(move |_| {
        let (done, finished) = crossbeam::channel::bounded(1);
        *slot.lock() = Some(std::thread::spawn(move || {
            let r = writer.update(&user(2), Update::new().set("country", "FR")).map(drop);
            let _ = done.send(());
            r
        }));
        // Lets the write commit now if it can (a released writer lock).
        let _ = finished.recv_timeout(Duration::from_millis(500));
    });
    HOOKS.lock().push((db.path().to_owned(), hook));
    db.index_trait("country").expect("index");
    let handle = racer.lock().take().expect("the hook ran");
    handle.join().expect("the writer thread").expect("the racing update");
    assert_eq!(db.check_trait_indexes().expect("check"), vec![], "the racing write is indexed");
    assert_eq!(db.query(r#"traits.country = "FR""#).expect("query").count(), 1);
    // And on disk: a reopened handle loads the stored bitmaps.
    drop(db);
    let db = ProfileDb::open(dir.path()).expect("reopen");
    assert_eq!(db.check_trait_indexes().expect("check"), vec![]);
    assert_eq!(db.query(r#"traits.country = "FR""#).expect("query").count(), 1);
}

#[test]
fn writes_during_the_scan_go_on_and_are_indexed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    for (n, country) in [(1, "DE"), (2, "DE"), (3, "PL"), (5, "DE")] {
        db.update(&user(n), Update::new().set("country", country)).expect("update");
    }
    db.update(&user(4), Update::new().set("plan", "pro")).expect("update");
    let free: Arc<Mutex<Option<bool>>> = Arc::default();
    let seen = free.clone();
    let hook: Hook = Box::new(move |db| {
        // The scan is over and the writer lock is free: writes go on.
        *seen.lock() = Some(db.core.writer.try_lock().is_some());
        // Scanned as DE, now FR.
        db.update(&user(1), Update::new().set("country", "FR")).expect("change");
        // Created after the snapshot.
        db.update(&user(9), Update::new().set("country", "ES")).expect("create");
        // Erased after the snapshot.
        db.erase(&user(2), Some("req-1")).expect("erase");
        // 3 (PL) merges with 4 (no country): one of them goes away.
        db.identify(&[user(3), user(4)], Update::new()).expect("merge");
        // The trait removed.
        db.update(&user(5), Update::new().unset("country")).expect("unset");
    });
    SCAN_HOOKS.lock().push((db.path().to_owned(), hook));
    db.index_trait("country").expect("index");
    assert_eq!(*free.lock(), Some(true), "the scan ran without the writer lock");
    let read_only =
        ProfileDb::builder(dir.path()).access_mode(crate::AccessMode::ReadOnly).open().expect("read-only open");
    for d in [&db, &read_only] {
        assert_eq!(d.check_trait_indexes().expect("check"), vec![], "the index equals a fresh scan");
        let count = |q: &str| d.query(q).expect("query").count();
        assert_eq!(count(r#"traits.country = "DE""#), 0);
        assert_eq!(count(r#"traits.country = "FR""#), 1);
        assert_eq!(count(r#"traits.country = "ES""#), 1);
        assert_eq!(count(r#"traits.country = "PL""#), 1);
        assert_eq!(count("traits.country exists"), 3);
    }
    assert!(db.check().expect("check").is_clean());
}
