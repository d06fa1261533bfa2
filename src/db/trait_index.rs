//! Indexed traits: declare, drop, list, and check against the profiles.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;

use crate::error::{Error, NotFoundKind, Result};
use crate::keys::trait_index as tk;
use crate::profile::id::ProfileId;
use crate::profile::value::TraitValue;
use crate::schema;
use crate::segment::index::{TraitIndex, TraitIndexes, MAX_INDEXED_VALUES};
use crate::segment::state::LIVE_SET_PERSISTED_SINCE;
use crate::storage::View;

use super::ProfileDb;

/// The [`IndexMismatch::name`] of a difference in the live set (no trait
/// name holds parentheses).
pub const LIVE_SET: &str = "(live set)";

/// An indexed trait and the size of its bitmaps.
#[derive(Clone, Debug, PartialEq)]
pub struct TraitIndexInfo {
    /// The trait's dotted name.
    pub name: String,
    /// Distinct values with a bitmap of their own (at most
    /// [`MAX_INDEXED_VALUES`]).
    pub values: usize,
    /// Live profiles with the trait set.
    pub profiles: u64,
    /// Of those, profiles whose value has no bitmap because the index
    /// reached its distinct-value cap: queries evaluate them one by one.
    pub unindexed: u64,
}

/// A difference between a stored trait-index bitmap and the profiles.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexMismatch {
    /// The indexed trait, or [`LIVE_SET`] for the set of live profiles.
    pub name: String,
    /// The value whose bitmap differs (`None`: the bitmap of values past
    /// the cap, or the live set).
    pub value: Option<TraitValue>,
    /// The profile (`ProfileId(u32::MAX)` when the index itself is defined
    /// only in memory or only on disk, or has too many values).
    pub profile: ProfileId,
    /// Whether the stored bitmap holds it (for a definition: whether it
    /// is on disk).
    pub stored: bool,
}

/// The index of `name` over every profile record in `view`.
fn scan_trait(view: &View<'_>, id: u32, name: &str) -> Result<TraitIndex> {
    let mut ix = TraitIndex::new(id, name);
    for kv in view.range(schema::PROFILES.name, &[], None)? {
        let (k, v) = kv?;
        let rec = schema::PROFILES.decode(&k, &v)?;
        if let Some(value) = rec.profile.traits.get(name) {
            ix.file(rec.profile.id, value);
        }
    }
    Ok(ix)
}

impl TraitIndex {
    fn info(&self) -> TraitIndexInfo {
        TraitIndexInfo {
            name: self.name.clone(),
            values: self.values.len(),
            profiles: self.with_trait().len(),
            unindexed: self.other.len(),
        }
    }
}

impl ProfileDb {
    /// Declares a trait indexed: every distinct value (up to
    /// [`MAX_INDEXED_VALUES`]) gets a roaring bitmap of the profiles
    /// holding it, backfilled now over every profile and kept exact by
    /// every later write, so queries (`traits.country = "DE"`, `!=`,
    /// `in [..]`, `exists`, …) use bitmap algebra. Meant for
    /// low-cardinality traits; profiles holding values past the cap are
    /// evaluated one by one at query time. Indexing an indexed trait
    /// changes nothing.
    ///
    /// The backfill scans a snapshot of the profiles without holding the
    /// writer lock, so writes go on meanwhile; the profiles they wrote are
    /// then refiled from their current records, and the index is committed
    /// and published, under the lock (for as long as that refiling takes).
    /// Waits for a segment or rollup definition running on another thread.
    ///
    /// ```
    /// use profiledb::{ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// db.update(&"user_id:1".parse()?, Update::new().set("country", "DE"))?;
    /// let info = db.index_trait("country")?;
    /// assert_eq!((info.values, info.profiles), (1, 1));
    /// let q = db.query(r#"traits.country = "DE""#)?;
    /// assert_eq!(q.count(), 1);
    /// assert!(q.explain().contains("value bitmaps of traits.country"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn index_trait(&self, name: &str) -> Result<TraitIndexInfo> {
        self.writable("index_trait")?;
        crate::profile::traits::validate_name(name)?;
        // One definition at a time: a single recorder of touched profiles.
        let _definitions = self.core.definitions.hold("index_trait")?;
        // The snapshot and the recorder start together, under the writer
        // lock: every commit after the snapshot is recorded.
        let (id, view) = {
            let mut writer = self.core.writer.lock();
            if let Some(ix) = self.core.segments.read().indexes.by_name.get(name) {
                return Ok(ix.info());
            }
            writer.index_touched = Some(RoaringBitmap::new());
            (self.core.segments.read().indexes.next_id(), self.core.store.snapshot())
        };
        // The scan runs without the writer lock: writes go on meanwhile.
        let scanned = scan_trait(&view, id, name);
        drop(view);
        #[cfg(test)]
        super::tests_index_race::after_scan(self);
        let mut writer = self.core.writer.lock();
        let touched = writer.index_touched.take().unwrap_or_default();
        let mut ix = scanned?;
        // Profiles written since the snapshot: refiled from their records
        // now (the writer lock is held: nothing else commits).
        let latest = self.core.store.latest();
        for p in &touched {
            let p = ProfileId(p);
            ix.unfile(p);
            if let Some(rec) = schema::PROFILES.get(&latest, &crate::keys::profile(p))? {
                if let Some(value) = rec.profile.traits.get(name) {
                    ix.file(p, value);
                }
            }
        }
        drop(latest);
        let mut batch = self.core.store.batch();
        schema::TRAIT_INDEX_DEFS.put(&mut batch, tk::def(name), &id);
        ix.stage_all(&mut batch);
        self.core.store.commit(batch)?;
        #[cfg(test)]
        super::tests_index_race::after_commit(self);
        // Published before the writer lock goes, as drop_trait_index does:
        // every later write sees the index and keeps it exact; a write in
        // between would not see it, and its change would never be indexed.
        let info = ix.info();
        self.core.segments.write().indexes.by_name.insert(name.to_owned(), ix);
        drop(writer);
        Ok(info)
    }

    /// Drops a trait index: its definition and bitmaps. Queries on the
    /// trait then evaluate profiles one by one.
    pub fn drop_trait_index(&self, name: &str) -> Result<()> {
        self.writable("drop_trait_index")?;
        let _writer = self.core.writer.lock();
        let id = match self.core.segments.read().indexes.by_name.get(name) {
            Some(ix) => ix.id,
            None => return Err(Error::not_found(NotFoundKind::TraitIndex, format!("trait index {name:?}"))),
        };
        let mut batch = self.core.store.batch();
        schema::TRAIT_INDEX_DEFS.delete(&mut batch, tk::def(name));
        for prefix in [tk::VALUE, tk::OTHER] {
            let end = tk::index_prefix(prefix, id.saturating_add(1));
            batch.delete_range(schema::TRAIT_INDEX_CHUNKS.name, tk::index_prefix(prefix, id), end);
        }
        self.core.store.commit(batch)?;
        self.core.segments.write().indexes.by_name.remove(name);
        Ok(())
    }

    /// Every indexed trait with the size of its bitmaps, by name.
    pub fn trait_indexes(&self) -> Vec<TraitIndexInfo> {
        self.core.segments.read().indexes.by_name.values().map(TraitIndex::info).collect()
    }

    /// Compares every trait-index bitmap — in memory and as stored — and
    /// the live set with a fresh scan of the profiles, reporting each
    /// difference. Reads the whole `profile` column family: an admin
    /// operation.
    pub fn check_trait_indexes(&self) -> Result<Vec<IndexMismatch>> {
        let view = self.core.store.snapshot();
        let state = self.core.segments.read();
        let version = schema::META_U32.get(&view, crate::keys::meta::FORMAT_VERSION)?.unwrap_or(0);
        if version < LIVE_SET_PERSISTED_SINCE {
            return Ok(Vec::new()); // an older database opened read-only: nothing persisted to check
        }
        let stored = TraitIndexes::load(&view)?;
        let next = schema::META_U32.get(&view, crate::keys::meta::NEXT_PROFILE_ID)?.unwrap_or(0);
        let mut persisted = RoaringBitmap::new();
        persisted.insert_range(0..next);
        persisted -= &stored.gone;
        let scanned = crate::segment::state::scan_live(&view)?;
        let mut out = Vec::new();
        for bitmap in [&state.live, &persisted] {
            for (diff, stored) in [(bitmap - &scanned, true), (&scanned - bitmap, false)] {
                for id in diff {
                    out.push(IndexMismatch { name: LIVE_SET.to_owned(), value: None, profile: ProfileId(id), stored });
                }
            }
        }
        let names: std::collections::BTreeSet<&String> =
            state.indexes.by_name.keys().chain(stored.by_name.keys()).collect();
        for name in names {
            let expected = expected_values(&view, name)?;
            let (memory, disk) = (state.indexes.by_name.get(name), stored.by_name.get(name));
            for ix in [memory, disk.filter(|d| Some(*d) != memory)].into_iter().flatten() {
                compare(ix, &expected, &mut out);
            }
            if memory.is_none() || disk.is_none() {
                let profile = ProfileId(u32::MAX);
                out.push(IndexMismatch { name: name.clone(), value: None, profile, stored: disk.is_some() });
            }
        }
        Ok(out)
    }
}

/// Every live profile's value of trait `name`.
fn expected_values(view: &View<'_>, name: &str) -> Result<BTreeMap<u32, TraitValue>> {
    let mut out = BTreeMap::new();
    for kv in view.range(schema::PROFILES.name, &[], None)? {
        let (k, v) = kv?;
        let rec = schema::PROFILES.decode(&k, &v)?;
        if let Some(value) = rec.profile.traits.get(name) {
            out.insert(rec.profile.id.0, value.clone());
        }
    }
    Ok(out)
}

/// Reports every profile filed where its value does not say, and every
/// profile with the trait that is not filed where it should be.
fn compare(ix: &TraitIndex, expected: &BTreeMap<u32, TraitValue>, out: &mut Vec<IndexMismatch>) {
    let mut miss = |value: Option<TraitValue>, p: u32, stored: bool| {
        out.push(IndexMismatch { name: ix.name.clone(), value, profile: ProfileId(p), stored });
    };
    if ix.values.len() > MAX_INDEXED_VALUES {
        miss(None, u32::MAX, true);
    }
    for (k, (value, members)) in &ix.values {
        for p in members {
            if expected.get(&p).map(tk::encode_value).as_ref() != Some(k) {
                miss(Some(value.clone()), p, true);
            }
        }
    }
    for p in &ix.other {
        let has_bitmap = expected.get(&p).is_some_and(|v| ix.values.contains_key(&tk::encode_value(v)));
        if !expected.contains_key(&p) || has_bitmap {
            miss(None, p, true);
        }
    }
    let filed: RoaringBitmap = ix.with_trait();
    for (p, v) in expected {
        match ix.values.get(&tk::encode_value(v)) {
            Some((_, members)) if !members.contains(*p) => miss(Some(v.clone()), *p, false),
            None if !ix.other.contains(*p) => miss(None, *p, false),
            _ if !filed.contains(*p) => miss(Some(v.clone()), *p, false),
            _ => {}
        }
    }
}
