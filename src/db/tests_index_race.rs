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

/// Work to run right after `index_trait` commits, per database path.
type Hook = Box<dyn FnOnce(&ProfileDb) + Send>;

static HOOKS: Mutex<Vec<(PathBuf, Hook)>> = Mutex::new(Vec::new());

/// Called by `index_trait` between its commit and the publication of the
/// index: runs the hook registered for this database, if any.
pub(super) fn after_commit(db: &ProfileDb) {
    let hook = {
        let mut hooks = HOOKS.lock();
        let at = hooks.iter().position(|(path, _)| path == db.path());
        at.map(|i| hooks.remove(i).1)
    };
    if let Some(hook) = hook {
        hook(db);
    }
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
