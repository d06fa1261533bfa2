//! Segment Spec messages, as exported by Segment, RudderStack and Jitsu.
//!
//! | Segment Spec field | profiledb | notes |
//! |---|---|---|
//! | `type` | [`Event::kind`] | `track`, `identify`, `alias`, `page`, `screen` (any case); `group` is a track event (below); others are refused |
//! | `messageId` | [`Event::message_id`] | optional; a non-empty string |
//! | `timestamp`, else `originalTimestamp` | [`Event::timestamp`] | RFC 3339 string or integer epoch milliseconds; `sentAt` and `receivedAt` are ignored |
//! | `userId` | identifier `user_id` | string or integer; `null` or an empty (blank) string means absent (RudderStack sends `""` before identify) |
//! | `anonymousId` | identifier `anonymous_id` | string or integer; `null` or an empty (blank) string means absent |
//! | `traits.email`, else `context.traits.email` | identifier `email` | normalized (trimmed, lower-cased); an empty value or a placeholder on the default stitching blocklist (`n/a`, `unknown`, ...) counts as absent; an invalid one (`john.doe`) is not an identifier either ([`SkippedIdentifier`], the next source is tried) unless the message has no other identifier: then it refuses the message |
//! | `traits.phone`, else `context.traits.phone` | identifier `phone` | normalized (digits and a leading `+`); empty, placeholder and invalid values as for email |
//! | `previousId` (alias) | [`Event::previous_id`] = `user_id:<previousId>` | required on alias: Segment's alias says "previousId is now userId" |
//! | `event` (track) | [`Event::name`] | required on track |
//! | `name` (page, screen) | property `name` | optional; a string of 1 to 256 bytes; the event name is always `page` / `screen` ([`PAGE_EVENT`], [`SCREEN_EVENT`]) |
//! | `category` (page) | property `category` | optional; a string |
//! | `properties` (track, page, screen) | [`Event::properties`] | must be an object when present; ignored on identify and alias; on page / screen, a top-level `name` or `category` replaces a property of that name |
//! | `groupId`, `traits` (group) | a track event named [`GROUP_EVENT`] (`group`) with the group's `traits` as properties and `groupId` (required, string or integer, kept as text) | a group's `traits` give no identifiers (they describe the group); `context.traits` does |
//! | `traits` and `context.traits` (identify) | [`Event::traits`] | each trait becomes a `set`; nested objects flatten to dotted names (`address.city`); a top-level key in `traits` replaces the same key of `context.traits` |
//! | anything else (`context.*`, `integrations`, `sentAt`, `receivedAt`, `channel`, `version`, ...) | ignored | except a native-only field ([`NATIVE_ONLY_FIELDS`]): the line mixes the formats and is refused, naming the fields; and a field above in another case (`messageid`): refused as a typo |
//!
//! So a page or screen message is one event name for all views: `count(page)`
//! counts every page view and `count(page where name = "Pricing", 7d)` the
//! views of one page. (analytics.js copies `name` and `category` into
//! `properties` too, so the top-level field usually equals the property it
//! replaces.) Events imported before this mapping keep their stored name,
//! the page name.
//!
//! At least one of `userId`, `anonymousId`, email or phone must be present.
//! A placeholder email or phone trait ([`is_placeholder`]) is left out of
//! the identifiers only: the trait itself still applies on identify, just
//! as a blocklisted `userId` or `anonymousId` is kept but never stitched.
//! So is an invalid email or phone trait when the message has another
//! identifier: an export's form input (`"john.doe"`) does not lose the
//! event; [`parse_line_with_skipped`](super::parse_line_with_skipped)
//! reports it.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::event::fields::{self, get, object, string, Ctx};
use crate::event::limits::EventLimits;
use crate::event::model::{Event, EventKind};
use crate::event::parse::SkippedIdentifier;
use crate::event::property::Properties;
use crate::identity::identifier::Identifier;
use crate::identity::rules::is_placeholder;

/// The fields whose presence makes [`EventFormat::Auto`](super::EventFormat::Auto)
/// read a message as Segment Spec.
pub const SPEC_MARKER_FIELDS: [&str; 4] = ["userId", "anonymousId", "messageId", "originalTimestamp"];

/// Fields of the native format that a Segment Spec message never has: a
/// message carrying one mixes the formats, and is refused rather than have
/// that field ignored (its identifiers not linked, its message id not
/// deduplicated).
pub const NATIVE_ONLY_FIELDS: [&str; 5] = ["identifiers", "message_id", "previous_id", "trait_ops", "consent"];

/// The top-level Segment Spec fields this parser reads: a key that differs
/// from one only in case (`messageid`, `UserId`) is refused as a typo
/// rather than ignored.
const READ_FIELDS: [&str; 13] = [
    "type",
    "groupId",
    "messageId",
    "event",
    "name",
    "category",
    "timestamp",
    "originalTimestamp",
    "userId",
    "anonymousId",
    "previousId",
    "properties",
    "traits",
];

/// Refuses a message that mixes native-only fields with Segment Spec ones,
/// or has a read field in the wrong case, naming the fields.
fn check_fields(map: &Map<String, Value>, ctx: &Ctx<'_>) -> Result<()> {
    let native: Vec<&str> = NATIVE_ONLY_FIELDS.iter().copied().filter(|f| map.contains_key(*f)).collect();
    if let Some(first) = native.first() {
        let segment: Vec<String> =
            SPEC_MARKER_FIELDS.iter().filter(|f| map.contains_key(**f)).map(|f| format!("{f:?}")).collect();
        let native: Vec<String> = native.iter().map(|f| format!("{f:?}")).collect();
        if segment.is_empty() {
            return Err(ctx.field(
                first,
                format!(
                    "{} native, but the line is read as Segment Spec (which has userId, anonymousId, \
                     messageId, previousId): read it as native",
                    if native.len() == 1 { "is" } else { "are" }
                ),
            ));
        }
        return Err(ctx.field(
            first,
            format!(
                "the line mixes native fields ({}) with Segment Spec fields ({}): write each line in one format \
                 (native: identifiers, message_id, previous_id; Segment Spec: userId, anonymousId, messageId, \
                 previousId)",
                native.join(", "),
                segment.join(", ")
            ),
        ));
    }
    for key in map.keys() {
        if let Some(meant) = READ_FIELDS.iter().find(|f| f.eq_ignore_ascii_case(key) && **f != key.as_str()) {
            return Err(
                ctx.field(key, format!("unknown field: did you mean {meant:?}? (field names are case-sensitive)"))
            );
        }
    }
    Ok(())
}

/// Parses a Segment Spec message from its JSON object.
pub(crate) fn parse(map: &Map<String, Value>, ctx: &mut Ctx<'_>, limits: &EventLimits) -> Result<Event> {
    let message_id = fields::message_id(ctx, "messageId", get(map, "messageId"))?;
    ctx.set_message_id(message_id.as_deref());
    check_fields(map, ctx)?;
    let (kind, group) = match get(map, "type") {
        None => return Err(ctx.field("type", "is required (track, identify, alias, page, screen or group)")),
        Some(v) => match string(ctx, "type", v)?.to_ascii_lowercase().as_str() {
            "group" => (EventKind::Track, true),
            other => (
                other.parse().map_err(|e: String| ctx.field("type", format!("{e}; group is read as a track event")))?,
                false,
            ),
        },
    };
    let name = match kind {
        EventKind::Track if group => GROUP_EVENT.to_owned(),
        EventKind::Track => match get(map, "event") {
            Some(v) => fields::event_name(ctx, "event", v)?,
            None => return Err(ctx.field("event", "is required for track events")),
        },
        EventKind::Page => PAGE_EVENT.to_owned(),
        EventKind::Screen => SCREEN_EVENT.to_owned(),
        EventKind::Identify | EventKind::Alias => kind.as_str().to_owned(),
    };
    let timestamp = fields::timestamp(ctx, map, &["timestamp", "originalTimestamp"], limits)?;

    let traits_obj = match get(map, "traits") {
        Some(v) => Some(object(ctx, "traits", v)?),
        None => None,
    };
    let context_traits = match get(map, "context") {
        Some(c) => match get(object(ctx, "context", c)?, "traits") {
            Some(v) => Some(object(ctx, "context.traits", v)?),
            None => None,
        },
        None => None,
    };
    // A group call's `traits` describe the group (a company's email is not
    // the user's): only `context.traits` gives identifiers there.
    let identifiers = identifiers(ctx, map, traits_obj.filter(|_| !group), context_traits)?;

    let properties = match get(map, "properties") {
        _ if group => group_properties(ctx, map, traits_obj, limits)?,
        v if matches!(kind, EventKind::Page | EventKind::Screen) => page_properties(ctx, map, v, limits)?,
        Some(v) if kind.has_properties() => fields::properties(ctx, "properties", v, limits)?,
        _ => Properties::new(),
    };
    let traits = if kind == EventKind::Identify {
        let mut merged = context_traits.cloned().unwrap_or_default();
        if let Some(t) = traits_obj {
            merged.extend(t.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        fields::traits(ctx, "traits", &merged, limits)?
    } else {
        Vec::new()
    };
    let previous_id = if kind == EventKind::Alias {
        let v = get(map, "previousId").ok_or_else(|| ctx.field("previousId", "is required for alias events"))?;
        let value = fields::id_value(ctx, "previousId", v)?;
        Some(fields::identifier(ctx, "previousId", "user_id", &value)?)
    } else {
        None
    };
    Ok(Event { message_id, kind, name, timestamp, identifiers, properties, traits, previous_id, consent: Vec::new() })
}

/// The name of the track event a Segment `group` message becomes.
pub const GROUP_EVENT: &str = "group";

/// The event name of a Segment `page` message (its page name is property `name`).
pub const PAGE_EVENT: &str = "page";

/// The event name of a Segment `screen` message (its screen name is property `name`).
pub const SCREEN_EVENT: &str = "screen";

/// A `page` or `screen` message's properties: its `properties`, with the
/// top-level `name` (the page name: a string of 1 to 256 bytes) and
/// `category` (a string) over properties of those names.
fn page_properties(
    ctx: &Ctx<'_>,
    map: &Map<String, Value>,
    properties: Option<&Value>,
    limits: &EventLimits,
) -> Result<Properties> {
    let mut props = match properties {
        Some(v) => object(ctx, "properties", v)?.clone(),
        None => Map::new(),
    };
    if let Some(v) = get(map, "name") {
        props.insert("name".to_owned(), Value::String(fields::event_name(ctx, "name", v)?));
    }
    if let Some(v) = get(map, "category") {
        props.insert("category".to_owned(), Value::String(string(ctx, "category", v)?.to_owned()));
    }
    fields::properties(ctx, "properties", &Value::Object(props), limits)
}

/// A `group` message's properties: its `traits` (the group's), and
/// `groupId` (required; a string or an integer, kept as text) over a trait
/// of that name.
fn group_properties(
    ctx: &Ctx<'_>,
    map: &Map<String, Value>,
    traits: Option<&Map<String, Value>>,
    limits: &EventLimits,
) -> Result<Properties> {
    let v = get(map, "groupId").ok_or_else(|| ctx.field("groupId", "is required for group messages"))?;
    let group_id = fields::id_value(ctx, "groupId", v)?;
    if group_id.trim().is_empty() {
        return Err(ctx.field("groupId", "must not be empty"));
    }
    let mut props = traits.cloned().unwrap_or_default();
    props.insert("groupId".to_owned(), Value::String(group_id));
    fields::properties(ctx, "traits", &Value::Object(props), limits)
}

/// `userId`, `anonymousId`, and email / phone from `traits` or `context.traits`.
///
/// An email or phone that is not a valid identifier (`"john.doe"`) is left
/// out and noted in `ctx.skipped` (the next source is tried), unless the
/// message has no other identifier: then its error refuses the message.
fn identifiers(
    ctx: &mut Ctx<'_>,
    map: &Map<String, Value>,
    traits: Option<&Map<String, Value>>,
    context_traits: Option<&Map<String, Value>>,
) -> Result<Vec<Identifier>> {
    let mut out = Vec::new();
    let mut invalid = None;
    for (field, kind) in [("userId", "user_id"), ("anonymousId", "anonymous_id")] {
        if let Some(v) = get(map, field) {
            let value = fields::id_value(ctx, field, v)?;
            // RudderStack's JavaScript SDK sends `"userId": ""` for every
            // visitor not yet identified: empty means absent, as `null`.
            if !value.trim().is_empty() {
                out.push(fields::identifier(ctx, field, kind, &value)?);
            }
        }
    }
    // The first of traits.<kind> and context.traits.<kind> holding a real
    // value; a placeholder ("", "n/a", ...) counts as absent.
    for kind in ["email", "phone"] {
        for (prefix, obj) in [("traits", traits), ("context.traits", context_traits)] {
            let Some(v) = obj.and_then(|o| get(o, kind)) else { continue };
            let field = format!("{prefix}.{kind}");
            let value = string(ctx, &field, v)?;
            if is_placeholder(value) {
                continue;
            }
            match Identifier::new(kind, value) {
                Ok(id) => {
                    out.push(id);
                    break;
                }
                Err(e) => {
                    invalid.get_or_insert_with(|| ctx.field(&field, &e));
                    let identifier = format!("{kind}:{value}");
                    ctx.skipped.push(SkippedIdentifier { field, identifier, reason: e.to_string() });
                }
            }
        }
    }
    match invalid {
        Some(e) if out.is_empty() => Err(e),
        _ => fields::finish_identifiers(ctx, out, "give userId, anonymousId, traits.email or traits.phone"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::{parse_line, EventFormat};
    use crate::profile::operator::TraitOp;
    use serde_json::json;

    const NOW: i64 = 1_714_564_800_000;

    fn parse(v: Value) -> Result<Event> {
        parse_line(&v.to_string(), EventFormat::SegmentSpec, "line 2", &EventLimits::new(Timestamp(NOW)))
    }

    fn ids(e: &Event) -> Vec<String> {
        e.identifiers.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn maps_a_segment_track_call() {
        let e = parse(json!({
            "type": "track", "event": "Order Completed", "messageId": "ajs-1",
            "userId": "u-1", "anonymousId": "a-1",
            "timestamp": "2024-05-01T12:00:00Z", "originalTimestamp": "2024-05-01T11:00:00Z",
            "properties": {"revenue": 12.5, "products": [{"sku": "p"}]},
            "context": {"traits": {"email": " Ann@Example.com "}, "ip": "1.2.3.4"},
            "integrations": {}, "sentAt": "x", "receivedAt": "y"
        }))
        .unwrap();
        assert_eq!(
            (e.kind, e.name.as_str(), e.message_id.as_deref()),
            (EventKind::Track, "Order Completed", Some("ajs-1"))
        );
        assert_eq!(e.timestamp, Timestamp(NOW));
        assert_eq!(ids(&e), ["anonymous_id:a-1", "email:ann@example.com", "user_id:u-1"]);
        assert_eq!(e.property_f64("revenue"), Some(12.5));
        assert!(e.traits.is_empty());
    }

    #[test]
    fn falls_back_to_original_timestamp() {
        let e = parse(json!({"type": "track", "event": "x", "userId": 42, "timestamp": null,
            "originalTimestamp": "1970-01-01T00:00:01Z"}))
        .unwrap();
        assert_eq!(e.timestamp, Timestamp(1_000));
        assert_eq!(ids(&e), ["user_id:42"]);
    }

    #[test]
    fn maps_identify_traits_and_identifiers() {
        let e = parse(json!({
            "type": "identify", "userId": "u-1", "timestamp": 1_700_000_000_000_i64,
            "traits": {"email": "a@b.c", "phone": "+1 555 0100", "address": {"city": "Oslo"}, "plan": "pro"},
            "context": {"traits": {"email": "other@b.c", "plan": "free", "company": {"name": "Acme"}}}
        }))
        .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Identify, "identify"));
        assert_eq!(ids(&e), ["email:a@b.c", "phone:+15550100", "user_id:u-1"]);
        let names: Vec<&str> = e.traits.iter().map(TraitOp::name).collect();
        assert_eq!(names, ["address.city", "company.name", "email", "phone", "plan"]);
        assert!(e.traits.contains(&TraitOp::Set { name: "plan".into(), value: "pro".into() }));
        assert!(e.properties.is_empty());
    }

    #[test]
    fn context_traits_give_email_and_phone_when_traits_lack_them() {
        let e = parse(
            json!({"type": "page", "anonymousId": "a", "timestamp": 1_700_000_000_000_i64, "traits": {"email": null},
            "context": {"traits": {"email": "c@d.e", "phone": "555"}}}),
        )
        .unwrap();
        assert_eq!(ids(&e), ["anonymous_id:a", "email:c@d.e", "phone:555"]);
    }

    #[test]
    fn an_empty_user_id_is_absent_as_rudderstack_sends_it_before_identify() {
        let line = r#"{"type":"track","event":"x","timestamp":1700000000000,"userId":"","anonymousId":"a-1"}"#;
        let e = parse_line(line, EventFormat::Auto, "line 1", &EventLimits::new(Timestamp(1_700_000_000_000))).unwrap();
        assert_eq!(ids(&e), ["anonymous_id:a-1"]);
        let both_empty = r#"{"type":"track","event":"x","timestamp":1700000000000,"userId":" ","anonymousId":""}"#;
        let err = parse_line(both_empty, EventFormat::Auto, "line 1", &EventLimits::new(Timestamp(1_700_000_000_000)))
            .unwrap_err();
        assert!(err.to_string().contains("no identifiers"), "{err}");
    }

    #[test]
    fn placeholder_email_or_phone_traits_are_not_identifiers() {
        for email in ["n/a", "", "  ", "Unknown", "NULL"] {
            let e = parse(json!({"type": "identify", "userId": "u-5", "timestamp": 1_700_000_000_000_i64,
                "traits": {"email": email, "phone": "none", "plan": "pro"}}))
            .unwrap();
            assert_eq!(ids(&e), ["user_id:u-5"], "{email:?}");
            // The traits still apply.
            assert!(e.traits.contains(&TraitOp::Set { name: "email".into(), value: email.into() }), "{email:?}");
            assert!(e.traits.contains(&TraitOp::Set { name: "plan".into(), value: "pro".into() }));
        }
        // A placeholder in traits leaves room for context.traits.
        let e = parse(json!({"type": "track", "event": "x", "anonymousId": "a", "timestamp": 1_700_000_000_000_i64,
            "traits": {"email": "n/a"}, "context": {"traits": {"email": "c@d.e", "phone": "-1"}}}))
        .unwrap();
        assert_eq!(ids(&e), ["anonymous_id:a", "email:c@d.e"]);
        let e = parse(json!({"type": "identify", "timestamp": 1_700_000_000_000_i64, "traits": {"email": "n/a"}}))
            .unwrap_err();
        assert!(e.to_string().contains("no identifiers"), "{e}");
    }

    #[test]
    fn an_invalid_email_or_phone_trait_is_skipped_when_other_identifiers_remain() {
        let limits = EventLimits::new(Timestamp(NOW));
        let skipped_of =
            |v: Value| crate::event::parse_value_with_skipped(&v, EventFormat::SegmentSpec, "line 4", &limits);
        // The reviewer's purchase: a valid userId, junk in context.traits.email.
        let (e, skipped) = skipped_of(json!({"type": "track", "event": "Order Completed", "userId": "jm1",
            "messageId": "jm-1", "timestamp": NOW, "context": {"traits": {"email": "john.doe", "phone": "call me"}},
            "properties": {"revenue": 99}}))
        .unwrap();
        assert_eq!(ids(&e), ["user_id:jm1"]);
        assert_eq!(e.property_f64("revenue"), Some(99.0));
        let fields: Vec<(&str, &str)> = skipped.iter().map(|s| (s.field.as_str(), s.identifier.as_str())).collect();
        assert_eq!(fields, [("context.traits.email", "email:john.doe"), ("context.traits.phone", "phone:call me")]);
        assert!(skipped[0].reason.contains("invalid identifier") && skipped[0].reason.contains('@'), "{skipped:?}");
        // On identify the value stays a trait; an invalid traits.email leaves
        // room for a valid context.traits.email.
        let (e, skipped) = skipped_of(json!({"type": "identify", "anonymousId": "a-1", "timestamp": NOW,
            "traits": {"email": "a@b@c.com", "plan": "pro"}, "context": {"traits": {"email": "c@d.e"}}}))
        .unwrap();
        assert_eq!(ids(&e), ["anonymous_id:a-1", "email:c@d.e"]);
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].field, "traits.email");
        assert!(e.traits.contains(&TraitOp::Set { name: "email".into(), value: "a@b@c.com".into() }));
        // parse_line drops the note but applies the same mapping.
        let e = parse(json!({"type": "page", "userId": "u", "traits": {"email": "nope"}, "timestamp": NOW})).unwrap();
        assert_eq!(ids(&e), ["user_id:u"]);
        // With no other identifier, the message is refused with the email's error.
        let err = skipped_of(json!({"type": "track", "event": "x", "timestamp": NOW,
            "context": {"traits": {"email": "john.doe"}}}))
        .unwrap_err()
        .to_string();
        assert!(err.contains("field \"context.traits.email\": invalid identifier \"email:john.doe\""), "{err}");
        // Native events are unchanged: an invalid identifier is bad input.
        let native = json!({"type": "track", "event": "x", "timestamp": NOW,
            "identifiers": {"user_id": "u", "email": "john.doe"}});
        let err = crate::event::parse_value_with_skipped(&native, EventFormat::Native, "line 4", &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("invalid identifier"), "{err}");
    }

    #[test]
    fn maps_group_to_a_track_event_named_group() {
        let e = parse(json!({"type": "group", "groupId": "acme-1", "userId": "u-1", "messageId": "g-1",
            "timestamp": NOW, "traits": {"name": "Acme", "email": "billing@acme.com", "plan": {"tier": "pro"},
            "groupId": "ignored"}, "context": {"traits": {"email": "ann@acme.com"}}}))
        .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Track, GROUP_EVENT));
        // The group's traits are properties; its email is not the user's.
        assert_eq!(ids(&e), ["email:ann@acme.com", "user_id:u-1"]);
        assert_eq!(e.properties.get_str("groupId"), Some("acme-1"));
        assert_eq!(e.properties.get_str("name"), Some("Acme"));
        assert_eq!(e.properties.get_str("email"), Some("billing@acme.com"));
        assert!(e.traits.is_empty());
        let e = parse(json!({"type": "Group", "groupId": 42, "anonymousId": "a", "timestamp": NOW})).unwrap();
        assert_eq!((e.name.as_str(), e.properties.get_str("groupId")), (GROUP_EVENT, Some("42")));
    }

    #[test]
    fn maps_alias_page_and_screen() {
        let e =
            parse(json!({"type": "alias", "userId": "new", "previousId": "old", "timestamp": 1_700_000_000_000_i64}))
                .unwrap();
        assert_eq!(e.previous_id.as_ref().map(ToString::to_string).as_deref(), Some("user_id:old"));
        assert_eq!(ids(&e), ["user_id:new"]);
        let e =
            parse(json!({"type": "page", "name": "Pricing", "anonymousId": "a", "timestamp": 1_700_000_000_000_i64,
            "properties": {"path": "/pricing"}}))
            .unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Page, PAGE_EVENT));
        assert_eq!(e.properties.get_str("name"), Some("Pricing"));
        assert_eq!(e.properties.get_str("path"), Some("/pricing"));
        assert_eq!(e.properties.get("category"), None);
        let e = parse(json!({"type": "Screen", "anonymousId": "a", "timestamp": 1_700_000_000_000_i64})).unwrap();
        assert_eq!((e.kind, e.name.as_str()), (EventKind::Screen, SCREEN_EVENT));
        assert!(e.properties.is_empty());
        let e = parse(json!({"type": "screen", "name": "Home", "anonymousId": "a", "timestamp": NOW})).unwrap();
        assert_eq!(
            (e.kind, e.name.as_str(), e.properties.get_str("name")),
            (EventKind::Screen, "screen", Some("Home"))
        );
    }

    #[test]
    fn page_name_and_category_replace_properties_of_those_names() {
        let e = parse(json!({"type": "page", "name": "Shoe 42", "category": "Shoes", "userId": "u",
            "timestamp": NOW, "properties": {"name": "stale", "category": "old", "url": "https://x/shoe-42"}}))
        .unwrap();
        assert_eq!(e.name, PAGE_EVENT);
        assert_eq!(e.properties.get_str("name"), Some("Shoe 42"));
        assert_eq!(e.properties.get_str("category"), Some("Shoes"));
        assert_eq!(e.properties.get_str("url"), Some("https://x/shoe-42"));
        // Without the top-level fields, the properties stay as sent.
        let e =
            parse(json!({"type": "page", "userId": "u", "timestamp": NOW, "properties": {"name": "Kept"}})).unwrap();
        assert_eq!((e.name.as_str(), e.properties.get_str("name")), (PAGE_EVENT, Some("Kept")));
        // They count towards the property limit.
        let limits = EventLimits { max_properties: 1, ..EventLimits::new(Timestamp(NOW)) };
        let line = json!({"type": "page", "name": "P", "userId": "u", "timestamp": NOW, "properties": {"a": 1}});
        let err = parse_line(&line.to_string(), EventFormat::SegmentSpec, "line 2", &limits).unwrap_err();
        assert!(err.to_string().contains("2 properties"), "{err}");
    }

    #[test]
    fn a_line_mixing_native_and_segment_fields_is_refused_naming_them() {
        let line = r#"{"type":"track","event":"x","timestamp":"2024-05-01T10:00:00Z","identifiers":{"email":"e501@x.com"},"userId":"501","message_id":"q2","properties":{"amount":3}}"#;
        let limits = EventLimits::new(Timestamp(NOW));
        let err = parse_line(line, EventFormat::Auto, "line 1", &limits).unwrap_err().to_string();
        for needle in ["line 1", "field \"identifiers\"", "\"identifiers\", \"message_id\"", "\"userId\"", "one format"]
        {
            assert!(err.contains(needle), "{needle:?} missing: {err}");
        }
        let err = parse(json!({"type": "track", "event": "x", "messageId": "q1", "timestamp": NOW,
                               "identifiers": {"email": "a@b.c"}}))
        .unwrap_err()
        .to_string();
        assert!(err.contains("mixes native fields (\"identifiers\")") && err.contains("\"messageId\""), "{err}");
        // A read field in the wrong case is a typo, not ignored noise.
        let err = parse(json!({"type": "track", "event": "x", "userId": "u", "messageid": "q3", "timestamp": NOW}))
            .unwrap_err()
            .to_string();
        assert!(err.contains("field \"messageid\"") && err.contains("did you mean \"messageId\""), "{err}");
        // Export noise is still ignored.
        let ok = parse(json!({"type": "track", "event": "x", "userId": "u", "timestamp": NOW, "rudderId": "r",
                              "writeKey": "k", "context": {"ip": "1.2.3.4"}}));
        assert!(ok.is_ok(), "{ok:?}");
    }

    #[test]
    fn rejections_name_the_field() {
        let cases = [
            (json!({"type": "track", "userId": "u", "timestamp": 1_700_000_000_000_i64}), "\"event\": is required"),
            (
                json!({"type": "gruop", "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"type\": unknown type \"gruop\"",
            ),
            (json!({"type": "group", "userId": "u", "timestamp": 1_700_000_000_000_i64}), "\"groupId\": is required"),
            (
                json!({"type": "group", "userId": "u", "groupId": " ", "timestamp": 1_700_000_000_000_i64}),
                "\"groupId\": must not be empty",
            ),
            (
                json!({"type": "group", "userId": "u", "groupId": 1.5, "timestamp": 1_700_000_000_000_i64}),
                "\"groupId\": must be a string or an integer",
            ),
            (json!({"userId": "u", "timestamp": 1_700_000_000_000_i64}), "\"type\": is required"),
            (json!({"type": "page", "timestamp": 1_700_000_000_000_i64}), "no identifiers: give userId"),
            (json!({"type": "page", "userId": "", "timestamp": 1_700_000_000_000_i64}), "no identifiers: give userId"),
            (
                json!({"type": "page", "userId": [1], "timestamp": 1_700_000_000_000_i64}),
                "\"userId\": must be a string or an integer",
            ),
            (
                json!({"type": "page", "traits": {"email": "nope"}, "timestamp": 1_700_000_000_000_i64}),
                "\"traits.email\": invalid identifier",
            ),
            (
                json!({"type": "page", "userId": "u", "traits": {"email": 3}, "timestamp": 1_700_000_000_000_i64}),
                "\"traits.email\": must be a string",
            ),
            (
                json!({"type": "page", "userId": "", "context": {"traits": {"phone": "abc"}}, "timestamp": 1_700_000_000_000_i64}),
                "\"context.traits.phone\"",
            ),
            (
                json!({"type": "page", "userId": "u", "context": [], "timestamp": 1_700_000_000_000_i64}),
                "\"context\": must be an object",
            ),
            (
                json!({"type": "page", "userId": "u", "context": {"traits": 1}, "timestamp": 1_700_000_000_000_i64}),
                "\"context.traits\": must be an object",
            ),
            (
                json!({"type": "identify", "userId": "u", "traits": [1], "timestamp": 1_700_000_000_000_i64}),
                "\"traits\": must be an object",
            ),
            (
                json!({"type": "identify", "userId": "u", "traits": {"a/b": 1}, "timestamp": 1_700_000_000_000_i64}),
                "\"traits.a/b\"",
            ),
            (
                json!({"type": "alias", "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"previousId\": is required",
            ),
            (
                json!({"type": "alias", "userId": "u", "previousId": " ", "timestamp": 1_700_000_000_000_i64}),
                "\"previousId\": invalid identifier",
            ),
            (json!({"type": "page", "userId": "u"}), "field \"timestamp\" or \"originalTimestamp\" is required"),
            (
                json!({"type": "page", "userId": "u", "timestamp": "nope", "originalTimestamp": 5}),
                "\"timestamp\": \"nope\"",
            ),
            (
                json!({"type": "page", "userId": "u", "originalTimestamp": -1}),
                "\"originalTimestamp\": -1 ms is before 1970",
            ),
            (
                json!({"type": "track", "event": "x", "userId": "u", "timestamp": 1_700_000_000_000_i64, "properties": "x"}),
                "\"properties\": must be an object",
            ),
            (
                json!({"type": "page", "name": 1, "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"name\": must be a string",
            ),
            (
                json!({"type": "page", "category": ["a"], "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"category\": must be a string",
            ),
            (
                json!({"type": "page", "name": "", "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"name\": must not be empty",
            ),
            (
                json!({"type": "page", "Category": "a", "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "did you mean \"category\"",
            ),
            (
                json!({"type": "page", "userId": "u", "properties": 1, "timestamp": 1_700_000_000_000_i64}),
                "\"properties\": must be an object",
            ),
            (
                json!({"type": "page", "messageId": "", "userId": "u", "timestamp": 1_700_000_000_000_i64}),
                "\"messageId\": must not be empty",
            ),
        ];
        for (v, needle) in cases {
            let e = parse(v.clone()).unwrap_err().to_string();
            assert!(e.contains(needle), "{v}: {e:?} should contain {needle:?}");
            assert!(e.starts_with("invalid event line 2"), "{e}");
        }
        let e =
            parse(json!({"type": "track", "messageId": "ajs-9", "userId": "u", "timestamp": 1_700_000_000_000_i64}))
                .unwrap_err();
        assert!(e.to_string().starts_with("invalid event line 2 (message_id ajs-9): field \"event\""), "{e}");
    }
}
