//! [`ProfileDb::check`]: verifies the invariants that tie the column
//! families together, reading one consistent snapshot.
//!
//! A broken invariant is a [`Violation`] in the report, never an error or a
//! panic: a value that does not decode is reported with its key and the
//! check goes on. Only a storage failure (I/O, RocksDB corruption that
//! stops iteration) ends the check with `Err`.
//!
//! One file per concept: `history` (profile records, deltas, snapshots),
//! `graph` (identity links and aliases), `rollups` (series, buckets and
//! timelines: buckets equal a recomputation from the stored events) and
//! `segments` (bitmaps equal a fresh evaluation, wake-ups, membership
//! history, the feed). Every column family is covered except `dedup` and
//! `audit`, whose entries only need to decode on use.

use std::fmt;

use roaring::RoaringBitmap;

use crate::clock::Timestamp;
use crate::codec::ValueCodec;
use crate::error::{hex_prefix, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::retention::NO_FLOOR;
use crate::schema;
use crate::storage::{Cf, View};

use super::ProfileDb;

/// The names of the invariants, as reported in [`Violation::what`].
pub(crate) mod inv {
    /// Every key has its documented layout and every value decodes.
    pub const DECODES: &str = "decodes";
    /// `meta` holds the format version.
    pub const META: &str = "meta_present";
    /// Every identity link has its `profile_identifiers` entry.
    pub const IDENTITY_HAS_REVERSE: &str = "identity_has_reverse";
    /// Every `profile_identifiers` entry has an identity link pointing back.
    pub const REVERSE_HAS_IDENTITY: &str = "reverse_has_identity";
    /// Every identity link points at a live profile.
    pub const IDENTITY_LIVE: &str = "identity_points_at_live";
    /// No linked identifier belongs to an erased person (is suppressed).
    pub const NOT_SUPPRESSED: &str = "linked_identifier_not_suppressed";
    /// Every alias points straight (one hop) at a live profile.
    pub const ALIAS_LIVE: &str = "alias_points_at_live";
    /// Every forward alias has its reverse entry.
    pub const ALIAS_HAS_REVERSE: &str = "alias_has_reverse";
    /// Every reverse alias entry has the matching forward entry.
    pub const REVERSE_HAS_ALIAS: &str = "reverse_has_alias";
    /// No id is both live and an alias.
    pub const LIVE_NOT_ALIAS: &str = "live_is_not_alias";
    /// Following aliases never returns to where it started.
    pub const NO_ALIAS_CYCLE: &str = "no_alias_cycle";
    /// Every alias of a live profile has its merge (a `Change::Merge` with
    /// it as the loser) in a retained log: its survivor's or an alias's.
    pub const ALIAS_MERGE_RECORDED: &str = "alias_merge_recorded";
    /// Every id in use is below `meta/next_profile_id`.
    pub const ID_ALLOCATED: &str = "id_allocated";
    /// A record's id, version, floor and snapshot version agree.
    pub const RECORD: &str = "record_consistent";
    /// A record's identifier counts by kind equal its `profile_identifiers` entries.
    pub const KIND_COUNTS: &str = "identifier_counts_match";
    /// Deltas run from the history floor + 1 to the version without gaps.
    pub const DELTAS_CONTIGUOUS: &str = "deltas_contiguous";
    /// A delta is never earlier than the previous one.
    pub const DELTA_TIMES: &str = "delta_times_ordered";
    /// Nothing older than the history floor is left behind.
    pub const BELOW_FLOOR: &str = "nothing_below_floor";
    /// The snapshots the record needs (floor, last snapshot) exist.
    pub const SNAPSHOT_PRESENT: &str = "snapshot_present";
    /// Every retained snapshot equals the replayed state at its version.
    pub const SNAPSHOT_MATCHES: &str = "snapshot_matches_replay";
    /// Replaying the log reproduces the stored current state exactly.
    pub const REPLAY: &str = "replay_matches_current";
    /// Series are dense and every declared rollup names its series.
    pub const ROLLUP_DEFS: &str = "rollup_defs_consistent";
    /// Every rollup bucket belongs to a live profile and a known series.
    pub const ROLLUP_OWNER: &str = "rollup_belongs_to_live";
    /// All-time = retired ⊕ every day bucket, per profile and series.
    pub const ROLLUP_TOTALS: &str = "all_time_equals_buckets";
    /// A day bucket the timelines still cover equals the fold of its events.
    pub const ROLLUP_EVENTS: &str = "buckets_match_events";
    /// Every stored event belongs to a live profile, under its own time.
    pub const EVENT_OWNER: &str = "event_belongs_to_live";
    /// Segment definitions have unique, allocated ids under their name.
    pub const SEGMENT_DEFS: &str = "segment_defs_consistent";
    /// Bitmap chunks belong to a segment, hold only their id range and live profiles.
    pub const SEGMENT_CHUNK: &str = "segment_chunk_consistent";
    /// Every cached rollup accumulator equals the stored one.
    pub const ROLLUP_CACHE: &str = "rollup_cache_matches_stored";
    /// The in-memory bitmap of a segment equals its stored chunks, and its
    /// flat blocks (for counting) equal the bitmap.
    pub const SEGMENT_MEMORY: &str = "memory_matches_stored";
    /// Stored membership equals evaluating the segment now (or a due wake-up will fix it).
    pub const SEGMENT_EVAL: &str = "bitmap_matches_evaluation";
    /// Wake-ups and their index agree and name a time-dependent segment and a live profile.
    pub const WAKEUP: &str = "wakeup_consistent";
    /// Every cached wake-up (or cached absence of one) equals the stored index.
    pub const WAKEUP_CACHE: &str = "wakeup_cache_matches_stored";
    /// The last membership-history entry of a profile equals its membership.
    pub const MEMBERSHIP: &str = "membership_history_matches";
    /// Feed records sit under their sequence number, below the counter.
    pub const FEED: &str = "feed_consistent";
}

/// What [`ProfileDb::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Live profiles (entries of `profile`).
    pub profiles: u64,
    /// Linked identifiers (entries of `identity`).
    pub identifiers: u64,
    /// Merged-away ids (forward entries of `alias`).
    pub aliases: u64,
    /// Retained deltas, of live and merged-away profiles.
    pub deltas: u64,
    /// Stored timeline events.
    pub events: u64,
    /// Rollup accumulators (day, retired and all-time buckets).
    pub rollup_buckets: u64,
    /// Day buckets compared with a recomputation from the timelines.
    pub buckets_recomputed: u64,
    /// Defined segments.
    pub segments: u64,
    /// (segment, live profile) pairs re-evaluated.
    pub evaluations: u64,
    /// A segment whose definition's backfill was cut short (a crash, a
    /// full disk) or is still running in a writer: its bitmap is partly
    /// evaluated, so it is not compared with an evaluation (not a
    /// violation: readers do not see the segment, and the next writable
    /// open finishes the backfill).
    pub backfill_pending: Option<String>,
    /// A declared rollup whose backfill was cut short or is still running
    /// in another process's writer: its buckets are partly folded, so they
    /// are not compared with the timelines (readers do not see the rollup
    /// until it ends; the next writable open finishes it).
    pub rollup_backfill_pending: Option<String>,
    /// Every broken invariant, in the order found. Empty when the database
    /// is consistent.
    pub violations: Vec<Violation>,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Which invariant: `decodes`, `meta_present`, `identity_has_reverse`,
    /// `reverse_has_identity`, `identity_points_at_live`,
    /// `alias_points_at_live`, `alias_has_reverse`, `reverse_has_alias`,
    /// `live_is_not_alias`, `no_alias_cycle`, `id_allocated`,
    /// `record_consistent`, `identifier_counts_match`, `deltas_contiguous`, `delta_times_ordered`,
    /// `nothing_below_floor`, `snapshot_present`, `snapshot_matches_replay`,
    /// `replay_matches_current`, `rollup_defs_consistent`,
    /// `rollup_belongs_to_live`, `all_time_equals_buckets`,
    /// `buckets_match_events`, `event_belongs_to_live`,
    /// `segment_defs_consistent`, `segment_chunk_consistent`,
    /// `bitmap_matches_evaluation`, `wakeup_consistent`,
    /// `membership_history_matches` or `feed_consistent` (see `inv`).
    pub what: String,
    /// Where and how: the ids, identifiers or keys involved.
    pub detail: String,
}

impl CheckReport {
    /// Whether no invariant is broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} profiles, {} identifiers, {} aliases, {} deltas, {} events, {} rollup buckets ({} recomputed), \
             {} segments ({} evaluations): ",
            self.profiles,
            self.identifiers,
            self.aliases,
            self.deltas,
            self.events,
            self.rollup_buckets,
            self.buckets_recomputed,
            self.segments,
            self.evaluations
        )?;
        if let Some(name) = &self.backfill_pending {
            write!(f, "segment {name:?}'s backfill in progress (the next writable open finishes it); ")?;
        }
        if let Some(name) = &self.rollup_backfill_pending {
            write!(f, "rollup {name:?}'s backfill in progress (the next writable open finishes it); ")?;
        }
        if self.is_clean() {
            return f.write_str("clean");
        }
        write!(f, "{} violations", self.violations.len())?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

impl ProfileDb {
    /// Verifies every invariant of the database on one consistent snapshot
    /// (safe while the database is in use; it takes no lock). Reads the
    /// whole database and evaluates every segment for every profile: an
    /// admin operation.
    ///
    /// - **Identity graph**: `identity` and `profile_identifiers` are exact
    ///   inverses and point at live profiles; every alias points one hop at
    ///   a live profile and has its reverse entry; aliases form no cycle and
    ///   never name a live id; every alias's merge is recorded in the log it
    ///   merged into (unless retention folded that log); every id is below
    ///   the id counter.
    ///   Each record's identifier counts by kind equal its entries in
    ///   `profile_identifiers`.
    /// - **History**: for every live profile, deltas are contiguous from the
    ///   history floor, replaying them from the floor snapshot reproduces
    ///   the stored state exactly, and every snapshot matches the replay.
    /// - **Rollups**: series are dense and declared rollups name theirs;
    ///   buckets and events belong to live profiles; for every profile and
    ///   series, all-time = retired ⊕ every day bucket; and every day bucket
    ///   that the timelines still fully cover (days on or after the
    ///   timeline and bucket retention floors) equals the fold of that
    ///   day's stored events. Before the timeline floor events are gone, so
    ///   only "the buckets count at least the stored events" is checked;
    ///   the all-time values survive retention and can then only be checked
    ///   against the buckets. Skipped (only the totals are checked) when
    ///   timelines are off (`timeline_retention(0)`).
    /// - **Segments**: definitions, bitmap chunks (live members only), and
    ///   every stored membership equals evaluating the segment from scratch
    ///   at the clock's now — except where a due wake-up (run
    ///   [`tick`](Self::tick)) will apply the change; wake-ups agree with
    ///   their index and name live profiles; the in-memory bitmaps (and
    ///   their flat blocks) equal the stored ones; the cached rollup
    ///   accumulators and wake-ups equal the stored ones; the last
    ///   membership-history entry equals the membership; feed records sit
    ///   under their number.
    ///
    /// Every value read must decode.
    pub fn check(&self) -> Result<CheckReport> {
        // A definition's backfill in this process ends first.
        let _definitions = self.core.definitions.hold("check")?;
        let cache = rollups::rollup_cache_diffs(&self.core)?;
        let wakeups = {
            let _writer = self.core.writer.lock();
            self.core.wakeups.diffs(&self.core.store.snapshot())?
        };
        let (view, memory) = {
            // The snapshot the in-memory bitmaps agree with; during a
            // backfill, the bitmaps the writer maintains (and stores).
            let (state, view) = self.bitmaps_and_snapshot();
            let memory = state.for_writer().segments.iter().map(|s| (s.def.id, s.members.clone())).collect();
            (view, memory)
        };
        // A segment whose backfill is unfinished: its members are partly
        // evaluated (reported; the writer's next open finishes them).
        let unfinished = schema::META_U32.get(&view, crate::keys::meta::SEGMENT_BACKFILL)?;
        let mut c = Checker {
            core: &self.core,
            view: &view,
            report: CheckReport::default(),
            next_id: None,
            live: RoaringBitmap::new(),
            counted: RoaringBitmap::new(),
            now: self.core.clock.now(),
            timelines: self.core.config.timeline_retention_ms > 0,
            memory,
            unfinished,
        };
        c.meta()?;
        c.profiles()?;
        c.aliases()?;
        c.identities()?;
        c.reverse_identities()?;
        c.orphan_history()?;
        c.rollups()?;
        c.segments()?;
        for d in cache {
            c.violation(inv::ROLLUP_CACHE, d);
        }
        for d in wakeups {
            c.violation(inv::WAKEUP_CACHE, d);
        }
        Ok(c.report)
    }
}

struct Checker<'a> {
    core: &'a crate::core::Core,
    view: &'a View<'a>,
    report: CheckReport,
    /// `meta/next_profile_id` (`None` when it did not decode: no bound checks).
    next_id: Option<u32>,
    live: RoaringBitmap,
    /// Live profiles whose records count identifiers (format 5) and say
    /// they have some: each must show up in `profile_identifiers`.
    counted: RoaringBitmap,
    /// The clock's now: segments are evaluated at it.
    now: Timestamp,
    /// Whether events are stored in timelines (buckets can be recomputed).
    timelines: bool,
    /// The in-memory members of each segment, by id, as of the snapshot.
    memory: std::collections::HashMap<u32, crate::segment::members::Members>,
    /// The segment whose backfill is unfinished, if any: not compared with
    /// memory when this handle did not load it (read-only, secondary).
    unfinished: Option<u32>,
}

impl Checker<'_> {
    fn violation(&mut self, what: &'static str, detail: impl Into<String>) {
        self.report.violations.push(Violation { what: what.to_owned(), detail: detail.into() });
    }

    /// Decodes a value, reporting (and returning `None` for) one that does not.
    fn decode<V: ValueCodec>(&mut self, cf: Cf<V>, key: &[u8], bytes: &[u8]) -> Option<V> {
        match cf.decode(key, bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.violation(inv::DECODES, e.to_string());
                None
            }
        }
    }

    fn bad_key(&mut self, cf: &str, key: &[u8], expected: &str) {
        self.violation(inv::DECODES, format!("{cf} key {} is not {expected}", hex_prefix(key)));
    }

    fn allocated(&mut self, id: ProfileId, role: &str) {
        if let Some(next) = self.next_id {
            if id.0 >= next {
                self.violation(inv::ID_ALLOCATED, format!("{role} {id} is not below next_profile_id {next}"));
            }
        }
    }

    fn is_live(&self, id: ProfileId) -> bool {
        self.live.contains(id.0)
    }

    /// A `u64` meta value: `None` when absent, reported when undecodable.
    fn meta_u64(&mut self, key: &[u8]) -> Result<Option<u64>> {
        match self.view.get(schema::META_U64.name, key)? {
            Some(b) => Ok(self.decode(schema::META_U64, key, &b)),
            None => Ok(None),
        }
    }

    /// A retention floor from meta ([`NO_FLOOR`] when absent or undecodable).
    fn floor(&mut self, key: &[u8]) -> Result<i64> {
        Ok(self.meta_u64(key)?.map_or(NO_FLOOR, |v| i64::try_from(v).unwrap_or(i64::MAX)))
    }

    fn meta(&mut self) -> Result<()> {
        let cf = schema::META_U32;
        match self.view.get(cf.name, keys::meta::FORMAT_VERSION)? {
            Some(b) => {
                self.decode(cf, keys::meta::FORMAT_VERSION, &b);
            }
            None => self.violation(inv::META, "meta/format_version is missing"),
        }
        self.next_id = match self.view.get(cf.name, keys::meta::NEXT_PROFILE_ID)? {
            Some(b) => self.decode(cf, keys::meta::NEXT_PROFILE_ID, &b),
            None => Some(0),
        };
        Ok(())
    }
}

mod graph;
mod history;
mod rollups;
mod segments;

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_data;

#[cfg(test)]
mod decoder_fuzz;
