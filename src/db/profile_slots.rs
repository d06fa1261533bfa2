//! [`ProfileSlots`]: a bounded cache of small per-profile maps — a
//! profile's cached rollup series, or its pending wake-ups by segment —
//! held in one slot of the [`DenseCache`] table indexed by the profile id.
//!
//! Keyed by (profile, key) in a hash map, every first touch of a pair is
//! its own probe: two dependent cache misses (control bytes, then the
//! entry), each about 280 ns on a large cache on the benchmark host, and an
//! event re-evaluating segments touches a dozen pairs of one profile. Here
//! the profile's pairs sit together, sorted by key, behind one line of the
//! table: one probe finds them all.
//!
//! Capacity is in profiles; a profile keeps every key cached for it (few:
//! the series its segments read, the time-dependent segments). Eviction
//! takes a profile's whole slot. Consistency is the owner's: these
//! operations run under the slot's set lock and never look at storage.

use crate::db::dense_cache::DenseCache;
use crate::db::prefetch::{self, Stage};
use crate::profile::id::ProfileId;

/// One profile's entries, ascending by key.
type Slot<V> = Box<[(u32, V)]>;

/// The cache (see the module docs).
pub(crate) struct ProfileSlots<V> {
    table: DenseCache<Slot<V>>,
}

impl<V: Send + 'static> ProfileSlots<V> {
    /// Empties the cache, handing its memory to the caller to free (see
    /// [`DenseCache::detach`]).
    pub fn detach(&mut self) -> Box<dyn Send> {
        self.table.detach()
    }
}

impl<V: Clone> ProfileSlots<V> {
    /// A cache of about `profiles` profiles' slots (0 disables it).
    pub fn new(profiles: usize) -> Self {
        ProfileSlots { table: DenseCache::new(profiles) }
    }

    /// Whether the cache holds anything at all (capacity 0 disables it).
    pub fn enabled(&self) -> bool {
        self.table.enabled()
    }

    /// `f` of `p`'s value at `key`, if cached.
    pub fn map<R>(&self, p: ProfileId, key: u32, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.table.update(p, |slot| slot.as_deref().and_then(|s| get(s, key)).map(f))
    }

    /// `f` of `p`'s cached entries, ascending by key (empty when none is
    /// cached), under one probe of the table.
    pub fn with_slot<R>(&self, p: ProfileId, f: impl FnOnce(&[(u32, V)]) -> R) -> R {
        self.table.update(p, |slot| f(slot.as_deref().unwrap_or(&[])))
    }

    /// `f` of `p`'s value at `key`, or of `load()`'s, which is then cached.
    /// For the writer, whose load is the committed state (no commit runs
    /// meanwhile); readers insert with [`insert_if`](Self::insert_if).
    pub fn map_or_load<R, E>(
        &self,
        p: ProfileId,
        key: u32,
        mut f: impl FnMut(&V) -> R,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<R, E> {
        if let Some(hit) = self.map(p, key, &mut f) {
            return Ok(hit);
        }
        let v = load()?;
        let out = f(&v);
        self.insert(p, key, v);
        Ok(out)
    }

    /// Caches `v` as `p`'s value at `key`, replacing any.
    pub fn insert(&self, p: ProfileId, key: u32, v: V) {
        self.insert_if(p, key, v, || true);
    }

    /// Caches `v` as `p`'s value at `key` if `cond()` holds, checked under
    /// the slot's lock (so it is serialized with
    /// [`modify`](Self::modify) and [`remove`](Self::remove) of `p`).
    pub fn insert_if(&self, p: ProfileId, key: u32, v: V, cond: impl FnOnce() -> bool) {
        self.table.update(p, |slot| {
            if !cond() {
                return;
            }
            let Some(s) = slot else {
                *slot = Some(Box::new([(key, v)]));
                return;
            };
            match s.binary_search_by_key(&key, |(k, _)| *k) {
                Ok(i) => {
                    if let Some(old) = s.get_mut(i) {
                        old.1 = v;
                    }
                }
                Err(i) => {
                    let mut entries = std::mem::take(s).into_vec();
                    entries.insert(i, (key, v));
                    *s = entries.into_boxed_slice();
                }
            }
        });
    }

    /// Changes `p`'s value at `key` in place, if cached.
    pub fn modify(&self, p: ProfileId, key: u32, f: impl FnOnce(&mut V)) {
        self.table.update(p, |slot| {
            if let Some(v) = slot.as_deref_mut().and_then(|s| get_mut(s, key)) {
                f(v);
            }
        });
    }

    /// Reads `p`'s slot and, for each value, what `reach` reads of it (the
    /// first bytes of its heap parts), folding nothing: the values' cache
    /// lines are loaded together, their misses overlapping, before the
    /// reads that need them come one after another.
    pub fn touch(&self, p: ProfileId, reach: impl Fn(&V) -> u64) {
        let sum =
            self.table.update(p, |slot| slot.as_deref().map_or(0, |s| s.iter().fold(0, |x, (_, v)| x ^ reach(v))));
        std::hint::black_box(sum);
    }

    /// One stage of prefetching `p`'s slot (see [`crate::db::prefetch`]):
    /// its set, or the slot's entries.
    pub fn prefetch(&self, p: ProfileId, stage: Stage) {
        match stage {
            Stage::Set => self.table.prefetch(p),
            Stage::Slot => self.table.inspect(p, |s| prefetch::lines(s.as_ptr(), std::mem::size_of_val(&**s))),
        }
    }

    /// Drops every value of `p`.
    pub fn remove(&self, p: ProfileId) {
        self.table.update(p, |slot| *slot = None);
    }

    /// Drops every value.
    pub fn clear(&self) {
        self.table.clear();
    }

    /// A copy of every value, with its profile and key (for `check`).
    pub fn entries(&self) -> Vec<((ProfileId, u32), V)> {
        let slots = self.table.entries().into_iter();
        slots.flat_map(|(p, s)| s.into_vec().into_iter().map(move |(k, v)| ((p, k), v))).collect()
    }
}

/// The value at `key` in a slot.
fn get<V>(slot: &[(u32, V)], key: u32) -> Option<&V> {
    let i = slot.binary_search_by_key(&key, |(k, _)| *k).ok()?;
    slot.get(i).map(|(_, v)| v)
}

/// The value at `key` in a slot, to change.
fn get_mut<V>(slot: &mut [(u32, V)], key: u32) -> Option<&mut V> {
    let i = slot.binary_search_by_key(&key, |(k, _)| *k).ok()?;
    slot.get_mut(i).map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profiles_keys_share_its_slot_and_leave_with_it() {
        let c: ProfileSlots<u64> = ProfileSlots::new(16);
        for key in [7, 3, 9, 3] {
            c.insert(ProfileId(1), key, u64::from(key) * 10);
        }
        c.insert(ProfileId(2), 3, 1);
        // A miss loads and caches; a hit does not load.
        assert_eq!(c.map_or_load(ProfileId(2), 4, |v| *v + 1, || Ok::<_, ()>(40)), Ok(41));
        assert_eq!(c.map_or_load(ProfileId(2), 4, |v| *v, || Err(())), Ok(40));
        assert_eq!(c.map_or_load(ProfileId(2), 6, |v| *v, || Err(())), Err(()));
        c.remove(ProfileId(2));
        c.insert(ProfileId(2), 3, 1);
        assert_eq!(c.with_slot(ProfileId(1), |s| s.to_vec()), vec![(3, 30), (7, 70), (9, 90)], "ascending by key");
        assert!(c.with_slot(ProfileId(5), |s| s.is_empty()));
        assert_eq!(c.map(ProfileId(1), 3, |v| *v), Some(30));
        assert_eq!(c.map(ProfileId(1), 4, |v| *v), None);
        c.modify(ProfileId(1), 9, |v| *v += 1);
        c.modify(ProfileId(1), 4, |v| *v += 1);
        let mut all = c.entries();
        all.sort();
        let p = |id, k, v| ((ProfileId(id), k), v);
        assert_eq!(all, vec![p(1, 3, 30), p(1, 7, 70), p(1, 9, 91), p(2, 3, 1)]);
        // A touch reads every value of the profile and changes none.
        let seen = std::cell::RefCell::new(Vec::new());
        c.touch(ProfileId(1), |v| {
            seen.borrow_mut().push(*v);
            *v
        });
        c.touch(ProfileId(9), |_| unreachable!("profile 9 has no slot"));
        assert_eq!(seen.into_inner(), vec![30, 70, 91]);
        // A prefetch changes nothing, of a cached profile or another.
        for stage in [Stage::Set, Stage::Slot] {
            c.prefetch(ProfileId(1), stage);
            c.prefetch(ProfileId(9), stage);
        }
        assert_eq!(c.entries().len(), 4);
        c.remove(ProfileId(1));
        assert_eq!(c.entries(), vec![p(2, 3, 1)]);
        c.insert_if(ProfileId(2), 5, 5, || false);
        assert_eq!(c.map(ProfileId(2), 5, |v| *v), None);
        c.clear();
        assert!(c.entries().is_empty());
    }

    #[test]
    fn capacity_is_in_profiles_and_a_disabled_cache_holds_nothing() {
        let c: ProfileSlots<u32> = ProfileSlots::new(4);
        for id in 0..100 {
            for key in 0..5 {
                c.insert(ProfileId(id), key, id);
            }
        }
        assert_eq!(c.entries().len(), 4 * 5, "four profiles, each with all its keys");
        let off: ProfileSlots<u32> = ProfileSlots::new(0);
        off.insert(ProfileId(1), 1, 1);
        assert_eq!((off.map(ProfileId(1), 1, |v| *v), off.entries().len()), (None, 0));
    }
}
