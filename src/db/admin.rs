//! Admin operations: raw dumps, sizes, backups, compaction.

use crate::error::{Error, NotFoundKind, Result};
use crate::keys;

use super::{Durability, ProfileDb};

/// The size of one column family (see [`ProfileDb::size_parts`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CfSize {
    /// The column family.
    pub name: &'static str,
    /// Bytes of its SST files.
    pub disk: u64,
    /// Bytes of its memtables (allocated arenas).
    pub memtables: u64,
}

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

    /// Every pair of one column family, raw, from a consistent snapshot,
    /// collected in memory: the whole family at once. To read a large
    /// family, or only its first pairs, use
    /// [`dump_cf_each`](Self::dump_cf_each), which holds one pair at a time.
    pub fn dump_cf(&self, name: &str) -> Result<Vec<RawEntry>> {
        let mut out = Vec::new();
        self.dump_cf_each(name, |e| {
            out.push(e);
            Ok::<bool, Error>(true)
        })?;
        Ok(out)
    }

    /// Calls `f` with each pair of one column family, raw, in key order,
    /// from a consistent snapshot, one pair at a time (nothing is
    /// collected). `f` returns `Ok(true)` to go on, `Ok(false)` to stop
    /// there (e.g. after the first N), or an error, which stops the scan and
    /// is returned.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// for n in 1..=3 {
    ///     let id: Identifier = format!("user_id:{n}").parse()?;
    ///     db.update(&id, Update::new().set("plan", "pro"))?;
    /// }
    /// let mut first = Vec::new();
    /// db.dump_cf_each("identity", |e| {
    ///     first.push(e.key);
    ///     Ok::<bool, profiledb::Error>(first.len() < 2)
    /// })?;
    /// assert_eq!(first.len(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn dump_cf_each<E: From<Error>>(
        &self,
        name: &str,
        mut f: impl FnMut(RawEntry) -> std::result::Result<bool, E>,
    ) -> std::result::Result<(), E> {
        let cf = Self::known_cf(name)?;
        let view = self.core.store.snapshot();
        for kv in view.range(cf, &[], None)? {
            let (k, v) = kv?;
            if !f(RawEntry { cf, key: k.into_vec(), value: v.into_vec() })? {
                break;
            }
        }
        Ok(())
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

    /// Bytes on disk and in memtables, per column family the database has.
    /// A database of an older format opened read-only (or as a secondary)
    /// lacks the families later formats added: they are not listed (see
    /// [`column_families`](Self::column_families) for every name).
    pub fn sizes(&self) -> Result<Vec<(&'static str, u64)>> {
        Ok(self.size_parts()?.into_iter().map(|s| (s.name, s.disk + s.memtables)).collect())
    }

    /// [`sizes`](Self::sizes) in two parts: SST files on disk, and the
    /// memtables (allocated arenas, so an empty database still shows a
    /// few MiB there).
    pub fn size_parts(&self) -> Result<Vec<CfSize>> {
        let present = keys::cf::ALL.iter().filter(|cf| !self.core.store.is_absent(cf));
        present
            .map(|cf| {
                let (disk, memtables) = self.core.store.size_parts(cf)?;
                Ok(CfSize { name: cf, disk, memtables })
            })
            .collect()
    }

    /// Number of linked identifiers (a scan; for admin use).
    pub fn identifier_count(&self) -> Result<u64> {
        self.count_cf(keys::cf::IDENTITY)
    }

    /// Number of merged-away ids that are aliases (a scan; for admin use).
    pub fn alias_count(&self) -> Result<u64> {
        let view = self.core.store.latest();
        let mut n = 0;
        for kv in view.prefix(keys::cf::ALIAS, &[keys::alias::FORWARD])? {
            kv?;
            n += 1;
        }
        Ok(n)
    }

    fn count_cf(&self, cf: &'static str) -> Result<u64> {
        let view = self.core.store.latest();
        let mut n = 0;
        for kv in view.range(cf, &[], None)? {
            kv?;
            n += 1;
        }
        Ok(n)
    }

    /// The format version recorded in the database (it may be older than
    /// [`FORMAT_VERSION`](crate::FORMAT_VERSION) on a read-only handle).
    pub fn stored_format_version(&self) -> Result<u32> {
        let v = crate::schema::META_U32.get(&self.core.store.latest(), keys::meta::FORMAT_VERSION)?;
        v.ok_or_else(|| Error::not_found(NotFoundKind::FormatVersion, "the format version"))
    }

    /// The oldest version of a profile that history can still reconstruct
    /// (0: everything; raised by [`retain_history`](Self::retain_history)).
    pub fn history_floor(&self, id: crate::ProfileId) -> Result<u64> {
        let view = self.core.store.latest();
        let rec = self.live_record(&view, id)?.ok_or_else(|| Error::no_profile(id))?;
        Ok(rec.history_floor)
    }

    /// Flushes the memtables and waits until RocksDB's background flushes
    /// and compactions are done — for example after a bulk import, before
    /// taking timings or a backup. Writes may go on meanwhile (the wait
    /// then also covers the work they cause). Level-0 files below a
    /// family's compaction trigger are not pending work and stay (up to 24
    /// in the families every event writes; ARCHITECTURE.md);
    /// [`compact`](Self::compact) merges everything.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// db.settle()?;
    /// assert_eq!(db.background_work()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn settle(&self) -> Result<()> {
        self.writable("settle")?;
        self.core.store.settle()
    }

    /// How much background work RocksDB has pending or running: memtables
    /// waiting to be flushed plus flushes and compactions pending or
    /// running (0 when the database is settled).
    pub fn background_work(&self) -> Result<u64> {
        self.core.store.background_work()
    }

    /// Makes every write acknowledged so far survive power loss: fsyncs
    /// the write-ahead log once (what [`Durability::Sync`] does on every
    /// commit). With the default [`Durability::Wal`], a program that
    /// reports writes as done to someone else (a CLI printing "imported")
    /// calls this first; a read-only or secondary handle has nothing to
    /// sync and gets [`Error::ReadOnly`].
    ///
    /// It also checks that the database directory is still there (its
    /// `CURRENT` file): a directory removed or moved underneath a live
    /// handle goes unnoticed by writes until RocksDB next opens a file in
    /// it (a new log or table file), and those writes are acknowledged
    /// although a reopen will not find them. `sync` then fails with
    /// [`Error::Storage`] (its [`retry`](Error::retry) is
    /// [`Retry::Reopen`](crate::Retry::Reopen)).
    pub fn sync(&self) -> Result<()> {
        self.writable("sync")?;
        self.core.store.sync_wal()
    }

    /// When this handle's commits are durable (the builder's
    /// [`durability`](crate::Builder::durability)).
    pub fn durability(&self) -> Durability {
        self.core.config.durability
    }

    /// Flushes and compacts every column family. A purge left pending by
    /// an erase or anonymize whose compaction failed, or that a read which
    /// began before it held up ([`purge_pending`](Self::purge_pending)), is
    /// finished this way (waiting, as the erase does, up to
    /// [`PURGE_READ_WAIT`](crate::PURGE_READ_WAIT) for such reads); an
    /// error (e.g. no space left on device, or
    /// [`Error::ReadStillOpen`] in [`Error::PurgePending`]) is returned,
    /// never dropped, and leaves the purge pending.
    pub fn compact(&self) -> Result<()> {
        self.writable("compact")?;
        if self.purge_pending()? {
            return self.purge_files().map_err(|e| super::privacy::purge_failed("an earlier erase or anonymize", e));
        }
        for cf in keys::cf::ALL {
            self.core.store.compact_range(cf, None, None)?;
        }
        Ok(())
    }
}
