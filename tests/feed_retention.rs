//! Retention of the change feed and of the membership history
//! (`Builder::feed_retention`, `Builder::membership_history_retention`):
//! both plateau over many retention periods, `was_member` stays exact from
//! the floor on (against a database that keeps everything), a feed cursor
//! before the floor is refused, and erasure still removes a person's rows.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, RetentionSettings, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, feed_days: i64, membership_days: i64) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(clock.clone())
        .timeline_retention(30 * DAY)
        .feed_retention(feed_days * DAY)
        .membership_history_retention(membership_days * DAY)
        .open()
        .unwrap()
}

fn purchase(who: &str, at: i64) -> Event {
    Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)])
}

/// The identifier of person `i` of a population whose erased people are
/// replaced (erased identifiers are suppressed).
fn person(gens: &[u32], i: usize) -> String {
    format!("user_id:u{i}-{}", gens[i])
}

/// A day of the simulation: some of `gens.len()` people buy (a
/// time-dependent segment flips them in and out), one anonymous visitor
/// logs in (a merge), every 10th day a person is erased (and replaced);
/// four ticks.
fn run_day(db: &ProfileDb, clock: &ManualClock, day: i64, gens: &mut [u32]) {
    let people = gens.len();
    let start = T0 + day * DAY;
    for i in 0..people {
        if (i as i64 * 7 + day * 3) % 5 == 0 {
            clock.set(Timestamp(start + HOUR + i as i64));
            db.track(&purchase(&person(gens, i), start + HOUR)).unwrap();
        }
    }
    clock.set(Timestamp(start + 2 * HOUR));
    let anon = format!("anonymous_id:a{day}");
    db.update(&id(&anon), Update::new().set("plan", if day % 2 == 0 { "pro" } else { "free" })).unwrap();
    db.identify(&[id(&anon), id(&person(gens, day as usize % people))], Update::new()).unwrap();
    if day % 10 == 9 {
        let i = (day as usize / 10) % people;
        db.erase(&id(&person(gens, i)), None).unwrap();
        gens[i] += 1;
    }
    for h in [6, 12, 18, 23] {
        clock.set(Timestamp(start + h * HOUR));
        let report = db.tick().unwrap();
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }
}

fn define(db: &ProfileDb) {
    db.define_segment("active", "count(purchase, 3d) >= 1").unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
}

fn keys(db: &ProfileDb, cf: &str) -> usize {
    db.dump_cf(cf).unwrap().len()
}

#[test]
fn feed_and_membership_history_plateau_over_many_retention_periods() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 10, 20);
    define(&db);
    let mut samples = Vec::new();
    let mut gens = vec![0; 30];
    for day in 0..160 {
        run_day(&db, &clock, day, &mut gens);
        if day % 40 == 39 {
            samples.push((keys(&db, "feed"), keys(&db, "membership")));
        }
    }
    eprintln!("feed, membership keys at days 40/80/120/160: {samples:?}");
    let (feed_80, membership_80) = samples[1];
    for &(feed, membership) in &samples[2..] {
        assert!(feed <= feed_80 * 5 / 4, "feed grows: {samples:?}");
        assert!(membership <= membership_80 * 5 / 4, "membership history grows: {samples:?}");
    }
    // Without retention the feed holds every record ever written.
    assert!(db.feed_head().unwrap() as usize > 3 * samples[3].0, "{samples:?}");
    assert!(db.check().unwrap().is_clean(), "{}", db.check().unwrap());
    assert!(db.check_segments().unwrap().is_empty());
}

#[test]
fn was_member_is_exact_from_the_floor_on_and_refused_before_it() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (c1, c2) = (Arc::new(ManualClock::new(Timestamp(T0))), Arc::new(ManualClock::new(Timestamp(T0))));
    // The model keeps every row; the other keeps 15 days of history.
    let model = open(d1.path(), &c1, 0, 0);
    let db = open(d2.path(), &c2, 0, 15);
    define(&model);
    define(&db);
    let (mut g1, mut g2) = (vec![0; 12], vec![0; 12]);
    for day in 0..60 {
        run_day(&model, &c1, day, &mut g1);
        run_day(&db, &c2, day, &mut g2);
    }
    db.enforce_retention().unwrap();
    let now = c2.now().0;
    let floor = now - 15 * DAY;
    assert!(keys(&db, "membership") < keys(&model, "membership"), "retention deleted history rows");
    let mut answers = 0;
    for p in 0..40u32 {
        for seg in ["active", "pro"] {
            for step in 0..60 {
                let t = Timestamp(floor + step * 6 * HOUR);
                let want = model.was_member(ProfileId(p), seg, t);
                let got = db.was_member(ProfileId(p), seg, t);
                match (want, got) {
                    (Ok(a), Ok(b)) => assert_eq!(a, b, "profile {p}, {seg}, at {t}"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("profile {p}, {seg}, at {t}: model {a:?}, retained {b:?}"),
                }
                answers += 1;
            }
            match db.was_member(ProfileId(p), seg, Timestamp(floor - 1)) {
                Err(Error::MembershipBeforeRetention { floor: f, .. }) => assert!(f.0 >= floor - DAY && f.0 <= floor),
                // An unknown id (never allocated) is refused as the model refuses it.
                Err(e) => assert!(model.was_member(ProfileId(p), seg, Timestamp(floor - 1)).is_err(), "{e}"),
                Ok(v) => panic!("was_member before the floor answered {v}"),
            }
        }
    }
    assert!(answers > 4000);
    // The floor survives a reopen.
    drop(db);
    let db = open(d2.path(), &c2, 0, 15);
    let e = db.was_member(ProfileId(0), "pro", Timestamp(floor - DAY)).unwrap_err();
    assert!(e.to_string().contains("membership history retention"), "{e}");
    assert!(db.check().unwrap().is_clean());
}

#[test]
fn a_feed_cursor_before_the_oldest_retained_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 5, 0);
    define(&db);
    let mut gens = vec![0; 6];
    for day in 0..12 {
        run_day(&db, &clock, day, &mut gens);
    }
    let head = db.feed_head().unwrap();
    let err = db.feed(0, 10).unwrap_err();
    let Error::FeedTruncated { from: 0, oldest } = err else { panic!("{err:?}") };
    assert!(oldest > 0 && oldest < head, "oldest {oldest}, head {head}");
    let msg = db.feed(oldest - 1, 10).unwrap_err().to_string();
    assert!(msg.contains("re-sync") && msg.contains(&oldest.to_string()), "{msg}");
    // From the floor on, records are served, none older than the retention.
    let page = db.feed(oldest, 100_000).unwrap();
    assert!(!page.is_empty());
    let day_end = clock.now().0;
    assert!(page.iter().all(|r| r.at.0 >= day_end - 6 * DAY), "records past the retention kept");
    // Persisted: a reopen refuses the same cursor.
    drop(db);
    let db = open(dir.path(), &clock, 5, 0);
    assert!(matches!(db.feed(0, 1), Err(Error::FeedTruncated { oldest: o, .. }) if o >= oldest));
}

#[test]
fn erase_removes_the_persons_feed_records_and_membership_rows() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock, 5, 8);
    define(&db);
    let mut gens = vec![0; 6];
    for day in 0..20 {
        run_day(&db, &clock, day, &mut gens);
    }
    let who = id(&person(&gens, 5));
    let p = db.resolve(&who).unwrap().unwrap();
    let oldest = match db.feed(0, 1) {
        Err(Error::FeedTruncated { oldest, .. }) => oldest,
        other => panic!("{other:?}"),
    };
    assert!(db.feed(oldest, 100_000).unwrap().iter().any(|r| r.profile == p));
    db.erase(&who, None).unwrap();
    assert!(db.feed(oldest, 100_000).unwrap().iter().all(|r| r.profile != p || r.segment.is_none()));
    let rows = db.dump_cf("membership").unwrap();
    assert!(rows.iter().all(|e| e.key.get(4..8) != Some(&p.0.to_be_bytes()[..])), "membership rows of the erased");
    assert!(db.check().unwrap().is_clean());
}

#[test]
fn the_settings_are_recorded_reported_and_can_be_changed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let s = db.retention_settings();
        assert_eq!((s.feed_ms, s.membership_ms), (30 * DAY, 365 * DAY), "the defaults");
        define(&db);
        let mut gens = vec![0; 6];
        for day in 0..12 {
            run_day(&db, &clock, day, &mut gens);
        }
        assert!(db.feed(0, 1).is_ok(), "30 days kept");
    }
    {
        // Tightened on the existing database.
        let db = open(dir.path(), &clock, 2, 3);
        let pass = db.enforce_retention().unwrap();
        assert!(pass.feed_records_deleted > 0 && pass.membership_rows_deleted > 0, "{pass:?}");
        assert!(matches!(db.feed(0, 1), Err(Error::FeedTruncated { .. })));
    }
    // An open that sets nothing applies the recorded settings.
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    assert_eq!(db.retention_settings(), RetentionSettings::new(30 * DAY, 0, 2 * DAY, 3 * DAY));
    drop(db);
    for bad in [
        ProfileDb::builder(dir.path()).feed_retention(-1).open(),
        ProfileDb::builder(dir.path()).membership_history_retention(-1).open(),
        ProfileDb::builder(dir.path()).max_clock_jump(-1).open(),
    ] {
        let Err(e) = bad else { panic!("a negative setting is refused") };
        assert!(e.to_string().contains("must be 0 (off) or positive"), "{e}");
    }
}
