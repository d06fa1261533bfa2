//! [`ExactSum`]: a sum of `f64` values kept exactly, as a short list of
//! non-overlapping `f64` partials (Shewchuk's adaptive-precision
//! expansion, the algorithm of Python's `math.fsum`).
//!
//! Plain `f64` addition rounds at every step, so the same values summed in
//! another order or grouping can differ in the last bits: the rollup cache
//! folds events in arrival order, a cold read folds day buckets in day
//! order and RocksDB's merge operator folds operands in groups that depend
//! on flush timing. An [`ExactSum`] adds each value (or another sum's
//! partials) without rounding; [`ExactSum::value`] is the exact sum
//! rounded once, to the nearest `f64` (ties to even). Every order and
//! every grouping of the same values therefore reports the same `f64`.
//!
//! Partials are kept in increasing magnitude, each one's lowest set bit
//! above the highest set bit of the one before (non-overlapping), none
//! zero: a sum of zero has no partial and is +0.0, as a sum started from
//! +0.0 is whatever zeros are added. Amounts of similar magnitude take one to three partials (up to
//! two are held inline); a sum of integers below 2^53 takes one.
//!
//! **Range.** Exactness holds while every running sum stays within the
//! `f64` range. A sum whose running value passes ±1.8e308 becomes
//! infinite (NaN once both infinities met) and stays so; an infinite or
//! NaN value added in does the same. Such a sum is a single non-finite
//! partial.

use std::fmt;
use std::ops::AddAssign;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use smallvec::SmallVec;

/// An exactly kept sum of `f64` values (see the module docs).
#[derive(Default)]
pub struct ExactSum {
    /// Non-overlapping, increasing in magnitude, no zero; or one
    /// non-finite value.
    partials: SmallVec<[f64; 2]>,
}

impl ExactSum {
    /// The empty sum (zero).
    pub fn new() -> ExactSum {
        ExactSum::default()
    }

    /// Whether the sum is zero: no partial to store (the value is +0.0).
    pub fn is_empty(&self) -> bool {
        self.partials.is_empty()
    }

    /// The partials, in increasing magnitude (none for zero).
    pub fn partials(&self) -> &[f64] {
        &self.partials
    }

    /// Adds `x` exactly.
    pub fn add(&mut self, x: f64) {
        // The fast path: nothing yet (the first value of a bucket).
        if self.partials.is_empty() {
            if x != 0.0 {
                self.partials.push(x);
            }
            return;
        }
        if !x.is_finite() {
            let sum = self.value() + x;
            self.set_non_finite(sum);
            return;
        }
        // The usual path: one partial, and the sum of it and `x` exact
        // (sums of integers, of amounts with few decimals at first).
        if let [y] = self.partials.as_mut_slice() {
            let hi = x + *y;
            let (big, small) = if x.abs() < y.abs() { (*y, x) } else { (x, *y) };
            if hi.is_finite() && small - (hi - big) == 0.0 {
                *y = hi;
                if hi == 0.0 {
                    self.partials.clear();
                }
                return;
            }
        }
        let mut x = x;
        let mut kept = 0;
        let partials = self.partials.as_mut_slice();
        for j in 0..partials.len() {
            let mut y = partials[j];
            if x.abs() < y.abs() {
                std::mem::swap(&mut x, &mut y);
            }
            let hi = x + y;
            if !hi.is_finite() {
                // Past the f64 range (or a non-finite sum already: one
                // infinite or NaN partial): infinite or NaN from now on.
                self.set_non_finite(hi);
                return;
            }
            // The rounding error of `hi`, exactly (|x| >= |y|).
            let lo = y - (hi - x);
            if lo != 0.0 {
                partials[kept] = lo;
                kept += 1;
            }
            x = hi;
        }
        self.partials.truncate(kept);
        if x != 0.0 {
            self.partials.push(x);
        }
    }

    /// Makes the sum the non-finite `value` (a single partial).
    fn set_non_finite(&mut self, value: f64) {
        self.partials.clear();
        self.partials.push(value);
    }

    /// Adds every partial of `other` exactly: the sum of both.
    pub fn fold(&mut self, other: &ExactSum) {
        if self.partials.is_empty() {
            self.partials.clone_from(&other.partials);
            return;
        }
        for &p in &other.partials {
            self.add(p);
        }
    }

    /// The exact sum rounded to the nearest `f64` (ties to even): the same
    /// for every order and grouping of the same values.
    pub fn value(&self) -> f64 {
        let p = &self.partials;
        let Some((&top, below)) = p.split_last() else { return 0.0 };
        if below.is_empty() {
            return top;
        }
        // As `math.fsum`: add partials from the top down until one is not
        // absorbed exactly; what is left below then decides a tie.
        let (mut hi, mut lo) = (top, 0.0);
        let mut n = below.len();
        while n > 0 {
            n -= 1;
            let (x, y) = (hi, below[n]);
            hi = x + y;
            lo = y - (hi - x);
            if lo != 0.0 {
                break;
            }
        }
        // Half-way between two f64s and the partials below lean the same
        // way as `lo`: round away from `hi`.
        if n > 0 && ((lo < 0.0 && below[n - 1] < 0.0) || (lo > 0.0 && below[n - 1] > 0.0)) {
            let y = lo * 2.0;
            let x = hi + y;
            if y == x - hi {
                hi = x;
            }
        }
        hi
    }

    /// The sum of stored `partials`, which must be what [`partials`]
    /// returns for some sum: none zero; several only when finite,
    /// non-overlapping and increasing in magnitude (so at most about
    /// 2,100); a lone one may be infinite or NaN.
    ///
    /// [`partials`]: ExactSum::partials
    pub fn from_partials(partials: &[f64]) -> Result<ExactSum, String> {
        match partials {
            [] => {}
            [x] if *x == 0.0 => return Err("a partial of zero (a zero sum is written with none)".into()),
            [_] => {}
            _ => {
                for (i, pair) in partials.windows(2).enumerate() {
                    let (a, b) = (pair[0], pair[1]);
                    let (Some((_, a_high)), Some((b_low, _))) = (bit_span(a), bit_span(b)) else {
                        return Err(format!("partial {} or {} is zero or not finite", i, i + 1));
                    };
                    if a_high >= b_low {
                        return Err(format!("partials {} and {} overlap or are out of order", i, i + 1));
                    }
                }
            }
        }
        Ok(ExactSum { partials: SmallVec::from_slice(partials) })
    }
}

/// A copy of the partials (a plain copy while they are inline).
impl Clone for ExactSum {
    fn clone(&self) -> ExactSum {
        ExactSum { partials: SmallVec::from_slice(&self.partials) }
    }

    fn clone_from(&mut self, source: &ExactSum) {
        self.partials.clone_from(&source.partials);
    }
}

/// The exponents of the lowest and highest set bits of a finite non-zero
/// `x` (`None` for zeros, infinities and NaN).
fn bit_span(x: f64) -> Option<(i32, i32)> {
    if x == 0.0 || !x.is_finite() {
        return None;
    }
    let bits = x.to_bits() & !(1 << 63);
    let (exp, frac) = ((bits >> 52) as i32, bits & ((1 << 52) - 1));
    // Subnormals: no implicit bit, the exponent of normals' smallest.
    let (significand, unit) = if exp == 0 { (frac, -1074) } else { (frac | 1 << 52, exp - 1075) };
    Some((unit + significand.trailing_zeros() as i32, unit + 63 - significand.leading_zeros() as i32))
}

impl From<f64> for ExactSum {
    fn from(x: f64) -> ExactSum {
        let mut s = ExactSum::new();
        s.add(x);
        s
    }
}

impl FromIterator<f64> for ExactSum {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> ExactSum {
        let mut s = ExactSum::new();
        iter.into_iter().for_each(|x| s.add(x));
        s
    }
}

impl AddAssign<f64> for ExactSum {
    fn add_assign(&mut self, x: f64) {
        self.add(x);
    }
}

impl AddAssign<&ExactSum> for ExactSum {
    fn add_assign(&mut self, other: &ExactSum) {
        self.fold(other);
    }
}

/// Sums are equal when they report the same value (as `f64`s compare).
impl PartialEq for ExactSum {
    fn eq(&self, other: &ExactSum) -> bool {
        self.value() == other.value()
    }
}

/// The value, and the partials when there are several.
impl fmt::Debug for ExactSum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.partials.len() {
            0 | 1 => write!(f, "{:?}", self.value()),
            _ => write!(f, "{:?} (partials {:?})", self.value(), self.partials.as_slice()),
        }
    }
}

/// Serialized as its value, an `f64`: the field of the bincode layout of
/// formats 2–8 (tag `0x07`), read only.
impl Serialize for ExactSum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for ExactSum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ExactSum, D::Error> {
        f64::deserialize(d).map(ExactSum::from)
    }
}
