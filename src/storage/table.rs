//! [`Cf`]: a column family whose values have one type.

use std::marker::PhantomData;

use super::view::corrupt;
use super::{Batch, View};
use crate::codec::ValueCodec;
use crate::error::Result;

/// Values larger than this are decoded once before they are written: the
/// decoder refuses bodies that claim more than
/// [`DECODE_LIMIT`](crate::codec::tagged::DECODE_LIMIT) bytes (a guard against
/// corrupt length prefixes), and a value it would refuse must never be
/// stored — every read of it would fail. Each write's own limits (string
/// and list sizes, traits per profile, operators per update) do not bound
/// the sum: a profile whose many large traits add up past the limit is
/// refused at the write that would cross it.
const CHECKED_ABOVE: usize = 1 << 20;

/// A column family whose values are all `V`: reads decode and check the
/// format tag, writes encode. Keys are bytes built by the `keys` module.
pub(crate) struct Cf<V> {
    /// The column family's name.
    pub name: &'static str,
    _value: PhantomData<fn() -> V>,
}

impl<V> Clone for Cf<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Cf<V> {}

impl<V: ValueCodec> Cf<V> {
    /// The column family `name` holding `V`s.
    pub const fn new(name: &'static str) -> Self {
        Cf { name, _value: PhantomData }
    }

    /// Reads and decodes the value at `key`.
    pub fn get(&self, view: &View<'_>, key: &[u8]) -> Result<Option<V>> {
        match view.get(self.name, key)? {
            Some(bytes) => self.decode(key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The values at `keys`, decoded, in their order (see
    /// [`View::multi_get`]).
    pub fn multi_get(&self, view: &View<'_>, keys: &[&[u8]]) -> Result<Vec<Option<V>>> {
        let got = view.multi_get(self.name, keys)?;
        keys.iter().zip(got).map(|(key, bytes)| bytes.map(|b| self.decode(key, &b)).transpose()).collect()
    }

    /// Decodes a value read from this column family at `key`.
    pub fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<V> {
        V::decode_value(bytes).map_err(|reason| corrupt(self.name, "value", key, reason))
    }

    /// Encodes `value` into `batch` at `key`. A value too large to be
    /// read back (see [`CHECKED_ABOVE`]) is not written: the batch fails
    /// to commit with an error saying so, and nothing of it is written.
    pub fn put(&self, batch: &mut Batch, key: impl AsRef<[u8]>, value: &V) {
        let bytes = value.encode_value();
        if bytes.len() > CHECKED_ABOVE {
            if let Err(reason) = V::decode_value(&bytes) {
                batch.refuse(crate::error::Error::invalid(format!(
                    "the value at key {} of {} would be {} bytes and could not be read back ({reason}); the write \
                     is refused — a profile, its deltas and events must stay well under {} MiB",
                    crate::error::hex_prefix(key.as_ref()),
                    self.name,
                    bytes.len(),
                    crate::codec::tagged::DECODE_LIMIT >> 20
                )));
                return;
            }
        }
        batch.put(self.name, key, bytes);
    }

    /// Deletes `key` in `batch`.
    pub fn delete(&self, batch: &mut Batch, key: impl AsRef<[u8]>) {
        batch.delete(self.name, key);
    }
}
