//! Reads of a profile's timeline and rollups inside a write operation:
//! what is stored, what a merge staged in the same operation moves in, and
//! what the operation staged itself.

use std::borrow::Cow;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::profile::id::ProfileId;
use crate::rollup::Acc;

use super::Txn;

impl<'a> Txn<'a> {
    /// `p` and the profiles merged into it by this operation, whose stored
    /// timelines and rollups move to it in this batch.
    fn sources_of(&self, p: ProfileId) -> impl Iterator<Item = ProfileId> + '_ {
        std::iter::once(p).chain(self.merged.iter().filter(move |(_, s)| *s == p).map(|(l, _)| *l))
    }

    /// Replaces, for this operation's reads, `p`'s stored timeline and
    /// rollups by `events` and the day accumulators `days` (an unmerge
    /// rebuilt them; its batch writes the same). Every segment is
    /// re-evaluated for `p` at commit, and the rollup cache forgets it.
    pub fn replace_events_and_rollups(
        &mut self,
        p: ProfileId,
        events: Vec<crate::event::Event>,
        days: std::collections::BTreeMap<(u32, i64), Acc>,
    ) {
        self.settle(p);
        self.replaced.push(p);
        self.rollups_rewritten(p);
        self.replace_events(p, events);
        for ((series, day), acc) in &days {
            self.staged_rollups.add(p, *series, *day, acc);
        }
    }

    /// Replaces, for this operation's reads, `p`'s stored timeline by
    /// `events` (its batch rewrites them in place: anonymization scrubs
    /// them); its stored rollups are still read. Every segment is
    /// re-evaluated for `p` at commit.
    pub fn replace_events(&mut self, p: ProfileId, events: Vec<crate::event::Event>) {
        self.settle(p);
        self.events_replaced.push(p);
        self.mark_touched(p);
        self.staged_events.insert(p, events.into_iter().map(Cow::Owned).collect());
    }

    /// Whether reads of `src` see its stored rollups.
    fn reads_stored(&self, src: ProfileId) -> bool {
        !self.replaced.contains(&src)
    }

    /// Whether reads of `src` see its stored timeline.
    fn reads_stored_events(&self, src: ProfileId) -> bool {
        !self.events_replaced.contains(&src)
    }

    /// `p`'s events named `name` with `from <= time < to` (stored, moved in
    /// by a merge staged in this operation, and staged), ascending by time.
    pub fn events_in(
        &self,
        p: ProfileId,
        name: &str,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<crate::event::Event>> {
        let mut out = Vec::new();
        for src in self.sources_of(p) {
            if self.reads_stored_events(src) {
                crate::rollup::store::read_timeline(&self.view, src, name, from, to, &mut out)?;
            }
            if let Some(staged) = self.staged_events.get(&src) {
                let hit = |e: &&Cow<'_, crate::event::Event>| e.name == name && e.timestamp >= from && e.timestamp < to;
                out.extend(staged.iter().filter(hit).map(|e| e.as_ref().clone()));
            }
        }
        if let Some(before) = self.trimmed.get(&p) {
            out.retain(|e| e.timestamp.0 >= *before);
        }
        out.sort_by_key(|e| e.timestamp);
        Ok(out)
    }

    /// The all-time accumulator of `p`'s `series`, staged writes included
    /// (with active days when `days` asks).
    pub fn rollup_all_time(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        let mut acc = Acc::default();
        for src in self.sources_of(p) {
            if self.reads_stored(src) {
                let stored = self.core.rollup_cache.all_time(&self.view, (src, series), self.now.day(), days)?;
                acc.fold_summary(&stored, days);
            }
            if let Some(staged) = self.staged_rollups.all_time(src, series, days) {
                acc.fold_summary(&staged, days);
            }
        }
        Ok(acc)
    }

    /// The retired accumulator of `p`'s `series` (its folded day buckets;
    /// retention stages no change to it that reads must see: folding moves
    /// events between buckets without changing any range's answer).
    pub fn rollup_retired(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        let mut acc = Acc::default();
        for src in self.sources_of(p) {
            if self.reads_stored(src) {
                acc.fold_summary(&crate::rollup::store::read_retired(&self.view, src, series)?, days);
            }
        }
        Ok(acc)
    }

    /// `p`'s events before this time may be gone: the timeline floor, or
    /// the trim this operation stages for `p` if higher.
    pub fn timeline_floor(&self, p: ProfileId) -> i64 {
        let staged = self.trimmed.get(&p).copied().unwrap_or(i64::MIN);
        self.core.retention.timeline_ms().max(staged)
    }

    /// The day accumulators of `p`'s `series` with `from <= day <= to`,
    /// ascending, staged writes included.
    pub fn rollup_days(&self, p: ProfileId, series: u32, from: i64, to: i64) -> Result<Vec<(i64, Acc)>> {
        let mut parts = Vec::new();
        for src in self.sources_of(p) {
            if self.reads_stored(src) {
                self.core.rollup_cache.days(&self.view, (src, series), (from, to), self.now.day(), &mut parts)?;
            }
            parts.extend(self.staged_rollups.days(src, series, from, to).map(|(d, a)| (d, a.summary(false))));
        }
        if parts.len() > 1 {
            parts.sort_by_key(|(d, _)| *d);
            parts.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1.fold_counts(&later.1);
                }
                same
            });
        }
        Ok(parts)
    }
}
