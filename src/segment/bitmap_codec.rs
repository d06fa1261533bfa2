//! The value codec of segment chunks: tag `0x0c` ‖ roaring's portable
//! serialization of the members in one 65,536-id chunk.

use roaring::RoaringBitmap;

use crate::codec::{tags, DecodeError, ValueCodec};

/// The members of one segment in one chunk of the id space.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Chunk(pub RoaringBitmap);

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
}
