//! [`VecContext`]: a brute-force [`EvalContext`] over plain vectors.
//!
//! It is the reference semantics: a store's own context can be tested by
//! evaluating the same expressions against both and comparing.
//!
//! ```
//! use profiledb::segment::{evaluate, parse, testing::VecContext};
//! use profiledb::Timestamp;
//! const DAY: i64 = Timestamp::DAY;
//! let ctx = VecContext::new(Timestamp(40 * DAY))
//!     .with_event("purchase", Timestamp(20 * DAY), &[("amount", 30.into())]);
//! let r = evaluate(&parse("last(purchase) < now - 30d")?, &ctx);
//! assert!(!r.value);
//! assert_eq!(r.next_change, Some(Timestamp(50 * DAY + 1)));
//! # Ok::<(), profiledb::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};

use crate::clock::Timestamp;
use crate::profile::value::TraitValue;

use super::ast::PropertyFilter;
use super::eval::EvalContext;

/// One event of a [`VecContext`].
#[derive(Clone, Debug, PartialEq)]
pub struct TestEvent {
    /// The event name.
    pub name: String,
    /// When it happened.
    pub time: Timestamp,
    /// Its properties, by dotted name.
    pub properties: Vec<(String, TraitValue)>,
}

/// A profile held in memory, evaluated by scanning everything.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VecContext {
    /// The evaluation instant.
    pub now: Timestamp,
    /// Trait values by name.
    pub traits: BTreeMap<String, TraitValue>,
    /// Kinds of the identifiers the profile holds.
    pub identifier_kinds: BTreeSet<String>,
    /// Events, in any order.
    pub events: Vec<TestEvent>,
    /// Segments the profile is a member of.
    pub segments: BTreeSet<String>,
    /// Granted consents and their expiry (`None`: no expiry).
    pub consents: BTreeMap<String, Option<Timestamp>>,
}

impl VecContext {
    /// An empty profile evaluated at `now`.
    pub fn new(now: Timestamp) -> Self {
        VecContext { now, ..VecContext::default() }
    }

    /// The same profile evaluated at another instant.
    pub fn at(&self, now: Timestamp) -> Self {
        VecContext { now, ..self.clone() }
    }

    /// Sets a trait.
    pub fn with_trait(mut self, name: &str, value: impl Into<TraitValue>) -> Self {
        self.traits.insert(name.to_owned(), value.into());
        self
    }

    /// Adds an identifier kind.
    pub fn with_identifier_kind(mut self, kind: &str) -> Self {
        self.identifier_kinds.insert(kind.to_owned());
        self
    }

    /// Adds an event.
    pub fn with_event(mut self, name: &str, time: Timestamp, properties: &[(&str, TraitValue)]) -> Self {
        let properties = properties.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        self.events.push(TestEvent { name: name.to_owned(), time, properties });
        self
    }

    /// Makes the profile a member of a segment.
    pub fn with_segment(mut self, name: &str) -> Self {
        self.segments.insert(name.to_owned());
        self
    }

    /// Grants consent for a purpose, until `expiry` if given.
    pub fn with_consent(mut self, purpose: &str, expiry: Option<Timestamp>) -> Self {
        self.consents.insert(purpose.to_owned(), expiry);
        self
    }

    fn selected<'a>(
        &'a self,
        event: &'a str,
        filter: &'a [PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = &'a TestEvent> + 'a {
        self.events.iter().filter(move |e| {
            e.name == event && from <= e.time && e.time < to && PropertyFilter::matches_all(filter, &e.properties)
        })
    }
}

impl EvalContext for VecContext {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn trait_value(&self, name: &str) -> Option<TraitValue> {
        self.traits.get(name).cloned()
    }

    fn has_identifier_kind(&self, kind: &str) -> bool {
        self.identifier_kinds.contains(kind)
    }

    fn in_segment(&self, name: &str) -> bool {
        self.segments.contains(name)
    }

    fn consent(&self, purpose: &str) -> Option<Option<Timestamp>> {
        self.consents.get(purpose).copied()
    }

    fn event_times(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut times: Vec<Timestamp> = self.selected(event, filter, from, to).map(|e| e.time).collect();
        times.sort_unstable();
        times
    }

    fn property_values(
        &self,
        event: &str,
        property: &str,
        filter: &[PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, TraitValue)> {
        let mut out: Vec<(Timestamp, TraitValue)> = self
            .selected(event, filter, from, to)
            .filter_map(|e| {
                let value = e.properties.iter().find(|(k, _)| k == property)?;
                Some((e.time, value.1.clone()))
            })
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out
    }
}
