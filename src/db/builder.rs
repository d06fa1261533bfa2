//! [`Builder`]: options for opening a [`ProfileDb`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::clock::{Clock, SystemClock, Timestamp};
use crate::db::config::{Config, DEFAULT_SNAPSHOT_EVERY};
use crate::db::ProfileDb;
use crate::error::{Error, Result};
use crate::identity::rules::IdentityRules;
use crate::profile::merge_rules::MergeRules;

/// When a write is durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// Written to the WAL, not fsynced: survives a process crash, may lose
    /// the last writes on power loss. The default.
    #[default]
    Wal,
    /// fsync on every commit: survives power loss.
    Sync,
}

/// What an open does when a write-ahead log file (`*.log` in the database
/// directory) is missing or damaged. The `*.log` files hold acknowledged
/// writes that are not yet in table files: they are data, not logs to
/// clean up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum WalRecovery {
    /// Refuse to open (the default): a log file the database recorded is
    /// missing, has a size other than the one recorded, or is damaged
    /// before its last record. The open fails with
    /// [`Error::WalDamaged`](crate::Error::WalDamaged) and changes nothing
    /// in the directory. A last record cut short (a crash while it was
    /// being written, never acknowledged as durable) is not damage: it is
    /// dropped and the open succeeds with everything before it.
    #[default]
    Strict,
    /// Open anyway, accepting the loss: replay the logs up to the first
    /// missing or damaged record and drop everything after it (RocksDB's
    /// point-in-time recovery). Where some column family's table files
    /// already hold writes from past the damage (a consistent prefix is
    /// then impossible), every readable record is replayed and only the
    /// damaged ones are skipped. For an operator who has no backup to
    /// restore and needs what is left. Needs
    /// [`AccessMode::ReadWrite`]: the open makes the loss permanent (it
    /// flushes what it recovered and deletes the logs), so salvage a copy
    /// of the directory to look first. Run
    /// [`check`](crate::ProfileDb::check) afterwards: writes from the
    /// damaged point on are gone while earlier ones remain.
    ///
    /// ```no_run
    /// use profiledb::{ProfileDb, WalRecovery};
    /// // `ProfileDb::open` failed with Error::WalDamaged, and there is no backup:
    /// let db = ProfileDb::builder("/var/lib/profiles").wal_recovery(WalRecovery::Salvage).open()?;
    /// let report = db.check()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    Salvage,
}

/// How to open the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AccessMode {
    /// Read and write; only one handle per database at a time.
    #[default]
    ReadWrite,
    /// Read-only, a point-in-time view; works beside a running writer (the
    /// view is a whole state, a prefix of its commits, or the open fails
    /// with [`Error::Unsettled`](crate::Error::Unsettled)).
    ReadOnly,
    /// A secondary instance that follows a running writer
    /// (`ProfileDb::catch_up`); works beside it, with the same guarantee as
    /// `ReadOnly` for its open and each catch-up.
    Secondary,
}

/// Options for opening a [`ProfileDb`].
///
/// ```
/// use profiledb::{Durability, ProfileDb};
/// let dir = tempfile::tempdir()?;
/// let db = ProfileDb::builder(dir.path())
///     .durability(Durability::Sync)
///     .block_cache_bytes(64 << 20)
///     .snapshot_every(16)
///     .open()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder {
    pub(crate) path: PathBuf,
    pub(crate) create_if_missing: bool,
    pub(crate) durability: Durability,
    pub(crate) block_cache_bytes: usize,
    pub(crate) write_buffer_bytes: usize,
    pub(crate) profile_cache_entries: usize,
    pub(crate) identity_cache_entries: Option<usize>,
    pub(crate) rollup_cache_entries: usize,
    pub(crate) wakeup_cache_entries: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) snapshot_every: u64,
    pub(crate) identity_rules: IdentityRules,
    pub(crate) merge_rules: MergeRules,
    pub(crate) mode: AccessMode,
    pub(crate) dedup_horizon_ms: i64,
    pub(crate) max_future_skew_ms: i64,
    pub(crate) epoch_unit: crate::event::limits::EpochUnit,
    /// `None`: the database's stored setting (the default on a new one).
    pub(crate) timeline_retention_ms: Option<i64>,
    /// `None`: the database's stored setting (the default on a new one).
    pub(crate) bucket_retention_ms: Option<i64>,
    /// `None`: the database's stored setting (the default on a new one).
    pub(crate) feed_retention_ms: Option<i64>,
    /// `None`: the database's stored setting (the default on a new one).
    pub(crate) membership_retention_ms: Option<i64>,
    pub(crate) max_clock_jump_ms: i64,
    pub(crate) schemas: crate::event::SchemaRegistry,
    pub(crate) privacy: crate::privacy::config::PrivacyConfig,
    pub(crate) compression: bool,
    pub(crate) tick_interval: Option<std::time::Duration>,
    pub(crate) on_tick_error: Option<crate::db::TickErrorHook>,
    pub(crate) wal_recovery: WalRecovery,
    pub(crate) secret_key: Option<crate::privacy::key::HeldKey>,
}

impl Builder {
    pub(crate) fn new(path: &Path) -> Self {
        Builder {
            path: path.to_owned(),
            create_if_missing: true,
            durability: Durability::Wal,
            block_cache_bytes: 128 << 20,
            write_buffer_bytes: 8 << 20,
            profile_cache_entries: 100_000,
            identity_cache_entries: None,
            rollup_cache_entries: 400_000,
            wakeup_cache_entries: 800_000,
            clock: Arc::new(SystemClock),
            snapshot_every: DEFAULT_SNAPSHOT_EVERY,
            identity_rules: IdentityRules::default(),
            merge_rules: MergeRules::default(),
            mode: AccessMode::ReadWrite,
            dedup_horizon_ms: 7 * Timestamp::DAY,
            max_future_skew_ms: crate::event::limits::DEFAULT_MAX_FUTURE_SKEW_MS,
            epoch_unit: crate::event::limits::EpochUnit::Milliseconds,
            timeline_retention_ms: None,
            bucket_retention_ms: None,
            feed_retention_ms: None,
            membership_retention_ms: None,
            max_clock_jump_ms: crate::db::clock_guard::DEFAULT_MAX_CLOCK_JUMP_MS,
            schemas: crate::event::SchemaRegistry::default(),
            privacy: Default::default(),
            compression: true,
            tick_interval: None,
            on_tick_error: None,
            wal_recovery: WalRecovery::Strict,
            secret_key: None,
        }
    }

    /// Create the database when missing (default: true).
    pub fn create_if_missing(mut self, yes: bool) -> Self {
        self.create_if_missing = yes;
        self
    }

    /// When writes are durable (default: [`Durability::Wal`]).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }

    /// RocksDB's shared block cache, in bytes (default 128 MiB).
    pub fn block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    /// The memtable size of each column family, in bytes (default 8 MiB).
    /// Larger memtables flush less often but make every write slower once
    /// they outgrow the CPU caches; must be at least 64 KiB.
    pub fn write_buffer_bytes(mut self, bytes: usize) -> Self {
        self.write_buffer_bytes = bytes;
        self
    }

    /// How many decoded profiles (and, unless
    /// [`identity_cache_entries`](Self::identity_cache_entries) says
    /// otherwise, as many identifiers) to keep in memory for microsecond
    /// reads (default 100,000; 0 disables).
    pub fn profile_cache_entries(mut self, n: usize) -> Self {
        self.profile_cache_entries = n;
        self
    }

    /// How many identifier resolutions (identifier → profile) to keep in
    /// memory (default: as many as `profile_cache_entries`; 0 disables).
    /// A database whose profiles have several identifiers each needs more
    /// of these than profiles for a lookup by any of them to skip RocksDB.
    /// An entry takes about 120 bytes.
    pub fn identity_cache_entries(mut self, n: usize) -> Self {
        self.identity_cache_entries = Some(n);
        self
    }

    /// How many (profile, rollup series) pairs to keep in memory — the
    /// all-time accumulator and the last 120 days of buckets — so that
    /// segment maintenance and window reads skip RocksDB (default 400,000;
    /// 0 disables). An entry takes about 140 bytes plus 80 per day of the
    /// 120 that had events (plus the values of a series that keeps value
    /// frequencies). Entries are held per profile: one profile slot
    /// per 4 pairs, a profile keeping every series cached for it (so a
    /// profile whose segments read more series holds more).
    pub fn rollup_cache_entries(mut self, n: usize) -> Self {
        self.rollup_cache_entries = n;
        self
    }

    /// How many (segment, profile) pairs' pending wake-ups to keep in
    /// memory, so that re-evaluating a time-dependent segment does not read
    /// the wake-up it replaces from RocksDB (default 800,000; 0 disables).
    /// An entry takes about 50 bytes. Entries are held per profile: one
    /// profile slot per 8 pairs.
    pub fn wakeup_cache_entries(mut self, n: usize) -> Self {
        self.wakeup_cache_entries = n;
        self
    }

    /// The source of "now" (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Write a full snapshot every `n` deltas (default 32; must be ≥ 1).
    pub fn snapshot_every(mut self, n: u64) -> Self {
        self.snapshot_every = n;
        self
    }

    /// Identity stitching rules (default: [`IdentityRules::default`]).
    pub fn identity_rules(mut self, rules: IdentityRules) -> Self {
        self.identity_rules = rules;
        self
    }

    /// Trait merge strategies (default: last-write-wins for every trait).
    pub fn merge_rules(mut self, rules: MergeRules) -> Self {
        self.merge_rules = rules;
        self
    }

    /// Duplicate message ids are recognised within this horizon (default 7 days).
    pub fn dedup_horizon(mut self, ms: i64) -> Self {
        self.dedup_horizon_ms = ms;
        self
    }

    /// How far in the future (milliseconds after the clock's now) an
    /// event's timestamp may be (default one day). `track` and
    /// `ingest_batch` refuse later events, and events before 1970, with
    /// [`Error::InvalidEvent`]; [`ProfileDb::event_limits`] hands the same
    /// bound to the line parsers.
    pub fn max_future_skew(mut self, ms: i64) -> Self {
        self.max_future_skew_ms = ms;
        self
    }

    /// How the line parsers read a number given as a timestamp
    /// ([`ProfileDb::event_limits`]): epoch milliseconds by default, which
    /// refuses a number below [`MIN_PLAUSIBLE_EPOCH_MS`](crate::event::limits::MIN_PLAUSIBLE_EPOCH_MS)
    /// (a 1970 date as milliseconds: almost surely seconds), or epoch
    /// seconds. RFC 3339 strings are unaffected.
    pub fn epoch_unit(mut self, unit: crate::event::limits::EpochUnit) -> Self {
        self.epoch_unit = unit;
        self
    }

    /// How long events stay in per-profile timelines (0 disables
    /// timelines: rollups still work, backfill of newly declared rollups
    /// then has nothing to read). Older events are deleted by
    /// [`ProfileDb::enforce_retention`] and, a bounded amount per call, by
    /// [`ProfileDb::tick`]; rollups keep counting them.
    ///
    /// The setting is stored in the database: a writable open that sets it
    /// records it, and an open that does not (the `profiledb` CLI's, say)
    /// uses the recorded one — 365 days on a database that never recorded
    /// one ([`ProfileDb::retention_settings`]).
    pub fn timeline_retention(mut self, ms: i64) -> Self {
        self.timeline_retention_ms = Some(ms);
        self
    }

    /// How long per-day rollup buckets are kept (0: forever). Older
    /// buckets are folded into the all-time values by retention passes; a
    /// window reaching before the horizon is then
    /// [`Error::WindowBeforeRetention`]. Stored in the database as
    /// [`timeline_retention`](Self::timeline_retention) is (default 0 on a
    /// database that never recorded one).
    pub fn rollup_bucket_retention(mut self, ms: i64) -> Self {
        self.bucket_retention_ms = Some(ms);
        self
    }

    /// How long change-feed records ([`ProfileDb::feed`]) are kept (0:
    /// forever). Older records are deleted by retention passes
    /// ([`ProfileDb::tick`], [`ProfileDb::enforce_retention`]); a `feed`
    /// cursor before the oldest kept record is then
    /// [`Error::FeedTruncated`] (re-sync that consumer from a segment
    /// export). Stored in the database as
    /// [`timeline_retention`](Self::timeline_retention) is (default 30
    /// days on a database that never recorded one).
    pub fn feed_retention(mut self, ms: i64) -> Self {
        self.feed_retention_ms = Some(ms);
        self
    }

    /// How long segment membership history ([`ProfileDb::was_member`]) is
    /// kept (0: forever). Retention passes delete the history rows older
    /// than now − this, except the last one before it of each (segment,
    /// profile) — it says what the membership was from then on — so
    /// `was_member` stays exact at every time from the floor on, and is
    /// [`Error::MembershipBeforeRetention`] before it. Stored in the
    /// database as [`timeline_retention`](Self::timeline_retention) is
    /// (default 365 days on a database that never recorded one).
    pub fn membership_history_retention(mut self, ms: i64) -> Self {
        self.membership_retention_ms = Some(ms);
        self
    }

    /// The largest step of the clock between two retention steps that
    /// retention follows on its own (default 7 days; 0: no limit). A
    /// retention step whose clock is further ahead of the last one's raises
    /// no floor and deletes nothing: it fails with [`Error::ClockJump`]
    /// (from [`ProfileDb::tick`], the ticker's status and hook, and
    /// [`ProfileDb::enforce_retention`]) until the clock comes back within
    /// range (a clock corrected after running ahead: nothing was lost) or
    /// [`ProfileDb::accept_clock`] confirms it (after a suspension longer
    /// than this, with the clock checked). The clock at open counts as the
    /// last step's: a database closed longer than this follows the clock it
    /// is reopened with. Not stored: a process setting.
    pub fn max_clock_jump(mut self, ms: i64) -> Self {
        self.max_clock_jump_ms = ms;
        self
    }

    /// Per-event-name schemas checked on every ingested event (default:
    /// none, every event accepted).
    pub fn event_schemas(mut self, schemas: crate::event::SchemaRegistry) -> Self {
        self.schemas = schemas;
        self
    }

    /// The consent purposes this application uses. With `strict`, a
    /// purpose not in the list is refused with [`Error::UnknownPurpose`]
    /// (by `set_consent`, segment definitions and export purposes);
    /// without, any valid name (`[a-z][a-z0-9_]*`) is accepted. A
    /// writable open with `strict` and a stored segment reading a purpose
    /// not in the list fails with [`Error::InvalidInput`] naming them:
    /// open without `strict` to drop or redefine the segment.
    pub fn consent_purposes<S: Into<String>>(mut self, purposes: impl IntoIterator<Item = S>, strict: bool) -> Self {
        self.privacy.purposes = purposes.into_iter().map(Into::into).collect();
        self.privacy.strict_purposes = strict;
        self
    }

    /// Declares an export purpose and the consents it requires:
    /// `export_segment(segment, "email_campaign", …)` leaves out members
    /// without every one of them.
    pub fn export_purpose<S: Into<String>>(mut self, name: &str, requires: impl IntoIterator<Item = S>) -> Self {
        self.privacy.export_purposes.insert(name.to_owned(), requires.into_iter().map(Into::into).collect());
        self
    }

    /// What happens to writes carrying an erased identifier (default:
    /// [`SuppressionPolicy::Reject`](crate::privacy::SuppressionPolicy::Reject)).
    pub fn suppression_policy(mut self, policy: crate::privacy::SuppressionPolicy) -> Self {
        self.privacy.suppression = policy;
        self
    }

    /// The rules `anonymize` uses when the caller passes none (default:
    /// drop every trait and event property).
    pub fn anonymize_rules(mut self, rules: crate::privacy::AnonymizeRules) -> Self {
        self.privacy.anonymize = rules;
        self
    }

    /// LZ4 block compression of the stored tables (default: on). Off makes
    /// files larger and values readable in them; it exists mainly so tests
    /// can scan uncompressed files.
    pub fn compression(mut self, on: bool) -> Self {
        self.compression = on;
        self
    }

    /// What to do when a write-ahead log file is missing or damaged
    /// (default: [`WalRecovery::Strict`], refuse to open).
    pub fn wal_recovery(mut self, recovery: WalRecovery) -> Self {
        self.wal_recovery = recovery;
        self
    }

    /// Read-write (default), read-only or secondary.
    pub fn access_mode(mut self, mode: AccessMode) -> Self {
        self.mode = mode;
        self
    }

    /// Runs [`ProfileDb::tick`] on a background thread every `interval`
    /// (default: no thread; call `tick` yourself). The thread stops when
    /// the last handle clone drops; failed ticks are reported by
    /// [`ProfileDb::ticker_status`] and [`on_tick_error`](Self::on_tick_error).
    /// Needs read-write access and a non-zero interval.
    pub fn tick_interval(mut self, interval: std::time::Duration) -> Self {
        self.tick_interval = Some(interval);
        self
    }

    /// Called with the message of every failed background tick (a tick
    /// that returned an error or panicked).
    pub fn on_tick_error(mut self, hook: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.on_tick_error = Some(crate::db::TickErrorHook(Arc::new(hook)));
        self
    }

    /// Keeps the secret of suppression and anonymization hashes outside
    /// the database: `key` (exactly 192 bytes, e.g. from
    /// [`new_secret_key`](crate::privacy::new_secret_key)) is used instead
    /// of a secret stored in `meta`, so a copy or backup of the directory
    /// cannot confirm guesses at erased identifiers or `Hash` values
    /// without it. The database stores only a check value of the key
    /// (format 13), and every later open — read-only and secondary too —
    /// must give the same key: a missing or wrong one is
    /// [`Error::SecretKey`] and writes nothing. Lose the key and erased
    /// identifiers can no longer be recognised (the database cannot be
    /// opened without it); keep it where the database's backups do not go.
    ///
    /// A database that already stores its own secret (created without a
    /// key, and something was erased or anonymized since) keeps it: giving
    /// it a key is refused.
    pub fn secret_key(mut self, key: impl Into<Vec<u8>>) -> Self {
        self.secret_key = Some(crate::privacy::key::HeldKey(Arc::new(key.into())));
        self
    }

    /// Opens the database.
    pub fn open(mut self) -> Result<ProfileDb> {
        if self.snapshot_every == 0 {
            return Err(Error::invalid("snapshot_every must be at least 1"));
        }
        self.privacy.validate()?;
        self.identity_rules.validate()?;
        self.identity_rules = self.identity_rules.normalized();
        if let Some(interval) = self.tick_interval {
            if interval.is_zero() {
                return Err(Error::invalid("tick_interval must be longer than zero"));
            }
            if self.mode != AccessMode::ReadWrite {
                return Err(Error::invalid("tick_interval needs read-write access (tick writes)"));
            }
        }
        if self.wal_recovery == WalRecovery::Salvage && self.mode != AccessMode::ReadWrite {
            return Err(Error::invalid(
                "wal_recovery(WalRecovery::Salvage) needs read-write access (RocksDB cannot salvage damaged \
                 write-ahead logs read-only); to look before the loss is made permanent, salvage a copy of the \
                 database directory",
            ));
        }
        if self.write_buffer_bytes < 64 << 10 {
            return Err(Error::invalid(format!(
                "write_buffer_bytes must be at least 65536 (64 KiB), got {}",
                self.write_buffer_bytes
            )));
        }
        if self.max_future_skew_ms < 0 {
            return Err(Error::invalid(format!(
                "max_future_skew must be 0 or more milliseconds, got {}",
                self.max_future_skew_ms
            )));
        }
        if self.dedup_horizon_ms < 0 {
            return Err(Error::invalid(format!(
                "dedup_horizon must be 0 or more milliseconds, got {}",
                self.dedup_horizon_ms
            )));
        }
        if self.timeline_retention_ms.is_some_and(|ms| ms < 0) || self.bucket_retention_ms.is_some_and(|ms| ms < 0) {
            return Err(Error::invalid("timeline_retention and rollup_bucket_retention must be 0 (off) or positive"));
        }
        for (name, ms) in [
            ("feed_retention", self.feed_retention_ms),
            ("membership_history_retention", self.membership_retention_ms),
            ("max_clock_jump", Some(self.max_clock_jump_ms)),
        ] {
            if let Some(ms) = ms.filter(|ms| *ms < 0) {
                return Err(Error::invalid(format!("{name} must be 0 (off) or positive milliseconds, got {ms}")));
            }
        }
        ProfileDb::open_with(self)
    }

    /// The configuration, with the retention settings `retention` resolved
    /// from the database ([`crate::db::retention_settings`]).
    pub(crate) fn config(&self, retention: crate::db::retention_settings::Settings) -> Config {
        Config {
            snapshot_every: self.snapshot_every,
            identity_rules: self.identity_rules.clone(),
            merge_rules: self.merge_rules.clone(),
            dedup_horizon_ms: self.dedup_horizon_ms,
            max_future_skew_ms: self.max_future_skew_ms,
            epoch_unit: self.epoch_unit,
            timeline_retention_ms: retention.timeline_ms,
            bucket_retention_ms: retention.bucket_ms,
            feed_retention_ms: retention.feed_ms,
            membership_retention_ms: retention.membership_ms,
            max_clock_jump_ms: self.max_clock_jump_ms,
            schemas: self.schemas.clone(),
            privacy: self.privacy.clone(),
            durability: self.durability,
        }
    }
}
