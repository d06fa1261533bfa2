//! [`Definitions`]: one definition at a time — a segment's or a rollup's
//! (with its backfill), a segment drop; `check`, `check_segments` and
//! `anonymize` hold it too — and a clear error instead of a deadlock when
//! a definition's progress callback starts another (`anonymize` runs from
//! a segment definition's callback).

use std::thread::ThreadId;

use parking_lot::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// The lock held for a whole definition (its backfill takes and releases
/// the writer lock per batch, so writes go on meanwhile). Always taken
/// before the writer lock, never while holding it; reads and plain writes
/// never take it.
#[derive(Default)]
pub(crate) struct Definitions {
    lock: Mutex<()>,
    /// The thread holding `lock`, if any.
    owner: Mutex<Option<ThreadId>>,
}

/// A held [`Definitions`] lock.
pub(crate) struct Held<'a> {
    _guard: MutexGuard<'a, ()>,
    owner: &'a Mutex<Option<ThreadId>>,
}

impl Definitions {
    /// Waits for the running definition (on another thread) to end, then
    /// holds the lock for `op`. Refused when this thread holds it already:
    /// `op` was called from a definition's progress callback, which runs
    /// while that definition holds it (waiting would never end).
    pub fn hold(&self, op: &'static str) -> Result<Held<'_>> {
        let me = std::thread::current().id();
        if *self.owner.lock() == Some(me) {
            return Err(Error::invalid(format!(
                "{op} was called from the progress callback of a segment or rollup definition, which holds the \
                 definitions until it ends: call it after the definition returns (or from another thread, where \
                 it waits)"
            )));
        }
        Ok(self.take(me))
    }

    /// As [`hold`](Self::hold), but `None` instead of the refusal when
    /// this thread holds the lock already (the caller runs inside a
    /// definition's progress callback, and no other definition can start
    /// until it returns): the caller decides whether it may run there.
    pub fn hold_unless_nested(&self) -> Option<Held<'_>> {
        let me = std::thread::current().id();
        if *self.owner.lock() == Some(me) {
            return None;
        }
        Some(self.take(me))
    }

    fn take(&self, me: ThreadId) -> Held<'_> {
        let guard = self.lock.lock();
        *self.owner.lock() = Some(me);
        Held { _guard: guard, owner: &self.owner }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        *self.owner.lock() = None;
    }
}
