//! [`SegmentState`]: the in-memory segment registry and bitmaps.
//!
//! Bitmaps are kept deserialized in memory (decision 4 of DESIGN.md) and
//! persisted as one key per 65,536-id chunk, so a write rewrites at most a
//! few KiB however large the segment. The writer changes them only after
//! its batch commits, under a short write lock.
//!
//! A segment being (re)defined is backfilled over many commits; until the
//! backfill ends readers see the segment as it was (absent, or its previous
//! definition and members): the writer evaluates and updates a copy of the
//! segments ([`SegmentState::building`]) that replaces them once complete.
//! A handle that cannot finish a backfill (read-only, secondary) loads a
//! segment whose backfill a writer has not finished as not defined.

use foldhash::{HashMap, HashMapExt};

use roaring::RoaringBitmap;

use crate::error::{Error, NotFoundKind, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::def::SegmentDef;
use crate::segment::event_reads::EventReads;
use crate::segment::index::TraitIndexes;
use crate::segment::members::Members;
use crate::segment::{dependencies, Dependencies};
use crate::storage::View;

/// A defined segment, compiled: its definition, what it reads, members.
#[derive(Clone, Debug)]
pub(crate) struct Compiled {
    pub def: SegmentDef,
    pub deps: Dependencies,
    /// The selectors it reads events through (which events can change it).
    pub event_reads: EventReads,
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
    /// While a (re)definition is backfilled in this process: the writer's
    /// segments, with the new definition and its members so far (its
    /// `live` and `indexes` are unused). See the module docs.
    building: Option<Box<SegmentState>>,
    /// A segment this handle loaded as not defined because its backfill
    /// is not finished: its id, and its name (for errors).
    unfinished: Option<(u32, String)>,
    /// In the copy [`building`](Self::building) holds: the id of the
    /// segment being (re)defined.
    building_id: Option<u32>,
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
    /// Loads definitions, bitmaps and the live set. With `hide_unfinished`
    /// (handles that cannot finish a backfill), a segment whose backfill
    /// is pending is left out: its stored definition is the new one and its
    /// members are partly evaluated (the previous definition is gone).
    pub fn load(view: &View<'_>, hide_unfinished: bool) -> Result<SegmentState> {
        let pending = match hide_unfinished {
            true => schema::META_U32.get(view, keys::meta::SEGMENT_BACKFILL)?,
            false => None,
        };
        let mut defs = Vec::new();
        let mut unfinished = None;
        for kv in view.range(schema::SEGMENT_DEFS.name, &[], None)? {
            let (k, v) = kv?;
            let def: SegmentDef = schema::SEGMENT_DEFS.decode(&k, &v)?;
            if pending == Some(def.id) {
                unfinished = Some((def.id, def.name));
            } else {
                defs.push(def);
            }
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
        let mut state = SegmentState { live, next_id, indexes, unfinished, ..SegmentState::default() };
        for def in defs {
            let m = members.remove(&def.id).unwrap_or_default();
            state.insert(def, m.into());
        }
        Ok(state)
    }

    /// Adds or replaces a segment and re-sorts the evaluation order.
    pub fn insert(&mut self, def: SegmentDef, members: Members) {
        let deps = dependencies(&def.expr);
        let event_reads = EventReads::of(&def.expr);
        let compiled = Compiled { def, deps, event_reads, members };
        if let Some(i) = self.by_name.get(&compiled.def.name).copied() {
            self.segments[i] = compiled;
        } else {
            self.segments.push(compiled);
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

    /// A segment by name, or an error saying it is not defined (or not
    /// yet: its backfill is in progress).
    pub fn named(&self, name: &str) -> Result<&Compiled> {
        self.get(name).ok_or_else(|| {
            let building = self.building.as_ref().is_some_and(|b| b.get(name).is_some());
            match building || self.unfinished.as_ref().is_some_and(|(_, n)| n == name) {
                true => Error::not_found(
                    NotFoundKind::Segment,
                    format!("segment {name:?} (its definition's backfill is in progress)"),
                ),
                false => Error::not_found(NotFoundKind::Segment, format!("segment {name:?}")),
            }
        })
    }

    /// The segments the writer evaluates and maintains: the copy being
    /// built during a backfill, else these.
    pub fn for_writer(&self) -> &SegmentState {
        self.building.as_deref().unwrap_or(self)
    }

    /// Publishes a commit's membership changes ((segment, profile) →
    /// member) to the segments the writer maintains
    /// ([`for_writer`](Self::for_writer)), and, during a backfill, to the
    /// readers' segments too (writes go on between the backfill's
    /// batches): every segment but the one being built, whose readers keep
    /// the members it had when its (re)definition began — less the
    /// profiles no longer live (call after updating `live`), so that a
    /// merged-away or erased profile is never listed.
    pub fn set_members<'m>(&mut self, changes: impl IntoIterator<Item = (&'m (u32, ProfileId), &'m bool)>) {
        fn apply(state: &mut SegmentState, seg: u32, p: ProfileId, member: bool) {
            if let Some(i) = state.by_id.get(&seg).copied() {
                if member {
                    state.segments[i].members.insert(p.0);
                } else {
                    state.segments[i].members.remove(p.0);
                }
            }
        }
        let built = self.building.as_ref().and_then(|b| b.building_id);
        for ((seg, p), member) in changes {
            if let Some(b) = self.building.as_deref_mut() {
                apply(b, *seg, *p, *member);
                if Some(*seg) == built && (*member || self.live.contains(p.0)) {
                    continue;
                }
            }
            apply(self, *seg, *p, *member);
        }
    }

    /// Starts the backfill of `def` (with `members` to start from): the
    /// writer works on a copy of the segments holding it; readers keep
    /// seeing these until [`finish_building`](Self::finish_building).
    pub fn begin_building(&mut self, def: SegmentDef, members: Members) {
        // With their names and ids: `insert` replaces a redefined one.
        let mut copy = self.segments_copy();
        copy.live = RoaringBitmap::new();
        copy.building_id = Some(def.id);
        copy.insert(def, members);
        self.building = Some(Box::new(copy));
    }

    /// Publishes the segments built by a backfill (also one that failed:
    /// the writer maintains what it built, and its next open finishes it).
    pub fn finish_building(&mut self) {
        if let Some(b) = self.building.take() {
            let b = *b;
            self.segments = b.segments;
            self.by_name = b.by_name;
            self.by_id = b.by_id;
            self.timed = b.timed;
        }
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
