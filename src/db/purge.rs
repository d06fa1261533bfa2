//! The purge after an erase or anonymize: the compaction that makes the
//! deleted bytes leave the files, and when it may be called done.
//!
//! RocksDB never drops a version an open snapshot can still see, and every
//! snapshot read (`query`, `export_segment`, `check`, `dump_cf_each`, the
//! history reads, ...) holds one. So a read that began before the erase's
//! commit and is still open during the compaction keeps the erased bytes in
//! the new table files. The purge therefore remembers the sequence number
//! of the erase's commit, waits (at most [`PURGE_READ_WAIT`]) until no
//! snapshot older than it is open, compacts, and clears the pending mark
//! only then; otherwise the purge stays pending and the caller gets
//! [`Error::PurgePending`] with [`Error::ReadStillOpen`] as its source.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::keys;
use crate::schema;

use super::privacy::purge_failed;
use super::ProfileDb;

/// How long the purge after an erase or anonymize waits for reads that
/// began before it (their snapshots) to end before it leaves the purge
/// pending and returns [`Error::PurgePending`]: 5 seconds. Reads that
/// began after the erase's commit are never waited for.
pub const PURGE_READ_WAIT: Duration = Duration::from_secs(5);

/// The longest pause between two looks at the open snapshots.
const POLL_MAX: Duration = Duration::from_millis(20);

/// What the purge remembers in memory (the pending mark itself is in the
/// database: `meta` / `last_purge`).
#[derive(Default)]
pub(crate) struct PurgeState {
    /// The sequence number of the latest erase or anonymize commit of this
    /// process (0: none; a purge left pending by an earlier process waits
    /// for no read, as every snapshot of this one is newer).
    target: AtomicU64,
    /// Held by a running purge: one at a time.
    running: Mutex<()>,
    /// Whether the last purge was held up by a read: a tick retries it.
    held_by_a_read: AtomicBool,
}

impl ProfileDb {
    /// Remembers the erase or anonymize that just committed (called under
    /// the writer lock, right after the commit): its purge must wait for
    /// the reads that began before it.
    pub(crate) fn note_purge_commit(&self) {
        self.core.purge.target.fetch_max(self.core.store.latest_sequence(), Ordering::SeqCst);
    }

    /// Compacts every column family so deleted bytes leave the files, then
    /// writes one more version edit and compacts `meta`, so the rolled
    /// MANIFEST lists only live files (the previous one listed the
    /// compacted files with their boundary keys, which may be personal).
    ///
    /// Erase and anonymize mark the purge pending in the batch that
    /// removes the data ([`mark_purge_pending`](super::privacy::mark_purge_pending));
    /// it stays pending until this finishes, so a crash (or an I/O error)
    /// in between leaves it to the next writable open
    /// ([`resume_purge`](Self::resume_purge)) — the data is gone from every
    /// read at once, its bytes once this ran. Waits up to
    /// [`PURGE_READ_WAIT`] for reads that began before the latest erase or
    /// anonymize to end; if one is still open, returns
    /// [`Error::ReadStillOpen`] and leaves the purge pending.
    pub(crate) fn purge_files(&self) -> Result<()> {
        self.purge_files_waiting(PURGE_READ_WAIT)
    }

    /// [`purge_files`](Self::purge_files), waiting at most `wait` for old reads.
    fn purge_files_waiting(&self, wait: Duration) -> Result<()> {
        let _running = self.core.purge.running.lock();
        let target = self.core.purge.target.load(Ordering::SeqCst);
        let store = &self.core.store;
        let held = |waited| {
            self.core.purge.held_by_a_read.store(true, Ordering::SeqCst);
            Err(Error::ReadStillOpen { waited })
        };
        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        while store.snapshot_older_than(target)? {
            let waited = started.elapsed();
            if waited >= wait {
                return held(waited);
            }
            std::thread::sleep(pause.min(wait - waited));
            pause = (pause * 2).min(POLL_MAX);
        }
        store.purge(keys::cf::ALL)?;
        // Snapshots taken since read at `target` or later, so none can be
        // older; checked anyway before the purge is called done.
        if store.snapshot_older_than(target)? {
            return held(started.elapsed());
        }
        self.core.purge.held_by_a_read.store(false, Ordering::SeqCst);
        {
            // Under the writer lock, so no erase commits in between: one
            // that committed during the compaction (a newer target) keeps
            // the mark, and runs its own purge.
            let _writer = self.core.writer.lock();
            if self.core.purge.target.load(Ordering::SeqCst) != target {
                return Ok(());
            }
            let mut b = store.batch();
            // Never 0, which means pending (a test clock may read 0).
            let done = (self.core.clock.now().0 as u64).max(1);
            schema::META_U64.put(&mut b, keys::meta::LAST_PURGE, &done);
            store.commit(b)?;
        }
        store.purge(&[keys::cf::META])
    }

    /// Finishes the purge of an erase or anonymize that committed but whose
    /// compaction a crash cut short (run at a writable open).
    pub(crate) fn resume_purge(&self) -> Result<()> {
        if self.purge_pending()? {
            self.purge_files().map_err(|e| purge_failed("an earlier erase or anonymize", e))?;
        }
        Ok(())
    }

    /// At a tick: retries a purge a read held up, if no read that began
    /// before its erase is open now (it does not wait). Still held up, it
    /// stays pending silently ([`purge_pending`](Self::purge_pending) says
    /// so); any other failure is returned.
    pub(crate) fn retry_held_purge(&self) -> Result<()> {
        if !self.core.purge.held_by_a_read.load(Ordering::SeqCst) || !self.purge_pending()? {
            return Ok(());
        }
        match self.purge_files_waiting(Duration::ZERO) {
            Err(Error::ReadStillOpen { .. }) => Ok(()),
            done => done.map_err(|e| purge_failed("an earlier erase or anonymize", e)),
        }
    }

    /// Whether an erase or anonymize committed but the compaction that
    /// removes its bytes from the files has not yet succeeded: it failed
    /// (a full disk), a read that began before the erase was still open
    /// (see [`Error::ReadStillOpen`]), or the process died before it ran.
    /// [`compact`](Self::compact), the next erase or anonymize, or a
    /// writable open finishes it — and a [`tick`](Self::tick) after a read
    /// held it up.
    pub fn purge_pending(&self) -> Result<bool> {
        Ok(schema::META_U64.get(&self.core.store.latest(), keys::meta::LAST_PURGE)? == Some(0))
    }
}
