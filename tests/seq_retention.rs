//! `seq(a, [not] b, within)` under retention: it reads the events the
//! timeline holds. A trigger that timeline retention deleted no longer
//! counts (an older, also deleted one does not take its place); a held
//! trigger is followed by the held events after it — exactly, also where
//! bucket retention folded their day buckets. Writes, retention passes and
//! ticks keep working, and `check` stays clean.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::segment::testing::VecContext;
use profiledb::segment::{evaluate, parse};
use profiledb::{ManualClock, ProfileDb, Timestamp};
use proptest::prelude::*;

mod common;
use common::id;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
/// 2026-10-01T00:00:00Z.
const OCT_1: i64 = 1_790_812_800_000;
const ABANDONED: &str = "seq(add_to_cart, not purchase, 24h)";
const BOUGHT: &str = "seq(add_to_cart, purchase, 24h)";

fn open(dir: &std::path::Path, clock: &Arc<ManualClock>, timeline_days: i64, bucket_days: i64) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(clock.clone())
        .timeline_retention(timeline_days * DAY)
        .rollup_bucket_retention(bucket_days * DAY)
        .open()
        .unwrap()
}

fn track(db: &ProfileDb, who: &str, name: &str, at: i64) {
    db.track(&Event::new(EventKind::Track, name, Timestamp(at), vec![id(who)])).unwrap();
}

fn assert_clean(db: &ProfileDb) {
    assert_eq!(db.check_segments().unwrap(), vec![]);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

fn members(db: &ProfileDb) -> (u64, u64) {
    (db.segment_count("abandoned").unwrap(), db.segment_count("bought").unwrap())
}

/// The reviewer's first reproduction: a cart followed by a purchase an
/// hour later, then timeline retention deletes all three events. The cart
/// is gone, so it is neither abandoned (as before) nor bought any more —
/// not "abandoned" because the purchase after it was deleted.
#[test]
fn a_trigger_deleted_by_timeline_retention_no_longer_counts() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(OCT_1 + 12 * HOUR)));
    let db = open(dir.path(), &clock, 365, 0);
    track(&db, "user_id:s", "purchase", OCT_1 + 9 * HOUR);
    track(&db, "user_id:s", "add_to_cart", OCT_1 + 10 * HOUR);
    track(&db, "user_id:s", "purchase", OCT_1 + 11 * HOUR);
    db.define_segment("abandoned", ABANDONED).unwrap();
    db.define_segment("bought", BOUGHT).unwrap();
    assert_eq!(members(&db), (0, 1));
    drop(db);
    clock.set(Timestamp(OCT_1 + 65 * DAY));
    let db = open(dir.path(), &clock, 30, 0);
    let pass = db.enforce_retention().unwrap();
    assert_eq!((pass.timelines_trimmed, pass.failures.len()), (1, 0));
    assert_eq!(members(&db), (0, 0), "the cart is gone: neither abandoned nor bought");
    assert_clean(&db);
    // A new cart is a trigger again.
    track(&db, "user_id:s", "add_to_cart", clock.now().0);
    clock.advance(DAY + 1);
    assert_eq!(db.tick().unwrap().failures, vec![]);
    assert_eq!(members(&db), (1, 0));
    assert_clean(&db);
}

/// The second reproduction: the cart is older than the timeline floor and
/// its day bucket (and the purchases' around it) are folded. Writes,
/// passes and ticks go on working.
#[test]
fn writes_retention_and_ticks_go_on_after_bucket_and_timeline_retention() {
    let dir = tempfile::tempdir().unwrap();
    let day = |n: i64| OCT_1 + n * DAY + 10 * HOUR;
    let clock = Arc::new(ManualClock::new(Timestamp(day(16))));
    let db = open(dir.path(), &clock, 365, 0);
    track(&db, "user_id:s", "purchase", day(-55)); // 2026-08-07
    track(&db, "user_id:s", "add_to_cart", day(-35)); // 2026-08-27
    track(&db, "user_id:s", "purchase", day(15)); // 2026-10-16
    db.define_segment("abandoned", ABANDONED).unwrap();
    db.define_segment("bought", BOUGHT).unwrap();
    assert_eq!(members(&db), (1, 0));
    drop(db);
    clock.set(Timestamp(day(65)));
    let db = open(dir.path(), &clock, 60, 30);
    let pass = db.enforce_retention().unwrap();
    assert_eq!(pass.failures, vec![]);
    assert!(pass.buckets_folded >= 3, "{pass:?}");
    assert_eq!(members(&db), (0, 0), "the cart is gone with the timeline");
    track(&db, "user_id:s", "purchase", day(64));
    clock.advance(DAY);
    assert_eq!(db.tick().unwrap().failures, vec![]);
    assert_eq!(db.enforce_retention().unwrap().failures, vec![]);
    // A cart the timeline holds, its day folded: followed within 24h, exactly.
    track(&db, "user_id:t", "add_to_cart", day(26));
    track(&db, "user_id:t", "purchase", day(26) + 20 * HOUR);
    track(&db, "user_id:u", "add_to_cart", day(26));
    track(&db, "user_id:u", "purchase", day(26) + 25 * HOUR);
    clock.advance(DAY);
    assert!(db.enforce_retention().unwrap().buckets_folded >= 3);
    let who = |s: &str| db.resolve(&id(s)).unwrap().unwrap();
    assert!(db.in_segment("bought", who("user_id:t")).unwrap());
    assert!(!db.in_segment("abandoned", who("user_id:t")).unwrap());
    assert!(db.in_segment("abandoned", who("user_id:u")).unwrap(), "its purchase came after 24h");
    assert!(!db.in_segment("bought", who("user_id:u")).unwrap());
    assert_eq!(db.tick().unwrap().failures, vec![]);
    assert_clean(&db);
}

/// A late cart older than the floor is held until the next pass deletes
/// it: it counts while the timeline holds it.
#[test]
fn a_late_trigger_below_the_floor_counts_until_a_pass_deletes_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(OCT_1 + 40 * DAY)));
    let db = open(dir.path(), &clock, 10, 0);
    track(&db, "user_id:s", "page_view", OCT_1);
    db.define_segment("abandoned", ABANDONED).unwrap();
    db.define_segment("bought", BOUGHT).unwrap();
    db.enforce_retention().unwrap();
    track(&db, "user_id:s", "add_to_cart", OCT_1 + 20 * DAY);
    assert_eq!(members(&db), (1, 0), "held, and not followed by a held purchase");
    assert_clean(&db);
    clock.advance(HOUR);
    db.enforce_retention().unwrap();
    assert_eq!(members(&db), (0, 0), "deleted with the timeline's old events");
    assert_clean(&db);
}

#[derive(Clone, Debug)]
enum Step {
    /// user, cart (else purchase), hours before now.
    Event(usize, bool, i64),
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0usize..3, any::<bool>(), 0i64..24 * 8).prop_map(|(w, c, h)| Step::Event(w, c, h)),
        1 => (1i64..30).prop_map(Step::Advance),
    ]
}

const TIMELINE_DAYS: i64 = 4;

/// The events of `who` the model's timeline holds, as the reference sees them.
fn held(events: &[(usize, bool, i64, bool)], who: usize, now: i64) -> VecContext {
    let mut ctx = VecContext::new(Timestamp(now));
    for &(_, cart, at, _) in events.iter().filter(|e| e.0 == who && e.3) {
        ctx = ctx.with_event(if cart { "add_to_cart" } else { "purchase" }, Timestamp(at), &[]);
    }
    ctx
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// After every step and a tick (which runs a retention pass when the
    /// clock moved: the floor rises to now - 4 days and every older event
    /// is deleted), membership equals a brute-force evaluation over the
    /// events the timeline holds, with bucket retention shorter than the
    /// timeline's and late events below the floor (held until the next
    /// pass).
    #[test]
    fn seq_equals_the_reference_over_the_held_events(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(OCT_1)));
        let db = open(dir.path(), &clock, TIMELINE_DAYS, 2);
        db.define_segment("abandoned", ABANDONED).unwrap();
        db.define_segment("bought", BOUGHT).unwrap();
        // (user, cart?, time, held by the timeline)
        let mut events: Vec<(usize, bool, i64, bool)> = Vec::new();
        let mut floor = i64::MIN;
        for s in &steps {
            match *s {
                Step::Event(w, cart, hours) => {
                    let at = clock.now().0 - hours * HOUR;
                    track(&db, &format!("user_id:u{w}"), if cart { "add_to_cart" } else { "purchase" }, at);
                    events.push((w, cart, at, true));
                }
                Step::Advance(h) => clock.advance(h * HOUR),
            }
            prop_assert_eq!(db.tick().unwrap().failures, vec![]);
            let now = clock.now().0;
            if now - TIMELINE_DAYS * DAY > floor {
                floor = now - TIMELINE_DAYS * DAY;
                for e in events.iter_mut().filter(|e| e.2 < floor) {
                    e.3 = false;
                }
            }
            for w in 0..3 {
                let Some(p) = db.resolve(&id(&format!("user_id:u{w}"))).unwrap() else { continue };
                let ctx = held(&events, w, now);
                for (name, text) in [("abandoned", ABANDONED), ("bought", BOUGHT)] {
                    let want = evaluate(&parse(text).unwrap(), &ctx).value;
                    prop_assert_eq!(db.in_segment(name, p).unwrap(), want, "{} of {}", name, p);
                    prop_assert_eq!(db.query(text).unwrap().contains(p), want, "query {} of {}", text, p);
                }
            }
        }
        prop_assert_eq!(db.check_segments().unwrap(), vec![]);
        let report = db.check().unwrap();
        prop_assert!(report.is_clean(), "{}", report);
    }
}
