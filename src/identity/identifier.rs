//! External identifiers (`kind:value`) and their normalization.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{quote_input, Error, Result};

/// The longest identifier value accepted, in bytes (after normalization).
pub const MAX_VALUE_BYTES: usize = 1024;
/// The longest identifier kind accepted, in bytes.
pub const MAX_KIND_BYTES: usize = 64;

/// An external identifier of a person: a kind (`email`, `user_id`,
/// `anonymous_id`, `device_id`, `phone`, or any lowercase name) and a value.
///
/// Values are normalized per kind on construction, so two spellings of one
/// email reach the same profile:
///
/// ```
/// use profiledb::Identifier;
/// let a: Identifier = "email: Ann@Example.COM ".parse()?;
/// assert_eq!(a.to_string(), "email:ann@example.com");
/// let p = Identifier::new("phone", "+1 (555) 010-9999")?;
/// assert_eq!(p.value(), "+15550109999");
/// # Ok::<(), profiledb::Error>(())
/// ```
///
/// Deserializing (serde) validates and normalizes exactly as
/// [`Identifier::new`] does, so an identifier built from JSON or any other
/// serde format is as trustworthy as a parsed one:
///
/// ```
/// use profiledb::Identifier;
/// let id: Identifier = serde_json::from_str(r#"{"kind":"email","value":" Ann@X.com"}"#)?;
/// assert_eq!(id.value(), "ann@x.com");
/// assert!(serde_json::from_str::<Identifier>(r#"{"kind":"Email","value":"a@x.com"}"#).is_err());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawIdentifier")]
pub struct Identifier {
    kind: String,
    value: String,
}

/// An identifier as serialized, before validation (the same shape).
#[derive(Deserialize)]
struct RawIdentifier {
    kind: String,
    value: String,
}

impl TryFrom<RawIdentifier> for Identifier {
    type Error = Error;

    fn try_from(RawIdentifier { kind, value }: RawIdentifier) -> Result<Self> {
        // Everything the database stored is normalized already: a kind
        // that normalizes by trimming keeps its decoded strings.
        if !matches!(kind.as_str(), "email" | "phone") && value.trim().len() == value.len() {
            let shown = || quote_input(&format!("{kind}:{value}"));
            validate_kind(&kind).map_err(|reason| Error::InvalidIdentifier { input: shown(), reason })?;
            check_value(&value).map_err(|reason| Error::InvalidIdentifier { input: shown(), reason })?;
            return Ok(Identifier { kind, value });
        }
        Identifier::new(&kind, &value)
    }
}

/// The checks of a normalized value: not empty, at most
/// [`MAX_VALUE_BYTES`], no NUL (the key separator).
fn check_value(value: &str) -> std::result::Result<(), String> {
    if value.is_empty() {
        return Err("empty value".into());
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!("value is {} bytes, the limit is {MAX_VALUE_BYTES}", value.len()));
    }
    if value.contains('\0') {
        return Err("value contains a NUL character".into());
    }
    Ok(())
}

impl Identifier {
    /// Validates `kind`, normalizes `value` for that kind and validates it.
    pub fn new(kind: &str, value: &str) -> Result<Self> {
        let shown = || quote_input(&format!("{kind}:{value}"));
        validate_kind(kind).map_err(|reason| Error::InvalidIdentifier { input: shown(), reason })?;
        let value = normalize(kind, value).map_err(|reason| Error::InvalidIdentifier { input: shown(), reason })?;
        check_value(&value).map_err(|reason| Error::InvalidIdentifier { input: shown(), reason })?;
        Ok(Identifier { kind: kind.to_owned(), value })
    }

    /// Builds an identifier from parts already normalized and validated
    /// (decoded from the database). Not public: stored keys were validated
    /// when written.
    pub(crate) fn from_stored(kind: String, value: String) -> Self {
        Identifier { kind, value }
    }

    /// The kind, e.g. `email`.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The normalized value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}

impl FromStr for Identifier {
    type Err = Error;

    /// Parses `kind:value`; the value may itself contain `:`.
    fn from_str(s: &str) -> Result<Self> {
        let (kind, value) = s.split_once(':').ok_or_else(|| Error::InvalidIdentifier {
            input: quote_input(s),
            reason: "expected kind:value, e.g. email:ann@example.com".into(),
        })?;
        Identifier::new(kind.trim(), value)
    }
}

impl TryFrom<&str> for Identifier {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self> {
        s.parse()
    }
}

/// A kind is 1..=64 bytes of `[a-z0-9_]`, starting with a letter.
fn validate_kind(kind: &str) -> std::result::Result<(), String> {
    validate_lower_name("kind", kind)
}

/// A free-form lowercase name (identifier kinds, consent purposes): 1..=64
/// bytes of `[a-z0-9_]`, starting with a letter. `what` names it in the
/// message.
pub(crate) fn validate_lower_name(what: &str, name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err(format!("empty {what}"));
    }
    if name.len() > MAX_KIND_BYTES {
        return Err(format!("{what} is {} bytes, the limit is {MAX_KIND_BYTES}", name.len()));
    }
    if !name.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
        return Err(format!("{what} must start with a lowercase letter a-z"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
        return Err(format!("{what} may hold only a-z, 0-9 and _, found {c:?}"));
    }
    Ok(())
}

/// Normalizes a value for its kind. Built-in kinds: `email` (trimmed,
/// lower-cased, must contain one `@` with text on both sides), `phone`
/// (digits only, with a leading `+` kept). Other kinds are trimmed.
fn normalize(kind: &str, value: &str) -> std::result::Result<String, String> {
    match kind {
        "email" => {
            let v = value.trim().to_lowercase();
            if v.is_empty() {
                return Ok(v);
            }
            match v.split_once('@') {
                Some((local, domain)) if !local.is_empty() && !domain.is_empty() && !domain.contains('@') => {
                    if v.chars().any(char::is_whitespace) {
                        Err("an email may not contain spaces".into())
                    } else {
                        Ok(v)
                    }
                }
                _ => Err("an email needs exactly one @ with text on both sides".into()),
            }
        }
        "phone" => {
            let t = value.trim();
            let plus = t.starts_with('+');
            let mut out = String::with_capacity(t.len());
            if plus {
                out.push('+');
            }
            for c in t.chars().skip(usize::from(plus)) {
                match c {
                    '0'..='9' => out.push(c),
                    ' ' | '-' | '.' | '(' | ')' => {}
                    _ => {
                        return Err(format!(
                            "a phone number may hold digits, spaces, -.() and a leading +, found {c:?}"
                        ))
                    }
                }
            }
            if out.trim_start_matches('+').is_empty() {
                return Ok(String::new());
            }
            Ok(out)
        }
        _ => Ok(value.trim().to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let id = Identifier::new("email", "  Ann@Example.com ").unwrap();
        assert_eq!(id.value(), "ann@example.com");
    }

    #[test]
    fn phone_keeps_digits_and_leading_plus() {
        assert_eq!(Identifier::new("phone", "+44 20 7946-0958").unwrap().value(), "+442079460958");
        assert_eq!(Identifier::new("phone", "(555) 010").unwrap().value(), "555010");
        assert!(Identifier::new("phone", "555x").is_err());
        assert!(Identifier::new("phone", "+").is_err());
    }

    #[test]
    fn deserializing_validates_and_normalizes_like_new() {
        let parse = |json: &str| serde_json::from_str::<Identifier>(json);
        assert_eq!(
            parse(r#"{"kind":"email","value":" Ann@X.COM "}"#).unwrap(),
            Identifier::new("email", "ann@x.com").unwrap()
        );
        assert_eq!(parse(r#"{"kind":"user_id","value":" u1 "}"#).unwrap().value(), "u1");
        assert_eq!(parse(r#"{"kind":"phone","value":"+1 555"}"#).unwrap().value(), "+1555");
        for bad in [
            r#"{"kind":"user_id","value":""}"#,
            r#"{"kind":"Email","value":"a@x.com"}"#,
            r#"{"kind":"a\u0000b","value":"x"}"#,
            r#"{"kind":"user_id","value":"a\u0000b"}"#,
            r#"{"kind":"email","value":"no-at"}"#,
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.to_string().contains("invalid identifier"), "{bad}: {err}");
        }
        let long = format!(r#"{{"kind":"user_id","value":"{}"}}"#, "x".repeat(MAX_VALUE_BYTES + 1));
        assert!(parse(&long).is_err());
        // The stored (bincode) form round-trips.
        let id = Identifier::new("email", "ann@x.com").unwrap();
        let bytes = bincode::serde::encode_to_vec(&id, bincode::config::standard()).unwrap();
        let (back, _): (Identifier, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, id);
    }

    #[test]
    fn rejects_bad_kinds_and_values() {
        for (k, v) in [("", "x"), ("Email", "x"), ("1kind", "x"), ("a-b", "x"), ("email", "  "), ("user_id", "")] {
            assert!(Identifier::new(k, v).is_err(), "{k}:{v} should be rejected");
        }
        assert!(Identifier::new("email", "no-at-sign").is_err());
        assert!(Identifier::new("user_id", &"x".repeat(MAX_VALUE_BYTES + 1)).is_err());
        assert!(Identifier::new("user_id", &"x".repeat(MAX_VALUE_BYTES)).is_ok());
        assert!(Identifier::new("user_id", "a\0b").is_err());
    }

    #[test]
    fn parses_kind_value_with_colons_in_value() {
        let id: Identifier = "device_id:ab:cd".parse().unwrap();
        assert_eq!((id.kind(), id.value()), ("device_id", "ab:cd"));
        assert!("nocolon".parse::<Identifier>().is_err());
    }

    #[test]
    fn error_names_the_input() {
        let err = Identifier::new("email", "bad").unwrap_err().to_string();
        assert!(err.contains("email:bad"), "{err}");
    }
}
