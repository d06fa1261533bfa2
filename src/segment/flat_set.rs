//! [`FlatSet`]: a query result held as flat blocks, one per 65,536-id chunk.
//!
//! A combination of dense segments (`in a and in b and not in c`) is
//! combined word by word over the segments' flat blocks (see
//! [`count`](super::count)). Turning those words into a roaring bitmap
//! would cost more than combining them (a population count and a scan of
//! every block to build sorted arrays); kept as blocks, the result counts
//! in O(chunks), answers `contains` with one bit test and pages members by
//! skipping whole chunks by their counts.

use crate::segment::members::{Block, WORDS};

/// Profile ids as flat blocks (`None`: no member in that chunk).
#[derive(Clone, Debug, Default)]
pub(crate) struct FlatSet {
    blocks: Vec<Option<Box<Block>>>,
    /// Members per chunk.
    counts: Vec<u32>,
    len: u64,
}

impl FlatSet {
    /// Appends the next chunk: `members` of its bits are set in `block`.
    pub fn push(&mut self, block: &Block, members: u64) {
        // A chunk holds at most 65,536 ids.
        let n = members.min(65_536) as u32;
        self.blocks.push((n > 0).then(|| Box::new(*block)));
        self.counts.push(n);
        self.len += u64::from(n);
    }

    /// Number of members.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: u32) -> bool {
        let (chunk, low) = ((id >> 16) as usize, (id & 0xFFFF) as usize);
        self.blocks.get(chunk).and_then(Option::as_ref).is_some_and(|b| b[low / 64] & (1 << (low % 64)) != 0)
    }

    /// Up to `limit` members after the first `offset`, ascending.
    pub fn members(&self, offset: u64, limit: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(limit.min(self.len.saturating_sub(offset) as usize));
        let mut skip = offset;
        for (chunk, (block, n)) in self.blocks.iter().zip(&self.counts).enumerate() {
            let Some(block) = block else { continue };
            if skip >= u64::from(*n) {
                skip -= u64::from(*n);
                continue;
            }
            for (w, word) in block.iter().enumerate().take(WORDS) {
                let mut bits = *word;
                while bits != 0 {
                    let b = bits.trailing_zeros();
                    bits &= bits - 1;
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    if out.len() == limit {
                        return out;
                    }
                    out.push(((chunk as u32) << 16) | (w as u32 * 64 + b));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roaring::RoaringBitmap;

    #[test]
    fn counts_tests_and_pages_like_a_bitmap() {
        let ids: Vec<u32> = (0..200_000u32).filter(|i| i % 7 == 0 || (70_000..70_100).contains(i)).collect();
        let bitmap: RoaringBitmap = ids.iter().copied().collect();
        let mut set = FlatSet::default();
        for chunk in 0..4u32 {
            let mut block = [0u64; WORDS];
            let mut n = 0;
            for id in bitmap.range(chunk << 16..(chunk + 1) << 16) {
                let low = (id & 0xFFFF) as usize;
                block[low / 64] |= 1 << (low % 64);
                n += 1;
            }
            set.push(&block, n);
        }
        assert_eq!(set.len(), bitmap.len());
        for id in [0, 1, 7, 69_999, 70_000, 70_050, 70_100, 131_071, 196_000, 199_997, 262_143, 1 << 30] {
            assert_eq!(set.contains(id), bitmap.contains(id), "{id}");
        }
        let all: Vec<u32> = bitmap.iter().collect();
        assert_eq!(set.members(0, usize::MAX), all);
        for (offset, limit) in [(0, 10), (9_000, 50), (9_362, 3), (all.len() as u64 - 2, 10), (all.len() as u64, 5)] {
            let want: Vec<u32> = all.iter().copied().skip(offset as usize).take(limit).collect();
            assert_eq!(set.members(offset, limit), want, "{offset} {limit}");
        }
        assert!(set.members(0, 0).is_empty());
    }
}
