//! Field readers shared by the native and Segment Spec parsers: each one
//! reads one JSON field and, on failure, names the field and the event's
//! position in the error.

use std::collections::BTreeSet;
use std::fmt;

use serde_json::{Map, Value};

use crate::clock::Timestamp;
use crate::error::{quote_input, Error, Result};
use crate::event::limits::{EpochUnit, EventLimits};
use crate::event::model::{check_event_name, check_message_id};
use crate::event::parse::{SkippedIdentifier, SkippedTrait};
use crate::event::property::{json_type_name, Properties};
use crate::identity::identifier::Identifier;
use crate::profile::operator::{TraitOp, MAX_OPS_PER_UPDATE};
use crate::profile::traits::validate_name;
use crate::profile::value::TraitValue;

/// Where an event came from, for error messages: the caller's position
/// (`line 3`) and, once read, the event's message id.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    position: &'a str,
    message_id: Option<String>,
    /// Identifiers of auxiliary fields left out as invalid.
    pub(crate) skipped: Vec<SkippedIdentifier>,
    /// Whether a trait holding a list that is no trait value (of objects,
    /// of numbers) is left out, into `skipped_traits`, rather than refusing
    /// the event: for Segment Spec identifies, whose `traits` carry what
    /// the sender's app had (B2B `companies`, numeric tags).
    pub(crate) skip_bad_trait_lists: bool,
    /// The traits left out under `skip_bad_trait_lists`.
    pub(crate) skipped_traits: Vec<SkippedTrait>,
}

impl<'a> Ctx<'a> {
    /// A context for the event at `position`.
    pub(crate) fn new(position: &'a str) -> Self {
        Ctx { position, message_id: None, skipped: Vec::new(), skip_bad_trait_lists: false, skipped_traits: Vec::new() }
    }

    /// Records the message id so later errors name it.
    pub(crate) fn set_message_id(&mut self, id: Option<&str>) {
        self.message_id = id.map(quote_input);
    }

    /// `line 3 (message_id m-1)`, `line 3`, or `message_id m-1`.
    pub(crate) fn at(&self) -> String {
        match (self.position.is_empty(), &self.message_id) {
            (false, Some(m)) => format!("{} (message_id {m})", self.position),
            (true, Some(m)) => format!("message_id {m}"),
            (_, None) => self.position.to_owned(),
        }
    }

    /// An [`Error::InvalidEvent`] at this event.
    pub(crate) fn error(&self, message: impl Into<String>) -> Error {
        Error::InvalidEvent { at: self.at(), message: message.into() }
    }

    /// An error about one field: `field "timestamp": <reason>`.
    pub(crate) fn field(&self, field: &str, reason: impl fmt::Display) -> Error {
        self.error(format!("field {:?}: {reason}", quote_input(field)))
    }
}

/// The field `key`, treating JSON `null` as absent.
pub(crate) fn get<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

/// The string at `field`, or an error naming the type found.
pub(crate) fn string<'v>(ctx: &Ctx<'_>, field: &str, v: &'v Value) -> Result<&'v str> {
    v.as_str().ok_or_else(|| ctx.field(field, format!("must be a string, found {}", json_type_name(v))))
}

/// The object at `field`, or an error naming the type found.
pub(crate) fn object<'v>(ctx: &Ctx<'_>, field: &str, v: &'v Value) -> Result<&'v Map<String, Value>> {
    v.as_object().ok_or_else(|| ctx.field(field, format!("must be an object, found {}", json_type_name(v))))
}

/// A message id: a non-empty string of bounded length.
pub(crate) fn message_id(ctx: &Ctx<'_>, field: &str, v: Option<&Value>) -> Result<Option<String>> {
    let Some(v) = v else { return Ok(None) };
    let s = string(ctx, field, v)?;
    check_message_id(s).map_err(|reason| ctx.field(field, reason))?;
    Ok(Some(s.to_owned()))
}

/// An event, page or screen name.
pub(crate) fn event_name(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<String> {
    let s = string(ctx, field, v)?;
    check_event_name(s).map_err(|reason| ctx.field(field, reason))?;
    Ok(s.to_owned())
}

/// An identifier value given as a string or an integer (`userId: 42`).
pub(crate) fn id_value(ctx: &Ctx<'_>, field: &str, v: &Value) -> Result<String> {
    identifier_text(v).map_err(|reason| ctx.field(field, reason))
}

/// The text of an identifier value given in JSON as a string or an
/// integer (`42` → `"42"`), as the event parsers read `userId`; anything
/// else — a float (`1e3`, `4.2`), a bool, `null`, a list — is an error
/// saying what was found. Callers that treat `null` as absent skip it
/// first.
///
/// ```
/// use profiledb::event::identifier_text;
/// use serde_json::json;
/// assert_eq!(identifier_text(&json!(42)).as_deref(), Ok("42"));
/// assert_eq!(identifier_text(&json!("u-1")).as_deref(), Ok("u-1"));
/// assert!(identifier_text(&json!(1e3)).unwrap_err().contains("found 1000.0"));
/// ```
pub fn identifier_text(v: &Value) -> std::result::Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.to_string()),
        other => Err(format!("must be a string or an integer, found {other}")),
    }
}

/// Builds an identifier, wrapping its error with the field.
pub(crate) fn identifier(ctx: &Ctx<'_>, field: &str, kind: &str, value: &str) -> Result<Identifier> {
    Identifier::new(kind, value).map_err(|e| ctx.field(field, e))
}

/// Sorts and deduplicates identifiers; refuses an empty set with `hint`
/// saying where identifiers come from in this format.
pub(crate) fn finish_identifiers(ctx: &Ctx<'_>, mut ids: Vec<Identifier>, hint: &str) -> Result<Vec<Identifier>> {
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(ctx.error(format!("no identifiers: {hint}")));
    }
    Ok(ids)
}

/// The event time from the first present field of `candidates`, checked
/// against 1970 and `limits.now + max_future_skew_ms`; if none is present,
/// `limits.default_timestamp` or an error naming the fields.
pub(crate) fn timestamp(
    ctx: &Ctx<'_>,
    map: &Map<String, Value>,
    candidates: &[&str],
    limits: &EventLimits,
) -> Result<Timestamp> {
    let Some((field, v)) = candidates.iter().find_map(|f| get(map, f).map(|v| (*f, v))) else {
        return limits.default_timestamp.ok_or_else(|| {
            let names: Vec<String> = candidates.iter().map(|f| format!("{f:?}")).collect();
            ctx.error(format!("missing timestamp: field {} is required", names.join(" or ")))
        });
    };
    let unit = limits.epoch_unit;
    let epoch = |n: i64| unit.read(n).map_err(|e| ctx.field(field, e));
    let ts = match v {
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => epoch(n)?,
            Err(_) => Timestamp::parse(s).map_err(|e| ctx.field(field, e))?,
        },
        Value::Number(n) => epoch(n.as_i64().or_else(|| integral(n)).ok_or_else(|| {
            let unit = if unit == EpochUnit::Seconds { "seconds" } else { "milliseconds" };
            ctx.field(field, format!("{n} is not an integer of epoch {unit} (or an RFC 3339 string)"))
        })?)?,
        other => {
            return Err(ctx.field(
                field,
                format!("must be an RFC 3339 string or integer epoch milliseconds, found {}", json_type_name(other)),
            ))
        }
    };
    limits.check_time(ts).map_err(|reason| ctx.field(field, reason))?;
    Ok(ts)
}

/// A JSON number written as a float with no fraction (`1762000000000.0`,
/// as Python's and JavaScript's JSON writers may give an epoch) as the
/// integer it is; `None` for a fraction or a value outside `i64`.
fn integral(n: &serde_json::Number) -> Option<i64> {
    // 2^63 as f64 exactly: below it (and from -2^63 on) the cast is exact
    // for an integral value.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    let f = n.as_f64()?;
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

/// Properties from the object at `field`, bounded by `limits.max_properties`.
pub(crate) fn properties(ctx: &Ctx<'_>, field: &str, v: &Value, limits: &EventLimits) -> Result<Properties> {
    let p = Properties::from_json(v).map_err(|reason| ctx.field(field, reason))?;
    let n = p.count_keys();
    if n > limits.max_properties {
        return Err(
            ctx.field(field, format!("{n} properties (counting nested keys), the limit is {}", limits.max_properties))
        );
    }
    Ok(p)
}

/// Flattens a traits object to [`TraitOp::Set`] operators with dotted
/// names, sorted by name. Empty nested objects set nothing. Refuses
/// invalid names and values, a name given twice (`{"a.b": 1, "a": {"b": 2}}`)
/// and a name that is also another's prefix (`{"a": 1, "a.b": 2}`), naming
/// the trait as `<field>.<name>`; with `ctx.skip_bad_trait_lists`, a list
/// that is no trait value is left out into `ctx.skipped_traits` instead.
pub(crate) fn traits(
    ctx: &mut Ctx<'_>,
    field: &str,
    map: &Map<String, Value>,
    limits: &EventLimits,
) -> Result<Vec<TraitOp>> {
    let mut leaves: Vec<(String, &Value)> = Vec::new();
    let mut stack: Vec<(String, &Map<String, Value>)> = vec![(String::new(), map)];
    while let Some((prefix, obj)) = stack.pop() {
        for (key, value) in obj {
            let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                Value::Object(child) => stack.push((name, child)),
                leaf => leaves.push((name, leaf)),
            }
        }
    }
    let limit = limits.max_properties.min(MAX_OPS_PER_UPDATE);
    if leaves.len() > limit {
        return Err(ctx.field(field, format!("{} traits after flattening, the limit is {limit}", leaves.len())));
    }
    leaves.sort_by(|a, b| a.0.cmp(&b.0));
    let names: BTreeSet<&str> = leaves.iter().map(|(n, _)| n.as_str()).collect();
    let mut ops = Vec::with_capacity(leaves.len());
    let mut previous: Option<&str> = None;
    for (name, value) in &leaves {
        let at = format!("{field}.{name}");
        if previous == Some(name.as_str()) {
            return Err(ctx.field(&at, "given twice (once nested, once with a dotted name)"));
        }
        previous = Some(name.as_str());
        validate_name(name).map_err(|e| ctx.field(&at, e))?;
        if let Some((i, _)) = name.match_indices('.').find(|(i, _)| names.contains(&name[..*i])) {
            return Err(ctx.field(&at, format!("conflicts with trait {:?}, which holds a value", &name[..i])));
        }
        let value = match TraitValue::from_json(value) {
            Ok(v) => v,
            Err(reason) if ctx.skip_bad_trait_lists && value.is_array() => {
                ctx.skipped_traits.push(SkippedTrait { field: at, reason });
                continue;
            }
            Err(reason) => return Err(ctx.field(&at, reason)),
        };
        let op = TraitOp::Set { name: name.clone(), value };
        op.validate().map_err(|e| ctx.field(&at, e))?;
        ops.push(op);
    }
    Ok(ops)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn limits() -> EventLimits {
        EventLimits::new(Timestamp(1_714_564_800_000))
    }

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn at_combines_position_and_message_id() {
        let mut ctx = Ctx::new("line 3");
        assert_eq!(ctx.at(), "line 3");
        ctx.set_message_id(Some("m-1"));
        assert_eq!(ctx.at(), "line 3 (message_id m-1)");
        let mut ctx = Ctx::new("");
        ctx.set_message_id(Some("m-2"));
        assert_eq!(
            ctx.field("event", "must not be empty").to_string(),
            "invalid event message_id m-2: field \"event\": must not be empty"
        );
    }

    #[test]
    fn timestamps_accept_rfc3339_and_integer_millis() {
        let ctx = Ctx::new("line 1");
        let t = |v: Value| timestamp(&ctx, &obj(json!({ "timestamp": v })), &["timestamp"], &limits());
        assert_eq!(t(json!("2024-05-01T12:00:00Z")).unwrap(), Timestamp(1_714_564_800_000));
        assert_eq!(t(json!(1_714_564_800_000_i64)).unwrap(), Timestamp(1_714_564_800_000));
        assert_eq!(t(json!("1714564800000")).unwrap(), Timestamp(1_714_564_800_000));
    }

    #[test]
    fn a_float_epoch_with_no_fraction_is_its_integer() {
        let ctx = Ctx::new("line 2");
        let t = |v: Value, l: &EventLimits| timestamp(&ctx, &obj(json!({ "timestamp": v })), &["timestamp"], l);
        assert_eq!(t(json!(1_714_564_800_000.0_f64), &limits()).ok(), Some(Timestamp(1_714_564_800_000)));
        let secs = EventLimits { epoch_unit: EpochUnit::Seconds, ..limits() };
        assert_eq!(t(json!(1_714_564_800.0_f64), &secs).ok(), Some(Timestamp(1_714_564_800_000)));
        // A fraction, or a value no i64 holds, is still refused, clearly.
        for v in [json!(1_714_564_800_000.5_f64), json!(1e19_f64), json!(-1e19_f64)] {
            let err = t(v, &limits()).map_err(|e| e.to_string()).err().unwrap_or_default();
            assert!(
                err.contains("field \"timestamp\"") && err.contains("is not an integer of epoch milliseconds"),
                "{err}"
            );
        }
        // As an integer would be, seconds written as a float are refused as ms.
        let err = t(json!(1_714_564_800.0_f64), &limits()).map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(err.contains("epoch seconds"), "{err}");
        // A plain date stays refused: its time zone is unknown.
        let err = t(json!("2024-05-01"), &limits()).map_err(|e| e.to_string()).err().unwrap_or_default();
        assert!(err.contains("neither RFC 3339 nor epoch milliseconds"), "{err}");
    }

    #[test]
    fn epoch_seconds_are_refused_unless_the_unit_says_seconds() {
        let ctx = Ctx::new("line 4");
        let secs = EventLimits { epoch_unit: EpochUnit::Seconds, ..limits() };
        for v in [json!(1_714_564_800), json!("1714564800")] {
            let err = timestamp(&ctx, &obj(json!({ "timestamp": v })), &["timestamp"], &limits()).unwrap_err();
            let err = err.to_string();
            assert!(
                err.contains("line 4") && err.contains("field \"timestamp\"") && err.contains("epoch seconds"),
                "{err}"
            );
            let ok = timestamp(&ctx, &obj(json!({ "timestamp": v })), &["timestamp"], &secs);
            assert_eq!(ok.unwrap(), Timestamp(1_714_564_800_000));
        }
        // RFC 3339 is unaffected by the unit.
        let rfc = obj(json!({"timestamp": "2024-05-01T12:00:00Z"}));
        assert_eq!(timestamp(&ctx, &rfc, &["timestamp"], &secs).unwrap(), Timestamp(1_714_564_800_000));
    }

    #[test]
    fn timestamps_reject_bad_values_naming_the_field() {
        let ctx = Ctx::new("line 1");
        let t = |v: Value| timestamp(&ctx, &obj(json!({ "ts": v })), &["ts"], &limits()).unwrap_err().to_string();
        for (v, needle) in [
            (json!("yesterday"), "neither RFC 3339"),
            (json!(-1), "before 1970"),
            (json!("1969-12-31T23:59:59Z"), "before 1970"),
            (json!(1.5), "not an integer"),
            (json!(true), "found a boolean"),
            (json!(1_714_564_800_000_i64 + Timestamp::DAY + 1), "after now"),
        ] {
            let err = t(v);
            assert!(err.contains("field \"ts\"") && err.contains(needle) && err.contains("line 1"), "{err}");
        }
        let ok = timestamp(&ctx, &obj(json!({"ts": 1_714_564_800_000_i64 + Timestamp::DAY})), &["ts"], &limits());
        assert!(ok.is_ok());
    }

    #[test]
    fn missing_timestamp_needs_a_default() {
        let ctx = Ctx::new("line 1");
        let empty = obj(json!({"timestamp": null}));
        let err = timestamp(&ctx, &empty, &["timestamp", "originalTimestamp"], &limits()).unwrap_err().to_string();
        assert!(err.contains("missing timestamp") && err.contains("\"originalTimestamp\""), "{err}");
        let with_default = EventLimits { default_timestamp: Some(Timestamp(7)), ..limits() };
        assert_eq!(timestamp(&ctx, &empty, &["timestamp"], &with_default).unwrap(), Timestamp(7));
    }

    #[test]
    fn traits_flatten_to_sorted_dotted_sets() {
        let mut ctx = Ctx::new("line 1");
        let ops = traits(
            &mut ctx,
            "traits",
            &obj(json!({"plan": "pro", "address": {"city": "Oslo", "geo": {"lat": 1.5}}, "empty": {}})),
            &limits(),
        )
        .unwrap();
        let names: Vec<&str> = ops.iter().map(TraitOp::name).collect();
        assert_eq!(names, ["address.city", "address.geo.lat", "plan"]);
        assert_eq!(ops[0], TraitOp::Set { name: "address.city".into(), value: "Oslo".into() });
    }

    #[test]
    fn traits_reject_naming_the_trait() {
        let mut ctx = Ctx::new("line 1");
        for (v, needle) in [
            (json!({"a b": 1}), "\"traits.a b\""),
            (json!({"tags": ["a", 1]}), "\"traits.tags\""),
            (json!({"a": {"b": 1}, "a.b": 2}), "given twice"),
            (json!({"a": 1, "a.b": 2}), "conflicts with trait \"a\""),
            (json!({"s": "x".repeat(crate::profile::value::MAX_STRING_BYTES + 1)}), "\"traits.s\""),
        ] {
            let err = traits(&mut ctx, "traits", &obj(v), &limits()).unwrap_err().to_string();
            assert!(err.contains(needle), "{err} should contain {needle}");
        }
        let few = EventLimits { max_properties: 1, ..limits() };
        let err = traits(&mut ctx, "traits", &obj(json!({"a": {"b": 1, "c": 2}})), &few).unwrap_err().to_string();
        assert!(err.contains("2 traits after flattening, the limit is 1"), "{err}");
    }

    #[test]
    fn a_list_that_is_no_trait_value_is_left_out_when_asked() {
        let mut ctx = Ctx::new("line 1");
        ctx.skip_bad_trait_lists = true;
        let v = obj(json!({"plan": "pro", "companies": [{"name": "Acme"}], "tags": [1, 2], "ok": ["a"]}));
        let ops = traits(&mut ctx, "traits", &v, &limits()).unwrap();
        let names: Vec<&str> = ops.iter().map(TraitOp::name).collect();
        assert_eq!(names, ["ok", "plan"]);
        let skipped: Vec<&str> = ctx.skipped_traits.iter().map(|t| t.field.as_str()).collect();
        assert_eq!(skipped, ["traits.companies", "traits.tags"]);
        assert!(ctx.skipped_traits[1].reason.contains("lists hold strings only, found 1"), "{:?}", ctx.skipped_traits);
        // Other bad traits still refuse the event.
        let err = traits(&mut ctx, "traits", &obj(json!({"a b": 1})), &limits()).unwrap_err().to_string();
        assert!(err.contains("\"traits.a b\""), "{err}");
    }

    #[test]
    fn properties_are_bounded() {
        let ctx = Ctx::new("line 1");
        let few = EventLimits { max_properties: 2, ..limits() };
        assert!(properties(&ctx, "properties", &json!({"a": {"b": 1}}), &few).is_ok());
        let err = properties(&ctx, "properties", &json!({"a": {"b": 1, "c": 1}}), &few).unwrap_err().to_string();
        assert!(err.contains("\"properties\"") && err.contains("3 properties"), "{err}");
        let err = properties(&ctx, "properties", &json!([1]), &few).unwrap_err().to_string();
        assert!(err.contains("must be an object, found an array"), "{err}");
    }

    #[test]
    fn identifiers_are_sorted_deduplicated_and_required() {
        let ctx = Ctx::new("line 1");
        let ids =
            vec![identifier(&ctx, "x", "user_id", "2").unwrap(), identifier(&ctx, "x", "email", "A@b.c").unwrap()];
        let mut twice = ids.clone();
        twice.extend(ids);
        let done = finish_identifiers(&ctx, twice, "hint").unwrap();
        assert_eq!(done.iter().map(ToString::to_string).collect::<Vec<_>>(), ["email:a@b.c", "user_id:2"]);
        assert!(finish_identifiers(&ctx, vec![], "give some")
            .unwrap_err()
            .to_string()
            .contains("no identifiers: give some"));
        let err = identifier(&ctx, "identifiers.email", "email", "bad").unwrap_err().to_string();
        assert!(err.contains("field \"identifiers.email\": invalid identifier \"email:bad\""), "{err}");
        assert_eq!(id_value(&ctx, "userId", &json!(42)).unwrap(), "42");
        assert!(id_value(&ctx, "userId", &json!(4.2)).unwrap_err().to_string().contains("\"userId\""));
    }
}
