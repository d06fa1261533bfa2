//! [`RollupCache`]: the committed accumulators of recently used (profile,
//! series) pairs, in memory.
//!
//! Segment maintenance reads a profile's rollups on every event (a 30-day
//! count, a 90-day average, the time of the last purchase), and each read
//! from RocksDB is a seek through every level plus the folding of pending
//! merge operands. The cache keeps, per pair, the all-time accumulator and
//! the day buckets from [`READ_BACK_DAYS`] before the day it was loaded
//! (in compact form: [`Entry`]).
//!
//! Exactness: only the writer fills the cache (from the committed state,
//! inside its operation) and changes it (after its batch commits: it folds
//! the operation's contributions in, the same fold the merge operator
//! applies; operations that rewrite rollups otherwise — merges, erasure,
//! anonymization, retention, declarations — drop the profiles' entries or
//! everything). Readers on other threads load on a miss too, but insert
//! only if no commit started since before they took their view: a commit
//! marks itself in flight ([`CommitEpoch`]) before its RocksDB write and
//! clears the mark after updating the caches, so a reader can never insert
//! a value that already holds a commit which is about to be folded in
//! (twice, then), nor one older than a commit already folded in. Nor does
//! a reader use an entry while a commit is in flight: it may lag data of
//! that commit the reader has already seen in RocksDB; it reads its view.

use crate::clock::Timestamp;
use crate::commit_epoch::CommitEpoch;
use crate::db::profile_slots::ProfileSlots;
use crate::error::Result;
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::cache_entry::Entry;
use crate::rollup::contribution::Contribution;
use crate::rollup::store::{read_days, read_profile_series, read_series, read_window};
use crate::rollup::window::Window;
use crate::storage::View;

/// The last day an entry reads: day keys above it are the retired marker
/// (and format 7's all-time one; no timestamp reaches such a day).
pub(crate) const LAST_DAY: i64 = i64::MAX - 2;

/// How many days before the day of loading an entry keeps buckets from.
pub(crate) const READ_BACK_DAYS: i64 = 120;

/// The (profile, series) pairs of capacity per profile slot: a profile
/// keeps every series cached for it (see [`ProfileSlots`]). Four: the
/// default capacity (400,000 pairs) holds 100,000 profiles, the working
/// set the defaults are sized for.
const SERIES_PER_PROFILE: usize = 4;

/// The cache (see the module docs).
pub(crate) struct RollupCache {
    /// Entries by profile, then series.
    entries: ProfileSlots<Entry>,
}

impl RollupCache {
    /// Empties the cache, handing its memory to the caller to free (see
    /// `Core`'s drop).
    pub fn detach(&mut self) -> Box<dyn Send> {
        self.entries.detach()
    }

    /// A cache of about `capacity` pairs (0 disables it): a slot per
    /// [`SERIES_PER_PROFILE`] pairs.
    pub fn new(capacity: usize) -> RollupCache {
        let profiles = capacity.div_ceil(SERIES_PER_PROFILE);
        RollupCache { entries: ProfileSlots::new(profiles) }
    }

    /// The writer's read: the committed all-time statistics (no value
    /// frequencies: evaluations do not read them; active days only when
    /// `days` asks), loading the entry on a miss.
    pub fn all_time(&self, view: &View<'_>, (p, series): (ProfileId, u32), today: i64, days: bool) -> Result<Acc> {
        self.entries.map_or_load(p, series, |e| e.all_time(days), || self.load(view, p, series, today))
    }

    /// The writer's read: the committed day statistics with `from <= day
    /// <= to`, ascending, appended to `out` (loading the entry on a miss;
    /// read from RocksDB when the range reaches before the entry's). From
    /// the cache, a bucket's active-days bitmap is left empty: it is the
    /// bucket's own day whenever the bucket counts an event.
    pub fn days(
        &self,
        view: &View<'_>,
        (p, series): (ProfileId, u32),
        (from, to): (i64, i64),
        today: i64,
        out: &mut Vec<(i64, Acc)>,
    ) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let load = || self.load(view, p, series, today);
        if !self.entries.map_or_load(p, series, |e| e.copy_days(from, to, out), load)? {
            read_days(view, p, series, from, to, out)?;
        }
        Ok(())
    }

    /// A reader's read of one series over a window, for a `view` taken
    /// when `commits` was at `since`: from the entry when cached and no
    /// commit is in flight, else from `view`; what it loads is inserted
    /// unless a commit started since `since`.
    pub fn window(
        &self,
        (view, commits, since): (&View<'_>, &CommitEpoch, u64),
        p: ProfileId,
        series: u32,
        window: Window,
        now: Timestamp,
    ) -> Result<Acc> {
        let answer = |e: &Entry| match window.day_range(now) {
            None => Some(e.all()),
            Some((from, to)) => e.window(from, to),
        };
        if !commits.in_flight() {
            if let Some(cached) = self.entries.map(p, series, answer) {
                return cached.map_or_else(|| read_window(view, p, series, window, now), Ok);
            }
        }
        let entry = self.load(view, p, series, now.day())?;
        let acc = answer(&entry);
        if commits.unchanged(since) {
            self.entries.insert_if(p, series, entry, || commits.unchanged(since));
        }
        acc.map_or_else(|| read_window(view, p, series, window, now), Ok)
    }

    /// The writer's bulk load ahead of evaluating `profiles` (a backfill's
    /// are ascending, so the iterator only moves forward) against
    /// conditions reading `series` (distinct): the pairs not cached yet,
    /// all read through one RocksDB iterator re-positioned per pair. What
    /// is cached afterwards is what the writer's reads would have loaded
    /// one pair at a time.
    pub fn preload(&self, view: &View<'_>, profiles: &[ProfileId], series: &[u32], today: i64) -> Result<()> {
        if !self.entries.enabled() {
            return Ok(());
        }
        let Some(mut cursor) = view.cursor(crate::schema::ROLLUPS.name)? else { return Ok(()) };
        let from = today.saturating_sub(READ_BACK_DAYS);
        let mut missing = Vec::with_capacity(series.len());
        for &p in profiles {
            missing.clear();
            missing.extend(series.iter().copied().filter(|s| self.entries.map(p, *s, |_| ()).is_none()));
            if missing.is_empty() {
                continue;
            }
            for (s, (all, days)) in missing.iter().zip(read_profile_series(&mut cursor, p, &missing, from)?) {
                self.entries.insert(p, *s, Entry::new(all, from, days));
            }
        }
        Ok(())
    }

    fn load(&self, view: &View<'_>, p: ProfileId, series: u32, today: i64) -> Result<Entry> {
        load_from(view, p, series, today.saturating_sub(READ_BACK_DAYS))
    }

    /// Loads `p`'s cached entries and their latest day buckets into the
    /// CPU caches at once (see [`ProfileSlots::touch`]), ahead of the
    /// writer's reads of them.
    pub fn touch(&self, p: ProfileId) {
        self.entries.touch(p, Entry::reach);
    }

    /// One stage of prefetching `p`'s cached entries (see
    /// [`crate::db::prefetch`]).
    pub fn prefetch(&self, p: ProfileId, stage: crate::db::prefetch::Stage) {
        self.entries.prefetch(p, stage);
    }

    /// A copy of every entry (for `check`).
    pub fn entries(&self) -> Vec<((ProfileId, u32), Entry)> {
        self.entries.entries()
    }

    /// After a commit: folds the operation's contributions into the cached
    /// entries they belong to (an event's are consecutive; the next
    /// events' entries are prefetched meanwhile).
    pub fn apply(&self, contributions: &[(ProfileId, u32, Contribution)]) {
        let groups: Vec<_> = contributions.chunk_by(|a, b| a.0 == b.0).collect();
        let profile_at = |j: usize| groups.get(j).and_then(|g| g.first()).map(|c| c.0);
        for (i, group) in groups.iter().enumerate() {
            crate::db::prefetch::ahead(i, profile_at, |q, stage| self.prefetch(q, stage));
            for (p, series, c) in *group {
                self.entries.modify(*p, *series, |e| e.fold(c));
            }
        }
    }

    /// After a commit that rewrote `p`'s rollups: drops its entries.
    pub fn forget(&self, p: ProfileId) {
        self.entries.remove(p);
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }
}

/// The entry of `p`'s `series` with the buckets from day `from`, as stored
/// (one scan of the series' buckets).
fn load_from(view: &View<'_>, p: ProfileId, series: u32, from: i64) -> Result<Entry> {
    let (all, days) = read_series(view, p, series, from)?;
    Ok(Entry::new(all, from, days))
}
