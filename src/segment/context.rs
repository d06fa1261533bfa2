//! [`ProfileCtx`]: evaluation of segment expressions against one profile's
//! state inside a write operation (staged writes included).

use std::cell::OnceCell;
use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::property::PropertyValue;
use crate::event::Event;
use crate::profile::consent::{ConsentRecord, ConsentState};
use crate::profile::id::ProfileId;
use crate::profile::traits::Traits;
use crate::profile::value::TraitValue;
use crate::segment::{EvalContext, PropertyFilter};
use crate::txn::Txn;

/// Where a [`ProfileCtx`] reads a profile's state: a write operation
/// (staged writes included) or a read view.
pub(crate) trait Source {
    /// The profile's traits (`None`: not live).
    fn traits(&self, p: ProfileId) -> Result<Option<Traits>>;
    /// The identifiers linked to it.
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>>;
    /// Its timeline.
    fn events(&self, p: ProfileId) -> Result<Vec<Event>>;
    /// Whether it is a member of the named segment.
    fn member(&self, segment: &str, p: ProfileId) -> bool;
    /// Its consent record for a purpose, if any.
    fn consent(&self, p: ProfileId, purpose: &str) -> Result<Option<ConsentRecord>>;
}

impl Source for Txn<'_> {
    fn traits(&self, p: ProfileId) -> Result<Option<Traits>> {
        Ok(self.profile(p)?.map(|r| r.profile.traits.clone()))
    }
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>> {
        self.identifiers_of(p)
    }
    fn events(&self, p: ProfileId) -> Result<Vec<Event>> {
        self.events_of(p)
    }
    fn member(&self, segment: &str, p: ProfileId) -> bool {
        self.is_member_by_name(segment, p)
    }
    fn consent(&self, p: ProfileId, purpose: &str) -> Result<Option<ConsentRecord>> {
        Ok(self.profile(p)?.and_then(|r| r.profile.consent.get(purpose).cloned()))
    }
}

/// Committed state read through one view.
pub(crate) struct ReadSource<'v, 'a> {
    pub core: &'v crate::core::Core,
    pub view: &'v crate::storage::View<'a>,
}

impl Source for ReadSource<'_, '_> {
    fn traits(&self, p: ProfileId) -> Result<Option<Traits>> {
        let rec = crate::schema::PROFILES.get(self.view, &crate::keys::profile(p))?;
        Ok(rec.map(|r| r.profile.traits.clone()))
    }
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>> {
        crate::identity::graph::identifiers_of(self.view, p)
    }
    fn events(&self, p: ProfileId) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        for kv in self.view.prefix(crate::schema::EVENTS.name, &crate::keys::profile(p))? {
            let (k, v) = kv?;
            out.push(crate::schema::EVENTS.decode(&k, &v)?);
        }
        Ok(out)
    }
    fn member(&self, segment: &str, p: ProfileId) -> bool {
        self.core.segments.read_recursive().get(segment).is_some_and(|s| s.members.contains(p.0))
    }
    fn consent(&self, p: ProfileId, purpose: &str) -> Result<Option<ConsentRecord>> {
        let rec = crate::schema::PROFILES.get(self.view, &crate::keys::profile(p))?;
        Ok(rec.and_then(|r| r.profile.consent.get(purpose).cloned()))
    }
}

/// One profile's state as a segment evaluation sees it.
pub(crate) struct ProfileCtx<'t> {
    src: &'t dyn Source,
    profile: ProfileId,
    now: Timestamp,
    traits: Traits,
    kinds: BTreeSet<String>,
    events: OnceCell<Vec<Event>>,
    /// Set when loading the timeline failed; reported by [`ProfileCtx::finish`].
    error: std::cell::RefCell<Option<crate::Error>>,
}

impl<'t> ProfileCtx<'t> {
    /// The context of `profile` (live) at `now`.
    pub fn new(src: &'t dyn Source, profile: ProfileId, now: Timestamp) -> Result<Self> {
        let traits = src.traits(profile)?.unwrap_or_default();
        let kinds = src.identifiers(profile)?.into_iter().map(|i| i.kind().to_owned()).collect();
        Ok(ProfileCtx { src, profile, now, traits, kinds, events: OnceCell::new(), error: Default::default() })
    }

    fn events(&self) -> &[Event] {
        self.events.get_or_init(|| match self.src.events(self.profile) {
            Ok(e) => e,
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                Vec::new()
            }
        })
    }

    /// Any storage error met while evaluating (the evaluation is void then).
    pub fn finish(self) -> Result<()> {
        match self.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn selected<'e>(
        &'e self,
        event: &'e str,
        filter: &'e [PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> impl Iterator<Item = &'e Event> + 'e {
        self.events().iter().filter(move |e| {
            e.name == event
                && e.timestamp >= from
                && e.timestamp < to
                && filter.iter().all(|f| f.matches(e.property(&f.property).map(to_trait_value).as_ref()))
        })
    }
}

/// An event property as a trait value (objects and mixed lists become JSON text).
pub(crate) fn to_trait_value(v: &PropertyValue) -> TraitValue {
    match v {
        PropertyValue::Null => TraitValue::Null,
        PropertyValue::Bool(b) => TraitValue::Bool(*b),
        PropertyValue::Int(i) => TraitValue::Int(*i),
        PropertyValue::Float(f) => TraitValue::Float(*f),
        PropertyValue::Str(s) => TraitValue::Str(s.clone()),
        PropertyValue::List(items) if items.iter().all(|i| i.as_str().is_some()) => {
            TraitValue::List(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
        }
        other => TraitValue::Str(other.to_json().to_string()),
    }
}

impl EvalContext for ProfileCtx<'_> {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn trait_value(&self, name: &str) -> Option<TraitValue> {
        self.traits.get(name).cloned()
    }

    fn has_identifier_kind(&self, kind: &str) -> bool {
        self.kinds.contains(kind)
    }

    fn in_segment(&self, name: &str) -> bool {
        self.src.member(name, self.profile)
    }

    fn consent(&self, purpose: &str) -> Option<Option<Timestamp>> {
        match self.src.consent(self.profile, purpose) {
            Ok(Some(c)) if c.state == ConsentState::Granted => Some(c.expires_at),
            Ok(_) => None,
            Err(e) => {
                *self.error.borrow_mut() = Some(e);
                None
            }
        }
    }

    fn event_times(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        let mut out: Vec<Timestamp> = self.selected(event, filter, from, to).map(|e| e.timestamp).collect();
        out.sort_unstable();
        out
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
            .filter_map(|e| e.property(property).map(|v| (e.timestamp, to_trait_value(v))))
            .collect();
        out.sort_by_key(|(t, _)| *t);
        out
    }
}
