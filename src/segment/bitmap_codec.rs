//! The value codec of segment chunks: tag `0x0c` ‖ roaring's portable
//! serialization of the members in one 65,536-id chunk.

use roaring::RoaringBitmap;

use crate::codec::{tags, DecodeError, ValueCodec};

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
        let mut reader = std::io::Cursor::new(body);
        let bitmap = RoaringBitmap::deserialize_from(&mut reader).map_err(|e| format!("bitmap chunk: {e}"))?;
        let used = usize::try_from(reader.position()).unwrap_or(usize::MAX);
        if used != body.len() {
            return Err(format!("bitmap chunk: {} trailing bytes", body.len().saturating_sub(used)));
        }
        Ok(Chunk(bitmap))
    }
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
}
