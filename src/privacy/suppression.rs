//! Suppression: erased identifiers are remembered only as keyed hashes
//! (xxh3-128 with a per-database secret, or the key the application holds:
//! [`key`](crate::privacy::key)), so later events carrying them can be
//! refused without the identifier itself being stored.

use crate::identity::identifier::Identifier;

/// Length of the per-database secret (xxh3 needs at least 136 bytes).
pub const SECRET_BYTES: usize = 192;

/// A fresh random secret, read from the operating system's randomness
/// (`getrandom`: `getrandom(2)` on Linux). Fails only where the system has
/// no randomness to give.
pub(crate) fn new_secret() -> crate::Result<Vec<u8>> {
    let mut out = vec![0u8; SECRET_BYTES];
    getrandom::fill(&mut out).map_err(|e| crate::Error::Io {
        path: "the operating system's random source (getrandom)".into(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(out)
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
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        let x = Identifier::new("email", "a@x.com").unwrap();
        let y = Identifier::new("email", "b@x.com").unwrap();
        assert_eq!(keyed_hash(&a, &x), keyed_hash(&a, &x));
        assert_ne!(keyed_hash(&a, &x), keyed_hash(&b, &x));
        assert_ne!(keyed_hash(&a, &x), keyed_hash(&a, &y));
    }
}
