//! [`Cache`]: a sharded in-memory map of hot decoded values — identifier
//! resolutions — in front of RocksDB. What is keyed by the dense profile
//! id has a table instead: the profiles
//! ([`DenseCache`](crate::db::dense_cache::DenseCache)), their rollup
//! series and wake-ups ([`ProfileSlots`](crate::db::profile_slots::ProfileSlots)).
//!
//! Consistency: before its RocksDB write the single writer
//! [`invalidate`](Cache::invalidate)s every key it is about to change (the
//! shard is pending until a publish); after it, it publishes every
//! committed value with [`Cache::publish_without_evicting`] (`publish` in
//! tests). Both bump the shard's epoch. A reader that missed loads from
//! RocksDB and inserts only if the shard was not pending at its miss and
//! its epoch has not moved since, so a value read before a commit can
//! never overwrite (or outlive) the value the commit published, and a hit
//! never returns a value older than what RocksDB already holds.
//!
//! Hashing: the shard is chosen by one hasher and each shard's map uses
//! its own, independently seeded one. With a single hasher for both (as
//! before 2026-12-05), the keys of a shard all shared the low hash bits
//! the map indexes by, so they crowded into a 64th of its buckets and
//! every probe walked long runs of occupied slots. The hasher is foldhash
//! (seeded per hasher): about 1 ns for an integer key where xxh3 through
//! `Hasher` took 22 ns, and a probe hashes twice.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use foldhash::quality::RandomState;
use parking_lot::Mutex;

const SHARDS: usize = 64;

struct Shard<K, V> {
    map: Slots<K, V>,
    epoch: u64,
    /// Set by an invalidation, cleared by the next publish: a load that
    /// missed meanwhile may predate the commit in flight.
    pending: bool,
}

/// A shard's entries: a map from key to value and the key's position in a
/// vector of the keys, so that eviction picks a uniformly random victim in
/// O(1) while a read is one map lookup.
struct Slots<K, V> {
    map: HashMap<K, (V, usize), RandomState>,
    keys: Vec<K>,
    /// xorshift state for choosing victims.
    rng: u64,
}

impl<K: Hash + Eq + Clone, V> Slots<K, V> {
    fn new() -> Self {
        Slots { map: HashMap::with_hasher(RandomState::default()), keys: Vec::new(), rng: 0x9e37_79b9_7f4a_7c15 }
    }

    fn get(&self, k: &K) -> Option<&V> {
        self.map.get(k).map(|(v, _)| v)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.keys.len()
    }

    fn clear(&mut self) {
        self.map.clear();
        self.keys.clear();
    }

    fn remove(&mut self, k: &K) {
        if let Some((_, i)) = self.map.remove(k) {
            self.keys.swap_remove(i);
            if let Some(moved) = self.keys.get(i) {
                if let Some(entry) = self.map.get_mut(moved) {
                    entry.1 = i;
                }
            }
        }
    }

    /// Inserts or replaces; when `capacity` entries are held, a random one
    /// gives way.
    fn insert(&mut self, k: K, v: V, capacity: usize) {
        if let Some(entry) = self.map.get_mut(&k) {
            entry.0 = v;
            return;
        }
        if self.keys.len() < capacity {
            self.map.insert(k.clone(), (v, self.keys.len()));
            self.keys.push(k);
            return;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let victim = (self.rng % self.keys.len() as u64) as usize;
        let old = std::mem::replace(&mut self.keys[victim], k.clone());
        self.map.remove(&old);
        self.map.insert(k, (v, victim));
    }
}

/// A bounded, sharded cache. Eviction is random replacement (a uniformly
/// random entry of the shard): cheap, and good enough for the skewed
/// access of lookups.
pub(crate) struct Cache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    per_shard: usize,
    /// Picks the shard (seeded independently of the shards' maps).
    hasher: RandomState,
}

impl<K: Send + 'static, V: Send + 'static> Cache<K, V> {
    /// Empties the cache, disabling it, and hands its memory to the caller
    /// to free (see `Core`'s drop).
    pub fn detach(&mut self) -> Box<dyn Send> {
        self.per_shard = 0;
        Box::new(std::mem::take(&mut self.shards))
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Cache<K, V> {
    /// A cache holding about `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard { map: Slots::new(), epoch: 0, pending: false })).collect();
        Cache { shards, per_shard, hasher: RandomState::default() }
    }

    fn shard(&self, k: &K) -> &Mutex<Shard<K, V>> {
        let h = self.hasher.hash_one(k);
        // SHARDS is a power of two; the low bits pick the shard.
        &self.shards[(h as usize) & (SHARDS - 1)]
    }

    /// The cached value, or `load()`'s, inserted when no write raced it
    /// (the library maps instead: [`map_or_load`](Self::map_or_load)).
    #[cfg(test)]
    pub fn get_or_load<E>(&self, k: &K, load: impl FnOnce() -> Result<Option<V>, E>) -> Result<Option<V>, E> {
        self.map_or_load(k, V::clone, load)
    }

    /// `f` of the cached value, or of `load()`'s (inserted when no write
    /// raced it). A hit runs `f` under the shard lock instead of cloning
    /// the value, for readers that need only part of it.
    pub fn map_or_load<R, E>(
        &self,
        k: &K,
        f: impl FnOnce(&V) -> R,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<R>, E> {
        let shard = self.shard(k);
        let (epoch, pending) = {
            let s = shard.lock();
            if let Some(v) = s.map.get(k) {
                return Ok(Some(f(v)));
            }
            (s.epoch, s.pending)
        };
        let Some(v) = load()? else { return Ok(None) };
        let out = f(&v);
        let mut s = shard.lock();
        if s.epoch == epoch && !pending {
            Self::insert(&mut s, self.per_shard, k.clone(), v);
        }
        Ok(Some(out))
    }

    /// The cached value, if present.
    #[cfg(test)]
    pub fn peek(&self, k: &K) -> Option<V> {
        self.map(k, V::clone)
    }

    /// `f` of the cached value, if present (nothing is loaded).
    #[cfg(test)]
    pub fn map<R>(&self, k: &K, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.shard(k).lock().map.get(k).map(f)
    }

    /// `f` of the cached values of `keys` (`None`: not cached), in their
    /// order; nothing is loaded. Each shard is locked once for all of its
    /// keys: under one lock the lookups are independent loads whose cache
    /// misses the CPU overlaps, where a lock per key (a locked instruction
    /// is a full fence on x86) waited for each miss in turn (a batch of
    /// events resolving its first identifiers: BENCHMARKS.md,
    /// thirty-first session).
    pub fn map_many<R>(&self, keys: &[K], mut f: impl FnMut(&V) -> R) -> Vec<Option<R>> {
        let mut order: Vec<(usize, usize)> =
            keys.iter().enumerate().map(|(i, k)| (self.hasher.hash_one(k) as usize & (SHARDS - 1), i)).collect();
        order.sort_unstable();
        let mut out: Vec<Option<R>> = std::iter::repeat_with(|| None).take(keys.len()).collect();
        for group in order.chunk_by(|a, b| a.0 == b.0) {
            let s = self.shards[group[0].0].lock();
            for &(_, i) in group {
                out[i] = s.map.get(&keys[i]).map(&mut f);
            }
        }
        out
    }

    /// Publishes a committed value (`None`: the key was deleted).
    #[cfg(test)]
    pub fn publish(&self, k: K, v: Option<V>) {
        self.publish_as(k, v, true);
    }

    /// Publishes a committed value like `publish` (tests), except
    /// that a key not cached is added only while its shard has room: it
    /// never evicts. For values written once and often never read again
    /// (new identifiers: most anonymous ids are seen once), so that they do
    /// not push out entries that are read; a read of such a key loads it
    /// (and may evict) as usual.
    pub fn publish_without_evicting(&self, k: K, v: Option<V>) {
        self.publish_as(k, v, false);
    }

    /// Before a commit that changes `k`'s value: drops the entry and keeps
    /// loads of its shard out until the next publish to the shard (which
    /// must follow, also when the commit fails).
    pub fn invalidate(&self, k: &K) {
        let mut s = self.shard(k).lock();
        s.epoch += 1;
        s.pending = true;
        s.map.remove(k);
    }

    fn publish_as(&self, k: K, v: Option<V>, may_evict: bool) {
        let mut s = self.shard(&k).lock();
        s.epoch += 1;
        s.pending = false;
        match v {
            None => s.map.remove(&k),
            Some(v) if may_evict || s.map.get(&k).is_some() || s.map.keys.len() < self.per_shard => {
                Self::insert(&mut s, self.per_shard, k, v)
            }
            Some(_) => {}
        }
    }

    /// Drops every entry (after bulk changes such as retention or erase).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let mut s = shard.lock();
            s.epoch += 1;
            s.map.clear();
        }
    }

    fn insert(s: &mut Shard<K, V>, per_shard: usize, k: K, v: V) {
        if per_shard == 0 {
            return;
        }
        s.map.insert(k, v, per_shard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_many_finds_what_each_lookup_finds_in_the_keys_order() {
        let c: Cache<u32, u32> = Cache::new(4096);
        for k in (0..1000).filter(|k| k % 3 != 0) {
            c.publish(k, Some(k * 10));
        }
        // Repeated keys, absent keys, keys of every shard, out of order.
        let keys: Vec<u32> = (0..1000).rev().chain([5, 5, 3, 2000]).collect();
        let got = c.map_many(&keys, |v| v + 1);
        let each: Vec<Option<u32>> = keys.iter().map(|k| c.map(k, |v| v + 1)).collect();
        assert_eq!(got, each);
        assert_eq!(got.iter().filter(|v| v.is_some()).count(), 666 + 2);
        assert_eq!(c.map_many(&[], |v| *v), Vec::<Option<u32>>::new());
    }

    #[test]
    fn stale_load_does_not_overwrite_a_published_value() {
        let c: Cache<u32, u32> = Cache::new(128);
        let got = c.get_or_load(&1, || {
            // A writer commits while this reader is loading.
            c.publish(1, Some(2));
            Ok::<_, ()>(Some(1))
        });
        assert_eq!(got, Ok(Some(1)));
        assert_eq!(c.peek(&1), Some(2));
    }

    /// A load that missed between an invalidation and the publish may
    /// predate the commit: not cached. After the publish, loads are.
    #[test]
    fn a_load_that_missed_while_its_shard_was_pending_is_not_inserted() {
        let c: Cache<u32, u32> = Cache::new(128);
        c.publish(1, Some(1));
        c.invalidate(&1);
        assert_eq!(c.peek(&1), None, "invalidated");
        let got = c.get_or_load(&1, || Ok::<_, ()>(Some(1)));
        assert_eq!((got, c.peek(&1)), (Ok(Some(1)), None), "loaded while pending");
        c.publish(1, None);
        let got = c.get_or_load(&1, || Ok::<_, ()>(Some(2)));
        assert_eq!((got, c.peek(&1)), (Ok(Some(2)), Some(2)));
    }

    #[test]
    fn publish_without_evicting_fills_room_but_never_evicts() {
        // One entry per shard: the second key of a shard finds it full.
        let c: Cache<u32, u32> = Cache::new(SHARDS);
        let shard_of = |k: &u32| c.hasher.hash_one(k) as usize & (SHARDS - 1);
        let first = 1u32;
        let second = (2..).find(|k| shard_of(k) == shard_of(&first)).expect("another key of the shard");
        c.publish_without_evicting(first, Some(1));
        assert_eq!(c.peek(&first), Some(1), "room: added");
        c.publish_without_evicting(second, Some(2));
        assert_eq!((c.peek(&first), c.peek(&second)), (Some(1), None), "full: not added, nothing evicted");
        c.publish_without_evicting(first, Some(3));
        assert_eq!(c.peek(&first), Some(3), "a cached key is replaced");
        // A load that raced the publish is not inserted; a later read is (evicting).
        let got = c.get_or_load(&second, || {
            c.publish_without_evicting(second, Some(4));
            Ok::<_, ()>(Some(2))
        });
        assert_eq!((got, c.peek(&second)), (Ok(Some(2)), None));
        assert_eq!(c.get_or_load(&second, || Ok::<_, ()>(Some(4))), Ok(Some(4)));
        assert_eq!((c.peek(&second), c.peek(&first)), (Some(4), None));
        c.publish_without_evicting(second, None);
        assert_eq!(c.peek(&second), None, "a deleted key is removed");
    }

    #[test]
    fn stale_load_after_eviction_is_not_inserted() {
        let c: Cache<u32, u32> = Cache::new(128);
        let _ = c.get_or_load(&1, || {
            c.publish(1, None);
            Ok::<_, ()>(Some(1))
        });
        assert_eq!(c.peek(&1), None);
    }

    /// A working set smaller than the capacity ends up cached, however full
    /// of older entries the cache was.
    #[test]
    fn a_working_set_that_fits_displaces_older_entries() {
        let c: Cache<u32, u32> = Cache::new(SHARDS * 16);
        for i in 0..100_000 {
            c.publish(i, Some(i));
        }
        let working: Vec<u32> = (1_000_000..1_000_000 + SHARDS as u32 * 4).collect();
        let mut misses = 0;
        for round in 0..40 {
            misses = 0;
            for k in &working {
                let got = c.get_or_load(k, || {
                    if round == 39 {
                        misses += 1;
                    }
                    Ok::<_, ()>(Some(*k))
                });
                assert_eq!(got, Ok(Some(*k)));
            }
        }
        assert!(misses * 20 <= working.len(), "{misses} of {} missed after 40 rounds", working.len());
        for k in working.iter().step_by(3) {
            c.publish(*k, None);
            assert_eq!(c.peek(k), None);
        }
        for s in c.shards.iter() {
            let s = s.lock();
            assert!(s.map.len() <= 16);
            // The key vector and the map agree.
            assert_eq!(s.map.keys.len(), s.map.map.len());
            assert!(s.map.keys.iter().enumerate().all(|(i, k)| s.map.map.get(k).is_some_and(|e| e.1 == i)));
        }
    }

    #[test]
    fn capacity_is_bounded() {
        let c: Cache<u32, u32> = Cache::new(SHARDS * 2);
        for i in 0..10_000 {
            c.publish(i, Some(i));
        }
        let total: usize = c.shards.iter().map(|s| s.lock().map.len()).sum();
        assert!(total <= SHARDS * 2, "{total}");
        let zero: Cache<u32, u32> = Cache::new(0);
        zero.publish(1, Some(1));
        assert_eq!(zero.peek(&1), None);
    }

    /// The keys of one shard spread over the low bits its map indexes by
    /// (they all shared them when one hasher picked both the shard and the
    /// bucket).
    #[test]
    fn a_shard_map_indexes_by_bits_the_shard_choice_did_not_fix() {
        let c: Cache<u32, u32> = Cache::new(SHARDS * 1_000);
        for i in 0..SHARDS as u32 * 1_000 {
            c.publish(i, Some(i));
        }
        for shard in c.shards.iter() {
            let s = shard.lock();
            let low: std::collections::BTreeSet<u64> =
                s.map.map.keys().map(|k| s.map.map.hasher().hash_one(k) % SHARDS as u64).collect();
            assert!(low.len() > SHARDS / 2, "{} of {SHARDS} low-bit patterns in a shard", low.len());
        }
    }
}
