//! Optional per-event-name schemas: required properties, property types
//! and allowed values.
//!
//! Schemas are plain serde data, so they store with bincode and load from
//! JSON:
//!
//! ```
//! use profiledb::event::SchemaRegistry;
//! let registry: SchemaRegistry = serde_json::from_str(r#"{
//!     "schemas": {
//!         "Order Completed": {
//!             "required": ["total", "currency"],
//!             "types": {"total": "number", "product.sku": "string"},
//!             "allowed": {"currency": ["USD", "EUR"]}
//!         }
//!     },
//!     "allow_unknown_events": false
//! }"#)?;
//! assert_eq!(registry.schemas.len(), 1);
//! # Ok::<(), serde_json::Error>(())
//! ```
//!
//! Property paths are dotted ([`Properties::get_path`]). For identify
//! events the schema checks traits instead, by their flattened names
//! (`address.city`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::model::{Event, EventKind};
use crate::event::property::{Properties, PropertyValue};
use crate::profile::operator::TraitOp;

/// The type a schema requires of a property.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PropertyType {
    /// A string.
    String,
    /// Any number, integer or not.
    Number,
    /// An integer (a float with no fractional part counts, as in JSON Schema).
    Integer,
    /// `true` or `false`.
    Bool,
    /// An RFC 3339 string or integer epoch milliseconds.
    Timestamp,
    /// A list.
    List,
    /// An object.
    Object,
}

impl PropertyType {
    /// The type's name as written in schemas: `string`, `number`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            PropertyType::String => "string",
            PropertyType::Number => "number",
            PropertyType::Integer => "integer",
            PropertyType::Bool => "bool",
            PropertyType::Timestamp => "timestamp",
            PropertyType::List => "list",
            PropertyType::Object => "object",
        }
    }

    /// Whether `value` is of this type. `null` is of no type.
    pub fn matches(self, value: &PropertyValue) -> bool {
        match (self, value) {
            (PropertyType::String, PropertyValue::Str(_))
            | (PropertyType::Number, PropertyValue::Int(_) | PropertyValue::Float(_))
            | (PropertyType::Integer | PropertyType::Timestamp, PropertyValue::Int(_))
            | (PropertyType::Bool, PropertyValue::Bool(_))
            | (PropertyType::List, PropertyValue::List(_))
            | (PropertyType::Object, PropertyValue::Object(_)) => true,
            (PropertyType::Integer, PropertyValue::Float(f)) => f.is_finite() && f.fract() == 0.0,
            (PropertyType::Timestamp, PropertyValue::Str(s)) => Timestamp::parse(s).is_ok(),
            _ => false,
        }
    }

    fn with_article(self) -> &'static str {
        match self {
            PropertyType::String => "a string",
            PropertyType::Number => "a number",
            PropertyType::Integer => "an integer",
            PropertyType::Bool => "a bool",
            PropertyType::Timestamp => "a timestamp (RFC 3339 or epoch milliseconds)",
            PropertyType::List => "a list",
            PropertyType::Object => "an object",
        }
    }
}

impl fmt::Display for PropertyType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules for one event name. Every path is a dotted property path.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSchema {
    /// Properties that must be present (`null` counts as present).
    pub required: Vec<String>,
    /// Types of properties, checked when present.
    pub types: BTreeMap<String, PropertyType>,
    /// The only values a property may take, checked when present. Numbers
    /// compare by value (`1` matches `1.0`).
    pub allowed: BTreeMap<String, Vec<PropertyValue>>,
}

impl EventSchema {
    /// A schema with no rules.
    pub fn new() -> Self {
        EventSchema::default()
    }

    /// Adds a required property.
    #[must_use]
    pub fn require(mut self, path: impl Into<String>) -> Self {
        self.required.push(path.into());
        self
    }

    /// Declares a property's type.
    #[must_use]
    pub fn typed(mut self, path: impl Into<String>, ty: PropertyType) -> Self {
        self.types.insert(path.into(), ty);
        self
    }

    /// Declares a property's allowed values.
    #[must_use]
    pub fn allow<V: Into<PropertyValue>>(
        mut self,
        path: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        self.allowed.insert(path.into(), values.into_iter().map(Into::into).collect());
        self
    }

    /// Checks `event` against these rules: required first (in order), then
    /// types, then allowed values (each in path order); the first broken
    /// rule is returned as [`Error::SchemaViolation`].
    pub fn check(&self, event: &Event) -> Result<()> {
        let source = Source::of(event);
        let violation = |property: &str, rule: String| Error::SchemaViolation {
            event: event.name.clone(),
            property: property.to_owned(),
            rule,
        };
        for path in &self.required {
            if source.get(path).is_none() {
                return Err(violation(path, "is required".into()));
            }
        }
        for (path, ty) in &self.types {
            if let Some(v) = source.get(path) {
                if !ty.matches(&v) {
                    let found = match (&*v, ty) {
                        (PropertyValue::Str(s), PropertyType::Timestamp) => format!("string {s:?}"),
                        (PropertyValue::Float(f), PropertyType::Integer) => format!("float {f}"),
                        (other, _) => other.type_name().to_owned(),
                    };
                    return Err(violation(path, format!("must be {}, found {found}", ty.with_article())));
                }
            }
        }
        for (path, values) in &self.allowed {
            if let Some(v) = source.get(path) {
                if !values.iter().any(|a| a.loosely_equals(&v)) {
                    let list: Vec<String> = values.iter().map(ToString::to_string).collect();
                    return Err(violation(path, format!("must be one of [{}], found {v}", list.join(", "))));
                }
            }
        }
        Ok(())
    }
}

/// Where a schema reads values: properties, or an identify event's traits.
enum Source<'a> {
    Properties(&'a Properties),
    Traits(&'a [TraitOp]),
}

impl<'a> Source<'a> {
    fn of(event: &'a Event) -> Self {
        if event.kind == EventKind::Identify {
            Source::Traits(&event.traits)
        } else {
            Source::Properties(&event.properties)
        }
    }

    fn get(&self, path: &str) -> Option<Cow<'a, PropertyValue>> {
        match self {
            Source::Properties(p) => p.get_path(path).map(Cow::Borrowed),
            Source::Traits(ops) => ops.iter().rev().find_map(|op| match op {
                TraitOp::Set { name, value } | TraitOp::SetOnce { name, value } if name == path => {
                    Some(Cow::Owned(PropertyValue::from_trait_value(value)))
                }
                _ => None,
            }),
        }
    }
}

/// Schemas by event name, and what to do with track events that have none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaRegistry {
    /// Schemas keyed by event name ([`Event::name`], for any kind).
    pub schemas: BTreeMap<String, EventSchema>,
    /// Whether track events whose name has no schema are accepted. Default
    /// `true`. Identify, alias, page and screen events are never refused
    /// for lacking a schema.
    pub allow_unknown_events: bool,
}

impl Default for SchemaRegistry {
    fn default() -> Self {
        SchemaRegistry { schemas: BTreeMap::new(), allow_unknown_events: true }
    }
}

impl SchemaRegistry {
    /// An empty registry that accepts every event.
    pub fn new() -> Self {
        SchemaRegistry::default()
    }

    /// Adds (or replaces) the schema for `event_name`.
    #[must_use]
    pub fn with_schema(mut self, event_name: impl Into<String>, schema: EventSchema) -> Self {
        self.schemas.insert(event_name.into(), schema);
        self
    }

    /// Checks `event` against its name's schema; a track event with no
    /// schema is refused (property `""`, rule `has no schema, …`) unless
    /// [`allow_unknown_events`](Self::allow_unknown_events).
    pub fn validate(&self, event: &Event) -> Result<()> {
        match self.schemas.get(&event.name) {
            Some(schema) => schema.check(event),
            None if self.allow_unknown_events || event.kind != EventKind::Track => Ok(()),
            None => Err(Error::SchemaViolation {
                event: event.name.clone(),
                property: String::new(),
                rule: "has no schema, and unknown event names are refused".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::identifier::Identifier;
    use crate::profile::value::TraitValue;
    use serde_json::json;

    fn track(name: &str, props: serde_json::Value) -> Event {
        let id: Identifier = "user_id:1".parse().unwrap();
        let mut e = Event::new(EventKind::Track, name, Timestamp(1), vec![id]);
        e.properties = Properties::from_json(&props).unwrap();
        e
    }

    fn registry() -> SchemaRegistry {
        SchemaRegistry { allow_unknown_events: false, ..SchemaRegistry::new() }.with_schema(
            "Order Completed",
            EventSchema::new()
                .require("total")
                .require("product.sku")
                .typed("total", PropertyType::Number)
                .typed("qty", PropertyType::Integer)
                .typed("at", PropertyType::Timestamp)
                .typed("gift", PropertyType::Bool)
                .typed("tags", PropertyType::List)
                .typed("product", PropertyType::Object)
                .typed("product.sku", PropertyType::String)
                .allow("currency", ["USD", "EUR"])
                .allow("qty", [1, 2]),
        )
    }

    fn violation(props: serde_json::Value) -> (String, String, String) {
        match registry().validate(&track("Order Completed", props)).unwrap_err() {
            Error::SchemaViolation { event, property, rule } => (event, property, rule),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn accepts_conforming_events() {
        let ok = json!({"total": 10, "qty": 2.0, "at": "2024-05-01T00:00:00Z", "gift": false, "tags": [],
            "product": {"sku": "p"}, "currency": "EUR", "extra": 1});
        registry().validate(&track("Order Completed", ok)).unwrap();
        registry()
            .validate(&track("Order Completed", json!({"total": 1.5, "product": {"sku": "p"}, "at": 5})))
            .unwrap();
    }

    #[test]
    fn reports_each_rule_with_its_property() {
        let base = json!({"total": 1, "product": {"sku": "p"}});
        let with = |k: &str, v: serde_json::Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let cases = [
            (json!({"product": {"sku": "p"}}), "total", "is required".to_owned()),
            (json!({"total": 1}), "product.sku", "is required".to_owned()),
            (with("total", json!("12")), "total", "must be a number, found string".to_owned()),
            (with("total", json!(null)), "total", "must be a number, found null".to_owned()),
            (with("qty", json!(1.5)), "qty", "must be an integer, found float 1.5".to_owned()),
            (
                with("at", json!("soon")),
                "at",
                "must be a timestamp (RFC 3339 or epoch milliseconds), found string \"soon\"".to_owned(),
            ),
            (with("gift", json!("yes")), "gift", "must be a bool, found string".to_owned()),
            (with("tags", json!({})), "tags", "must be a list, found object".to_owned()),
            (with("product", json!("p")), "product.sku", "is required".to_owned()),
            (with("currency", json!("GBP")), "currency", r#"must be one of ["USD", "EUR"], found "GBP""#.to_owned()),
            (with("qty", json!(3)), "qty", "must be one of [1, 2], found 3".to_owned()),
        ];
        for (props, property, rule) in cases {
            let got = violation(props.clone());
            assert_eq!(got, ("Order Completed".to_owned(), property.to_owned(), rule), "{props}");
        }
        let text = registry().validate(&track("Order Completed", json!({}))).unwrap_err().to_string();
        assert_eq!(text, r#"event "Order Completed" breaks its schema: property "total" is required"#);
    }

    #[test]
    fn unknown_events_follow_the_flag() {
        let e = track("Order Compelted", json!({}));
        match registry().validate(&e).unwrap_err() {
            Error::SchemaViolation { event, property, rule } => {
                assert_eq!(
                    (event.as_str(), property.as_str(), rule.as_str()),
                    ("Order Compelted", "", "has no schema, and unknown event names are refused")
                );
            }
            other => panic!("unexpected {other}"),
        }
        assert!(SchemaRegistry::new().validate(&e).is_ok());
        let mut page = e.clone();
        page.kind = EventKind::Page;
        assert!(registry().validate(&page).is_ok());
    }

    #[test]
    fn identify_schemas_check_traits() {
        let reg = SchemaRegistry::new()
            .with_schema("identify", EventSchema::new().require("email").typed("address.zip", PropertyType::String));
        let id: Identifier = "user_id:1".parse().unwrap();
        let mut e = Event::new(EventKind::Identify, "identify", Timestamp(1), vec![id]);
        e.traits = vec![TraitOp::Set { name: "email".into(), value: "a@b.c".into() }];
        reg.validate(&e).unwrap();
        e.traits.push(TraitOp::Set { name: "address.zip".into(), value: TraitValue::Int(150) });
        let err = reg.validate(&e).unwrap_err().to_string();
        assert!(err.contains("property \"address.zip\" must be a string, found integer"), "{err}");
        e.traits.clear();
        assert!(reg.validate(&e).unwrap_err().to_string().contains("\"email\" is required"));
    }

    #[test]
    fn registry_round_trips_through_json_and_bincode() {
        let reg = registry();
        let text = serde_json::to_string(&reg).unwrap();
        assert!(text.contains(r#""currency":["USD","EUR"]"#) && text.contains(r#""total":"number""#), "{text}");
        assert_eq!(serde_json::from_str::<SchemaRegistry>(&text).unwrap(), reg);
        let config = bincode::config::standard().with_little_endian().with_variable_int_encoding();
        let bytes = bincode::serde::encode_to_vec(&reg, config).unwrap();
        let (back, _): (SchemaRegistry, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, reg);
        assert!(serde_json::from_str::<SchemaRegistry>(r#"{"schemaz": {}}"#).is_err());
        assert!(serde_json::from_str::<SchemaRegistry>("{}").unwrap().allow_unknown_events);
    }
}
