//! [`ProfileCtx`]: evaluation of segment expressions against one profile's
//! state inside a write operation (staged writes included) or a read view.
//!
//! Everything is read lazily and at most once per context: the profile
//! record (shared, not cloned), the identifier kinds (only for `has`),
//! and per series the all-time accumulator. Windowed rollup conditions
//! over events of one name (`count(purchase, 30d)`, `sum(purchase.amount,
//! 7d)` when a rollup accumulates `amount`, `last(e)`, `active_days(e,
//! 28d)`) are answered from the rollup day buckets
//! ([`crate::rollup::range`]) — with a filter too when a declared rollup
//! has the same one (`count(page_view where page = "/pricing", 7d)`
//! beside a rollup of page views filtered on `page = "/pricing"`); other
//! event conditions read only the events of their name in their time
//! range from the timeline.

use std::cell::{OnceCell, RefCell};
use std::collections::BTreeSet;

use foldhash::HashMap;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::property::PropertyValue;
use crate::event::Event;
use crate::profile::consent::ConsentState;
use crate::profile::id::ProfileId;
use crate::profile::state::Profile;
use crate::profile::value::TraitValue;
use crate::rollup::range::{self, BucketSource, Series};
use crate::rollup::Acc;
use crate::segment::{
    default_aggregate, default_any_event, AggValue, Aggregate, EvalContext, EventSelector, Expr, Metric, PropertyFilter,
};
use crate::txn::Txn;

/// Where a [`ProfileCtx`] reads a profile's state: a write operation
/// (staged writes included) or a read view.
pub(crate) trait Source: BucketSource {
    /// The profile's current state (`None`: not live).
    fn profile(&self, p: ProfileId) -> Result<Option<Arc<Profile>>>;
    /// The identifiers linked to it.
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>>;
    /// Whether it is a member of the named segment.
    fn member(&self, segment: &str, p: ProfileId) -> bool;
    /// The series of the events `filter` selects of `event`, accumulating
    /// `property` (`None`: counts and times only), when rollup buckets may
    /// answer for the timeline (timelines enabled, so partial days can be
    /// read).
    fn series(&self, event: &str, property: Option<&str>, filter: &[PropertyFilter]) -> Option<u32>;
    /// Whether the timeline is kept, i.e. buckets and timeline agree.
    fn timeline_kept(&self) -> bool;
}

impl BucketSource for Txn<'_> {
    fn all_time(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        self.rollup_all_time(p, series, days)
    }
    fn days(&self, p: ProfileId, series: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>> {
        self.rollup_days(p, series, from_day, to_day)
    }
    fn events(&self, p: ProfileId, name: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        self.events_in(p, name, from, to)
    }
    fn retired(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        self.rollup_retired(p, series, days)
    }
    fn timeline_floor(&self, p: ProfileId) -> i64 {
        Txn::timeline_floor(self, p)
    }
    fn bucket_floor_day(&self) -> i64 {
        self.core.retention.bucket_day()
    }
}

impl Source for Txn<'_> {
    fn profile(&self, p: ProfileId) -> Result<Option<Arc<Profile>>> {
        Ok(Txn::profile(self, p)?.map(|r| r.profile.clone()))
    }
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>> {
        self.identifiers_of(p)
    }
    fn member(&self, segment: &str, p: ProfileId) -> bool {
        self.is_member_by_name(segment, p)
    }
    fn series(&self, event: &str, property: Option<&str>, filter: &[PropertyFilter]) -> Option<u32> {
        match filter {
            [] => self.plain_series(event, property),
            _ => filtered_series(&self.core.rollups.read(), event, property, filter),
        }
    }
    fn timeline_kept(&self) -> bool {
        self.core.config.timeline_retention_ms > 0
    }
}

/// Committed state read through one view.
pub(crate) struct ReadSource<'v, 'a> {
    pub core: &'v crate::core::Core,
    pub view: &'v crate::storage::View<'a>,
    /// The segment bitmaps that agree with `view`, when the reader holds
    /// them (a query, `check_segments`); else memberships are read from
    /// the current ones.
    pub bitmaps: Option<&'v crate::segment::state::SegmentState>,
}

impl BucketSource for ReadSource<'_, '_> {
    fn all_time(&self, p: ProfileId, series: u32, _days: bool) -> Result<Acc> {
        crate::rollup::store::read_all_time(self.view, p, series)
    }
    fn days(&self, p: ProfileId, series: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>> {
        let mut out = Vec::new();
        crate::rollup::store::read_days(self.view, p, series, from_day, to_day, &mut out)?;
        Ok(out)
    }
    fn events(&self, p: ProfileId, name: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        crate::rollup::store::read_timeline(self.view, p, name, from, to, &mut out)?;
        Ok(out)
    }
    fn retired(&self, p: ProfileId, series: u32, _days: bool) -> Result<Acc> {
        crate::rollup::store::read_retired(self.view, p, series)
    }
    fn timeline_floor(&self, _p: ProfileId) -> i64 {
        self.core.retention.timeline_ms()
    }
    fn bucket_floor_day(&self) -> i64 {
        self.core.retention.bucket_day()
    }
}

impl Source for ReadSource<'_, '_> {
    fn profile(&self, p: ProfileId) -> Result<Option<Arc<Profile>>> {
        let rec = crate::schema::PROFILES.get(self.view, &crate::keys::profile(p))?;
        Ok(rec.map(|r| r.profile))
    }
    fn identifiers(&self, p: ProfileId) -> Result<Vec<crate::identity::identifier::Identifier>> {
        crate::identity::graph::identifiers_of(self.view, p)
    }
    fn member(&self, segment: &str, p: ProfileId) -> bool {
        let member =
            |state: &crate::segment::state::SegmentState| state.get(segment).is_some_and(|s| s.members.contains(p.0));
        match self.bitmaps {
            Some(state) => member(state),
            None => member(&self.core.segments.read_recursive()),
        }
    }
    fn series(&self, event: &str, property: Option<&str>, filter: &[PropertyFilter]) -> Option<u32> {
        filtered_series(&self.core.rollups.read(), event, property, filter)
    }
    fn timeline_kept(&self) -> bool {
        self.core.config.timeline_retention_ms > 0
    }
}

/// One profile's state as a segment evaluation sees it.
pub(crate) struct ProfileCtx<'t> {
    src: &'t dyn Source,
    profile: ProfileId,
    now: Timestamp,
    state: Option<Arc<Profile>>,
    kinds: OnceCell<BTreeSet<String>>,
    /// Answer event conditions from rollup buckets where a series fits.
    buckets: bool,
    /// All-time accumulators read so far, by series and whether they hold
    /// active days.
    all_time: RefCell<HashMap<(u32, bool), Acc>>,
    /// Bucket-backed answers computed so far (see [`Memo`]).
    memo: Memo,
    /// Memberships changed by the pass using this context, by segment name.
    overlay: RefCell<Vec<(String, bool)>>,
    /// Set when a read failed; reported by [`ProfileCtx::finish`].
    error: RefCell<Option<crate::Error>>,
}

impl<'t> ProfileCtx<'t> {
    /// The context of `profile` at `now`.
    pub fn new(src: &'t dyn Source, profile: ProfileId, now: Timestamp) -> Result<Self> {
        let buckets = src.timeline_kept();
        Ok(ProfileCtx {
            src,
            profile,
            now,
            state: src.profile(profile)?,
            kinds: OnceCell::new(),
            buckets,
            all_time: RefCell::default(),
            memo: Memo::default(),
            overlay: RefCell::default(),
            error: RefCell::default(),
        })
    }

    /// A context that reads every event condition from the timeline (the
    /// reference the bucket answers are tested against).
    #[cfg(test)]
    pub fn timeline_only(src: &'t dyn Source, profile: ProfileId, now: Timestamp) -> Result<Self> {
        let mut ctx = ProfileCtx::new(src, profile, now)?;
        ctx.buckets = false;
        Ok(ctx)
    }

    /// Records that this pass changed the profile's membership of `segment`
    /// (later evaluations through this context see it).
    pub fn set_member(&self, segment: &str, member: bool) {
        let mut o = self.overlay.borrow_mut();
        match o.iter_mut().find(|(s, _)| s == segment) {
            Some(entry) => entry.1 = member,
            None => o.push((segment.to_owned(), member)),
        }
    }

    /// Any storage error met while evaluating (the evaluation is void then).
    pub fn finish(self) -> Result<()> {
        match self.error.into_inner() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The first read error met since the last call (the evaluation that
    /// met it is void), so a caller evaluating several segments can say
    /// which one failed.
    pub fn take_error(&self) -> Option<crate::Error> {
        self.error.borrow_mut().take()
    }

    /// Keeps the first error; the caller's evaluation is void anyway.
    fn failed<T: Default>(&self, e: crate::Error) -> T {
        self.error.borrow_mut().get_or_insert(e);
        T::default()
    }

    fn events(&self, event: &str, from: Timestamp, to: Timestamp) -> Vec<Event> {
        self.src.events(self.profile, event, from, to).unwrap_or_else(|e| self.failed(e))
    }

    fn selected(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Event> {
        let mut events = self.events(event, from, to);
        events.retain(|e| passes(filter, e));
        events
    }

    /// The bucket-backed series that answers `metric` over `events`, if any.
    fn series_for<'m>(&self, metric: &'m Metric, events: &'m EventSelector) -> Option<Series<'m>> {
        if !self.buckets {
            return None;
        }
        bucket_series(self.src, metric, events)
    }

    /// A source that serves all-time reads from this context's cache.
    fn cached(&self) -> Cached<'_, 't> {
        Cached { ctx: self }
    }
}

/// The answers a context read from rollup buckets, by series: segments
/// evaluated in one pass often ask the same (`count(purchase, 30d)` in two
/// segments, the next purchase after now in every condition on purchases),
/// and nothing they read changes during the pass. Few entries: searched in
/// order.
#[derive(Default)]
struct Memo {
    /// [`range::stats_in`] by series, whether with active days, and range.
    stats: RefCell<Entries<(u32, bool, i64, i64), Acc>>,
    /// [`range::next_after`] by series and instant.
    next: RefCell<Entries<(u32, i64), Option<Timestamp>>>,
    /// [`range::any_in`] by series and range.
    any: RefCell<Entries<(u32, i64, i64), bool>>,
}

/// Memoized answers by key, in the order computed.
type Entries<K, V> = Vec<(K, V)>;

/// The memoized answer for `key` in `entries`, else `compute`'s (kept
/// unless it failed).
fn memoized<K: PartialEq + Copy, V: Clone>(
    entries: &RefCell<Entries<K, V>>,
    key: K,
    compute: impl FnOnce() -> Result<V>,
) -> Result<V> {
    if let Some((_, v)) = entries.borrow().iter().find(|(k, _)| *k == key) {
        return Ok(v.clone());
    }
    let v = compute()?;
    entries.borrow_mut().push((key, v.clone()));
    Ok(v)
}

/// [`BucketSource`] over a context's source, caching all-time reads.
struct Cached<'c, 't> {
    ctx: &'c ProfileCtx<'t>,
}

impl BucketSource for Cached<'_, '_> {
    fn all_time(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        if let Some(a) = self.ctx.all_time.borrow().get(&(series, days)) {
            return Ok(a.clone());
        }
        let acc = self.ctx.src.all_time(p, series, days)?;
        self.ctx.all_time.borrow_mut().insert((series, days), acc.clone());
        Ok(acc)
    }
    fn days(&self, p: ProfileId, series: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>> {
        self.ctx.src.days(p, series, from_day, to_day)
    }
    fn events(&self, p: ProfileId, name: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        self.ctx.src.events(p, name, from, to)
    }
    fn retired(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        self.ctx.src.retired(p, series, days)
    }
    fn timeline_floor(&self, p: ProfileId) -> i64 {
        self.ctx.src.timeline_floor(p)
    }
    fn bucket_floor_day(&self) -> i64 {
        self.ctx.src.bucket_floor_day()
    }
}

/// The bucket-backed series that answers `metric` over `events`, if any
/// (with timelines kept; see [`ProfileCtx::series_for`]).
fn bucket_series<'m>(src: &dyn Source, metric: &'m Metric, events: &'m EventSelector) -> Option<Series<'m>> {
    if matches!(metric, Metric::Distinct(_)) {
        return None;
    }
    let property = metric.property();
    let id = src.series(&events.event, property, &events.filter)?;
    let days = matches!(metric, Metric::ActiveDays);
    Some(Series { id, event: &events.event, property, filter: &events.filter, days })
}

/// The series whose buckets evaluating `expr` reads through `src`
/// (ascending, once each): what a backfill loads ahead of its evaluations.
pub(crate) fn series_read(src: &dyn Source, expr: &Expr) -> Vec<u32> {
    fn walk(src: &dyn Source, e: &Expr, out: &mut Vec<u32>) {
        let mut add =
            |metric: &Metric, events: &EventSelector| out.extend(bucket_series(src, metric, events).map(|s| s.id));
        match e {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|c| walk(src, c, out)),
            Expr::Not(inner) => walk(src, inner, out),
            // The metric itself, and the count that `next_event_after` reads.
            Expr::Rollup(r) => {
                add(&r.metric, &r.events);
                add(&Metric::Count, &r.events);
            }
            Expr::Seq(s) => {
                add(&Metric::Count, &s.first);
                add(&Metric::Count, &s.then);
            }
            Expr::Trait(_) | Expr::Has(_) | Expr::InSegment(_) | Expr::Consent(_) => {}
        }
    }
    let mut out = Vec::new();
    if src.timeline_kept() {
        walk(src, expr, &mut out);
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// A metric's value from the statistics of the selected events.
fn aggregate_of(metric: &Metric, acc: &Acc) -> Aggregate {
    let number = |x: f64| Some(AggValue::Number(x));
    let value = match metric {
        Metric::Count => number(acc.count as f64),
        Metric::Sum(_) => number(acc.sum.value()),
        Metric::Min(_) => acc.min.and_then(number),
        Metric::Max(_) => acc.max.and_then(number),
        Metric::Avg(_) => (acc.numeric > 0).then(|| AggValue::Number(acc.sum.value() / acc.numeric as f64)),
        Metric::ActiveDays => number(acc.days.len() as f64),
        Metric::First => acc.first.map(|t| AggValue::Time(Timestamp(t))),
        Metric::Last => acc.last.map(|t| AggValue::Time(Timestamp(t))),
        // Not answered from buckets (see `ProfileCtx::series_for`).
        Metric::Distinct(_) => None,
    };
    Aggregate { value, earliest: acc.first.map(Timestamp) }
}

/// Whether `e` passes every filter.
pub(crate) fn passes(filter: &[PropertyFilter], e: &Event) -> bool {
    filter.iter().all(|f| f.matches(e.property(&f.property).map(to_trait_value).as_ref()))
}

/// The series of `event` accumulating `property` that holds exactly the
/// events `filter` selects, if one is declared.
pub(crate) fn filtered_series(
    reg: &crate::rollup::registry::Registry,
    event: &str,
    property: Option<&str>,
    filter: &[PropertyFilter],
) -> Option<u32> {
    reg.series_where(event, property, |f| crate::segment::compare::same_events(filter, f))
}

/// An event property as a trait value (objects and mixed lists become JSON text).
pub(crate) fn to_trait_value(v: &PropertyValue) -> TraitValue {
    match v {
        PropertyValue::Null => TraitValue::Null,
        PropertyValue::Bool(b) => TraitValue::Bool(*b),
        PropertyValue::Int(i) => TraitValue::Int(*i),
        PropertyValue::Float(f) => TraitValue::Float(*f),
        PropertyValue::Str(s) => TraitValue::Str(s.as_str().into()),
        PropertyValue::List(items) if items.iter().all(|i| i.as_str().is_some()) => {
            TraitValue::List(items.iter().filter_map(|i| i.as_str().map(str::to_owned)).collect())
        }
        other => TraitValue::Str(other.to_json().to_string().into()),
    }
}

impl EvalContext for ProfileCtx<'_> {
    fn now(&self) -> Timestamp {
        self.now
    }

    fn trait_value(&self, name: &str) -> Option<TraitValue> {
        self.state.as_ref()?.traits.get(name).cloned()
    }

    fn has_identifier_kind(&self, kind: &str) -> bool {
        let kinds = self.kinds.get_or_init(|| match self.src.identifiers(self.profile) {
            Ok(ids) => ids.into_iter().map(|i| i.kind().to_owned()).collect(),
            Err(e) => self.failed(e),
        });
        kinds.contains(kind)
    }

    fn in_segment(&self, name: &str) -> bool {
        if let Some((_, m)) = self.overlay.borrow().iter().find(|(s, _)| s == name) {
            return *m;
        }
        self.src.member(name, self.profile)
    }

    fn consent(&self, purpose: &str) -> Option<Option<Timestamp>> {
        let c = self.state.as_ref()?.consent.get(purpose)?;
        (c.state == ConsentState::Granted).then_some(c.expires_at)
    }

    fn event_times(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        self.selected(event, filter, from, to).iter().map(|e| e.timestamp).collect()
    }

    fn property_values(
        &self,
        event: &str,
        property: &str,
        filter: &[PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, TraitValue)> {
        self.selected(event, filter, from, to)
            .iter()
            .filter_map(|e| e.property(property).map(|v| (e.timestamp, to_trait_value(v))))
            .collect()
    }

    fn aggregate(&self, metric: &Metric, events: &EventSelector, from: Timestamp, to: Timestamp) -> Aggregate {
        let Some(series) = self.series_for(metric, events) else {
            return default_aggregate(self, metric, events, from, to);
        };
        let key = (series.id, series.days, from.0, to.0);
        if let Some((_, acc)) = self.memo.stats.borrow().iter().find(|(k, _)| *k == key) {
            return aggregate_of(metric, acc);
        }
        match range::stats_in(&self.cached(), self.profile, series, from, to) {
            Ok(acc) => {
                let out = aggregate_of(metric, &acc);
                self.memo.stats.borrow_mut().push((key, acc));
                out
            }
            Err(e) => self.failed(e),
        }
    }

    fn any_event(&self, events: &EventSelector, from: Timestamp, to: Timestamp) -> bool {
        let Some(series) = self.series_for(&Metric::Count, events) else {
            return default_any_event(self, events, from, to);
        };
        let key = (series.id, from.0, to.0);
        memoized(&self.memo.any, key, || range::any_in(&self.cached(), self.profile, series, from, to))
            .unwrap_or_else(|e| self.failed(e))
    }

    fn timeline_floor(&self) -> Timestamp {
        Timestamp(self.src.timeline_floor(self.profile))
    }

    fn next_event_after(&self, events: &EventSelector, after: Timestamp) -> Option<Timestamp> {
        match self.series_for(&Metric::Count, events) {
            Some(series) => memoized(&self.memo.next, (series.id, after.0), || {
                range::next_after(&self.cached(), self.profile, series, after)
            })
            .unwrap_or_else(|e| self.failed(e)),
            None => {
                let from = Timestamp(after.0.saturating_add(1));
                self.event_times(&events.event, &events.filter, from, Timestamp(i64::MAX)).first().copied()
            }
        }
    }
}
