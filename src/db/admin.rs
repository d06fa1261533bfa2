//! Admin operations: raw dumps, sizes, backups, compaction.

use std::path::Path;

use crate::error::{Error, Result};
use crate::keys;

use super::ProfileDb;

/// One stored key-value pair, raw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawEntry {
    /// The column family.
    pub cf: &'static str,
    /// The key bytes.
    pub key: Vec<u8>,
    /// The value bytes (format tag first).
    pub value: Vec<u8>,
}

impl ProfileDb {
    /// The names of every column family, in creation order.
    pub fn column_families() -> &'static [&'static str] {
        keys::cf::ALL
    }

    fn known_cf(name: &str) -> Result<&'static str> {
        keys::cf::ALL.iter().copied().find(|c| *c == name).ok_or_else(|| {
            Error::invalid(format!("unknown column family {name:?}; known: {}", keys::cf::ALL.join(", ")))
        })
    }

    /// Every pair of one column family, raw, from a consistent snapshot.
    pub fn dump_cf(&self, name: &str) -> Result<Vec<RawEntry>> {
        let cf = Self::known_cf(name)?;
        let view = self.core.store.snapshot();
        Ok(view
            .dump(&[cf])?
            .into_iter()
            .map(|(cf, (k, v))| RawEntry { cf, key: k.into_vec(), value: v.into_vec() })
            .collect())
    }

    /// Every pair of every column family, raw, from a consistent snapshot.
    pub fn raw_dump(&self) -> Result<Vec<RawEntry>> {
        let view = self.core.store.snapshot();
        Ok(view
            .dump(keys::cf::ALL)?
            .into_iter()
            .map(|(cf, (k, v))| RawEntry { cf, key: k.into_vec(), value: v.into_vec() })
            .collect())
    }

    /// Bytes on disk and in memtables, per column family.
    pub fn sizes(&self) -> Result<Vec<(&'static str, u64)>> {
        keys::cf::ALL.iter().map(|cf| Ok((*cf, self.core.store.size_of(cf)?))).collect()
    }

    /// Writes a consistent, openable copy of the database into `dir`
    /// (which must not exist). Safe while the database is in use.
    pub fn backup(&self, dir: &Path) -> Result<()> {
        if dir.exists() {
            return Err(Error::invalid(format!("backup directory {} already exists", dir.display())));
        }
        self.core.store.checkpoint(dir)
    }

    /// Flushes and compacts every column family.
    pub fn compact(&self) -> Result<()> {
        self.writable("compact")?;
        for cf in keys::cf::ALL {
            self.core.store.compact_range(cf, None, None)?;
        }
        Ok(())
    }
}
