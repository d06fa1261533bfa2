//! Segment evaluation answers event conditions from rollup buckets
//! where a series fits; these tests hold those answers to a scan of the
//! timeline over random streams (late, future and merged events).

use std::sync::Arc;

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::event::Event;
use crate::event::EventKind;
use crate::event::PropertyValue;
use crate::profile::id::ProfileId;
use crate::rollup::{Aggregate as RollupAggregate, FilterOp, Literal as RollupLiteral, RollupDef};
use crate::segment::context::{ProfileCtx, ReadSource, Source};
use crate::segment::{CmpOp, FilterTest, Literal as SegmentLiteral, PropertyFilter};
use crate::segment::{EvalContext, EventSelector, Metric};
use crate::{Identifier, ManualClock, ProfileDb, Update};

const HOUR: i64 = 3_600_000;
/// 13:00 UTC, so windows end mid-day.
const T0: i64 = 1_699_920_000_000 + 13 * HOUR;

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

/// `page <op> "v"`.
fn page_is(op: CmpOp, v: &str) -> PropertyFilter {
    PropertyFilter { property: "page".into(), test: FilterTest::Cmp(op, SegmentLiteral::Str(v.into())) }
}

fn page(v: &str) -> PropertyFilter {
    page_is(CmpOp::Eq, v)
}

/// Every event name, and `a` with filters a series answers and does not.
fn selectors() -> Vec<EventSelector> {
    let mut out: Vec<EventSelector> = ["a", "b", "c"].into_iter().map(EventSelector::new).collect();
    out.push(EventSelector { event: "a".into(), filter: vec![page("x")] });
    out.push(EventSelector { event: "a".into(), filter: vec![page("y")] });
    out.push(EventSelector { event: "a".into(), filter: vec![page("x"), page("x")] });
    out
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
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// Every bucket-backed answer equals a scan of the timeline: the
    /// value exactly; the earliest contributing instant exactly for
    /// event metrics and never later for property metrics.
    #[test]
    fn bucket_answers_equal_timeline_scans(
        events in prop::collection::vec((0usize..3, 0usize..2, -20i64 * 24..48, 1i64..100, 0usize..4), 1..60),
        link in any::<bool>(),
        probes in prop::collection::vec((-30i64 * 24..30 * 24, 0i64..40 * 24), 1..10),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        // Events up to two days ahead of the clock.
        let db = ProfileDb::builder(dir.path()).clock(clock).max_future_skew(3 * Timestamp::DAY).open().unwrap();
        db.declare_rollup(RollupDef::new("spend", "a", RollupAggregate::Sum("amount".into()))).unwrap();
        // Series with a filter: `a where page = "x"` is answered from them.
        let x = || RollupLiteral::Str("x".into());
        db.declare_rollup(RollupDef::new("xs", "a", RollupAggregate::Count).filter("page", FilterOp::Eq, x())).unwrap();
        let x_spend = RollupDef::new("x_spend", "a", RollupAggregate::Sum("amount".into()));
        db.declare_rollup(x_spend.filter("page", FilterOp::Eq, x())).unwrap();
        for (who, name, hours, amount, page) in &events {
            let at = Timestamp(T0 + hours * HOUR + amount * 1_000);
            let mut e = Event::new(EventKind::Track, ["a", "b"][*name], at, vec![user(*who)]);
            if amount % 5 != 0 {
                e.properties.insert("amount", *amount);
            }
            match page {
                0 => e.properties.insert("page", "x"),
                1 => e.properties.insert("page", "y"),
                // A list holding "x" is not `= "x"`, in either language.
                2 => e.properties.insert("page", PropertyValue::List(vec!["x".into()])),
                _ => {}
            }
            db.track(&e).unwrap();
        }
        if link {
            db.identify(&[user(0), user(1)], Update::new()).unwrap();
        }
        let view = db.core.store.snapshot();
        let src = ReadSource { core: &db.core, view: &view, bitmaps: None };
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
            for sel in selectors() {
                let name = sel.event.clone();
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

#[test]
fn a_declared_rollup_filter_answers_only_a_selection_of_the_same_events() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let x = RollupLiteral::Str("x".into());
    db.declare_rollup(RollupDef::new("xs", "a", RollupAggregate::Count).filter("page", FilterOp::Eq, x.clone()))
        .unwrap();
    let sum = RollupDef::new("x_spend", "a", RollupAggregate::Sum("amount".into()));
    db.declare_rollup(sum.filter("page", FilterOp::Eq, x)).unwrap();
    let view = db.core.store.snapshot();
    let src = ReadSource { core: &db.core, view: &view, bitmaps: None };
    let count = src.series("a", None, &[page("x")]).expect("the series of `xs`");
    let amount = src.series("a", Some("amount"), &[page("x")]).expect("the series of `x_spend`");
    assert_ne!(count, amount);
    assert_eq!(src.series("a", None, &[page("x"), page("x")]), Some(count), "the same events");
    assert_eq!(src.series("a", None, &[page("y")]), None);
    assert_eq!(src.series("a", None, &[page_is(CmpOp::Ne, "x")]), None);
    assert_eq!(src.series("a", None, &[page("x"), page("y")]), None);
    assert_eq!(src.series("b", None, &[page("x")]), None);
    // Text that may be a list's or an object's JSON form is not trusted.
    assert_eq!(src.series("a", None, &[page("[x]")]), None);
}
