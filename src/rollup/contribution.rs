//! [`Contribution`]: one event's contribution to one series — what
//! [`Acc::of_event`] builds, without an accumulator's heap (a day bitmap,
//! a value map).
//!
//! Ingest stages one contribution per (event, series): it is encoded as a
//! merge operand, folded into the operation's staged statistics and, after
//! the commit, into the rollup cache. Building a whole [`Acc`] for each
//! cost four allocations before any of that (the bitmap's container list
//! and container, the value map's node, the encoding's bitmap buffer).
//!
//! The operand is the same bytes as the accumulator's encoding
//! (`Acc::of_event(..).encode_value()`, tested).

use crate::clock::Timestamp;
use crate::event::Event;
use crate::rollup::acc::{day_bit, Acc};

/// One event's contribution to one series.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Contribution {
    /// The event time (ms).
    pub time: i64,
    /// The numeric value of the series' property, when the event's is a number.
    pub number: Option<f64>,
    /// The series' property value as a value-frequency key, when the event
    /// has the property and the contribution keeps values.
    pub key: Option<String>,
}

impl Contribution {
    /// The contribution of `event` to a series accumulating `property`
    /// (`keep_values` false: no value-frequency key, for reads that need
    /// only the statistics).
    pub fn of_event(event: &Event, property: Option<&str>, keep_values: bool) -> Contribution {
        let mut c = Contribution { time: event.timestamp.0, number: None, key: None };
        let Some(v) = property.and_then(|path| event.property(path)) else { return c };
        c.number = v.as_f64();
        if keep_values {
            c.key = Some(v.value_key().into_owned());
        }
        c
    }

    /// The UTC day of the event.
    pub fn day(&self) -> i64 {
        Timestamp(self.time).day()
    }

    /// The contribution as an accumulator (one event).
    pub fn to_acc(&self) -> Acc {
        let mut acc = Acc { count: 1, first: Some(self.time), last: Some(self.time), ..Acc::default() };
        acc.days.insert(day_bit(self.day()));
        if let Some(x) = self.number {
            acc.numeric = 1;
            acc.sum = x.into();
            acc.min = Some(x);
            acc.max = Some(x);
        }
        if let Some(k) = &self.key {
            acc.values.insert(k.clone(), 1);
        }
        acc
    }

    /// The merge operand: the bytes of [`to_acc`](Self::to_acc)'s
    /// encoding (`rollup::acc_codec`), written without building the
    /// accumulator.
    pub fn encode(&self) -> Vec<u8> {
        use super::acc_codec::{
            put_partials, put_str, put_times, put_varint, FIRST, LAST, MAX, MIN, NUMERIC, OWN_DAY, VALUES,
        };
        let mut out = Vec::with_capacity(40 + self.key.as_ref().map_or(0, String::len));
        let mut flags = FIRST | LAST | OWN_DAY;
        if self.number.is_some() {
            flags |= NUMERIC | MIN | MAX;
        }
        if self.key.is_some() {
            flags |= VALUES;
        }
        out.extend_from_slice(&[crate::codec::tags::ACC_V3, flags]);
        put_varint(&mut out, 1);
        if let Some(x) = self.number {
            // numeric = 1, then the sum (x as its one partial; none for a
            // zero), the min and the max.
            put_varint(&mut out, 1);
            let zero = x == 0.0;
            put_partials(&mut out, if zero { &[] } else { std::slice::from_ref(&x) });
            for _ in 0..2 {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        put_times(&mut out, Some(self.time), Some(self.time));
        if let Some(k) = &self.key {
            // One value, no overflow; counted once.
            put_varint(&mut out, 1 << 1);
            put_str(&mut out, k);
            put_varint(&mut out, 1);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ValueCodec;
    use crate::event::{EventKind, PropertyValue};
    use crate::Identifier;
    use proptest::prelude::*;

    fn event(t: i64, value: Option<PropertyValue>) -> Event {
        let mut e =
            Event::new(EventKind::Track, "purchase", Timestamp(t), vec![Identifier::new("user_id", "u").unwrap()]);
        if let Some(v) = value {
            e.properties.insert("amount", v);
        }
        e
    }

    fn value() -> impl Strategy<Value = Option<PropertyValue>> {
        prop_oneof![
            Just(None),
            any::<i64>().prop_map(|n| Some(n.into())),
            any::<f64>().prop_map(|x| Some(x.into())),
            "[a-z/é]{0,40}".prop_map(|s| Some(s.into())),
            any::<bool>().prop_map(|b| Some(b.into())),
        ]
    }

    proptest! {
        /// The operand is byte for byte the accumulator's encoding, and
        /// decodes to the accumulator the event makes.
        #[test]
        fn the_operand_is_the_accumulators_encoding(t in any::<i64>(), v in value(), keep in any::<bool>()) {
            let e = event(t, v);
            for property in [None, Some("amount"), Some("missing")] {
                let c = Contribution::of_event(&e, property, keep);
                let acc = Acc::of_event_with(&e, property, keep);
                prop_assert_eq!(&c.to_acc(), &acc);
                prop_assert_eq!(c.encode(), acc.encode_value());
                prop_assert_eq!(Acc::decode_value(&c.encode()).unwrap(), acc);
            }
        }
    }

    #[test]
    fn a_text_value_is_kept_as_its_key_and_a_number_as_both() {
        let c = Contribution::of_event(&event(5, Some("/pricing".into())), Some("amount"), true);
        assert_eq!((c.number, c.key.as_deref()), (None, Some("/pricing")));
        let c = Contribution::of_event(&event(5, Some(7.into())), Some("amount"), true);
        assert_eq!((c.number, c.key.as_deref()), (Some(7.0), Some("7")));
        let lean = Contribution::of_event(&event(5, Some(7.into())), Some("amount"), false);
        assert_eq!((lean.number, lean.key), (Some(7.0), None));
        // Days before 1970 land in the bitmap's lower half, as the fold puts them.
        let old = Contribution::of_event(&event(-3 * Timestamp::DAY, None), None, true);
        assert_eq!(Acc::decode_value(&old.encode()).unwrap().days.iter().next(), Some(day_bit(-3)));
    }
}
