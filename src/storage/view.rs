//! [`View`]: reads of the latest state or of a consistent snapshot.

use super::{storage_err, Store};
use crate::error::{Error, Result};

/// A key and its value, as read from a scan.
pub(crate) type KeyValue = (Box<[u8]>, Box<[u8]>);

/// Reads from a [`Store`], either at the latest committed state or at a
/// snapshot taken when the view was made (then every read of the view
/// sees the same instant, whatever commits in between).
pub(crate) struct View<'a> {
    store: &'a Store,
    snapshot: Option<rocksdb::Snapshot<'a>>,
}

impl<'a> View<'a> {
    pub(super) fn latest(store: &'a Store) -> Self {
        View { store, snapshot: None }
    }

    pub(super) fn snapshot(store: &'a Store) -> Self {
        // A secondary instance does not support snapshots; its view is
        // already frozen between catch-ups, so the latest state is consistent.
        if store.inner.secondary {
            return View { store, snapshot: None };
        }
        View { store, snapshot: Some(store.inner.db.snapshot()) }
    }

    fn read_opts(&self) -> rocksdb::ReadOptions {
        let mut o = rocksdb::ReadOptions::default();
        if let Some(s) = &self.snapshot {
            o.set_snapshot(s);
        }
        // Scans cross prefixes unless they say otherwise: never let a
        // column family's prefix extractor cut them short.
        o.set_total_order_seek(true);
        o
    }

    /// The value at `key`, if any (none in an absent column family).
    ///
    /// On a secondary handle this is a seek, not RocksDB's point lookup:
    /// a secondary replays the writer's logs into memtables of its own,
    /// and when the writer flushes a column family whose newer writes the
    /// secondary never replayed (their log was read past, or deleted,
    /// once the flush placed them in a table file), the secondary keeps
    /// its older active memtable. A point lookup stops at the first
    /// source holding the key — that memtable — and returns the older
    /// value, while an iterator merges every source by sequence number.
    /// Seen with `meta` counters, written rarely: `next_event_seq` read
    /// thousands below the events the same handle scanned
    /// (tests/service_secondary.rs). A seek costs far more than a lookup
    /// (a whole `check` on a secondary ran 40 times slower), so only the
    /// rarely written families of `StoreOptions::seek_on_secondary` are
    /// read so; a family written on every commit has its memtable replaced
    /// at each catch-up.
    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(handle) = self.store.cf(cf)? else { return Ok(None) };
        if self.store.inner.secondary && self.store.inner.seek_on_secondary.contains(&cf) {
            return self.seek_exact(handle, cf, key);
        }
        let got =
            self.store.inner.db.get_pinned_cf_opt(handle, key, &self.read_opts()).map_err(storage_err("get", cf))?;
        Ok(got.map(|s| s.to_vec()))
    }

    /// The values at `keys`, in their order (none in an absent column
    /// family): one RocksDB batched lookup, which probes each file's filter
    /// for all the keys together instead of one lookup per key.
    pub fn multi_get(&self, cf: &'static str, keys: &[&[u8]]) -> Result<Vec<Option<Vec<u8>>>> {
        let Some(handle) = self.store.cf(cf)? else { return Ok(vec![None; keys.len()]) };
        let got = self.store.inner.db.batched_multi_get_cf_opt(handle, keys.iter().copied(), false, &self.read_opts());
        got.into_iter().map(|r| r.map(|v| v.map(|s| s.to_vec())).map_err(storage_err("multi_get", cf))).collect()
    }

    /// The value at `key` by a seek (see [`get`](Self::get)).
    fn seek_exact(&self, handle: &rocksdb::ColumnFamily, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut opts = self.read_opts();
        // The smallest key after `key`: the seek reads nothing beyond it.
        let mut upper = key.to_vec();
        upper.push(0);
        opts.set_iterate_upper_bound(upper);
        let mut it = self.store.inner.db.raw_iterator_cf_opt(handle, opts);
        it.seek(key);
        if it.valid() && it.key() == Some(key) {
            return Ok(it.value().map(<[u8]>::to_vec));
        }
        it.status().map_err(storage_err("get", cf))?;
        Ok(None)
    }

    /// Every key-value pair with `from <= key < to` (`to = None`: to the end), in key order.
    ///
    /// In a column family with a prefix extractor (`StoreOptions::prefixes`),
    /// a range within one prefix (`from` and `to` share it) is scanned as
    /// such: files and memtables without the prefix are skipped, and a
    /// hashed memtable is read in its prefix's list rather than sorted whole.
    pub fn range(
        &self,
        cf: &'static str,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let within = to.is_some_and(|to| self.prefix_len(cf).is_some_and(|n| shares_prefix(from, to, n)));
        let upper = to.map(<[u8]>::to_vec);
        self.forward(cf, self.scan_opts(within, upper), from)
    }

    /// Every key-value pair whose key starts with `prefix`, in key order
    /// (scanned within the prefix, as [`range`](Self::range) explains, when
    /// `prefix` is at least as long as the column family's).
    pub fn prefix(&self, cf: &'static str, prefix: &[u8]) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let within = self.prefix_len(cf).is_some_and(|n| prefix.len() >= n);
        self.forward(cf, self.scan_opts(within, prefix_end(prefix)), prefix)
    }

    /// The column family's prefix length, if it has a prefix extractor.
    fn prefix_len(&self, cf: &'static str) -> Option<usize> {
        self.store.inner.prefixes.iter().find(|(c, _)| *c == cf).map(|(_, n)| *n)
    }

    /// Options for a scan below `upper`: within the seek key's prefix, or
    /// in total order across prefixes.
    fn scan_opts(&self, within_prefix: bool, upper: Option<Vec<u8>>) -> rocksdb::ReadOptions {
        let mut opts = self.read_opts();
        if within_prefix {
            opts.set_total_order_seek(false);
            opts.set_prefix_same_as_start(true);
        }
        if let Some(end) = upper {
            opts.set_iterate_upper_bound(end);
        }
        opts
    }

    /// A forward scan of `cf` from `from` with `opts` (nothing in an
    /// absent column family).
    fn forward(
        &self,
        cf: &'static str,
        opts: rocksdb::ReadOptions,
        from: &[u8],
    ) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let it = self.store.cf(cf)?.map(|handle| {
            self.store.inner.db.iterator_cf_opt(
                handle,
                opts,
                rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward),
            )
        });
        Ok(it.into_iter().flatten().map(move |r| r.map_err(storage_err("iterate", cf))))
    }

    /// A cursor over `cf` for many short scans in a row, each within one
    /// prefix (none for an absent column family): one RocksDB iterator,
    /// re-positioned by each [`Cursor::scan`], instead of one made and
    /// dropped per scan — what a backfill's walk over every profile cost
    /// most.
    pub fn cursor(&self, cf: &'static str) -> Result<Option<Cursor<'_>>> {
        let Some(handle) = self.store.cf(cf)? else { return Ok(None) };
        let mut opts = self.read_opts();
        // Each scan seeks within its prefix (bloom filters, hashed memtable
        // lists) and stops at its end.
        let prefix = self.prefix_len(cf);
        if prefix.is_some() {
            opts.set_total_order_seek(false);
            opts.set_prefix_same_as_start(true);
        }
        Ok(Some(Cursor { cf, prefix, it: self.store.inner.db.raw_iterator_cf_opt(handle, opts) }))
    }

    /// The last pair with `key <= at` and `key >= floor`, if any (none in
    /// an absent column family). Not for a column family with a hashed
    /// memtable (it has no reverse order).
    pub fn last_at_or_before(&self, cf: &'static str, floor: &[u8], at: &[u8]) -> Result<Option<KeyValue>> {
        if self.store.inner.hashed.contains(&cf) {
            return Err(Error::Storage {
                op: "iterate",
                cf,
                detail: "reverse scan of a column family with a hashed memtable".into(),
            });
        }
        let Some(handle) = self.store.cf(cf)? else { return Ok(None) };
        let mut opts = self.read_opts();
        opts.set_iterate_lower_bound(floor.to_vec());
        let mut it = self.store.inner.db.iterator_cf_opt(
            handle,
            opts,
            rocksdb::IteratorMode::From(at, rocksdb::Direction::Reverse),
        );
        match it.next() {
            Some(r) => Ok(Some(r.map_err(storage_err("iterate", cf))?)),
            None => Ok(None),
        }
    }

    /// Every pair of every listed column family: a raw dump for admins and
    /// for tests that prove a rejected write changed nothing.
    pub fn dump(&self, cfs: &[&'static str]) -> Result<Vec<(&'static str, KeyValue)>> {
        let mut out = Vec::new();
        for cf in cfs {
            for kv in self.range(cf, &[], None)? {
                out.push((*cf, kv?));
            }
        }
        Ok(out)
    }
}

/// Repeated short scans of one column family (see [`View::cursor`]).
pub(crate) struct Cursor<'v> {
    cf: &'static str,
    /// The column family's prefix length, if it has a prefix extractor.
    prefix: Option<usize>,
    it: rocksdb::DBRawIterator<'v>,
}

impl Cursor<'_> {
    /// Calls `f` with every pair with `from <= key < to`, in key order;
    /// `from` and `to` must share the column family's prefix, if it has one.
    pub fn scan(&mut self, from: &[u8], to: &[u8], mut f: impl FnMut(&[u8], &[u8]) -> Result<()>) -> Result<()> {
        if self.prefix.is_some_and(|n| !shares_prefix(from, to, n)) {
            return Err(Error::Storage { op: "iterate", cf: self.cf, detail: "cursor scan across prefixes".into() });
        }
        self.it.seek(from);
        while let (Some(k), Some(v)) = (self.it.key(), self.it.value()) {
            if k >= to {
                break;
            }
            f(k, v)?;
            self.it.next();
        }
        self.it.status().map_err(storage_err("iterate", self.cf))
    }
}

/// Whether `a` and `b` both start with the same `n` bytes.
fn shares_prefix(a: &[u8], b: &[u8], n: usize) -> bool {
    a.len() >= n && b.len() >= n && a[..n] == b[..n]
}

/// The smallest key greater than every key starting with `prefix`
/// (`None` when the prefix is all 0xff: scan to the end).
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

/// Builds a corrupt-value error for `cf` at `key`.
pub(crate) fn corrupt(cf: &'static str, what: &'static str, key: &[u8], reason: impl Into<String>) -> Error {
    Error::Corrupt { cf, what, key_hex: crate::error::hex_prefix(key), reason: reason.into() }
}

#[cfg(test)]
mod tests {
    use super::prefix_end;

    #[test]
    fn prefix_end_carries_over_ff() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(&[]), None);
    }
}
