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

    /// The value at `key`, if any.
    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let handle = self.store.cf(cf)?;
        let got =
            self.store.inner.db.get_pinned_cf_opt(handle, key, &self.read_opts()).map_err(storage_err("get", cf))?;
        Ok(got.map(|s| s.to_vec()))
    }

    /// Every key-value pair with `from <= key < to` (`to = None`: to the end), in key order.
    pub fn range(
        &self,
        cf: &'static str,
        from: &[u8],
        to: Option<&[u8]>,
    ) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let mut opts = self.read_opts();
        if let Some(to) = to {
            opts.set_iterate_upper_bound(to.to_vec());
        }
        self.forward(cf, opts, from)
    }

    /// As [`range`](Self::range), for a scan that stays within one key
    /// prefix of a column family opened with a prefix extractor
    /// (`StoreOptions::prefixes`): `from` and `to` must share the prefix.
    /// Files whose prefix filter lacks it are skipped without a seek.
    pub fn range_in_prefix(
        &self,
        cf: &'static str,
        from: &[u8],
        to: &[u8],
    ) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        self.forward(cf, self.prefix_filtered(Some(to.to_vec())), from)
    }

    /// Every key-value pair whose key starts with `prefix`, in key order.
    pub fn prefix(&self, cf: &'static str, prefix: &[u8]) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let mut opts = self.read_opts();
        if let Some(end) = prefix_end(prefix) {
            opts.set_iterate_upper_bound(end);
        }
        self.forward(cf, opts, prefix)
    }

    /// As [`prefix`](Self::prefix), for a column family opened with a
    /// prefix extractor of exactly `prefix.len()` bytes
    /// (`StoreOptions::prefixes`): SST files and memtables whose prefix
    /// filter lacks it are skipped instead of sought in, which is most of
    /// them in a large database.
    pub fn with_prefix(&self, cf: &'static str, prefix: &[u8]) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        self.forward(cf, self.prefix_filtered(prefix_end(prefix)), prefix)
    }

    /// Options for a scan within the seek key's prefix (the column
    /// family's prefix extractor decides its length), below `upper`.
    fn prefix_filtered(&self, upper: Option<Vec<u8>>) -> rocksdb::ReadOptions {
        let mut opts = self.read_opts();
        opts.set_total_order_seek(false);
        opts.set_prefix_same_as_start(true);
        if let Some(end) = upper {
            opts.set_iterate_upper_bound(end);
        }
        opts
    }

    /// A forward scan of `cf` from `from` with `opts`.
    fn forward(
        &self,
        cf: &'static str,
        opts: rocksdb::ReadOptions,
        from: &[u8],
    ) -> Result<impl Iterator<Item = Result<KeyValue>> + '_> {
        let handle = self.store.cf(cf)?;
        let it = self.store.inner.db.iterator_cf_opt(
            handle,
            opts,
            rocksdb::IteratorMode::From(from, rocksdb::Direction::Forward),
        );
        Ok(it.map(move |r| r.map_err(storage_err("iterate", cf))))
    }

    /// The last pair with `key <= at` and `key >= floor`, if any.
    pub fn last_at_or_before(&self, cf: &'static str, floor: &[u8], at: &[u8]) -> Result<Option<KeyValue>> {
        let handle = self.store.cf(cf)?;
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
