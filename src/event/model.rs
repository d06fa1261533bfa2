//! [`Event`] and [`EventKind`]: one parsed, validated event, in the form
//! it is stored in a timeline.
//!
//! The stored form is plain derived serde data (no `flatten`, no
//! `untagged`, no `serde_json::Value`), so it encodes with bincode;
//! properties use [`Properties`], this crate's own JSON-like tree.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::property::{Properties, PropertyValue};
use crate::identity::identifier::Identifier;
use crate::profile::delta::Cause;
use crate::profile::operator::{TraitOp, Update};
use crate::profile::value::TraitValue;

/// The longest event name accepted, in bytes.
pub const MAX_EVENT_NAME_BYTES: usize = 256;
/// The longest message id accepted, in bytes.
pub const MAX_MESSAGE_ID_BYTES: usize = 1024;

/// What an event is: the Segment Spec call types profiledb understands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// Something the person did (`Order Completed`); has a name and properties.
    Track,
    /// Who the person is: identifiers and traits.
    Identify,
    /// Links a previous identifier to the person's current ones.
    Alias,
    /// A web page view.
    Page,
    /// A mobile screen view.
    Screen,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 5] =
        [EventKind::Track, EventKind::Identify, EventKind::Alias, EventKind::Page, EventKind::Screen];

    /// The kind's name as written in the `type` field: `track`, `identify`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Track => "track",
            EventKind::Identify => "identify",
            EventKind::Alias => "alias",
            EventKind::Page => "page",
            EventKind::Screen => "screen",
        }
    }

    /// Whether events of this kind carry properties (track, page, screen).
    pub fn has_properties(self) -> bool {
        matches!(self, EventKind::Track | EventKind::Page | EventKind::Screen)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventKind {
    type Err = String;

    /// Parses a `type` field value (lowercase, exact).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| {
            format!("unknown type {:?} (expected track, identify, alias, page or screen)", crate::error::quote_input(s))
        })
    }
}

/// One event, parsed and validated.
///
/// Events from [`parse_line`](super::parse_line) satisfy every invariant
/// below; an event built by hand can be checked with [`Event::validate`].
///
/// - `identifiers` is non-empty, sorted and free of duplicates;
/// - `name` is non-empty: the event name for track, `identify` / `alias`
///   for those; for page and screen, `page` / `screen` as Segment Spec
///   import gives it (the page or screen name is property `name`), or the
///   native line's `event` (events imported before that mapping carry the
///   page name);
/// - `properties` is empty unless the kind [has properties](EventKind::has_properties);
/// - `traits` is empty unless the kind is identify; parsed traits are
///   [`TraitOp::Set`] operators sorted by name, nested JSON objects
///   flattened to dotted names (`{"address": {"city": "Oslo"}}` →
///   `address.city`);
/// - `previous_id` is set exactly when the kind is alias.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The sender's message id (used to drop duplicates), when given.
    pub message_id: Option<String>,
    /// The call type.
    pub kind: EventKind,
    /// The event name (see the invariants above).
    pub name: String,
    /// When the event happened (event time, not arrival time).
    pub timestamp: Timestamp,
    /// The person's identifiers, normalized.
    pub identifiers: Vec<Identifier>,
    /// Free-form properties (track, page, screen).
    pub properties: Properties,
    /// Trait operators (identify).
    pub traits: Vec<TraitOp>,
    /// The identifier being aliased (alias).
    pub previous_id: Option<Identifier>,
    /// Consent changes (identify), applied as one consent delta after the
    /// trait update. Not stored on the timeline: the delta records them.
    #[serde(skip)]
    pub consent: Vec<crate::profile::consent::ConsentOp>,
}

impl Event {
    /// An event with no message id, properties, traits or previous id.
    /// The name of identify and alias events should be the kind's name.
    /// The identifiers are sorted and deduplicated, as events keep them
    /// (add more with [`with_identifier`](Self::with_identifier), which
    /// keeps that order; identifiers pushed onto the field by hand must
    /// keep it too: ingest refuses an event whose identifiers are not).
    /// The `with_*` methods below set the other fields.
    pub fn new(
        kind: EventKind,
        name: impl Into<String>,
        timestamp: Timestamp,
        mut identifiers: Vec<Identifier>,
    ) -> Self {
        identifiers.sort();
        identifiers.dedup();
        Event {
            message_id: None,
            kind,
            name: name.into(),
            timestamp,
            identifiers,
            properties: Properties::new(),
            traits: Vec::new(),
            consent: Vec::new(),
            previous_id: None,
        }
    }

    /// The event with message id `id` (deduplication: a second event
    /// with the same id is acknowledged as a duplicate and changes
    /// nothing). Checked by [`validate`](Self::validate) and at ingest: 1
    /// to [`MAX_MESSAGE_ID_BYTES`] bytes, not blank.
    ///
    /// The builder methods make an event in code without touching its
    /// fields:
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{ProfileDb, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let now = db.now();
    /// let purchase = Event::new(EventKind::Track, "purchase", now, vec!["user_id:42".parse()?])
    ///     .with_identifier("email:ann@example.com".parse()?) // kept sorted: identifiers go in order
    ///     .with_message_id("m1")
    ///     .with_property("amount", 25)
    ///     .with_property("currency", "EUR");
    /// db.track(&purchase)?;
    /// let login = Event::new(EventKind::Identify, "identify", now.plus_ms(1), vec!["user_id:42".parse()?])
    ///     .with_trait("plan", "pro")
    ///     .with_trait_op(profiledb::TraitOp::Increment { name: "logins".into(), by: 1.into() });
    /// db.track(&login)?;
    /// let ann = db.get(&"email:ann@example.com".parse()?)?.expect("stitched");
    /// assert_eq!(ann.traits.get("plan"), Some(&"pro".into()));
    /// assert_eq!(db.query("sum(purchase.amount) = 25")?.count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// The event with the top-level property `name` set to `value` (any
    /// earlier value of that name is replaced; the name is not split at
    /// dots). Only track, page and screen events carry properties:
    /// [`validate`](Self::validate) and ingest refuse others.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind, PropertyValue};
    /// use profiledb::Timestamp;
    /// let e = Event::new(EventKind::Track, "purchase", Timestamp(1), vec!["user_id:1".parse()?])
    ///     .with_property("amount", 25)
    ///     .with_property("coupon", true);
    /// assert_eq!(e.property_f64("amount"), Some(25.0));
    /// assert_eq!(e.property("coupon"), Some(&PropertyValue::Bool(true)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_property(mut self, name: impl Into<String>, value: impl Into<PropertyValue>) -> Self {
        self.properties.insert(name, value);
        self
    }

    /// The event with a [`TraitOp::Set`] of trait `name` to `value`
    /// appended (identify events only: others are refused by
    /// [`validate`](Self::validate) and ingest). Operators apply in the
    /// order given; the name is checked at ingest.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{Timestamp, TraitOp};
    /// let e = Event::new(EventKind::Identify, "identify", Timestamp(1), vec!["user_id:1".parse()?])
    ///     .with_trait("plan", "pro")
    ///     .with_trait_op(TraitOp::Unset { name: "trial".into() });
    /// assert_eq!(e.traits.len(), 2);
    /// assert!(e.validate().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_trait(self, name: impl Into<String>, value: impl Into<TraitValue>) -> Self {
        self.with_trait_op(TraitOp::Set { name: name.into(), value: value.into() })
    }

    /// The event with any trait operator appended (`SetOnce`,
    /// `Increment`, ...; identify events only), applied after the ones
    /// before it.
    #[must_use]
    pub fn with_trait_op(mut self, op: TraitOp) -> Self {
        self.traits.push(op);
        self
    }

    /// The event with identifier `id` added in its sorted place, as
    /// events keep them; an identifier it already has is not added twice.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::Timestamp;
    /// let e = Event::new(EventKind::Track, "x", Timestamp(1), vec!["user_id:9".parse()?])
    ///     .with_identifier("email:a@b.c".parse()?)
    ///     .with_identifier("user_id:9".parse()?);
    /// let ids: Vec<String> = e.identifiers.iter().map(ToString::to_string).collect();
    /// assert_eq!(ids, ["email:a@b.c", "user_id:9"]);
    /// assert!(e.validate().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_identifier(mut self, id: Identifier) -> Self {
        if let Err(at) = self.identifiers.binary_search(&id) {
            self.identifiers.insert(at, id);
        }
        self
    }

    /// The event with its previous id (alias events: the identifier being
    /// linked to the person's current ones).
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::Timestamp;
    /// let e = Event::new(EventKind::Alias, "alias", Timestamp(1), vec!["user_id:new".parse()?])
    ///     .with_previous_id("anonymous_id:a-1".parse()?);
    /// assert!(e.validate().is_ok());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn with_previous_id(mut self, id: Identifier) -> Self {
        self.previous_id = Some(id);
        self
    }

    /// The property at a dotted path (see [`Properties::get_path`]).
    pub fn property(&self, path: &str) -> Option<&PropertyValue> {
        self.properties.get_path(path)
    }

    /// The number at a dotted property path, as `f64`.
    pub fn property_f64(&self, path: &str) -> Option<f64> {
        self.properties.get_f64(path)
    }

    /// The delta cause recording this event in profile history.
    pub fn cause(&self) -> Cause {
        Cause::Event { message_id: self.message_id.clone(), name: self.name.clone() }
    }

    /// The identifiers stitching resolves for this event: its identifiers
    /// and, for an alias, the previous id (what
    /// [`IdentityRules::check_identifiers`](crate::IdentityRules::check_identifiers)
    /// is given for it).
    pub fn stitch_identifiers(&self) -> Vec<Identifier> {
        let mut ids = Vec::with_capacity(self.identifiers.len() + 1);
        ids.extend_from_slice(&self.identifiers);
        ids.extend(self.previous_id.iter().cloned());
        ids
    }

    /// The profile update this event makes: its trait operators, caused by
    /// the event. Empty for every kind but identify.
    pub fn update(&self) -> Update {
        Update::from_ops(self.traits.clone()).cause(self.cause())
    }

    /// Checks the invariants listed on [`Event`], and every trait operator.
    /// Sorts and deduplicates nothing: an event that is not canonical is
    /// refused, naming the field.
    pub fn validate(&self) -> Result<()> {
        // The label is formatted only for an error (validation runs on every ingested event).
        let bad = |message: String| Err(Error::InvalidEvent { at: self.label(), message });
        if let Some(m) = &self.message_id {
            if let Err(reason) = check_message_id(m) {
                return bad(format!("field \"message_id\": {reason}"));
            }
        }
        if let Err(reason) = check_event_name(&self.name) {
            return bad(format!("field \"name\": {reason}"));
        }
        if self.identifiers.is_empty() {
            return bad("no identifiers: an event needs at least one".into());
        }
        if self.identifiers.windows(2).any(|w| w[0] >= w[1]) {
            return bad("field \"identifiers\": must be sorted and free of duplicates".into());
        }
        if !self.kind.has_properties() && !self.properties.is_empty() {
            return bad(format!("field \"properties\": {} events carry no properties", self.kind));
        }
        if let Some(path) = self.properties.first_non_finite() {
            return bad(format!(
                "field \"properties.{}\": a number must be finite (NaN and infinities would poison sums and averages)",
                crate::error::quote_input(&path)
            ));
        }
        if self.kind != EventKind::Identify && !self.traits.is_empty() {
            return bad(format!("field \"traits\": only identify events carry traits, this is {}", self.kind));
        }
        match (self.kind, &self.previous_id) {
            (EventKind::Alias, None) => return bad("field \"previous_id\": an alias event needs one".into()),
            (EventKind::Alias, Some(_)) | (_, None) => {}
            (kind, Some(_)) => {
                return bad(format!("field \"previous_id\": only alias events carry one, this is {kind}"))
            }
        }
        if self.kind != EventKind::Identify && !self.consent.is_empty() {
            return bad(format!("field \"consent\": only identify events carry consent, this is {}", self.kind));
        }
        for op in &self.consent {
            // The expiry is checked against the database clock at ingest.
            op.validate(Timestamp(i64::MIN)).map_err(|e| Error::InvalidEvent {
                at: self.label(),
                message: format!("field \"consent.{}\": {e}", crate::error::quote_input(&op.purpose)),
            })?;
        }
        for op in &self.traits {
            op.validate().map_err(|e| Error::InvalidEvent {
                at: self.label(),
                message: format!("field \"traits.{}\": {e}", crate::error::quote_input(op.name())),
            })?;
        }
        Ok(())
    }
}

impl Event {
    /// How errors name the event: its message id, else its kind and name.
    fn label(&self) -> String {
        match &self.message_id {
            Some(m) => format!("message_id {}", crate::error::quote_input(m)),
            None => format!("{} {:?}", self.kind, crate::error::quote_input(&self.name)),
        }
    }

    /// Checks the timestamp against `limits`: not before 1970, not more
    /// than `limits.max_future_skew_ms` after `limits.now` (the checks the
    /// line parsers make, for events built in code).
    pub fn check_time(&self, limits: &crate::event::EventLimits) -> Result<()> {
        limits.check_time(self.timestamp).map_err(|reason| Error::InvalidEvent {
            at: self.label(),
            message: format!("field \"timestamp\": {reason}"),
        })
    }
}

/// A message id is 1..=[`MAX_MESSAGE_ID_BYTES`] bytes.
pub(crate) fn check_message_id(m: &str) -> std::result::Result<(), String> {
    if m.trim().is_empty() {
        Err("must not be empty".into())
    } else if m.len() > MAX_MESSAGE_ID_BYTES {
        Err(format!("is {} bytes, the limit is {MAX_MESSAGE_ID_BYTES}", m.len()))
    } else {
        Ok(())
    }
}

/// An event name is 1..=[`MAX_EVENT_NAME_BYTES`] bytes and not only whitespace.
pub(crate) fn check_event_name(name: &str) -> std::result::Result<(), String> {
    if name.trim().is_empty() {
        Err("must not be empty".into())
    } else if name.len() > MAX_EVENT_NAME_BYTES {
        Err(format!("is {} bytes, the limit is {MAX_EVENT_NAME_BYTES}", name.len()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identifier {
        s.parse().unwrap()
    }

    fn sample() -> Event {
        let mut e = Event::new(EventKind::Track, "Order Completed", Timestamp(1_000), vec![id("user_id:42")]);
        e.message_id = Some("m-1".into());
        e.properties = Properties::from_json(&serde_json::json!({"total": 12.5, "items": [{"sku": "a"}]})).unwrap();
        e
    }

    #[test]
    fn non_finite_numbers_in_properties_are_refused_with_their_path() {
        use crate::event::property::PropertyValue;
        let mut e = sample();
        e.properties.insert("x", PropertyValue::Float(f64::NAN));
        let err = e.validate().unwrap_err().to_string();
        assert!(err.contains("\"properties.x\": a number must be finite"), "{err}");
        let mut e = sample();
        let nested = PropertyValue::List(vec![PropertyValue::Int(1), PropertyValue::Float(f64::NEG_INFINITY)]);
        e.properties.insert("cart", PropertyValue::Object([("prices".to_owned(), nested)].into_iter().collect()));
        let err = e.validate().unwrap_err().to_string();
        assert!(err.contains("\"properties.cart.prices[1]\""), "{err}");
        assert!(sample().validate().is_ok());
    }

    #[test]
    fn new_events_keep_their_identifiers_sorted_and_distinct() {
        let e =
            Event::new(EventKind::Track, "x", Timestamp(1), vec![id("user_id:9"), id("email:a@b.c"), id("user_id:9")]);
        assert_eq!(e.identifiers, vec![id("email:a@b.c"), id("user_id:9")]);
        assert!(e.validate().is_ok());
    }

    #[test]
    fn builder_methods_set_fields_and_keep_identifiers_canonical() {
        let e = Event::new(EventKind::Track, "buy", Timestamp(1), vec![id("user_id:5")])
            .with_identifier(id("phone:+15550100"))
            .with_identifier(id("anonymous_id:z"))
            .with_identifier(id("user_id:5"))
            .with_identifier(id("email:a@b.c"))
            .with_message_id("m-7")
            .with_property("amount", 25)
            .with_property("amount", 30.5)
            .with_property("sku", "p-1");
        let ids: Vec<String> = e.identifiers.iter().map(ToString::to_string).collect();
        assert_eq!(ids, ["anonymous_id:z", "email:a@b.c", "phone:+15550100", "user_id:5"]);
        assert_eq!(e.message_id.as_deref(), Some("m-7"));
        assert_eq!(e.property_f64("amount"), Some(30.5), "a later value replaces an earlier one");
        assert_eq!(e.properties.get_str("sku"), Some("p-1"));
        e.validate().unwrap();
        let i = Event::new(EventKind::Identify, "identify", Timestamp(1), vec![id("user_id:5")])
            .with_trait("plan", "pro")
            .with_trait_op(TraitOp::Increment { name: "logins".into(), by: TraitValue::Int(1) });
        assert_eq!(
            i.traits,
            [
                TraitOp::Set { name: "plan".into(), value: TraitValue::Str("pro".into()) },
                TraitOp::Increment { name: "logins".into(), by: TraitValue::Int(1) }
            ]
        );
        i.validate().unwrap();
        // The builder does not make a wrong kind right: validation still names the field.
        let wrong = Event::new(EventKind::Track, "x", Timestamp(1), vec![id("user_id:5")]).with_trait("a", 1);
        assert!(wrong.validate().unwrap_err().to_string().contains("\"traits\""));
        let alias = Event::new(EventKind::Alias, "alias", Timestamp(1), vec![id("user_id:5")])
            .with_previous_id(id("user_id:4"));
        alias.validate().unwrap();
    }

    #[test]
    fn kinds_parse_and_print() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>(), Ok(k));
        }
        let err = "group".parse::<EventKind>().unwrap_err();
        assert!(err.contains("\"group\"") && err.contains("track, identify"), "{err}");
        assert!("Track".parse::<EventKind>().is_err());
    }

    #[test]
    fn bincode_round_trip() {
        let config = bincode::config::standard().with_little_endian().with_variable_int_encoding();
        let mut identify = Event::new(EventKind::Identify, "identify", Timestamp(5), vec![id("email:a@b.c")]);
        identify.traits = vec![TraitOp::Set { name: "address.city".into(), value: TraitValue::Str("Oslo".into()) }];
        let mut alias = Event::new(EventKind::Alias, "alias", Timestamp(6), vec![id("user_id:2")]);
        alias.previous_id = Some(id("user_id:1"));
        for e in [sample(), identify, alias] {
            let bytes = bincode::serde::encode_to_vec(&e, config).unwrap();
            let (back, _): (Event, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn json_serde_round_trip() {
        let e = sample();
        let text = serde_json::to_string(&e).unwrap();
        assert!(text.contains(r#""kind":"track""#) && text.contains(r#""total":12.5"#), "{text}");
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), e);
    }

    #[test]
    fn accessors_cause_and_update() {
        let e = sample();
        assert_eq!(e.property_f64("total"), Some(12.5));
        assert_eq!(e.property("items").map(PropertyValue::type_name), Some("list"));
        assert_eq!(e.cause(), Cause::Event { message_id: Some("m-1".into()), name: "Order Completed".into() });
        assert!(e.update().is_empty());
    }

    #[test]
    fn validate_accepts_canonical_events() {
        sample().validate().unwrap();
    }

    #[test]
    fn validate_names_the_broken_field() {
        type Breaker = fn(&mut Event);
        let cases: Vec<(Breaker, &str)> = vec![
            (|e| e.identifiers.clear(), "no identifiers"),
            (|e| e.identifiers = vec![id("user_id:2"), id("user_id:1")], "\"identifiers\""),
            (|e| e.name = " ".into(), "\"name\""),
            (|e| e.name = "x".repeat(MAX_EVENT_NAME_BYTES + 1), "\"name\""),
            (|e| e.message_id = Some(String::new()), "\"message_id\""),
            (|e| e.previous_id = Some(id("user_id:1")), "\"previous_id\""),
            (|e| e.traits = vec![TraitOp::Unset { name: "a".into() }], "\"traits\""),
            (
                |e| {
                    e.kind = EventKind::Alias;
                    e.properties = Properties::new();
                },
                "\"previous_id\"",
            ),
            (|e| e.kind = EventKind::Identify, "\"properties\""),
            (
                |e| {
                    e.kind = EventKind::Identify;
                    e.properties = Properties::new();
                    e.traits = vec![TraitOp::Set { name: "a b".into(), value: TraitValue::Int(1) }];
                },
                "\"traits.a b\"",
            ),
        ];
        for (break_it, field) in cases {
            let mut e = sample();
            break_it(&mut e);
            let err = e.validate().unwrap_err().to_string();
            assert!(err.contains(field), "{err} should mention {field}");
            assert!(err.contains("message_id m-1") || err.contains("message_id\""), "{err}");
        }
    }
}
