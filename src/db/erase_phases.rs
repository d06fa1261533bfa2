//! Erase (and anonymize, with its own sweeps: `erase_scope::Sweeps`) in
//! three phases, so that its scans of whole column families do not make
//! writes wait:
//!
//! 1. Under the writer lock, briefly: the identifiers are resolved to the
//!    people (their profiles, merged-away ids and identifiers), a write
//!    watch starts (`storage::Watch`: it records the keys of every write
//!    committed from then on), and a snapshot is taken. The lock goes.
//! 2. Without the lock: the snapshot is scanned for the keys the erase may
//!    change outside the people's own ranges (`erase_scope::candidates`:
//!    the people's dedup entries and feed records, other profiles'
//!    events, rollups, records, deltas and snapshots holding an erased
//!    identifier's value, the deltas that name them or record a merge) —
//!    collected, not staged. Writes go on meanwhile.
//! 3. Under the lock: the identifiers are resolved again. If the people
//!    changed (a merge, unmerge, link, or an erase in between, or an
//!    identifier now reaching someone) or the watch cannot give every key
//!    written since (`Watch::take` is `None`), the erase runs as it did
//!    before, scanning everything under the lock (rare). Otherwise it
//!    reads the candidate keys and the keys written since the snapshot in
//!    the current state — and only those — with the same sweeps and the
//!    same staging as a full scan ([`Scope::Only`]), so it stages exactly
//!    what a full scan under the lock would: one atomic commit, as before.
//!
//! The person's own ranges are read in phase 3 (they are small), so an
//! event that reached the person during the scan (it was not erased yet:
//! the event applies) is erased with the rest; its dedup entry and feed
//! records, written since the snapshot, are among the watched keys.

use std::path::PathBuf;

use parking_lot::Mutex;

use crate::error::Result;
use crate::identity::identifier::Identifier;
use crate::txn::Txn;

use super::erase_many::{EraseManyReport, Resolution};
use super::erase_scope::{self, Scope, Sweeps};
use super::ProfileDb;

/// A hook run in an erase or anonymize, on its thread, between its scan and phase 3.
type Hook = Box<dyn FnOnce(&ProfileDb) + Send>;

/// Hooks by database path (`on_erase_scanned`).
static SCANNED: Mutex<Vec<(PathBuf, Hook)>> = Mutex::new(Vec::new());

impl ProfileDb {
    /// [`erase_many`](Self::erase_many) (and [`erase`](Self::erase), a list
    /// of one) up to its commit, the compaction left pending, in the three
    /// phases of the module documentation. Commits nothing when no
    /// identifier reaches anyone.
    pub(crate) fn erase_many_committed(
        &self,
        identifiers: &[Identifier],
        request_id: Option<&str>,
    ) -> Result<EraseManyReport> {
        self.writable("erase")?;
        self.in_phases(identifiers, Sweeps::Erase, |txn, people, scope| {
            self.erase_resolved(txn, people, scope, request_id)
        })
    }

    /// The three phases of the module documentation, for erase and
    /// anonymize (`sweeps` says whose sweeps the scan looks for): calls
    /// `commit` under the writer lock with the people `identifiers` reach,
    /// resolved under that lock, and the keys the sweeps must read outside
    /// the people's own ranges. When no identifier reaches anyone, `commit`
    /// is called in phase 1, with nothing scanned.
    pub(super) fn in_phases<R>(
        &self,
        identifiers: &[Identifier],
        sweeps: Sweeps,
        commit: impl FnOnce(Txn<'_>, Resolution, &Scope) -> Result<R>,
    ) -> Result<R> {
        // 1. Who, and from when on the writes are watched.
        let (planned, watch, snapshot) = {
            let mut writer = self.core.writer.lock();
            let txn = Txn::new(&self.core, &mut writer);
            let planned = Resolution::of(&txn, identifiers)?;
            if planned.is_empty() {
                return commit(txn, planned, &Scope::All);
            }
            // Started before the snapshot, both under the lock: every
            // commit the snapshot does not see is watched.
            let watch = self.core.store.watch();
            (planned, watch, self.core.store.snapshot())
        };
        // 2. The scan, without the lock.
        let found = erase_scope::candidates(&snapshot, &planned.gone(), &planned.identifiers(), sweeps)?;
        // Dropped before the commit: the purge waits for older snapshots.
        drop(snapshot);
        run_hook(self);
        // 3. The keys found and those written since, under the lock.
        let mut writer = self.core.writer.lock();
        let txn = Txn::new(&self.core, &mut writer);
        let now = Resolution::of(&txn, identifiers)?;
        let scope = match watch.take() {
            Some(written) if now == planned => Scope::Only(erase_scope::union(found, written)),
            // The people changed, or a write's keys are unknown: as before.
            _ => Scope::All,
        };
        commit(txn, now, &scope)
    }

    /// Not part of the API (tests of writes during an erase or anonymize):
    /// runs `hook` once, in the next erase or anonymize of this database,
    /// on its thread, after it scanned its snapshot and before it takes the
    /// writer lock again (writes from the hook, or from threads it waits for,
    /// must commit).
    #[doc(hidden)]
    pub fn on_erase_scanned(&self, hook: impl FnOnce(&ProfileDb) + Send + 'static) {
        SCANNED.lock().push((self.path().to_owned(), Box::new(hook)));
    }
}

/// Runs the hook registered for this database, if any.
fn run_hook(db: &ProfileDb) {
    let hook = {
        let mut hooks = SCANNED.lock();
        let at = hooks.iter().position(|(path, _)| path == db.path());
        at.map(|i| hooks.remove(i).1)
    };
    if let Some(hook) = hook {
        hook(db);
    }
}
