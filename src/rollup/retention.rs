//! Retention of timelines and per-day rollup buckets: the persisted
//! floors, the window check, and folding one profile's old buckets.
//!
//! Two floors only ever rise, each persisted in `meta`:
//! - the **timeline floor** (`meta/timeline_floor`, ms): events before it
//!   may have been deleted from the timelines;
//! - the **bucket floor** (`meta/rollup_floor_day`, a UTC day): day buckets
//!   before it are folded into each series' *retired* accumulator, so a
//!   window reaching before it fails with
//!   [`Error::WindowBeforeRetention`] instead of answering wrongly. All
//!   time, the retired accumulator folded with every day bucket, does not
//!   change: count, sum, first, last, min, max and active days all survive.
//!
//! A late event before the bucket floor lands in its day bucket and is
//! folded by the next pass; windows never read it there.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::clock::Timestamp;
use crate::codec::ValueCodec;
use crate::error::{Error, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::window::Window;
use crate::schema;
use crate::storage::{Batch, View};

/// "No floor": nothing was ever removed.
pub(crate) const NO_FLOOR: i64 = i64::MIN;

/// The retention floors in memory (loaded at open, raised by retention
/// passes under the writer lock) and the progress of the running pass.
#[derive(Debug)]
pub(crate) struct Floors {
    timeline_ms: AtomicI64,
    bucket_day: AtomicI64,
    /// The next profile id the running pass visits (`None`: no pass runs).
    pub cursor: Mutex<Option<u32>>,
    /// Feed records below this sequence number were deleted (0: none).
    feed_seq: AtomicU64,
    /// Membership history before this time may be gone ([`NO_FLOOR`]: none).
    membership_ms: AtomicI64,
    /// The clock of the last retention step that raised a floor
    /// ([`NO_FLOOR`]: none recorded).
    pub clock_ms: AtomicI64,
    /// The clock at open (see `db::clock_guard`).
    pub clock_seed: AtomicI64,
    /// The (segment ‖ profile) prefix the running membership-history pass
    /// visits next (`None`: no pass runs).
    pub membership_cursor: Mutex<Option<Vec<u8>>>,
}

impl Floors {
    /// Reads the persisted floors.
    pub fn load(view: &View<'_>) -> Result<Floors> {
        let read = |key: &[u8]| -> Result<i64> {
            Ok(schema::META_U64.get(view, key)?.map_or(NO_FLOOR, |v| i64::try_from(v).unwrap_or(i64::MAX)))
        };
        Ok(Floors {
            timeline_ms: AtomicI64::new(read(keys::meta::TIMELINE_FLOOR)?),
            bucket_day: AtomicI64::new(read(keys::meta::ROLLUP_FLOOR_DAY)?),
            cursor: Mutex::new(None),
            feed_seq: AtomicU64::new(schema::META_U64.get(view, keys::meta::FEED_FLOOR)?.unwrap_or(0)),
            membership_ms: AtomicI64::new(read(keys::meta::MEMBERSHIP_FLOOR)?),
            clock_ms: AtomicI64::new(read(keys::meta::RETENTION_CLOCK)?),
            clock_seed: AtomicI64::new(NO_FLOOR),
            membership_cursor: Mutex::new(None),
        })
    }

    /// Raises the floors to the persisted ones (a secondary handle catching
    /// up with its primary's passes).
    pub fn reload(&self, view: &View<'_>) -> Result<()> {
        let loaded = Floors::load(view)?;
        self.publish(loaded.timeline_ms(), loaded.bucket_day());
        self.publish_history(loaded.feed_seq(), loaded.membership_ms());
        self.clock_ms.fetch_max(loaded.clock_ms.load(Ordering::Acquire), Ordering::AcqRel);
        Ok(())
    }

    /// Feed records below this sequence number were deleted (0: none).
    pub fn feed_seq(&self) -> u64 {
        self.feed_seq.load(Ordering::Acquire)
    }

    /// Membership history before this time may be gone ([`NO_FLOOR`]: none).
    pub fn membership_ms(&self) -> i64 {
        self.membership_ms.load(Ordering::Acquire)
    }

    /// Publishes raised feed and membership floors (after the batch that
    /// persists them commits).
    pub fn publish_history(&self, feed_seq: u64, membership_ms: i64) {
        self.feed_seq.fetch_max(feed_seq, Ordering::AcqRel);
        self.membership_ms.fetch_max(membership_ms, Ordering::AcqRel);
    }

    /// Events before this time may have been deleted ([`NO_FLOOR`]: none).
    pub fn timeline_ms(&self) -> i64 {
        self.timeline_ms.load(Ordering::Acquire)
    }

    /// Day buckets before this day are folded ([`NO_FLOOR`]: none).
    pub fn bucket_day(&self) -> i64 {
        self.bucket_day.load(Ordering::Acquire)
    }

    /// Publishes raised floors (after the batch that persists them commits).
    pub fn publish(&self, timeline_ms: i64, bucket_day: i64) {
        self.timeline_ms.fetch_max(timeline_ms, Ordering::AcqRel);
        self.bucket_day.fetch_max(bucket_day, Ordering::AcqRel);
    }
}

/// Stages the persisted value of a floor (non-negative: event times and
/// days are never before 1970).
pub(crate) fn stage_floor(batch: &mut Batch, key: &[u8], value: i64) {
    schema::META_U64.put(batch, key, &(value.max(0) as u64));
}

/// Fails when `window` reaches before the bucket floor at `now`.
pub(crate) fn check_window(window: Window, now: Timestamp, floor_day: i64) -> Result<()> {
    if let Window::Last(ms) | Window::Rolling(ms) = window {
        if ms <= 0 {
            return Err(Error::invalid(format!("a window of {ms} ms: its length must be positive")));
        }
    }
    match window.day_range(now) {
        Some((from, _)) if from < floor_day => {
            Err(Error::WindowBeforeRetention { window_start: day_name(from), horizon: day_name(floor_day) })
        }
        _ => Ok(()),
    }
}

/// A day number as `YYYY-MM-DD`.
pub(crate) fn day_name(day: i64) -> String {
    let t = Timestamp(day.saturating_mul(Timestamp::DAY)).to_rfc3339();
    t.get(..10).map_or(t.clone(), str::to_owned)
}

/// Folds `p`'s day buckets before `floor_day` into each series' retired
/// accumulator (a merge operand) and deletes them, staged in `batch`.
/// Reads only the buckets it folds (one bounded range per series id below
/// `series`). Returns how many buckets were folded.
pub(crate) fn fold_buckets(
    view: &View<'_>,
    batch: &mut Batch,
    p: ProfileId,
    series: u32,
    floor_day: i64,
) -> Result<u64> {
    let mut folded = 0;
    for s in 0..series {
        let (from, to) = (keys::rollup::day(p, s, i64::MIN), keys::rollup::day(p, s, floor_day));
        let mut retired: Option<Acc> = None;
        for kv in view.range(schema::ROLLUPS.name, &from, Some(&to))? {
            let (k, v) = kv?;
            retired.get_or_insert_with(Acc::default).fold(&schema::ROLLUPS.decode(&k, &v)?);
            batch.delete(schema::ROLLUPS.name, &k);
            folded += 1;
        }
        if let Some(acc) = retired {
            batch.merge(schema::ROLLUPS.name, keys::rollup::retired(p, s), acc.encode_value());
        }
    }
    Ok(folded)
}

/// Whether `p` has a stored event before `before`.
pub(crate) fn has_events_before(view: &View<'_>, p: ProfileId, before: i64) -> Result<bool> {
    let start = keys::event_from(p, i64::MIN);
    let end = keys::event_from(p, before);
    Ok(view.range(schema::EVENTS.name, &start, Some(&end))?.next().transpose()?.is_some())
}

/// Stages the deletion of `p`'s events before `before` (one range tombstone).
pub(crate) fn delete_events_before(batch: &mut Batch, p: ProfileId, before: i64) {
    batch.delete_range(schema::EVENTS.name, keys::event_from(p, i64::MIN), keys::event_from(p, before));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_before_the_floor_are_refused_by_name() {
        let now = Timestamp(20_000 * Timestamp::DAY + 5);
        assert!(check_window(Window::days(30), now, 19_971).is_ok());
        let err = check_window(Window::days(31), now, 19_971).unwrap_err();
        assert!(matches!(err, Error::WindowBeforeRetention { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("2024-09-04") && msg.contains("2024-09-05"), "{msg}");
        assert!(check_window(Window::All, now, 19_971).is_ok());
        assert!(check_window(Window::days(10_000), now, NO_FLOOR).is_ok());
        for empty in [Window::days(0), Window::days(-3), Window::hours(0), Window::Rolling(-1)] {
            let err = check_window(empty, now, NO_FLOOR).unwrap_err().to_string();
            assert!(err.contains("its length must be positive"), "{empty:?}: {err}");
        }
    }
}
