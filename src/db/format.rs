//! The on-disk format version: recorded at creation, checked at open.

use std::path::Path;

use crate::error::{Error, Result};
use crate::keys;
use crate::schema;
use crate::storage::Store;

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 1;
/// The oldest format version this build opens.
pub const OLDEST_SUPPORTED_FORMAT_VERSION: u32 = 1;

/// Checks the database's format version, recording it on a new database.
pub(crate) fn check_or_init(store: &Store, path: &Path) -> Result<()> {
    let found = schema::META_U32.get(&store.latest(), keys::meta::FORMAT_VERSION)?;
    match found {
        Some(v) if (OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION).contains(&v) => Ok(()),
        Some(v) => Err(Error::UnsupportedFormat {
            path: path.to_owned(),
            found: v,
            oldest_supported: OLDEST_SUPPORTED_FORMAT_VERSION,
            current: FORMAT_VERSION,
        }),
        None if store.is_read_only() => Err(Error::NotADatabase(path.to_owned())),
        None => {
            let mut b = store.batch();
            schema::META_U32.put(&mut b, keys::meta::FORMAT_VERSION, &FORMAT_VERSION);
            store.commit(b)
        }
    }
}
