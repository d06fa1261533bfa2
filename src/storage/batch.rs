//! [`Batch`]: the writes of one operation, committed atomically.

use super::Store;
use crate::error::Result;

enum Op {
    Put(&'static str, Vec<u8>, Vec<u8>),
    Delete(&'static str, Vec<u8>),
    DeleteRange(&'static str, Vec<u8>, Vec<u8>),
    Merge(&'static str, Vec<u8>, Vec<u8>),
}

/// The writes of one operation. Nothing reaches the database until
/// [`Store::commit`]; dropping a batch discards it.
#[derive(Default)]
pub(crate) struct Batch {
    ops: Vec<Op>,
}

impl Batch {
    pub(crate) fn new() -> Self {
        Batch::default()
    }

    /// Writes `value` at `key`.
    pub fn put(&mut self, cf: &'static str, key: impl Into<Vec<u8>>, value: Vec<u8>) {
        self.ops.push(Op::Put(cf, key.into(), value));
    }

    /// Deletes `key`.
    pub fn delete(&mut self, cf: &'static str, key: impl Into<Vec<u8>>) {
        self.ops.push(Op::Delete(cf, key.into()));
    }

    /// Deletes every key in `[from, to)`.
    pub fn delete_range(&mut self, cf: &'static str, from: impl Into<Vec<u8>>, to: impl Into<Vec<u8>>) {
        self.ops.push(Op::DeleteRange(cf, from.into(), to.into()));
    }

    /// Adds a merge operand at `key` (the column family's merge operator folds it).
    pub fn merge(&mut self, cf: &'static str, key: impl Into<Vec<u8>>, operand: Vec<u8>) {
        self.ops.push(Op::Merge(cf, key.into(), operand));
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch holds no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Moves every write of `other` to the end of this batch.
    pub fn append(&mut self, other: Batch) {
        self.ops.extend(other.ops);
    }

    pub(super) fn into_rocksdb(self, store: &Store) -> Result<rocksdb::WriteBatch> {
        let mut wb = rocksdb::WriteBatch::default();
        for op in self.ops {
            match op {
                Op::Put(cf, k, v) => wb.put_cf(store.cf(cf)?, k, v),
                Op::Delete(cf, k) => wb.delete_cf(store.cf(cf)?, k),
                Op::DeleteRange(cf, a, b) => wb.delete_range_cf(store.cf(cf)?, a, b),
                Op::Merge(cf, k, v) => wb.merge_cf(store.cf(cf)?, k, v),
            }
        }
        Ok(wb)
    }
}
