//! The retention settings stored in the database (format 11): how long
//! timelines and day buckets are kept is a property of the data, not of
//! the process that opens it — an admin's `profiledb tick` must not trim a
//! timeline the application keeps for longer.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::schema;
use crate::storage::Store;

/// The timeline retention of a database that never recorded one.
pub const DEFAULT_TIMELINE_MS: i64 = 365 * Timestamp::DAY;
/// The bucket retention of a database that never recorded one (forever).
pub const DEFAULT_BUCKET_MS: i64 = 0;

/// Retention settings in milliseconds (0: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long events stay in timelines (0: no timelines).
    pub timeline_ms: i64,
    /// How long day buckets are kept (0: forever).
    pub bucket_ms: i64,
}

/// The settings an open uses: those it was given, else those the database
/// recorded, else the defaults.
pub(crate) fn resolve(store: &Store, timeline: Option<i64>, bucket: Option<i64>) -> Result<Settings> {
    let (stored_t, stored_b) = stored(store)?;
    // Stored values were checked non-negative when recorded; a value past
    // i64::MAX (damage) reads as the longest retention.
    let read = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    Ok(Settings {
        timeline_ms: timeline.or(read(stored_t)).unwrap_or(DEFAULT_TIMELINE_MS),
        bucket_ms: bucket.or(read(stored_b)).unwrap_or(DEFAULT_BUCKET_MS),
    })
}

/// The recorded settings (`None`: never recorded).
fn stored(store: &Store) -> Result<(Option<u64>, Option<u64>)> {
    let view = store.latest();
    Ok((
        schema::META_U64.get(&view, keys::meta::TIMELINE_RETENTION)?,
        schema::META_U64.get(&view, keys::meta::BUCKET_RETENTION)?,
    ))
}

/// Records the settings a writable open applies, where they differ from
/// the stored ones (nothing is written otherwise, nor by a read-only
/// handle). Called once the open is known to succeed: a refused open
/// records nothing.
pub(crate) fn record(store: &Store, config: &crate::db::config::Config) -> Result<()> {
    if store.is_read_only() {
        return Ok(());
    }
    let (stored_t, stored_b) = stored(store)?;
    let mut b = store.batch();
    let mut changed = false;
    for (key, stored, value) in [
        (keys::meta::TIMELINE_RETENTION, stored_t, config.timeline_retention_ms),
        (keys::meta::BUCKET_RETENTION, stored_b, config.bucket_retention_ms),
    ] {
        // Checked non-negative by the builder; the defaults are too.
        let value = value.max(0) as u64;
        if stored != Some(value) {
            schema::META_U64.put(&mut b, key, &value);
            changed = true;
        }
    }
    if changed {
        store.commit(b)?;
    }
    Ok(())
}
