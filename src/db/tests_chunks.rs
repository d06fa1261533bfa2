//! Segment bitmap chunks on disk: a chunk is deleted when its last member
//! leaves — by single writes or within one batch — and not while it keeps
//! one; a chunk that comes back holds its members; a reopen loads the same
//! bitmaps and `check` is clean.

use std::path::Path;

use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::operator::Update;
use crate::schema;
use crate::ProfileDb;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid identifier")
}

/// Sets `plan` for user `who` (entering or leaving `pro`).
fn set_plan(db: &ProfileDb, who: &str, plan: &str) {
    db.update(&id(&format!("user_id:{who}")), Update::new().set("plan", plan)).expect("update");
}

/// The members stored in chunk 0 of segment `name` (`None`: no key).
fn stored_chunk(db: &ProfileDb, name: &str) -> Option<Vec<u32>> {
    let seg = {
        let state = db.core.segments.read();
        state.segments[state.by_name[name]].def.id
    };
    let chunk = schema::SEGMENT_CHUNKS.get(&db.core.store.latest(), &keys::segment::chunk(seg, 0)).expect("read chunk");
    chunk.map(|c| c.0.iter().collect())
}

fn members(db: &ProfileDb) -> Vec<u32> {
    db.query("in pro").expect("query").members(0, 100).iter().map(|p| p.0).collect()
}

fn open(dir: &Path) -> ProfileDb {
    ProfileDb::open(dir).expect("open")
}

#[test]
fn a_chunk_is_deleted_when_its_last_member_leaves_and_not_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    db.define_segment("pro", r#"traits.plan = "pro""#).expect("define");
    for who in ["a", "b", "c"] {
        set_plan(&db, who, "pro");
    }
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![0, 1, 2]));
    set_plan(&db, "a", "free");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![1, 2]), "two members stay");
    set_plan(&db, "b", "free");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![2]), "one member stays");
    set_plan(&db, "c", "free");
    assert_eq!(stored_chunk(&db, "pro"), None, "the last member left: the key is deleted");
    set_plan(&db, "b", "pro");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![1]), "a member comes back");

    // One batch: the last member leaves and another enters (kept), then
    // every member leaves (deleted).
    let identify = |who: &str, plan: &str| {
        let mut e =
            Event::new(EventKind::Identify, "identify", db.core.clock.now(), vec![id(&format!("user_id:{who}"))]);
        e.traits = Update::new().set("plan", plan).into_ops();
        e
    };
    db.ingest_batch(&[identify("b", "free"), identify("a", "pro")], true).expect("batch");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![0]), "one left, one entered");
    db.ingest_batch(&[identify("c", "pro"), identify("a", "free")], true).expect("batch");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![2]));
    db.ingest_batch(&[identify("c", "free"), identify("b", "free")], true).expect("batch");
    assert_eq!(stored_chunk(&db, "pro"), None, "every member left in one batch");
    assert!(members(&db).is_empty());
    set_plan(&db, "a", "pro");
    assert_eq!(members(&db), vec![0]);
    drop(db);

    let db = open(dir.path());
    assert_eq!(members(&db), vec![0], "the reopened bitmap is the stored chunks'");
    assert_eq!(stored_chunk(&db, "pro"), Some(vec![0]));
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
}
