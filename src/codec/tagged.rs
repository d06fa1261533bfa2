//! Tagged bincode values: `tag ‖ bincode(body)`.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DecodeError, ValueCodec};

/// The largest body a decoder accepts, so a corrupt length prefix cannot
/// make it allocate unboundedly.
pub const DECODE_LIMIT: usize = 16 * 1024 * 1024;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_little_endian().with_variable_int_encoding().with_limit::<DECODE_LIMIT>()
}

/// A serde type stored as `TAG ‖ bincode(body)`.
pub trait Tagged: Serialize + DeserializeOwned {
    /// The format tag.
    const TAG: u8;
    /// The type's name in error messages.
    const NAME: &'static str;

    /// Decodes a body stored under an older tag of the same type (a layout
    /// an older format version wrote), or `None` if `tag` is not one.
    fn decode_legacy(_tag: u8, _body: &[u8]) -> Option<Result<Self, DecodeError>> {
        None
    }
}

/// Encodes `value` with its tag.
pub fn encode_tagged<T: Tagged>(value: &T) -> Vec<u8> {
    encode_with_tag(T::TAG, value)
}

/// Encodes `value` after `tag`: `value` is any serde type whose bincode
/// body is that of the tag's type (a borrowed view of one, written without
/// building it).
pub(crate) fn encode_with_tag<T: Serialize>(tag: u8, value: &T) -> Vec<u8> {
    // One allocation for most values (the tag and body written in place).
    let mut out = Vec::with_capacity(ENCODE_CAPACITY);
    out.push(tag);
    #[expect(
        clippy::expect_used,
        reason = "bincode only fails to encode serde types that need self-describing formats \
                  (unknown-length sequences, `serialize_any`) or when the writer fails, and a \
                  Vec never does; every Tagged type is plain derived data"
    )]
    bincode::serde::encode_into_std_write(value, &mut out, config()).expect("plain derived data always encodes");
    out
}

/// The initial capacity of an encoded value: most profile records, deltas,
/// links and accumulators fit.
const ENCODE_CAPACITY: usize = 128;

/// Decodes a tagged value, checking the tag and that every byte was used.
pub fn decode_tagged<T: Tagged>(bytes: &[u8]) -> Result<T, DecodeError> {
    let (&tag, body) = bytes.split_first().ok_or_else(|| format!("empty value, expected {}", T::NAME))?;
    if tag != T::TAG {
        if let Some(legacy) = T::decode_legacy(tag, body) {
            return legacy;
        }
        return Err(format!("expected tag {:#04x} ({}), found {tag:#04x}", T::TAG, T::NAME));
    }
    decode_body(body, T::NAME)
}

/// Decodes a bincode body (no tag), checking that every byte was used.
pub fn decode_body<T: DeserializeOwned>(body: &[u8], name: &str) -> Result<T, DecodeError> {
    let (value, used) =
        bincode::serde::decode_from_slice::<T, _>(body, config()).map_err(|e| format!("{name}: {e}"))?;
    if used != body.len() {
        return Err(format!("{name}: {} trailing bytes", body.len() - used));
    }
    Ok(value)
}

impl<T: Tagged> ValueCodec for T {
    fn encode_value(&self) -> Vec<u8> {
        encode_tagged(self)
    }
    fn decode_value(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_tagged(bytes)
    }
}
