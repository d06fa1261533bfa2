//! Software prefetch of the per-profile caches, pipelined over the
//! profiles an operation is about to work on.
//!
//! A batch of events, and segment maintenance after it, visits profiles at
//! random: each profile's cached record, rollup entries and wake-ups are
//! reached through a chain of pointers (the table's set, the slot it points
//! to, the buckets the slot's entries point to), and on a large database
//! every link of the chain is a cache miss that the core waits for — the
//! set is reached under a lock, whose atomic instruction lets no later load
//! start before it completes. A prefetch instruction asks for a line
//! without waiting for it, so the chains of the next few profiles can be
//! walked one link per profile step, their misses overlapping the work on
//! the current profile: [`ahead`] runs [`Stage::Set`] three profiles ahead
//! and [`Stage::Slot`] two ahead (the set is in the CPU caches by then).
//! A third stage, prefetching the latest day buckets the slots' rollup
//! entries point to, one profile ahead, measured no faster at 1M profiles
//! (68.1k events/s without it, 66.8k with it, same-run pair): it is left
//! to the touch before evaluation (`Core::touch_cached`).
//!
//! A prefetch never faults and changes nothing but what the CPU caches
//! hold: a prefetched address that is freed or reused meanwhile costs a
//! wasted line, never a wrong value.

use crate::profile::id::ProfileId;

/// The most lines [`lines`] asks for at once (a kilobyte).
const MAX_LINES: usize = 16;

/// A cache line's size on the targets we build for.
const LINE: usize = 64;

/// One link of a profile's chains in the caches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The profile's sets in the cache tables (their addresses follow from
    /// the id).
    Set,
    /// What the sets point to: the slots of the rollup and wake-up caches,
    /// the cached record.
    Slot,
}

/// Starts loading the line holding `p` into the CPU caches, without
/// waiting for it.
#[inline]
pub(crate) fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint that never faults, whatever the address
    // (dangling or null included), and reads or writes no memory the
    // program sees; SSE, which the instruction belongs to, is part of
    // every x86_64 target.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Starts loading the lines of `bytes` bytes from `p` (at most
/// [`MAX_LINES`] of them).
#[inline]
pub(crate) fn lines<T>(p: *const T, bytes: usize) {
    let start = p.cast::<u8>();
    for i in 0..bytes.div_ceil(LINE).min(MAX_LINES) {
        line(start.wrapping_add(i * LINE));
    }
}

/// Runs each stage of `prefetch` for the profile that far ahead of
/// position `i` (see the module docs), as `at` tells it; a position with
/// none (past the end, or an event whose profile is not known yet) is
/// skipped.
pub(crate) fn ahead(i: usize, at: impl Fn(usize) -> Option<ProfileId>, prefetch: impl Fn(ProfileId, Stage)) {
    for (distance, stage) in [(3, Stage::Set), (2, Stage::Slot)] {
        if let Some(p) = at(i + distance) {
            prefetch(p, stage);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_stage_runs_its_distance_ahead_and_unknown_profiles_are_skipped() {
        let ids = [Some(ProfileId(0)), Some(ProfileId(1)), None, Some(ProfileId(3)), Some(ProfileId(4))];
        let at = |j: usize| ids.get(j).copied().flatten();
        let seen = std::cell::RefCell::new(Vec::new());
        ahead(0, at, |p, s| seen.borrow_mut().push((p.0, s)));
        assert_eq!(*seen.borrow(), vec![(3, Stage::Set)], "the slot stage's profile is unknown");
        seen.borrow_mut().clear();
        ahead(1, at, |p, s| seen.borrow_mut().push((p.0, s)));
        assert_eq!(*seen.borrow(), vec![(4, Stage::Set), (3, Stage::Slot)]);
        seen.borrow_mut().clear();
        ahead(2, at, |p, s| seen.borrow_mut().push((p.0, s)));
        assert_eq!(*seen.borrow(), vec![(4, Stage::Slot)]);
        seen.borrow_mut().clear();
        ahead(3, at, |p, s| seen.borrow_mut().push((p.0, s)));
        assert!(seen.borrow().is_empty(), "nothing lies that far ahead");
    }

    #[test]
    fn prefetching_any_address_is_harmless() {
        let v: Vec<u64> = (0..1_000).collect();
        lines(v.as_ptr(), 8 * v.len());
        lines(v.as_ptr(), 0);
        lines(std::ptr::null::<u8>(), 4_096);
        line(usize::MAX as *const u8);
        assert_eq!(v.iter().sum::<u64>(), 499_500, "the data is untouched");
    }
}
