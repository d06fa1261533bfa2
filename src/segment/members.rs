//! [`Members`]: a segment's member bitmap, with flat copies of its dense
//! chunks for counting.
//!
//! Roaring keeps a 65,536-id chunk with more than 4,096 members as a flat
//! 8 KiB bitset, but does not expose it. Counting `a and b and not c`
//! through roaring's operators materializes every intermediate result, and
//! as intersections thin out it converts bitsets to sorted arrays chunk by
//! chunk: 2.2 ms for three dense segments over 10M profiles. So each chunk
//! with more than [`BUILD_ABOVE`] members is mirrored here as a flat block
//! of words, kept in step by every [`insert`](Members::insert) and
//! [`remove`](Members::remove), and [`count`](super::count) combines blocks
//! word by word and counts bits without building a result. The mirror
//! exists only where roaring itself holds a bitset, so it at most doubles
//! the memory of dense segments and costs nothing for sparse ones.

use std::ops::Deref;

use roaring::RoaringBitmap;

/// Words in a block: one bit per id of a 65,536-id chunk.
pub(crate) const WORDS: usize = 1024;

/// A chunk's members as a flat bitset: bit `i % 64` of word `i / 64` is id
/// `chunk << 16 | i`.
pub(crate) type Block = [u64; WORDS];

/// A chunk gets a block when it has more members than this (roaring's own
/// threshold between sorted arrays and bitsets).
pub(crate) const BUILD_ABOVE: u32 = 4096;

/// A chunk loses its block when it has fewer members than this (below
/// [`BUILD_ABOVE`], so that a chunk at the threshold does not rebuild its
/// block on every other write).
const DROP_BELOW: u32 = 2048;

/// A segment's members: the roaring bitmap every read uses (through
/// `Deref`), the member count of each chunk, and the blocks of the dense
/// chunks.
#[derive(Clone, Debug, Default)]
pub(crate) struct Members {
    bits: RoaringBitmap,
    counts: Vec<u32>,
    blocks: Vec<Option<Box<Block>>>,
}

/// The chunk of an id and its position in the chunk's block.
fn split(id: u32) -> (usize, usize, u64) {
    let low = (id & 0xFFFF) as usize;
    ((id >> 16) as usize, low / 64, 1u64 << (low % 64))
}

impl Members {
    /// Wraps a bitmap, building the blocks of its dense chunks.
    pub fn new(bits: RoaringBitmap) -> Members {
        let mut m = Members { bits, counts: Vec::new(), blocks: Vec::new() };
        let chunks = m.bits.max().map_or(0, |max| (max >> 16) as usize + 1);
        m.counts = vec![0; chunks];
        m.blocks = vec![None; chunks];
        if !m.copy_containers() {
            for id in &m.bits {
                m.counts[(id >> 16) as usize] += 1;
            }
            for chunk in 0..chunks {
                if m.counts[chunk] > BUILD_ABOVE {
                    m.build(chunk);
                }
            }
        }
        m
    }

    /// Takes the chunk sizes and the dense chunks' words from roaring's
    /// portable serialization, where a container of more than 4,096 members
    /// is its 1,024 words as they are (opening 100 segments over 10M
    /// profiles: milliseconds, where visiting every member takes seconds).
    /// `false` when the bytes are not the layout this expects (then nothing
    /// was set).
    fn copy_containers(&mut self) -> bool {
        let mut bytes = Vec::with_capacity(self.bits.serialized_size());
        if self.bits.serialize_into(&mut bytes).is_err() {
            return false;
        }
        let u16_at = |at: usize| bytes.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        let u32_at = |at: usize| bytes.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        // Cookie 12346: no run containers, an offset per container.
        let (Some(12346), Some(n)) = (u32_at(0), u32_at(4)) else { return false };
        let mut found = Vec::with_capacity(n as usize);
        for i in 0..n as usize {
            let (Some(key), Some(card), Some(offset)) =
                (u16_at(8 + 4 * i), u16_at(10 + 4 * i), u32_at(8 + 4 * n as usize + 4 * i))
            else {
                return false;
            };
            let (chunk, len) = (usize::from(key), u32::from(card) + 1);
            if chunk >= self.counts.len() {
                return false;
            }
            let block = if len > BUILD_ABOVE {
                let Some(raw) = bytes.get(offset as usize..offset as usize + 8 * WORDS) else { return false };
                let mut block: Box<Block> = Box::new([0; WORDS]);
                for (w, b) in block.iter_mut().zip(raw.chunks_exact(8)) {
                    *w = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                }
                Some(block)
            } else {
                None
            };
            found.push((chunk, len, block));
        }
        for (chunk, len, block) in found {
            self.counts[chunk] = len;
            self.blocks[chunk] = block;
        }
        true
    }

    /// The roaring bitmap (for operators, which do not deref).
    pub fn bits(&self) -> &RoaringBitmap {
        &self.bits
    }

    /// Adds `id`; whether it was absent.
    pub fn insert(&mut self, id: u32) -> bool {
        if !self.bits.insert(id) {
            return false;
        }
        let (chunk, word, bit) = split(id);
        if chunk >= self.counts.len() {
            self.counts.resize(chunk + 1, 0);
            self.blocks.resize(chunk + 1, None);
        }
        self.counts[chunk] += 1;
        match &mut self.blocks[chunk] {
            Some(block) => block[word] |= bit,
            None if self.counts[chunk] > BUILD_ABOVE => self.build(chunk),
            None => {}
        }
        true
    }

    /// Removes `id`; whether it was present.
    pub fn remove(&mut self, id: u32) -> bool {
        if !self.bits.remove(id) {
            return false;
        }
        let (chunk, word, bit) = split(id);
        // Present in `bits`, so counted when it was added.
        self.counts[chunk] -= 1;
        if self.counts[chunk] < DROP_BELOW {
            self.blocks[chunk] = None;
        } else if let Some(block) = &mut self.blocks[chunk] {
            block[word] &= !bit;
        }
        true
    }

    /// Number of chunks (one past the highest chunk that has held members).
    pub fn chunks(&self) -> usize {
        self.counts.len()
    }

    /// Number of members in `chunk`.
    pub fn chunk_len(&self, chunk: usize) -> u32 {
        self.counts.get(chunk).copied().unwrap_or(0)
    }

    /// The block of `chunk`, when it is dense.
    pub fn block(&self, chunk: usize) -> Option<&Block> {
        self.blocks.get(chunk).and_then(|b| b.as_deref())
    }

    /// Writes the members of `chunk` into `out` as a flat bitset: a copy of
    /// its block, or its (at most [`BUILD_ABOVE`]) members set one by one.
    pub fn fill(&self, chunk: usize, out: &mut Block) {
        match self.block(chunk) {
            Some(block) => out.copy_from_slice(block),
            None => {
                out.fill(0);
                for id in self.chunk_ids(chunk) {
                    let (_, word, bit) = split(id);
                    out[word] |= bit;
                }
            }
        }
    }

    /// Clears the members of `chunk` from `out` (a flat bitset of it), one
    /// by one.
    pub fn clear_from(&self, chunk: usize, out: &mut Block) {
        for id in self.chunk_ids(chunk) {
            let (_, word, bit) = split(id);
            out[word] &= !bit;
        }
    }

    /// The members of `chunk`, ascending.
    fn chunk_ids(&self, chunk: usize) -> roaring::bitmap::Iter<'_> {
        let lo = (chunk as u32) << 16;
        self.bits.range(lo..=lo | 0xFFFF)
    }

    fn build(&mut self, chunk: usize) {
        let mut block: Box<Block> = Box::new([0; WORDS]);
        for id in self.chunk_ids(chunk) {
            let (_, word, bit) = split(id);
            block[word] |= bit;
        }
        self.blocks[chunk] = Some(block);
    }

    /// Whether every block equals its chunk of the bitmap and every count
    /// its chunk's size (for `check` and tests).
    pub fn consistent(&self) -> bool {
        (0..self.chunks().max(self.bits.max().map_or(0, |m| (m >> 16) as usize + 1))).all(|chunk| {
            let n = self.chunk_ids(chunk).count() as u32;
            let block_ok = match self.block(chunk) {
                Some(block) => {
                    let mut flat = [0u64; WORDS];
                    for id in self.chunk_ids(chunk) {
                        let (_, word, bit) = split(id);
                        flat[word] |= bit;
                    }
                    flat == *block
                }
                None => n <= BUILD_ABOVE,
            };
            block_ok && self.chunk_len(chunk) == n
        })
    }
}

impl From<RoaringBitmap> for Members {
    fn from(bits: RoaringBitmap) -> Members {
        Members::new(bits)
    }
}

impl Deref for Members {
    type Target = RoaringBitmap;

    fn deref(&self) -> &RoaringBitmap {
        &self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    #[test]
    fn blocks_follow_inserts_and_removes_across_the_thresholds() {
        let mut m = Members::default();
        let mut model = RoaringBitmap::new();
        let mut x = 3u64;
        // Fill chunk 1 past the block threshold, then drain it below the
        // drop threshold, with chunk 0 sparse throughout.
        for round in 0..3 {
            for _ in 0..12_000 {
                let id = 65_536 + (rng(&mut x) % 16_384) as u32;
                assert_eq!(m.insert(id), model.insert(id));
                let id = (rng(&mut x) % 65_536) as u32;
                if round == 0 && m.chunk_len(0) < 3_000 {
                    assert_eq!(m.insert(id), model.insert(id));
                }
            }
            assert!(m.block(1).is_some(), "chunk 1 is dense");
            assert!(m.consistent());
            for _ in 0..40_000 {
                let id = 65_536 + (rng(&mut x) % 16_384) as u32;
                assert_eq!(m.remove(id), model.remove(id));
            }
            assert!(m.block(1).is_none(), "chunk 1 thinned out: {}", m.chunk_len(1));
            assert!(m.consistent());
        }
        assert_eq!(*m.bits(), model);
        assert!(m.block(0).is_none());
    }

    /// Blocks copied from roaring's serialization equal blocks built by
    /// visiting the members.
    #[test]
    fn blocks_from_the_serialization_equal_visited_ones() {
        let mut bits = RoaringBitmap::new();
        let mut x = 9u64;
        for _ in 0..200_000 {
            let r = rng(&mut x);
            // Chunk 0 dense, chunk 2 sparse, chunk 5 dense.
            let id = match r % 3 {
                0 => (r >> 8) as u32 % 65_536,
                1 => 2 * 65_536 + (r >> 8) as u32 % 4_000,
                _ => 5 * 65_536 + (r >> 8) as u32 % 65_536,
            };
            bits.insert(id);
        }
        let m = Members::new(bits.clone());
        assert!(m.block(0).is_some() && m.block(2).is_none() && m.block(5).is_some());
        assert_eq!(m.chunks(), 6);
        assert!(m.consistent());
        let mut visited = Members { bits, counts: vec![0; 6], blocks: vec![None; 6] };
        for id in visited.bits.clone().iter() {
            visited.counts[(id >> 16) as usize] += 1;
        }
        for chunk in [0, 5] {
            visited.build(chunk);
            assert_eq!(visited.block(chunk), m.block(chunk));
        }
        assert_eq!(visited.counts, m.counts);
    }

    #[test]
    fn new_builds_blocks_only_for_dense_chunks_and_fill_writes_every_chunk() {
        let mut bits = RoaringBitmap::new();
        bits.insert_range(0..5_000);
        bits.insert_range(3 * 65_536..3 * 65_536 + 10);
        let m = Members::new(bits.clone());
        assert!(m.block(0).is_some() && m.block(3).is_none() && m.block(9).is_none());
        assert_eq!((m.chunks(), m.chunk_len(0), m.chunk_len(3)), (4, 5_000, 10));
        assert!(m.consistent());
        for chunk in [0, 3] {
            let mut out = [u64::MAX; WORDS];
            m.fill(chunk, &mut out);
            let ones: u32 = out.iter().map(|w| w.count_ones()).sum();
            assert_eq!(ones, m.chunk_len(chunk));
        }
    }
}
