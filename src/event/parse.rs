//! [`parse_line`]: one line of JSON to one validated [`Event`], in the
//! native format, Segment Spec, or whichever the line looks like.

use std::fmt;
use std::str::FromStr;

use serde_json::Value;

use crate::error::Result;
use crate::event::fields::Ctx;
use crate::event::limits::EventLimits;
use crate::event::model::Event;
use crate::event::property::json_type_name;
use crate::event::{native, spec};

/// Which format a line is in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EventFormat {
    /// profiledb's own format (see the `native` module docs).
    Native,
    /// Segment Spec messages (Segment, RudderStack, Jitsu exports).
    SegmentSpec,
    /// Segment Spec when the message has any of `userId`, `anonymousId`,
    /// `messageId` or `originalTimestamp`; native otherwise.
    #[default]
    Auto,
}

impl EventFormat {
    /// The format's name: `native`, `segment` or `auto`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventFormat::Native => "native",
            EventFormat::SegmentSpec => "segment",
            EventFormat::Auto => "auto",
        }
    }
}

impl fmt::Display for EventFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventFormat {
    type Err = crate::error::Error;

    /// Parses `native`, `segment` (or `spec`, `segment_spec`) or `auto`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "native" => Ok(EventFormat::Native),
            "segment" | "spec" | "segment_spec" => Ok(EventFormat::SegmentSpec),
            "auto" => Ok(EventFormat::Auto),
            other => Err(crate::error::Error::invalid(format!(
                "unknown event format {:?} (expected native, segment or auto)",
                crate::error::quote_input(other)
            ))),
        }
    }
}

/// A value of an auxiliary identifier field — a Segment Spec message's
/// `traits.email`, `context.traits.email`, `traits.phone` or
/// `context.traits.phone` — that is not a valid identifier (`"john.doe"`):
/// it is left out of the event's identifiers, and the event applies under
/// the others. Only [`parse_line_with_skipped`] and
/// [`parse_value_with_skipped`] report these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedIdentifier {
    /// The field it came from: `context.traits.email`.
    pub field: String,
    /// The identifier it would have been, `kind:value` as given.
    pub identifier: String,
    /// Why it is not an identifier (the identifier's validation error).
    pub reason: String,
}

/// A Segment Spec identify trait left out because its value is a list
/// that is no trait value — of objects (B2B `companies`) or of numbers
/// (`tags: [1, 2]`): the identify applies with its other traits and its
/// identifiers, rather than losing its `userId`–`anonymousId` link. Only
/// [`parse_line_reporting`] and [`parse_value_reporting`] report these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedTrait {
    /// The trait as a field of the message: `traits.companies`.
    pub field: String,
    /// Why it is not a trait value.
    pub reason: String,
}

/// What a parse left out of an event it accepted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Auxiliary identifiers left out as invalid.
    pub identifiers: Vec<SkippedIdentifier>,
    /// Identify traits left out as lists that are no trait value.
    pub traits: Vec<SkippedTrait>,
}

/// Parses and validates one line holding one JSON event.
///
/// `position` says where the line came from (`line 3`, `batch position
/// 7`) and starts every error's location, followed by the message id once
/// it is known. Checked before anything is built: the line's size
/// ([`EventLimits::max_line_bytes`]) and its nesting depth
/// ([`EventLimits::max_json_depth`]); then the JSON itself and every field
/// (see the `native` and `spec` module docs for the formats).
///
/// ```
/// use profiledb::event::{parse_line, EventFormat, EventKind, EventLimits};
/// use profiledb::Timestamp;
/// let limits = EventLimits::new(Timestamp(1_714_564_800_000));
/// let line = r#"{"type":"track","event":"Signed Up","timestamp":"2024-05-01T10:00:00Z","identifiers":{"email":"Ann@Example.com"}}"#;
/// let event = parse_line(line, EventFormat::Auto, "line 1", &limits)?;
/// assert_eq!((event.kind, event.name.as_str()), (EventKind::Track, "Signed Up"));
/// assert_eq!(event.identifiers[0].to_string(), "email:ann@example.com");
///
/// let err = parse_line(r#"{"type":"track"}"#, EventFormat::Native, "line 2", &limits).unwrap_err();
/// assert_eq!(err.to_string(), "invalid event line 2: field \"event\": is required for track events");
/// # Ok::<(), profiledb::Error>(())
/// ```
pub fn parse_line(line: &str, format: EventFormat, position: &str, limits: &EventLimits) -> Result<Event> {
    parse_line_with_skipped(line, format, position, limits).map(|(event, _)| event)
}

/// [`parse_line`], also returning the auxiliary identifiers left out as
/// invalid ([`SkippedIdentifier`]), for a caller that reports them.
///
/// ```
/// use profiledb::event::{parse_line_with_skipped, EventFormat, EventLimits};
/// use profiledb::Timestamp;
/// let limits = EventLimits::new(Timestamp(1_714_564_800_000));
/// let line = r#"{"type":"track","event":"Order Completed","userId":"jm1","timestamp":"2024-05-01T10:00:00Z",
///               "context":{"traits":{"email":"john.doe"}}}"#;
/// let (event, skipped) = parse_line_with_skipped(line, EventFormat::Auto, "line 1", &limits)?;
/// assert_eq!(event.identifiers[0].to_string(), "user_id:jm1");
/// assert_eq!((skipped[0].field.as_str(), skipped[0].identifier.as_str()), ("context.traits.email", "email:john.doe"));
/// # Ok::<(), profiledb::Error>(())
/// ```
pub fn parse_line_with_skipped(
    line: &str,
    format: EventFormat,
    position: &str,
    limits: &EventLimits,
) -> Result<(Event, Vec<SkippedIdentifier>)> {
    parse_line_reporting(line, format, position, limits).map(|(event, skipped)| (event, skipped.identifiers))
}

/// [`parse_line`], also returning what was left out of the event:
/// invalid auxiliary identifiers ([`SkippedIdentifier`]) and, in a Segment
/// Spec identify, traits holding lists of objects or numbers
/// ([`SkippedTrait`]).
///
/// ```
/// use profiledb::event::{parse_line_reporting, EventFormat, EventLimits};
/// use profiledb::Timestamp;
/// let limits = EventLimits::new(Timestamp(1_714_564_800_000));
/// let line = r#"{"type":"identify","userId":"t1","anonymousId":"a1","timestamp":"2024-05-01T10:00:00Z",
///               "traits":{"plan":"pro","companies":[{"name":"Acme"}]}}"#;
/// let (event, skipped) = parse_line_reporting(line, EventFormat::Auto, "line 1", &limits)?;
/// assert_eq!((event.identifiers.len(), event.traits.len()), (2, 1));
/// assert_eq!(skipped.traits[0].field, "traits.companies");
/// # Ok::<(), profiledb::Error>(())
/// ```
pub fn parse_line_reporting(
    line: &str,
    format: EventFormat,
    position: &str,
    limits: &EventLimits,
) -> Result<(Event, Skipped)> {
    let ctx = Ctx::new(position);
    if line.len() > limits.max_line_bytes {
        return Err(ctx.error(format!("line is {} bytes, the limit is {}", line.len(), limits.max_line_bytes)));
    }
    let unmarked = line.strip_prefix('\u{feff}').unwrap_or(line);
    let text = unmarked.trim();
    if text.is_empty() {
        return Err(ctx.error("empty line, expected a JSON object"));
    }
    if let Some(offset) = depth_exceeded(text.as_bytes(), limits.depth_limit()) {
        return Err(
            ctx.error(format!("JSON nests deeper than {} levels (at byte {offset} of the line)", limits.depth_limit()))
        );
    }
    // The untrimmed line, so a column counts from the line's start.
    let value = json_with_unique_keys(unmarked)
        .map_err(|e| ctx.error(format!("malformed JSON: {}", describe_json_error(&e, text))))?;
    parse_value_reporting(&value, format, position, limits)
}

/// Parses JSON text to a [`Value`] as `serde_json::from_str` does, but
/// refuses an object that gives a key twice (`{"userId":"g1","userId":"g2"}`),
/// naming the key: serde_json would keep the last one silently, so a line
/// could say two things and be read as one.
///
/// ```
/// use profiledb::event::{describe_json_error, json_with_unique_keys};
/// let text = r#"{"a": {"b": 1, "b": 2}}"#;
/// let e = json_with_unique_keys(text).unwrap_err();
/// assert!(describe_json_error(&e, text).starts_with("key \"b\" is given twice at column "));
/// assert!(json_with_unique_keys(r#"{"a": [{"b": 1}, {"b": 2}]}"#).is_ok());
/// ```
pub fn json_with_unique_keys(text: &str) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = serde::de::DeserializeSeed::deserialize(UniqueKeys, &mut de)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] as serde_json's own does, refusing duplicate keys.
struct UniqueKeys;

impl<'de> serde::de::DeserializeSeed<'de> for UniqueKeys {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for UniqueKeys {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(UniqueKeys)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            match out.entry(key) {
                serde_json::map::Entry::Vacant(slot) => {
                    slot.insert(map.next_value_seed(UniqueKeys)?);
                }
                serde_json::map::Entry::Occupied(slot) => {
                    let key = crate::error::quote_input(slot.key());
                    return Err(serde::de::Error::custom(format!("key {key:?} is given twice")));
                }
            }
        }
        Ok(Value::Object(out))
    }
}

/// serde_json's error about `text`, positioned for a reader who already
/// knows which record it is: `key must be a string at column 18` when
/// `text` is one line (serde's `at line 1 column 18` would read as line 1
/// of the file), serde's own `at line 2 column 1` for a record spanning
/// lines. Trailing line breaks of `text` do not count as a second line.
///
/// ```
/// use profiledb::event::describe_json_error;
/// let text = r#"{"a": 1,, }"#;
/// let e = serde_json::from_str::<serde_json::Value>(text).unwrap_err();
/// assert_eq!(describe_json_error(&e, text), "key must be a string at column 9");
/// ```
pub fn describe_json_error(e: &serde_json::Error, text: &str) -> String {
    let full = e.to_string();
    if e.line() != 1 || text.trim_end().contains('\n') {
        return full;
    }
    let position = format!(" at line 1 column {}", e.column());
    match full.strip_suffix(&position) {
        Some(message) => format!("{message} at column {}", e.column()),
        None => full,
    }
}

/// Parses and validates one event already parsed as JSON (an HTTP batch
/// element, say). Same checks as [`parse_line`] except the line size.
pub fn parse_value(value: &Value, format: EventFormat, position: &str, limits: &EventLimits) -> Result<Event> {
    parse_value_with_skipped(value, format, position, limits).map(|(event, _)| event)
}

/// [`parse_value`], also returning the auxiliary identifiers left out as
/// invalid ([`SkippedIdentifier`]).
pub fn parse_value_with_skipped(
    value: &Value,
    format: EventFormat,
    position: &str,
    limits: &EventLimits,
) -> Result<(Event, Vec<SkippedIdentifier>)> {
    parse_value_reporting(value, format, position, limits).map(|(event, skipped)| (event, skipped.identifiers))
}

/// [`parse_value`], also returning what was left out of the event
/// ([`Skipped`]: see [`parse_line_reporting`]).
pub fn parse_value_reporting(
    value: &Value,
    format: EventFormat,
    position: &str,
    limits: &EventLimits,
) -> Result<(Event, Skipped)> {
    let mut ctx = Ctx::new(position);
    let map = value
        .as_object()
        .ok_or_else(|| ctx.error(format!("expected a JSON object, found {}", json_type_name(value))))?;
    if value_depth(value) > limits.depth_limit() {
        return Err(ctx.error(format!("JSON nests deeper than {} levels", limits.depth_limit())));
    }
    let format = match format {
        EventFormat::Auto if spec::SPEC_MARKER_FIELDS.iter().any(|f| map.contains_key(*f)) => EventFormat::SegmentSpec,
        EventFormat::Auto => EventFormat::Native,
        other => other,
    };
    let event = match format {
        EventFormat::SegmentSpec => {
            ctx.skip_bad_trait_lists = true;
            spec::parse(map, &mut ctx, limits)?
        }
        _ => native::parse(map, &mut ctx, limits)?,
    };
    Ok((event, Skipped { identifiers: ctx.skipped, traits: ctx.skipped_traits }))
}

/// Scans JSON text for the first byte where arrays and objects nest deeper
/// than `max`, without building anything. Brackets inside strings do not
/// count. Malformed text is left for serde_json to report.
fn depth_exceeded(text: &[u8], max: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in text.iter().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The nesting depth of a JSON value (a scalar is 0, `{}` is 1), without
/// recursion.
fn value_depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 1usize)];
    while let Some((v, depth)) = stack.pop() {
        match v {
            Value::Array(items) => {
                max = max.max(depth);
                stack.extend(items.iter().map(|i| (i, depth + 1)));
            }
            Value::Object(map) => {
                max = max.max(depth);
                stack.extend(map.values().map(|i| (i, depth + 1)));
            }
            _ => {}
        }
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::EventKind;
    use serde_json::json;

    const NOW: i64 = 1_714_564_800_000;

    fn limits() -> EventLimits {
        EventLimits::new(Timestamp(NOW))
    }

    #[test]
    fn a_key_given_twice_refuses_the_line_naming_the_key() {
        let twice = r#"{"type":"track","event":"x","userId":"g1","userId":"g2","timestamp":"2024-05-01T10:00:00Z"}"#;
        let err = parse_line(twice, EventFormat::Auto, "line 3", &limits()).unwrap_err().to_string();
        assert!(err.contains("line 3") && err.contains("key \"userId\" is given twice at column"), "{err}");
        let nested = r#"{"type":"track","event":"x","userId":"g1","timestamp":"2024-05-01T10:00:00Z",
                        "properties":{"a":{"b":1,"b":2}}}"#;
        let err = parse_line(nested, EventFormat::Auto, "line 4", &limits()).unwrap_err().to_string();
        assert!(err.contains("key \"b\" is given twice"), "{err}");
        // The same key in different objects is no duplicate; values are as serde_json reads them.
        let text = r#"{"a":[{"b":1},{"b":-2.5e3,"c":null}],"d":"\u00e9","e":18446744073709551615,"f":true}"#;
        assert_eq!(json_with_unique_keys(text).ok(), serde_json::from_str::<Value>(text).ok());
        assert!(json_with_unique_keys("{} x").is_err(), "trailing text");
    }

    fn err(line: &str) -> String {
        parse_line(line, EventFormat::Auto, "line 4", &limits()).unwrap_err().to_string()
    }

    const NATIVE: &str = r#"{"type":"track","event":"x","timestamp":1700000000000,"identifiers":{"user_id":"1"}}"#;

    #[test]
    fn auto_detects_spec_by_its_marker_fields() {
        for marker in ["userId", "anonymousId", "messageId", "originalTimestamp"] {
            let mut v = json!({"type": "track", "event": "x", "timestamp": 1_700_000_000_000_i64, "userId": "1"});
            if marker != "userId" {
                v.as_object_mut().unwrap().remove("userId");
                v[marker] = json!(if marker == "originalTimestamp" { json!(5) } else { json!("z") });
            }
            let result = parse_line(&v.to_string(), EventFormat::Auto, "line 1", &limits());
            match marker {
                // messageId / originalTimestamp alone: Spec, so "no identifiers" (not "unknown field").
                "messageId" | "originalTimestamp" => {
                    let e = result.unwrap_err().to_string();
                    assert!(e.contains("no identifiers: give userId"), "{marker}: {e}");
                }
                _ => assert_eq!(result.unwrap().kind, EventKind::Track, "{marker}"),
            }
        }
        assert_eq!(parse_line(NATIVE, EventFormat::Auto, "l", &limits()).unwrap().identifiers.len(), 1);
    }

    #[test]
    fn explicit_formats_are_honored() {
        let e = parse_line(NATIVE, EventFormat::SegmentSpec, "line 1", &limits()).unwrap_err().to_string();
        assert!(e.contains("\"identifiers\": is native, but the line is read as Segment Spec"), "{e}");
        let spec = r#"{"type":"track","event":"x","timestamp":1700000000000,"userId":"1"}"#;
        let e = parse_line(spec, EventFormat::Native, "line 1", &limits()).unwrap_err().to_string();
        assert!(e.contains("\"userId\": unknown field"), "{e}");
    }

    #[test]
    fn malformed_json_reports_the_column_of_a_one_line_record() {
        let e = err(r#"{"type": "track",, }"#);
        assert_eq!(e, "invalid event line 4: malformed JSON: key must be a string at column 18");
        // Counted from the start of the line, whitespace and line ending included.
        let e = err("  {\"type\": \"track\",, }\r\n");
        assert!(e.ends_with("key must be a string at column 20"), "{e}");
        let e = err(r#"{"type": "tra"#);
        assert!(e.contains("malformed JSON: EOF while parsing a string at column 13"), "{e}");
        // A record spanning lines keeps serde's line and column.
        let e = err("{\"type\": \"track\",\n, }");
        assert!(e.ends_with("key must be a string at line 2 column 1"), "{e}");
    }

    #[test]
    fn non_objects_and_empty_lines_are_refused() {
        assert!(err("[1, 2]").contains("expected a JSON object, found an array"));
        assert!(err("\"track\"").contains("found a string"));
        assert!(err("42").contains("found a number"));
        assert!(err("   ").contains("empty line"));
        assert!(err("").contains("empty line"));
    }

    #[test]
    fn a_bom_and_surrounding_whitespace_are_tolerated() {
        let line = format!("\u{feff}  {NATIVE}\r\n");
        assert!(parse_line(&line, EventFormat::Auto, "line 1", &limits()).is_ok());
    }

    #[test]
    fn long_lines_are_refused_before_parsing() {
        let short = EventLimits { max_line_bytes: 10, ..limits() };
        let e = parse_line(NATIVE, EventFormat::Auto, "line 4", &short).unwrap_err().to_string();
        assert!(e.contains(&format!("line is {} bytes, the limit is 10", NATIVE.len())), "{e}");
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!(
            r#"{{"type":"track","event":"x","timestamp":1700000000000,"identifiers":{{"user_id":"1"}},"properties":{}{}}}"#,
            "[".repeat(40),
            "]".repeat(40)
        );
        let e = err(&deep);
        assert!(e.contains("JSON nests deeper than 32 levels"), "{e}");
        // Far past serde_json's own limit, and brackets inside strings don't count.
        assert!(err(&"[".repeat(1_000_000)).contains("nests deeper"));
        let quoted = NATIVE.replace(r#""x""#, &format!("{:?}", "[{".repeat(100)));
        assert!(parse_line(&quoted, EventFormat::Auto, "line 1", &limits()).is_ok());
        let escaped = NATIVE.replace(r#""x""#, r#""a\"[[[[""#);
        let shallow = EventLimits { max_json_depth: 2, ..limits() };
        assert!(parse_line(&escaped, EventFormat::Auto, "line 1", &shallow).is_ok());
        let e = parse_line(NATIVE, EventFormat::Auto, "line 1", &EventLimits { max_json_depth: 1, ..limits() });
        assert!(e.unwrap_err().to_string().contains("deeper than 1 levels"));
    }

    #[test]
    fn parse_value_checks_depth_itself() {
        let mut v =
            json!({"type": "track", "event": "x", "timestamp": 1_700_000_000_000_i64, "identifiers": {"user_id": "1"}});
        let mut nested = json!(1);
        for _ in 0..40 {
            nested = json!([nested]);
        }
        v["properties"] = json!({ "deep": nested });
        let e = parse_value(&v, EventFormat::Native, "batch position 3", &limits()).unwrap_err().to_string();
        assert!(e.starts_with("invalid event batch position 3: JSON nests deeper than 32"), "{e}");
        assert_eq!(value_depth(&json!(1)), 0);
        assert_eq!(value_depth(&json!({"a": [{}]})), 3);
    }

    #[test]
    fn formats_parse_by_name() {
        for f in [EventFormat::Native, EventFormat::SegmentSpec, EventFormat::Auto] {
            assert_eq!(f.as_str().parse::<EventFormat>().unwrap(), f);
        }
        assert_eq!("spec".parse::<EventFormat>().unwrap(), EventFormat::SegmentSpec);
        assert!("csv".parse::<EventFormat>().unwrap_err().to_string().contains("\"csv\""));
    }
}
