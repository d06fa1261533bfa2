//! Events: the event model, JSON and Segment Spec parsing, schemas.
//!
//! An incoming line becomes an [`Event`] through [`parse_line`], in one of
//! two formats ([`EventFormat`]): profiledb's [`native`] format or
//! [Segment Spec](spec) messages (Segment, RudderStack, Jitsu exports).
//! Parsing validates everything a stored event must satisfy — identifiers,
//! timestamp range, size and nesting bounds ([`EventLimits`]) — and every
//! error names the position, the message id when known, and the field.
//! [`SchemaRegistry`] adds optional per-event-name rules on properties.
//!
//! Nothing here touches storage: an [`Event`] is plain serde data that
//! encodes with bincode (properties use [`Properties`], not
//! `serde_json::Value`), and [`to_native_json`] renders it back for export.
//!
//! ```
//! use profiledb::event::{parse_line, to_native_json, EventFormat, EventLimits};
//! use profiledb::Timestamp;
//! let limits = EventLimits::new(Timestamp(1_714_564_800_000));
//! let line = r#"{"type":"identify","userId":"42","timestamp":"2024-05-01T10:00:00Z",
//!               "traits":{"email":"ann@example.com","address":{"city":"Oslo"}}}"#;
//! let event = parse_line(line, EventFormat::Auto, "line 1", &limits)?;
//! assert_eq!(event.identifiers.len(), 2); // email and user_id
//! assert_eq!(event.traits[0].name(), "address.city");
//! let native = to_native_json(&event);
//! assert_eq!(native["identifiers"]["user_id"], "42");
//! # Ok::<(), profiledb::Error>(())
//! ```

pub(crate) mod consent;
mod fields;
pub mod limits;
pub mod model;
pub mod native;
pub mod parse;
pub mod property;
pub mod schema;
pub mod spec;

pub use fields::identifier_text;
pub use limits::{EpochUnit, EventLimits};
pub use model::{Event, EventKind};
pub use native::to_native_json;
pub use parse::{
    describe_json_error, json_with_unique_keys, parse_line, parse_line_reporting, parse_line_with_skipped, parse_value,
    parse_value_reporting, parse_value_with_skipped, EventFormat, Skipped, SkippedIdentifier, SkippedTrait,
};
pub use property::{Properties, PropertyValue};
pub use schema::{EventSchema, PropertyType, SchemaRegistry};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;
    use crate::clock::Timestamp;
    use crate::identity::identifier::Identifier;
    use crate::profile::operator::TraitOp;
    use crate::profile::value::TraitValue;

    const NOW: i64 = 1_714_564_800_000;

    fn limits() -> EventLimits {
        EventLimits::new(Timestamp(NOW))
    }

    /// Floats that survive a JSON round trip exactly (serde_json's default
    /// float parser is best-effort in the last bit).
    fn nice_float() -> impl Strategy<Value = f64> {
        (-1_000_000i64..1_000_000).prop_map(|i| i as f64 / 8.0)
    }

    fn property_value() -> impl Strategy<Value = PropertyValue> {
        let leaf = prop_oneof![
            Just(PropertyValue::Null),
            any::<bool>().prop_map(PropertyValue::Bool),
            any::<i64>().prop_map(PropertyValue::Int),
            nice_float().prop_map(PropertyValue::Float),
            "\\PC{0,12}".prop_map(PropertyValue::Str),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(PropertyValue::List),
                prop::collection::btree_map("\\PC{0,6}", inner, 0..4).prop_map(PropertyValue::Object),
            ]
        })
    }

    fn trait_value() -> impl Strategy<Value = TraitValue> {
        prop_oneof![
            Just(TraitValue::Null),
            any::<bool>().prop_map(TraitValue::Bool),
            any::<i64>().prop_map(TraitValue::Int),
            nice_float().prop_map(TraitValue::Float),
            "\\PC{0,12}".prop_map(TraitValue::from),
            prop::collection::btree_set("[a-z]{1,4}", 0..4).prop_map(|s| TraitValue::List(s.into_iter().collect())),
        ]
    }

    fn identifier() -> impl Strategy<Value = Identifier> {
        (prop::sample::select(vec!["user_id", "anonymous_id", "email", "device_id"]), "[a-z0-9]{1,8}").prop_map(
            |(kind, v)| {
                let value = if kind == "email" { format!("{v}@x.io") } else { v };
                Identifier::new(kind, &value).unwrap()
            },
        )
    }

    prop_compose! {
        fn native_event()(
            kind in prop::sample::select(EventKind::ALL.to_vec()),
            name in "[A-Za-z][A-Za-z0-9 ._-]{0,20}",
            message_id in proptest::option::of("[a-z0-9-]{1,20}"),
            timestamp in 0..=NOW,
            ids in prop::collection::btree_set(identifier(), 1..5),
            props in prop::collection::btree_map("\\PC{0,8}", property_value(), 0..6),
            traits in prop::collection::btree_map("[a-z][a-z0-9_]{0,8}", trait_value(), 0..6),
            extra_op in proptest::option::of(("[a-z]{1,6}", any::<i32>())),
            previous in identifier(),
        ) -> Event {
            let name = match kind {
                EventKind::Identify | EventKind::Alias => kind.as_str().to_owned(),
                _ => name,
            };
            let mut e = Event::new(kind, name, Timestamp(timestamp), ids.into_iter().collect());
            e.message_id = message_id;
            if kind.has_properties() {
                e.properties = props.into_iter().collect();
            }
            if kind == EventKind::Identify {
                e.traits = traits.into_iter().map(|(name, value)| TraitOp::Set { name, value }).collect();
                if let Some((name, by)) = extra_op {
                    e.traits.push(TraitOp::Increment { name, by: TraitValue::Int(i64::from(by)) });
                }
            }
            if kind == EventKind::Alias {
                e.previous_id = Some(previous);
            }
            e
        }
    }

    /// Arbitrary JSON built from the field names both formats read.
    fn json_like() -> impl Strategy<Value = Value> {
        let keys = prop::sample::select(vec![
            "type",
            "event",
            "name",
            "timestamp",
            "originalTimestamp",
            "identifiers",
            "userId",
            "anonymousId",
            "messageId",
            "message_id",
            "previousId",
            "previous_id",
            "traits",
            "trait_ops",
            "context",
            "properties",
            "email",
            "phone",
            "user_id",
            "track",
            "identify",
            "alias",
            "page",
            "screen",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop::sample::select(vec![
                "track",
                "identify",
                "alias",
                "page",
                "screen",
                "a@b.c",
                "2024-05-01T00:00:00Z",
                "user_id:1",
                ""
            ])
            .prop_map(Value::from),
            "\\PC{0,8}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map(keys.clone(), inner, 0..7)
                    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_panic(s in "\\PC{0,200}", format in prop::sample::select(vec![EventFormat::Native, EventFormat::SegmentSpec, EventFormat::Auto])) {
            let _ = parse_line(&s, format, "line 1", &limits());
        }

        #[test]
        fn json_punctuation_never_panics(s in "[\\[\\]{}\":,0-9a-z \\\\.-]{0,300}") {
            let _ = parse_line(&s, EventFormat::Auto, "line 1", &limits());
        }

        #[test]
        fn arbitrary_json_objects_never_panic(v in json_like()) {
            let _ = parse_line(&v.to_string(), EventFormat::Auto, "line 1", &limits());
            let _ = parse_value(&v, EventFormat::SegmentSpec, "line 1", &limits());
            let _ = parse_value(&v, EventFormat::Native, "line 1", &limits());
        }

        #[test]
        fn truncated_valid_lines_never_panic(e in native_event(), cut in any::<prop::sample::Index>()) {
            let line = to_native_json(&e).to_string();
            let mut at = cut.index(line.len() + 1);
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            let _ = parse_line(&line[..at], EventFormat::Auto, "line 1", &limits());
        }

        #[test]
        fn valid_native_events_round_trip(e in native_event()) {
            e.validate().unwrap();
            let line = to_native_json(&e).to_string();
            let parsed = parse_line(&line, EventFormat::Native, "line 1", &limits());
            prop_assert_eq!(parsed.as_ref().ok(), Some(&e), "{} -> {:?}", line, parsed);
            prop_assert_eq!(parse_line(&line, EventFormat::Auto, "line 1", &limits()).ok(), Some(e.clone()));
            let config = bincode::config::standard().with_little_endian().with_variable_int_encoding();
            let bytes = bincode::serde::encode_to_vec(&e, config).unwrap();
            let (back, _): (Event, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
            prop_assert_eq!(back, e);
        }
    }

    #[test]
    fn one_event_through_every_stage() {
        let line = json!({"messageId": "m-1", "type": "track", "event": "Order Completed", "userId": "u-1",
            "timestamp": "2024-05-01T11:00:00Z", "properties": {"total": 12.5, "currency": "EUR"}})
        .to_string();
        let e = parse_line(&line, EventFormat::Auto, "line 1", &limits()).unwrap();
        let registry = SchemaRegistry::new().with_schema(
            "Order Completed",
            EventSchema::new().require("total").typed("total", PropertyType::Number).allow("currency", ["EUR"]),
        );
        registry.validate(&e).unwrap();
        let native = to_native_json(&e);
        assert_eq!(native["message_id"], "m-1");
        let again = parse_line(&native.to_string(), EventFormat::Auto, "line 1", &limits()).unwrap();
        assert_eq!(again, e);
        let names: BTreeSet<&str> = native.as_object().unwrap().keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> =
            ["message_id", "type", "event", "timestamp", "identifiers", "properties"].into_iter().collect();
        assert_eq!(names, expected);
    }
}
