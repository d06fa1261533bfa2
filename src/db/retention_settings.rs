//! The retention settings stored in the database (format 11): how long
//! timelines and day buckets are kept is a property of the data, not of
//! the process that opens it — an admin's `profiledb tick` must not trim a
//! timeline the application keeps for longer. The change-feed and
//! membership-history retentions (recorded since 2026-12-07, no format
//! change: older builds never read them) are stored the same way.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::schema;
use crate::storage::Store;

/// The timeline retention of a database that never recorded one.
pub const DEFAULT_TIMELINE_MS: i64 = 365 * Timestamp::DAY;
/// The bucket retention of a database that never recorded one (forever).
pub const DEFAULT_BUCKET_MS: i64 = 0;
/// The change-feed retention of a database that never recorded one: a
/// consumer may be away this long and still resume from its cursor.
pub const DEFAULT_FEED_MS: i64 = 30 * Timestamp::DAY;
/// The membership-history retention of a database that never recorded
/// one: `was_member` answers for the last year.
pub const DEFAULT_MEMBERSHIP_MS: i64 = 365 * Timestamp::DAY;

/// Retention settings in milliseconds (0: off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Settings {
    /// How long events stay in timelines (0: no timelines).
    pub timeline_ms: i64,
    /// How long day buckets are kept (0: forever).
    pub bucket_ms: i64,
    /// How long change-feed records are kept (0: forever).
    pub feed_ms: i64,
    /// How long membership history is kept (0: forever).
    pub membership_ms: i64,
}

impl Settings {
    /// Settings with these values.
    pub fn new(timeline_ms: i64, bucket_ms: i64, feed_ms: i64, membership_ms: i64) -> Settings {
        Settings { timeline_ms, bucket_ms, feed_ms, membership_ms }
    }
}

/// The settings an open was given (`None`: the recorded one).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Given {
    pub timeline: Option<i64>,
    pub bucket: Option<i64>,
    pub feed: Option<i64>,
    pub membership: Option<i64>,
}

/// The meta keys of the settings, in [`Settings`] order.
const KEYS: [&[u8]; 4] = [
    keys::meta::TIMELINE_RETENTION,
    keys::meta::BUCKET_RETENTION,
    keys::meta::FEED_RETENTION,
    keys::meta::MEMBERSHIP_RETENTION,
];

/// The settings an open uses: those it was given, else those the database
/// recorded, else the defaults.
pub(crate) fn resolve(store: &Store, given: Given) -> Result<Settings> {
    let stored = stored(store)?;
    // Stored values were checked non-negative when recorded; a value past
    // i64::MAX (damage) reads as the longest retention.
    let read = |v: Option<u64>| v.map(|v| i64::try_from(v).unwrap_or(i64::MAX));
    Ok(Settings {
        timeline_ms: given.timeline.or(read(stored[0])).unwrap_or(DEFAULT_TIMELINE_MS),
        bucket_ms: given.bucket.or(read(stored[1])).unwrap_or(DEFAULT_BUCKET_MS),
        feed_ms: given.feed.or(read(stored[2])).unwrap_or(DEFAULT_FEED_MS),
        membership_ms: given.membership.or(read(stored[3])).unwrap_or(DEFAULT_MEMBERSHIP_MS),
    })
}

/// The recorded settings (`None`: never recorded), in [`KEYS`] order.
fn stored(store: &Store) -> Result<[Option<u64>; 4]> {
    let view = store.latest();
    let mut out = [None; 4];
    for (slot, key) in out.iter_mut().zip(KEYS) {
        *slot = schema::META_U64.get(&view, key)?;
    }
    Ok(out)
}

/// Records the settings a writable open applies, where they differ from
/// the stored ones (nothing is written otherwise, nor by a read-only
/// handle). Called once the open is known to succeed: a refused open
/// records nothing.
pub(crate) fn record(store: &Store, config: &crate::db::config::Config) -> Result<()> {
    if store.is_read_only() {
        return Ok(());
    }
    let stored = stored(store)?;
    let values = [
        config.timeline_retention_ms,
        config.bucket_retention_ms,
        config.feed_retention_ms,
        config.membership_retention_ms,
    ];
    let mut b = store.batch();
    let mut changed = false;
    for ((key, stored), value) in KEYS.into_iter().zip(stored).zip(values) {
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
