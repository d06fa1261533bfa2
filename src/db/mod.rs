//! [`ProfileDb`]: the handle applications hold.

mod admin;
mod anonymize;
mod as_of;
mod as_of_seek;
mod backup;
mod batch_report;
pub(crate) mod builder;
pub(crate) mod cache;
mod check;
mod clock_guard;
pub(crate) mod config;
mod consent;
mod dedup;
pub(crate) mod definitions;
pub(crate) mod dense_cache;
mod due_profiles;
mod erase_many;
mod erase_phases;
mod erase_refs;
mod erase_rollups;
mod erase_scope;
mod erase_values;
mod event_names;
pub(crate) mod events_read;
mod failure;
mod feed_retention;
pub(crate) mod format;
mod format_nfc;
mod full;
mod identity_ops;
mod ingest;
mod merged_logs;
pub(crate) mod prefetch;
mod privacy;
pub(crate) mod profile_slots;
mod purge;
mod read;
mod retention;
pub(crate) mod retention_settings;
pub(crate) mod rollup_build;
mod rollup_reads;
mod segments;
/// The merge operator of a column family of bitmap chunks.
fn chunk_merge(cf: &'static str) -> MergeOperator {
    use crate::segment::bitmap_codec::{combine_chunk_deltas, merge_chunks};
    // Chunks are read only at open and by `check`: their operands are left
    // for flush and compaction to fold, never folded on the write path
    // (which would read and rewrite the whole chunk every few writes).
    MergeOperator {
        cf,
        name: "profiledb.chunk.v1",
        full: merge_chunks,
        partial: combine_chunk_deltas,
        max_successive: 0,
    }
}

#[cfg(test)]
mod tests_as_of_seek;
#[cfg(test)]
mod tests_backfill;
#[cfg(test)]
mod tests_buckets;
#[cfg(test)]
mod tests_chunks;
#[cfg(test)]
mod tests_event_seq;
#[cfg(test)]
mod tests_events_read;
#[cfg(test)]
mod tests_identifiers;
#[cfg(test)]
mod tests_index_race;
#[cfg(test)]
mod tests_kinds;
#[cfg(test)]
mod tests_nfc_upgrade;
#[cfg(test)]
mod tests_purge;
#[cfg(test)]
mod tests_resolved_ahead;
#[cfg(test)]
mod tests_rollup_backfill;
#[cfg(test)]
mod tests_rollups_of;
#[cfg(test)]
mod tests_tick_retention;
#[cfg(test)]
mod tests_wakeups;
pub(crate) mod tick;
mod ticker;
mod trait_index;
mod window_limits;
pub use write::RetentionReport;
mod write;

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

pub use admin::{CfSize, RawEntry};
pub use anonymize::AnonymizeReport;
pub use builder::{AccessMode, Builder, Durability, WalRecovery};
pub use check::{CheckReport, Violation};
pub use consent::{ConsentCheck, ConsentInfo, SegmentExport};
pub use erase_many::{EraseManyReport, EraseOutcome, MAX_ERASE_MANY};
pub use event_names::EventRef;
pub use failure::ProfileFailure;
pub use full::ProfileView;
pub use ingest::{BatchReport, EventOutcome, IngestOutcome};
pub use privacy::EraseReport;
pub(crate) use purge::PurgeState;
pub use purge::PURGE_READ_WAIT;
pub use read::IdentifierInfo;
pub use retention::RetentionPass;
pub use segments::{FeedReceiver, SegmentInfo, SegmentMismatch, TickReport};
pub use tick::DueWakeups;
pub use ticker::{TickErrorHook, TickerStatus};
pub use trait_index::{IndexMismatch, TraitIndexInfo, LIVE_SET};
pub use write::WriteReceipt;

use crate::core::{Core, WriterState};
use crate::db::cache::Cache;
use crate::error::Result;
use crate::keys;
use crate::schema;
use crate::storage::{MergeOperator, Store, StoreOptions};

/// An open profile database. Cheap to clone (an `Arc`), `Send + Sync`:
/// share one handle across threads. Dropping the last handle closes it:
/// the store closes before the drop returns (the directory can be opened
/// again at once), and the caches' memory is freed on a thread of its own.
///
/// ```
/// use profiledb::{Identifier, ProfileDb, TraitValue, Update};
/// let dir = tempfile::tempdir()?;
/// let db = ProfileDb::open(dir.path())?;
/// let ann: Identifier = "email:ann@example.com".parse()?;
/// db.update(&ann, Update::new().set("plan", "pro").increment("logins", 1))?;
/// let profile = db.get(&ann)?.expect("just written");
/// assert_eq!(profile.traits.get("plan"), Some(&TraitValue::from("pro")));
/// assert_eq!(profile.version, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ProfileDb {
    /// The background tick thread, if any (declared first: dropped, and
    /// so joined, before the last reference to `core` goes).
    ticker: Option<Arc<ticker::Ticker>>,
    core: Arc<Core>,
}

impl std::fmt::Debug for ProfileDb {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProfileDb").field("path", &self.core.store.path()).finish()
    }
}

impl ProfileDb {
    /// Opens (creating if missing) the database at `path` with default
    /// options ([`builder`](Self::builder) sets others). One writable
    /// handle per database: clone it to share it between threads.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// drop(db);
    /// let db = ProfileDb::open(dir.path())?; // the data survives a reopen
    /// assert_eq!(db.get(&ann)?.expect("ann has a profile").traits.get("plan"), Some(&"pro".into()));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<ProfileDb> {
        Builder::new(path.as_ref()).open()
    }

    /// Options for opening the database at `path`.
    pub fn builder(path: impl AsRef<Path>) -> Builder {
        Builder::new(path.as_ref())
    }

    pub(crate) fn open_with(b: Builder) -> Result<ProfileDb> {
        let secondary_dir = match b.mode {
            AccessMode::Secondary => Some(std::env::temp_dir().join(format!(
                "profiledb-secondary-{}-{}",
                std::process::id(),
                SECONDARY_SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            ))),
            _ => None,
        };
        let dedup_cutoff =
            Arc::new(std::sync::atomic::AtomicI64::new(b.clock.now().0.saturating_sub(b.dedup_horizon_ms)));
        let opts = StoreOptions {
            create_if_missing: b.create_if_missing,
            sync: b.durability == Durability::Sync,
            block_cache_bytes: b.block_cache_bytes,
            write_buffer_bytes: b.write_buffer_bytes,
            read_only: b.mode == AccessMode::ReadOnly,
            secondary_dir,
            salvage_wal: b.wal_recovery == WalRecovery::Salvage,
            column_families: keys::cf::ALL,
            merge_operators: vec![
                MergeOperator {
                    cf: keys::cf::ROLLUP,
                    name: "profiledb.rollup.v1",
                    full: crate::rollup::store::merge_accumulators,
                    partial: crate::rollup::store::merge_accumulators,
                    // Reading a busy day's bucket never folds a long
                    // operand chain: eight are folded in the memtable.
                    max_successive: 8,
                },
                chunk_merge(keys::cf::SEGMENT),
                chunk_merge(keys::cf::TRAIT_INDEX),
            ],
            prefixes: vec![
                (keys::cf::ROLLUP, keys::rollup::SCAN_PREFIX),
                (keys::cf::EVENT, keys::EVENT_SCAN_PREFIX),
                (keys::cf::PROFILE_IDENTIFIERS, keys::PROFILE_IDENTIFIERS_SCAN_PREFIX),
                (keys::cf::DELTA, keys::DELTA_SCAN_PREFIX),
            ],
            // The families every write or event writes at random profiles.
            hashed_memtables: vec![
                keys::cf::IDENTITY,
                keys::cf::PROFILE_IDENTIFIERS,
                keys::cf::PROFILE,
                keys::cf::DELTA,
                keys::cf::ROLLUP,
                keys::cf::EVENT,
            ],
            // Random keys, ordered scans (the wake-up queue by time, the
            // membership history, dedup retention): skiplists kept small.
            // `dedup`'s are half-size: its size-tiered compaction merges
            // runs of about the size of its flushes upwards, so larger
            // flushes mean fewer rewrites of each id (at 400k profiles,
            // an eighth → a half: its compaction CPU 28.8 → 14.9 s, the
            // writer's CPU per batched event unchanged; BENCHMARKS.md,
            // thirtieth session).
            small_memtables: vec![(keys::cf::WAKEUP, 8), (keys::cf::MEMBERSHIP, 8), (keys::cf::DEDUP, 2)],
            // Written by every event at random profiles, read through the
            // rollup and wake-up caches (or rarely: timelines, history).
            lazy_level0: vec![keys::cf::ROLLUP, keys::cf::EVENT, keys::cf::WAKEUP, keys::cf::MEMBERSHIP],
            // The two that write the most: their level-0 compactions
            // rewrite a base level of hundreds of megabytes (at 1M
            // profiles) for what level 0 gathered.
            merged_flushes: vec![keys::cf::ROLLUP, keys::cf::EVENT],
            // Every event with a message id looks it up, and it is almost
            // never there: each level's probe is a filter in memory, not a
            // block-cache lookup of a filter partition (at 200k profiles,
            // the writer's CPU per batched event 14.5 → 10.9 µs;
            // BENCHMARKS.md, twenty-ninth session).
            memory_filters: vec![keys::cf::DEDUP],
            // Message ids past the dedup horizon: no duplicate check reads
            // them, and without expiry the family grew by one per event
            // forever (and an erase scans all of it).
            expiring: vec![crate::storage::Expiring {
                cf: keys::cf::DEDUP,
                name: "profiledb.dedup.expiry.v1",
                cutoff: dedup_cutoff.clone(),
                time_of: schema::dedup_first_seen,
            }],
            // The `meta` counters, which only grow: a secondary's catch-up
            // that moved one back lost writes, and is retried.
            // Random message ids, each written once and looked up mostly
            // absent: by levels, every level-0 compaction rewrote the
            // whole family below it (at 200k profiles, 42.9 s of the
            // run's 56 s of compaction); size-tiered, 16.9 s
            // (BENCHMARKS.md, thirtieth session).
            universal: vec![keys::cf::DEDUP],
            counters: Some(crate::storage::Counters {
                cf: keys::cf::META,
                keys: &[
                    keys::meta::NEXT_PROFILE_ID,
                    keys::meta::NEXT_EVENT_SEQ,
                    keys::meta::NEXT_FEED_SEQ,
                    keys::meta::NEXT_AUDIT_SEQ,
                    keys::meta::NEXT_SEGMENT_ID,
                ],
            }),
            // Written rarely: a secondary's point lookup could return a
            // superseded value (see `View::get`): counters, floors and
            // definitions are read by seeks.
            seek_on_secondary: vec![keys::cf::META, keys::cf::SEGMENT_DEF, keys::cf::ROLLUP_DEF],
            compression: b.compression,
            info_log_bytes: crate::storage::INFO_LOG_BYTES,
        };
        let store = Store::open(&b.path, &opts)?;
        // Before the format check, which may upgrade: a wrong or missing
        // key writes nothing.
        crate::privacy::key::check_at_open(&store, &b.path, b.secret_key.as_ref())?;
        format::check_or_init(&store, &b.path)?;
        if let (Some(key), AccessMode::ReadWrite) = (&b.secret_key, b.mode) {
            crate::privacy::key::record_check(&store, key)?;
        }
        let next_profile_id = schema::META_U32.get(&store.latest(), keys::meta::NEXT_PROFILE_ID)?.unwrap_or(0);
        let next_event_seq = schema::META_U64.get(&store.latest(), keys::meta::NEXT_EVENT_SEQ)?.unwrap_or(0);
        let registry = crate::rollup::registry::Registry::load(&store.latest())?;
        let next_feed_seq = schema::META_U64.get(&store.latest(), keys::meta::NEXT_FEED_SEQ)?.unwrap_or(0);
        // Only a writable open finishes an interrupted backfill (below).
        let segments = crate::segment::state::SegmentState::load(&store.latest(), b.mode != AccessMode::ReadWrite)?;
        let config = b.config(retention_settings::resolve(
            &store,
            retention_settings::Given {
                timeline: b.timeline_retention_ms,
                bucket: b.bucket_retention_ms,
                feed: b.feed_retention_ms,
                membership: b.membership_retention_ms,
            },
        )?);
        // A writable handle would keep such segments wrong; a read-only one
        // reads their stored members (and refuses event conditions in queries).
        let writable = b.mode == AccessMode::ReadWrite;
        for s in segments.segments.iter().filter(|_| writable) {
            if let Some(events) = segments::events_without_timelines(&config, &s.deps) {
                return Err(crate::Error::invalid(format!(
                    "segment {:?} {events}: open the database with a timeline retention (and drop or redefine \
                     the segment if timelines are to stay off)",
                    s.def.name
                )));
            }
            // Defined under a longer timeline retention: its evaluations would
            // fail (rather than answer wrongly) on writes that reach back.
            if let Some(why) = window_limits::window_beyond_timeline(&config, &s.def.expr) {
                return Err(crate::Error::invalid(format!(
                    "segment {:?}: {why} — open the database with a retention at least that long to drop or \
                     redefine the segment",
                    s.def.name
                )));
            }
        }
        if writable {
            unknown_segment_purposes(&config, &segments)?;
        }
        // Recorded once the open is known to succeed with them.
        retention_settings::record(&store, &config)?;
        let secret = crate::privacy::key::active_secret(&store.latest(), b.secret_key.as_ref())?;
        let retention = crate::rollup::retention::Floors::load(&store.latest())?;
        // The clock at open counts as seen (in memory): the guard holds a
        // retention step after a jump while the handle is open, and a
        // database closed longer than `max_clock_jump` follows the clock
        // it is reopened with (see `clock_guard`).
        retention.clock_seed.store(b.clock.now().0, std::sync::atomic::Ordering::Release);
        let core = Core {
            config,
            clock: b.clock.clone(),
            profiles: dense_cache::DenseCache::new(b.profile_cache_entries),
            identities: Cache::new(b.identity_cache_entries.unwrap_or(b.profile_cache_entries)),
            rollup_cache: crate::rollup::cache::RollupCache::new(b.rollup_cache_entries),
            commits: crate::commit_epoch::CommitEpoch::default(),
            wakeups: crate::segment::wakeups::WakeupCache::new(b.wakeup_cache_entries),
            writer: Mutex::new(WriterState {
                next_profile_id,
                next_event_seq,
                event_seq_reserved: next_event_seq,
                next_feed_seq,
                index_touched: None,
            }),
            rollups: parking_lot::RwLock::new(registry),
            segments: parking_lot::RwLock::new(segments),
            retention,
            definitions: definitions::Definitions::default(),
            subscribers: Mutex::new(Vec::new()),
            suppression_secret: parking_lot::RwLock::new(secret),
            purge: PurgeState::default(),
            held_key: parking_lot::RwLock::new(b.secret_key.clone()),
            dedup_cutoff,
            store,
        };
        let core = Arc::new(core);
        let ticker = match b.tick_interval {
            Some(every) => Some(Arc::new(ticker::Ticker::start(Arc::downgrade(&core), every, b.on_tick_error)?)),
            None => None,
        };
        let db = ProfileDb { ticker, core };
        if b.mode == AccessMode::ReadWrite {
            // A crash may have cut a rollup's or a segment definition's
            // backfill short, or the compaction that follows an erase.
            db.resume_rollup_backfill()?;
            db.resume_backfill()?;
            db.resume_purge()?;
        }
        Ok(db)
    }

    /// The database directory.
    pub fn path(&self) -> &Path {
        self.core.store.path()
    }

    /// The format version this build writes.
    pub fn format_version() -> u32 {
        format::FORMAT_VERSION
    }

    /// The database clock's "now".
    pub fn now(&self) -> crate::clock::Timestamp {
        self.core.clock.now()
    }

    /// The bounds incoming events are checked against: the default
    /// [`EventLimits`](crate::event::EventLimits) with the clock's now and
    /// the database's [`max_future_skew`](Builder::max_future_skew) and
    /// [`epoch_unit`](Builder::epoch_unit) — what
    /// to hand [`parse_line`](crate::event::parse_line) for events bound
    /// for this database.
    pub fn event_limits(&self) -> crate::event::EventLimits {
        crate::event::EventLimits {
            max_future_skew_ms: self.core.config.max_future_skew_ms,
            epoch_unit: self.core.config.epoch_unit,
            ..crate::event::EventLimits::new(self.now())
        }
    }

    /// The identity rules this database stitches by (the builder's
    /// [`identity_rules`](Builder::identity_rules), else the defaults):
    /// [`IdentityRules::check_identifiers`](crate::IdentityRules::check_identifiers)
    /// tells whether an operation's identifiers would be refused outright,
    /// before writing anything.
    pub fn identity_rules(&self) -> &crate::IdentityRules {
        &self.core.config.identity_rules
    }

    /// For a secondary handle: catches up with the writer's latest commits
    /// — the stored data and what this handle loaded from it at open:
    /// segment definitions and bitmaps, the live set, trait indexes,
    /// declared rollups and series, the retention floors and the
    /// suppression secret. Caches are dropped.
    ///
    /// A secondary opened on a database of an older format reads it as it
    /// is; once a writer has upgraded it (creating column families the
    /// secondary cannot open), catching up is an error asking for a reopen.
    ///
    /// A catch-up during which the writer replaced files it needed is
    /// retried (see [`AccessMode`](crate::AccessMode)); if it still fails
    /// ([`Error::Unsettled`](crate::Error::Unsettled), or a file that stays
    /// missing), the handle may hold part of what it caught up: open a new
    /// one rather than reading on.
    pub fn catch_up(&self) -> Result<()> {
        // One catch-up at a time (the epoch has one writer), run as a
        // commit is: a rollup read that loaded before it must not cache
        // what it loaded, nor one read meanwhile.
        let _writer = self.core.writer.lock();
        let _in_flight = self.core.commits.begin();
        self.core.store.catch_up()?;
        let view = self.core.store.latest();
        let segments = crate::segment::state::SegmentState::load(&view, true)?;
        let registry = crate::rollup::registry::Registry::load(&view)?;
        let secret = crate::privacy::key::active_secret(&view, self.core.held_key.read().as_ref())?;
        self.core.retention.reload(&view)?;
        drop(view);
        *self.core.segments.write() = segments;
        *self.core.rollups.write() = registry;
        *self.core.suppression_secret.write() = secret;
        self.core.profiles.clear();
        self.core.identities.clear();
        self.core.rollup_cache.clear();
        self.core.wakeups.clear();
        Ok(())
    }
}

/// At a writable open with strict consent purposes: refuses stored
/// segments that read a purpose the configured list lacks. A query or a
/// definition naming it is refused with [`Error::UnknownPurpose`](crate::Error::UnknownPurpose);
/// a segment kept evaluating it would disagree with them. Names every such
/// segment and its missing purposes; the database opens without strict
/// purposes (as the `profiledb` CLI opens it) to drop or redefine them.
fn unknown_segment_purposes(config: &config::Config, segments: &crate::segment::state::SegmentState) -> Result<()> {
    let found: Vec<String> = segments
        .segments
        .iter()
        .filter_map(|s| {
            let missing = config.privacy.unknown_purposes(&s.deps.consents);
            (!missing.is_empty()).then(|| format!("segment {:?} reads consent({})", s.def.name, missing.join(", ")))
        })
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(crate::Error::invalid(format!(
        "{}, but the strict consent purposes are [{}]: add the purposes to consent_purposes, or open the \
         database without strict purposes (as the profiledb CLI does) to drop or redefine the segments",
        found.join("; "),
        config.privacy.known_purposes()
    )))
}

static SECONDARY_SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[cfg(test)]
mod tests {
    use super::ProfileDb;

    fn assert_send_sync<T: Send + Sync + Clone>() {}

    #[test]
    fn handle_is_send_sync_and_clone() {
        assert_send_sync::<ProfileDb>();
    }
}
