//! [`KnownIdentifiers`]: an in-memory filter of every linked identifier,
//! so that looking up one never seen — a new anonymous id, a new device:
//! most identifiers are new once — skips RocksDB's negative read (the
//! memtables, then a filter partition per level: 11 % of an identify that
//! links a new identifier at 1M profiles, perf, 2026-12-06).
//!
//! A blocked Bloom filter: an identifier (its identity key,
//! `kind ‖ 0x00 ‖ value`) sets [`BITS_PER_KEY`] bits in one 64-byte block,
//! so a check is one cache line. It answers "maybe linked" or "certainly
//! never linked", and never the latter wrongly:
//!
//! - the writer adds every identifier it links while staging the link
//!   ([`Txn::put_link`](crate::txn::Txn::put_link)), before its batch
//!   commits, from the moment the filter exists (a reader that finds no bit
//!   set ran before that commit, so "not linked" was the truth then);
//! - the identifiers linked before the filter existed are added by a scan
//!   of a snapshot taken after it was created, on a background thread
//!   ([`KnownScan`](crate::db::known_scan::KnownScan)); until the scan has
//!   finished, [`may_contain`](KnownIdentifiers::may_contain) answers
//!   "maybe" for everything, and lookups read RocksDB as before.
//!
//! Bits are never cleared: an identifier unlinked since (erased, moved,
//! detached) stays "maybe" and its lookup reads RocksDB, which answers.
//! A secondary handle does not see the writer's links as they are staged,
//! so its filter is [`disabled`](KnownIdentifiers::disabled).
//!
//! Size: [`BITS_PER_KEY`] × 2 bits per identifier RocksDB estimates at
//! open (at least [`MIN_KEYS`] identifiers' worth), about 3 bytes per
//! identifier. Past twice the estimate the false-positive rate climbs
//! (more lookups read RocksDB, none answers wrongly); a reopen sizes it
//! anew.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use xxhash_rust::xxh3::xxh3_64;

/// Bits set per identifier (in its block).
const BITS_PER_KEY: u32 = 6;
/// Filter bits per expected identifier: about 1 % false positives at
/// the expected count with 6 bits per key in 512-bit blocks.
const FILTER_BITS_PER_KEY: u64 = 12;
/// The least number of identifiers a filter is sized for.
pub(crate) const MIN_KEYS: u64 = 1 << 20;

/// One cache line of filter bits.
#[repr(align(64))]
struct Block([AtomicU64; 8]);

/// The filter (see the module docs).
pub(crate) struct KnownIdentifiers {
    blocks: Box<[Block]>,
    /// Every identifier linked before the filter existed has been added.
    ready: AtomicBool,
}

impl KnownIdentifiers {
    /// A filter sized for twice `estimated` identifiers (at least
    /// [`MIN_KEYS`]), not ready until [`set_ready`](Self::set_ready).
    pub fn new(estimated: u64) -> Self {
        let keys = estimated.saturating_mul(2).max(MIN_KEYS);
        let blocks = keys.saturating_mul(FILTER_BITS_PER_KEY).div_ceil(512);
        let blocks = usize::try_from(blocks).unwrap_or(usize::MAX >> 7);
        let blocks = (0..blocks).map(|_| Block(std::array::from_fn(|_| AtomicU64::new(0)))).collect();
        KnownIdentifiers { blocks, ready: AtomicBool::new(false) }
    }

    /// A filter that is never ready: every identifier may be linked.
    pub fn disabled() -> Self {
        KnownIdentifiers { blocks: Box::new([]), ready: AtomicBool::new(false) }
    }

    /// Adds an identity key.
    pub fn insert(&self, key: &[u8]) {
        let Some((block, mut bits)) = self.place(key) else { return };
        for _ in 0..BITS_PER_KEY {
            let pos = bits >> 55;
            bits <<= 9;
            block.0[(pos >> 6) as usize].fetch_or(1 << (pos & 63), Ordering::Relaxed);
        }
    }

    /// Whether the identity key may be linked: false only once the filter
    /// is ready and the key was never added.
    pub fn may_contain(&self, key: &[u8]) -> bool {
        !self.is_ready() || self.has(key)
    }

    /// Whether every bit of the key is set (regardless of readiness).
    pub fn has(&self, key: &[u8]) -> bool {
        let Some((block, mut bits)) = self.place(key) else { return true };
        (0..BITS_PER_KEY).all(|_| {
            let pos = bits >> 55;
            bits <<= 9;
            block.0[(pos >> 6) as usize].load(Ordering::Relaxed) & (1 << (pos & 63)) != 0
        })
    }

    /// Marks the filter complete: every identifier linked before it
    /// existed has been added (the bits set before this are published with it).
    pub fn set_ready(&self) {
        if !self.blocks.is_empty() {
            self.ready.store(true, Ordering::Release);
        }
    }

    /// Whether the filter answers "never linked".
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The filter's memory, in bytes.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.blocks.len() * std::mem::size_of::<Block>()
    }

    /// The key's block and the bits to pick positions from (9 bits each,
    /// from the top), or `None` for a disabled filter.
    fn place(&self, key: &[u8]) -> Option<(&Block, u64)> {
        let n = self.blocks.len() as u64;
        if n == 0 {
            return None;
        }
        let h = xxh3_64(key);
        // The high half picks the block (multiply-shift: no division); the
        // bits come from a remix of the whole hash.
        let block = ((h >> 32).wrapping_mul(n) >> 32) as usize;
        let bits = (h ^ (h >> 31)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.blocks.get(block).map(|b| (b, bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u64) -> Vec<u8> {
        format!("anonymous_id\0visitor-{i}").into_bytes()
    }

    #[test]
    fn an_added_key_is_always_found_and_few_others_are() {
        let f = KnownIdentifiers::new(MIN_KEYS / 2);
        let n = MIN_KEYS;
        for i in 0..n {
            f.insert(&key(i));
        }
        f.set_ready();
        assert!((0..n).all(|i| f.may_contain(&key(i))), "a false negative");
        let false_positives = (n..n + 100_000).filter(|i| f.may_contain(&key(*i))).count();
        // Sized for 2^20 keys: about 1 % answer "maybe" wrongly.
        assert!(false_positives < 2_000, "{false_positives} false positives in 100,000");
    }

    #[test]
    fn until_ready_everything_may_be_linked() {
        let f = KnownIdentifiers::new(10);
        f.insert(&key(1));
        assert!(f.may_contain(&key(2)));
        f.set_ready();
        assert!(f.may_contain(&key(1)));
        assert!(!f.may_contain(&key(2)));
    }

    #[test]
    fn a_disabled_filter_never_rules_anything_out() {
        let f = KnownIdentifiers::disabled();
        f.insert(&key(1));
        f.set_ready();
        assert!(!f.is_ready());
        assert!(f.may_contain(&key(2)));
        assert_eq!(f.bytes(), 0);
    }

    #[test]
    fn the_filter_is_sized_for_twice_the_estimate() {
        let small = KnownIdentifiers::new(0);
        assert_eq!(small.bytes() as u64, MIN_KEYS * FILTER_BITS_PER_KEY / 8);
        let big = KnownIdentifiers::new(10 * MIN_KEYS);
        assert_eq!(big.bytes() as u64, 20 * MIN_KEYS * FILTER_BITS_PER_KEY / 8);
    }
}
