//! [`DenseCache`]: a bounded map from the dense [`ProfileId`] to a hot
//! value, as a table indexed by the id itself — the profile cache, and the
//! table under the per-profile rollup and wake-up caches
//! ([`ProfileSlots`](crate::db::profile_slots::ProfileSlots)).
//!
//! A hash map probe on a large cache is two dependent cache misses (its
//! control bytes, then the slot) plus the page walks of a random address;
//! profile ids are allocated densely from 0, so the id can pick its place
//! directly. The table is sets of [`WAYS`] slots; id `i` lives in set
//! `i % sets`. With at most `capacity` ids allocated every id has a slot of
//! its own (ids `s`, `s + sets`, … share set `s`), so a cache sized to the
//! ids allocated (merged-away and erased ones included) never evicts;
//! beyond it, a full set gives way in turn (the
//! older entry leaves), which for uniform access keeps the same hit rate
//! as random replacement. A probe is one lock on the set and one line of
//! memory.
//!
//! Consistency is [`Cache`](crate::db::cache::Cache)'s, per set instead of
//! per shard: before its RocksDB write the writer
//! [`invalidate`](DenseCache::invalidate)s every entry it is about to
//! change (the set is pending until a publish), and after it publishes
//! every committed value with [`publish`](DenseCache::publish); both bump
//! the set's epoch. A reader that missed loads from RocksDB and inserts
//! only if its set was not pending at the miss and the epoch has not moved
//! since. So a hit never returns a value older than what RocksDB already
//! holds for the entry.
//!
//! Memory: sets are allocated in chunks of [`CHUNK_SETS`] on first use, so
//! a large capacity on a small database costs only the chunks its ids
//! reach.

use std::sync::OnceLock;

use parking_lot::Mutex;

use crate::profile::id::ProfileId;

/// Slots per set.
const WAYS: usize = 2;

/// Sets per lazily allocated chunk (4 MiB of cached records).
const CHUNK_SETS: usize = 1 << 16;

struct Set<V> {
    /// Bumped by every publish and clear (wrapping: a load would have to
    /// span 2^32 publishes of one set to be fooled).
    epoch: u32,
    /// The way the next insertion into a full set replaces.
    next: u8,
    /// Set by an invalidation, cleared by the next publish: a load that
    /// missed meanwhile may predate the commit in flight.
    pending: bool,
    ways: [Option<(u32, V)>; WAYS],
}

impl<V> Set<V> {
    fn new() -> Self {
        Set { epoch: 0, next: 0, pending: false, ways: std::array::from_fn(|_| None) }
    }

    fn find(&self, id: u32) -> Option<&V> {
        self.ways.iter().flatten().find(|(k, _)| *k == id).map(|(_, v)| v)
    }

    /// Inserts or replaces: into the id's way, else an empty one, else the
    /// one whose turn it is.
    fn insert(&mut self, id: u32, v: V) {
        let way = match self.ways.iter().position(|w| w.as_ref().is_some_and(|(k, _)| *k == id)) {
            Some(w) => w,
            None => match self.ways.iter().position(Option::is_none) {
                Some(w) => w,
                None => {
                    let w = self.next as usize % WAYS;
                    self.next = self.next.wrapping_add(1);
                    w
                }
            },
        };
        self.ways[way] = Some((id, v));
    }

    fn remove(&mut self, id: u32) {
        self.take(id);
    }

    /// Removes and returns the value of `id`.
    fn take(&mut self, id: u32) -> Option<V> {
        let way = self.ways.iter_mut().find(|w| w.as_ref().is_some_and(|(k, _)| *k == id))?;
        way.take().map(|(_, v)| v)
    }
}

/// A set on cache lines of its own (a probe of a set that fits one line
/// reads one line).
#[repr(align(64))]
struct Aligned<V>(Mutex<Set<V>>);

/// A chunk of sets, allocated on first use.
type Chunk<V> = OnceLock<Box<[Aligned<V>]>>;

/// The profile cache (see the module docs).
pub(crate) struct DenseCache<V> {
    chunks: Box<[Chunk<V>]>,
    /// Total sets (0: the cache is disabled).
    sets: usize,
}

impl<V: Send + 'static> DenseCache<V> {
    /// Empties the cache, disabling it, and hands its memory to the caller
    /// to free (see `Core`'s drop: freeing millions of cached values takes
    /// seconds).
    pub fn detach(&mut self) -> Box<dyn Send> {
        self.sets = 0;
        Box::new(std::mem::take(&mut self.chunks))
    }
}

impl<V: Clone> DenseCache<V> {
    /// A cache of `capacity` entries (rounded up to whole sets; 0 disables
    /// it). Ids are `u32`: a capacity above 2^32 holds no more.
    pub fn new(capacity: usize) -> Self {
        let id_space = usize::try_from(1u64 << 32).unwrap_or(usize::MAX);
        let sets = capacity.min(id_space).div_ceil(WAYS);
        let chunks = (0..sets.div_ceil(CHUNK_SETS)).map(|_| OnceLock::new()).collect();
        DenseCache { chunks, sets }
    }

    /// Whether the cache holds anything at all (capacity 0 disables it).
    pub fn enabled(&self) -> bool {
        self.sets > 0
    }

    /// The set of `id` (allocating its chunk on first use), or `None` when
    /// the cache is disabled.
    fn set(&self, id: ProfileId) -> Option<&Mutex<Set<V>>> {
        let (chunk, at, len) = self.place(id)?;
        let sets = self.chunks.get(chunk)?.get_or_init(|| new_chunk(len));
        sets.get(at).map(|s| &s.0)
    }

    /// The set of `id` if its chunk is allocated.
    fn allocated_set(&self, id: ProfileId) -> Option<&Mutex<Set<V>>> {
        let (chunk, at, _) = self.place(id)?;
        self.chunks.get(chunk)?.get()?.get(at).map(|s| &s.0)
    }

    /// Where `id`'s set is: its chunk, its index there and the chunk's
    /// length (`None`: the cache is disabled).
    fn place(&self, id: ProfileId) -> Option<(usize, usize, usize)> {
        if self.sets == 0 {
            return None;
        }
        let s = id.0 as usize % self.sets;
        let (chunk, at) = (s / CHUNK_SETS, s % CHUNK_SETS);
        Some((chunk, at, CHUNK_SETS.min(self.sets - chunk * CHUNK_SETS)))
    }

    /// Starts loading `id`'s set into the CPU caches without waiting
    /// ([`Stage::Set`](crate::db::prefetch::Stage::Set)).
    pub fn prefetch(&self, id: ProfileId) {
        if let Some(set) = self.allocated_set(id) {
            crate::db::prefetch::line(set);
        }
    }

    /// Runs `f` on `id`'s cached value, if any, under its set's lock:
    /// nothing is loaded or changed (for prefetching what it points to).
    pub fn inspect(&self, id: ProfileId, f: impl FnOnce(&V)) {
        let Some(set) = self.allocated_set(id) else { return };
        if let Some(v) = set.lock().find(id.0) {
            f(v);
        }
    }

    /// `f` of the cached value, or of `load()`'s (inserted when no commit
    /// of its set was pending at the miss and no publish or invalidation
    /// raced the load). A hit runs `f` under the set's lock instead of
    /// cloning the value.
    pub fn map_or_load<R, E>(
        &self,
        id: ProfileId,
        f: impl Fn(&V) -> R,
        load: impl FnOnce() -> Result<Option<V>, E>,
    ) -> Result<Option<R>, E> {
        let Some(set) = self.set(id) else { return Ok(load()?.map(|v| f(&v))) };
        let (epoch, pending) = {
            let s = set.lock();
            if let Some(v) = s.find(id.0) {
                return Ok(Some(f(v)));
            }
            (s.epoch, s.pending)
        };
        let Some(v) = load()? else { return Ok(None) };
        let out = f(&v);
        let mut s = set.lock();
        if s.epoch == epoch && !pending {
            s.insert(id.0, v);
        }
        Ok(Some(out))
    }

    /// Before a commit that changes `id`'s value: drops the entry and
    /// keeps loads of its set out until the next [`publish`](Self::publish)
    /// of the set (which must follow, also when the commit fails).
    pub fn invalidate(&self, id: ProfileId) {
        // Allocating: a reader must not allocate the set after this, fresh.
        let Some(set) = self.set(id) else { return };
        let mut s = set.lock();
        s.epoch = s.epoch.wrapping_add(1);
        s.pending = true;
        s.remove(id.0);
    }

    /// Publishes a committed value (`None`: the profile's record was deleted).
    pub fn publish(&self, id: ProfileId, v: Option<V>) {
        let Some(set) = self.set(id) else { return };
        let mut s = set.lock();
        s.epoch = s.epoch.wrapping_add(1);
        s.pending = false;
        match v {
            Some(v) => s.insert(id.0, v),
            None => s.remove(id.0),
        }
    }

    /// Runs `f` on `id`'s entry under its set's lock: `Some` holds the
    /// cached value, which `f` may change or take away; a `None` that `f`
    /// fills is inserted (a full set's older entry giving way). The epoch
    /// does not move: for owners that keep their entries exact themselves
    /// ([`ProfileSlots`](crate::db::profile_slots::ProfileSlots)). A
    /// disabled cache runs `f` on `None` and keeps nothing.
    pub fn update<R>(&self, id: ProfileId, f: impl FnOnce(&mut Option<V>) -> R) -> R {
        let Some(set) = self.set(id) else { return f(&mut None) };
        let mut s = set.lock();
        let mut entry = s.take(id.0);
        let out = f(&mut entry);
        if let Some(v) = entry {
            s.insert(id.0, v);
        }
        out
    }

    /// A copy of every entry (for `check`).
    pub fn entries(&self) -> Vec<(ProfileId, V)> {
        let sets = self.chunks.iter().filter_map(OnceLock::get).flat_map(|c| c.iter());
        sets.flat_map(|s| s.0.lock().ways.iter().flatten().map(|(k, v)| (ProfileId(*k), v.clone())).collect::<Vec<_>>())
            .collect()
    }

    /// Drops every entry (after bulk changes such as retention or erase).
    pub fn clear(&self) {
        for chunk in self.chunks.iter().filter_map(OnceLock::get) {
            for set in chunk.iter() {
                let mut s = set.0.lock();
                s.epoch = s.epoch.wrapping_add(1);
                s.ways = std::array::from_fn(|_| None);
            }
        }
    }

    /// The cached value, if present.
    #[cfg(test)]
    fn peek(&self, id: ProfileId) -> Option<V> {
        self.set(id)?.lock().find(id.0).cloned()
    }

    /// How many entries are held.
    #[cfg(test)]
    fn len(&self) -> usize {
        let chunks = self.chunks.iter().filter_map(OnceLock::get);
        chunks.flat_map(|c| c.iter()).map(|s| s.0.lock().ways.iter().flatten().count()).sum()
    }
}

/// A chunk of `len` empty sets.
fn new_chunk<V>(len: usize) -> Box<[Aligned<V>]> {
    (0..len).map(|_| Aligned(Mutex::new(Set::new()))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(v: u32) -> impl FnOnce() -> Result<Option<u32>, ()> {
        move || Ok(Some(v))
    }

    #[test]
    fn a_set_of_cached_records_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Aligned<crate::core::CachedRecord>>(), 64);
    }

    #[test]
    fn prefetch_and_inspect_load_change_and_allocate_nothing() {
        let c: DenseCache<u32> = DenseCache::new(1 << 20);
        let mut seen = None;
        c.prefetch(ProfileId(5));
        c.inspect(ProfileId(5), |v| seen = Some(*v));
        assert_eq!(seen, None);
        assert!(c.chunks.iter().all(|chunk| chunk.get().is_none()), "no chunk allocated");
        c.publish(ProfileId(5), Some(50));
        c.prefetch(ProfileId(5));
        c.inspect(ProfileId(5), |v| seen = Some(*v));
        assert_eq!(seen, Some(50));
        c.inspect(ProfileId(6), |v| seen = Some(*v + 1));
        assert_eq!(seen, Some(50), "an absent id runs nothing");
        assert_eq!((c.peek(ProfileId(5)), c.len()), (Some(50), 1));
        let off: DenseCache<u32> = DenseCache::new(0);
        off.prefetch(ProfileId(5));
        off.inspect(ProfileId(5), |v| seen = Some(*v));
        assert_eq!(seen, Some(50), "a disabled cache holds nothing to inspect");
    }

    #[test]
    fn a_database_that_fits_is_held_whole_and_never_evicts() {
        let c: DenseCache<u32> = DenseCache::new(1_000);
        for id in 0..1_000 {
            c.publish(ProfileId(id), Some(id * 10));
        }
        assert_eq!(c.len(), 1_000);
        for id in 0..1_000 {
            let got = c.map_or_load(ProfileId(id), |v| *v, || Err(()));
            assert_eq!(got, Ok(Some(id * 10)), "profile {id} was evicted");
        }
    }

    #[test]
    fn capacity_is_bounded_and_a_full_set_gives_way_in_turn() {
        let c: DenseCache<u32> = DenseCache::new(10);
        for id in 0..10_000 {
            c.publish(ProfileId(id), Some(id));
        }
        assert_eq!(c.len(), 10);
        // Set 0 holds ids 0, 5, 10, …: the last two published.
        assert_eq!((c.peek(ProfileId(9_990)), c.peek(ProfileId(9_995))), (Some(9_990), Some(9_995)));
        assert_eq!(c.peek(ProfileId(9_985)), None);
        // A reload goes in where the older of the two was.
        assert_eq!(c.map_or_load(ProfileId(0), |v| *v, load(7)), Ok(Some(7)));
        assert_eq!(
            (c.peek(ProfileId(0)), c.peek(ProfileId(9_990)), c.peek(ProfileId(9_995))),
            (Some(7), None, Some(9_995))
        );
    }

    #[test]
    fn stale_load_does_not_overwrite_a_published_value() {
        let c: DenseCache<u32> = DenseCache::new(128);
        let got = c.map_or_load(
            ProfileId(1),
            |v| *v,
            || {
                // A writer commits while this reader is loading.
                c.publish(ProfileId(1), Some(2));
                Ok::<_, ()>(Some(1))
            },
        );
        assert_eq!(got, Ok(Some(1)));
        assert_eq!(c.peek(ProfileId(1)), Some(2));
        // Nor does one outlive a deletion, or a clear.
        let _ = c.map_or_load(
            ProfileId(3),
            |v| *v,
            || {
                c.publish(ProfileId(3), None);
                Ok::<_, ()>(Some(3))
            },
        );
        assert_eq!(c.peek(ProfileId(3)), None);
        let _ = c.map_or_load(
            ProfileId(4),
            |v| *v,
            || {
                c.clear();
                Ok::<_, ()>(Some(4))
            },
        );
        assert_eq!(c.peek(ProfileId(4)), None);
    }

    /// A load that missed between an invalidation and its publish read
    /// RocksDB before or after the commit's write: it is not cached, even
    /// when it finishes after the publish of another id of its set (ids 0
    /// and 2 share a set here); a load after the publish is.
    #[test]
    fn a_load_that_missed_while_its_set_was_pending_is_not_inserted() {
        let c: DenseCache<u32> = DenseCache::new(4);
        c.publish(ProfileId(0), Some(1));
        c.invalidate(ProfileId(0));
        c.invalidate(ProfileId(2));
        assert_eq!(c.peek(ProfileId(0)), None, "invalidated");
        let _ = c.map_or_load(
            ProfileId(2),
            |v| *v,
            || {
                c.publish(ProfileId(0), Some(2));
                Ok::<_, ()>(Some(10))
            },
        );
        assert_eq!(c.peek(ProfileId(2)), None, "loaded while pending");
        c.publish(ProfileId(2), Some(20));
        c.publish(ProfileId(2), None);
        let _ = c.map_or_load(ProfileId(2), |v| *v, || Ok::<_, ()>(Some(20)));
        assert_eq!((c.peek(ProfileId(0)), c.peek(ProfileId(2))), (Some(2), Some(20)));
    }

    /// Readers loading on misses while the writer commits (stores, then
    /// publishes) never leave a value older than the last one published:
    /// without the epoch check a load that raced a publish inserts its
    /// older value, which then answers every later hit.
    #[test]
    fn racing_loads_never_leave_an_older_value_than_the_last_published() {
        use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
        const IDS: usize = 8;
        for _ in 0..20 {
            // Two sets of two ways for eight ids: evictions and reloads too.
            let c: DenseCache<u32> = DenseCache::new(4);
            let stored: Vec<AtomicU32> = (0..IDS).map(|_| AtomicU32::new(0)).collect();
            let done = AtomicBool::new(false);
            std::thread::scope(|s| {
                for r in 0..2 {
                    let (c, stored, done) = (&c, &stored, &done);
                    s.spawn(move || {
                        let mut i = r;
                        while !done.load(SeqCst) {
                            let id = i % IDS;
                            let load = || Ok::<_, ()>(Some(stored[id].load(SeqCst)));
                            assert!(matches!(c.map_or_load(ProfileId(id as u32), |v| *v, load), Ok(Some(_))));
                            i += 1;
                        }
                    });
                }
                for v in 1..=20_000u32 {
                    let id = v as usize % IDS;
                    stored[id].store(v, SeqCst);
                    c.publish(ProfileId(id as u32), Some(v));
                }
                done.store(true, SeqCst);
            });
            for (id, v) in stored.iter().enumerate() {
                if let Some(cached) = c.peek(ProfileId(id as u32)) {
                    assert_eq!(cached, v.load(SeqCst), "profile {id} holds a stale value");
                }
            }
        }
    }

    #[test]
    fn publish_none_and_clear_remove_and_absence_is_not_cached() {
        let c: DenseCache<u32> = DenseCache::new(64);
        c.publish(ProfileId(5), Some(5));
        c.publish(ProfileId(6), Some(6));
        c.publish(ProfileId(5), None);
        assert_eq!((c.peek(ProfileId(5)), c.peek(ProfileId(6))), (None, Some(6)));
        assert_eq!(c.map_or_load(ProfileId(7), |v| *v, || Ok::<_, ()>(None)), Ok(None));
        assert_eq!(c.len(), 1);
        c.clear();
        assert_eq!(c.len(), 0);
        // Ids past a chunk, and far past the capacity, map into the table.
        let big: DenseCache<u32> = DenseCache::new(3 * CHUNK_SETS * WAYS + 1);
        for id in [0, CHUNK_SETS as u32 * 2 + 1, u32::MAX] {
            big.publish(ProfileId(id), Some(id));
            assert_eq!(big.peek(ProfileId(id)), Some(id));
        }
    }

    #[test]
    fn a_capacity_beyond_the_id_space_allocates_no_more_than_it() {
        let c: DenseCache<u32> = DenseCache::new(usize::MAX);
        assert_eq!(c.sets, (1 << 32) / WAYS);
        assert_eq!(c.chunks.len(), (1 << 32) / WAYS / CHUNK_SETS);
        c.publish(ProfileId(u32::MAX), Some(1));
        assert_eq!(c.peek(ProfileId(u32::MAX)), Some(1));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn a_disabled_cache_loads_every_time_and_holds_nothing() {
        let c: DenseCache<u32> = DenseCache::new(0);
        c.publish(ProfileId(1), Some(1));
        assert_eq!(c.map_or_load(ProfileId(1), |v| *v, load(9)), Ok(Some(9)));
        assert_eq!(c.map_or_load(ProfileId(1), |v| *v, load(8)), Ok(Some(8)));
        assert_eq!(c.len(), 0);
    }
}
