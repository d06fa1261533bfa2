//! Segment evaluation answers event conditions from rollup buckets
//! where a series fits; these tests hold those answers to a scan of the
//! timeline over random streams (late, future and merged events); and
//! series keep value frequencies only where a rollup reads them.

use std::sync::Arc;

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::event::Event;
use crate::event::EventKind;
use crate::profile::id::ProfileId;
use crate::rollup::{Aggregate as RollupAggregate, RollupDef};
use crate::segment::context::{ProfileCtx, ReadSource};
use crate::segment::{EvalContext, EventSelector, Metric};
use crate::{Identifier, ManualClock, ProfileDb, Update};

const HOUR: i64 = 3_600_000;
/// 13:00 UTC, so windows end mid-day.
const T0: i64 = 1_699_920_000_000 + 13 * HOUR;

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

fn metrics() -> Vec<Metric> {
    let p = || "amount".to_owned();
    vec![
        Metric::Count,
        Metric::Sum(p()),
        Metric::Min(p()),
        Metric::Max(p()),
        Metric::Avg(p()),
        Metric::ActiveDays,
        Metric::First,
        Metric::Last,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Every bucket-backed answer equals a scan of the timeline: the
    /// value exactly; the earliest contributing instant exactly for
    /// event metrics and never later for property metrics.
    #[test]
    fn bucket_answers_equal_timeline_scans(
        events in prop::collection::vec((0usize..3, 0usize..2, -20i64 * 24..48, 1i64..100), 1..60),
        link in any::<bool>(),
        probes in prop::collection::vec((-30i64 * 24..30 * 24, 0i64..40 * 24), 1..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock).open().unwrap();
        db.declare_rollup(RollupDef::new("spend", "a", RollupAggregate::Sum("amount".into()))).unwrap();
        for (who, name, hours, amount) in &events {
            let at = Timestamp(T0 + hours * HOUR + amount * 1_000);
            let mut e = Event::new(EventKind::Track, ["a", "b"][*name], at, vec![user(*who)]);
            if amount % 5 != 0 {
                e.properties.insert("amount", *amount);
            }
            db.track(&e).unwrap();
        }
        if link {
            db.identify(&[user(0), user(1)], Update::new()).unwrap();
        }
        let view = db.core.store.snapshot();
        let src = ReadSource { core: &db.core, view: &view };
        let live: Vec<u32> = db.core.segments.read().live.iter().collect();
        let mut ranges: Vec<(Timestamp, Timestamp)> = probes
            .iter()
            .map(|(start, len)| {
                let from = Timestamp(T0 + start * HOUR + 12_345);
                (from, Timestamp(from.0 + len * HOUR))
            })
            .collect();
        ranges.push((Timestamp(i64::MIN), Timestamp(T0 + 1)));
        ranges.push((Timestamp(i64::MIN), Timestamp(i64::MAX)));
        for p in live {
            let fast = ProfileCtx::new(&src, ProfileId(p), Timestamp(T0)).unwrap();
            let slow = ProfileCtx::timeline_only(&src, ProfileId(p), Timestamp(T0)).unwrap();
            for name in ["a", "b", "c"] {
                let sel = EventSelector::new(name);
                for (from, to) in &ranges {
                    for m in metrics() {
                        let (f, s) = (fast.aggregate(&m, &sel, *from, *to), slow.aggregate(&m, &sel, *from, *to));
                        prop_assert_eq!(f.value, s.value, "{} {:?} [{:?}, {:?})", name, m, from, to);
                        if m.property().is_none() {
                            prop_assert_eq!(f.earliest, s.earliest, "{} {:?}", name, m);
                        } else {
                            prop_assert!(s.earliest.is_none() || (f.earliest.is_some() && f.earliest <= s.earliest));
                        }
                    }
                    prop_assert_eq!(fast.next_event_after(&sel, *from), slow.next_event_after(&sel, *from));
                }
            }
            fast.finish().unwrap();
            slow.finish().unwrap();
        }
    }
}

/// Numeric rollups skip value frequencies; a unique rollup declared later
/// on the same events gets its own series, backfilled, so its values are
/// complete.
#[test]
fn a_values_rollup_after_a_numeric_one_sees_every_value() {
    use crate::rollup::{RollupValue, Window};
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T0)))).open().unwrap();
    db.declare_rollup(RollupDef::new("spend", "a", RollupAggregate::Sum("amount".into()))).unwrap();
    for amount in [3, 4, 3, 9] {
        let mut e = Event::new(EventKind::Track, "a", Timestamp(T0 - amount * HOUR), vec![user(0)]);
        e.properties.insert("amount", amount);
        db.track(&e).unwrap();
    }
    let p = db.resolve(&user(0)).unwrap().unwrap();
    let numeric = db.core.rollups.read().rollups["spend"].series;
    let view = db.core.store.latest();
    let acc = crate::rollup::store::read_all_time(&view, p, numeric).unwrap();
    assert!(acc.values.is_empty(), "a numeric-only series keeps no values");
    assert_eq!(acc.sum, 19.0);
    db.declare_rollup(RollupDef::new("amounts", "a", RollupAggregate::Unique("amount".into()))).unwrap();
    let mut e = Event::new(EventKind::Track, "a", Timestamp(T0), vec![user(0)]);
    e.properties.insert("amount", 7);
    db.track(&e).unwrap();
    let unique = db.rollup(p, "amounts", Window::All).unwrap();
    let expected: Vec<String> = ["3", "4", "7", "9"].map(String::from).to_vec();
    assert_eq!(unique, RollupValue::Unique { count: 4, values: expected, complete: true });
    assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(Some(26.0)));
}
