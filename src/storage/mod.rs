//! The storage engine: the only module that imports `rocksdb`.
//!
//! [`Store`] opens the database with its column families, [`Batch`] is a
//! write batch committed atomically, [`View`] reads either the latest state
//! or a consistent snapshot, and [`Cf`] gives a column family a typed value.
//! Everything above this module speaks in byte keys (built by `keys`) and
//! typed values (encoded by `codec`), never in RocksDB types.

mod batch;
mod lock_probe;
mod open;
mod settle;
mod table;
mod view;
mod wal;
mod watch;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_absent;
#[cfg(test)]
mod tests_foreign;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use batch::Batch;
pub(crate) use open::{Counters, Expiring, MergeOperator, StoreOptions, INFO_LOG_BYTES};
pub(crate) use table::Cf;
pub(crate) use view::{corrupt, prefix_end, Cursor, View};
pub(crate) use watch::Keys;

/// A corrupt-key error for `cf`.
pub(crate) fn corrupt_key(cf: &'static str, key: &[u8], reason: &str) -> Error {
    corrupt(cf, "key", key, reason)
}

use crate::error::{Error, Result};

/// An open RocksDB database with profiledb's column families.
#[derive(Clone)]
pub(crate) struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    db: rocksdb::DB,
    path: PathBuf,
    write_opts: rocksdb::WriteOptions,
    read_only: bool,
    secondary: bool,
    /// Prefix lengths by column family (`StoreOptions::prefixes`).
    prefixes: Vec<(&'static str, usize)>,
    /// Column families with hashed memtables (`StoreOptions::hashed_memtables`).
    hashed: Vec<&'static str>,
    /// `StoreOptions::counters`.
    counters: Option<open::Counters>,
    /// `StoreOptions::seek_on_secondary`.
    seek_on_secondary: Vec<&'static str>,
    /// Every column family this build declares (`StoreOptions::column_families`).
    families: &'static [&'static str],
    /// Column families of `StoreOptions::column_families` the database
    /// does not have: only a read-only or secondary handle on a database
    /// of an older format has any (it cannot create them). Every read of
    /// one finds nothing; a write to one is an error.
    absent: Vec<&'static str>,
    /// Whether this open created the database (there was none at the path).
    created: bool,
    /// Declared after `db`, so it is dropped (and the secondary's private
    /// directory removed) only once the database is closed.
    _secondary_dir: Option<open::RemoveOnDrop>,
    /// The active write watches (`watch`).
    watches: watch::Watches,
    /// A writable handle's registration (see `lock_probe`), declared after
    /// `db`: released once the database (and its lock) is closed.
    _registration: Option<lock_probe::Registration>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Before `db` closes: the log it writes is recorded in the MANIFEST
        // (see `wal`), so losing it later fails the open.
        if !self.read_only {
            wal::seal(&self.db, self.families);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.inner.path).field("read_only", &self.inner.read_only).finish()
    }
}

#[cfg(test)]
thread_local! {
    /// Test hook: while set, every [`Store::compact_range`] on this thread
    /// fails after compacting, as one cut short by a full disk does.
    pub(crate) static FAIL_COMPACTIONS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether a test asked this thread's compactions to fail.
fn fail_compactions_for_test() -> bool {
    #[cfg(test)]
    {
        FAIL_COMPACTIONS.with(std::cell::Cell::get)
    }
    #[cfg(not(test))]
    {
        false
    }
}

/// Maps a RocksDB error to ours, naming the operation and column family.
pub(crate) fn storage_err(op: &'static str, cf: &'static str) -> impl FnOnce(rocksdb::Error) -> Error {
    move |e| Error::Storage { op, cf, detail: e.into_string() }
}

impl Store {
    /// The database directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Whether writes are refused.
    pub fn is_read_only(&self) -> bool {
        self.inner.read_only
    }

    /// The handle of column family `name`, or `None` when the database
    /// does not have it ([`absent`](Self::is_absent): read as empty).
    fn cf(&self, name: &'static str) -> Result<Option<&rocksdb::ColumnFamily>> {
        match self.inner.db.cf_handle(name) {
            Some(handle) => Ok(Some(handle)),
            None if self.is_absent(name) => Ok(None),
            None => Err(Error::Storage {
                op: "cf_handle",
                cf: name,
                detail: format!(
                    "column family not opened at {} (not one this build declares)",
                    self.inner.path.display()
                ),
            }),
        }
    }

    /// The handle of column family `name`, to write to: an absent family
    /// is an error naming it.
    fn cf_to_write(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily> {
        self.cf(name)?.ok_or_else(|| Error::Storage {
            op: "write",
            cf: name,
            detail: format!(
                "column family absent from {}: a database of an older format, opened read-only (open it writable to \
                 upgrade it)",
                self.inner.path.display()
            ),
        })
    }

    /// Whether column family `name` is one this build declares but the
    /// database lacks (an older format on a read-only or secondary handle):
    /// reads of it find nothing.
    pub fn is_absent(&self, name: &str) -> bool {
        self.inner.absent.contains(&name)
    }

    /// Whether this open created the database (there was none at the path).
    pub fn created(&self) -> bool {
        self.inner.created
    }

    /// Whether no column family holds a key.
    pub fn holds_no_keys(&self) -> Result<bool> {
        let view = self.latest();
        for cf in self.inner.families {
            if let Some(kv) = view.range(cf, &[], None)?.next() {
                kv?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Reads the latest committed state.
    pub fn latest(&self) -> View<'_> {
        View::latest(self)
    }

    /// Reads a consistent snapshot: later commits are invisible to it.
    pub fn snapshot(&self) -> View<'_> {
        View::snapshot(self)
    }

    /// A new, empty write batch.
    pub fn batch(&self) -> Batch {
        Batch::new(self)
    }

    /// Commits `batch` atomically (with fsync when durability says so).
    pub fn commit(&self, batch: Batch) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly("a write"));
        }
        let (batch, recorded) = batch.into_rocksdb()?;
        self.inner.db.write_opt(batch, &self.inner.write_opts).map_err(storage_err("write", "*"))?;
        self.inner.watches.committed(recorded.as_ref());
        Ok(())
    }

    /// Fsyncs the write-ahead log: every write committed so far survives
    /// power loss (what `sync` write options do on every commit, once).
    /// Fails when the database directory (its `CURRENT` file) is gone.
    pub fn sync_wal(&self) -> Result<()> {
        if self.inner.read_only {
            return Err(Error::ReadOnly("a WAL sync"));
        }
        self.inner.db.flush_wal(true).map_err(storage_err("sync_wal", "*"))?;
        // An open log fsyncs fine after its directory was removed (or
        // moved) underneath the handle: what it holds is then nowhere a
        // reopen finds it. RocksDB replaces CURRENT by a rename, so it is
        // always there while the directory is.
        let current = self.path().join("CURRENT");
        if !current.is_file() {
            return Err(Error::Storage {
                op: "sync",
                cf: "*",
                detail: format!(
                    "IO error: {} is gone: the database directory was removed or moved while open, and the writes \
                     this handle acknowledged are not in it; drop every clone of the handle (a reopen of the path \
                     finds no database, or an older one)",
                    current.display()
                ),
            });
        }
        Ok(())
    }

    /// Compacts the key range `[from, to)` of a column family (the whole
    /// family when both are `None`), so deleted bytes leave the SST files.
    pub fn compact_range(&self, cf: &'static str, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<()> {
        // An absent family holds nothing to compact.
        let Some(handle) = self.cf(cf)? else { return Ok(()) };
        // A failed flush can report the background error of another family
        // (a damaged table file elsewhere): the message names the file.
        self.inner.db.flush_cf(handle).map_err(storage_err("flush", "*"))?;
        let mut opts = rocksdb::CompactOptions::default();
        opts.set_bottommost_level_compaction(rocksdb::BottommostLevelCompaction::Force);
        // RocksDB's CompactRange returns a status the C API drops: a failed
        // compaction (no space left, an I/O error) shows only as one more
        // background error, counted before the manual compaction's waiter
        // wakes up.
        let errors_before = self.background_errors()?;
        self.inner.db.compact_range_cf_opt(handle, from, to, &opts);
        if self.background_errors()? > errors_before || fail_compactions_for_test() {
            return Err(Error::Storage {
                op: "compact",
                cf,
                detail: format!(
                    "the compaction failed and left the files as they were (the reason, typically a full disk, is in \
                     {}; a full compaction needs free space about the size of the database)",
                    self.inner.path.join("LOG").display()
                ),
            });
        }
        Ok(())
    }

    /// How many background flushes and compactions have failed since the
    /// database was opened (RocksDB's `rocksdb.background-errors`).
    fn background_errors(&self) -> Result<u64> {
        let n = self.inner.db.property_int_value("rocksdb.background-errors");
        Ok(n.map_err(storage_err("property", "*"))?.unwrap_or(0))
    }

    /// Makes deleted bytes leave the files on disk: flushes every listed
    /// column family (so the WAL holding the deleted values becomes
    /// obsolete and is removed) and compacts each one fully, down to the
    /// bottommost level, dropping deleted values and tombstones from the
    /// SST files. (The MANIFEST, which records SST boundary keys, is
    /// rewritten on every edit: see `open`.)
    pub fn purge(&self, cfs: &[&'static str]) -> Result<()> {
        for cf in cfs {
            self.compact_range(cf, None, None)?;
        }
        self.inner.db.flush_wal(true).map_err(storage_err("flush_wal", "*"))
    }

    /// The sequence number of the last write committed (RocksDB's: every
    /// key of a batch takes one; a snapshot taken now reads up to it).
    /// Read right after a commit, under the writer lock, it is that
    /// commit's last sequence number.
    pub fn latest_sequence(&self) -> u64 {
        self.inner.db.latest_sequence_number()
    }

    /// Whether a snapshot older than sequence number `seq` is open: one
    /// taken before the commit that `seq` ends, so a read that still sees
    /// what that commit deleted — a compaction keeps those versions for
    /// it (RocksDB's `rocksdb.num-snapshots` and
    /// `rocksdb.oldest-snapshot-sequence`). Snapshots taken later read at
    /// `seq` or after, so once this is false it stays false. (Iterators
    /// without a snapshot do not count: they pin the table files they
    /// read, which are deleted once they end.)
    pub fn snapshot_older_than(&self, seq: u64) -> Result<bool> {
        let property = |name| {
            self.inner.db.property_int_value(name).map_err(storage_err("property", "*")).map(Option::unwrap_or_default)
        };
        if property("rocksdb.num-snapshots")? == 0 {
            return Ok(false);
        }
        Ok(property("rocksdb.oldest-snapshot-sequence")? < seq)
    }

    /// Flushes every memtable, then blocks until no flush or compaction
    /// is pending or running (what the writes so far left RocksDB to do in
    /// the background).
    pub fn settle(&self) -> Result<()> {
        let mut opts = rocksdb::WaitForCompactOptions::default();
        opts.set_flush(true);
        self.inner.db.wait_for_compact(&opts).map_err(storage_err("wait_for_compact", "*"))
    }

    /// Background work pending or running: memtables waiting for a flush,
    /// and flushes and compactions pending or running, summed over every
    /// column family.
    pub fn background_work(&self) -> Result<u64> {
        let mut total = 0;
        for cf in self.inner.families {
            for name in ["rocksdb.mem-table-flush-pending", "rocksdb.compaction-pending"] {
                total += self.cf_property(cf, name)?;
            }
        }
        for name in ["rocksdb.num-running-flushes", "rocksdb.num-running-compactions"] {
            total += self.inner.db.property_int_value(name).map_err(storage_err("property", "*"))?.unwrap_or(0);
        }
        Ok(total)
    }

    /// A RocksDB integer property of a column family (0 for an absent
    /// family or a property RocksDB does not report).
    fn cf_property(&self, cf: &'static str, name: &str) -> Result<u64> {
        let Some(handle) = self.cf(cf)? else { return Ok(0) };
        Ok(self.inner.db.property_int_value_cf(handle, name).map_err(storage_err("property", cf))?.unwrap_or(0))
    }

    /// The bytes of a column family's SST files, and of its memtables
    /// (their arenas: a new memtable takes its first block before any
    /// write); 0 and 0 for an absent family.
    pub fn size_parts(&self, cf: &'static str) -> Result<(u64, u64)> {
        Ok((
            self.cf_property(cf, "rocksdb.total-sst-files-size")?,
            self.cf_property(cf, "rocksdb.cur-size-all-mem-tables")?,
        ))
    }

    /// Writes a consistent copy of the database (a RocksDB checkpoint,
    /// hard-linking SST files where possible) into `dir`, which must not exist.
    pub fn checkpoint(&self, dir: &Path) -> Result<()> {
        let cp = rocksdb::checkpoint::Checkpoint::new(&self.inner.db).map_err(storage_err("checkpoint", "*"))?;
        cp.create_checkpoint(dir).map_err(storage_err("checkpoint", "*"))
    }

    /// For a secondary instance: replays what the primary wrote since.
    ///
    /// A secondary opened on an older format lacks the newer column
    /// families; once a writer has upgraded the database (creating them),
    /// catching up cannot open them (RocksDB may even call the MANIFEST
    /// corrupt) and would read them as empty, so it is an error asking for
    /// a reopen.
    pub fn catch_up(&self) -> Result<()> {
        if !self.inner.secondary {
            return Err(Error::invalid(
                "catch_up is for secondary handles (AccessMode::Secondary): a writer sees its own writes, and a \
                 read-only handle is a view as of its open (open it again, or open a secondary, to follow a writer)",
            ));
        }
        let caught = self.catch_up_whole();
        let created = match self.created_since_open() {
            Ok(created) => created,
            // The catch-up's own error, if any, explains more.
            Err(e) => return caught.and(Err(e)),
        };
        match created {
            Some(cf) => Err(Error::Storage {
                op: "catch_up",
                cf,
                detail: format!(
                    "a writer upgraded the database at {} since this secondary handle opened it (the column family \
                     now exists): reopen the handle to read it",
                    self.inner.path.display()
                ),
            }),
            None => caught,
        }
    }

    /// Catches up until one catch-up saw a whole state (see
    /// [`settle`]), or [`Error::Unsettled`].
    ///
    /// A catch-up that settle calls whole can still lose a rarely written
    /// family's newest writes (RocksDB's secondary replay; seen with `meta`
    /// counters going back to an old value while the other families moved
    /// on): the counters (`StoreOptions::counters`), which only grow, are
    /// compared with those read before, and a catch-up that moved one back is retried
    /// like one that raced a flush, then [`Error::Unsettled`].
    fn catch_up_whole(&self) -> Result<()> {
        let path = &self.inner.path;
        let mut missing = None;
        let counters = self.counters()?;
        for attempt in 0..=settle::RETRIES {
            let before = settle::Mark::take(path);
            let caught = self.inner.db.try_catch_up_with_primary();
            let during = before.compare(&settle::Mark::take(path));
            match caught {
                Ok(()) if during.whole_for(true) && !settle::went_back(&counters, &self.counters()?) => return Ok(()),
                Ok(()) => missing = None,
                // The MANIFEST edits a catch-up replays can name files a
                // later compaction deleted, even before this attempt began:
                // retried, and reported if it persists.
                Err(e) if settle::names_a_missing_file(&e) => missing = Some(e),
                Err(e) => return Err(storage_err("catch_up", "*")(e)),
            }
            std::thread::sleep(settle::wait(attempt));
        }
        Err(missing.map_or_else(|| settle::unsettled("catch_up", path), storage_err("catch_up", "*")))
    }

    /// The raw values of the counters (`StoreOptions::counters`); none
    /// for a store without them.
    fn counters(&self) -> Result<Vec<Option<Vec<u8>>>> {
        let Some(counters) = self.inner.counters else { return Ok(Vec::new()) };
        let view = self.latest();
        counters.keys.iter().map(|key| view.get(counters.cf, key)).collect()
    }

    /// An absent column family the database has now (a writer created it).
    fn created_since_open(&self) -> Result<Option<&'static str>> {
        if self.inner.absent.is_empty() {
            return Ok(None);
        }
        let present = open::list_families(&self.inner.path)?;
        Ok(self.inner.absent.iter().copied().find(|cf| present.iter().any(|p| p == cf)))
    }
}
