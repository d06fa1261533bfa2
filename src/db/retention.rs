//! Enforcing timeline and bucket retention: passes over the live profiles
//! that delete events older than `timeline_retention` and fold day buckets
//! older than `rollup_bucket_retention` (see `rollup::retention`).
//!
//! A pass starts when a floor can rise (now − retention is past it): the
//! raised floors commit first, then profiles are visited in id order, a
//! bounded number per call. Each profile's trim is in one batch together
//! with the re-evaluation of its segments (they read the timeline and the
//! buckets), so a crash leaves every profile either trimmed or not. Rollups are untouched by
//! timeline retention: they live in buckets.
//!
//! A profile whose segments cannot be re-evaluated (an error names the
//! segment) keeps its events and buckets until a later pass: the step is
//! redone without it and reports it, so one profile never holds retention
//! up for the others.

use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::retention::{delete_events_before, fold_buckets, has_events_before, stage_floor, NO_FLOOR};
use crate::txn::Txn;

use super::feed_retention::HistoryPass;
use super::{ProfileDb, ProfileFailure};

/// How many profiles one [`ProfileDb::tick`] visits for retention.
pub(crate) const TICK_BUDGET: usize = 256;
/// How many profiles one batch of [`ProfileDb::enforce_retention`] visits.
const PASS_BUDGET: usize = 1_024;

/// What retention work did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetentionPass {
    /// Profiles visited.
    pub profiles_visited: u64,
    /// Profiles whose old events were deleted.
    pub timelines_trimmed: u64,
    /// Day buckets folded into the all-time values.
    pub buckets_folded: u64,
    /// Whether no pass is left running (every profile was visited).
    pub complete: bool,
    /// Profiles left untrimmed because re-evaluating their segments
    /// failed (each error names the segment); the next pass retries them.
    pub failures: Vec<ProfileFailure>,
    /// Change-feed records deleted by feed retention.
    pub feed_records_deleted: u64,
    /// Membership-history rows deleted by membership-history retention.
    pub membership_rows_deleted: u64,
}

impl RetentionPass {
    fn add(&mut self, other: RetentionPass) {
        self.profiles_visited += other.profiles_visited;
        self.timelines_trimmed += other.timelines_trimmed;
        self.buckets_folded += other.buckets_folded;
        self.complete = other.complete;
        self.failures.extend(other.failures);
        self.feed_records_deleted += other.feed_records_deleted;
        self.membership_rows_deleted += other.membership_rows_deleted;
    }

    fn add_history(&mut self, h: HistoryPass) {
        self.feed_records_deleted += h.feed_deleted;
        self.membership_rows_deleted += h.membership_deleted;
    }
}

impl ProfileDb {
    /// The retention settings this handle applies: those its builder set,
    /// else those the database recorded, else 365 days of timelines and
    /// day buckets kept forever ([`Builder::timeline_retention`]).
    ///
    /// ```
    /// use profiledb::ProfileDb;
    /// let dir = tempfile::tempdir()?;
    /// let day = 86_400_000;
    /// drop(ProfileDb::builder(dir.path()).timeline_retention(30 * day).open()?);
    /// // An open that sets nothing (an admin tool's) uses what was recorded.
    /// let db = ProfileDb::open(dir.path())?;
    /// assert_eq!(db.retention_settings().timeline_ms, 30 * day);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`Builder::timeline_retention`]: crate::Builder::timeline_retention
    pub fn retention_settings(&self) -> crate::RetentionSettings {
        crate::RetentionSettings {
            timeline_ms: self.core.config.timeline_retention_ms,
            bucket_ms: self.core.config.bucket_retention_ms,
            feed_ms: self.core.config.feed_retention_ms,
            membership_ms: self.core.config.membership_retention_ms,
        }
    }

    /// Enforces retention now, to completion: deletes every stored event
    /// older than now − `timeline_retention` and folds every day bucket
    /// older than now − `rollup_bucket_retention` into the all-time values
    /// (a no-op for a retention of 0). [`tick`](Self::tick) does the same
    /// work a bounded amount at a time.
    ///
    /// A profile whose segments cannot be re-evaluated (the trim and its
    /// re-evaluation are one batch) is left as it is and reported in
    /// [`RetentionPass::failures`]; the others are trimmed.
    pub fn enforce_retention(&self) -> Result<RetentionPass> {
        self.writable("enforce_retention")?;
        let mut total = RetentionPass::default();
        // Finish a pass that was running, then run one for the current floors.
        let mut started = false;
        loop {
            let was_running = self.core.retention.cursor.lock().is_some();
            let step = self.profile_retention_step(PASS_BUDGET)?;
            started |= !was_running && step.profiles_visited > 0;
            let complete = step.complete;
            total.add(step);
            if complete && (started || !was_running) {
                break;
            }
        }
        // The feed and the membership history: the same, for their pass.
        let was_running = self.core.retention.membership_cursor.lock().is_some();
        for _ in 0..if was_running { 2 } else { 1 } {
            loop {
                let h = self.history_retention_step(PASS_BUDGET, 0)?;
                total.add_history(h);
                if h.complete {
                    break;
                }
            }
        }
        Ok(total)
    }

    /// One bounded step of retention ([`tick`](Self::tick)'s): of
    /// timelines and buckets, then of the feed and the membership history
    /// (whose passes start at most daily).
    pub(crate) fn retention_step(&self, budget: usize) -> Result<RetentionPass> {
        let mut pass = self.profile_retention_step(budget)?;
        let h = self.history_retention_step(budget, crate::Timestamp::DAY)?;
        pass.add_history(h);
        pass.complete &= h.complete;
        Ok(pass)
    }

    /// One bounded step of timeline and bucket retention: starts a pass
    /// when a floor can rise, then visits up to `budget` profiles of the
    /// running pass. A profile whose re-evaluation fails is reported and
    /// skipped: the step is redone without it (nothing of a failed attempt
    /// is written). A pass does not start on a clock that jumped further
    /// than `max_clock_jump` ([`Error::ClockJump`](crate::Error::ClockJump)).
    fn profile_retention_step(&self, budget: usize) -> Result<RetentionPass> {
        let cfg = &self.core.config;
        if cfg.timeline_retention_ms == 0 && cfg.bucket_retention_ms == 0 {
            return Ok(RetentionPass { complete: true, ..RetentionPass::default() });
        }
        let mut writer = self.core.writer.lock();
        if self.core.rollups.read().building.is_some() {
            // A rollup backfill folds the timelines: nothing leaves them
            // before it ends (the next step after it goes on).
            return Ok(RetentionPass { complete: true, ..RetentionPass::default() });
        }
        let floors = &self.core.retention;
        let (mut timeline, mut bucket) = (floors.timeline_ms(), floors.bucket_day());
        let (mut raise_t, mut raise_d) = (false, false);
        let mut clock = None;
        let start = match *floors.cursor.lock() {
            Some(next) => next,
            None => {
                let now = self.core.clock.now().0;
                let t_cut =
                    if cfg.timeline_retention_ms > 0 { now.saturating_sub(cfg.timeline_retention_ms) } else { 0 };
                let d_cut = if cfg.bucket_retention_ms > 0 {
                    crate::Timestamp(now.saturating_sub(cfg.bucket_retention_ms)).day()
                } else {
                    0
                };
                raise_t = t_cut > 0 && t_cut > timeline;
                raise_d = d_cut > 0 && d_cut > bucket;
                if !raise_t && !raise_d {
                    return Ok(RetentionPass { complete: true, ..RetentionPass::default() });
                }
                // A clock far ahead of the last step's raises nothing.
                self.check_clock_jump(now)?;
                clock = Some(self.next_retention_clock(now));
                if raise_t {
                    timeline = t_cut;
                }
                if raise_d {
                    bucket = d_cut;
                }
                0
            }
        };
        let ids: Vec<u32> = self.core.segments.read().live.range(start..).take(budget).collect();
        let series = self.core.rollups.read().series.len() as u32;
        let mut failures = Vec::new();
        let mut skipped: Vec<u32> = Vec::new();
        let mut pass = loop {
            let mut txn = Txn::new(&self.core, &mut writer);
            // Buckets may be folded into retired accumulators.
            txn.rollups_reset = true;
            if raise_t {
                stage_floor(&mut txn.batch, keys::meta::TIMELINE_FLOOR, timeline);
            }
            if raise_d {
                stage_floor(&mut txn.batch, keys::meta::ROLLUP_FLOOR_DAY, bucket);
            }
            if let Some(now) = clock {
                Self::stage_retention_clock(&mut txn.batch, now);
            }
            let mut pass = RetentionPass { profiles_visited: ids.len() as u64, ..RetentionPass::default() };
            for &id in ids.iter().filter(|id| !skipped.contains(id)) {
                let p = ProfileId(id);
                if timeline != NO_FLOOR && has_events_before(&txn.view, p, timeline)? {
                    delete_events_before(&mut txn.batch, p, timeline);
                    // Touched first: its due wake-ups are processed over
                    // the timeline as it was (see `Txn::settle`).
                    txn.mark_touched(p);
                    txn.trimmed.insert(p, timeline);
                    pass.timelines_trimmed += 1;
                }
                if bucket != NO_FLOOR {
                    let folded = fold_buckets(&txn.view, &mut txn.batch, p, series, bucket)?;
                    if folded > 0 {
                        // Its segments are re-evaluated in this batch, so no
                        // membership outlives the buckets it was read from.
                        txn.mark_touched(p);
                    }
                    pass.buckets_folded += folded;
                }
            }
            match txn.maintain_segments() {
                Ok(()) => {
                    txn.commit()?;
                    break pass;
                }
                Err((p, e)) => {
                    failures.push(ProfileFailure::new(p, "retention", &e));
                    skipped.push(p.0);
                }
            }
        };
        let next = match ids.last() {
            Some(&last) if ids.len() == budget => last.checked_add(1),
            _ => None,
        };
        floors.publish(timeline, bucket);
        if let Some(now) = clock {
            self.publish_retention_clock(now);
        }
        *floors.cursor.lock() = next;
        pass.complete = next.is_none();
        pass.failures = failures;
        Ok(pass)
    }
}
