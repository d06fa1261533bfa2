//! Exact comparisons between the two kinds of numbers values hold: `i64`
//! integers and `f64` floats.
//!
//! Casting an integer to `f64` rounds it past 2^53 (9007199254740993 becomes
//! 9007199254740992.0), so every comparison of numbers goes through
//! [`cmp_num`]: integers compare with integers as integers, and an integer
//! with a float by their exact mathematical values ([`cmp_int_float`]).

use std::cmp::Ordering;

/// A number as a value holds it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Num {
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
}

/// 2^63, exactly representable as `f64`: every float in [-2^63, 2^63)
/// truncates to an `i64` without rounding.
const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;

/// How the integer `i` orders against the float `f`, by their exact values
/// (`None` when `f` is NaN). A float past the `i64` range, or with a
/// fraction, decides by itself; otherwise its integer value compares with
/// `i` as integers.
pub(crate) fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    if f >= TWO_POW_63 {
        return Some(Ordering::Less);
    }
    if f < -TWO_POW_63 {
        return Some(Ordering::Greater);
    }
    let whole = f.trunc();
    // In [-2^63, 2^63) with no fraction: the cast is exact.
    let w = whole as i64;
    Some(i.cmp(&w).then_with(|| {
        if f > whole {
            Ordering::Less
        } else if f < whole {
            Ordering::Greater
        } else {
            Ordering::Equal
        }
    }))
}

/// How `a` orders against `b`, exactly (`None` when a float is NaN).
pub(crate) fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).map(Ordering::reverse),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    const P53: i64 = 1 << 53;

    #[test]
    fn integers_past_2_pow_53_compare_exactly_with_floats() {
        let f = P53 as f64;
        assert_eq!(cmp_int_float(P53, f), Some(Equal));
        assert_eq!(cmp_int_float(P53 + 1, f), Some(Greater));
        assert_eq!(cmp_int_float(P53 - 1, f), Some(Less));
        assert_eq!(cmp_int_float(-P53 - 1, -f), Some(Less));
        assert_eq!(cmp_int_float(i64::MAX, TWO_POW_63), Some(Less));
        assert_eq!(cmp_int_float(i64::MIN, -TWO_POW_63), Some(Equal));
        assert_eq!(cmp_int_float(i64::MIN, -TWO_POW_63 * 2.0), Some(Greater));
        assert_eq!(cmp_int_float(i64::MAX, f64::INFINITY), Some(Less));
        assert_eq!(cmp_int_float(i64::MIN, f64::NEG_INFINITY), Some(Greater));
        assert_eq!(cmp_int_float(0, f64::NAN), None);
    }

    #[test]
    fn fractions_decide_between_neighbouring_integers() {
        assert_eq!(cmp_int_float(2, 2.5), Some(Less));
        assert_eq!(cmp_int_float(3, 2.5), Some(Greater));
        assert_eq!(cmp_int_float(-2, -2.5), Some(Greater));
        assert_eq!(cmp_int_float(-3, -2.5), Some(Less));
        assert_eq!(cmp_int_float(0, -0.0), Some(Equal));
        assert_eq!(cmp_int_float(0, -0.25), Some(Greater));
        assert_eq!(cmp_int_float(0, 1e-300), Some(Less));
    }

    #[test]
    fn every_pairing_of_kinds_compares_exactly() {
        assert_eq!(cmp_num(Num::Int(P53 + 1), Num::Int(P53)), Some(Greater));
        assert_eq!(cmp_num(Num::Float(P53 as f64), Num::Int(P53 + 1)), Some(Less));
        assert_eq!(cmp_num(Num::Float(1.5), Num::Float(1.5)), Some(Equal));
        assert_eq!(cmp_num(Num::Float(f64::NAN), Num::Int(1)), None);
    }

    #[test]
    fn agrees_with_wide_integer_arithmetic() {
        // Against i128 on floats that are whole numbers, with neighbours.
        let ints = [i64::MIN, i64::MIN + 1, -P53 - 1, -P53, -1, 0, 1, P53 - 1, P53, P53 + 1, P53 + 2, i64::MAX];
        for &i in &ints {
            for &j in &ints {
                let f = j as f64;
                let exact = i128::from(i).cmp(&(f as i128));
                assert_eq!(cmp_int_float(i, f), Some(exact), "{i} vs {f}");
            }
        }
    }
}
