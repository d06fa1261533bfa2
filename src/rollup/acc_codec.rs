//! The stored layout of an accumulator ([`Acc`]): tag `0x1a` (format 10),
//! written by hand rather than by bincode, holding only what the
//! accumulator has — most rollup values are day buckets of a handful of
//! events with no numbers and no values, and bincode spent 8 bytes on a
//! sum of zero, 9 on each timestamp and 18 on a day bitmap whose only day
//! is the bucket's own.
//!
//! ```text
//! 0x1a ‖ flags u8 ‖ count
//!      ‖ numeric ‖ n ‖ n × partial f64 LE      if flags & NUMERIC
//!      ‖ min f64 LE                            if flags & MIN
//!      ‖ max f64 LE                            if flags & MAX
//!      ‖ zigzag(first)                         if flags & FIRST
//!      ‖ zigzag(last − first, wrapping)        if flags & LAST (last alone without FIRST)
//!      ‖ length ‖ days (roaring portable)      if flags & DAYS
//!      ‖ n·2 + overflow ‖ n × (length ‖ value UTF-8 ‖ count)   if flags & VALUES
//! ```
//!
//! Integers are LEB128 varints (7 bits a byte, least significant first);
//! the sum is its exact expansion ([`ExactSum::partials`]: none for +0.0,
//! one for most sums of integers — 9 bytes, where the rounded `f64` took
//! 8); `OWN_DAY` stands for a day set of exactly the first event's day
//! (what every day bucket holds). Tag `0x19` (format 9: the same layout
//! with the sum as one `sum f64 LE`, read as a single partial) and tag
//! `0x07` (bincode, formats 2–8) stay readable.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::clock::Timestamp;
use crate::codec::{tags, DecodeError, ValueCodec};
use crate::rollup::acc::{day_bit, Acc};
use crate::rollup::exact_sum::ExactSum;

/// `numeric` and the sum follow (`numeric` is not 0 or the sum has a
/// partial).
pub(crate) const NUMERIC: u8 = 0x01;
/// `min` follows.
pub(crate) const MIN: u8 = 0x02;
/// `max` follows.
pub(crate) const MAX: u8 = 0x04;
/// `first` follows.
pub(crate) const FIRST: u8 = 0x08;
/// `last` follows.
pub(crate) const LAST: u8 = 0x10;
/// The day set is exactly the first event's day (nothing follows).
pub(crate) const OWN_DAY: u8 = 0x20;
/// A day set follows.
const DAYS: u8 = 0x40;
/// The value map follows (values, or overflow set).
pub(crate) const VALUES: u8 = 0x80;

impl ValueCodec for Acc {
    fn encode_value(&self) -> Vec<u8> {
        self.encode()
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        Acc::decode(bytes)
    }
}

impl Acc {
    /// The accumulator's stored bytes (tag `0x1a`; `storage-format/`).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24);
        out.push(tags::ACC_V3);
        let own_day = self.days.len() == 1 && self.first.is_some_and(|f| self.days.contains(own_day_bit(f)));
        let numeric = self.numeric != 0 || !self.sum.is_empty();
        let flags = flag(numeric, NUMERIC)
            | flag(self.min.is_some(), MIN)
            | flag(self.max.is_some(), MAX)
            | flag(self.first.is_some(), FIRST)
            | flag(self.last.is_some(), LAST)
            | flag(own_day, OWN_DAY)
            | flag(!own_day && !self.days.is_empty(), DAYS)
            | flag(!self.values.is_empty() || self.overflow, VALUES);
        out.push(flags);
        put_varint(&mut out, self.count);
        if numeric {
            put_varint(&mut out, self.numeric);
            put_partials(&mut out, self.sum.partials());
        }
        for x in [self.min, self.max].into_iter().flatten() {
            out.extend_from_slice(&x.to_le_bytes());
        }
        put_times(&mut out, self.first, self.last);
        if flags & DAYS != 0 {
            put_varint(&mut out, self.days.serialized_size() as u64);
            // Writing to a Vec cannot fail.
            let _ = self.days.serialize_into(&mut out);
        }
        if flags & VALUES != 0 {
            put_varint(&mut out, (self.values.len() as u64) << 1 | u64::from(self.overflow));
            for (value, n) in &self.values {
                put_str(&mut out, value);
                put_varint(&mut out, *n);
            }
        }
        out
    }

    /// Decodes an accumulator's stored bytes: tag `0x1a`, `0x19` (format
    /// 9: the sum as one `f64`) or `0x07` (bincode, formats 2–8). Every
    /// byte must be used.
    pub fn decode(bytes: &[u8]) -> Result<Acc, String> {
        match bytes.split_first() {
            Some((&tags::ACC_V3, body)) => decode_body(body, Sum::Partials).map_err(|e| format!("Acc: {e}")),
            Some((&tags::ACC_V2, body)) => decode_body(body, Sum::Rounded).map_err(|e| format!("Acc: {e}")),
            Some((&tags::ACC, body)) => {
                let mut acc: Acc = crate::codec::decode_body(body, "Acc")?;
                // roaring's serde reads any layout (run containers, keys
                // out of order): rebuilt from its days, the set is what
                // this build writes and answers as stored.
                acc.days = acc.days.iter().collect();
                Ok(acc)
            }
            Some((t, _)) => Err(format!(
                "expected tag {:#04x}, {:#04x} or {:#04x} (Acc), found {t:#04x}",
                tags::ACC_V3,
                tags::ACC_V2,
                tags::ACC
            )),
            None => Err("empty value, expected Acc".into()),
        }
    }
}

/// The bit of the UTC day of the instant `ms`.
pub(crate) fn own_day_bit(ms: i64) -> u32 {
    day_bit(Timestamp(ms).day())
}

fn flag(set: bool, bit: u8) -> u8 {
    if set {
        bit
    } else {
        0
    }
}

/// Writes `first` and `last` (the latter relative to the former when both
/// are there).
pub(crate) fn put_times(out: &mut Vec<u8>, first: Option<i64>, last: Option<i64>) {
    if let Some(f) = first {
        put_varint(out, zigzag(f));
    }
    if let Some(l) = last {
        put_varint(out, zigzag(l.wrapping_sub(first.unwrap_or(0))));
    }
}

/// Writes a sum's partials: their number, then each (`f64` LE).
pub(crate) fn put_partials(out: &mut Vec<u8>, partials: &[f64]) {
    put_varint(out, partials.len() as u64);
    for p in partials {
        out.extend_from_slice(&p.to_le_bytes());
    }
}

/// Writes a string: its length, then its bytes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

/// Writes `x` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut x: u64) {
    while x >= 0x80 {
        out.push((x as u8) | 0x80);
        x >>= 7;
    }
    out.push(x as u8);
}

fn zigzag(x: i64) -> u64 {
    ((x << 1) ^ (x >> 63)) as u64
}

fn unzigzag(x: u64) -> i64 {
    ((x >> 1) as i64) ^ -((x & 1) as i64)
}

/// A cursor over a body being decoded.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err(format!("truncated {what}: {n} bytes needed, {} left", self.0.len()));
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &str) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or_else(|| format!("truncated {what}: no bytes left"))?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self, what: &str) -> Result<u64, String> {
        let mut x = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte(what)?;
            if shift == 63 && b > 1 {
                return Err(format!("{what}: varint overflows 64 bits"));
            }
            x |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(x);
            }
        }
        Err(format!("{what}: varint longer than 10 bytes"))
    }

    fn len(&mut self, what: &str) -> Result<usize, String> {
        let n = self.varint(what)?;
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.0.len())
            .ok_or_else(|| format!("{what}: length {n} exceeds the {} bytes left", self.0.len()))
    }

    fn f64(&mut self, what: &str) -> Result<f64, String> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_le_bytes(a))
    }
}

/// How a layout stores the sum.
#[derive(Clone, Copy)]
enum Sum {
    /// Tag `0x1a`: the exact sum's partials (a count, then each).
    Partials,
    /// Tag `0x19`: one `f64`, rounded in the order the folds came.
    Rounded,
}

/// Reads a sum stored as `how`.
fn read_sum(r: &mut Reader<'_>, how: Sum) -> Result<ExactSum, String> {
    match how {
        Sum::Rounded => Ok(ExactSum::from(r.f64("sum")?)),
        Sum::Partials => {
            let n = r.varint("partial count")?;
            let left = r.0.len();
            let n = usize::try_from(n)
                .ok()
                .filter(|n| n.checked_mul(8).is_some_and(|b| b <= left))
                .ok_or_else(|| format!("partial count {n} exceeds the {left} bytes left"))?;
            let mut partials = smallvec::SmallVec::<[f64; 2]>::with_capacity(n);
            for _ in 0..n {
                partials.push(r.f64("partial")?);
            }
            ExactSum::from_partials(&partials).map_err(|e| format!("sum: {e}"))
        }
    }
}

fn decode_body(body: &[u8], sum: Sum) -> Result<Acc, String> {
    let mut r = Reader(body);
    let flags = r.byte("flags")?;
    let has = |bit: u8| flags & bit != 0;
    if has(OWN_DAY) && (has(DAYS) || !has(FIRST)) {
        return Err(format!("flags {flags:#04x}: the own-day flag needs a first time and no day set"));
    }
    let mut acc = Acc { count: r.varint("count")?, ..Acc::default() };
    if has(NUMERIC) {
        acc.numeric = r.varint("numeric")?;
        acc.sum = read_sum(&mut r, sum)?;
    }
    if has(MIN) {
        acc.min = Some(r.f64("min")?);
    }
    if has(MAX) {
        acc.max = Some(r.f64("max")?);
    }
    if has(FIRST) {
        acc.first = Some(unzigzag(r.varint("first")?));
    }
    if has(LAST) {
        acc.last = Some(unzigzag(r.varint("last")?).wrapping_add(acc.first.unwrap_or(0)));
    }
    if let (true, Some(f)) = (has(OWN_DAY), acc.first) {
        acc.days.insert(own_day_bit(f));
    }
    if has(DAYS) {
        let n = r.len("day set length")?;
        acc.days = day_set(r.take(n, "day set")?)?;
    }
    if has(VALUES) {
        let header = r.varint("value list header")?;
        acc.overflow = header & 1 == 1;
        let mut values = BTreeMap::new();
        for _ in 0..header >> 1 {
            let n = r.len("value length")?;
            let value = std::str::from_utf8(r.take(n, "value")?).map_err(|e| format!("value: {e}"))?.to_owned();
            let count = r.varint("count of a value")?;
            if values.insert(value, count).is_some() {
                return Err("a value is listed twice".into());
            }
        }
        acc.values = values;
    }
    if !r.0.is_empty() {
        return Err(format!("{} trailing bytes", r.0.len()));
    }
    Ok(acc)
}

/// A day set: roaring's portable serialization in exactly the layout
/// roaring writes ([`crate::codec::roaring_bitmap`]: a crafted one — run
/// containers, keys out of order — would answer wrong or not encode back).
fn day_set(raw: &[u8]) -> Result<RoaringBitmap, String> {
    crate::codec::roaring_bitmap(raw).map_err(|e| format!("day set: {e}"))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Sums as they come: none, one value (any bits), or several values
    /// folded (several partials).
    fn sum_strategy() -> impl Strategy<Value = ExactSum> {
        prop_oneof![
            Just(ExactSum::new()),
            any::<f64>().prop_map(ExactSum::from),
            prop::collection::vec(
                prop_oneof![any::<f64>().prop_filter("finite", |x| x.is_finite()), Just(0.1), Just(1e16), Just(0.01)],
                2..6
            )
            .prop_map(ExactSum::from_iter),
        ]
    }

    fn acc_strategy() -> impl Strategy<Value = Acc> {
        (
            (any::<u64>(), any::<u64>(), sum_strategy(), any::<Option<f64>>(), any::<Option<f64>>()),
            (any::<Option<i64>>(), any::<Option<i64>>(), prop::collection::vec(any::<u32>(), 0..4)),
            (prop::collection::btree_map(".{0,6}", any::<u64>(), 0..3), any::<bool>(), any::<bool>()),
        )
            .prop_map(|((count, numeric, sum, min, max), (first, last, days), (values, overflow, own))| {
                let mut acc = Acc { count, numeric, sum, min, max, first, last, values, overflow, ..Acc::default() };
                match (own, first) {
                    (true, Some(f)) => {
                        acc.days.insert(own_day_bit(f));
                    }
                    _ => acc.days.extend(days),
                }
                acc
            })
    }

    /// Equal as stored: floats compared by their bits (NaN included), the
    /// sum partial by partial.
    fn same(a: &Acc, b: &Acc) -> bool {
        let bits = |x: Option<f64>| x.map(f64::to_bits);
        let partials = |a: &Acc| a.sum.partials().iter().map(|p| p.to_bits()).collect::<Vec<_>>();
        (a.count, a.numeric, partials(a), bits(a.min), bits(a.max), a.first, a.last)
            == (b.count, b.numeric, partials(b), bits(b.min), bits(b.max), b.first, b.last)
            && (&a.days, &a.values, a.overflow) == (&b.days, &b.values, b.overflow)
    }

    /// The bytes format 9 wrote for `acc`, whose sum has at most one
    /// partial: tag `0x19` and the sum as one `f64` where `0x1a` writes a
    /// partial count and the partials.
    fn format_9(acc: &Acc) -> Vec<u8> {
        assert!(acc.sum.partials().len() <= 1);
        let mut bytes = acc.encode();
        bytes[0] = tags::ACC_V2;
        if bytes[1] & NUMERIC != 0 {
            // Past the count and `numeric` varints.
            let mut at = 2;
            for _ in 0..2 {
                while bytes[at] & 0x80 != 0 {
                    at += 1;
                }
                at += 1;
            }
            match bytes[at] {
                0 => drop(bytes.splice(at..=at, 0f64.to_le_bytes())),
                _ => drop(bytes.remove(at)),
            }
        }
        bytes
    }

    proptest! {
        #[test]
        fn every_accumulator_round_trips(acc in acc_strategy()) {
            let bytes = acc.encode();
            let back = Acc::decode(&bytes).unwrap();
            prop_assert!(same(&acc, &back), "{acc:?} came back as {back:?}");
        }

        #[test]
        fn a_cut_or_extended_encoding_is_refused(acc in acc_strategy(), cut in any::<prop::sample::Index>()) {
            let bytes = acc.encode();
            prop_assert!(Acc::decode(&bytes[..cut.index(bytes.len())]).is_err());
            let mut longer = bytes.clone();
            longer.push(0);
            prop_assert!(Acc::decode(&longer).is_err());
        }

        /// A value of format 9 decodes with its sum, whatever its bits, as
        /// the one partial of an exact sum.
        #[test]
        fn the_0x19_layout_of_format_9_still_decodes(mut acc in acc_strategy(), sum in any::<f64>()) {
            acc.sum = ExactSum::from(sum);
            let old = format_9(&acc);
            let back = Acc::decode(&old).unwrap();
            prop_assert!(same(&acc, &back), "{acc:?} came back as {back:?}");
            prop_assert_eq!(back.sum.value().to_bits(), if sum == 0.0 { 0 } else { sum.to_bits() });
            prop_assert_eq!(back.encode(), acc.encode(), "rewritten as 0x1a");
        }
    }

    #[test]
    fn a_day_bucket_of_one_event_is_ten_bytes() {
        let t = 1_700_000_000_000;
        let mut acc = Acc { count: 1, first: Some(t), last: Some(t), ..Acc::default() };
        acc.days.insert(own_day_bit(t));
        let bytes = acc.encode();
        // tag, flags, count, first (6 bytes: zigzag of 1.7e12 is 42 bits), last − first.
        assert_eq!(bytes.len(), 10, "{bytes:?}");
        assert_eq!(bytes[..3], [tags::ACC_V3, FIRST | LAST | OWN_DAY, 1]);
        assert_eq!(bytes[9], 0);
        assert!(same(&Acc::decode(&bytes).unwrap(), &acc));
        assert_eq!(format_9(&acc)[1..], bytes[1..], "no sum: the layouts agree");
    }

    /// A sum of one partial costs one byte more than format 9's `f64`; a
    /// sum of decimal amounts, usually two partials, 8 more.
    #[test]
    fn a_sum_costs_a_count_and_its_partials() {
        let mut acc = Acc { count: 2, numeric: 2, ..Acc::default() };
        acc.sum.add(25.0);
        acc.sum.add(50.0);
        let one = acc.encode();
        assert_eq!(one.len(), format_9(&acc).len() + 1);
        assert_eq!(one, [&[tags::ACC_V3, NUMERIC, 2, 2, 1][..], &75f64.to_le_bytes()].concat());
        acc.sum = [0.1, 0.2].into_iter().collect();
        let two = acc.encode();
        assert_eq!((two.len(), two[4]), (one.len() + 8, 2), "{two:?}");
        let back = Acc::decode(&two).unwrap();
        assert!(same(&back, &acc));
        assert_eq!(back.sum.value(), 0.30000000000000004);
        // A sum of zero (numbers that cancelled) has no partial.
        acc.sum = [1.5, -1.5].into_iter().collect();
        assert_eq!(acc.encode(), [tags::ACC_V3, NUMERIC, 2, 2, 0]);
    }

    #[test]
    fn the_bincode_layout_of_formats_1_to_8_still_decodes() {
        let mut acc =
            Acc { count: 3, numeric: 2, sum: ExactSum::from(7.5), min: Some(2.5), max: Some(5.0), ..Acc::default() };
        acc.first = Some(-5);
        acc.last = Some(9);
        acc.days.extend([1, 2, 9]);
        acc.values.insert("a".into(), 2);
        acc.overflow = true;
        let old = crate::codec::tagged::encode_with_tag(tags::ACC, &acc);
        assert!(same(&Acc::decode(&old).unwrap(), &acc));
        assert!(Acc::decode(&[]).is_err());
        assert!(Acc::decode(&[0x42, 0]).unwrap_err().contains("0x42"));
    }

    #[test]
    fn a_day_set_not_in_the_written_layout_is_refused() {
        for tag in [tags::ACC_V3, tags::ACC_V2] {
            // One run container holding no run (cookie 12347): roaring reads it
            // as an empty container, which would not encode back.
            let runs = [tag, DAYS, 0, 0x0b, 0x3b, 0x30, 0, 0, 0x01, 0, 0, 0, 0, 0, 0];
            assert!(Acc::decode(&runs).unwrap_err().contains("day set"));
            // Two containers with their keys out of order.
            let mut set = Vec::new();
            RoaringBitmap::from_iter([5u32, 65_536 + 5]).serialize_into(&mut set).unwrap();
            let (first, second) = (set[8..12].to_vec(), set[12..16].to_vec());
            set[8..12].copy_from_slice(&second);
            set[12..16].copy_from_slice(&first);
            let mut bytes = vec![tag, DAYS, 0];
            put_varint(&mut bytes, set.len() as u64);
            bytes.extend_from_slice(&set);
            assert!(Acc::decode(&bytes).unwrap_err().contains("out of order"), "{bytes:02x?}");
        }
    }

    #[test]
    fn malformed_bodies_are_refused_with_what_is_wrong() {
        let partials = |ps: &[f64]| {
            let mut b = vec![tags::ACC_V3, NUMERIC, 1, 1];
            put_partials(&mut b, ps);
            b
        };
        let mut too_many = partials(&[1.0]);
        too_many[4] = 2;
        let mut huge = vec![tags::ACC_V3, NUMERIC, 1, 1];
        put_varint(&mut huge, u64::MAX >> 1);
        let cases: [(&[u8], &str); 10] = [
            (&[tags::ACC_V3, OWN_DAY, 1], "own-day"),
            (&[tags::ACC_V3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "overflows"),
            (&[tags::ACC_V3, DAYS, 1, 50], "length 50"),
            (&[tags::ACC_V3, VALUES, 1, 4, 1, 0xff, 1], "value"),
            (&[tags::ACC_V3, VALUES, 1, 4, 1, b'a', 1, 1, b'a', 2], "twice"),
            (&too_many, "partial count 2 exceeds the 8 bytes left"),
            (&huge, "exceeds"),
            (&partials(&[1.0, 3.0]), "sum: partials 0 and 1 overlap"),
            (&partials(&[-0.0]), "zero"),
            (&partials(&[1.0, f64::NAN]), "not finite"),
        ];
        for (bytes, what) in cases {
            let err = Acc::decode(bytes).unwrap_err();
            assert!(err.starts_with("Acc: ") && err.contains(what), "{bytes:?}: {err}");
        }
        assert!(Acc::decode(&[tags::ACC_V2, NUMERIC, 1, 1, 0, 0, 0]).unwrap_err().contains("truncated sum"));
    }
}
