//! [`PropertyValue`] and [`Properties`]: an event's free-form properties in
//! a form that stores with bincode.
//!
//! `serde_json::Value` cannot be decoded by bincode (it needs a
//! self-describing format), so events keep their properties as this
//! crate's own tree. Serde support is format-aware:
//!
//! - compact binary formats (bincode: `is_human_readable() == false`) see a
//!   plain tagged enum: `Null | Bool | Int | Float | Str | List | Object`,
//!   objects as maps with sorted keys;
//! - human-readable formats (JSON, YAML, ...) see ordinary JSON values, so a
//!   schema file can say `"allowed": {"currency": ["USD", "EUR"]}`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Deserializer;
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};

use crate::numeric::{cmp_num, Num};
use crate::profile::value::TraitValue;

/// One property value: the JSON data model with integers kept apart from
/// floats.
///
/// JSON numbers that fit an `i64` become [`PropertyValue::Int`]; other
/// numbers (fractions, exponents, integers above `i64::MAX`) become
/// [`PropertyValue::Float`].
#[derive(Clone, Debug, PartialEq)]
pub enum PropertyValue {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer that fits an `i64`.
    Int(i64),
    /// Any other number (finite: an event holding NaN or an infinity is
    /// refused at ingest).
    Float(f64),
    /// A string.
    Str(String),
    /// A list of values (not necessarily of one type).
    List(Vec<PropertyValue>),
    /// A nested object, keys sorted.
    Object(BTreeMap<String, PropertyValue>),
}

impl PropertyValue {
    /// The type's name as used in schema and error messages: `null`, `bool`,
    /// `integer`, `float`, `string`, `list` or `object`.
    pub fn type_name(&self) -> &'static str {
        match self {
            PropertyValue::Null => "null",
            PropertyValue::Bool(_) => "bool",
            PropertyValue::Int(_) => "integer",
            PropertyValue::Float(_) => "float",
            PropertyValue::Str(_) => "string",
            PropertyValue::List(_) => "list",
            PropertyValue::Object(_) => "object",
        }
    }

    /// Converts from JSON. Total: every JSON value has a property value.
    /// Recursion depth equals the JSON nesting depth, which the event
    /// parser bounds before it gets here.
    pub fn from_json(v: &serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => PropertyValue::Null,
            J::Bool(b) => PropertyValue::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => PropertyValue::Int(i),
                // serde_json numbers are finite; `None` is unreachable without
                // the arbitrary_precision feature, and null is the honest fallback.
                None => n.as_f64().map_or(PropertyValue::Null, PropertyValue::Float),
            },
            J::String(s) => PropertyValue::Str(s.clone()),
            J::Array(items) => PropertyValue::List(items.iter().map(PropertyValue::from_json).collect()),
            J::Object(map) => {
                PropertyValue::Object(map.iter().map(|(k, v)| (k.clone(), PropertyValue::from_json(v))).collect())
            }
        }
    }

    /// Converts to JSON. A non-finite float (only possible in a value built
    /// by hand) becomes `null`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            PropertyValue::Null => J::Null,
            PropertyValue::Bool(b) => J::Bool(*b),
            PropertyValue::Int(i) => J::from(*i),
            PropertyValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            PropertyValue::Str(s) => J::String(s.clone()),
            PropertyValue::List(items) => J::Array(items.iter().map(PropertyValue::to_json).collect()),
            PropertyValue::Object(map) => J::Object(map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()),
        }
    }

    /// Converts a trait value (identify traits, for schema checks);
    /// timestamps become RFC 3339 strings, as in JSON.
    pub fn from_trait_value(v: &TraitValue) -> Self {
        match v {
            TraitValue::Null => PropertyValue::Null,
            TraitValue::Bool(b) => PropertyValue::Bool(*b),
            TraitValue::Int(i) => PropertyValue::Int(*i),
            TraitValue::Float(f) => PropertyValue::Float(*f),
            TraitValue::Str(s) => PropertyValue::Str(s.to_string()),
            TraitValue::Time(t) => PropertyValue::Str(t.to_rfc3339()),
            TraitValue::List(l) => PropertyValue::List(l.iter().cloned().map(PropertyValue::Str).collect()),
        }
    }

    /// The value as a float (integers and floats; an integer past 2^53
    /// rounds to the nearest float): for arithmetic such as rollup sums.
    /// Comparisons go by the exact value ([`PropertyValue::loosely_equals`],
    /// rollup filters).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            PropertyValue::Int(i) => Some(*i as f64),
            PropertyValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as a number, exactly (integers stay integers).
    pub(crate) fn as_number(&self) -> Option<Num> {
        match self {
            PropertyValue::Int(i) => Some(Num::Int(*i)),
            PropertyValue::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }

    /// The value as an integer (only [`PropertyValue::Int`]).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            PropertyValue::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            PropertyValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a rollup keeps it in its value sets (unique values,
    /// most frequent) and as `distinct(...)` in segments counts it: a string
    /// as itself, anything else as its JSON text — so the number `123` and
    /// the string `"123"` are one value, `7` and `7.0` two.
    pub fn value_key(&self) -> std::borrow::Cow<'_, str> {
        match self.as_str() {
            Some(s) => std::borrow::Cow::Borrowed(s),
            None => std::borrow::Cow::Owned(self.to_json().to_string()),
        }
    }

    /// The value as a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            PropertyValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// Equality where numbers compare by their exact value (`1 == 1.0`,
    /// but `9007199254740993 != 9007199254740992.0`); everything else
    /// compares structurally. Used by schema `allowed` lists.
    pub fn loosely_equals(&self, other: &PropertyValue) -> bool {
        match (self.as_number(), other.as_number()) {
            (Some(a), Some(b)) => cmp_num(a, b) == Some(std::cmp::Ordering::Equal),
            _ => self == other,
        }
    }

    /// Counts this value's object keys at every nesting level.
    fn count_keys(&self) -> usize {
        let mut n = 0usize;
        let mut stack = vec![self];
        while let Some(v) = stack.pop() {
            match v {
                PropertyValue::Object(map) => {
                    n = n.saturating_add(map.len());
                    stack.extend(map.values());
                }
                PropertyValue::List(items) => stack.extend(items.iter()),
                _ => {}
            }
        }
        n
    }
}

impl fmt::Display for PropertyValue {
    /// Renders as compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

impl From<&str> for PropertyValue {
    fn from(s: &str) -> Self {
        PropertyValue::Str(s.to_owned())
    }
}
impl From<String> for PropertyValue {
    fn from(s: String) -> Self {
        PropertyValue::Str(s)
    }
}
impl From<i64> for PropertyValue {
    fn from(i: i64) -> Self {
        PropertyValue::Int(i)
    }
}
impl From<i32> for PropertyValue {
    fn from(i: i32) -> Self {
        PropertyValue::Int(i64::from(i))
    }
}
impl From<f64> for PropertyValue {
    fn from(f: f64) -> Self {
        PropertyValue::Float(f)
    }
}
impl From<bool> for PropertyValue {
    fn from(b: bool) -> Self {
        PropertyValue::Bool(b)
    }
}

/// The binary (bincode) shape of a [`PropertyValue`], borrowed for encoding.
#[derive(Serialize)]
#[serde(rename = "PropertyValue")]
enum CompactRef<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
    List(&'a [PropertyValue]),
    Object(&'a BTreeMap<String, PropertyValue>),
}

/// The binary (bincode) shape of a [`PropertyValue`], owned for decoding.
/// Variant order must match [`CompactRef`]: bincode stores the index.
#[derive(Deserialize)]
#[serde(rename = "PropertyValue")]
enum Compact {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<PropertyValue>),
    Object(BTreeMap<String, PropertyValue>),
}

impl Serialize for PropertyValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return self.to_json().serialize(serializer);
        }
        let compact = match self {
            PropertyValue::Null => CompactRef::Null,
            PropertyValue::Bool(b) => CompactRef::Bool(*b),
            PropertyValue::Int(i) => CompactRef::Int(*i),
            PropertyValue::Float(f) => CompactRef::Float(*f),
            PropertyValue::Str(s) => CompactRef::Str(s),
            PropertyValue::List(items) => CompactRef::List(items),
            PropertyValue::Object(map) => CompactRef::Object(map),
        };
        compact.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PropertyValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let json = serde_json::Value::deserialize(deserializer)?;
            return Ok(PropertyValue::from_json(&json));
        }
        Ok(match Compact::deserialize(deserializer)? {
            Compact::Null => PropertyValue::Null,
            Compact::Bool(b) => PropertyValue::Bool(b),
            Compact::Int(i) => PropertyValue::Int(i),
            Compact::Float(f) => PropertyValue::Float(f),
            Compact::Str(s) => PropertyValue::Str(s),
            Compact::List(items) => PropertyValue::List(items),
            Compact::Object(map) => PropertyValue::Object(map),
        })
    }
}

/// An event's properties: top-level names to values, sorted by name.
///
/// ```
/// use profiledb::event::Properties;
/// let p = Properties::from_json(&serde_json::json!({"product": {"price": 9.5}, "qty": 2}))?;
/// assert_eq!(p.get_f64("product.price"), Some(9.5));
/// assert_eq!(p.get_f64("qty"), Some(2.0));
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Properties(BTreeMap<String, PropertyValue>);

impl Properties {
    /// No properties.
    pub fn new() -> Self {
        Properties::default()
    }

    /// Converts a JSON object; anything else is refused with its type.
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        match v {
            serde_json::Value::Object(map) => Ok(Properties::from_json_map(map)),
            other => Err(format!("must be an object, found {}", json_type_name(other))),
        }
    }

    /// Converts a JSON object's entries.
    pub fn from_json_map(map: &serde_json::Map<String, serde_json::Value>) -> Self {
        Properties(map.iter().map(|(k, v)| (k.clone(), PropertyValue::from_json(v))).collect())
    }

    /// Converts to a JSON object.
    pub fn to_json_map(&self) -> serde_json::Map<String, serde_json::Value> {
        self.0.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()
    }

    /// Converts to a JSON value (always an object).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.to_json_map())
    }

    /// Sets a top-level property, replacing any previous value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<PropertyValue>) {
        self.0.insert(name.into(), value.into());
    }

    /// The top-level property `name` (no path splitting).
    pub fn get(&self, name: &str) -> Option<&PropertyValue> {
        self.0.get(name)
    }

    /// The property at a dotted path: `product.price` is the `price` key of
    /// the `product` object.
    ///
    /// Keys that themselves contain dots are found too: at each level an
    /// exact match of the remaining path wins, then the shortest
    /// dot-bounded prefix naming an object is followed (no backtracking).
    pub fn get_path(&self, path: &str) -> Option<&PropertyValue> {
        let mut map = &self.0;
        let mut rest = path;
        loop {
            if let Some(v) = map.get(rest) {
                return Some(v);
            }
            let (child, tail) = rest.match_indices('.').find_map(|(i, _)| match map.get(&rest[..i]) {
                Some(PropertyValue::Object(child)) => Some((child, &rest[i + 1..])),
                _ => None,
            })?;
            map = child;
            rest = tail;
        }
    }

    /// The number at a dotted path (an integer or a float), as `f64`.
    pub fn get_f64(&self, path: &str) -> Option<f64> {
        self.get_path(path).and_then(PropertyValue::as_f64)
    }

    /// The string at a dotted path.
    pub fn get_str(&self, path: &str) -> Option<&str> {
        self.get_path(path).and_then(PropertyValue::as_str)
    }

    /// Iterates over the top-level properties in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PropertyValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of top-level properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The number of keys at every nesting level (`{"a": {"b": 1}}` has 2);
    /// what [`EventLimits::max_properties`](super::EventLimits::max_properties)
    /// bounds.
    pub fn count_keys(&self) -> usize {
        self.0.values().fold(self.0.len(), |n, v| n.saturating_add(v.count_keys()))
    }

    /// The dotted path of the first float that is not finite (NaN or an
    /// infinity; JSON has none, an event built in code may), lists indexed
    /// (`a.b[2]`).
    pub fn first_non_finite(&self) -> Option<String> {
        // Checked on every ingested event: paths are built only for the bad one.
        fn bad(v: &PropertyValue) -> bool {
            match v {
                PropertyValue::Float(f) => !f.is_finite(),
                PropertyValue::List(l) => l.iter().any(bad),
                PropertyValue::Object(m) => m.values().any(bad),
                _ => false,
            }
        }
        fn path(v: &PropertyValue, at: String) -> String {
            match v {
                PropertyValue::List(l) => match l.iter().position(bad) {
                    Some(i) => path(&l[i], format!("{at}[{i}]")),
                    None => at,
                },
                PropertyValue::Object(m) => match m.iter().find(|(_, v)| bad(v)) {
                    Some((k, v)) => path(v, format!("{at}.{k}")),
                    None => at,
                },
                _ => at,
            }
        }
        self.0.iter().find(|(_, v)| bad(v)).map(|(k, v)| path(v, k.clone()))
    }
}

impl FromIterator<(String, PropertyValue)> for Properties {
    fn from_iter<I: IntoIterator<Item = (String, PropertyValue)>>(iter: I) -> Self {
        Properties(iter.into_iter().collect())
    }
}

/// JSON's name for a value's type, for error messages.
pub(crate) fn json_type_name(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bincode_config() -> impl bincode::config::Config {
        bincode::config::standard().with_little_endian().with_variable_int_encoding()
    }

    #[test]
    fn json_round_trip_keeps_ints_apart_from_floats() {
        let v = json!({"a": 1, "b": 1.5, "c": 2.0, "d": [null, true, "x", {"e": -3}], "f": {}});
        let p = Properties::from_json(&v).unwrap();
        assert_eq!(p.get("a"), Some(&PropertyValue::Int(1)));
        assert_eq!(p.get("c"), Some(&PropertyValue::Float(2.0)));
        assert_eq!(p.to_json(), v);
        assert_eq!(PropertyValue::from_json(&json!(u64::MAX)), PropertyValue::Float(u64::MAX as f64));
    }

    #[test]
    fn non_objects_are_refused_with_their_type() {
        assert_eq!(Properties::from_json(&json!([1])).unwrap_err(), "must be an object, found an array");
        assert!(Properties::from_json(&json!("x")).unwrap_err().contains("a string"));
    }

    #[test]
    fn dotted_paths_walk_objects_and_find_dotted_keys() {
        let p = Properties::from_json(&json!({
            "product": {"price": 9.5, "name": "pen", "dims": {"w": 3}},
            "a.b": 1,
            "x.y": {"z": 2},
            "x": {"q": 3},
            "n": 4
        }))
        .unwrap();
        assert_eq!(p.get_f64("product.price"), Some(9.5));
        assert_eq!(p.get_str("product.name"), Some("pen"));
        assert_eq!(p.get_path("product.dims.w"), Some(&PropertyValue::Int(3)));
        assert_eq!(p.get_f64("a.b"), Some(1.0));
        assert_eq!(p.get_f64("x.q"), Some(3.0));
        assert_eq!(p.get_f64("n"), Some(4.0));
        assert_eq!(p.get_path("product.missing"), None);
        assert_eq!(p.get_path("n.deeper"), None);
        assert_eq!(p.get_f64("product.name"), None);
        assert_eq!(p.get_path(""), None);
        assert_eq!(p.get_path("..."), None);
    }

    #[test]
    fn counts_keys_at_every_level() {
        let p = Properties::from_json(&json!({"a": {"b": 1, "c": [{"d": 1}]}, "e": 1})).unwrap();
        assert_eq!(p.count_keys(), 5);
        assert_eq!(Properties::new().count_keys(), 0);
    }

    #[test]
    fn bincode_round_trip_uses_the_compact_form() {
        let p = Properties::from_json(&json!({"a": [1, 2.5, "s", null, false], "o": {"k": {"z": 1}}})).unwrap();
        let bytes = bincode::serde::encode_to_vec(&p, bincode_config()).unwrap();
        let (back, used): (Properties, usize) = bincode::serde::decode_from_slice(&bytes, bincode_config()).unwrap();
        assert_eq!(back, p);
        assert_eq!(used, bytes.len());
    }

    #[test]
    fn json_serde_is_plain_json() {
        let p = Properties::from_json(&json!({"a": [1, "x"], "b": {"c": 2.5}})).unwrap();
        let text = serde_json::to_string(&p).unwrap();
        assert_eq!(text, r#"{"a":[1,"x"],"b":{"c":2.5}}"#);
        assert_eq!(serde_json::from_str::<Properties>(&text).unwrap(), p);
    }

    #[test]
    fn loose_equality_compares_numbers_by_value() {
        assert!(PropertyValue::Int(1).loosely_equals(&PropertyValue::Float(1.0)));
        assert!(!PropertyValue::Int(1).loosely_equals(&PropertyValue::Str("1".into())));
        assert!(PropertyValue::from("a").loosely_equals(&"a".into()));
    }

    #[test]
    fn loose_equality_is_exact_past_2_pow_53() {
        let (p53, big) = (PropertyValue::Int(1 << 53), PropertyValue::Int((1 << 53) + 1));
        assert!(!big.loosely_equals(&p53));
        assert!(!big.loosely_equals(&PropertyValue::Float(9_007_199_254_740_992.0)));
        assert!(p53.loosely_equals(&PropertyValue::Float(9_007_199_254_740_992.0)));
        assert!(big.loosely_equals(&PropertyValue::Int((1 << 53) + 1)));
    }

    #[test]
    fn converts_trait_values() {
        use crate::clock::Timestamp;
        assert_eq!(
            PropertyValue::from_trait_value(&TraitValue::Time(Timestamp(0))).as_str(),
            Some("1970-01-01T00:00:00.000Z")
        );
        assert_eq!(
            PropertyValue::from_trait_value(&TraitValue::List(vec!["a".into()])),
            PropertyValue::List(vec!["a".into()])
        );
    }
}
