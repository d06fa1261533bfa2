//! [`Batch`]: the writes of one operation, committed atomically.

use super::watch::Recorded;
use super::Store;
use crate::error::Result;

/// The writes of one operation, encoded straight into a RocksDB write
/// batch. Nothing reaches the database until [`Store::commit`]; dropping a
/// batch discards it.
pub(crate) struct Batch {
    store: Store,
    inner: rocksdb::WriteBatch,
    /// The first error met while adding (an unknown or absent column family): it is
    /// reported by `commit`, so adding stays infallible for callers.
    error: Option<crate::error::Error>,
    /// The keys written, when a write watch was active at creation
    /// (`watch`): given to the watches at commit.
    pub(super) recorded: Option<Recorded>,
}

impl Batch {
    pub(super) fn new(store: &Store) -> Self {
        let recorded = store.inner.watches.any().then(Vec::new);
        Batch { store: store.clone(), inner: rocksdb::WriteBatch::default(), error: None, recorded }
    }

    /// Records that the batch writes `key` of `cf`, if a watch wants it.
    fn record(&mut self, cf: &'static str, key: &[u8]) {
        if let Some(r) = &mut self.recorded {
            r.push((cf, key.to_vec()));
        }
    }

    fn with_cf(&mut self, cf: &'static str, f: impl FnOnce(&mut rocksdb::WriteBatch, &rocksdb::ColumnFamily)) {
        match self.store.cf_to_write(cf) {
            Ok(handle) => f(&mut self.inner, handle),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    /// Makes the batch fail to commit with `error` (the first one kept):
    /// for a write found invalid while it is added.
    pub fn refuse(&mut self, error: crate::error::Error) {
        self.error.get_or_insert(error);
    }

    /// Writes `value` at `key`.
    pub fn put(&mut self, cf: &'static str, key: impl AsRef<[u8]>, value: Vec<u8>) {
        self.record(cf, key.as_ref());
        self.with_cf(cf, |b, h| b.put_cf(h, key, value));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, cf: &'static str, key: impl AsRef<[u8]>) {
        self.record(cf, key.as_ref());
        self.with_cf(cf, |b, h| b.delete_cf(h, key));
    }

    /// Deletes every key in `[from, to)` (not recorded for a write watch:
    /// it only removes keys).
    pub fn delete_range(&mut self, cf: &'static str, from: impl AsRef<[u8]>, to: impl AsRef<[u8]>) {
        self.with_cf(cf, |b, h| b.delete_range_cf(h, from.as_ref(), to.as_ref()));
    }

    /// Adds a merge operand at `key` (the column family's merge operator folds it).
    pub fn merge(&mut self, cf: &'static str, key: impl AsRef<[u8]>, operand: Vec<u8>) {
        self.record(cf, key.as_ref());
        self.with_cf(cf, |b, h| b.merge_cf(h, key, operand));
    }

    /// Whether committing the batch would do nothing: it holds no writes
    /// and no refusal (a refused batch must be committed to report its
    /// error, even when every write of it was the refused one).
    pub fn is_empty(&self) -> bool {
        self.inner.is_empty() && self.error.is_none()
    }

    /// The RocksDB batch, and the keys it writes if recorded.
    pub(super) fn into_rocksdb(self) -> Result<(rocksdb::WriteBatch, Option<Recorded>)> {
        match self.error {
            Some(e) => Err(e),
            None => Ok((self.inner, self.recorded)),
        }
    }
}
