//! One profile whose segments cannot be evaluated holds nothing else up:
//! a write to it fails naming the segment, a tick processes the other
//! wake-ups and a retention pass trims the other profiles, each reporting
//! the profile it left for the next try. Stored data that does not decode
//! (an event overwritten with garbage) makes the evaluation fail.

use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::error::Error;
use crate::event::{Event, EventKind};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::{Identifier, IngestOutcome, ProfileDb};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
/// Midnight UTC.
const T0: i64 = 1_699_920_000_000;

fn user(n: u32) -> Identifier {
    Identifier::new("user_id", &format!("u{n}")).expect("identifier")
}

fn purchase(db: &ProfileDb, who: u32, at: i64) -> crate::Result<ProfileId> {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![user(who)]);
    e.properties.insert("amount", 10);
    match db.track(&e)? {
        IngestOutcome::Applied(r) => Ok(r.profile),
        other => panic!("not applied: {other:?}"),
    }
}

/// Overwrites `p`'s latest stored event with bytes that do not decode.
fn corrupt_last_event(db: &ProfileDb, p: ProfileId) {
    let key = {
        let view = db.core.store.latest();
        let (from, to) = (keys::event_from(p, i64::MIN), keys::event_from(p, i64::MAX));
        let events = view.range(schema::EVENTS.name, &from, Some(&to)).expect("range");
        events.last().expect("an event").expect("read").0.to_vec()
    };
    let mut batch = db.core.store.batch();
    batch.put(schema::EVENTS.name, key, b"\xff not an event".to_vec());
    db.core.store.commit(batch).expect("commit");
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, timeline_days: i64) -> ProfileDb {
    // The tests jump the clock by weeks at once.
    ProfileDb::builder(dir)
        .clock(clock.clone())
        .timeline_retention(timeline_days * DAY)
        .max_clock_jump(0)
        .open()
        .expect("open")
}

#[test]
fn a_write_whose_segment_cannot_be_evaluated_names_the_segment_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 365);
    let a = purchase(&db, 1, T0).expect("track");
    db.define_segment("paid", "count(purchase where amount > 0) >= 1").expect("define");
    corrupt_last_event(&db, a);
    let before = db.raw_dump().expect("dump");
    let err = purchase(&db, 1, T0 + HOUR).expect_err("the evaluation reads the broken event");
    match &err {
        Error::SegmentEvaluation { segment, profile, source } => {
            assert_eq!((segment.as_str(), *profile), ("paid", a.0));
            assert!(matches!(**source, Error::Corrupt { .. }), "{source}");
        }
        other => panic!("expected a segment evaluation error, got {other}"),
    }
    assert!(err.to_string().contains("segment \"paid\"") && err.to_string().contains(&format!("profile {a}")));
    assert_eq!(db.raw_dump().expect("dump"), before, "nothing written");
    purchase(&db, 2, T0 + HOUR).expect("another profile is written");
}

#[test]
fn a_tick_processes_the_other_wakeups_and_reports_the_failed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 365);
    let (a, b) = (purchase(&db, 1, T0).expect("track"), purchase(&db, 2, T0).expect("track"));
    // Read by a's evaluation at its due instant, T0 + 30d + 1ms.
    purchase(&db, 1, T0 + HOUR).expect("track");
    db.define_segment("recent_paid", "count(purchase where amount > 0, 30d) >= 1").expect("define");
    corrupt_last_event(&db, a);
    clock.set(Timestamp(T0 + 31 * DAY));
    for round in 0..2 {
        let report = db.tick().expect("the tick goes on");
        assert_eq!(report.failures.len(), 1, "round {round}: {report:?}");
        let f = &report.failures[0];
        assert_eq!((f.profile, f.work), (a, "wake-up"));
        assert!(f.error.contains("recent_paid") && f.to_string().contains(&format!("profile {a}")), "{f}");
        assert!(!db.in_segment("recent_paid", b).expect("read"), "b's wake-up was processed");
        assert!(db.in_segment("recent_paid", a).expect("read"), "a's stays due, retried by the next tick");
    }
}

#[test]
fn a_retention_pass_trims_the_others_and_reports_the_failed_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 10);
    let (a, b) = (purchase(&db, 1, T0).expect("track"), purchase(&db, 2, T0).expect("track"));
    db.define_segment("paid", "count(purchase where amount > 0) >= 1").expect("define");
    corrupt_last_event(&db, a);
    clock.set(Timestamp(T0 + 20 * DAY));
    let pass = db.enforce_retention().expect("the pass goes on");
    assert!(pass.complete);
    assert_eq!(pass.timelines_trimmed, 1, "{pass:?}");
    assert_eq!(pass.failures.len(), 1, "{pass:?}");
    assert_eq!((pass.failures[0].profile, pass.failures[0].work), (a, "retention"));
    assert!(pass.failures[0].error.contains("\"paid\""), "{}", pass.failures[0]);
    assert!(db.events(b, Timestamp(0), Timestamp(i64::MAX)).expect("events").is_empty(), "b is trimmed");
    assert!(!db.in_segment("paid", b).expect("read"), "the timeline no longer holds b's purchase");
    assert!(db.in_segment("paid", a).expect("read"), "a is left as it was");
    // The next pass (and a tick's step) retries it, and fails for it alone again.
    clock.advance(HOUR);
    let report = db.tick().expect("the tick goes on");
    assert_eq!(report.failures.iter().map(|f| (f.profile, f.work)).collect::<Vec<_>>(), vec![(a, "retention")]);
}

/// A wake-up still due while a pass has raised the timeline floor past
/// its window but not yet visited its profile (a pass between ticks, cut
/// short by a crash or run beside a tick) is evaluated at the earliest
/// instant its window starts at or after the floor — not at its due
/// instant, where the guard against reading below the floor would fail it.
#[test]
fn a_wakeup_left_due_below_a_raised_floor_is_evaluated_where_retention_allows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 4);
    let a = purchase(&db, 1, T0).expect("track");
    purchase(&db, 1, T0 + HOUR).expect("track");
    db.define_segment("recent", "count(purchase, 4d) >= 1").expect("define");
    assert!(db.in_segment("recent", a).expect("read"));
    // The floor rises (in memory, as a pass's first step publishes it)
    // while a's events before it are still stored.
    db.core.retention.publish(T0 + 2 * DAY, crate::rollup::retention::NO_FLOOR);
    clock.set(Timestamp(T0 + 5 * DAY));
    let report = db.tick().expect("tick");
    assert_eq!(report.failures, vec![]);
    assert!(report.processed >= 1);
    assert!(!db.in_segment("recent", a).expect("read"));
    assert_eq!(db.check_segments().expect("check"), vec![]);
}
