//! What retention reports deleting is what it deleted: a tick's
//! `TickReport` and `enforce_retention`'s `RetentionPass` count the
//! change-feed records and membership-history rows their retention step
//! removed — compared with the keys left, the feed floor and the
//! `was_member` floor, in a small scenario on a manual clock.

use std::sync::Arc;

use profiledb::{Error, Identifier, ManualClock, ProfileDb, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
const PEOPLE: i64 = 5;
const DAYS: i64 = 40;

fn person(i: i64) -> Identifier {
    format!("user_id:u{i}").parse().expect("identifier")
}

/// Keeps 10 days of feed and 20 of membership history; `PEOPLE` people
/// switch plans daily for `DAYS` days (one feed record and one membership
/// row each per day: the segment reads the plan only, so no wake-up adds
/// any later). No retention step runs meanwhile; the clock ends at
/// `T0 + DAYS` days, accepted as right.
fn scenario(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir)
        .clock(clock.clone())
        .feed_retention(10 * DAY)
        .membership_history_retention(20 * DAY)
        .open()
        .expect("open");
    db.define_segment("pro", r#"traits.plan = "pro""#).expect("define");
    for day in 0..DAYS {
        clock.set(Timestamp(T0 + day * DAY + HOUR));
        for i in 0..PEOPLE {
            let plan = if day % 2 == 0 { "pro" } else { "free" };
            db.update(&person(i), Update::new().set("plan", plan)).expect("update");
        }
    }
    clock.set(Timestamp(T0 + DAYS * DAY));
    db.accept_clock().expect("accept the clock");
    (db, clock)
}

fn keys(db: &ProfileDb, cf: &str) -> u64 {
    db.dump_cf(cf).expect("dump").len() as u64
}

/// The records before the cut (days 0..30: the feed keeps 10 days), and
/// the rows before the floor (days 0..20) but each (segment, profile)'s
/// last one, which says what the membership was from the floor on.
const FEED_DELETED: u64 = (30 * PEOPLE) as u64;
const ROWS_DELETED: u64 = (19 * PEOPLE) as u64;

/// What is left after the deletions: the feed refuses cursors before its
/// floor and serves what is after it; `was_member` answers from the
/// membership floor on and refuses before it.
fn check_left(db: &ProfileDb, feed_before: u64, rows_before: u64) {
    assert_eq!(keys(db, "feed"), feed_before - FEED_DELETED);
    assert_eq!(keys(db, "membership"), rows_before - ROWS_DELETED);
    let Err(Error::FeedTruncated { oldest, .. }) = db.feed(0, 1) else { panic!("the feed floor rose") };
    assert_eq!(db.feed(oldest, 100_000).expect("feed").len() as u64, feed_before - FEED_DELETED);
    let p = db.resolve(&person(0)).expect("resolve").expect("a profile");
    let floor = Timestamp(T0 + 20 * DAY);
    assert!(db.was_member(p, "pro", floor).is_ok());
    assert!(matches!(db.was_member(p, "pro", Timestamp(floor.0 - 1)), Err(Error::MembershipBeforeRetention { .. })));
}

#[test]
fn a_tick_reports_the_feed_records_and_membership_rows_it_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, clock) = scenario(dir.path());
    let (feed, rows) = (keys(&db, "feed"), keys(&db, "membership"));
    assert_eq!((feed, rows), ((DAYS * PEOPLE) as u64, (DAYS * PEOPLE) as u64));
    let report = db.tick().expect("tick");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!((report.feed_records_deleted, report.membership_rows_deleted), (FEED_DELETED, ROWS_DELETED));
    check_left(&db, feed, rows);
    // Nothing more is due: the next tick deletes and reports nothing.
    clock.set(Timestamp(T0 + DAYS * DAY + HOUR));
    let again = db.tick().expect("tick");
    assert_eq!((again.feed_records_deleted, again.membership_rows_deleted), (0, 0));
    assert_eq!((keys(&db, "feed"), keys(&db, "membership")), (feed - FEED_DELETED, rows - ROWS_DELETED));
}

#[test]
fn enforce_retention_reports_the_same_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = scenario(dir.path());
    let (feed, rows) = (keys(&db, "feed"), keys(&db, "membership"));
    let pass = db.enforce_retention().expect("retention");
    assert_eq!((pass.feed_records_deleted, pass.membership_rows_deleted), (FEED_DELETED, ROWS_DELETED));
    check_left(&db, feed, rows);
    let again = db.enforce_retention().expect("retention");
    assert_eq!((again.feed_records_deleted, again.membership_rows_deleted), (0, 0));
}
