//! Exact statistics of a series over any millisecond range, answered from
//! its day buckets: whole days from their accumulators, and a day only
//! partly inside the range (the first and last day of a sliding window
//! `(now - 7d, now]`) from the timeline, restricted to that part of the
//! day and to the series' event name. A window read therefore costs one
//! all-time read (the rollup cache's fold), one bucket scan and at most two
//! short timeline reads, whatever the length of the profile's history.
//! Whether any event lies in a range ([`any_in`], `seq`'s follow-up
//! window) needs the timeline only for a day whose events surround the
//! range with none of them in it.
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
//!
//! Timeline retention deletes events before the timeline floor, so a day
//! only partly inside the range is read from the timeline only when none
//! of the day's events can be gone: a partial day that starts before the
//! floor and has an event before it is [`Error::TimelineBeforeRetention`]
//! rather than a count of whatever the timeline still holds. Segment
//! conditions never ask for such a range (windows are at most the timeline
//! retention, and `seq` reads what the timeline holds; see
//! `segment::eval`).

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

/// Whether the series has an event with `from <= time < to` — what `seq`
/// asks of its follow-up window. Answered from the day buckets' first and
/// last times: a day shows an event in the range when its first or last
/// event lies in the range's part of that day, and none when its events
/// all lie outside it. Only a day whose events surround that part without
/// one inside it (`first < lo`, `last >= hi`, so the range lies within the
/// day) is read from the timeline. [`stats_in`] would read every day the
/// range only partly covers, such as both ends of a 24-hour window.
pub(crate) fn any_in(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    from: Timestamp,
    to: Timestamp,
) -> Result<bool> {
    let all = src.all_time(p, s.id, false)?;
    let (Some(first), Some(last)) = (all.first, all.last) else { return Ok(false) };
    if to.0 <= first || last < from.0 || to <= from {
        return Ok(false);
    }
    if from.0 <= first || last < to.0 {
        // The first or the last event lies in the range.
        return Ok(true);
    }
    if Timestamp(first).day() < src.bucket_floor_day() {
        // Retired buckets have no days to look at.
        return Ok(stats_in(src, p, s, from, to)?.count > 0);
    }
    for (day, acc) in src.days(p, s.id, from.day(), Timestamp(to.0 - 1).day())? {
        let (Some(f), Some(l)) = (acc.first, acc.last) else { continue };
        let lo = from.0.max(day_start(day));
        let hi = to.0.min(day_start(day.saturating_add(1)));
        if (lo <= f && f < hi) || (lo <= l && l < hi) {
            return Ok(true);
        }
        if f < lo && l >= hi && !day_part(src, p, s, f, (lo, hi))?.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
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
            for e in day_part(src, p, s, f, (lo, hi))? {
                out.fold_summary(&Acc::of_event_with(&e, s.property, false), s.days);
            }
        }
    }
    Ok(Some(out))
}

/// The series' events in `[lo, hi)`, part of one day whose first event is
/// at `first`, from the timeline — unless events of that day before the
/// timeline floor may be gone from it: reading it would silently miss them.
fn day_part(
    src: &dyn BucketSource,
    p: ProfileId,
    s: Series<'_>,
    first: i64,
    (lo, hi): (i64, i64),
) -> Result<Vec<Event>> {
    let floor = src.timeline_floor(p);
    if lo < floor && first < floor {
        return Err(timeline_cut(lo, floor));
    }
    s.events(src, p, Timestamp(lo), Timestamp(hi))
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

/// The error of a read that needs the events from `from` on, while the
/// timeline may have lost those before `floor`.
pub(crate) fn timeline_cut(from: i64, floor: i64) -> Error {
    Error::TimelineBeforeRetention { from: Timestamp(from).to_rfc3339(), floor: Timestamp(floor).to_rfc3339() }
}

/// The time of the series' earliest event strictly after `after`, or
/// `after + 1ms` when it lies on a day that the timeline may have lost
/// events of (conservative, as [`EvalContext::next_event_after`] allows).
///
/// [`EvalContext::next_event_after`]: crate::segment::EvalContext::next_event_after
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
        if lo.0 < src.timeline_floor(p) {
            // The next event may be gone from the timeline: "right after" is
            // the conservative answer.
            return Ok(Some(lo));
        }
        if let Some(e) = s.events(src, p, lo, hi)?.first() {
            return Ok(Some(e.timestamp));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;

    const DAY: i64 = Timestamp::DAY;
    const HOUR: i64 = 3_600_000;

    /// One profile's events of one series, its day buckets built from
    /// them, and a timeline holding only the events from `floor` on.
    struct Trimmed {
        events: Vec<Event>,
        floor: i64,
    }

    impl Trimmed {
        fn new(times: &[i64], floor: i64) -> Self {
            let events = times.iter().map(|t| Event::new(EventKind::Track, "e", Timestamp(*t), Vec::new())).collect();
            Trimmed { events, floor }
        }
        fn fold(&self, keep: impl Fn(&Event) -> bool) -> Acc {
            let mut acc = Acc::default();
            for e in self.events.iter().filter(|e| keep(e)) {
                acc.fold(&Acc::of_event_with(e, None, false));
            }
            acc
        }
    }

    impl BucketSource for Trimmed {
        fn all_time(&self, _: ProfileId, _: u32, _: bool) -> Result<Acc> {
            Ok(self.fold(|_| true))
        }
        fn days(&self, _: ProfileId, _: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>> {
            let days: std::collections::BTreeSet<i64> = self.events.iter().map(|e| e.timestamp.day()).collect();
            let span = days.into_iter().filter(|d| (from_day..=to_day).contains(d));
            Ok(span.map(|d| (d, self.fold(|e| e.timestamp.day() == d))).collect())
        }
        fn events(&self, _: ProfileId, _: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
            let held = |e: &&Event| e.timestamp.0 >= self.floor && e.timestamp >= from && e.timestamp < to;
            Ok(self.events.iter().filter(held).cloned().collect())
        }
        fn retired(&self, _: ProfileId, _: u32, _: bool) -> Result<Acc> {
            Ok(Acc::default())
        }
        fn timeline_floor(&self, _: ProfileId) -> i64 {
            self.floor
        }
        fn bucket_floor_day(&self) -> i64 {
            i64::MIN
        }
    }

    fn count(src: &Trimmed, from: i64, to: i64) -> Result<u64> {
        let s = Series { id: 0, event: "e", property: None, filter: &[], days: false };
        Ok(stats_in(src, ProfileId(1), s, Timestamp(from), Timestamp(to))?.count)
    }

    #[test]
    fn a_partial_day_the_timeline_may_have_lost_events_of_is_refused_not_undercounted() {
        let day = 20_000 * DAY;
        // Events at 00:15, 01:00, 05:00 and 09:00, and 01:00 the next day;
        // the timeline kept those from 04:00 on.
        let times = [day + HOUR / 4, day + HOUR, day + 5 * HOUR, day + 9 * HOUR, day + DAY + HOUR];
        let src = Trimmed::new(&times, day + 4 * HOUR);
        // From 00:30 (the 01:00 event was deleted from the timeline): refused
        // rather than 3.
        let err = count(&src, day + HOUR / 2, day + 2 * DAY).unwrap_err();
        assert!(matches!(err, Error::TimelineBeforeRetention { .. }), "{err}");
        assert!(err.to_string().contains("T04:00:00"), "{err}");
        // From 02:00: the day's events in range are all held, but an earlier
        // one was deleted, so the timeline cannot be told apart: refused.
        assert!(count(&src, day + 2 * HOUR, day + 2 * DAY).is_err());
        // From the floor on, or whole days: exact.
        assert_eq!(count(&src, day + 4 * HOUR, day + 2 * DAY).unwrap(), 3);
        assert_eq!(count(&src, day, day + 2 * DAY).unwrap(), 5);
        assert_eq!(count(&src, day + 6 * HOUR, day + DAY + 2 * HOUR).unwrap(), 2);
    }

    proptest::proptest! {
        /// `any_in` (buckets, and the timeline only for a day surrounding
        /// the range) agrees with a scan of the events.
        #[test]
        fn any_in_agrees_with_a_scan(
            times in proptest::collection::vec(0..2 * DAY, 0..12),
            from in -DAY..3 * DAY,
            len in proptest::prop_oneof![0..6 * HOUR, 0..3 * DAY],
        ) {
            let base = 20_000 * DAY;
            let times: Vec<i64> = times.iter().map(|t| base + t).collect();
            let src = Trimmed::new(&times, i64::MIN);
            let (from, to) = (base + from, base + from + len);
            let s = Series { id: 0, event: "e", property: None, filter: &[], days: false };
            let got = any_in(&src, ProfileId(1), s, Timestamp(from), Timestamp(to)).unwrap();
            let want = times.iter().any(|t| (from..to).contains(t));
            proptest::prop_assert_eq!(got, want, "times {:?}, range [{}, {})", times, from, to);
        }
    }

    #[test]
    fn any_in_reads_the_timeline_only_for_a_day_surrounding_the_range() {
        let day = 20_000 * DAY;
        // Events at 01:00 and 23:00; the timeline lost everything (floor
        // past the day), so a timeline read would be refused.
        let src = Trimmed::new(&[day + HOUR, day + 23 * HOUR], day + 2 * DAY);
        let s = Series { id: 0, event: "e", property: None, filter: &[], days: false };
        let any = |from: i64, to: i64| any_in(&src, ProfileId(1), s, Timestamp(day + from), Timestamp(day + to));
        // A range holding the first or last event, or none of the day: no read.
        assert!(any(0, 2 * HOUR).unwrap());
        assert!(any(22 * HOUR, DAY + 5 * HOUR).unwrap());
        assert!(!any(DAY, 2 * DAY).unwrap());
        // Between the two events: only the timeline can tell, and it may have
        // lost events there.
        assert!(matches!(any(2 * HOUR, 3 * HOUR), Err(Error::TimelineBeforeRetention { .. })));
        // With the timeline whole and an event at 12:00, it answers.
        let src = Trimmed::new(&[day + HOUR, day + 12 * HOUR, day + 23 * HOUR], i64::MIN);
        let any = |from: i64, to: i64| any_in(&src, ProfileId(1), s, Timestamp(day + from), Timestamp(day + to));
        assert!(any(11 * HOUR, 13 * HOUR).unwrap());
        assert!(!any(2 * HOUR, 3 * HOUR).unwrap());
    }

    #[test]
    fn the_next_event_after_an_instant_below_the_floor_is_conservative() {
        let day = 20_000 * DAY;
        let src = Trimmed::new(&[day + HOUR, day + 5 * HOUR], day + 4 * HOUR);
        let s = Series { id: 0, event: "e", property: None, filter: &[], days: false };
        let next = next_after(&src, ProfileId(1), s, Timestamp(day + 2 * HOUR)).unwrap();
        assert_eq!(next, Some(Timestamp(day + 2 * HOUR + 1)), "the timeline may have lost one in between");
        let next = next_after(&src, ProfileId(1), s, Timestamp(day + 4 * HOUR)).unwrap();
        assert_eq!(next, Some(Timestamp(day + 5 * HOUR)));
    }
}
