//! [`Dedup`]: the duplicate check of one commit's message ids — those
//! staged earlier in the commit, and what the `dedup` column family holds
//! for them, read for a whole batch in one lookup — and their entries,
//! written in key order.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::Event;
use crate::profile::id::ProfileId;
use crate::schema::{self, DedupEntry};
use crate::storage::{Batch, View};

/// What a commit knows of one message id.
#[derive(Clone, Copy)]
enum Seen {
    /// Read from the `dedup` column family (`None`: not stored).
    Stored(Option<DedupEntry>),
    /// Staged earlier in this commit, applied to the profile.
    Staged(ProfileId),
}

/// The message ids one commit has seen and read, in one map: a check is
/// one lookup (with a map of staged and one of stored ids, two).
#[derive(Default)]
pub(crate) struct Dedup<'a> {
    /// By message id; an id not here is read when it comes.
    seen: foldhash::HashMap<&'a str, Seen>,
    /// The ids staged and the profiles they reached, for
    /// [`write`](Self::write).
    staged: Vec<(&'a str, ProfileId)>,
}

impl<'a> Dedup<'a> {
    /// Reads the stored entries of `events`' message ids in one batched
    /// lookup. A batch of events at random message ids probes each table
    /// file's filter for all of them together; one lookup per event
    /// searched every level for each (most of a batched event's time with
    /// message ids: BENCHMARKS.md, twenty-ninth session).
    pub fn read_ahead(view: &View<'_>, events: impl Iterator<Item = &'a Event>) -> Result<Dedup<'a>> {
        let mut ids: Vec<&'a str> = events.filter_map(|e| e.message_id.as_deref()).collect();
        if ids.is_empty() {
            // Events without message ids: nothing to read.
            return Ok(Dedup::default());
        }
        ids.sort_unstable();
        ids.dedup();
        let keys: Vec<&[u8]> = ids.iter().map(|m| m.as_bytes()).collect();
        let entries = schema::DEDUP.multi_get(view, &keys)?;
        let seen = ids.into_iter().zip(entries.into_iter().map(Seen::Stored)).collect();
        Ok(Dedup { seen, staged: Vec::new() })
    }

    /// When `id` was first seen and the profile it reached, if it is a
    /// duplicate `now`: staged earlier in this commit, or stored within
    /// `horizon` milliseconds.
    pub fn duplicate(
        &self,
        view: &View<'_>,
        id: &str,
        now: Timestamp,
        horizon: i64,
    ) -> Result<Option<(Timestamp, ProfileId)>> {
        let stored = match self.seen.get(id) {
            Some(Seen::Staged(profile)) => return Ok(Some((now, *profile))),
            Some(Seen::Stored(entry)) => *entry,
            None => schema::DEDUP.get(view, id.as_bytes())?,
        };
        Ok(stored.filter(|d| now.0 - d.first_seen <= horizon).map(|d| (Timestamp(d.first_seen), ProfileId(d.profile))))
    }

    /// Notes that `id` is staged in this commit, applied to `profile`;
    /// its entry is written by [`write`](Self::write).
    pub fn stage(&mut self, id: &'a str, profile: ProfileId) {
        self.seen.insert(id, Seen::Staged(profile));
        self.staged.push((id, profile));
    }

    /// Writes the staged ids' entries into `batch`, first seen `now`, in
    /// key order: `dedup`'s skiplist memtable then inserts them along
    /// nearly one search path, whose nodes stay in the CPU's caches, where
    /// random ids in arrival order each missed them down the whole path
    /// (at 200k profiles, the inserts' share of a batched event's writer
    /// time 14 → 8.5 %: BENCHMARKS.md, thirty-first session).
    pub fn write(mut self, batch: &mut Batch, now: Timestamp) {
        // An id is staged once: a second event with it is a duplicate.
        self.staged.sort_unstable_by_key(|(id, _)| *id);
        for (id, profile) in self.staged {
            let entry = DedupEntry { first_seen: now.0, profile: profile.0 };
            schema::DEDUP.put(batch, id.as_bytes(), &entry);
        }
    }
}
