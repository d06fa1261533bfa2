//! Turning command-line text into library values: identifiers, trait
//! values, amounts, times and versions. Every failure is bad input (exit 2).

use profiledb::{Identifier, ProfileId, Timestamp, TraitValue};
use serde_json::Value;

use crate::cli::{ProfileRef, ValueType};
use crate::error::CliError;

/// A profile named on the command line.
#[derive(Clone, Debug)]
pub enum Target {
    /// By one of its identifiers.
    Identifier(Identifier),
    /// By internal id.
    Id(ProfileId),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Identifier(i) => write!(f, "identifier {i}"),
            Target::Id(id) => write!(f, "profile id {id}"),
        }
    }
}

/// Parses `kind:value`; the error names the input.
pub fn identifier(s: &str) -> Result<Identifier, CliError> {
    s.parse::<Identifier>().map_err(CliError::from)
}

/// Parses a [`ProfileRef`] (identifier or `--id`).
pub fn target(r: &ProfileRef) -> Result<Target, CliError> {
    match (&r.identifier, r.id) {
        (Some(s), _) => Ok(Target::Identifier(identifier(s)?)),
        (None, Some(id)) => Ok(Target::Id(ProfileId(id))),
        (None, None) => Err(CliError::Usage("give an IDENTIFIER or --id N".into())),
    }
}

/// `--as-of`: a version, or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// A version number.
    Version(u64),
    /// A point in time.
    Time(Timestamp),
}

/// Parses `--as-of`: a plain number is a version, anything else must be an RFC 3339 time.
pub fn as_of(s: &str) -> Result<AsOf, CliError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(AsOf::Version)
            .map_err(|_| CliError::Usage(format!("--as-of {s:?}: version number out of range")));
    }
    Timestamp::parse(t)
        .map(AsOf::Time)
        .map_err(|e| CliError::Usage(format!("--as-of {s:?}: expected a version number or an RFC 3339 time ({e})")))
}

/// Parses a time (RFC 3339 or epoch milliseconds) for option `what`.
pub fn time(what: &str, s: &str) -> Result<Timestamp, CliError> {
    Timestamp::parse(s).map_err(|e| CliError::Usage(format!("{what}: {e}")))
}

/// Parses `trait set`'s VALUE under `name`; a JSON object yields one
/// trait per leaf, with dotted names.
pub fn trait_values(name: &str, raw: &str, ty: ValueType) -> Result<Vec<(String, TraitValue)>, CliError> {
    let bad = |reason: String| CliError::Usage(format!("invalid value for trait {name:?}: {reason}"));
    match ty {
        ValueType::String => Ok(vec![(name.to_owned(), TraitValue::Str(raw.to_owned()))]),
        ValueType::Timestamp => {
            let t = Timestamp::parse(raw).map_err(bad)?;
            Ok(vec![(name.to_owned(), TraitValue::Time(t))])
        }
        ValueType::Auto => {
            let Ok(json) = serde_json::from_str::<Value>(raw) else {
                return Ok(vec![(name.to_owned(), TraitValue::Str(raw.to_owned()))]);
            };
            let mut out = Vec::new();
            flatten_traits(name, &json, &mut out).map_err(bad)?;
            if out.is_empty() {
                return Err(bad("an empty object sets nothing".into()));
            }
            Ok(out)
        }
    }
}

/// Flattens a JSON value into `(dotted name, value)` pairs: objects nest
/// under `prefix`, every other value converts with [`TraitValue::from_json`].
pub fn flatten_traits(prefix: &str, v: &Value, out: &mut Vec<(String, TraitValue)>) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_traits(&name, child, out)?;
            }
            Ok(())
        }
        other => {
            let value = TraitValue::from_json(other).map_err(|e| format!("trait {prefix:?}: {e}"))?;
            out.push((prefix.to_owned(), value));
            Ok(())
        }
    }
}

/// Parses an increment: an integer, else a finite decimal.
pub fn amount(s: &str) -> Result<TraitValue, CliError> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(TraitValue::Int(i));
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(TraitValue::Float(f)),
        _ => Err(CliError::Usage(format!("invalid amount {s:?}: expected an integer or a decimal number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_tells_versions_from_times() {
        assert_eq!(as_of("3").ok(), Some(AsOf::Version(3)));
        assert_eq!(as_of("1970-01-01T00:00:01Z").ok(), Some(AsOf::Time(Timestamp(1000))));
        assert!(as_of("yesterday").is_err());
    }

    #[test]
    fn values_parse_as_json_else_string() {
        let v = |s| trait_values("t", s, ValueType::Auto).ok();
        assert_eq!(v("42"), Some(vec![("t".into(), TraitValue::Int(42))]));
        assert_eq!(v("\"42\""), Some(vec![("t".into(), TraitValue::Str("42".into()))]));
        assert_eq!(v("pro"), Some(vec![("t".into(), TraitValue::Str("pro".into()))]));
        assert_eq!(v("{\"city\":\"Oslo\"}"), Some(vec![("t.city".into(), TraitValue::Str("Oslo".into()))]));
        assert!(v("[1,2]").is_none());
        assert!(v("{}").is_none());
    }

    #[test]
    fn amounts_are_ints_or_finite_floats() {
        assert_eq!(amount("-2").ok(), Some(TraitValue::Int(-2)));
        assert_eq!(amount("2.5").ok(), Some(TraitValue::Float(2.5)));
        assert!(amount("inf").is_err());
        assert!(amount("x").is_err());
    }
}
