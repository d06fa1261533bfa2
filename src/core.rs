//! [`Core`]: the state shared by every clone of a `ProfileDb` handle.

use std::sync::Arc;

use parking_lot::{Mutex, RwLock};

use crate::rollup::registry::Registry;
use crate::segment::state::SegmentState;
use crate::segment::FeedRecord;

use crate::clock::Clock;
use crate::db::cache::Cache;
use crate::db::config::Config;
use crate::identity::cache_key::CacheKey;
use crate::identity::link::IdentityLink;
use crate::profile::state::ProfileRecord;
use crate::storage::Store;

/// What every handle shares: the store, the clock, the configuration, the
/// hot caches and the writer lock.
pub(crate) struct Core {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Config,
    /// Decoded current states of hot profiles.
    pub profiles: crate::db::dense_cache::DenseCache<CachedRecord>,
    /// Identifier → link, for hot identifiers.
    pub identities: Cache<CacheKey, IdentityLink>,
    /// Committed rollup accumulators of recently used (profile, series) pairs.
    pub rollup_cache: crate::rollup::cache::RollupCache,
    /// Pending wake-ups of recently evaluated (segment, profile) pairs.
    pub wakeups: crate::segment::wakeups::WakeupCache,
    /// Odd while a commit is being written and published (see
    /// [`CommitEpoch`](crate::commit_epoch::CommitEpoch)).
    pub commits: crate::commit_epoch::CommitEpoch,
    /// The single-writer lock and what only the writer changes.
    pub writer: Mutex<WriterState>,
    /// Held for a whole segment or rollup definition, or a segment drop
    /// (see [`Definitions`](crate::db::definitions::Definitions)).
    pub definitions: crate::db::definitions::Definitions,
    /// Series and declared rollups (changed only by the writer, after commit).
    pub rollups: RwLock<Registry>,
    /// Segment definitions, bitmaps and the live set (changed only by the
    /// writer, after commit, under short write locks).
    pub segments: RwLock<SegmentState>,
    /// Timeline and bucket retention floors, and the running pass.
    pub retention: crate::rollup::retention::Floors,
    /// In-process change-feed subscribers.
    pub subscribers: Mutex<Vec<crate::subscription::Subscriber>>,
    /// The per-database suppression secret, once something was erased or
    /// anonymized (`None`: nothing is suppressed, writes skip the check).
    pub suppression_secret: RwLock<Option<Arc<Vec<u8>>>>,
    /// The purge after erase and anonymize: what it waits for.
    pub purge: crate::db::PurgeState,
    /// The suppression key the application holds
    /// ([`Builder::secret_key`](crate::Builder::secret_key)), used instead
    /// of a stored secret (set too by
    /// [`move_secret_out`](crate::ProfileDb::move_secret_out)).
    pub held_key: RwLock<Option<crate::privacy::key::HeldKey>>,
    /// The database clock's now less the dedup horizon, as of the last
    /// commit (or the open): compaction drops `dedup` entries first seen
    /// before it, which no check counts any more.
    pub dedup_cutoff: Arc<std::sync::atomic::AtomicI64>,
}

impl Core {
    /// Loads `p`'s cached rollup entries and wake-ups into the CPU caches
    /// together, so their misses overlap, ahead of segment maintenance's
    /// reads of them one after another.
    pub fn touch_cached(&self, p: crate::profile::id::ProfileId) {
        self.rollup_cache.touch(p);
        self.wakeups.touch(p);
    }

    /// One stage of prefetching `p`'s cached record, rollup entries and
    /// wake-ups (see [`crate::db::prefetch`]).
    pub fn prefetch(&self, p: crate::profile::id::ProfileId, stage: crate::db::prefetch::Stage) {
        use crate::db::prefetch::{line, Stage};
        match stage {
            Stage::Set => self.profiles.prefetch(p),
            Stage::Slot => self.profiles.inspect(p, |c| {
                line(Arc::as_ptr(&c.record));
                line(Arc::as_ptr(&c.profile));
            }),
        }
        self.rollup_cache.prefetch(p, stage);
        self.wakeups.prefetch(p, stage);
    }

    /// Sends committed feed records to every live subscriber, dropping
    /// subscribers whose receiver is gone.
    pub fn publish_feed(&self, records: &[FeedRecord]) {
        crate::subscription::publish(&self.subscribers, records);
    }
}

impl Drop for Core {
    /// Closing: RocksDB closes when the fields drop, right after this; the
    /// caches' memory — millions of small allocations on a large database,
    /// seconds to free (2.9 s at 200,000 profiles in `hot_paths`) — is
    /// freed on a thread of its own, so dropping the database returns once
    /// the store is closed. If the thread cannot be started, it is freed
    /// here.
    fn drop(&mut self) {
        let caches =
            [self.profiles.detach(), self.identities.detach(), self.rollup_cache.detach(), self.wakeups.detach()];
        // On failure `spawn` drops the closure, and the caches with it.
        let _ = std::thread::Builder::new().name("profiledb-free".into()).spawn(move || drop(caches));
    }
}

/// A cached profile record, with its profile's `Arc` beside it: a read
/// of the profile alone (`get`) takes it from the cache slot without
/// touching the record.
#[derive(Clone)]
pub(crate) struct CachedRecord {
    pub record: Arc<ProfileRecord>,
    pub profile: Arc<crate::profile::state::Profile>,
}

impl From<Arc<ProfileRecord>> for CachedRecord {
    fn from(record: Arc<ProfileRecord>) -> Self {
        CachedRecord { profile: record.profile.clone(), record }
    }
}

/// How far past the sequence numbers an operation used it raises the
/// stored `next_event_seq`: a single-event ingest writes it once per this
/// many events instead of on every commit (a key in every event's batch).
/// A reopen continues from the stored value, skipping the rest of the block.
pub(crate) const EVENT_SEQ_BLOCK: u64 = 4_096;

/// State owned by whoever holds the writer lock.
#[derive(Debug)]
pub(crate) struct WriterState {
    /// The next profile id to allocate.
    pub next_profile_id: u32,
    /// The next timeline sequence number.
    pub next_event_seq: u64,
    /// The stored `next_event_seq`: every sequence number below it may be
    /// used without writing it again (see [`EVENT_SEQ_BLOCK`]).
    pub event_seq_reserved: u64,
    /// The next change-feed sequence number.
    pub next_feed_seq: u64,
    /// While `index_trait` scans a snapshot outside the writer lock: the
    /// profiles whose records commits wrote since (changed, created,
    /// merged away, erased), refiled from their current records before the
    /// index is published.
    pub index_touched: Option<roaring::RoaringBitmap>,
}
