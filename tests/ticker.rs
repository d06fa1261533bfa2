//! The background tick thread: it applies due wake-ups as a manual clock
//! advances, keeps running while any handle clone lives, and stops (and
//! releases the database) when the last one drops.

use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::{Error, ManualClock, ProfileDb, Timestamp, Update};

const HOUR: i64 = 3_600_000;

/// Waits (bounded, for liveness only) until `cond` holds.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "the background thread never {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn the_thread_applies_due_wakeups_and_stops_with_the_last_handle() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let errors = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let sink = errors.clone();
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .tick_interval(Duration::from_millis(5))
        .on_tick_error(move |m| sink.lock().push(m.to_owned()))
        .open()
        .unwrap();
    let who = "user_id:1".parse().unwrap();
    let trial_ends = Timestamp(clock.now().0 + HOUR);
    db.update(&who, Update::new().set("trial_ends", trial_ends)).unwrap();
    assert_eq!(db.define_segment("trialing", "traits.trial_ends > now").unwrap(), 1);
    let p = db.resolve(&who).unwrap().unwrap();

    // A clone keeps the thread alive after the original handle drops.
    let clone = db.clone();
    drop(db);
    clock.advance(2 * HOUR);
    eventually("left the segment on time", || !clone.in_segment("trialing", p).unwrap());
    // The thread publishes its counters after the tick's commit is visible.
    eventually("the thread counted its tick", || clone.ticker_status().is_some_and(|s| s.processed >= 1));
    let status = clone.ticker_status().expect("a ticker runs");
    assert!(status.runs >= 1 && status.processed >= 1, "{status:?}");
    assert_eq!((status.errors, status.last_error), (0, None));
    assert!(errors.lock().is_empty());

    // The last handle drops: the thread is joined and the database closed,
    // so it opens again at once (a leaked handle would hold its lock).
    drop(clone);
    let again = ProfileDb::open(dir.path()).unwrap();
    assert!(again.ticker_status().is_none(), "no thread unless asked for");
    assert!(!again.in_segment("trialing", p).unwrap());
}

#[test]
fn bad_ticker_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let zero = ProfileDb::builder(dir.path()).tick_interval(Duration::ZERO).open().unwrap_err();
    assert!(matches!(zero, Error::InvalidInput(_)), "{zero}");
    drop(ProfileDb::open(dir.path()).unwrap());
    let ro = ProfileDb::builder(dir.path())
        .access_mode(profiledb::AccessMode::ReadOnly)
        .tick_interval(Duration::from_secs(1))
        .open()
        .unwrap_err();
    assert!(ro.to_string().contains("read-write"), "{ro}");
}
