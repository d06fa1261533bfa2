//! [`SegmentState`]: the in-memory segment registry and bitmaps.
//!
//! Bitmaps are kept deserialized in memory (decision 4 of DESIGN.md) and
//! persisted as one key per 65,536-id chunk, so a write rewrites at most a
//! few KiB however large the segment. The writer changes them only after
//! its batch commits, under a short write lock.

use foldhash::{HashMap, HashMapExt};

use roaring::RoaringBitmap;

use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::def::SegmentDef;
use crate::segment::index::TraitIndexes;
use crate::segment::members::Members;
use crate::segment::{dependencies, Dependencies};
use crate::storage::View;

/// A defined segment, compiled: its definition, what it reads, members.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub def: SegmentDef,
    pub deps: Dependencies,
    pub members: Members,
}

/// Every segment and the bitmap of live profiles.
#[derive(Debug, Default)]
pub(crate) struct SegmentState {
    /// Segments in evaluation order: a segment comes after those it reads.
    pub segments: Vec<Compiled>,
    /// Index into `segments` by name.
    pub by_name: HashMap<String, usize>,
    /// Index into `segments` by id.
    pub by_id: HashMap<u32, usize>,
    /// The ids of the time-dependent segments (those that file wake-ups),
    /// ascending.
    pub timed: Vec<u32>,
    /// Every live profile (for `not` in queries).
    pub live: RoaringBitmap,
    /// The next segment id.
    pub next_id: u32,
    /// Trait indexes and the ids that are no longer live.
    pub indexes: TraitIndexes,
}

/// The format version from which the live set is persisted (as the ids
/// that are gone) instead of rebuilt by scanning `profile` at open.
pub(crate) const LIVE_SET_PERSISTED_SINCE: u32 = 4;

/// The live profiles, by scanning the `profile` column family.
pub(crate) fn scan_live(view: &View<'_>) -> Result<RoaringBitmap> {
    let mut live = RoaringBitmap::new();
    for kv in view.range(schema::PROFILES.name, &[], None)? {
        let (k, _) = kv?;
        if let Some(p) = keys::parse_profile(&k) {
            live.insert(p.0);
        }
    }
    Ok(live)
}

impl SegmentState {
    /// Loads definitions, bitmaps and the live set.
    pub fn load(view: &View<'_>) -> Result<SegmentState> {
        let mut defs = Vec::new();
        for kv in view.range(schema::SEGMENT_DEFS.name, &[], None)? {
            let (k, v) = kv?;
            defs.push(schema::SEGMENT_DEFS.decode(&k, &v)?);
        }
        let mut members: HashMap<u32, RoaringBitmap> = HashMap::new();
        for kv in view.range(schema::SEGMENT_CHUNKS.name, &[], None)? {
            let (k, v) = kv?;
            let chunk = schema::SEGMENT_CHUNKS.decode(&k, &v)?;
            let seg = k.get(..4).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes).unwrap_or(u32::MAX);
            *members.entry(seg).or_default() |= chunk.0;
        }
        let version = schema::META_U32.get(view, keys::meta::FORMAT_VERSION)?.unwrap_or(0);
        let (indexes, live) = if version >= LIVE_SET_PERSISTED_SINCE {
            let indexes = TraitIndexes::load(view)?;
            let next = schema::META_U32.get(view, keys::meta::NEXT_PROFILE_ID)?.unwrap_or(0);
            let mut live = RoaringBitmap::new();
            live.insert_range(0..next);
            live -= &indexes.gone;
            (indexes, live)
        } else {
            // An older database opened read-only (not upgraded): scan.
            (TraitIndexes::default(), scan_live(view)?)
        };
        let next_id = schema::META_U32.get(view, keys::meta::NEXT_SEGMENT_ID)?.unwrap_or(0);
        let mut state = SegmentState { live, next_id, indexes, ..SegmentState::default() };
        for def in defs {
            let m = members.remove(&def.id).unwrap_or_default();
            state.insert(def, m.into());
        }
        Ok(state)
    }

    /// Adds or replaces a segment and re-sorts the evaluation order.
    pub fn insert(&mut self, def: SegmentDef, members: Members) {
        let deps = dependencies(&def.expr);
        if let Some(i) = self.by_name.get(&def.name).copied() {
            self.segments[i] = Compiled { def, deps, members };
        } else {
            self.segments.push(Compiled { def, deps, members });
        }
        self.reorder();
    }

    /// Removes a segment.
    pub fn remove(&mut self, name: &str) {
        self.segments.retain(|s| s.def.name != name);
        self.reorder();
    }

    /// Orders segments so that each comes after the segments it reads
    /// (definitions are acyclic: checked when defined).
    fn reorder(&mut self) {
        let mut ordered: Vec<Compiled> = Vec::with_capacity(self.segments.len());
        let mut rest = std::mem::take(&mut self.segments);
        rest.sort_by(|a, b| a.def.name.cmp(&b.def.name));
        while !rest.is_empty() {
            let ready = rest
                .iter()
                .position(|s| s.deps.segments.iter().all(|d| ordered.iter().any(|o| &o.def.name == d)))
                .unwrap_or(0);
            ordered.push(rest.remove(ready));
        }
        self.segments = ordered;
        self.by_name = self.segments.iter().enumerate().map(|(i, s)| (s.def.name.clone(), i)).collect();
        self.by_id = self.segments.iter().enumerate().map(|(i, s)| (s.def.id, i)).collect();
        self.timed = self.segments.iter().filter(|s| s.deps.time_dependent).map(|s| s.def.id).collect();
        self.timed.sort_unstable();
    }

    /// A segment by name.
    pub fn get(&self, name: &str) -> Option<&Compiled> {
        self.by_name.get(name).map(|i| &self.segments[*i])
    }

    /// Whether `p` is a committed member of segment `id`.
    pub fn contains(&self, id: u32, p: ProfileId) -> bool {
        self.by_id.get(&id).is_some_and(|i| self.segments[*i].members.contains(p.0))
    }

    /// A copy of the segments and the live set (no trait indexes), for a
    /// check that evaluates every segment without holding the lock.
    pub fn segments_copy(&self) -> SegmentState {
        SegmentState {
            segments: self.segments.clone(),
            by_name: self.by_name.clone(),
            by_id: self.by_id.clone(),
            timed: self.timed.clone(),
            live: self.live.clone(),
            next_id: self.next_id,
            ..SegmentState::default()
        }
    }

    /// A copy of what a query over `deps` reads: the bitmaps of the
    /// segments and trait indexes it names and the live set, so that the
    /// query can evaluate per-profile conditions without holding the lock
    /// (which would stall every writer meanwhile).
    pub fn query_copy(&self, deps: &Dependencies) -> SegmentState {
        let mut copy = SegmentState { live: self.live.clone(), next_id: self.next_id, ..SegmentState::default() };
        for name in &deps.segments {
            if let Some(c) = self.get(name) {
                copy.by_name.insert(name.clone(), copy.segments.len());
                copy.by_id.insert(c.def.id, copy.segments.len());
                copy.segments.push(c.clone());
            }
        }
        for name in &deps.traits {
            if let Some(ix) = self.indexes.by_name.get(name) {
                copy.indexes.by_name.insert(name.clone(), ix.clone());
            }
        }
        copy
    }
}
