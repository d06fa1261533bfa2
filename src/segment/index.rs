//! Trait indexes: one roaring bitmap per (indexed trait, value), so a
//! query such as `traits.country = "DE"` is bitmap algebra instead of an
//! evaluation of every candidate profile.
//!
//! An indexed trait holds low-cardinality values (country, plan, …). Each
//! distinct value gets a bitmap of the live profiles holding exactly that
//! value, up to [`MAX_INDEXED_VALUES`] values. Once the cap is reached, a
//! profile whose value has no bitmap goes to the index's *other* bitmap
//! and queries evaluate those profiles one by one (`explain` says so). A
//! new value gets its own bitmap only while *other* is empty, so a value
//! with a bitmap is never also held by a profile in *other*: every live
//! profile with the trait set is in exactly one bitmap of the index.
//!
//! Bitmaps are changed in the batch of every write that changes the trait
//! ([`stage`], called by the write operation's commit, which also covers
//! merges, unmerges and erasure) and published to memory after the batch
//! commits ([`Staged::publish`]). They persist as one key per 65,536-id
//! chunk like segment bitmaps (`keys::trait_index`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use roaring::RoaringBitmap;

use crate::clock::Timestamp;
use crate::core::Core;
use crate::error::Result;
use crate::keys::trait_index as tk;
use crate::profile::id::ProfileId;
use crate::profile::state::ProfileRecord;
use crate::profile::value::TraitValue;
use crate::schema;
use crate::segment::bitmap_codec::{stage_chunk, Chunk};
use crate::segment::compare::trait_passes;
use crate::segment::TraitTest;
use crate::storage::{Batch, View};

/// The most distinct values of one indexed trait that get a bitmap of
/// their own. Profiles holding further values are evaluated one by one
/// at query time.
pub const MAX_INDEXED_VALUES: usize = 1_000;

/// Where a profile is filed in one index.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Slot {
    /// The bitmap of this value (encoded by `keys::trait_index::encode_value`).
    Value(Vec<u8>),
    /// The bitmap of profiles whose value has no bitmap of its own.
    Other,
}

/// The bitmaps of one indexed trait.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TraitIndex {
    /// The index id used in keys.
    pub id: u32,
    /// The trait's dotted name.
    pub name: String,
    /// Encoded value → (value, the live profiles holding it).
    pub values: BTreeMap<Vec<u8>, (TraitValue, RoaringBitmap)>,
    /// Profiles whose value has no bitmap (the cap was reached).
    pub other: RoaringBitmap,
}

impl TraitIndex {
    /// An empty index.
    pub fn new(id: u32, name: &str) -> Self {
        TraitIndex { id, name: name.to_owned(), ..TraitIndex::default() }
    }

    /// The slot where `p`, holding `value`, is filed now (if anywhere).
    fn slot_of(&self, p: ProfileId, value: Option<&TraitValue>) -> Option<Slot> {
        if let Some(v) = value {
            let k = tk::encode_value(v);
            if self.values.get(&k).is_some_and(|(_, m)| m.contains(p.0)) {
                return Some(Slot::Value(k));
            }
        }
        self.other.contains(p.0).then_some(Slot::Other)
    }

    /// The slot a profile holding `key` goes to, given the values whose
    /// bitmaps `created` (not yet published) and whether `other` gained
    /// members in the same operation.
    fn slot_for(&self, key: Vec<u8>, created: &mut BTreeSet<Vec<u8>>, other_grew: bool) -> Slot {
        if self.values.contains_key(&key) || created.contains(&key) {
            Slot::Value(key)
        } else if self.values.len() + created.len() < MAX_INDEXED_VALUES && self.other.is_empty() && !other_grew {
            created.insert(key.clone());
            Slot::Value(key)
        } else {
            Slot::Other
        }
    }

    /// Removes `p` from every bitmap: before refiling a profile a write
    /// changed while the backfill scanned.
    pub fn unfile(&mut self, p: ProfileId) {
        self.other.remove(p.0);
        self.values.retain(|_, (_, m)| {
            m.remove(p.0);
            !m.is_empty()
        });
    }

    /// Files `p`, holding `value`, during a backfill (ascending ids).
    pub fn file(&mut self, p: ProfileId, value: &TraitValue) {
        let mut created = BTreeSet::new();
        match self.slot_for(tk::encode_value(value), &mut created, false) {
            Slot::Value(k) => {
                self.values.entry(k).or_insert_with(|| (value.clone(), RoaringBitmap::new())).1.insert(p.0);
            }
            Slot::Other => {
                self.other.insert(p.0);
            }
        }
    }

    /// Every profile with the trait set.
    pub fn with_trait(&self) -> RoaringBitmap {
        let mut all = self.other.clone();
        for (_, m) in self.values.values() {
            all |= m;
        }
        all
    }

    /// The profiles within `candidates` whose indexed value passes `test`
    /// at `now`, and how many values passed; profiles in `other` are left
    /// to the caller (their values are not known here).
    pub fn matching(&self, test: &TraitTest, now: Timestamp, candidates: &RoaringBitmap) -> (RoaringBitmap, usize) {
        let mut out = RoaringBitmap::new();
        let mut passed = 0;
        for (v, m) in self.values.values() {
            if trait_passes(Some(v), test, now) {
                out |= m & candidates;
                passed += 1;
            }
        }
        if trait_passes(None, test, now) {
            out |= candidates - self.with_trait();
        }
        (out, passed)
    }

    /// The bitmap of a slot (empty when it has none).
    fn bitmap(&self, slot: &Slot) -> Option<&RoaringBitmap> {
        match slot {
            Slot::Value(k) => self.values.get(k).map(|(_, m)| m),
            Slot::Other => Some(&self.other),
        }
    }

    /// The key of one chunk of a slot.
    fn chunk_key(&self, slot: &Slot, hi: u16) -> Vec<u8> {
        match slot {
            Slot::Value(k) => tk::value(self.id, k, hi),
            Slot::Other => tk::other(self.id, hi).to_vec(),
        }
    }

    /// Stages every chunk of this index (a backfill).
    pub fn stage_all(&self, batch: &mut Batch) {
        let slots = self.values.iter().map(|(k, (_, m))| (Slot::Value(k.clone()), m));
        for (slot, members) in slots.chain(std::iter::once((Slot::Other, &self.other))) {
            for (hi, part) in split_chunks(members) {
                schema::TRAIT_INDEX_CHUNKS.put(batch, self.chunk_key(&slot, hi), &Chunk(part));
            }
        }
    }
}

/// Splits a bitmap into its non-empty 65,536-id chunks.
pub(crate) fn split_chunks(bitmap: &RoaringBitmap) -> Vec<(u16, RoaringBitmap)> {
    let (Some(min), Some(max)) = (bitmap.min(), bitmap.max()) else { return Vec::new() };
    ((min >> 16)..=(max >> 16))
        .map(|hi| (hi as u16, Chunk::of(bitmap, hi as u16)))
        .filter(|(_, part)| !part.is_empty())
        .collect()
}

/// Every trait index, and the ids that are no longer live.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TraitIndexes {
    /// Indexes by trait name.
    pub by_name: BTreeMap<String, TraitIndex>,
    /// Ids below `next_profile_id` that are not live (merged away or
    /// erased): the live set is every other allocated id.
    pub gone: RoaringBitmap,
}

impl TraitIndexes {
    /// Loads definitions and bitmaps (format 4 and later).
    pub fn load(view: &View<'_>) -> Result<TraitIndexes> {
        let mut out = TraitIndexes::default();
        let mut by_id: HashMap<u32, TraitIndex> = HashMap::new();
        for kv in view.prefix(schema::TRAIT_INDEX_DEFS.name, &[tk::DEF])? {
            let (k, v) = kv?;
            let id = schema::TRAIT_INDEX_DEFS.decode(&k, &v)?;
            let name = std::str::from_utf8(&k[1..]).map_err(|_| bad_key(&k, "0x01 ‖ UTF-8 trait name"))?;
            by_id.insert(id, TraitIndex::new(id, name));
        }
        for kv in view.range(schema::TRAIT_INDEX_CHUNKS.name, &[tk::VALUE], None)? {
            let (k, v) = kv?;
            let chunk = schema::TRAIT_INDEX_CHUNKS.decode(&k, &v)?.0;
            match k.first() {
                Some(&tk::VALUE) => {
                    let (id, enc, _) =
                        tk::parse_value(&k).ok_or_else(|| bad_key(&k, "0x02 ‖ index ‖ value ‖ chunk"))?;
                    let value = tk::decode_value(enc).ok_or_else(|| bad_key(&k, "an encoded trait value"))?;
                    let ix = by_id.get_mut(&id).ok_or_else(|| bad_key(&k, "a bitmap of a defined index"))?;
                    ix.values.entry(enc.to_vec()).or_insert_with(|| (value, RoaringBitmap::new())).1 |= chunk;
                }
                Some(&tk::OTHER) => {
                    let (id, _) = tk::parse_other(&k).ok_or_else(|| bad_key(&k, "0x03 ‖ index ‖ chunk"))?;
                    let ix = by_id.get_mut(&id).ok_or_else(|| bad_key(&k, "a bitmap of a defined index"))?;
                    ix.other |= chunk;
                }
                Some(&tk::GONE) => {
                    tk::parse_gone(&k).ok_or_else(|| bad_key(&k, "0x04 ‖ chunk"))?;
                    out.gone |= chunk;
                }
                _ => return Err(bad_key(&k, "a trait-index key")),
            }
        }
        out.by_name = by_id.into_values().map(|ix| (ix.name.clone(), ix)).collect();
        Ok(out)
    }

    /// The next free index id.
    pub fn next_id(&self) -> u32 {
        self.by_name.values().map(|ix| ix.id + 1).max().unwrap_or(0)
    }
}

fn bad_key(k: &[u8], expected: &str) -> crate::Error {
    crate::storage::corrupt_key(schema::TRAIT_INDEX_CHUNKS.name, k, &format!("expected {expected}"))
}

/// One staged change of a bitmap.
#[derive(Clone, Debug)]
struct Change {
    index: String,
    slot: Slot,
    /// The value of a `Slot::Value` (to create its entry on publish).
    value: Option<TraitValue>,
    p: ProfileId,
    add: bool,
}

/// The index changes of one write operation, staged in its batch and
/// published to memory once the batch commits.
#[derive(Debug, Default)]
#[must_use]
pub(crate) struct Staged {
    changes: Vec<Change>,
    /// (profile, now gone?) for profiles that stopped or started being live.
    gone: Vec<(ProfileId, bool)>,
}

/// Stages, in `batch`, the index and live-set changes of an operation
/// whose new profile records are `profiles` (`None`: deleted — merged
/// away or erased). The old values are the committed records.
pub(crate) fn stage(
    core: &Core,
    view: &View<'_>,
    batch: &mut Batch,
    profiles: &foldhash::HashMap<ProfileId, Option<Arc<ProfileRecord>>>,
) -> Result<Staged> {
    let state = core.segments.read();
    let ixs = &state.indexes;
    let mut staged = Staged::default();
    let mut sorted: Vec<(&ProfileId, &Option<Arc<ProfileRecord>>)> = profiles.iter().collect();
    sorted.sort_unstable_by_key(|(p, _)| **p);
    for (p, rec) in &sorted {
        match rec {
            Some(_) if ixs.gone.contains(p.0) => staged.gone.push((**p, false)),
            None if !ixs.gone.contains(p.0) => staged.gone.push((**p, true)),
            _ => {}
        }
    }
    if ixs.by_name.is_empty() {
        stage_chunks(ixs, &staged, batch);
        return Ok(staged);
    }
    let mut committed = Vec::with_capacity(sorted.len());
    for (p, _) in &sorted {
        committed.push(if state.live.contains(p.0) { crate::txn::load_profile(core, view, **p)? } else { None });
    }
    for ix in ixs.by_name.values() {
        let mut created = BTreeSet::new();
        let mut other_grew = false;
        for ((p, rec), committed) in sorted.iter().zip(&committed) {
            let new = rec.as_ref().and_then(|r| r.profile.traits.get(&ix.name));
            let old = committed.as_ref().and_then(|r| r.profile.traits.get(&ix.name));
            if old == new && (old.is_none() || ix.slot_of(**p, old).is_some()) {
                continue;
            }
            let from = ix.slot_of(**p, old);
            let to = new.map(|v| ix.slot_for(tk::encode_value(v), &mut created, other_grew));
            if from == to {
                continue;
            }
            other_grew |= to == Some(Slot::Other);
            let mut push = |slot: Slot, add: bool| {
                let value = matches!(slot, Slot::Value(_)).then(|| new.cloned()).flatten();
                staged.changes.push(Change { index: ix.name.clone(), slot, value, p: **p, add });
            };
            if let Some(s) = from {
                push(s, false);
            }
            if let Some(s) = to {
                push(s, true);
            }
        }
    }
    stage_chunks(ixs, &staged, batch);
    Ok(staged)
}

/// Stages every chunk a staged change touches, as the changes
/// ([`stage_chunk`]): a write never rewrites a chunk.
fn stage_chunks(ixs: &TraitIndexes, staged: &Staged, batch: &mut Batch) {
    // Each id's last change per chunk of each slot.
    let mut chunks: BTreeMap<(String, Slot, u16), BTreeMap<u32, bool>> = BTreeMap::new();
    for c in &staged.changes {
        let hi = (c.p.0 >> 16) as u16;
        chunks.entry((c.index.clone(), c.slot.clone(), hi)).or_default().insert(c.p.0, c.add);
    }
    for ((name, slot, hi), changes) in &chunks {
        if let Some(ix) = ixs.by_name.get(name) {
            let key = ix.chunk_key(slot, *hi);
            stage_chunk(batch, schema::TRAIT_INDEX_CHUNKS.name, &key, ix.bitmap(slot), changes);
        }
    }
    let mut gone: BTreeMap<u16, BTreeMap<u32, bool>> = BTreeMap::new();
    for (p, is_gone) in &staged.gone {
        gone.entry((p.0 >> 16) as u16).or_default().insert(p.0, *is_gone);
    }
    for (hi, changes) in &gone {
        stage_chunk(batch, schema::TRAIT_INDEX_CHUNKS.name, &tk::gone(*hi), Some(&ixs.gone), changes);
    }
}

impl Staged {
    /// Applies the committed changes to the in-memory indexes.
    pub fn publish(self, ixs: &mut TraitIndexes) {
        for (p, is_gone) in self.gone {
            if is_gone {
                ixs.gone.insert(p.0);
            } else {
                ixs.gone.remove(p.0);
            }
        }
        let mut touched = BTreeSet::new();
        for c in self.changes {
            let Some(ix) = ixs.by_name.get_mut(&c.index) else { continue };
            let bitmap = match (&c.slot, c.value) {
                (Slot::Value(k), Some(v)) => &mut ix.values.entry(k.clone()).or_insert((v, RoaringBitmap::new())).1,
                (Slot::Value(k), None) => match ix.values.get_mut(k) {
                    Some((_, m)) => m,
                    None => continue,
                },
                (Slot::Other, _) => &mut ix.other,
            };
            if c.add {
                bitmap.insert(c.p.0);
            } else {
                bitmap.remove(c.p.0);
            }
            touched.insert(c.index);
        }
        for name in touched {
            if let Some(ix) = ixs.by_name.get_mut(&name) {
                ix.values.retain(|_, (_, m)| !m.is_empty());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::{CmpOp, Literal, Operand};

    #[test]
    fn values_past_the_cap_go_to_other_and_no_value_joins_later() {
        let mut ix = TraitIndex::new(0, "n");
        for i in 0..(MAX_INDEXED_VALUES as u32 + 5) {
            ix.file(ProfileId(i), &TraitValue::Int(i64::from(i)));
        }
        assert_eq!(ix.values.len(), MAX_INDEXED_VALUES);
        assert_eq!(ix.other.len(), 5);
        // A value that already has a bitmap keeps using it.
        ix.file(ProfileId(5_000), &TraitValue::Int(3));
        assert!(ix.values[&tk::encode_value(&TraitValue::Int(3))].1.contains(5_000));
        let eq = TraitTest::Cmp(CmpOp::Eq, Operand::Lit(Literal::Int(3)));
        let all = RoaringBitmap::from_iter(0..6_000);
        let (m, passed) = ix.matching(&eq, Timestamp(0), &all);
        assert_eq!((m.len(), passed), (2, 1));
        let ne = TraitTest::Cmp(CmpOp::Ne, Operand::Lit(Literal::Int(3)));
        let (m, _) = ix.matching(&ne, Timestamp(0), &all);
        // Everything but the two 3s, minus the five in `other` (the caller evaluates those).
        assert_eq!(m.len(), 6_000 - 2 - 5);
    }

    #[test]
    fn split_chunks_groups_by_high_bits() {
        let m = RoaringBitmap::from_iter([1u32, 2, 70_000, 200_000]);
        let parts = split_chunks(&m);
        assert_eq!(parts.iter().map(|(h, p)| (*h, p.len())).collect::<Vec<_>>(), vec![(0, 2), (1, 1), (3, 1)]);
    }
}
