//! [`TraitValue`]: the typed values a trait can hold.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::numeric::Num;

/// The largest string value (or list element) accepted, in bytes.
pub const MAX_STRING_BYTES: usize = 64 * 1024;
/// The most elements a list trait may hold.
pub const MAX_LIST_LEN: usize = 1_000;

/// A trait's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraitValue {
    /// An explicit null (present, unlike an unset trait).
    Null,
    /// A boolean.
    Bool(bool),
    /// A 64-bit signed integer.
    Int(i64),
    /// A finite 64-bit float.
    Float(f64),
    /// A UTF-8 string (held inline up to 24 bytes: copying a profile's
    /// traits for an update allocates nothing for short values).
    Str(CompactString),
    /// A point in time.
    Time(Timestamp),
    /// A list of distinct strings, in insertion order.
    List(Vec<String>),
}

impl TraitValue {
    /// The type's name as used in error messages and the expression language.
    pub fn type_name(&self) -> &'static str {
        match self {
            TraitValue::Null => "null",
            TraitValue::Bool(_) => "bool",
            TraitValue::Int(_) => "integer",
            TraitValue::Float(_) => "float",
            TraitValue::Str(_) => "string",
            TraitValue::Time(_) => "timestamp",
            TraitValue::List(_) => "list",
        }
    }

    /// Checks the size limits and that floats are finite.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            TraitValue::Float(f) if !f.is_finite() => Err(format!("{f} is not a finite number")),
            TraitValue::Time(t) if !t.is_rfc3339() => {
                Err(format!("time {} ms is outside the years 0000–9999 that RFC 3339 can write", t.0))
            }
            TraitValue::Str(s) if s.len() > MAX_STRING_BYTES => {
                Err(format!("string is {} bytes, the limit is {MAX_STRING_BYTES}", s.len()))
            }
            TraitValue::List(l) => {
                if l.len() > MAX_LIST_LEN {
                    return Err(format!("list has {} elements, the limit is {MAX_LIST_LEN}", l.len()));
                }
                if let Some(s) = l.iter().find(|s| s.len() > MAX_STRING_BYTES) {
                    return Err(format!("a list element is {} bytes, the limit is {MAX_STRING_BYTES}", s.len()));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Converts from JSON: strings, numbers, booleans, null and arrays of
    /// strings map directly; objects are refused (use dotted trait names).
    pub fn from_json(v: &serde_json::Value) -> Result<Self, String> {
        use serde_json::Value as J;
        Ok(match v {
            J::Null => TraitValue::Null,
            J::Bool(b) => TraitValue::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => TraitValue::Int(i),
                None => TraitValue::Float(n.as_f64().ok_or("number out of range")?),
            },
            J::String(s) => TraitValue::Str(s.as_str().into()),
            J::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        J::String(s) => {
                            if !out.contains(s) {
                                out.push(s.clone());
                            }
                        }
                        other => return Err(format!("lists hold strings only, found {other}")),
                    }
                }
                TraitValue::List(out)
            }
            J::Object(_) => return Err("objects are not values; set nested traits with dotted names".into()),
        })
    }

    /// Converts to JSON; timestamps become RFC 3339 strings.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            TraitValue::Null => J::Null,
            TraitValue::Bool(b) => J::Bool(*b),
            TraitValue::Int(i) => J::from(*i),
            TraitValue::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            TraitValue::Str(s) => J::String(s.to_string()),
            TraitValue::Time(t) => J::String(t.to_rfc3339()),
            TraitValue::List(l) => J::Array(l.iter().cloned().map(J::String).collect()),
        }
    }

    /// The value as a float (an integer past 2^53 rounds to the nearest
    /// float): for arithmetic. Comparisons go by the exact value (the
    /// crate's `numeric` module).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            TraitValue::Int(i) => Some(*i as f64),
            TraitValue::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The value as a number, exactly (integers stay integers).
    pub(crate) fn as_number(&self) -> Option<Num> {
        match self {
            TraitValue::Int(i) => Some(Num::Int(*i)),
            TraitValue::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }
}

impl From<&str> for TraitValue {
    fn from(s: &str) -> Self {
        TraitValue::Str(s.into())
    }
}
impl From<String> for TraitValue {
    fn from(s: String) -> Self {
        TraitValue::Str(s.into())
    }
}
impl From<i64> for TraitValue {
    fn from(i: i64) -> Self {
        TraitValue::Int(i)
    }
}
impl From<i32> for TraitValue {
    fn from(i: i32) -> Self {
        TraitValue::Int(i64::from(i))
    }
}
impl From<f64> for TraitValue {
    fn from(f: f64) -> Self {
        TraitValue::Float(f)
    }
}
impl From<bool> for TraitValue {
    fn from(b: bool) -> Self {
        TraitValue::Bool(b)
    }
}
impl From<Timestamp> for TraitValue {
    fn from(t: Timestamp) -> Self {
        TraitValue::Time(t)
    }
}
impl From<Vec<String>> for TraitValue {
    fn from(l: Vec<String>) -> Self {
        TraitValue::List(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trip_for_plain_types() {
        for v in [json!(null), json!(true), json!(3), json!(2.5), json!("x"), json!(["a", "b"])] {
            assert_eq!(TraitValue::from_json(&v).unwrap().to_json(), v);
        }
    }

    #[test]
    fn json_objects_and_mixed_lists_are_refused() {
        assert!(TraitValue::from_json(&json!({"a": 1})).is_err());
        assert!(TraitValue::from_json(&json!(["a", 1])).is_err());
    }

    #[test]
    fn limits_are_checked() {
        assert!(TraitValue::Float(f64::NAN).validate().is_err());
        assert!(TraitValue::from("x".repeat(MAX_STRING_BYTES + 1)).validate().is_err());
        assert!(TraitValue::List(vec!["a".into(); MAX_LIST_LEN + 1]).validate().is_err());
        assert!(TraitValue::Int(1).validate().is_ok());
        assert!(TraitValue::Time(Timestamp::MAX_RFC3339).validate().is_ok());
        assert!(TraitValue::Time(Timestamp::MIN_RFC3339).validate().is_ok());
        let err = TraitValue::Time(Timestamp(i64::MAX)).validate().unwrap_err();
        assert!(err.contains("outside the years 0000–9999"), "{err}");
        assert!(TraitValue::Time(Timestamp(i64::MIN)).validate().is_err());
    }
}
