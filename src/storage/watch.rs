//! Write watches: the keys committed while an operation reads a snapshot
//! without the writer lock, so that it can look at them again once it
//! holds the lock (erase: `db::erase_phases`).
//!
//! A [`Watch`] records the column family and key of every put, merge and
//! delete that a [`Batch`](super::Batch) made while it was active commits
//! — whatever the writer: a `Txn`, a retention pass, a tick, a rollup or
//! segment backfill, the purge marker all commit through
//! [`Store::commit`](super::Store::commit). Range deletions are not
//! recorded: they only remove keys, and a watcher re-reads the keys it
//! cares about. When no watch is active (the common case), a batch costs
//! one atomic load more at creation and one at commit.
//!
//! A batch created before a watch began and committed after it (only a
//! writer that does not hold the writer lock across building and
//! committing its batch can do that: the watcher starts its watch under
//! the lock) has unknown keys: the watch is then marked *blind*, and so
//! is one that recorded more than [`MAX_WATCHED_KEYS`] keys; a blind
//! watch gives no keys ([`Watch::take`] is `None`) and its watcher falls
//! back to reading everything under the lock.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::Store;

/// The most keys one watch records; past it, it is blind (its watcher
/// reads everything again, as it would have without a watch).
pub(crate) const MAX_WATCHED_KEYS: usize = 1_000_000;

/// Keys by column family.
pub(crate) type Keys = BTreeMap<&'static str, BTreeSet<Vec<u8>>>;

/// The keys a batch wrote, recorded as it was built (only while a watch
/// was active when it was created).
pub(super) type Recorded = Vec<(&'static str, Vec<u8>)>;

/// The active watches of a store.
#[derive(Default)]
pub(super) struct Watches {
    /// How many watches are active: read on every batch creation and
    /// commit, so that nothing else is done while it is 0.
    active: AtomicUsize,
    inner: Mutex<Active>,
}

#[derive(Default)]
struct Active {
    next: u64,
    watches: BTreeMap<u64, Watched>,
}

#[derive(Default)]
struct Watched {
    keys: Keys,
    count: usize,
    blind: bool,
}

impl Watches {
    /// Whether a watch is active (a new batch then records its keys).
    pub(super) fn any(&self) -> bool {
        self.active.load(Ordering::SeqCst) > 0
    }

    /// After a batch committed: its keys go to every active watch (`None`,
    /// a batch that did not record them, blinds them).
    pub(super) fn committed(&self, recorded: Option<&Recorded>) {
        // Read after the write: a watch that began before it is seen.
        if !self.any() {
            return;
        }
        let mut inner = self.inner.lock();
        for w in inner.watches.values_mut() {
            match recorded {
                _ if w.blind => {}
                None => w.blind = true,
                Some(keys) => {
                    for (cf, key) in keys {
                        if w.keys.entry(cf).or_default().insert(key.clone()) {
                            w.count += 1;
                        }
                    }
                    if w.count > MAX_WATCHED_KEYS {
                        (w.blind, w.keys) = (true, Keys::new());
                    }
                }
            }
        }
    }
}

/// An active watch: records the keys committed from its start until it
/// is taken or dropped.
pub(crate) struct Watch {
    store: Store,
    id: u64,
}

impl Store {
    /// Starts a watch. Take a snapshot after this (under the writer lock):
    /// every write the snapshot does not see is then recorded.
    pub fn watch(&self) -> Watch {
        let watches = &self.inner.watches;
        let mut inner = watches.inner.lock();
        let id = inner.next;
        inner.next += 1;
        inner.watches.insert(id, Watched::default());
        watches.active.fetch_add(1, Ordering::SeqCst);
        Watch { store: self.clone(), id }
    }
}

impl Watch {
    /// Ends the watch: the keys committed since it began, or `None` if
    /// they are not all known (it is blind).
    pub fn take(self) -> Option<Keys> {
        let w = self.end()?;
        (!w.blind).then_some(w.keys)
    }

    fn end(&self) -> Option<Watched> {
        let watches = &self.store.inner.watches;
        let mut inner = watches.inner.lock();
        let w = inner.watches.remove(&self.id)?;
        watches.active.fetch_sub(1, Ordering::SeqCst);
        Some(w)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::super::StoreOptions;
    use super::*;

    const CF: &str = "plain";

    fn keys(pairs: &[&[u8]]) -> Keys {
        let mut k = Keys::new();
        for key in pairs {
            k.entry(CF).or_default().insert(key.to_vec());
        }
        k
    }

    fn put(store: &Store, key: &[u8]) {
        let mut b = store.batch();
        b.put(CF, key, vec![1]);
        store.commit(b).expect("commit");
    }

    #[test]
    fn a_watch_records_the_keys_committed_while_it_is_active() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreOptions::for_test(&[CF])).expect("open");
        put(&store, b"before");
        assert!(store.batch().recorded.is_none(), "no watch: nothing recorded");
        let first = store.watch();
        put(&store, b"a");
        let second = store.watch();
        let mut b = store.batch();
        b.delete(CF, b"a");
        b.delete_range(CF, b"x", b"y");
        b.put(CF, b"b", vec![2]);
        store.commit(b).expect("commit");
        assert_eq!(first.take(), Some(keys(&[b"a", b"b"])));
        put(&store, b"c");
        assert_eq!(second.take(), Some(keys(&[b"a", b"b", b"c"])));
        assert!(!store.inner.watches.any());
        put(&store, b"after");
    }

    #[test]
    fn a_batch_made_before_the_watch_and_committed_during_it_blinds_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path(), &StoreOptions::for_test(&[CF])).expect("open");
        let mut early = store.batch();
        early.put(CF, b"early", vec![1]);
        let watch = store.watch();
        put(&store, b"a");
        store.commit(early).expect("commit");
        put(&store, b"b");
        assert_eq!(watch.take(), None);
        let dropped = store.watch();
        drop(dropped);
        assert!(!store.inner.watches.any(), "a dropped watch ends");
    }
}
