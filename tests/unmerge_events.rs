//! Unmerge splits events and rollups too: the events that came only through
//! the identifiers moving back go with them, both profiles' rollups are
//! rebuilt from their timelines, and segments that read events follow —
//! while the survivor's timeline still holds every event its rollups
//! counted; otherwise everything stays with the survivor, and says so.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{RollupValue, Window};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp};

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 20_000 * DAY;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn track(db: &ProfileDb, name: &str, at: i64, who: &[&str]) {
    let mut ids: Vec<Identifier> = who.iter().map(|w| id(w)).collect();
    ids.sort();
    db.track(&Event::new(EventKind::Track, name, Timestamp(at), ids)).unwrap();
}

fn count(db: &ProfileDb, p: profiledb::ProfileId, event: &str) -> u64 {
    db.event_stats(p, event, Window::All).unwrap().count
}

#[test]
fn unmerge_moves_the_split_off_profiles_events_and_rebuilds_rollups_and_segments() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + 3 * DAY)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    db.define_segment("viewers", "count(page_view, 7d) >= 1").unwrap();
    db.define_segment("buyers_2", "count(purchase) >= 2").unwrap();
    track(&db, "purchase", T0, &["user_id:a"]);
    track(&db, "purchase", T0 + DAY, &["anonymous_id:b"]);
    track(&db, "page_view", T0 + DAY + 5, &["anonymous_id:b"]);
    let a = db.resolve(&id("user_id:a")).unwrap().unwrap();
    let b = db.resolve(&id("anonymous_id:b")).unwrap().unwrap();
    // The login links both (stored on the timeline: it carries both identifiers).
    track(&db, "login", T0 + 2 * DAY, &["user_id:a", "anonymous_id:b"]);
    assert_eq!(db.resolve(&id("anonymous_id:b")).unwrap(), Some(a));
    assert_eq!((count(&db, a, "purchase"), count(&db, a, "page_view")), (2, 1));
    assert!(db.in_segment("viewers", a).unwrap() && db.in_segment("buyers_2", a).unwrap());

    let r = db.unmerge(a, &id("anonymous_id:b")).unwrap();
    assert_eq!((r.restored, r.from, r.events), (b, a, Some(2)));
    assert_eq!((count(&db, b, "purchase"), count(&db, b, "page_view")), (1, 1), "b's events went back with it");
    assert_eq!((count(&db, a, "purchase"), count(&db, a, "page_view")), (1, 0));
    assert_eq!(count(&db, a, "login"), 1, "the linking event carried both: it stays with the survivor");
    let names =
        |p| db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().into_iter().map(|e| e.name).collect::<Vec<_>>();
    assert_eq!(names(b), ["purchase", "page_view"]);
    assert_eq!(names(a), ["purchase", "login"]);
    assert!(db.in_segment("viewers", b).unwrap() && !db.in_segment("viewers", a).unwrap());
    assert!(!db.in_segment("buyers_2", a).unwrap() && !db.in_segment("buyers_2", b).unwrap());
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
    // Windows read the moved buckets.
    clock.advance(DAY);
    assert_eq!(db.event_stats(b, "purchase", Window::days(7)).unwrap().count, 1);
    assert_eq!(
        db.rollups_of(a).unwrap().iter().find(|(n, _)| n == "purchase.count").map(|(_, v)| v.clone()),
        Some(RollupValue::Count(1))
    );
}

/// Once retention has cut the survivor's timeline, its buckets count events
/// the timeline no longer holds: they cannot be split, so events and
/// rollups stay with the survivor and the receipt says so.
#[test]
fn unmerge_leaves_events_with_the_survivor_when_its_timeline_was_cut() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + DAY)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(2 * DAY).open().unwrap();
    track(&db, "purchase", T0, &["anonymous_id:b"]);
    track(&db, "purchase", T0, &["user_id:a"]);
    let b = db.resolve(&id("anonymous_id:b")).unwrap().unwrap();
    let a = db.resolve(&id("user_id:a")).unwrap().unwrap();
    track(&db, "login", T0 + DAY, &["user_id:a", "anonymous_id:b"]);
    assert_eq!(db.resolve(&id("user_id:a")).unwrap(), Some(b), "a merged into the older b");
    clock.set(Timestamp(T0 + 5 * DAY));
    db.enforce_retention().unwrap();
    let r = db.unmerge(b, &id("user_id:a")).unwrap();
    assert_eq!((r.restored, r.from, r.events), (a, b, None), "{r:?}");
    assert_eq!(count(&db, b, "purchase"), 2, "the rollups stayed with the survivor");
    assert_eq!(count(&db, a, "purchase"), 0);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(clock.now().0 > T0);
}
