//! Suppression: erased identifiers are remembered only as keyed hashes
//! (xxh3-128 with a per-database secret), so later events carrying them
//! can be refused without the identifier itself being stored.

use std::hash::BuildHasher;

use crate::identity::identifier::Identifier;

/// Length of the per-database secret (xxh3 needs at least 136 bytes).
pub const SECRET_BYTES: usize = 192;

/// A fresh random secret, from the operating system's randomness (via the
/// standard library's randomly keyed hasher).
pub(crate) fn new_secret() -> Vec<u8> {
    let mut out = Vec::with_capacity(SECRET_BYTES);
    let mut i = 0u64;
    while out.len() < SECRET_BYTES {
        let v = std::collections::hash_map::RandomState::new().hash_one(i);
        out.extend_from_slice(&v.to_le_bytes());
        i += 1;
    }
    out.truncate(SECRET_BYTES);
    out
}

/// The `meta` key of the secret (raw bytes, no tag: see storage-format).
pub(crate) const SECRET_KEY: &[u8] = b"suppression_secret";
/// The `audit` key prefix of suppression entries (audit records use 0x01).
pub(crate) const SUPPRESSED_PREFIX: u8 = 0x02;

/// The stored secret, if one was ever created.
pub(crate) fn load_secret(view: &crate::storage::View<'_>) -> crate::Result<Option<Vec<u8>>> {
    view.get(crate::keys::cf::META, SECRET_KEY)
}

/// The `audit` key that marks `id` as suppressed: `0x02 ‖ keyed hash`.
pub(crate) fn suppressed_key(secret: &[u8], id: &Identifier) -> Vec<u8> {
    let mut k = vec![SUPPRESSED_PREFIX];
    k.extend_from_slice(&keyed_hash(secret, id));
    k
}

/// The keyed hash of an anonymized value, as text: `h:` and 32 hex digits.
/// The input is prefixed with the byte `0x01`, so it never equals the input
/// of an identifier's suppression hash (an identifier key starts with a
/// lowercase letter).
pub(crate) fn hash_text(secret: &[u8], value: &str) -> String {
    let mut input = vec![0x01];
    input.extend_from_slice(value.as_bytes());
    format!("h:{:032x}", xxhash_rust::xxh3::xxh3_128_with_secret(&input, secret))
}

/// The keyed hash of an identifier.
pub(crate) fn keyed_hash(secret: &[u8], id: &Identifier) -> [u8; 16] {
    let key = crate::keys::identifier(id);
    xxhash_rust::xxh3::xxh3_128_with_secret(&key, secret).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_depend_on_the_secret_and_the_identifier() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        let x = Identifier::new("email", "a@x.com").unwrap();
        let y = Identifier::new("email", "b@x.com").unwrap();
        assert_eq!(keyed_hash(&a, &x), keyed_hash(&a, &x));
        assert_ne!(keyed_hash(&a, &x), keyed_hash(&b, &x));
        assert_ne!(keyed_hash(&a, &x), keyed_hash(&a, &y));
    }
}
