//! Value encodings. Every stored value starts with a one-byte format tag
//! naming its type and layout version; the rest is the body.
//!
//! Bodies of structured values are bincode 2 with a pinned configuration
//! (little-endian, variable-length integers, a 16 MiB decode limit), so
//! the layout never depends on the host and a corrupt length can never
//! allocate unboundedly. The tags are listed in `storage-format/README.md`.

pub mod tagged;

pub use tagged::{decode_body, decode_tagged, encode_tagged, Tagged};

/// Why a value could not be decoded.
pub(crate) type DecodeError = String;

/// A value that can be stored.
pub(crate) trait ValueCodec: Sized {
    /// Encodes the value, tag first.
    fn encode_value(&self) -> Vec<u8>;
    /// Decodes a value, checking its tag.
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError>;
}

/// A roaring bitmap in its portable serialization, exactly the layout
/// roaring writes: no run containers (roaring reads them, but builds empty
/// containers from some), containers in strictly increasing key order
/// (roaring reads any order, and then answers wrong), sorted arrays and
/// true bitmap cardinalities (roaring checks those), every byte used.
pub(crate) fn roaring_bitmap(raw: &[u8]) -> Result<roaring::RoaringBitmap, DecodeError> {
    /// Roaring's `SERIAL_COOKIE_NO_RUNCONTAINER`.
    const NO_RUNS: u32 = 12346;
    let word = |at: usize| raw.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    match word(0) {
        Some(NO_RUNS) => {}
        Some(c) => return Err(format!("cookie {c}, expected {NO_RUNS} (no run containers)")),
        None => return Err(format!("{} bytes, shorter than a header", raw.len())),
    }
    let count = word(4).ok_or("no container count")? as usize;
    let mut previous: Option<u16> = None;
    for i in 0..count {
        let at = 8 + 4 * i;
        let key = raw.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]])).ok_or("truncated container keys")?;
        if let Some(p) = previous.filter(|p| *p >= key) {
            return Err(format!("container keys out of order ({key} after {p})"));
        }
        previous = Some(key);
    }
    let mut reader = raw;
    let bitmap = roaring::RoaringBitmap::deserialize_from(&mut reader).map_err(|e| e.to_string())?;
    if !reader.is_empty() {
        return Err(format!("{} trailing bytes", reader.len()));
    }
    Ok(bitmap)
}

/// `u32` counters and ids: tag 0x10 then 4 bytes big-endian.
impl ValueCodec for u32 {
    fn encode_value(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(5);
        v.push(tags::U32);
        v.extend_from_slice(&self.to_be_bytes());
        v
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            [tags::U32, a, b, c, d] => Ok(u32::from_be_bytes([*a, *b, *c, *d])),
            [t, ..] if *t != tags::U32 => Err(format!("expected tag {:#04x} (u32), found {t:#04x}", tags::U32)),
            _ => Err(format!("expected 5 bytes (tag + u32), found {}", bytes.len())),
        }
    }
}

/// `u64` counters: tag 0x11 then 8 bytes big-endian.
impl ValueCodec for u64 {
    fn encode_value(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(9);
        v.push(tags::U64);
        v.extend_from_slice(&self.to_be_bytes());
        v
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        match bytes {
            [tags::U64, rest @ ..] if rest.len() == 8 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(rest);
                Ok(u64::from_be_bytes(b))
            }
            [t, ..] if *t != tags::U64 => Err(format!("expected tag {:#04x} (u64), found {t:#04x}", tags::U64)),
            _ => Err(format!("expected 9 bytes (tag + u64), found {}", bytes.len())),
        }
    }
}

/// Empty marker values (index entries whose key says everything): tag 0x12 alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Marker;

impl ValueCodec for Marker {
    fn encode_value(&self) -> Vec<u8> {
        vec![tags::MARKER]
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        if bytes == [tags::MARKER] {
            Ok(Marker)
        } else {
            Err(format!("expected the single byte {:#04x} (marker)", tags::MARKER))
        }
    }
}

/// The format tags. A tag is never reused for another layout: a changed
/// layout gets a new tag and the format version is bumped.
pub(crate) mod tags {
    /// `ProfileRecord` v1 (bincode; formats 1–3, read only).
    pub const PROFILE_RECORD_V1: u8 = 0x01;
    /// `Delta` v1 (bincode; formats 1–3, read only).
    pub const DELTA_V1: u8 = 0x02;
    /// `Profile` snapshot v1 (bincode; formats 1–3, read only).
    pub const SNAPSHOT_V1: u8 = 0x03;
    /// `IdentityLink` v1 (bincode).
    pub const IDENTITY_LINK: u8 = 0x04;
    /// `SeriesDef` v1 (bincode).
    pub const SERIES_DEF: u8 = 0x05;
    /// `RollupRecord` v1 (bincode).
    pub const ROLLUP_RECORD: u8 = 0x06;
    /// `Acc` v1 (bincode; formats 2–8, read only).
    pub const ACC: u8 = 0x07;
    /// `Event` v1 (bincode).
    pub const EVENT: u8 = 0x08;
    /// `DedupEntry` v1 (bincode).
    pub const DEDUP: u8 = 0x09;
    /// `RfmModel` v1 (bincode).
    pub const RFM_MODEL: u8 = 0x0a;
    /// `SegmentDef` v1 (bincode).
    pub const SEGMENT_DEF: u8 = 0x0b;
    /// A segment chunk: roaring portable serialization (not bincode).
    pub const BITMAP: u8 = 0x0c;
    /// `FeedRecord` v1 (bincode).
    pub const FEED_RECORD: u8 = 0x0d;
    /// `bool` (bincode: one byte).
    pub const BOOL: u8 = 0x0e;
    /// `AuditRecord` v1 (bincode).
    pub const AUDIT_RECORD: u8 = 0x0f;
    /// `u32` big-endian.
    pub const U32: u8 = 0x10;
    /// `u64` big-endian.
    pub const U64: u8 = 0x11;
    /// Marker (no body).
    pub const MARKER: u8 = 0x12;
    /// `ProfileRecord` v2: the profile carries consent (format 4, read only).
    pub const PROFILE_RECORD_V2: u8 = 0x13;
    /// `Delta` v2: consent changes and consent results (formats 4–6, read only).
    pub const DELTA_V2: u8 = 0x14;
    /// `Profile` snapshot v2: with consent (format 4).
    pub const SNAPSHOT: u8 = 0x15;
    /// `ProfileRecord` v3: identifier counts by kind (format 5).
    pub const PROFILE_RECORD: u8 = 0x16;
    /// A chunk merge operand: members added to and removed from one
    /// bitmap chunk (format 6; folded into a [`BITMAP`] on read).
    pub const CHUNK_DELTA: u8 = 0x17;
    /// `Delta` v3: a consent change may carry the time it was given
    /// (format 7).
    pub const DELTA: u8 = 0x18;
    /// `Acc` v2: a hand-written layout holding only what the accumulator
    /// has, the sum as one `f64` (format 9, read only; `rollup::acc_codec`).
    pub const ACC_V2: u8 = 0x19;
    /// `Acc` v3: as v2, the sum exact — its partials (format 10;
    /// `rollup::acc_codec`, `rollup::exact_sum`).
    pub const ACC_V3: u8 = 0x1a;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_and_reject_garbage() {
        assert_eq!(u32::decode_value(&7u32.encode_value()), Ok(7));
        assert_eq!(u64::decode_value(&7u64.encode_value()), Ok(7));
        assert!(u32::decode_value(&[]).is_err());
        assert!(u32::decode_value(&[tags::U32, 1]).is_err());
        assert!(u32::decode_value(&7u64.encode_value()).is_err());
        assert!(u64::decode_value(&[tags::U64; 3]).is_err());
        assert_eq!(Marker::decode_value(&[tags::MARKER]), Ok(Marker));
        assert!(Marker::decode_value(&[tags::MARKER, 0]).is_err());
    }
}
