//! A clock that runs ahead must not destroy retained data
//! (`Builder::max_clock_jump`, `ProfileDb::accept_clock`): a clock a year
//! (or 70 days) ahead for a few ticks, then corrected, loses nothing and
//! refuses no write; a real long pause proceeds once the clock is
//! accepted; the ticker goes on ticking through a jump.

use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, Window};
use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(clock.clone())
        .timeline_retention(90 * DAY)
        .rollup_bucket_retention(120 * DAY)
        .open()
        .unwrap()
}

fn purchase(who: &str, at: i64, msg: String) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)]);
    e.message_id = Some(msg);
    e.properties.insert("amount", 1i64);
    e
}

const PEOPLE: usize = 40;
/// The real time the simulated databases live up to.
const REAL_NOW: i64 = T0 + 200 * DAY;

/// 60 days of purchases by 40 people up to `real_now`, ticking daily.
fn sixty_days(db: &ProfileDb, clock: &ManualClock, real_now: i64) {
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    db.define_segment("active", "count(purchase, 30d) >= 1").unwrap();
    for day in 0..60 {
        let at = real_now - (60 - day) * DAY;
        clock.set(Timestamp(at + HOUR));
        let evs: Vec<Event> = (0..PEOPLE)
            .filter(|i| (i + day as usize).is_multiple_of(4))
            .map(|i| purchase(&format!("user_id:c{i}"), at, format!("c{day}-{i}")))
            .collect();
        db.ingest_batch(&evs, false).unwrap();
        db.tick().unwrap();
    }
    clock.set(Timestamp(real_now));
    db.tick().unwrap();
}

/// A database that lived sixty days up to `REAL_NOW` (see [`sixty_days`]),
/// with the profile of `user_id:c0`.
fn lived_sixty_days() -> (tempfile::TempDir, Arc<ManualClock>, ProfileDb, ProfileId) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(REAL_NOW - 60 * DAY)));
    let db = open(dir.path(), &clock);
    sixty_days(&db, &clock, REAL_NOW);
    let p = db.resolve(&id("user_id:c0")).unwrap().unwrap();
    (dir, clock, db, p)
}

/// The probe's scenario (`probe_clock_ahead_then_corrected_keeps_retained_data`):
/// the clock `jump_days` ahead for three ticks, then corrected.
fn ahead_then_corrected(jump_days: i64) {
    let (_dir, clock, db, p) = lived_sixty_days();
    let real_now = REAL_NOW;
    let events_before = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len();
    let window_before = db.rollup(p, "spend", Window::days(30)).unwrap();
    let active_before = db.segment_count("active").unwrap();
    assert!(events_before >= 14 && active_before > 0);

    clock.set(Timestamp(real_now + jump_days * DAY));
    for _ in 0..3 {
        match db.tick() {
            Err(Error::ClockJump { ahead_days, .. }) => assert!(ahead_days >= jump_days as f64 - 1.0),
            other => panic!("a tick {jump_days} days ahead: {other:?}"),
        }
    }
    assert!(matches!(db.enforce_retention(), Err(Error::ClockJump { .. })));
    // Corrected: retention goes on by itself.
    clock.set(Timestamp(real_now + HOUR));
    let report = db.tick().unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures);

    let events_after = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len();
    assert_eq!(events_after, events_before, "events inside the retention lost");
    assert_eq!(db.rollup(p, "spend", Window::days(30)).unwrap(), window_before);
    db.query_count("count(purchase, 30d) >= 1").unwrap();
    clock.set(Timestamp(real_now + 3 * HOUR));
    for i in 0..PEOPLE {
        db.track(&purchase(&format!("user_id:c{i}"), real_now + 2 * HOUR, format!("after-{i}"))).unwrap();
    }
    db.update(&id("user_id:c1"), Update::new().set("plan", "pro")).unwrap();
    db.tick().unwrap();
    assert_eq!(db.segment_count("active").unwrap(), PEOPLE as u64);
    assert!(db.check().unwrap().is_clean(), "{}", db.check().unwrap());
}

#[test]
fn a_clock_a_year_ahead_for_three_ticks_then_corrected_loses_nothing() {
    ahead_then_corrected(365);
}

#[test]
fn a_clock_seventy_days_ahead_then_corrected_loses_nothing() {
    ahead_then_corrected(70);
}

#[test]
fn a_jump_within_max_clock_jump_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let real_now = T0 + 200 * DAY;
    let clock = Arc::new(ManualClock::new(Timestamp(real_now - 60 * DAY)));
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .timeline_retention(30 * DAY)
        .max_clock_jump(3 * DAY)
        .open()
        .unwrap();
    sixty_days(&db, &clock, real_now);
    clock.advance(2 * DAY);
    let pass = db.enforce_retention().unwrap();
    assert!(pass.timelines_trimmed > 0, "{pass:?}");
    clock.advance(4 * DAY);
    assert!(matches!(db.tick(), Err(Error::ClockJump { .. })));
}

#[test]
fn a_long_suspension_proceeds_once_the_clock_is_accepted_and_a_reopen_at_once() {
    let (dir, clock, db, p) = lived_sixty_days();
    let real_now = REAL_NOW;
    // The process was suspended 60 days with the handle open; the clock is right.
    clock.set(Timestamp(real_now + 60 * DAY));
    let before = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len();
    let e = db.tick().unwrap_err();
    assert!(e.to_string().contains("accept_clock"), "{e}");
    assert_eq!(e.retry(), profiledb::Retry::Later);
    assert_eq!(db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), before, "held: nothing deleted");
    // Writes are not held.
    db.track(&purchase("user_id:c0", real_now + 60 * DAY, "back".into())).unwrap();
    assert_eq!(db.accept_clock().unwrap(), Timestamp(real_now + 60 * DAY));
    let pass = db.enforce_retention().unwrap();
    assert!(pass.timelines_trimmed > 0, "{pass:?}");
    let kept = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert!(kept.len() < before + 1 && kept.iter().all(|e| e.timestamp.0 >= real_now - 30 * DAY));
    // Closed for another 60 days and reopened: the clock at open counts as
    // seen, so retention follows it without a confirmation.
    drop(db);
    clock.set(Timestamp(real_now + 120 * DAY));
    let db = open(dir.path(), &clock);
    let pass = db.enforce_retention().unwrap();
    assert!(pass.timelines_trimmed > 0, "the reopened database's retention ran: {pass:?}");
    let kept = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert!(kept.iter().all(|e| e.timestamp.0 >= real_now + 30 * DAY), "90 days before the reopen: {kept:?}");
    db.tick().unwrap();
    assert!(db.check().unwrap().is_clean());
}

#[test]
fn the_ticker_keeps_running_through_a_clock_jump() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let seen = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let sink = seen.clone();
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .tick_interval(Duration::from_millis(5))
        .on_tick_error(move |m| sink.lock().push(m.to_owned()))
        .open()
        .unwrap();
    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(20), "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    wait_for("a first tick", &|| db.ticker_status().unwrap().runs >= 2);
    clock.advance(365 * DAY);
    wait_for("jump errors", &|| db.ticker_status().unwrap().errors >= 2);
    assert!(seen.lock().iter().all(|m| m.contains("clock jump")), "{:?}", seen.lock());
    clock.advance(-365 * DAY + HOUR);
    let runs = db.ticker_status().unwrap().runs;
    let errors = db.ticker_status().unwrap().errors;
    wait_for("ticks after the correction", &|| db.ticker_status().unwrap().runs >= runs + 3);
    assert!(db.ticker_status().unwrap().errors <= errors + 1, "ticks after the correction succeed");
}
