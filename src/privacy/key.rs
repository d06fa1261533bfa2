//! The suppression key held by the application ([`Builder::secret_key`]):
//! the secret of suppression and anonymization hashes kept outside the
//! database, so a copy or backup of the directory does not carry it.
//!
//! Such a database stores only a check value (`meta/suppression_key_check`,
//! format 13): 16 bytes that tell a wrong or missing key from the right one
//! at open, before anything is written. It never stores the secret itself.
//!
//! [`Builder::secret_key`]: crate::Builder::secret_key

use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::keys;
use crate::privacy::suppression::{SECRET_BYTES, SECRET_KEY, SUPPRESSED_PREFIX};
use crate::storage::{Store, View};

/// The `meta` key of the check value of a key held outside the database
/// (16 raw bytes, no tag: see storage-format).
pub(crate) const CHECK_KEY: &[u8] = b"suppression_key_check";

/// What the check value hashes before the key: fixed, so the value depends
/// on the key alone.
const CHECK_LABEL: &[u8] = b"profiledb suppression key check v1\x00";

/// A suppression key given to [`Builder::secret_key`](crate::Builder::secret_key).
/// Its `Debug` never shows the key.
#[derive(Clone)]
pub(crate) struct HeldKey(pub(crate) Arc<Vec<u8>>);

impl std::fmt::Debug for HeldKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HeldKey({} bytes, not shown)", self.0.len())
    }
}

/// A new random suppression key of 192 bytes, from the
/// operating system's randomness, for
/// [`Builder::secret_key`](crate::Builder::secret_key). Keep it where
/// copies and backups of the database directory do not go.
pub fn new_secret_key() -> Result<Vec<u8>> {
    crate::privacy::suppression::new_secret()
}

/// The check value of `key`: xxh3-128 of a fixed label followed by the
/// key. The key is hashed as input, not used as the xxh3 secret: a short
/// input reads only the first bytes of a secret, while every input byte
/// counts, so a key wrong in any byte is refused.
pub(crate) fn check_value(key: &[u8]) -> Vec<u8> {
    let mut input = CHECK_LABEL.to_vec();
    input.extend_from_slice(key);
    xxhash_rust::xxh3::xxh3_128(&input).to_be_bytes().to_vec()
}

/// At open, before anything is written: refuses a key of the wrong length,
/// a wrong key, a missing key (the database holds a check value), and a
/// key given to a database that stores its own secret.
pub(crate) fn check_at_open(store: &Store, path: &Path, held: Option<&HeldKey>) -> Result<()> {
    let view = store.latest();
    let err = |detail: String| Error::SecretKey { path: path.to_owned(), detail };
    let stored_check = view.get(keys::cf::META, CHECK_KEY)?;
    match (held, stored_check) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(err(
            "the database's suppression key is held outside it, and this open gave none (Builder::secret_key; \
             the CLI's --key-file or PROFILEDB_KEY_FILE)"
                .to_owned(),
        )),
        (Some(key), _) if key.0.len() != SECRET_BYTES => Err(err(format!(
            "the key given is {} bytes long; a suppression key is exactly {SECRET_BYTES} bytes (e.g. `head -c \
             {SECRET_BYTES} /dev/urandom > KEYFILE`, or profiledb::privacy::new_secret_key)",
            key.0.len()
        ))),
        (Some(key), Some(check)) if check != check_value(&key.0) => {
            Err(err("the key given is not this database's suppression key".to_owned()))
        }
        (Some(_), Some(_)) => Ok(()),
        (Some(_), None) if view.get(keys::cf::META, SECRET_KEY)?.is_some() => {
            Err(err("a key was given, but this database stores its own suppression secret (it was created without a \
             key, and something was erased or anonymized since): open it without a key"
                .to_owned()))
        }
        (Some(_), None) => Ok(()),
    }
}

/// After the format check of a writable open with a held key: records the
/// key's check value if the database has none yet (a new database, or one
/// that never had a secret). Called only once [`check_at_open`] passed.
pub(crate) fn record_check(store: &Store, held: &HeldKey) -> Result<()> {
    if store.latest().get(keys::cf::META, CHECK_KEY)?.is_some() {
        return Ok(());
    }
    let mut b = store.batch();
    b.put(keys::cf::META, CHECK_KEY, check_value(&held.0));
    store.commit(b)
}

/// The secret writes must check suppression with: the held key once
/// something was suppressed under it (a suppression entry exists), else
/// the stored secret, if any (`None`: nothing was erased or anonymized,
/// writes skip the check).
pub(crate) fn active_secret(view: &View<'_>, held: Option<&HeldKey>) -> Result<Option<Arc<Vec<u8>>>> {
    match held {
        Some(key) => {
            let mut suppressed = view.prefix(crate::schema::AUDIT.name, &[SUPPRESSED_PREFIX])?;
            Ok(suppressed.next().transpose()?.map(|_| key.0.clone()))
        }
        None => Ok(crate::privacy::suppression::load_secret(view)?.map(Arc::new)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_value_depends_on_every_byte_of_the_key() {
        let key = vec![7u8; SECRET_BYTES];
        let mut last = key.clone();
        last[SECRET_BYTES - 1] ^= 1;
        assert_ne!(check_value(&key), check_value(&last));
        // Pinned: a change would refuse every key held outside a format 13
        // database.
        let pinned: String = check_value(&[0u8; SECRET_BYTES]).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(pinned, "af85f989e57463bc3edfd0f7f585422b");
        let debug = format!("{:?}", HeldKey(Arc::new(key)));
        assert!(!debug.contains("[7, 7") && debug.contains("not shown"), "{debug}");
    }
}
