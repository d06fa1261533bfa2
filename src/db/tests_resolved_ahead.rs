//! A batch looks up its events' first identifiers in the identity cache
//! before applying any (`Txn::resolved_ahead`): an identifier that an
//! earlier event of the same batch moved by a merge, or linked for the
//! first time, resolves where that event put it, not where the lookup
//! found it.

use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::rollup::Window;
use crate::{ProfileDb, Update};

fn ident(s: &str) -> Identifier {
    s.parse().expect("a valid test identifier")
}

fn event(kind: EventKind, name: &str, db: &ProfileDb, ids: &[&str]) -> Event {
    let mut ids: Vec<Identifier> = ids.iter().map(|s| ident(s)).collect();
    ids.sort();
    Event::new(kind, name, db.core.clock.now(), ids)
}

fn purchases(db: &ProfileDb, p: ProfileId) -> u64 {
    db.event_stats(p, "purchase", Window::All).expect("stats").count
}

#[test]
fn identifiers_moved_or_linked_earlier_in_the_batch_resolve_where_they_went() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    let ann = db.update(&ident("email:ann@x.com"), Update::new().set("n", 1)).expect("update").profile;
    let bob = db.update(&ident("user_id:bob"), Update::new().set("n", 2)).expect("update").profile;
    assert_eq!((ann, bob), (ProfileId(0), ProfileId(1)));
    // Both identifiers are cached (their writes published them): the batch
    // finds user_id:bob on profile 1 before applying anything.
    let batch = [
        // Merges 1 into 0: user_id:bob moves to 0.
        event(EventKind::Identify, "identify", &db, &["email:ann@x.com", "user_id:bob"]),
        event(EventKind::Track, "purchase", &db, &["user_id:bob"]),
        // Unknown when the batch starts; linked by the first, found by the second.
        event(EventKind::Track, "purchase", &db, &["device_id:d1"]),
        event(EventKind::Track, "purchase", &db, &["device_id:d1"]),
    ];
    let report = db.ingest_batch(&batch, false).expect("batch");
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(report.applied, 4);

    assert_eq!(db.resolve(&ident("user_id:bob")).expect("resolve"), Some(ann));
    assert_eq!(db.resolve_id(bob).expect("resolve"), Some(ann), "1 merged into 0");
    assert_eq!(purchases(&db, ann), 1, "the purchase went to the survivor");
    let device = db.resolve(&ident("device_id:d1")).expect("resolve").expect("linked");
    assert_ne!(device, ann);
    assert_eq!(purchases(&db, device), 2, "both purchases on the one new profile");
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
}
