//! How values compare: the semantics of trait tests and `where` filters.
//!
//! - Integers and floats compare numerically with each other, by their
//!   exact values ([`cmp_num`]): integers past 2^53 are not rounded to
//!   floats first.
//! - Strings compare by bytes; booleans only with `=`/`!=`.
//! - Timestamps compare with timestamps, and with strings holding
//!   RFC 3339 (or epoch milliseconds), so a trait set from JSON as
//!   `"2024-05-01T00:00:00Z"` compares with `t"…"` and `now - 3d`.
//! - Anything else (a list, a null, a missing value, mismatched types)
//!   is unordered: every comparison is false except `!=`, which is
//!   always the negation of `=`.

use std::cmp::Ordering;

use crate::clock::Timestamp;
use crate::numeric::cmp_num;
use crate::profile::value::TraitValue;

use super::ast::{CmpOp, FilterTest, Literal, Operand, PropertyFilter, TraitTest};

/// How `value` orders against `lit`, or `None` when they do not compare.
pub(crate) fn order(value: &TraitValue, lit: &Literal) -> Option<Ordering> {
    match (value, lit) {
        (TraitValue::Int(_) | TraitValue::Float(_), Literal::Int(_) | Literal::Float(_)) => {
            cmp_num(value.as_number()?, lit.as_number()?)
        }
        (TraitValue::Str(a), Literal::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (TraitValue::Bool(a), Literal::Bool(b)) => Some(a.cmp(b)),
        (TraitValue::Time(a), Literal::Time(b)) => Some(a.cmp(b)),
        (TraitValue::Str(s), Literal::Time(b)) => Some(Timestamp::parse(s).ok()?.cmp(b)),
        (TraitValue::Time(a), Literal::Str(s)) => Some(a.cmp(&Timestamp::parse(s).ok()?)),
        _ => None,
    }
}

/// The value as a point in time: a timestamp, or a string that parses as
/// one.
pub(crate) fn as_time(value: &TraitValue) -> Option<Timestamp> {
    match value {
        TraitValue::Time(t) => Some(*t),
        TraitValue::Str(s) => Timestamp::parse(s).ok(),
        _ => None,
    }
}

/// Whether an ordering (or its absence) satisfies `op`.
pub(crate) fn apply(op: CmpOp, ord: Option<Ordering>) -> bool {
    match op {
        CmpOp::Eq => ord == Some(Ordering::Equal),
        CmpOp::Ne => ord != Some(Ordering::Equal),
        CmpOp::Lt => ord == Some(Ordering::Less),
        CmpOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ord == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
    }
}

/// Whether `x op k` keeps its current result while a count `x` (a
/// non-negative whole number: events, active days, distinct values) falls
/// to any smaller value down to 0 — so events leaving a window cannot flip
/// it. `count(e, 7d) >= 3` at 1 stays false however many events leave;
/// at 4 it may turn false.
pub(crate) fn stable_while_falling(op: CmpOp, x: f64, k: f64) -> bool {
    let current = apply(op, x.partial_cmp(&k));
    // The orderings of y against k over the whole numbers y in [0, x).
    let below = x >= 1.0;
    let less = below && 0.0 < k;
    let equal = below && k >= 0.0 && k < x && k.fract() == 0.0;
    let greater = below && x - 1.0 > k;
    [(less, Ordering::Less), (equal, Ordering::Equal), (greater, Ordering::Greater)]
        .iter()
        .all(|(reachable, ord)| !reachable || apply(op, Some(*ord)) == current)
}

/// `value in list`: a scalar equal to one of the literals, or a list
/// sharing an element with them.
pub(crate) fn is_in(value: &TraitValue, list: &[Literal]) -> bool {
    match value {
        TraitValue::List(items) => {
            items.iter().any(|item| list.iter().any(|l| matches!(l, Literal::Str(s) if s == item)))
        }
        v => list.iter().any(|l| order(v, l) == Some(Ordering::Equal)),
    }
}

/// `now + offset`, saturating.
pub(crate) fn shift(now: Timestamp, offset_ms: i64) -> Timestamp {
    Timestamp(now.0.saturating_add(offset_ms))
}

/// Whether a trait holding `value` (`None`: unset) passes `test` at `now`.
pub(crate) fn trait_passes(value: Option<&TraitValue>, test: &TraitTest, now: Timestamp) -> bool {
    match test {
        TraitTest::Exists => value.is_some(),
        TraitTest::IsNull => matches!(value, Some(TraitValue::Null)),
        TraitTest::Cmp(op, Operand::Lit(lit)) => apply(*op, value.and_then(|v| order(v, lit))),
        TraitTest::Cmp(op, Operand::Now(d)) => {
            let at = shift(now, d.as_millis());
            apply(*op, value.and_then(as_time).map(|t| t.cmp(&at)))
        }
        TraitTest::In(list) => value.is_some_and(|v| is_in(v, list)),
        TraitTest::Contains(Literal::Str(s)) => match value {
            Some(TraitValue::List(items)) => items.iter().any(|i| i == s),
            Some(TraitValue::Str(x)) => x.contains(s.as_str()),
            _ => false,
        },
        TraitTest::StartsWith(Literal::Str(s)) => {
            matches!(value, Some(TraitValue::Str(x)) if x.starts_with(s.as_str()))
        }
        TraitTest::Contains(_) | TraitTest::StartsWith(_) => false,
    }
}

impl PropertyFilter {
    /// Whether an event whose property holds `value` (`None`: absent)
    /// passes this filter. Same rules as trait comparisons: an absent
    /// property passes only `!=`.
    pub fn matches(&self, value: Option<&TraitValue>) -> bool {
        match &self.test {
            FilterTest::Cmp(op, lit) => apply(*op, value.and_then(|v| order(v, lit))),
            FilterTest::In(list) => value.is_some_and(|v| is_in(v, list)),
        }
    }

    /// Whether an event with these properties (dotted names, first
    /// occurrence wins) passes every filter.
    pub fn matches_all(filters: &[PropertyFilter], properties: &[(String, TraitValue)]) -> bool {
        filters.iter().all(|f| {
            let value = properties.iter().find(|(name, _)| *name == f.property).map(|(_, v)| v);
            f.matches(value)
        })
    }
}

/// Whether `filters` select exactly the events a rollup series with the
/// filter `series` holds, so that the series' buckets answer for them.
/// Only `property = "text"` is recognised as the same as the rollup's
/// `property = "text"` (for any other test the two languages' rules for
/// lists, numbers and absent properties differ); text that could be the
/// JSON form of a list or object is left out for the same reason.
pub(crate) fn same_events(filters: &[PropertyFilter], series: &[crate::rollup::Filter]) -> bool {
    filters.iter().all(|f| series.iter().any(|r| equivalent(f, r)))
        && series.iter().all(|r| filters.iter().any(|f| equivalent(f, r)))
}

fn equivalent(f: &PropertyFilter, r: &crate::rollup::Filter) -> bool {
    use crate::rollup::{FilterOp, Literal as RollupLiteral};
    match (&f.test, r.op, r.values.as_slice()) {
        (FilterTest::Cmp(CmpOp::Eq, Literal::Str(a)), FilterOp::Eq, [RollupLiteral::Str(b)]) => {
            f.property == r.property && a == b && !a.starts_with(['[', '{'])
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::ast::Duration;

    #[test]
    fn a_falling_count_flips_only_comparisons_a_smaller_count_answers_otherwise() {
        use CmpOp::*;
        // Brute force over whole-number counts: stable iff every y in [0, x)
        // gives the same result as x.
        for op in [Eq, Ne, Lt, Le, Gt, Ge] {
            for x in 0..8 {
                for k in [-1.0, 0.0, 0.5, 1.0, 2.0, 2.5, 3.0, 7.0, 9.0] {
                    let x = f64::from(x);
                    let now = apply(op, x.partial_cmp(&k));
                    let brute = (0..x as i32).all(|y| apply(op, f64::from(y).partial_cmp(&k)) == now);
                    assert_eq!(stable_while_falling(op, x, k), brute, "{op:?} x={x} k={k}");
                }
            }
        }
    }

    #[test]
    fn numbers_compare_across_int_and_float() {
        assert_eq!(order(&TraitValue::Int(2), &Literal::Float(2.5)), Some(Ordering::Less));
        assert_eq!(order(&TraitValue::Float(3.0), &Literal::Int(3)), Some(Ordering::Equal));
        assert_eq!(order(&TraitValue::Str("3".into()), &Literal::Int(3)), None);
    }

    #[test]
    fn integers_past_2_pow_53_compare_exactly_with_floats() {
        let (p53, big) = (TraitValue::Int(1 << 53), TraitValue::Int((1 << 53) + 1));
        let f53 = TraitValue::Float(9_007_199_254_740_992.0);
        assert_eq!(order(&big, &Literal::Float(9_007_199_254_740_992.0)), Some(Ordering::Greater));
        assert_eq!(order(&p53, &Literal::Float(9_007_199_254_740_992.0)), Some(Ordering::Equal));
        assert_eq!(order(&f53, &Literal::Int((1 << 53) + 1)), Some(Ordering::Less));
        assert_eq!(order(&big, &Literal::Int(1 << 53)), Some(Ordering::Greater));
        assert!(!is_in(&big, &[Literal::Float(9_007_199_254_740_992.0)]));
        assert!(!is_in(&f53, &[Literal::Int((1 << 53) + 1), Literal::Int(i64::MAX)]));
        assert!(is_in(&f53, &[Literal::Int((1 << 53) + 1), Literal::Int(1 << 53)]));
        assert_eq!(
            order(&TraitValue::Int(i64::MAX), &Literal::Float(9_223_372_036_854_775_808.0)),
            Some(Ordering::Less)
        );
    }

    #[test]
    fn strings_holding_times_compare_with_times() {
        let v = TraitValue::Str("1970-01-01T00:00:01Z".into());
        assert_eq!(order(&v, &Literal::Time(Timestamp(1000))), Some(Ordering::Equal));
        let t = TraitValue::Time(Timestamp(1000));
        assert_eq!(order(&t, &Literal::Str("1970-01-01T00:00:02Z".into())), Some(Ordering::Less));
        let test = TraitTest::Cmp(CmpOp::Lt, Operand::Now(Duration::millis(5)));
        assert!(trait_passes(Some(&v), &test, Timestamp(996)));
        assert!(!trait_passes(Some(&v), &test, Timestamp(995)));
    }

    #[test]
    fn missing_values_pass_only_not_equal() {
        let ne = TraitTest::Cmp(CmpOp::Ne, Operand::Lit(Literal::Int(1)));
        let eq = TraitTest::Cmp(CmpOp::Eq, Operand::Lit(Literal::Int(1)));
        assert!(trait_passes(None, &ne, Timestamp(0)));
        assert!(!trait_passes(None, &eq, Timestamp(0)));
        assert!(trait_passes(Some(&TraitValue::Null), &ne, Timestamp(0)));
        assert!(!trait_passes(None, &TraitTest::Exists, Timestamp(0)));
        assert!(trait_passes(Some(&TraitValue::Null), &TraitTest::Exists, Timestamp(0)));
        assert!(trait_passes(Some(&TraitValue::Null), &TraitTest::IsNull, Timestamp(0)));
        assert!(!trait_passes(None, &TraitTest::IsNull, Timestamp(0)));
    }

    #[test]
    fn lists_contain_and_intersect() {
        let tags = TraitValue::List(vec!["beta".into(), "vip".into()]);
        assert!(trait_passes(Some(&tags), &TraitTest::Contains(Literal::Str("vip".into())), Timestamp(0)));
        assert!(!trait_passes(Some(&tags), &TraitTest::Contains(Literal::Str("vi".into())), Timestamp(0)));
        let s = TraitValue::Str("ann@x.com".into());
        assert!(trait_passes(Some(&s), &TraitTest::Contains(Literal::Str("@x".into())), Timestamp(0)));
        assert!(trait_passes(Some(&s), &TraitTest::StartsWith(Literal::Str("ann".into())), Timestamp(0)));
        assert!(is_in(&tags, &[Literal::Str("vip".into()), Literal::Int(1)]));
        assert!(is_in(&TraitValue::Int(2), &[Literal::Float(2.0)]));
        assert!(!is_in(&TraitValue::Int(2), &[Literal::Str("2".into())]));
    }

    #[test]
    fn filters_match_properties() {
        let f = PropertyFilter { property: "page".into(), test: FilterTest::Cmp(CmpOp::Eq, Literal::Str("/p".into())) };
        let props = vec![("page".to_owned(), TraitValue::Str("/p".into()))];
        assert!(PropertyFilter::matches_all(std::slice::from_ref(&f), &props));
        assert!(!PropertyFilter::matches_all(&[f], &[]));
        assert!(PropertyFilter::matches_all(&[], &[]));
    }
}
