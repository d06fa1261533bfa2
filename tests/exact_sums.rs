//! Rollup sums are exact: the same events give the same sum (and average)
//! whatever path folded them — the rollup cache in arrival order, a cold
//! read in day order, RocksDB's merge operator in groups that depend on
//! flush timing, a profile merge — and it is their exact sum, correctly
//! rounded. Segment conditions on sums read the same value, so `check`
//! finds nothing on a healthy database.
//!
//! Uses only what every build of the public API has (no `ExactSum`), so
//! these tests also run against builds before exact sums, and fail there.

use std::sync::Arc;

use profiledb::event::{Event, EventKind, PropertyValue};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp};
use proptest::prelude::*;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const BASE: i64 = 20_000 * DAY; // 2024-10-04T00:00Z

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn ev(who: &str, name: &str, at: i64, props: &[(&str, PropertyValue)]) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(at), vec![id(who)]);
    for (k, v) in props {
        e.properties.insert(*k, v.clone());
    }
    e
}

fn track(db: &ProfileDb, who: &str, name: &str, at: i64, props: &[(&str, PropertyValue)]) -> IngestOutcome {
    db.track(&ev(who, name, at, props)).unwrap()
}

fn pid(db: &ProfileDb, who: &str) -> ProfileId {
    db.resolve(&id(who)).unwrap().unwrap()
}

/// The analyst review's reproduction: `Acc::fold`'s doc promises "Folding
/// is associative and commutative, so late, out-of-order and merged events
/// give the same result in any order." With `f64` sums, the warm rollup
/// cache folded contributions in arrival order (27.209999999999997), a
/// cold read folded day buckets in day order (27.21): the segment bit was
/// stored as not-a-member, re-evaluation after a reopen said member, and
/// `check_segments` reported a mismatch on a healthy database.
#[test]
fn a07_sum_depends_on_fold_order_warm_vs_cold() {
    let now = BASE + 10 * HOUR;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(now)));
    let (warm_sum, warm_member, p) = {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.declare_rollup(RollupDef::new("sum", "e", Aggregate::Sum("x".into()))).unwrap();
        db.define_segment("spent", "sum(e.x) >= 27.21").unwrap();
        let u = "user_id:1";
        // Arrival order: (yesterday 0.01), (yesterday 2.2), (two days ago 5.01), (yesterday 19.99).
        track(&db, u, "e", now - DAY, &[("x", 0.01.into())]);
        track(&db, u, "e", now - DAY + 1, &[("x", 2.2.into())]);
        track(&db, u, "e", now - 2 * DAY, &[("x", 5.01.into())]);
        track(&db, u, "e", now - DAY + 2, &[("x", 19.99.into())]);
        let p = pid(&db, u);
        let s = db.rollup(p, "sum", Window::All).unwrap();
        let m = db.in_segment("spent", p).unwrap();
        assert_eq!(db.check_segments().unwrap(), vec![], "check_segments while running");
        (s, m, p)
    };
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    let cold_sum = db.rollup(p, "sum", Window::All).unwrap();
    let cold_member = db.in_segment("spent", p).unwrap();
    let check = db.check_segments().unwrap();
    assert_eq!(warm_sum, cold_sum, "the same events, the same database: one sum");
    assert_eq!(check, vec![], "check_segments after reopening");
    assert_eq!(warm_member, cold_member);
    // The exact sum of these four doubles lies just below 27.21.
    assert_eq!(cold_sum, RollupValue::Number(Some(27.209999999999997)));
    assert!(!cold_member);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

/// 2^e, exactly (`-1022 <= e <= 1023`).
fn pow2(e: i32) -> f64 {
    f64::from_bits(((e + 1023) as u64) << 52)
}

/// The exact sum of `values` (multiples of 2^-64 below 2^56, as amounts
/// in cents are), correctly rounded: in units of 2^-64 the sum is an
/// integer, and an `i128` to `f64` cast rounds to nearest, ties to even.
fn exact_sum(values: &[f64]) -> f64 {
    let units = |x: f64| {
        let scaled = x * pow2(64);
        assert!(x.abs() < pow2(56) && scaled.fract() == 0.0, "{x} is not a fixed-point test value");
        scaled as i128
    };
    values.iter().map(|x| units(*x)).sum::<i128>() as f64 * pow2(-64)
}

/// One event of the proptest: which of two users, how many days ago, the
/// amount in cents.
#[derive(Clone, Debug)]
struct Purchase {
    user: usize,
    days_ago: i64,
    cents: i64,
}

fn purchase() -> impl Strategy<Value = Purchase> {
    let cents = prop_oneof![
        prop::sample::select(vec![1i64, 220, 501, 1999, 10, 20, 30, 70, 1_000_000_000_000_000_000]),
        -100_000i64..100_000,
    ];
    (0..2usize, 0..4i64, cents).prop_map(|(user, days_ago, cents)| Purchase { user, days_ago, cents })
}

/// The sum and average of `spend` over all time and the last two days.
fn reads(db: &ProfileDb, p: ProfileId) -> Vec<RollupValue> {
    let mut out = Vec::new();
    for w in [Window::All, Window::days(2)] {
        out.push(db.rollup(p, "spend", w).unwrap());
        out.push(db.rollup(p, "avg", w).unwrap());
    }
    out
}

/// What [`reads`] must give for `amounts` (all time) and `recent` (the
/// last two days).
fn expected(amounts: &[f64], recent: &[f64]) -> Vec<RollupValue> {
    let sum = |v: &[f64]| RollupValue::Number((!v.is_empty()).then(|| exact_sum(v)));
    let avg = |v: &[f64]| RollupValue::Number((!v.is_empty()).then(|| exact_sum(v) / v.len() as f64));
    vec![sum(amounts), avg(amounts), sum(recent), avg(recent)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Purchases of two users over four days, in random order, with
    /// flushes and compactions at random points (the merge operator folds
    /// what each one grouped), then the two users merged (a bucket-wise
    /// fold): sums and averages equal the exact sum, correctly rounded,
    /// before and after a reopen, and `check` finds nothing.
    #[test]
    fn sums_are_exact_whatever_folded_them(
        purchases in prop::collection::vec(purchase(), 1..14),
        compact_after in prop::collection::vec(any::<bool>(), 14),
    ) {
        let now = BASE + 12 * HOUR;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(now)));
        let users = ["anonymous_id:a", "anonymous_id:b"];
        let amount = |p: &Purchase| p.cents as f64 / 100.0;
        let of = |user: Option<usize>, recent: bool| -> Vec<f64> {
            let picked = purchases.iter().filter(|p| user.is_none_or(|u| p.user == u) && (!recent || p.days_ago < 2));
            picked.map(amount).collect()
        };
        let merged_reads = {
            let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
            db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
            db.declare_rollup(RollupDef::new("avg", "purchase", Aggregate::Avg("amount".into()))).unwrap();
            db.define_segment("spent", "sum(purchase.amount) >= 27.21").unwrap();
            for (i, p) in purchases.iter().enumerate() {
                let at = now - p.days_ago * DAY - i as i64;
                track(&db, users[p.user], "purchase", at, &[("amount", amount(p).into())]);
                if compact_after[i] {
                    db.compact().unwrap();
                }
            }
            for (u, who) in users.iter().enumerate() {
                if let Ok(Some(p)) = db.resolve(&id(who)) {
                    prop_assert_eq!(reads(&db, p), expected(&of(Some(u), false), &of(Some(u), true)), "{}", who);
                }
            }
            db.identify(&[id(users[0]), id(users[1])], profiledb::Update::new()).unwrap();
            let p = pid(&db, users[0]);
            let got = reads(&db, p);
            prop_assert_eq!(&got, &expected(&of(None, false), &of(None, true)), "merged");
            prop_assert_eq!(db.check_segments().unwrap(), vec![]);
            got
        };
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let p = pid(&db, users[0]);
        prop_assert_eq!(reads(&db, p), merged_reads, "after a reopen");
        db.compact().unwrap();
        prop_assert_eq!(reads(&db, p), expected(&of(None, false), &of(None, true)), "after a compaction");
        prop_assert_eq!(db.check_segments().unwrap(), vec![]);
        let report = db.check().unwrap();
        prop_assert!(report.is_clean(), "{}", report);
    }
}
