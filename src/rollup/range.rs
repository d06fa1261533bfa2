//! Exact statistics of a series over any millisecond range, answered from
//! its day buckets: whole days from their accumulators, and a day only
//! partly inside the range (the first and last day of a sliding window
//! `(now - 7d, now]`) from the timeline, restricted to that part of the
//! day and to the series' event name. A window read therefore costs one
//! all-time read, one bucket scan and at most two short timeline reads,
//! whatever the length of the profile's history.
//!
//! Only series whose events are exactly the selected ones are read this
//! way (no filter, or a declared rollup's filter that selects the same
//! events: partial days apply the filter to the timeline's events), so
//! the answer equals a scan of the timeline — provided the timeline holds
//! every event, which is the case whenever timelines are enabled.
//!
//! Bucket retention folds old day buckets into a *retired* accumulator
//! (all-time = retired ⊕ day buckets). A range holding every retired event
//! adds the retired accumulator whole — exact for every metric — and a
//! range holding none reads the day buckets as usual. A range that cuts
//! through the retired events cannot be split from buckets: it is read
//! from the timeline when the timeline still holds every event from the
//! range's start, and is an error ([`Error::WindowBeforeRetention`])
//! otherwise — never a wrong answer.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::event::Event;
use crate::profile::id::ProfileId;
use crate::rollup::acc::{day_bit, Acc};
use crate::segment::context::passes;
use crate::segment::PropertyFilter;

/// Where range reads find a profile's buckets and timeline.
pub(crate) trait BucketSource {
    /// The all-time accumulator of `series` for `p` (empty if none),
    /// without value frequencies; its active days may be left empty unless
    /// `days` asks for them.
    fn all_time(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc>;
    /// The day accumulators of `series` for `p` with
    /// `from_day <= day <= to_day`, ascending by day. Their active-days
    /// bitmaps may be left empty (a bucket that counts an event is active
    /// on its own day).
    fn days(&self, p: ProfileId, series: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>>;
    /// `p`'s events named `name` with `from <= time < to`, ascending by time.
    fn events(&self, p: ProfileId, name: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>>;
    /// The retired accumulator of `series` for `p`: its day buckets that
    /// bucket retention folded (empty if none), without value frequencies.
    fn retired(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc>;
    /// `p`'s events before this time (ms) may have been deleted by timeline
    /// retention (`i64::MIN`: none was).
    fn timeline_floor(&self, p: ProfileId) -> i64;
    /// Day buckets before this day may have been folded into the retired
    /// accumulator by bucket retention (`i64::MIN`: none was).
    fn bucket_floor_day(&self) -> i64;
}

/// A series: every event named `event` that passes `filter`,
/// accumulating the numeric value of `property` when given.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Series<'a> {
    /// The series id.
    pub id: u32,
    /// The event name.
    pub event: &'a str,
    /// The accumulated property, if any.
    pub property: Option<&'a str>,
    /// The events of the name the series holds (empty: all).
    pub filter: &'a [PropertyFilter],
    /// Whether the read needs active days (only that metric does: the
    /// others copy no day bitmap).
    pub days: bool,
}

impl Series<'_> {
    /// The series' events named `event` with `from <= time < to`.
    fn events(&self, src: &dyn BucketSource, p: ProfileId, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        let mut events = src.events(p, self.event, from, to)?;
        events.retain(|e| passes(self.filter, e));
        Ok(events)
    }
}

fn day_start(day: i64) -> i64 {
    day.saturating_mul(Timestamp::DAY)
}

/// The statistics (no value frequencies) of the series' events with
/// `from <= time < to`.
pub(crate) fn stats_in(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    from: Timestamp,
    to: Timestamp,
) -> Result<Acc> {
    let all = src.all_time(p, s.id, s.days)?;
    let (Some(first), Some(last)) = (all.first, all.last) else { return Ok(Acc::default()) };
    if from.0 <= first && last < to.0 {
        let mut out = Acc::default();
        out.fold_summary(&all, s.days);
        return Ok(out);
    }
    // Only a profile with events before the bucket floor can have retired
    // ones: the others skip the read (a RocksDB read per windowed condition
    // on the write path).
    let retired =
        if Timestamp(first).day() < src.bucket_floor_day() { src.retired(p, s.id, s.days)? } else { Acc::default() };
    let whole = match (retired.first, retired.last) {
        // Every retired event lies in the range: it is added whole.
        (Some(rf), Some(rl)) if from.0 <= rf && rl < to.0 => Some(rl),
        // The range cuts through the retired events.
        (Some(rf), Some(rl)) if rl >= from.0 && rf < to.0 => return from_timeline(src, p, s, from, to, rl),
        // None of them (or nothing retired): the day buckets hold the range.
        _ => None,
    };
    match from_buckets(src, p, s, (first, last), (from, to), whole)? {
        Some(mut out) => {
            if whole.is_some() {
                out.fold_summary(&retired, s.days);
            }
            Ok(out)
        }
        None => from_timeline(src, p, s, from, to, retired.last.unwrap_or(first)),
    }
}

/// The range's statistics from the day buckets: whole days from their
/// accumulators, partial days from the timeline. `None` when a partial day
/// may also hold retired events (`retired_last`: the latest one, when the
/// range holds them all), which the timeline read would count twice.
fn from_buckets(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    (first, last): (i64, i64),
    (from, to): (Timestamp, Timestamp),
    retired_last: Option<i64>,
) -> Result<Option<Acc>> {
    let mut out = Acc::default();
    // Nothing exists outside [first, last]: narrow the scan to it.
    let (from, to) = (from.0.max(first), to.0.min(last.saturating_add(1)));
    if to <= from {
        return Ok(Some(out));
    }
    for (day, acc) in src.days(p, s.id, Timestamp(from).day(), Timestamp(to - 1).day())? {
        let (Some(f), Some(l)) = (acc.first, acc.last) else { continue };
        let lo = from.max(day_start(day));
        let hi = to.min(day_start(day.saturating_add(1)));
        if lo <= f && l < hi {
            out.fold_counts(&acc);
            if s.days && acc.count > 0 {
                out.days.insert(day_bit(day));
            }
        } else if f < hi && l >= lo {
            if retired_last.is_some_and(|rl| day <= Timestamp(rl).day()) {
                return Ok(None);
            }
            for e in s.events(src, p, Timestamp(lo), Timestamp(hi))? {
                out.fold_summary(&Acc::of_event_with(&e, s.property, false), s.days);
            }
        }
    }
    Ok(Some(out))
}

/// The range's statistics from the timeline alone, for a range that
/// buckets cannot answer because of retired buckets (the latest retired
/// event at `retired_last`): exact when the timeline still holds every
/// event from `from` on, else [`Error::WindowBeforeRetention`].
fn from_timeline(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    from: Timestamp,
    to: Timestamp,
    retired_last: i64,
) -> Result<Acc> {
    if src.timeline_floor(p) > from.0 {
        return Err(Error::WindowBeforeRetention {
            window_start: crate::rollup::retention::day_name(from.day()),
            horizon: crate::rollup::retention::day_name(Timestamp(retired_last).day().saturating_add(1)),
        });
    }
    let mut out = Acc::default();
    for e in s.events(src, p, from, to)? {
        out.fold_summary(&Acc::of_event_with(&e, s.property, false), s.days);
    }
    Ok(out)
}

/// The time of the series' earliest event strictly after `after`.
pub(crate) fn next_after(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    after: Timestamp,
) -> Result<Option<Timestamp>> {
    let all = src.all_time(p, s.id, false)?;
    let (Some(first), Some(last)) = (all.first, all.last) else { return Ok(None) };
    if last <= after.0 {
        return Ok(None);
    }
    if first > after.0 {
        return Ok(Some(Timestamp(first)));
    }
    for (day, acc) in src.days(p, s.id, after.day(), Timestamp(last).day())? {
        let (Some(f), Some(l)) = (acc.first, acc.last) else { continue };
        if l <= after.0 {
            continue;
        }
        if f > after.0 {
            return Ok(Some(Timestamp(f)));
        }
        let (lo, hi) = (Timestamp(after.0.saturating_add(1)), Timestamp(day_start(day.saturating_add(1))));
        if let Some(e) = s.events(src, p, lo, hi)?.first() {
            return Ok(Some(e.timestamp));
        }
    }
    Ok(None)
}
