//! Tests of [`ExactSum`]: every order and grouping of the same values
//! reports the same `f64`, the exact sum correctly rounded.

use proptest::prelude::*;
use proptest::sample::Index;

use crate::rollup::exact_sum::ExactSum;

/// Folds `values` in their order into groups (a new group after each `true`
/// of `cuts`), then folds the groups pairwise — one picked by `picks`
/// into another — until one is left: the merge operator's shape (operands
/// folded in batches, partial results folded again).
fn grouped(values: &[f64], cuts: &[bool], picks: &[Index]) -> ExactSum {
    let mut groups = vec![ExactSum::new()];
    for (i, &x) in values.iter().enumerate() {
        if let Some(g) = groups.last_mut() {
            g.add(x);
        }
        if cuts.get(i).copied().unwrap_or(false) {
            groups.push(ExactSum::new());
        }
    }
    let mut picks = picks.iter().cycle();
    while groups.len() > 1 {
        let from = groups.swap_remove(picks.next().map_or(0, |p| p.index(groups.len())));
        let into = picks.next().map_or(0, |p| p.index(groups.len()));
        groups[into].fold(&from);
    }
    groups.pop().unwrap_or_default()
}

/// 2^e, exactly (`-1074 <= e <= 1023`).
fn pow2(e: i32) -> f64 {
    if e >= -1022 {
        f64::from_bits(((e + 1023) as u64) << 52)
    } else {
        f64::from_bits(1 << (e + 1074))
    }
}

/// Values that are multiples of 2^-64 below 2^56 in magnitude: their exact
/// sum (of up to 64) fits an `i128` in units of 2^-64. Decimal amounts
/// (0.1, 0.01, 19.99) are such multiples.
fn fixed_point_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::sample::select(vec![
            0.1,
            0.2,
            0.3,
            -0.1,
            0.01,
            0.07,
            0.001,
            2.2,
            5.01,
            19.99,
            27.21,
            1.0,
            0.5,
            3.0,
            1e16,
            -1e16,
            1e15 + 0.5,
            -4503599627370497.0,
            0.0,
            -0.0,
        ]),
        (-(1i64 << 53)..(1i64 << 53), -64i32..=2).prop_map(|(m, e)| m as f64 * pow2(e)),
    ]
}

/// `x` in units of 2^-64 (exact for [`fixed_point_value`]s).
fn units(x: f64) -> i128 {
    let scaled = x * pow2(64);
    assert!(x.abs() < pow2(56) && scaled.fract() == 0.0, "{x} is not a fixed-point test value");
    scaled as i128
}

/// The exact sum of fixed-point values, correctly rounded (an `i128` to
/// `f64` cast rounds to nearest, ties to even; the scaling is exact).
fn reference(values: &[f64]) -> f64 {
    let total: i128 = values.iter().map(|x| units(*x)).sum();
    total as f64 * pow2(-64)
}

/// Values of every magnitude the `f64` range allows, sums staying in range.
fn wide_value() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-(1i64 << 53)..(1i64 << 53), -1074i32..=960).prop_map(|(m, e)| m as f64 * pow2(e)),
        any::<f64>().prop_filter("finite, below 1e300", |x| x.is_finite() && x.abs() < 1e300),
        prop::sample::select(vec![0.1, 1e16, -1e16, 1e-300, 5e-324, 1e300, -1e300]),
    ]
}

#[test]
fn decimal_amounts_sum_to_one_value_in_any_order() {
    // The review's reproduction: plain addition gave 27.209999999999997 in
    // arrival order and 27.21 in day order (5.01 + (0.01 + 2.2 + 19.99)).
    // The exact sum of these four doubles lies closer to the former.
    let amounts = [0.01, 2.2, 5.01, 19.99];
    assert_eq!(amounts.iter().fold(0.0, |a, x| a + x), 27.209999999999997, "plain, arrival order");
    assert_eq!(5.01 + (0.01 + 2.2 + 19.99), 27.21, "plain, day order");
    for order in [[0, 1, 2, 3], [2, 0, 1, 3], [3, 2, 1, 0], [1, 3, 0, 2]] {
        let s: ExactSum = order.iter().map(|&i| amounts[i]).collect();
        assert_eq!(s.value(), 27.209999999999997, "{order:?}: {s:?}");
    }
    let mut day_order = ExactSum::from(5.01);
    day_order.fold(&[0.01, 2.2, 19.99].into_iter().collect());
    assert_eq!(day_order.value(), 27.209999999999997);
    assert_eq!([0.1, 0.2, 0.3].into_iter().collect::<ExactSum>().value(), 0.6);
    assert_eq!([1e16, 1.0, -1e16].into_iter().collect::<ExactSum>().value(), 1.0);
    // Ties: 1e16 + 1 is half-way; the 1e-16 below decides (math.fsum's case).
    assert_eq!([1e-16, 1.0, 1e16].into_iter().collect::<ExactSum>().value(), 1.0000000000000002e16);
    assert_eq!([1e16, 1.0].into_iter().collect::<ExactSum>().value(), 1e16, "ties to even");
}

/// A zero sum is +0.0, as plain addition from +0.0 gives, whatever zeros
/// were added.
#[test]
fn a_zero_sum_is_positive_zero_with_no_partial() {
    assert_eq!(ExactSum::new().value().to_bits(), 0.0f64.to_bits());
    assert!(ExactSum::new().is_empty());
    for zeros in [&[0.0][..], &[-0.0], &[-0.0, -0.0], &[0.0, -0.0], &[5.0, -0.0, -5.0], &[0.1, 1e16, -0.1, -1e16]] {
        let s: ExactSum = zeros.iter().copied().collect();
        assert!(s.is_empty(), "{zeros:?}: {s:?}");
        assert_eq!(s.value().to_bits(), 0.0f64.to_bits(), "{zeros:?}");
    }
}

#[test]
fn a_sum_past_the_range_is_infinite_and_stays_so() {
    let mut s: ExactSum = [1.7e308, 1e292].into_iter().collect();
    s.add(1.7e308);
    assert_eq!(s.value(), f64::INFINITY);
    s.add(-1.7e308);
    s.add(1.0);
    assert_eq!(s.value(), f64::INFINITY);
    assert_eq!(s.partials().len(), 1);
    let mut down: ExactSum = [-1.7e308, -1.7e308].into_iter().collect();
    assert_eq!(down.value(), f64::NEG_INFINITY);
    down.fold(&s);
    assert!(down.value().is_nan(), "both infinities");
    down.add(3.0);
    assert!(down.value().is_nan());
    let mut inf = ExactSum::from(2.5);
    inf.add(f64::INFINITY);
    assert_eq!(inf.value(), f64::INFINITY);
    let mut nan = ExactSum::from(f64::NAN);
    nan.fold(&[1.0, 1e-20].into_iter().collect());
    assert!(nan.value().is_nan());
}

#[test]
fn stored_partials_must_be_what_a_sum_holds() {
    let ok = |p: &[f64]| ExactSum::from_partials(p).map(|s| s.value());
    assert_eq!(ok(&[]), Ok(0.0));
    assert_eq!(ok(&[2.5]), Ok(2.5));
    assert!(ok(&[f64::NAN]).is_ok_and(f64::is_nan));
    assert_eq!(ok(&[f64::NEG_INFINITY]), Ok(f64::NEG_INFINITY));
    assert_eq!(ok(&[1e-17, 1.0]), Ok(1.0));
    assert!(ok(&[0.0]).unwrap_err().contains("zero"));
    assert!(ok(&[-0.0]).unwrap_err().contains("zero"));
    assert!(ok(&[1.0, 1e-17]).unwrap_err().contains("out of order"));
    assert!(ok(&[1.0, 3.0]).unwrap_err().contains("overlap"), "the bits of 1 and 3 overlap");
    assert!(ok(&[0.5, 1.0]).is_ok(), "adjacent bits do not overlap");
    assert!(ok(&[1.0, 1.0]).is_err());
    assert!(ok(&[-1.0, 2.0]).is_ok());
    assert!(ok(&[0.0, 1.0]).unwrap_err().contains("zero"));
    assert!(ok(&[1.0, f64::INFINITY]).unwrap_err().contains("not finite"));
    assert!(ok(&[f64::NAN, 1e300]).is_err());
    assert!(ok(&[5e-324, 1.0]).is_ok(), "a subnormal below a normal");
    assert!(ok(&[5e-324, 1.5e-323]).is_err(), "2^-1074 and 3 · 2^-1074 overlap");
}

#[test]
fn debug_shows_the_value_and_several_partials() {
    assert_eq!(format!("{:?}", ExactSum::from(2.5)), "2.5");
    let two: ExactSum = [0.1, 0.2].into_iter().collect();
    assert!(format!("{two:?}").starts_with("0.30000000000000004 (partials ["), "{two:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]

    /// Every order and grouping of fixed-point values reports the exact
    /// sum, correctly rounded.
    #[test]
    fn every_order_and_grouping_reports_the_exact_sum(
        (values, shuffled) in prop::collection::vec(fixed_point_value(), 0..64)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
        cuts in prop::collection::vec(any::<bool>(), 64),
        picks in prop::collection::vec(any::<Index>(), 1..16),
    ) {
        let want = reference(&values);
        let in_order: ExactSum = values.iter().copied().collect();
        let reversed: ExactSum = values.iter().rev().copied().collect();
        let grouped = grouped(&shuffled, &cuts, &picks);
        for (how, s) in [("in order", &in_order), ("reversed", &reversed), ("shuffled and grouped", &grouped)] {
            prop_assert_eq!(s.value().to_bits(), want.to_bits(), "{}: {:?}, exact {}", how, s, want);
            prop_assert!(ExactSum::from_partials(s.partials()).is_ok(), "{}: {:?} is not a valid expansion", how, s);
        }
    }

    /// Any magnitudes: the order and grouping do not change the sum, and
    /// values cancelled by their negations leave exactly what remains.
    #[test]
    fn any_magnitudes_fold_exactly(
        (values, shuffled) in prop::collection::vec(wide_value(), 0..40)
            .prop_flat_map(|v| {
                let mut both = v.clone();
                both.extend(v.iter().map(|x| -x));
                (Just(v), Just(both).prop_shuffle())
            }),
        rest in wide_value(),
        cuts in prop::collection::vec(any::<bool>(), 80),
        picks in prop::collection::vec(any::<Index>(), 1..16),
    ) {
        let forward: ExactSum = values.iter().copied().collect();
        let backward: ExactSum = values.iter().rev().copied().collect();
        prop_assert_eq!(forward.value().to_bits(), backward.value().to_bits(), "{:?} vs {:?}", forward, backward);
        let mut with_rest = shuffled.clone();
        with_rest.push(rest);
        let left = grouped(&with_rest, &cuts, &picks);
        prop_assert_eq!(left.value(), rest, "{:?}", left);
        for s in [&forward, &backward, &left] {
            prop_assert!(ExactSum::from_partials(s.partials()).is_ok(), "{:?} is not a valid expansion", s);
        }
    }
}
