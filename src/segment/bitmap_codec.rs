//! The value codec of bitmap chunks (segment members, trait-index values,
//! the ids no longer live): tag `0x0c` ‖ roaring's portable serialization
//! of the members in one 65,536-id chunk; and their merge operands
//! ([`ChunkDelta`], tag `0x17`), so that a write changing a few members
//! of a chunk writes those members, not the chunk (format 6). Stored
//! values are always whole chunks; deltas exist only as operands.

use roaring::RoaringBitmap;

use std::collections::BTreeMap;

use crate::codec::{tags, DecodeError, ValueCodec};
use crate::storage::Batch;

/// The members of one segment in one chunk of the id space.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Chunk(pub RoaringBitmap);

impl Chunk {
    /// The members of `m` in chunk `hi` (ids `hi << 16 ..= hi << 16 | 0xffff`):
    /// one container-wise intersection, not one insert per member (a
    /// chunk of the live or gone set holds up to 65,536 of them).
    pub fn of(m: &RoaringBitmap, hi: u16) -> RoaringBitmap {
        let lo = u32::from(hi) << 16;
        let mut c = RoaringBitmap::new();
        c.insert_range(lo..=lo | 0xffff);
        c &= m;
        c
    }
}

impl ValueCodec for Chunk {
    fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.0.serialized_size());
        out.push(tags::BITMAP);
        // Writing into a Vec cannot fail.
        let _ = self.0.serialize_into(&mut out);
        out
    }

    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&tag, body) = bytes.split_first().ok_or("empty value, expected a bitmap chunk")?;
        if tag != tags::BITMAP {
            return Err(format!("expected tag {:#04x} (bitmap chunk), found {tag:#04x}", tags::BITMAP));
        }
        crate::codec::roaring_bitmap(body).map(Chunk).map_err(|e| format!("bitmap chunk: {e}"))
    }
}

/// Members added to and removed from one chunk by one operation: a merge
/// operand of the chunk's key, `0x17 ‖ (flag u8 ‖ id u32 BE)*` with flag 1
/// for added and 0 for removed, applied in order on top of the stored
/// chunk ([`merge_chunks`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ChunkDelta(pub Vec<(u32, bool)>);

impl ValueCodec for ChunkDelta {
    fn encode_value(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + 5 * self.0.len());
        out.push(tags::CHUNK_DELTA);
        for (id, added) in &self.0 {
            out.push(u8::from(*added));
            out.extend_from_slice(&id.to_be_bytes());
        }
        out
    }

    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        let (&tag, body) = bytes.split_first().ok_or("empty value, expected a chunk delta")?;
        if tag != tags::CHUNK_DELTA {
            return Err(format!("expected tag {:#04x} (chunk delta), found {tag:#04x}", tags::CHUNK_DELTA));
        }
        if body.len() % 5 != 0 {
            return Err(format!("chunk delta: {} bytes is not a whole number of 5-byte entries", body.len()));
        }
        body.chunks_exact(5)
            .map(|e| match e {
                [flag @ (0 | 1), id @ ..] => Ok((u32::from_be_bytes([id[0], id[1], id[2], id[3]]), *flag == 1)),
                _ => Err(format!("chunk delta: flag {:#04x}, expected 0 (removed) or 1 (added)", e[0])),
            })
            .collect::<Result<_, _>>()
            .map(ChunkDelta)
    }
}

impl ChunkDelta {
    /// Applies the changes, in order, to `bits`.
    pub fn apply_to(&self, bits: &mut RoaringBitmap) {
        for (id, added) in &self.0 {
            if *added {
                bits.insert(*id);
            } else {
                bits.remove(*id);
            }
        }
    }
}

/// Above this many changed members, a chunk is written whole: a delta
/// costs 5 bytes a member, a whole chunk at most about 8 KiB.
const MAX_DELTA_MEMBERS: usize = 1_024;

/// Stages the changes one operation makes to one chunk of a bitmap whose
/// committed members are `current` (`None`: none): each changed id's new
/// membership, all in the same chunk. Writes a [`ChunkDelta`] of the
/// changes that change something (the whole chunk when they are many, as
/// in a backfill), a delete when the chunk ends up empty, and nothing when
/// nothing changes.
pub(crate) fn stage_chunk(
    batch: &mut Batch,
    cf: &'static str,
    key: &[u8],
    current: Option<&RoaringBitmap>,
    changes: &BTreeMap<u32, bool>,
) {
    let Some(first) = changes.keys().next() else { return };
    let hi = (first >> 16) as u16;
    let is_member = |id: u32| current.is_some_and(|m| m.contains(id));
    let effective: Vec<(u32, bool)> =
        changes.iter().filter(|(id, member)| is_member(**id) != **member).map(|(id, m)| (*id, *m)).collect();
    if effective.is_empty() {
        return;
    }
    let lo = u32::from(hi) << 16;
    let added = effective.iter().filter(|(_, m)| *m).count();
    let removed = effective.len() - added;
    // The chunk ends up empty when nothing is added and every member it
    // has is removed (the removed ids are members): it has no more than
    // `removed` members. Counted only that far — a whole chunk's count
    // reads up to 8 KiB, on every write that changes a membership.
    let emptied = added == 0 && current.is_none_or(|m| m.range(lo..=lo | 0xffff).take(removed + 1).count() <= removed);
    let delta = ChunkDelta(effective);
    if emptied {
        batch.delete(cf, key);
    } else if delta.0.len() > MAX_DELTA_MEMBERS {
        let mut whole = Chunk(current.map(|m| Chunk::of(m, hi)).unwrap_or_default());
        delta.apply_to(&mut whole.0);
        batch.put(cf, key, whole.encode_value());
    } else {
        batch.merge(cf, key, delta.encode_value());
    }
}

/// The full merge of the chunk column families (`segment`,
/// `trait_index`; merge operator `profiledb.chunk.v1`): the stored chunk
/// (none: empty) with every operand's changes applied in order, as a whole
/// chunk — the same bytes for the same members however the operands were
/// grouped, so a chunk reads back identically before and after compaction.
///
/// Operands this build wrote always decode; one that does not (corruption)
/// is skipped rather than failing compaction, which would switch the whole
/// database to read-only. The change it carried is then missing from the
/// bitmap, and `check`, which re-evaluates every segment and rebuilds the
/// live set and trait indexes from the profiles, reports the difference.
pub(crate) fn merge_chunks(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &mut dyn Iterator<Item = &[u8]>,
) -> Option<Vec<u8>> {
    let mut chunk = existing.and_then(|b| Chunk::decode_value(b).ok()).unwrap_or_default();
    for d in operands.filter_map(|op| ChunkDelta::decode_value(op).ok()) {
        d.apply_to(&mut chunk.0);
    }
    Some(chunk.encode_value())
}

/// The partial merge of the chunk column families (in compaction, operands
/// with no stored value among them): one delta holding each id's last
/// change, which applies to any chunk exactly as the operands would one by
/// one. Corrupt operands are skipped, as in [`merge_chunks`].
pub(crate) fn combine_chunk_deltas(
    _key: &[u8],
    _existing: Option<&[u8]>,
    operands: &mut dyn Iterator<Item = &[u8]>,
) -> Option<Vec<u8>> {
    let mut last = BTreeMap::new();
    for d in operands.filter_map(|op| ChunkDelta::decode_value(op).ok()) {
        last.extend(d.0);
    }
    Some(ChunkDelta(last.into_iter().collect()).encode_value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_round_trip_and_reject_garbage() {
        let c = Chunk(RoaringBitmap::from_iter([1u32, 5, 65_535]));
        assert_eq!(Chunk::decode_value(&c.encode_value()), Ok(c));
        assert!(Chunk::decode_value(&[]).is_err());
        assert!(Chunk::decode_value(&[tags::BITMAP, 1, 2, 3]).is_err());
        assert!(Chunk::decode_value(&[0x01]).is_err());
    }

    #[test]
    fn a_chunk_holds_exactly_the_members_in_its_id_range() {
        // Array, bitmap and edge members, in chunks 0, 1, 2 and the last.
        let mut m = RoaringBitmap::from_iter([0u32, 65_535, 65_536, 131_071, u32::MAX]);
        m.insert_range(140_000..150_000);
        for hi in [0u16, 1, 2, 3, u16::MAX] {
            let lo = u32::from(hi) << 16;
            let want: RoaringBitmap = m.iter().filter(|id| id >> 16 == lo >> 16).collect();
            assert_eq!(Chunk::of(&m, hi), want, "chunk {hi}");
        }
        assert_eq!(Chunk::of(&m, 2).len(), 10_000);
        assert!(Chunk::of(&m, 3).is_empty());
    }

    fn fold(existing: Option<Vec<u8>>, ops: &[Vec<u8>]) -> RoaringBitmap {
        let mut it = ops.iter().map(Vec::as_slice);
        let out = merge_chunks(b"k", existing.as_deref(), &mut it).unwrap();
        Chunk::decode_value(&out).unwrap().0
    }

    #[test]
    fn deltas_round_trip_and_reject_garbage() {
        let d = ChunkDelta(vec![(7, true), (u32::MAX, false), (0, true)]);
        assert_eq!(d.encode_value().len(), 16);
        // The layout (storage-format/README.md, `segment`), byte for byte.
        let golden = ChunkDelta(vec![(7, true), (0x0102_0304, false)]).encode_value();
        assert_eq!(golden, [tags::CHUNK_DELTA, 1, 0, 0, 0, 7, 0, 1, 2, 3, 4]);
        assert_eq!(tags::CHUNK_DELTA, 0x17);
        assert_eq!(ChunkDelta::decode_value(&d.encode_value()), Ok(d.clone()));
        assert!(Chunk::decode_value(&d.encode_value()).is_err(), "a delta is never a stored chunk");
        assert_eq!(ChunkDelta::decode_value(&[tags::CHUNK_DELTA]), Ok(ChunkDelta::default()));
        assert!(ChunkDelta::decode_value(&[]).is_err());
        assert!(ChunkDelta::decode_value(&[tags::CHUNK_DELTA, 1, 0, 0, 0]).is_err());
        assert!(ChunkDelta::decode_value(&[tags::CHUNK_DELTA, 2, 0, 0, 0, 1]).is_err());
        assert!(ChunkDelta::decode_value(&[tags::BITMAP, 1, 0, 0, 0, 1]).is_err());
    }

    #[test]
    fn merging_applies_deltas_in_order_on_the_stored_chunk() {
        let stored = Chunk(RoaringBitmap::from_iter([1u32, 2, 3])).encode_value();
        let ops = [
            ChunkDelta(vec![(4, true), (1, false)]).encode_value(),
            ChunkDelta(vec![(4, false), (4, true), (2, false), (5, true)]).encode_value(),
            ChunkDelta(vec![(5, false)]).encode_value(),
        ];
        let want = RoaringBitmap::from_iter([3u32, 4]);
        assert_eq!(fold(Some(stored.clone()), &ops), want);
        // No stored chunk: the deltas alone.
        assert_eq!(fold(None, &ops), RoaringBitmap::from_iter([4u32]));
        // Partial merges of any run of the operands, then a full merge, give
        // the same bytes as merging them one by one.
        let mut it = ops.iter().map(Vec::as_slice);
        let whole = merge_chunks(b"k", Some(&stored), &mut it).unwrap();
        for (from, to) in [(0, 2), (1, 3), (0, 3), (2, 2)] {
            let mut run = ops[from..to].iter().map(Vec::as_slice);
            let combined = combine_chunk_deltas(b"k", None, &mut run).unwrap();
            let grouped: Vec<Vec<u8>> =
                ops[..from].iter().cloned().chain([combined]).chain(ops[to..].iter().cloned()).collect();
            let mut it = grouped.iter().map(Vec::as_slice);
            assert_eq!(merge_chunks(b"k", Some(&stored), &mut it).unwrap(), whole, "operands {from}..{to} combined");
        }
        // A corrupt operand is skipped; the others still apply.
        let corrupt = [vec![tags::CHUNK_DELTA, 9], ops[0].clone()];
        assert_eq!(fold(Some(stored), &corrupt), RoaringBitmap::from_iter([2u32, 3, 4]));
    }
}
