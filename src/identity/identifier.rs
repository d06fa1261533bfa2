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
/// email reach the same profile. Every value is put in Unicode
/// normalization form C (NFC: `e` + U+0301 is `é`); an `email` is also
/// trimmed, lower-cased and loses invisible format characters (zero-width
/// spaces and joiners, bidi marks, soft hyphens, byte order marks); a
/// `phone` keeps its digits and a leading `+`; other kinds are trimmed and
/// lose zero-width spaces, word joiners, soft hyphens and byte order marks
/// (a zero-width joiner, part of emoji sequences, is kept):
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
        // An ASCII value of a kind that normalizes by trimming (and NFC,
        // which leaves ASCII as it is) keeps its decoded string: most
        // stored identifiers take this path. Any other value is normalized
        // by `new` — so an identifier decoded from a delta or an event a
        // format 14 build wrote (an NFD or zero-width spelling) reads as
        // the identifier the upgraded `identity` family holds.
        if value.is_ascii() && !matches!(kind.as_str(), "email" | "phone") && value.trim().len() == value.len() {
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
    /// when written — and normalized as this build does since format 15
    /// (the upgrade from 14 re-keys the values normalized before NFC and
    /// the removal of invisible characters, `db::format_nfc`).
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

/// Invisible format characters an email or phone number never holds, removed
/// before anything else: the soft hyphen, zero-width space, non-joiner and
/// joiner, the left-to-right and right-to-left marks (U+200B–U+200F), the
/// bidi embeddings and overrides (U+202A–U+202E), the word joiner and
/// invisible operators (U+2060–U+2064) and the byte order mark (U+FEFF).
/// Pasted from a web page or a word processor, they would otherwise make
/// `ann\u{200b}@example.com` another person than `ann@example.com`.
pub(crate) fn is_invisible_format(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2064}' | '\u{feff}')
}

/// The invisible characters removed from values of other kinds (`user_id`,
/// device ids, custom kinds): the soft hyphen, zero-width space, word joiner
/// and byte order mark, which never carry meaning. The zero-width joiner and
/// non-joiner and the bidi marks are kept there: a joiner is part of an
/// emoji sequence, a non-joiner of Persian or Indic spelling, so an opaque
/// id may legitimately hold them.
pub(crate) fn is_invisible_filler(c: char) -> bool {
    matches!(c, '\u{ad}' | '\u{200b}' | '\u{2060}' | '\u{feff}')
}

/// `s` in Unicode normalization form C (canonical composition), borrowed
/// when it is already (every ASCII string is).
fn nfc(s: &str) -> std::borrow::Cow<'_, str> {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.nfc().collect())
    }
}

/// `s` in NFC, without a copy when it is already.
fn into_nfc(s: String) -> String {
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    if s.is_ascii() || is_nfc_quick(s.chars()) == IsNormalized::Yes {
        s
    } else {
        s.nfc().collect()
    }
}

/// `s` without the characters `drop` names (borrowed when it holds none).
fn without(s: &str, drop: fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if s.is_ascii() || !s.chars().any(drop) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(s.chars().filter(|c| !drop(*c)).collect())
    }
}

/// Normalizes a value for its kind. Every kind's value is in Unicode
/// normalization form C (NFC), so the composed `é` (U+00E9) and `e` followed
/// by the combining acute (U+0301, what macOS input produces) are one value.
///
/// - `email`: invisible format characters ([`is_invisible_format`])
///   removed, trimmed, NFC, lower-cased and NFC again (lower-casing can
///   leave a string that is not NFC); must contain one `@` with text on both
///   sides and no white space.
/// - `phone`: invisible format characters removed, NFC; digits `0-9` only,
///   with a leading `+` kept (spaces and `-.()` dropped). Any other
///   character — full-width digits included — is refused, naming it.
/// - other kinds: the invisible fillers ([`is_invisible_filler`]) removed,
///   trimmed, NFC.
fn normalize(kind: &str, value: &str) -> std::result::Result<String, String> {
    match kind {
        "email" => {
            // ASCII (nearly every email) holds no invisible character and is
            // NFC, lower-cased or not.
            let v = if value.is_ascii() {
                value.trim().to_ascii_lowercase()
            } else {
                into_nfc(nfc(without(value, is_invisible_format).trim()).to_lowercase())
            };
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
            let stripped = without(value, is_invisible_format);
            let t = nfc(stripped.trim());
            let plus = t.starts_with('+');
            let mut out = String::with_capacity(t.len());
            if plus {
                out.push('+');
            }
            for c in t.chars().skip(usize::from(plus)) {
                match c {
                    '0'..='9' => out.push(c),
                    ' ' | '-' | '.' | '(' | ')' => {}
                    c if c.is_numeric() => {
                        return Err(format!("a phone number may hold only the digits 0-9, found the digit {c:?}"))
                    }
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
        _ => Ok(nfc(without(value, is_invisible_filler).trim()).into_owned()),
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

    #[test]
    fn nfc_and_nfd_spellings_are_one_identifier_of_every_kind() {
        for kind in ["email", "user_id", "device_id", "crm_ref"] {
            let nfc = Identifier::new(kind, "jos\u{e9}@example.com").unwrap();
            let nfd = Identifier::new(kind, "jose\u{301}@example.com").unwrap();
            assert_eq!(nfc, nfd, "{kind}");
            assert_eq!(nfd.value(), "jos\u{e9}@example.com", "{kind}");
        }
        // Upper-case NFD: composed, then lower-cased, still NFC.
        assert_eq!(Identifier::new("email", "JOSE\u{301}@EXAMPLE.COM").unwrap().value(), "jos\u{e9}@example.com");
        // Lower-casing U+0130 gives `i` + U+0307, which NFC keeps as two
        // characters; the result is NFC whatever the input's form.
        let a = Identifier::new("email", "\u{130}x@example.com").unwrap();
        let b = Identifier::new("email", "I\u{307}x@example.com").unwrap();
        assert_eq!(a, b);
        assert!(unicode_normalization::is_nfc(a.value()));
    }

    #[test]
    fn invisible_characters_do_not_make_another_email() {
        for pasted in [
            "ann\u{200b}@example.com",
            "\u{feff}ann@example.com",
            "an\u{ad}n@example.com",
            "ann@exam\u{200d}ple.com",
            "\u{202e}ann@example.com\u{2060}",
            " ann\u{200e}@example.com ",
        ] {
            assert_eq!(Identifier::new("email", pasted).unwrap().value(), "ann@example.com", "{pasted:?}");
        }
        // Nothing but invisible characters on one side of the @.
        assert!(Identifier::new("email", "\u{200b}@example.com").is_err());
    }

    #[test]
    fn other_kinds_drop_fillers_and_keep_joiners() {
        assert_eq!(Identifier::new("user_id", "u1\u{200b}").unwrap().value(), "u1");
        assert_eq!(Identifier::new("user_id", "\u{feff}u1\u{ad}").unwrap().value(), "u1");
        let family = "\u{1f468}\u{200d}\u{1f469}";
        assert_eq!(Identifier::new("user_id", family).unwrap().value(), family);
        assert!(Identifier::new("user_id", "\u{200b}").is_err());
    }

    #[test]
    fn phones_drop_invisibles_and_refuse_other_digits_by_name() {
        assert_eq!(Identifier::new("phone", "+1\u{200b}555 0100").unwrap().value(), "+15550100");
        let err = Identifier::new("phone", "+1 \u{ff15}\u{ff15}\u{ff15}").unwrap_err().to_string();
        assert!(err.contains("only the digits 0-9") && err.contains('\u{ff15}'), "{err}");
    }

    #[test]
    fn deserializing_normalizes_unicode_like_new() {
        let json = r#"{"kind":"email","value":"Jose\u0301\u200b@X.com"}"#;
        let id: Identifier = serde_json::from_str(json).unwrap();
        assert_eq!(id.value(), "jos\u{e9}@x.com");
        let json = r#"{"kind":"user_id","value":"jose\u0301"}"#;
        assert_eq!(serde_json::from_str::<Identifier>(json).unwrap().value(), "jos\u{e9}");
        assert!(serde_json::from_str::<Identifier>(r#"{"kind":"email","value":"\u200b@x.com"}"#).is_err());
        // A value decoded from a stored (bincode) NFD spelling comes back NFC.
        let raw = Identifier { kind: "user_id".into(), value: "jose\u{301}".into() };
        let bytes = bincode::serde::encode_to_vec(&raw, bincode::config::standard()).unwrap();
        let (back, _): (Identifier, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back.value(), "jos\u{e9}");
    }
}
