//! The stores under comparison, behind one [`Store`] trait.
//!
//! Each store lives in its own file. A store that cannot run an operation
//! returns a reason from [`Store::unsupported`] (reported as `n/a`); none
//! does today.

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::resources::Server;
use crate::workload::{CountQuery, Event, Ident, Seed, TraitSet, View};

pub mod pdb;
pub mod postgres;
pub mod redis;
pub mod sqlite;

/// The measured operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    Lookup,
    TraitUpdate,
    Ingest,
    SegmentCount,
    Membership,
}

impl Op {
    /// Every operation, in the order they run.
    pub const ALL: [Op; 5] = [Op::Lookup, Op::TraitUpdate, Op::Ingest, Op::SegmentCount, Op::Membership];

    /// The label in the results table.
    pub fn label(self) -> &'static str {
        match self {
            Op::Lookup => "profile lookup by identifier",
            Op::TraitUpdate => "trait update (one set)",
            Op::Ingest => "event ingest (identity, rollups, segments)",
            Op::SegmentCount => "segment count (A AND B AND NOT C)",
            Op::Membership => "membership check",
        }
    }

    /// Whether the operation writes (its phase ends with [`Store::settle`]).
    pub fn writes(self) -> bool {
        matches!(self, Op::TraitUpdate | Op::Ingest)
    }
}

/// One store under test. Every method runs one complete operation the way
/// an application would call it (one transaction, pipeline or API call).
pub trait Store {
    /// Short name: `profiledb`, `sqlite`, `redis`, `postgres`.
    fn name(&self) -> &'static str;

    /// Version and configuration, for the report.
    fn describe(&self) -> String;

    /// What the store keeps and does that the others do not (or the
    /// reverse), for the report's per-store notes.
    fn scope(&self) -> &'static str;

    /// The memory the store is allowed (caches, buffers), for the report.
    fn budget(&self) -> String;

    /// The server process(es) to charge CPU and memory to, for the stores
    /// that run in a server; `None` for embedded stores.
    fn server(&mut self) -> Result<Option<Server>> {
        Ok(None)
    }

    /// Requests sent to a server so far (a pipeline or script call is
    /// one), counted by the client; `None` for embedded stores.
    fn round_trips(&self) -> Option<u64> {
        None
    }

    /// Finishes the background work the writes so far started (flushes,
    /// compactions, checkpoints); called at the end of each write phase and
    /// counted in its time.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }

    /// The stored data's size in bytes and what was measured.
    fn footprint(&mut self) -> Result<(u64, &'static str)>;

    /// Live profiles and linked identifiers.
    fn counts(&mut self) -> Result<(u64, u64)>;

    /// `Some(reason)` when the store cannot run `op` (shown as `n/a`).
    fn unsupported(&self, _op: Op) -> Option<&'static str> {
        None
    }

    /// A footnote for `op` when the store does less (or more) than the others.
    fn note(&self, _op: Op) -> Option<&'static str> {
        None
    }

    /// Loads a batch of profiles (in one transaction or pipeline where the
    /// store has them). Called repeatedly, then [`Store::finish_load`].
    fn load(&mut self, batch: &[Seed]) -> Result<()>;

    /// Builds indexes, analyzes, etc. Counted in the load time.
    fn finish_load(&mut self, profiles: u64) -> Result<()>;

    /// The profile an identifier reaches, with its traits and rollups.
    fn lookup(&mut self, id: &Ident) -> Result<Option<View>>;

    /// Sets one trait of the profile `id` reaches (which must exist),
    /// maintaining segment membership.
    fn set_trait(&mut self, id: &Ident, set: &TraitSet) -> Result<()>;

    /// Records one event: resolve or create the profile, stitch identifiers
    /// (merging profiles into the lowest id), update rollups and segment
    /// membership — atomically.
    fn ingest(&mut self, ev: &Event) -> Result<()>;

    /// How many profiles are in `a` and `b` and not in `not_c`.
    fn segment_count(&mut self, q: &CountQuery) -> Result<u64>;

    /// Whether the profile `id` reaches is in `segment`.
    fn is_member(&mut self, id: &Ident, segment: usize) -> Result<bool>;

    /// The number of members of each of the 20 segments, in [`SEGMENTS`](crate::workload::SEGMENTS) order.
    fn segment_sizes(&mut self) -> Result<Vec<u64>>;
}

/// The bits set in `new` but not `old` (added) and in `old` but not `new` (removed).
pub fn mask_diff(old: u32, new: u32) -> (impl Iterator<Item = usize>, impl Iterator<Item = usize>) {
    (bits(new & !old), bits(old & !new))
}

/// The indexes of the set bits of `m`.
pub fn bits(m: u32) -> impl Iterator<Item = usize> {
    (0..32).filter(move |i| m & (1 << i) != 0)
}
