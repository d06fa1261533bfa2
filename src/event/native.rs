//! The native event format: one JSON object per line.
//!
//! ```json
//! {"message_id": "m-1", "type": "track", "event": "Order Completed",
//!  "timestamp": "2024-05-01T12:00:00Z",
//!  "identifiers": {"user_id": "42", "email": ["ann@example.com", "ann@work.example"]},
//!  "properties": {"total": 12.5, "product": {"sku": "p-1"}}}
//! ```
//!
//! | field | required | meaning |
//! |---|---|---|
//! | `message_id` | no | the sender's id for the message (deduplication); a non-empty string |
//! | `type` | yes | `track`, `identify`, `alias`, `page` or `screen` |
//! | `event` | track | the event name; optional on page / screen (default `page` / `screen`: see below); not allowed on identify / alias |
//! | `timestamp` | yes* | RFC 3339 string or integer epoch milliseconds (*unless [`EventLimits::default_timestamp`] is set) |
//! | `identifiers` | yes | object: kind → value or list of values, e.g. `{"email": "a@x.com"}`; at least one |
//! | `properties` | no | object (track, page, screen) |
//! | `traits` | no | object (identify); nested objects flatten to dotted trait names |
//! | `trait_ops` | no | list of trait operators in their serde form, e.g. `{"SetOnce": {"name": "x", "value": {"Int": 1}}}` (identify); applied after `traits` |
//! | `consent` | no | object (identify): purpose → `{"state": "granted"/"denied"/"withdrawn", "source": "…", "expires_at": …}` (changes applied as one consent delta; not stored on the timeline) |
//! | `previous_id` | alias | the identifier being aliased, as `kind:value` |
//!
//! A page or screen view is written as Segment Spec import stores one:
//! without `event`, so its name is `page` / `screen`, and with the page or
//! screen name in `properties.name` (`{"type": "page", "properties":
//! {"name": "Pricing"}, ...}`); then `count(page)` counts every view and
//! `count(page where name = "Pricing", 7d)` one page's. An `event` given on
//! page / screen is kept as the stored name, as this format is the stored
//! form: events exported by [`to_native_json`] (including page events
//! imported before that mapping, named by their page) parse back unchanged.
//!
//! Unknown fields are refused, so a typo (`propeties`) is an error rather
//! than lost data. [`to_native_json`] renders any event back in this format.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::fields::{self, get, object, string, Ctx};
use crate::event::limits::EventLimits;
use crate::event::model::{Event, EventKind};
use crate::event::property::{json_type_name, Properties};
use crate::identity::identifier::Identifier;
use crate::profile::operator::{TraitOp, MAX_OPS_PER_UPDATE};
use crate::profile::value::TraitValue;

/// The fields of a native event.
pub const NATIVE_FIELDS: [&str; 10] = [
    "message_id",
    "type",
    "event",
    "timestamp",
    "identifiers",
    "properties",
    "traits",
    "trait_ops",
    "consent",
    "previous_id",
];

/// Parses a native event from its JSON object.
pub(crate) fn parse(map: &Map<String, Value>, ctx: &mut Ctx<'_>, limits: &EventLimits) -> Result<Event> {
    let message_id = fields::message_id(ctx, "message_id", get(map, "message_id"))?;
    ctx.set_message_id(message_id.as_deref());
    if let Some(key) = map.keys().find(|k| !NATIVE_FIELDS.contains(&k.as_str())) {
        return Err(ctx.field(key, format!("unknown field; native events have {}", NATIVE_FIELDS.join(", "))));
    }
    let kind: EventKind = match get(map, "type") {
        None => return Err(ctx.field("type", "is required (track, identify, alias, page or screen)")),
        Some(v) => string(ctx, "type", v)?.parse().map_err(|e: String| ctx.field("type", e))?,
    };
    let name = match (kind, get(map, "event")) {
        (EventKind::Track, None) => return Err(ctx.field("event", "is required for track events")),
        (EventKind::Track | EventKind::Page | EventKind::Screen, Some(v)) => fields::event_name(ctx, "event", v)?,
        (EventKind::Identify | EventKind::Alias, Some(_)) => {
            return Err(ctx.field("event", format!("{kind} events have no name")))
        }
        (_, None) => kind.as_str().to_owned(),
    };
    let timestamp = fields::timestamp(ctx, map, &["timestamp"], limits)?;
    let identifiers = identifiers(ctx, get(map, "identifiers"))?;

    let properties = match get(map, "properties") {
        None => Properties::new(),
        Some(v) if kind.has_properties() => fields::properties(ctx, "properties", v, limits)?,
        Some(_) => return Err(ctx.field("properties", format!("{kind} events carry no properties"))),
    };
    let mut traits = Vec::new();
    for field in ["traits", "trait_ops", "consent"] {
        if get(map, field).is_some() && kind != EventKind::Identify {
            let what = if field == "consent" { "consent" } else { "traits" };
            return Err(ctx.field(field, format!("only identify events carry {what}, this is {kind}")));
        }
    }
    if let Some(v) = get(map, "traits") {
        let obj = object(ctx, "traits", v)?;
        traits = fields::traits(ctx, "traits", obj, limits)?;
    }
    if let Some(v) = get(map, "trait_ops") {
        traits.extend(trait_ops(ctx, v, limits.max_properties.saturating_sub(traits.len()))?);
    }
    let consent = match get(map, "consent") {
        Some(v) => crate::event::consent::parse(ctx, v)?,
        None => Vec::new(),
    };
    let previous_id = match (kind, get(map, "previous_id")) {
        (EventKind::Alias, None) => return Err(ctx.field("previous_id", "is required for alias events")),
        (EventKind::Alias, Some(v)) => {
            Some(string(ctx, "previous_id", v)?.parse::<Identifier>().map_err(|e| ctx.field("previous_id", e))?)
        }
        (_, None) => None,
        (_, Some(_)) => return Err(ctx.field("previous_id", format!("only alias events carry one, this is {kind}"))),
    };
    Ok(Event { message_id, kind, name, timestamp, identifiers, properties, traits, previous_id, consent })
}

/// Reads `identifiers`: kind → value or list of values.
fn identifiers(ctx: &Ctx<'_>, v: Option<&Value>) -> Result<Vec<Identifier>> {
    const HINT: &str = "field \"identifiers\" needs at least one, e.g. {\"user_id\": \"42\"}";
    let mut out = Vec::new();
    if let Some(v) = v {
        for (kind, value) in object(ctx, "identifiers", v)? {
            let field = format!("identifiers.{kind}");
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let field = format!("{field}[{i}]");
                        out.push(fields::identifier(ctx, &field, kind, &fields::id_value(ctx, &field, item)?)?);
                    }
                }
                // A string or an integer (`"user_id": 42`), as Segment
                // Spec's `userId` and profile lines take them.
                other => out.push(fields::identifier(ctx, &field, kind, &fields::id_value(ctx, &field, other)?)?),
            }
        }
    }
    fields::finish_identifiers(ctx, out, HINT)
}

/// Reads `trait_ops`: a list of [`TraitOp`] in serde's JSON form.
fn trait_ops(ctx: &Ctx<'_>, v: &Value, room: usize) -> Result<Vec<TraitOp>> {
    let items =
        v.as_array().ok_or_else(|| ctx.field("trait_ops", format!("must be a list, found {}", json_type_name(v))))?;
    let limit = room.min(MAX_OPS_PER_UPDATE);
    if items.len() > limit {
        return Err(ctx.field("trait_ops", format!("{} operators, room is left for {limit}", items.len())));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let field = format!("trait_ops[{i}]");
            let op: TraitOp = serde_json::from_value(item.clone()).map_err(|e| ctx.field(&field, e))?;
            op.validate().map_err(|e| ctx.field(&field, e))?;
            Ok(op)
        })
        .collect()
}

/// Renders an event in the native format (for export); parsing the result
/// gives the event back.
///
/// Trait operators go to `traits` while they are [`TraitOp::Set`]s in
/// ascending name order whose values survive JSON; from the first one that
/// is not, the rest go to `trait_ops` in order, so nothing is lost or
/// reordered. The name of identify and alias events is implied by `type`.
pub fn to_native_json(event: &Event) -> Value {
    let mut m = Map::new();
    if let Some(id) = &event.message_id {
        m.insert("message_id".into(), Value::String(id.clone()));
    }
    m.insert("type".into(), Value::String(event.kind.as_str().into()));
    if matches!(event.kind, EventKind::Track | EventKind::Page | EventKind::Screen) {
        m.insert("event".into(), Value::String(event.name.clone()));
    }
    m.insert("timestamp".into(), Value::String(event.timestamp.to_rfc3339()));

    let mut ids = Map::new();
    for id in &event.identifiers {
        let value = Value::String(id.value().to_owned());
        match ids.get_mut(id.kind()) {
            None => {
                ids.insert(id.kind().to_owned(), value);
            }
            Some(Value::Array(list)) => list.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
        }
    }
    m.insert("identifiers".into(), Value::Object(ids));

    if !event.properties.is_empty() {
        m.insert("properties".into(), event.properties.to_json());
    }
    let (traits, ops) = split_traits(&event.traits);
    if !traits.is_empty() {
        m.insert("traits".into(), Value::Object(traits));
    }
    if !ops.is_empty() {
        let ops = ops.iter().map(|op| serde_json::to_value(op).unwrap_or(Value::Null)).collect();
        m.insert("trait_ops".into(), Value::Array(ops));
    }
    if !event.consent.is_empty() {
        m.insert("consent".into(), crate::event::consent::to_json(&event.consent));
    }
    if let Some(prev) = &event.previous_id {
        m.insert("previous_id".into(), Value::String(prev.to_string()));
    }
    Value::Object(m)
}

/// Splits operators into the plain-`traits` prefix and the rest.
fn split_traits(ops: &[TraitOp]) -> (Map<String, Value>, &[TraitOp]) {
    let mut traits = Map::new();
    let mut last: Option<&str> = None;
    for (i, op) in ops.iter().enumerate() {
        let plain = match op {
            TraitOp::Set { name, value } => {
                let json = value.to_json();
                last.is_none_or(|l| l < name.as_str()) && TraitValue::from_json(&json).ok().as_ref() == Some(value)
            }
            _ => false,
        };
        if !plain {
            return (traits, &ops[i..]);
        }
        last = Some(op.name());
        if let TraitOp::Set { name, value } = op {
            traits.insert(name.clone(), value.to_json());
        }
    }
    (traits, &[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::{parse_line, EventFormat};
    use serde_json::json;

    const NOW: i64 = 1_714_564_800_000;

    fn limits() -> EventLimits {
        EventLimits::new(Timestamp(NOW))
    }

    fn parse(v: Value) -> Result<Event> {
        parse_line(&v.to_string(), EventFormat::Native, "line 7", &limits())
    }

    fn err(v: Value) -> String {
        parse(v).unwrap_err().to_string()
    }

    #[test]
    fn parses_a_track_event() {
        let e = parse(json!({
            "message_id": "m-1", "type": "track", "event": "Order Completed",
            "timestamp": "2024-05-01T12:00:00Z",
            "identifiers": {"user_id": "42", "email": [" Ann@Example.com", "ann@work.example"], "device_id": [7]},
            "properties": {"total": 12.5, "product": {"price": 9}}
        }))
        .unwrap();
        assert_eq!(e.message_id.as_deref(), Some("m-1"));
        assert_eq!((e.kind, e.name.as_str(), e.timestamp), (EventKind::Track, "Order Completed", Timestamp(NOW)));
        let ids: Vec<String> = e.identifiers.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["device_id:7", "email:ann@example.com", "email:ann@work.example", "user_id:42"]);
        assert_eq!(e.property_f64("product.price"), Some(9.0));
        // An integer is an identifier's text, as Segment Spec's `userId` is.
        let n =
            parse(json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"user_id": 42}})).unwrap();
        assert_eq!(n.identifiers, e.identifiers.iter().filter(|i| i.kind() == "user_id").cloned().collect::<Vec<_>>());
        assert!(e.traits.is_empty() && e.previous_id.is_none());
    }

    #[test]
    fn parses_identify_alias_page_and_screen() {
        let id = json!({"user_id": "1"});
        let e = parse(json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id,
            "traits": {"plan": "pro", "address": {"city": "Oslo"}},
            "trait_ops": [{"Increment": {"name": "logins", "by": {"Int": 1}}}]}))
        .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Identify, "identify"));
        let names: Vec<&str> = e.traits.iter().map(TraitOp::name).collect();
        assert_eq!(names, ["address.city", "plan", "logins"]);
        assert_eq!(e.traits[0], TraitOp::Set { name: "address.city".into(), value: "Oslo".into() });

        let e = parse(json!({"type": "alias", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "previous_id": "anonymous_id:a-1"}))
            .unwrap();
        assert_eq!((e.name.as_str(), e.previous_id.map(|p| p.to_string())), ("alias", Some("anonymous_id:a-1".into())));

        let e = parse(
            json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "properties": {"path": "/"}}),
        )
        .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Page, crate::event::spec::PAGE_EVENT));
        // The page name as a property, as Segment Spec import stores it.
        let segment = parse_line(
            &json!({"type": "page", "name": "Pricing", "userId": "1", "timestamp": 1_700_000_000_000_i64}).to_string(),
            EventFormat::SegmentSpec,
            "line 1",
            &limits(),
        )
        .unwrap();
        let native = to_native_json(&segment);
        assert_eq!(native["event"], "page");
        assert_eq!(native["properties"], json!({"name": "Pricing"}));
        assert_eq!(parse(native).unwrap(), segment);
        let e =
            parse(json!({"type": "screen", "event": "Home", "timestamp": 1_700_000_000_000_i64, "identifiers": id}))
                .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Screen, "Home"));
    }

    #[test]
    fn rejections_name_the_field_and_position() {
        let id = json!({"user_id": "1"});
        let cases = [
            (json!({"type": "track", "timestamp": 1_700_000_000_000_i64, "identifiers": id}), "\"event\": is required"),
            (
                json!({"type": "track", "event": "", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"event\": must not be empty",
            ),
            (
                json!({"type": "track", "event": 3, "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"event\": must be a string",
            ),
            (json!({"event": "x", "timestamp": 1_700_000_000_000_i64, "identifiers": id}), "\"type\": is required"),
            (
                json!({"type": "group", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"type\": unknown type \"group\"",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "propeties": {}}),
                "\"propeties\": unknown field",
            ),
            (json!({"type": "page", "timestamp": 1_700_000_000_000_i64}), "no identifiers"),
            (json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {}}), "no identifiers"),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"email": []}}),
                "no identifiers",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": []}),
                "\"identifiers\": must be an object",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"email": "bad"}}),
                "\"identifiers.email\": invalid identifier",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"Email": "a@b.c"}}),
                "\"identifiers.Email\": invalid identifier",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"email": ["a@b.c", true]}}),
                "\"identifiers.email[1]\": must be a string or an integer, found true",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": {"user_id": 1.5}}),
                "\"identifiers.user_id\": must be a string or an integer, found 1.5",
            ),
            (json!({"type": "page", "identifiers": id}), "missing timestamp: field \"timestamp\""),
            (json!({"type": "page", "timestamp": "soon", "identifiers": id}), "\"timestamp\": \"soon\" is neither"),
            (json!({"type": "page", "timestamp": -5, "identifiers": id}), "\"timestamp\": -5 ms is before 1970"),
            (
                json!({"type": "page", "timestamp": NOW + 2 * Timestamp::DAY, "identifiers": id}),
                "\"timestamp\": 2024-05-03",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "properties": [1]}),
                "\"properties\": must be an object",
            ),
            (
                json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "properties": {}}),
                "\"properties\": identify events carry no",
            ),
            (
                json!({"type": "track", "event": "x", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "traits": {}}),
                "\"traits\": only identify",
            ),
            (
                json!({"type": "identify", "event": "x", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"event\": identify events have no name",
            ),
            (
                json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "traits": "x"}),
                "\"traits\": must be an object",
            ),
            (
                json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "traits": {"a b": 1}}),
                "\"traits.a b\": invalid trait name",
            ),
            (
                json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "trait_ops": [{"Nope": 1}]}),
                "\"trait_ops[0]\"",
            ),
            (
                json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "trait_ops": {}}),
                "\"trait_ops\": must be a list",
            ),
            (
                json!({"type": "alias", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"previous_id\": is required",
            ),
            (
                json!({"type": "alias", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "previous_id": "nokind"}),
                "\"previous_id\": invalid identifier",
            ),
            (
                json!({"type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id, "previous_id": "a:b"}),
                "\"previous_id\": only alias",
            ),
            (
                json!({"message_id": "", "type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"message_id\": must not be empty",
            ),
            (
                json!({"message_id": 7, "type": "page", "timestamp": 1_700_000_000_000_i64, "identifiers": id}),
                "\"message_id\": must be a string",
            ),
        ];
        for (v, needle) in cases {
            let e = err(v.clone());
            assert!(e.contains(needle), "{v}: {e:?} should contain {needle:?}");
            assert!(e.starts_with("invalid event line 7"), "{e}");
        }
    }

    #[test]
    fn errors_after_the_message_id_name_it() {
        let e = err(
            json!({"message_id": "m-9", "type": "track", "timestamp": 1_700_000_000_000_i64, "identifiers": {"user_id": "1"}}),
        );
        assert!(e.starts_with("invalid event line 7 (message_id m-9): field \"event\""), "{e}");
    }

    #[test]
    fn renders_back_to_native_json() {
        let line = json!({
            "message_id": "m-1", "type": "track", "event": "Buy", "timestamp": "2024-05-01T12:00:00.000Z",
            "identifiers": {"email": ["a@b.c", "d@e.f"], "user_id": "1"},
            "properties": {"n": 1, "o": {"p": [1.5, "x"]}}
        });
        let e = parse(line.clone()).unwrap();
        assert_eq!(to_native_json(&e), line);
    }

    #[test]
    fn unusual_trait_ops_survive_export_in_order() {
        let mut e = Event::new(
            EventKind::Identify,
            "identify",
            Timestamp(1_700_000_000_000),
            vec!["user_id:1".parse().unwrap()],
        );
        e.traits = vec![
            TraitOp::Set { name: "b".into(), value: 1.into() },
            TraitOp::Set { name: "c".into(), value: vec!["x".to_owned()].into() },
            TraitOp::Set { name: "a".into(), value: 2.into() },
            TraitOp::Set { name: "t".into(), value: Timestamp(9).into() },
            TraitOp::SetOnce { name: "s".into(), value: "v".into() },
        ];
        let v = to_native_json(&e);
        assert_eq!(v["traits"], json!({"b": 1, "c": ["x"]}));
        assert_eq!(v["trait_ops"].as_array().map(Vec::len), Some(3));
        assert_eq!(parse(v).unwrap(), e);
    }
}
