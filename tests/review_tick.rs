//! A late tick records time-driven membership changes at their due
//! instants: history (`was_member`), the feed record's `at`, chained
//! wake-ups and the segments that read the flipped one.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::segment::{FeedKind, FeedRecord};
use profiledb::{ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
mod common;
use common::{id, open_at};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    open_at(dir, T0)
}

fn purchase(db: &ProfileDb, clock: &ManualClock, who: &str, at: i64) {
    clock.set(Timestamp(at));
    db.track(&Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)])).unwrap();
}

/// The feed records of `segment` for `p`.
fn feed_of(db: &ProfileDb, segment: &str, p: ProfileId) -> Vec<FeedRecord> {
    let all = db.feed(0, 100_000).unwrap();
    all.into_iter().filter(|r| r.profile == p && r.segment.as_deref() == Some(segment)).collect()
}

fn assert_clean(db: &ProfileDb) {
    assert_eq!(db.check_segments().unwrap(), vec![]);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn a_late_tick_records_a_lapse_and_its_readers_at_the_due_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    purchase(&db, &clock, "user_id:1", T0);
    let p = db.resolve(&id("user_id:1")).unwrap().unwrap();
    db.define_segment("lapsed", "last(purchase) < now - 30d").unwrap();
    db.define_segment("lapsed_pro", r#"in lapsed and traits.plan = "pro""#).unwrap();
    assert!(!db.in_segment("lapsed", p).unwrap());

    // The wake-up is due at T0 + 30d + 1ms; the tick runs a day late.
    let due = T0 + 30 * DAY + 1;
    clock.set(Timestamp(T0 + 31 * DAY));
    assert!(db.tick().unwrap().processed >= 1);
    assert!(db.in_segment("lapsed", p).unwrap());
    assert!(db.in_segment("lapsed_pro", p).unwrap());
    for seg in ["lapsed", "lapsed_pro"] {
        assert!(db.was_member(p, seg, Timestamp(due + HOUR)).unwrap(), "{seg}: a member from the due instant");
        assert!(!db.was_member(p, seg, Timestamp(due - HOUR)).unwrap(), "{seg}: not before it");
        let recs = feed_of(&db, seg, p);
        assert_eq!(recs.len(), 1, "{seg}: {recs:?}");
        assert_eq!(recs[0].kind, FeedKind::Entered);
        assert_eq!(recs[0].at, Timestamp(due), "{seg}: the feed record is at the due instant");
    }
    assert_clean(&db);
}

#[test]
fn a_late_tick_follows_chained_wakeups_to_the_instant_of_the_leave() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    // Two purchases: the first leaves the window (no flip), then the second
    // does (the leave) — two wake-ups in a row, both past when the tick
    // runs 20 days late.
    purchase(&db, &clock, "user_id:1", T0);
    purchase(&db, &clock, "user_id:1", T0 + 3 * DAY);
    let p = db.resolve(&id("user_id:1")).unwrap().unwrap();
    db.define_segment("recent", "count(purchase, 7d) >= 1").unwrap();
    assert!(db.in_segment("recent", p).unwrap());
    let tick_at = T0 + 30 * DAY;
    clock.set(Timestamp(tick_at));
    db.tick().unwrap();
    assert!(!db.in_segment("recent", p).unwrap());
    let recs = feed_of(&db, "recent", p);
    let left: Vec<_> = recs.iter().filter(|r| r.kind == FeedKind::Exited).collect();
    assert_eq!(left.len(), 1, "{recs:?}");
    let at = left[0].at.0;
    assert!((T0 + 9 * DAY..=T0 + 11 * DAY).contains(&at), "left about 7 days after the last purchase, not at {at}");
    assert!(at < tick_at);
    assert!(db.was_member(p, "recent", Timestamp(at - 1)).unwrap());
    assert!(!db.was_member(p, "recent", Timestamp(at)).unwrap());
    assert!(!db.was_member(p, "recent", Timestamp(at + 5 * DAY)).unwrap());
    assert_clean(&db);

    // The same history with ticks on time: the leave is due at exactly `at`.
    let dir2 = tempfile::tempdir().unwrap();
    let (on_time, clock2) = open(dir2.path());
    purchase(&on_time, &clock2, "user_id:1", T0);
    purchase(&on_time, &clock2, "user_id:1", T0 + 3 * DAY);
    on_time.define_segment("recent", "count(purchase, 7d) >= 1").unwrap();
    let q = on_time.resolve(&id("user_id:1")).unwrap().unwrap();
    clock2.set(Timestamp(at - 1));
    on_time.tick().unwrap();
    assert!(on_time.in_segment("recent", q).unwrap(), "still a member just before");
    clock2.set(Timestamp(at));
    on_time.tick().unwrap();
    assert!(!on_time.in_segment("recent", q).unwrap(), "left at the instant the late tick recorded");
}

#[test]
fn a_late_wakeup_is_not_recorded_before_a_later_write_of_its_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.update(&id("user_id:1"), Update::new().set("plan", "free")).unwrap();
    purchase(&db, &clock, "user_id:1", T0);
    let p = db.resolve(&id("user_id:1")).unwrap().unwrap();
    db.define_segment("lapsed", "last(purchase) < now - 30d").unwrap();
    db.define_segment("lapsed_pro", r#"in lapsed and traits.plan = "pro""#).unwrap();
    // After the due instant, before any tick: a write the lapse does not
    // read (so its wake-up stays due), but its reader does.
    let write_at = T0 + 35 * DAY;
    clock.set(Timestamp(write_at));
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    clock.set(Timestamp(T0 + 40 * DAY));
    db.tick().unwrap();
    assert!(db.in_segment("lapsed_pro", p).unwrap());
    // The plan became pro at the write: the reader cannot have entered before.
    assert!(!db.was_member(p, "lapsed_pro", Timestamp(write_at - 1)).unwrap());
    assert!(db.was_member(p, "lapsed_pro", Timestamp(write_at)).unwrap());
    assert_clean(&db);
}
