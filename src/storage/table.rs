//! [`Cf`]: a column family whose values have one type.

use std::marker::PhantomData;

use super::view::corrupt;
use super::{Batch, View};
use crate::codec::ValueCodec;
use crate::error::Result;

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

    /// Decodes a value read from this column family at `key`.
    pub fn decode(&self, key: &[u8], bytes: &[u8]) -> Result<V> {
        V::decode_value(bytes).map_err(|reason| corrupt(self.name, "value", key, reason))
    }

    /// Encodes `value` into `batch` at `key`.
    pub fn put(&self, batch: &mut Batch, key: impl AsRef<[u8]>, value: &V) {
        batch.put(self.name, key, value.encode_value());
    }

    /// Deletes `key` in `batch`.
    pub fn delete(&self, batch: &mut Batch, key: impl AsRef<[u8]>) {
        batch.delete(self.name, key);
    }
}
