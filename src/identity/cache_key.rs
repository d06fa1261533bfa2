//! [`CacheKey`]: an identifier as the identity cache's key, held inline.
//!
//! A lookup by identifier probes the identity cache first. Keyed by
//! [`Identifier`] itself (two heap strings), every probe compares the
//! strings behind two pointers — two more cache misses on a large cache
//! than the probe itself. Identifiers of up to [`INLINE`] bytes
//! (`kind ‖ 0x00 ‖ value`, the identity key's layout: nearly every email,
//! user id and device id) are kept inside the key; longer ones on the heap.

use crate::identity::identifier::Identifier;

/// Bytes held inline (the key is 40 bytes, like a `Vec` and a length).
pub(crate) const INLINE: usize = 38;

/// `kind ‖ 0x00 ‖ value`, inline when it fits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum CacheKey {
    /// The bytes in `.1[..len]`, the rest zero.
    Inline(u8, [u8; INLINE]),
    /// Longer identifiers.
    Heap(Box<[u8]>),
}

impl CacheKey {
    /// The key of `id`.
    pub fn of(id: &Identifier) -> Self {
        let (kind, value) = (id.kind().as_bytes(), id.value().as_bytes());
        let len = kind.len() + 1 + value.len();
        if len > INLINE {
            return CacheKey::Heap(crate::keys::identifier(id).into_boxed_slice());
        }
        let mut bytes = [0u8; INLINE];
        bytes[..kind.len()].copy_from_slice(kind);
        // bytes[kind.len()] stays 0x00: the separator.
        bytes[kind.len() + 1..len].copy_from_slice(value);
        // INLINE < 256, so the length fits a byte.
        CacheKey::Inline(len as u8, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(kind: &str, value: &str) -> Identifier {
        Identifier::new(kind, value).unwrap()
    }

    #[test]
    fn equal_identifiers_have_equal_keys_and_different_ones_differ() {
        let short = [id("user_id", "u1"), id("user_id", "u10"), id("email", "u1@x.io"), id("device_id", "u1")];
        let long = [
            id("email", &format!("{}@example.com", "a".repeat(40))),
            id("email", &format!("{}@example.com", "b".repeat(40))),
        ];
        for (i, a) in short.iter().chain(&long).enumerate() {
            for (j, b) in short.iter().chain(&long).enumerate() {
                assert_eq!(CacheKey::of(a) == CacheKey::of(b), i == j, "{a} vs {b}");
            }
        }
        assert!(matches!(CacheKey::of(&short[0]), CacheKey::Inline(10, _)));
        assert!(matches!(CacheKey::of(&long[0]), CacheKey::Heap(_)));
    }

    #[test]
    fn the_inline_bytes_are_the_identity_key() {
        // Kind and value split differently must not collide: `ab:c` vs `a:bc`.
        let (a, b) = (id("ab", "c"), id("a", "bc"));
        assert_ne!(CacheKey::of(&a), CacheKey::of(&b));
        let edge = id("k", &"v".repeat(INLINE - 2));
        match CacheKey::of(&edge) {
            CacheKey::Inline(len, bytes) => assert_eq!(&bytes[..len as usize], &crate::keys::identifier(&edge)[..]),
            CacheKey::Heap(_) => panic!("{INLINE} bytes fit inline"),
        }
        assert!(matches!(CacheKey::of(&id("k", &"v".repeat(INLINE - 1))), CacheKey::Heap(_)));
    }
}
