//! [`Cache`]: a sharded in-memory map of hot decoded values (profiles,
//! identifier resolutions) in front of RocksDB.
//!
//! Consistency: the single writer publishes every committed value with
//! [`Cache::publish`], which bumps the shard's epoch. A reader that missed
//! loads from RocksDB and inserts only if the shard's epoch has not moved
//! since its miss, so a value read before a commit can never overwrite
//! (or outlive) the value the commit published.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};

use parking_lot::Mutex;
use xxhash_rust::xxh3::Xxh3Builder;

const SHARDS: usize = 64;

struct Shard<K, V> {
    map: HashMap<K, V, Xxh3Builder>,
    epoch: u64,
}

/// A bounded, sharded cache. Eviction is random-replacement: cheap and
/// good enough for the skewed access of profile lookups.
pub(crate) struct Cache<K, V> {
    shards: Box<[Mutex<Shard<K, V>>]>,
    per_shard: usize,
    hasher: Xxh3Builder,
}

impl<K: Hash + Eq + Clone, V: Clone> Cache<K, V> {
    /// A cache holding about `capacity` entries (0 disables it).
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = (0..SHARDS)
            .map(|_| Mutex::new(Shard { map: HashMap::with_hasher(Xxh3Builder::new()), epoch: 0 }))
            .collect();
        Cache { shards, per_shard, hasher: Xxh3Builder::new() }
    }

    fn shard(&self, k: &K) -> &Mutex<Shard<K, V>> {
        let h = self.hasher.hash_one(k);
        // SHARDS is a power of two; the low bits pick the shard.
        &self.shards[(h as usize) & (SHARDS - 1)]
    }

    /// The cached value, or `load()`'s, inserted when no write raced it.
    pub fn get_or_load<E>(&self, k: &K, load: impl FnOnce() -> Result<Option<V>, E>) -> Result<Option<V>, E> {
        self.map_or_load(k, V::clone, load)
    }

    /// `f` of the cached value, or of `load()`'s (inserted when no write
    /// raced it). A hit runs `f` under the shard lock instead of cloning
    /// the value, for readers that need only part of it.
    pub fn map_or_load<R, E>(
        &self,
        k: &K,
        f: impl Fn(&V) -> R,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<R>, E> {
        let shard = self.shard(k);
        let epoch = {
            let s = shard.lock();
            if let Some(v) = s.map.get(k) {
                return Ok(Some(f(v)));
            }
            s.epoch
        };
        let Some(v) = load()? else { return Ok(None) };
        let out = f(&v);
        let mut s = shard.lock();
        if s.epoch == epoch {
            Self::insert(&mut s, self.per_shard, k.clone(), v);
        }
        Ok(Some(out))
    }

    /// The cached value, if present.
    #[cfg(test)]
    pub fn peek(&self, k: &K) -> Option<V> {
        self.shard(k).lock().map.get(k).cloned()
    }

    /// Publishes a committed value (`None`: the key was deleted).
    pub fn publish(&self, k: K, v: Option<V>) {
        let mut s = self.shard(&k).lock();
        s.epoch += 1;
        match v {
            Some(v) => Self::insert(&mut s, self.per_shard, k, v),
            None => {
                s.map.remove(&k);
            }
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
        if s.map.len() >= per_shard && !s.map.contains_key(&k) {
            if let Some(victim) = s.map.keys().next().cloned() {
                s.map.remove(&victim);
            }
        }
        s.map.insert(k, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn stale_load_after_eviction_is_not_inserted() {
        let c: Cache<u32, u32> = Cache::new(128);
        let _ = c.get_or_load(&1, || {
            c.publish(1, None);
            Ok::<_, ()>(Some(1))
        });
        assert_eq!(c.peek(&1), None);
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
}
