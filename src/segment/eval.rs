//! Evaluating an expression for one profile, and when to look again.
//!
//! [`evaluate`] reads the profile through an [`EvalContext`] (storage
//! implements it over RocksDB and rollup buckets; [`VecContext`] is the
//! brute-force reference) and returns the value together with
//! [`Evaluation::next_change`]: the earliest future instant at which the
//! value could flip with no new write. It is conservative (it may name an
//! instant at which nothing changes, never a later one than the real
//! flip), so filing a wake-up at it keeps time-based segments exact.
//!
//! Windows: `count(e, 7d)` at instant `now` looks at events with times in
//! `(now - 7d, now]`, i.e. the half-open range `[now - 7d + 1ms, now + 1ms)`.
//! Events dated after `now` count once `now` reaches them.
//!
//! Retention: `seq(a, [not] b, within)` reads the events the timeline
//! holds. Its trigger is the latest `a` the timeline still holds — once
//! timeline retention deletes a trigger it no longer counts, and an older
//! one deleted with it does not take its place — and the follow-ups are
//! the held `b` events from it on. The rollup buckets answer where that is
//! the same thing: for a trigger at or after the timeline floor
//! ([`EvalContext::timeline_floor`]), whose follow-ups are all held.
//!
//! [`VecContext`]: super::testing::VecContext

use std::cmp::Ordering;
use std::collections::BTreeSet;

use crate::clock::Timestamp;
use crate::numeric::{cmp_num, Num};
use crate::profile::value::TraitValue;
use crate::rollup::exact_sum::ExactSum;

use super::ast::{
    CmpOp, EventSelector, Expr, Literal, Metric, Operand, PropertyFilter, RollupCond, SeqCond, TraitCond, TraitTest,
    Window,
};
use super::compare::{apply, as_time, shift, stable_while_falling, trait_passes};

/// The value of a rollup over a time range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AggValue {
    /// `count`, `sum`, `min`, `max`, `avg`, `distinct`, `active_days`.
    Number(f64),
    /// `first`, `last`.
    Time(Timestamp),
}

/// The answer to [`EvalContext::aggregate`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Aggregate {
    /// The metric's value; `None` when it has none (`min`/`max`/`avg` of
    /// no numeric values, `first`/`last` of no events). `count`, `sum`,
    /// `distinct` and `active_days` of nothing are `Some(Number(0.0))`.
    pub value: Option<AggValue>,
    /// The time of the earliest event in the range that contributes to
    /// the value, or any earlier instant (a bucketed store may answer with
    /// the start of the oldest non-empty bucket); `None` if none. The
    /// value can only change when that event leaves a sliding window.
    pub earliest: Option<Timestamp>,
}

/// What the evaluator reads about one profile.
///
/// The required event methods are brute-force friendly; a store with
/// per-day buckets overrides [`EvalContext::aggregate`] and
/// [`EvalContext::next_event_after`] (the only event methods the
/// evaluator calls) and may answer them conservatively as documented.
pub trait EvalContext {
    /// The evaluation instant.
    fn now(&self) -> Timestamp;
    /// The trait's current value, `None` if unset.
    fn trait_value(&self, name: &str) -> Option<TraitValue>;
    /// Whether the profile holds an identifier of this kind.
    fn has_identifier_kind(&self, kind: &str) -> bool;
    /// Whether the profile is currently a member of that segment.
    fn in_segment(&self, name: &str) -> bool;
    /// `Some(expiry)` if consent is granted (expiry `None` = no expiry),
    /// `None` if not granted.
    fn consent(&self, purpose: &str) -> Option<Option<Timestamp>>;
    /// The timestamps of this profile's events named `event` matching
    /// every `filter`, within `[from, to)`, ascending.
    fn event_times(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Timestamp>;
    /// The `property` values of this profile's events named `event`
    /// matching every `filter`, within `[from, to)`, ascending by time;
    /// events without the property are left out.
    fn property_values(
        &self,
        event: &str,
        property: &str,
        filter: &[PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, TraitValue)>;

    /// `metric` over the selected events within `[from, to)`. The default
    /// computes it from [`EvalContext::event_times`] and
    /// [`EvalContext::property_values`]: numeric metrics use integer and
    /// float values only, `distinct` counts distinct values of any type,
    /// `active_days` counts distinct UTC days ([`Timestamp::day`]).
    fn aggregate(&self, metric: &Metric, events: &EventSelector, from: Timestamp, to: Timestamp) -> Aggregate {
        default_aggregate(self, metric, events, from, to)
    }

    /// Whether a selected event lies within `[from, to)`, counted as
    /// [`EvalContext::aggregate`] counts (`seq` asks this of its
    /// follow-up window). A store with per-day buckets may answer it
    /// without reading the days the range only partly covers.
    fn any_event(&self, events: &EventSelector, from: Timestamp, to: Timestamp) -> bool {
        default_any_event(self, events, from, to)
    }

    /// Events before this instant may have been deleted from the timeline
    /// by retention (`Timestamp(i64::MIN)`, the default: none was).
    /// [`EvalContext::aggregate`] may answer from every event ever recorded
    /// (a store's all-time rollups survive retention), while
    /// [`EvalContext::event_times`] answers from the events the timeline
    /// holds; `seq` reads the first only for triggers at or after the
    /// floor, where the two agree.
    fn timeline_floor(&self) -> Timestamp {
        Timestamp(i64::MIN)
    }

    /// The time of the earliest selected event strictly after `after`, or
    /// any earlier instant (conservative); `None` if there is none. This
    /// is how events dated in the future come due.
    fn next_event_after(&self, events: &EventSelector, after: Timestamp) -> Option<Timestamp> {
        let from = Timestamp(after.0.saturating_add(1));
        self.event_times(&events.event, &events.filter, from, Timestamp(i64::MAX)).first().copied()
    }
}

/// The default [`EvalContext::aggregate`], usable by implementations
/// that override it for some metrics only.
pub fn default_aggregate<C: EvalContext + ?Sized>(
    ctx: &C,
    metric: &Metric,
    events: &EventSelector,
    from: Timestamp,
    to: Timestamp,
) -> Aggregate {
    let (event, filter) = (events.event.as_str(), events.filter.as_slice());
    let number = |x: f64| Some(AggValue::Number(x));
    if let Some(property) = metric.property() {
        let values = ctx.property_values(event, property, filter, from, to);
        let earliest = values.first().map(|(t, _)| *t);
        let nums: Vec<f64> = values.iter().filter_map(|(_, v)| v.as_f64()).collect();
        let value = match metric {
            // Exact sums, correctly rounded: what the rollup buckets answer.
            Metric::Sum(_) => number(nums.iter().copied().collect::<ExactSum>().value()),
            Metric::Min(_) => nums.iter().copied().reduce(f64::min).and_then(number),
            Metric::Max(_) => nums.iter().copied().reduce(f64::max).and_then(number),
            Metric::Avg(_) if nums.is_empty() => None,
            Metric::Avg(_) => number(nums.iter().copied().collect::<ExactSum>().value() / nums.len() as f64),
            _ => {
                // Keyed as the rollup's value sets key them (`123` and `"123"` alike).
                let distinct: BTreeSet<_> = values.iter().map(|(_, v)| value_key(v)).collect();
                number(distinct.len() as f64)
            }
        };
        return Aggregate { value, earliest };
    }
    let times = ctx.event_times(event, filter, from, to);
    let earliest = times.first().copied();
    let value = match metric {
        Metric::First => earliest.map(AggValue::Time),
        Metric::Last => times.last().copied().map(AggValue::Time),
        Metric::ActiveDays => number(times.iter().map(|t| t.day()).collect::<BTreeSet<_>>().len() as f64),
        _ => number(times.len() as f64),
    };
    Aggregate { value, earliest }
}

/// The default [`EvalContext::any_event`]: a positive
/// [`EvalContext::aggregate`] count.
pub fn default_any_event<C: EvalContext + ?Sized>(
    ctx: &C,
    events: &EventSelector,
    from: Timestamp,
    to: Timestamp,
) -> bool {
    let count = ctx.aggregate(&Metric::Count, events, from, to);
    matches!(count.value, Some(AggValue::Number(n)) if n > 0.0)
}

/// The result of evaluating an expression at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// Whether the profile matches.
    pub value: bool,
    /// The earliest instant after `now` at which `value` could flip with
    /// no new write (`None`: only a write can change it). Conservative:
    /// never later than the real flip.
    pub next_change: Option<Timestamp>,
}

/// Evaluates `expr` against `ctx` at `ctx.now()`.
///
/// `in <segment>` reads the current membership and adds no time
/// dependency of its own; a store re-evaluates dependents when a
/// segment's membership changes (see
/// [`Dependencies::segments`](super::Dependencies::segments)).
pub fn evaluate<C: EvalContext + ?Sized>(expr: &Expr, ctx: &C) -> Evaluation {
    let now = ctx.now();
    Evaluator { ctx, now }.eval(expr)
}

struct Evaluator<'c, C: ?Sized> {
    ctx: &'c C,
    now: Timestamp,
}

/// The earliest instant collected so far.
struct Next {
    now: Timestamp,
    at: Option<Timestamp>,
}

impl Next {
    fn new(now: Timestamp) -> Self {
        Next { now, at: None }
    }

    /// An instant reported by the context: may be a lower bound at or
    /// before now, meaning "soon", so it is clamped to now + 1ms.
    fn bound(&mut self, t: Option<Timestamp>) {
        if let Some(t) = t {
            let t = t.max(Timestamp(self.now.0.saturating_add(1)));
            self.at = Some(self.at.map_or(t, |a| a.min(t)));
        }
    }

    /// A future instant at which the value may flip (ignored unless it is
    /// after now).
    fn at(&mut self, t: Timestamp) {
        if t > self.now {
            self.at = Some(self.at.map_or(t, |a| a.min(t)));
        }
    }

    /// `x op (now + offset)` for a fixed `x`: as now grows, the ordering
    /// goes Greater, Equal (at `now = x - offset`), Less. Records the first
    /// future instant at which the result differs from the current one.
    fn crossing(&mut self, op: CmpOp, x: Timestamp, offset: i64) {
        let threshold = shift(x, offset.saturating_neg());
        let value = |ord| apply(op, Some(ord));
        if self.now < threshold {
            if value(Ordering::Equal) != value(Ordering::Greater) {
                self.at(threshold);
            } else if value(Ordering::Less) != value(Ordering::Greater) {
                self.at(shift(threshold, 1));
            }
        } else if self.now == threshold && value(Ordering::Less) != value(Ordering::Equal) {
            self.at(shift(threshold, 1));
        }
    }

    fn done(self, value: bool) -> Evaluation {
        Evaluation { value, next_change: self.at }
    }
}

impl<C: EvalContext + ?Sized> Evaluator<'_, C> {
    fn eval(&self, e: &Expr) -> Evaluation {
        match e {
            Expr::And(items) => self.combine(items, true),
            Expr::Or(items) => self.combine(items, false),
            Expr::Not(inner) => {
                let r = self.eval(inner);
                Evaluation { value: !r.value, next_change: r.next_change }
            }
            Expr::Trait(t) => self.trait_cond(t),
            Expr::Rollup(r) => self.rollup(r),
            Expr::Seq(s) => self.seq(s),
            Expr::Has(kind) => Evaluation { value: self.ctx.has_identifier_kind(kind), next_change: None },
            Expr::InSegment(name) => Evaluation { value: self.ctx.in_segment(name), next_change: None },
            Expr::Consent(purpose) => match self.ctx.consent(purpose) {
                Some(Some(expiry)) if self.now < expiry => Evaluation { value: true, next_change: Some(expiry) },
                Some(None) => Evaluation { value: true, next_change: None },
                _ => Evaluation { value: false, next_change: None },
            },
        }
    }

    /// `and` (`is_and`) or `or`. For `and`: if every operand is true, any
    /// operand flipping flips the result (min of all); if some are false,
    /// all false ones must flip first (max of theirs, never if one never
    /// flips). `or` is the dual.
    fn combine(&self, items: &[Expr], is_and: bool) -> Evaluation {
        let results: Vec<Evaluation> = items.iter().map(|e| self.eval(e)).collect();
        let deciding = !is_and;
        let decisive: Vec<&Evaluation> = results.iter().filter(|r| r.value == deciding).collect();
        if decisive.is_empty() {
            let next_change = results.iter().filter_map(|r| r.next_change).min();
            return Evaluation { value: is_and, next_change };
        }
        let next_change =
            decisive.iter().map(|r| r.next_change).collect::<Option<Vec<_>>>().and_then(|v| v.into_iter().max());
        Evaluation { value: deciding, next_change }
    }

    fn trait_cond(&self, t: &TraitCond) -> Evaluation {
        let value = self.ctx.trait_value(&t.name);
        let mut next = Next::new(self.now);
        if let (TraitTest::Cmp(op, Operand::Now(d)), Some(at)) = (&t.test, value.as_ref().and_then(as_time)) {
            next.crossing(*op, at, d.as_millis());
        }
        next.done(trait_passes(value.as_ref(), &t.test, self.now))
    }

    /// `[from, to)` of a window ending at now (inclusive).
    fn range(&self, window: Window) -> (Timestamp, Timestamp) {
        let to = shift(self.now, 1);
        match window {
            Window::All => (Timestamp(i64::MIN), to),
            Window::Last(d) => (shift(to, d.as_millis().saturating_neg()), to),
        }
    }

    fn rollup(&self, r: &RollupCond) -> Evaluation {
        let (from, to) = self.range(r.window);
        let agg = self.ctx.aggregate(&r.metric, &r.events, from, to);
        let mut next = Next::new(self.now);
        if let Window::Last(d) = r.window {
            // Until a future-dated event comes due (bounded below), time
            // only takes events out of the window. A count that can only
            // fall leaves some comparisons as they are (`count(e, 7d) >= 3`
            // at 1): no wake-up for the earliest event leaving.
            let stable = matches!(r.metric, Metric::Count | Metric::ActiveDays | Metric::Distinct(_))
                && match (agg.value, literal_number(&r.operand)) {
                    (Some(AggValue::Number(x)), Some(k)) => stable_while_falling(r.op, x, k),
                    _ => false,
                };
            if !stable {
                next.bound(agg.earliest.map(|e| shift(e, d.as_millis())));
            }
        }
        next.bound(self.ctx.next_event_after(&r.events, self.now));
        let ord = match (agg.value, &r.operand) {
            (Some(AggValue::Number(x)), Operand::Lit(lit)) => lit.as_number().and_then(|k| cmp_num(Num::Float(x), k)),
            (Some(AggValue::Time(t)), Operand::Lit(Literal::Time(b))) => Some(t.cmp(b)),
            (Some(AggValue::Time(t)), Operand::Now(d)) => {
                next.crossing(r.op, t, d.as_millis());
                Some(t.cmp(&shift(self.now, d.as_millis())))
            }
            _ => None,
        };
        next.done(apply(r.op, ord))
    }

    /// `seq(a, [not] b, within)` over the events the timeline holds (see
    /// the module docs).
    fn seq(&self, s: &SeqCond) -> Evaluation {
        let now = self.now;
        let to = shift(now, 1);
        let mut next = Next::new(now);
        next.bound(self.ctx.next_event_after(&s.first, now));
        let last = self.ctx.aggregate(&Metric::Last, &s.first, Timestamp(i64::MIN), to);
        let Some(AggValue::Time(mut ta)) = last.value else {
            return next.done(false);
        };
        // Before the floor, the latest trigger may be gone: the latest one
        // the timeline still holds, and its follow-ups from the timeline.
        let held_only = ta < self.ctx.timeline_floor();
        if held_only {
            match self.ctx.event_times(&s.first.event, &s.first.filter, Timestamp(i64::MIN), to).last() {
                Some(t) => ta = *t,
                None => return next.done(false),
            }
        }
        let deadline = shift(ta, s.within.as_millis());
        if let Some(tb) = self.ctx.next_event_after(&s.then, now) {
            if tb <= deadline {
                next.bound(Some(tb));
            }
        }
        let followed = |end: Timestamp| {
            if held_only {
                return !self.ctx.event_times(&s.then.event, &s.then.filter, ta, shift(end, 1)).is_empty();
            }
            self.ctx.any_event(&s.then, ta, shift(end, 1))
        };
        let value = if s.negated {
            if now >= deadline {
                !followed(deadline)
            } else {
                // Already followed: only a new trigger can change that.
                if !followed(now) {
                    next.at(deadline);
                }
                false
            }
        } else {
            followed(deadline.min(now))
        };
        next.done(value)
    }
}

/// A numeric literal operand's value, for [`stable_while_falling`] only:
/// an integer literal past 2^53 rounds, which cannot change its answer
/// for a count (always far below 2^53: rounding keeps the literal on the
/// same side of every count, and whole).
fn literal_number(operand: &Operand) -> Option<f64> {
    match operand {
        Operand::Lit(Literal::Int(i)) => Some(*i as f64),
        Operand::Lit(Literal::Float(f)) => Some(*f),
        _ => None,
    }
}

/// A property value's key in a rollup's value sets
/// ([`PropertyValue::value_key`](crate::event::PropertyValue::value_key)),
/// for the value as segments read it.
fn value_key(v: &TraitValue) -> std::borrow::Cow<'_, str> {
    match v {
        TraitValue::Str(s) => std::borrow::Cow::Borrowed(s.as_str()),
        other => std::borrow::Cow::Owned(crate::event::PropertyValue::from_trait_value(other).value_key().into_owned()),
    }
}
