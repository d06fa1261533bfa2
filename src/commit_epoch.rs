//! [`CommitEpoch`]: a counter the writer makes odd for the whole of a
//! commit — from just before its RocksDB write until every in-memory state
//! (segment bitmaps, rollup cache, profile and identity caches) holds it —
//! and even again after (a sequence lock with one writer).
//!
//! Readers use it two ways:
//!
//! - to pair in-memory state with a RocksDB snapshot ([`CommitEpoch::settled`]):
//!   while a commit is in flight, a snapshot may hold a commit whose bitmaps
//!   are not published yet, so the pair is taken again;
//! - to decide whether something they loaded from RocksDB may go into a
//!   cache the writer keeps exact by folding commits in: only if no commit
//!   started since before the load ([`CommitEpoch::unchanged`]).
//!
//! The writer pays two atomic increments per commit; readers one or two
//! atomic loads per read that uses it (never `in_segment` or a profile
//! cache hit).

use std::sync::atomic::{AtomicU64, Ordering};

/// The commit counter (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct CommitEpoch(AtomicU64);

/// A commit in flight; dropping it ends the commit (the epoch is even again).
#[must_use = "the commit ends when the guard drops"]
pub(crate) struct InFlight<'e>(&'e AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

impl CommitEpoch {
    /// Marks a commit in flight until the guard drops. Taken by the writer
    /// (one at a time: the writer lock) before its RocksDB write, and by a
    /// secondary's catch-up, which changes the state as a commit would.
    pub fn begin(&self) -> InFlight<'_> {
        self.0.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.0)
    }

    /// The epoch now (odd: a commit is in flight).
    pub fn current(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Whether a commit is in flight.
    pub fn in_flight(&self) -> bool {
        self.current() % 2 == 1
    }

    /// Whether no commit was in flight at `since` (a value of
    /// [`current`](Self::current)) and none started after it.
    pub fn unchanged(&self, since: u64) -> bool {
        since.is_multiple_of(2) && self.current() == since
    }

    /// Runs `take` until it ran with no commit in flight or starting
    /// meanwhile, and returns what it took: for a reader pairing
    /// in-memory state (held under its lock in `T`) with a RocksDB
    /// snapshot. `take` must release its locks when its result drops: the
    /// commit being waited for may need them to finish.
    pub fn settled<T>(&self, mut take: impl FnMut() -> T) -> T {
        let mut waits = 0u32;
        loop {
            let before = self.current();
            if before.is_multiple_of(2) {
                let taken = take();
                if self.current() == before {
                    return taken;
                }
            }
            // A commit is finishing: microseconds unless it syncs the WAL.
            waits += 1;
            if waits < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::CommitEpoch;

    #[test]
    fn a_commit_is_in_flight_while_its_guard_lives_and_moves_the_epoch() {
        let epoch = CommitEpoch::default();
        let before = epoch.current();
        assert!(epoch.unchanged(before));
        {
            let _commit = epoch.begin();
            assert!(epoch.in_flight());
            assert!(!epoch.unchanged(before));
            assert!(!epoch.unchanged(epoch.current()), "an odd epoch is never unchanged");
        }
        assert!(!epoch.in_flight());
        assert!(!epoch.unchanged(before));
    }

    #[test]
    fn settled_takes_again_when_a_commit_ran_meanwhile() {
        let epoch = CommitEpoch::default();
        let mut runs = 0;
        let taken = epoch.settled(|| {
            runs += 1;
            if runs == 1 {
                // A commit begins and ends while the first take runs.
                drop(epoch.begin());
            }
            runs
        });
        assert_eq!((taken, runs), (2, 2));
    }
}
