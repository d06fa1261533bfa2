//! Timeline and bucket retention against a brute-force model: every
//! accepted event is kept in the model; the model's timeline drops events
//! before the timeline floor whenever a retention pass runs, and windows
//! reaching before the bucket floor must be refused. Rollups (all time and
//! every window the engine answers) must equal a scan of every event ever
//! accepted — retention never changes a rollup. Random streams with late
//! and duplicate events, merges, clock advances, ticks and explicit passes.

use std::collections::HashMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Error, Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp};
use proptest::prelude::*;

mod common;
use common::brute_force_rollup;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
/// Noon of a day in 2023.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + DAY / 2;
const TIMELINE_DAYS: i64 = 5;
const BUCKET_DAYS: i64 = 9;

#[derive(Clone, Debug)]
enum Step {
    /// user, purchase?, hours late, amount, message id
    Event {
        who: usize,
        purchase: bool,
        hours_ago: i64,
        amount: i64,
        msg: Option<u8>,
    },
    Link(usize, usize),
    Advance(i64),
    Tick,
    Enforce,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0usize..4, any::<bool>(), 0i64..24 * 14, 1i64..100, prop::option::of(0u8..30))
            .prop_map(|(who, purchase, hours_ago, amount, msg)| Step::Event { who, purchase, hours_ago, amount, msg }),
        1 => (0usize..4, 0usize..4).prop_map(|(a, b)| Step::Link(a, b)),
        2 => (1i64..60).prop_map(Step::Advance),
        1 => Just(Step::Tick),
        1 => Just(Step::Enforce),
    ]
}

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

/// An accepted event, as the model keeps it.
struct Kept {
    profile: ProfileId,
    purchase: bool,
    at: i64,
    amount: i64,
    /// Still in the model's timeline.
    stored: bool,
}

/// The model's floors, raised as the engine's are: when a pass starts.
#[derive(Default)]
struct Floors {
    timeline: Option<i64>,
    bucket_day: Option<i64>,
}

impl Floors {
    /// A pass starts when a floor can rise; it then trims every timeline to
    /// the (possibly unchanged) timeline floor.
    fn pass(&mut self, now: i64, kept: &mut [Kept]) {
        let cut = now - TIMELINE_DAYS * DAY;
        let day = (now - BUCKET_DAYS * DAY).div_euclid(DAY);
        let raise_t = self.timeline.is_none_or(|t| cut > t);
        let raise_d = self.bucket_day.is_none_or(|d| day > d);
        if !raise_t && !raise_d {
            return;
        }
        if raise_t {
            self.timeline = Some(cut);
        }
        if raise_d {
            self.bucket_day = Some(day);
        }
        let floor = self.timeline.unwrap_or(i64::MIN);
        for k in kept.iter_mut().filter(|k| k.at < floor) {
            k.stored = false;
        }
    }
}

fn defs() -> Vec<RollupDef> {
    vec![
        RollupDef::new("purchases", "purchase", Aggregate::Count),
        RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())),
        RollupDef::new("biggest", "purchase", Aggregate::Max("amount".into())),
        RollupDef::new("first_view", "page_view", Aggregate::First),
        RollupDef::new("last_purchase", "purchase", Aggregate::Last),
        RollupDef::new("view_days", "page_view", Aggregate::ActiveDays),
    ]
}

fn model_value(mine: &[&Kept], def: &RollupDef, range: Option<(i64, i64)>) -> RollupValue {
    let purchase = def.event == "purchase";
    let sel: Vec<&&Kept> = mine
        .iter()
        .filter(|k| k.purchase == purchase)
        .filter(|k| range.is_none_or(|(a, b)| (a..=b).contains(&k.at.div_euclid(DAY))))
        .collect();
    let picked: Vec<(i64, i64)> = sel.iter().map(|k| (k.at, k.amount)).collect();
    brute_force_rollup(&def.aggregate, &picked)
}

/// Compares every profile's timeline, every rollup over every window and
/// the invariants with the model.
fn compare(db: &ProfileDb, kept: &[Kept], floors: &Floors) -> Result<(), TestCaseError> {
    let now = db.now().0;
    for who in 0..4 {
        let Some(p) = db.resolve(&user(who)).unwrap() else { continue };
        let mine: Vec<&Kept> = kept.iter().filter(|k| db.resolve_id(k.profile).unwrap() == Some(p)).collect();
        let mut want: Vec<(i64, i64)> = mine.iter().filter(|k| k.stored).map(|k| (k.at, k.amount)).collect();
        want.sort_unstable();
        let mut got: Vec<(i64, i64)> = db
            .events(p, Timestamp(0), Timestamp(i64::MAX))
            .unwrap()
            .iter()
            .map(|e| (e.timestamp.0, e.property("amount").and_then(|v| v.as_f64()).unwrap_or(-1.0) as i64))
            .collect();
        got.sort_unstable();
        prop_assert_eq!(got, want, "timeline of profile {}", p);
        for d in defs() {
            for w in [
                Window::All,
                Window::days(1),
                Window::days(7),
                Window::days(BUCKET_DAYS),
                Window::days(30),
                Window::Between(Timestamp(now - 12 * DAY), Timestamp(now - 3 * DAY)),
            ] {
                let range = w.day_range(Timestamp(now));
                let refused = range.zip(floors.bucket_day).is_some_and(|((from, _), floor)| from < floor);
                match db.rollup(p, &d.name, w) {
                    Ok(v) => {
                        prop_assert!(!refused, "{} {:?} reaches before the bucket floor yet answered", d.name, w);
                        prop_assert_eq!(
                            v,
                            model_value(&mine, &d, range),
                            "rollup {} window {:?} profile {}",
                            d.name,
                            w,
                            p
                        );
                    }
                    Err(Error::WindowBeforeRetention { .. }) => {
                        prop_assert!(refused, "{} {:?} refused although the buckets are there", d.name, w)
                    }
                    Err(e) => prop_assert!(false, "{} {:?}: {}", d.name, w, e),
                }
            }
        }
    }
    let report = db.check().unwrap();
    prop_assert!(report.is_clean(), "{}", report);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn retention_equals_the_brute_force_model(steps in prop::collection::vec(step(), 1..80)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path())
            .clock(clock.clone())
            .timeline_retention(TIMELINE_DAYS * DAY)
            .rollup_bucket_retention(BUCKET_DAYS * DAY)
            // The model advances the clock by weeks at once.
            .max_clock_jump(0)
            .open()
            .unwrap();
        for d in defs() {
            db.declare_rollup(d).unwrap();
        }
        let mut kept: Vec<Kept> = Vec::new();
        let mut floors = Floors::default();
        let mut msgs: HashMap<u8, i64> = HashMap::new();
        for (i, s) in steps.iter().enumerate() {
            match s {
                Step::Event { who, purchase, hours_ago, amount, msg } => {
                    let now = clock.now().0;
                    let name = if *purchase { "purchase" } else { "page_view" };
                    let mut e = Event::new(EventKind::Track, name, Timestamp(now - hours_ago * HOUR), vec![user(*who)]);
                    e.properties.insert("amount", *amount);
                    e.message_id = msg.map(|m| format!("m{m}"));
                    let dup = msg.is_some_and(|m| msgs.get(&m).is_some_and(|first| now - first <= 7 * DAY));
                    match db.track(&e).unwrap() {
                        IngestOutcome::Applied(r) => {
                            prop_assert!(!dup, "a duplicate was applied");
                            if let Some(m) = msg {
                                msgs.insert(*m, now);
                            }
                            kept.push(Kept { profile: r.profile, purchase: *purchase, at: e.timestamp.0, amount: *amount, stored: true });
                        }
                        IngestOutcome::Duplicate { .. } => prop_assert!(dup, "a fresh message id was called a duplicate"),
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Step::Link(a, b) => {
                    db.identify(&[user(*a), user(*b)], profiledb::Update::new()).unwrap();
                }
                Step::Advance(h) => clock.advance(h * HOUR),
                Step::Tick => {
                    // A few profiles: one tick's bounded step covers them all.
                    db.tick().unwrap();
                    floors.pass(clock.now().0, &mut kept);
                }
                Step::Enforce => {
                    let pass = db.enforce_retention().unwrap();
                    prop_assert!(pass.complete);
                    floors.pass(clock.now().0, &mut kept);
                }
            }
            if i % 10 == 9 {
                compare(&db, &kept, &floors)?;
            }
        }
        compare(&db, &kept, &floors)?;
    }
}

#[test]
fn all_time_values_survive_and_windows_before_the_horizon_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .timeline_retention(2 * DAY)
        .rollup_bucket_retention(3 * DAY)
        // The test advances the clock by a month at once.
        .max_clock_jump(0)
        .open()
        .unwrap();
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    db.declare_rollup(RollupDef::new("days", "purchase", Aggregate::ActiveDays)).unwrap();
    for d in 0..10 {
        let mut e = Event::new(EventKind::Track, "purchase", Timestamp(T0 - d * DAY), vec![user(0)]);
        e.properties.insert("amount", 10);
        db.track(&e).unwrap();
    }
    let p = db.resolve(&user(0)).unwrap().unwrap();
    assert_eq!(db.rollup(p, "spend", Window::days(10)).unwrap(), RollupValue::Number(Some(100.0)));
    // Nothing happens before a pass: tick runs one.
    assert_eq!(db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 10);
    db.tick().unwrap();
    assert_eq!(db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 3, "events from 2 days back on");
    assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(Some(100.0)));
    assert_eq!(db.rollup(p, "days", Window::All).unwrap(), RollupValue::Count(10));
    let stats = db.event_stats(p, "purchase", Window::All).unwrap();
    assert_eq!((stats.count, stats.first, stats.last), (10, Some(T0 - 9 * DAY), Some(T0)));
    assert_eq!(db.rollup(p, "spend", Window::days(4)).unwrap(), RollupValue::Number(Some(40.0)));
    let err = db.rollup(p, "spend", Window::days(5)).unwrap_err();
    assert!(matches!(err, Error::WindowBeforeRetention { .. }), "{err}");
    assert!(err.to_string().contains("Window::All"), "{err}");
    assert!(db.event_stats(p, "purchase", Window::days(30)).is_err());
    // The floors persist: a reopen without retention still refuses.
    drop(db);
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .timeline_retention(0)
        .rollup_bucket_retention(0)
        .max_clock_jump(0)
        .open()
        .unwrap();
    assert!(matches!(db.rollup(p, "spend", Window::days(5)), Err(Error::WindowBeforeRetention { .. })));
    assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(Some(100.0)));
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
    // Retention off: passes do nothing.
    clock.advance(30 * DAY);
    assert_eq!(db.enforce_retention().unwrap().profiles_visited, 0);
}

/// Without timelines (`timeline_retention(0)`) an event condition cannot
/// be answered (its windows read stored events): defining or querying one
/// is refused and writes nothing, and a database whose segments read events
/// does not open without timelines — none of them silently reads "no events".
#[test]
fn event_conditions_are_refused_when_timelines_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let user = Identifier::new("user_id", "u1").unwrap();
    {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(0).open().unwrap();
        db.track(&Event::new(EventKind::Track, "purchase", Timestamp(T0), vec![user.clone()])).unwrap();
        let before = db.raw_dump().unwrap();
        for text in ["count(purchase) >= 1", "last(purchase) > now - 7d", "seq(add_to_cart, not purchase, 1h)"] {
            let err = db.define_segment("buyers", text).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("timeline") && msg.contains("purchase") && msg.contains("buyers"), "{msg}");
            assert!(db.query("count(purchase, 7d) >= 1").unwrap_err().to_string().contains("timeline"));
        }
        assert_eq!(db.raw_dump().unwrap(), before, "a refused definition writes nothing");
        // Conditions that read no events are fine.
        assert_eq!(db.define_segment("everyone", "not has email").unwrap(), 1);
    }
    {
        // Timelines on again (an open setting none would keep the recorded 0).
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(365 * DAY).open().unwrap();
        // The rollups counted the purchase while timelines were off.
        assert_eq!(db.define_segment("buyers", "count(purchase) >= 1").unwrap(), 1);
    }
    let err = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(0).open().err().unwrap();
    let msg = err.to_string();
    assert!(msg.contains("\"buyers\"") && msg.contains("timeline"), "{msg}");
    // Read-only, it opens: stored members read back, event conditions in queries are refused.
    let ro = ProfileDb::builder(dir.path())
        .clock(clock)
        .timeline_retention(0)
        .access_mode(profiledb::AccessMode::ReadOnly)
        .open()
        .unwrap();
    assert_eq!(ro.segment_count("buyers").unwrap(), 1);
    assert!(ro.query("count(purchase) >= 1").is_err());
}

/// All-time event conditions under timeline retention: those a rollup
/// series answers (no filter, or the filter of a declared rollup) count
/// every event ever recorded; the others read the timeline and count only
/// the events it keeps — and say so (`SegmentInfo::retained_only`, the
/// query plan).
#[test]
fn all_time_conditions_count_every_event_only_where_a_rollup_series_holds_them() {
    use profiledb::rollup::{FilterOp, Literal};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(5 * DAY).open().unwrap();
    let web = RollupDef::new("web_buys", "purchase", Aggregate::Count).filter(
        "channel",
        FilterOp::Eq,
        Literal::Str("web".into()),
    );
    db.declare_rollup(web).unwrap();
    for d in 0..3 {
        let mut e = Event::new(EventKind::Track, "purchase", Timestamp(T0 - (20 + d) * DAY), vec![user(0)]);
        e.properties.insert("amount", 10);
        e.properties.insert("channel", "web");
        db.track(&e).unwrap();
    }
    let segments = [
        ("loyal", "count(purchase) >= 3"),
        ("loyal_web", r#"count(purchase where channel = "web") >= 3"#),
        ("loyal_f", "count(purchase where amount > 0) >= 3"),
    ];
    for (name, text) in segments {
        assert_eq!(db.define_segment(name, text).unwrap(), 1, "{name}: every event is still in the timeline");
    }
    assert_eq!(db.enforce_retention().unwrap().timelines_trimmed, 1);
    let count = |name: &str| db.segment_count(name).unwrap();
    assert_eq!((count("loyal"), count("loyal_web"), count("loyal_f")), (1, 1, 0));
    let notes: Vec<(String, Vec<String>)> = db.segments().into_iter().map(|s| (s.name, s.retained_only)).collect();
    for (name, notes) in &notes {
        match name.as_str() {
            "loyal_f" => {
                assert_eq!(notes.len(), 1, "{notes:?}");
                assert!(notes[0].contains("count(purchase where amount > 0) >= 3"), "{notes:?}");
                assert!(notes[0].contains("only the events timeline retention keeps"), "{notes:?}");
            }
            _ => assert_eq!(notes, &Vec::<String>::new(), "{name}"),
        }
    }
    let q = db.query("count(purchase where amount > 0) >= 3").unwrap();
    assert_eq!(q.count(), 0);
    assert!(
        q.explain().contains("note: `count(purchase where amount > 0) >= 3` reads the timeline"),
        "{}",
        q.explain()
    );
    let q = db.query("count(purchase) >= 3 and not has email").unwrap();
    assert_eq!(q.count(), 1);
    assert!(!q.explain().contains("note:"), "{}", q.explain());
    assert_eq!(db.check_segments().unwrap(), vec![]);
}

/// A pass run with a shorter timeline retention than this handle's raised
/// the timeline floor past what a window reaches: defining or querying it
/// is refused (naming the floor) rather than read from a cut timeline.
#[test]
fn windows_reaching_before_the_timeline_floor_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(5 * DAY).open().unwrap();
        db.track(&Event::new(EventKind::Track, "purchase", Timestamp(T0 - 8 * DAY), vec![user(0)])).unwrap();
        db.enforce_retention().unwrap();
    }
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(60 * DAY).open().unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.define_segment("buyers", "count(purchase, 30d) >= 1").unwrap_err();
    let msg = err.to_string();
    let floor = Timestamp(T0 - 5 * DAY).to_rfc3339();
    assert!(msg.contains("\"buyers\"") && msg.contains("deleted the events before") && msg.contains(&floor), "{msg}");
    assert_eq!(db.raw_dump().unwrap(), before, "nothing written");
    assert!(db.query("count(purchase, 30d) >= 1").unwrap_err().to_string().contains(&floor));
    // Within the floor: fine, and once time has moved past, the longer window too.
    assert_eq!(db.define_segment("recent", "count(purchase, 5d) >= 1").unwrap(), 0);
    clock.advance(25 * DAY);
    assert_eq!(db.define_segment("buyers", "count(purchase, 30d) >= 1").unwrap(), 0);
}

/// The retention settings are the database's: an open that sets none (an
/// admin's `profiledb tick`) applies those the application recorded, and a
/// tick reports what its retention step removed. Before, such an open
/// applied 365 days and deleted a year-and-a-half-old event the
/// application keeps for two years, reporting nothing.
#[test]
fn an_open_that_sets_no_retention_applies_the_recorded_one_and_tick_reports_what_it_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let app = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(730 * DAY).open().unwrap();
    for days_ago in [500, 1] {
        app.track(&Event::new(EventKind::Track, "visit", Timestamp(T0 - days_ago * DAY), vec![user(0)])).unwrap();
    }
    let p = app.resolve(&user(0)).unwrap().unwrap();
    drop(app);
    let admin = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    assert_eq!(admin.retention_settings().timeline_ms, 730 * DAY);
    let report = admin.tick().unwrap();
    assert_eq!(report.timelines_trimmed, 0, "{report:?}");
    assert_eq!(admin.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 2, "both events kept");
    drop(admin);
    // An open that sets a retention records it: later opens apply it.
    let shorter = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(100 * DAY).open().unwrap();
    let report = shorter.tick().unwrap();
    assert_eq!(report.timelines_trimmed, 1, "{report:?}");
    assert_eq!(shorter.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 1);
    drop(shorter);
    let later = ProfileDb::builder(dir.path()).clock(clock).open().unwrap();
    assert_eq!(later.retention_settings().timeline_ms, 100 * DAY);
}
