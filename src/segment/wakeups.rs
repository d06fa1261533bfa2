//! [`WakeupCache`]: the pending wake-up of recently evaluated (segment,
//! profile) pairs, in memory.
//!
//! Every evaluation of a time-dependent segment files its next wake-up,
//! and filing one must know the one it replaces (to delete its queue key):
//! without the cache, a RocksDB point read per time-dependent segment per
//! event. Absence is cached too (`None`: no wake-up pending).
//!
//! Exactness: only the writer reads and changes the cache — it loads on a
//! miss from the committed state inside its operation, and publishes what
//! its operation filed after the batch commits. Operations that delete
//! wake-ups other than by filing (dropping a segment) clear it.

use crate::db::profile_slots::ProfileSlots;
use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::storage::View;
use smallvec::SmallVec;

/// The (segment, profile) pairs of capacity per profile slot: a profile
/// keeps the wake-ups of every segment cached for it (see [`ProfileSlots`]).
/// Eight: the default capacity (800,000 pairs) holds 100,000 profiles.
const SEGMENTS_PER_PROFILE: usize = 8;

/// The cache (see the module docs).
pub(crate) struct WakeupCache {
    /// Wake-ups by profile, then segment.
    entries: ProfileSlots<Option<i64>>,
}

impl WakeupCache {
    /// Empties the cache, handing its memory to the caller to free (see
    /// `Core`'s drop).
    pub fn detach(&mut self) -> Box<dyn Send> {
        self.entries.detach()
    }

    /// A cache of about `capacity` pairs (0 disables it): a slot per
    /// [`SEGMENTS_PER_PROFILE`] pairs.
    pub fn new(capacity: usize) -> Self {
        WakeupCache { entries: ProfileSlots::new(capacity.div_ceil(SEGMENTS_PER_PROFILE)) }
    }

    /// The committed wake-up of segment `seg` for `p`, loading it from
    /// `view` on a miss. Only the writer calls this.
    pub fn due(&self, view: &View<'_>, seg: u32, p: ProfileId) -> Result<Option<i64>> {
        self.entries.map_or_load(p, seg, |d| *d, || stored(view, seg, p))
    }

    /// The committed wake-ups of `p` due at or before `now` among the
    /// segments `segs` (ascending ids), as (due, segment) in no particular
    /// order: one probe of `p`'s cached wake-ups, and a load of each one
    /// not cached. Only the writer calls this.
    pub fn due_by(&self, view: &View<'_>, p: ProfileId, segs: &[u32], now: i64) -> Result<SmallVec<[(i64, u32); 4]>> {
        let mut due = SmallVec::new();
        let mut missing: SmallVec<[u32; 8]> = SmallVec::new();
        self.entries.with_slot(p, |cached| {
            let mut cached = cached.iter().peekable();
            for &seg in segs {
                while cached.next_if(|(k, _)| *k < seg).is_some() {}
                match cached.peek() {
                    Some((k, d)) if *k == seg => due.extend(d.filter(|t| *t <= now).map(|t| (t, seg))),
                    _ => missing.push(seg),
                }
            }
        });
        for seg in missing {
            due.extend(self.due(view, seg, p)?.filter(|t| *t <= now).map(|t| (t, seg)));
        }
        Ok(due)
    }

    /// The writer's bulk load ahead of evaluating segment `seg` for
    /// `profiles`: the wake-ups not cached yet (absence included), from one
    /// scan of the segment's index between the least and the greatest
    /// profile rather than a point read each.
    pub fn preload(&self, view: &View<'_>, seg: u32, profiles: &[ProfileId]) -> Result<()> {
        let (Some(lo), Some(hi)) = (profiles.iter().min(), profiles.iter().max()) else { return Ok(()) };
        if !self.entries.enabled() {
            return Ok(());
        }
        let from = keys::segment::wakeup_index(seg, *lo);
        let to = crate::storage::prefix_end(&keys::segment::wakeup_index(seg, *hi));
        let mut pending = foldhash::HashMap::default();
        for kv in view.range(schema::WAKEUP_INDEX.name, &from, to.as_deref())? {
            let (k, v) = kv?;
            pending.insert(indexed_profile(&k)?, schema::WAKEUP_INDEX.decode(&k, &v)? as i64);
        }
        for &p in profiles {
            if self.entries.map(p, seg, |_| ()).is_none() {
                self.entries.insert(p, seg, pending.get(&p).copied());
            }
        }
        Ok(())
    }

    /// The cached wake-up of segment `seg` for `p` (`None`: not cached).
    #[cfg(test)]
    pub fn cached(&self, seg: u32, p: ProfileId) -> Option<Option<i64>> {
        self.entries.map(p, seg, |d| *d)
    }

    /// Loads `p`'s cached wake-ups into the CPU caches ahead of the
    /// writer's reads (see [`ProfileSlots::touch`]).
    pub fn touch(&self, p: ProfileId) {
        self.entries.touch(p, |d| d.unwrap_or(0) as u64);
    }

    /// One stage of prefetching `p`'s cached wake-ups (see
    /// [`crate::db::prefetch`]).
    pub fn prefetch(&self, p: ProfileId, stage: crate::db::prefetch::Stage) {
        self.entries.prefetch(p, stage);
    }

    /// After a commit: the wake-ups it filed (`None`: cleared).
    pub fn publish(&self, filed: impl IntoIterator<Item = ((u32, ProfileId), Option<i64>)>) {
        for ((seg, p), due) in filed {
            self.entries.insert(p, seg, due);
        }
    }

    /// Drops every entry.
    pub fn clear(&self) {
        self.entries.clear();
    }

    /// Every cached pair whose value differs from `view`, described (for
    /// `check`, under the writer lock).
    pub fn diffs(&self, view: &View<'_>) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for ((p, seg), cached) in self.entries.entries() {
            let on_disk = stored(view, seg, p)?;
            if on_disk != cached {
                out.push(format!("segment {seg}, profile {p}: wake-up cached {cached:?}, stored {on_disk:?}"));
            }
        }
        Ok(out)
    }
}

/// The profile of a wake-up index key (`0x02 ‖ segment ‖ profile`).
pub(crate) fn indexed_profile(k: &[u8]) -> Result<ProfileId> {
    keys::segment::parse_wakeup_index(k)
        .map(|(_, p)| p)
        .ok_or_else(|| crate::storage::corrupt_key(schema::WAKEUP_INDEX.name, k, "expected 0x02 ‖ segment ‖ profile"))
}

/// The wake-up of segment `seg` for `p` as stored in its index.
fn stored(view: &View<'_>, seg: u32, p: ProfileId) -> Result<Option<i64>> {
    Ok(schema::WAKEUP_INDEX.get(view, &keys::segment::wakeup_index(seg, p))?.map(|d| d as i64))
}
