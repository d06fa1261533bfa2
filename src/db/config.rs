//! [`Config`]: database behaviour chosen at open.

use crate::identity::rules::IdentityRules;
use crate::profile::merge_rules::MergeRules;

/// How often a full snapshot is written by default (every N deltas).
pub const DEFAULT_SNAPSHOT_EVERY: u64 = 32;

/// Behaviour chosen at open (not stored in the database).
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// A full snapshot every this many deltas (≥ 1): an as-of read replays
    /// at most this many.
    pub snapshot_every: u64,
    /// Identity stitching rules.
    pub identity_rules: IdentityRules,
    /// Trait merge strategies.
    pub merge_rules: MergeRules,
    /// A message id seen within this many milliseconds is a duplicate.
    pub dedup_horizon_ms: i64,
    /// How far after the clock's now an event's timestamp may be.
    pub max_future_skew_ms: i64,
    /// How the line parsers read numeric timestamps.
    pub epoch_unit: crate::event::limits::EpochUnit,
    /// How long events stay in timelines (0: timelines are not stored).
    pub timeline_retention_ms: i64,
    /// How long per-day rollup buckets are kept (0: forever).
    pub bucket_retention_ms: i64,
    /// How long change-feed records are kept (0: forever).
    pub feed_retention_ms: i64,
    /// How long membership history is kept (0: forever).
    pub membership_retention_ms: i64,
    /// How far ahead of the last retention step's clock a step's clock may
    /// be and still raise retention floors (0: no limit).
    pub max_clock_jump_ms: i64,
    /// Per-event-name property schemas.
    pub schemas: crate::event::SchemaRegistry,
    /// Consent purposes, export purposes, suppression, anonymization.
    pub privacy: crate::privacy::config::PrivacyConfig,
    /// When commits are durable.
    pub durability: super::Durability,
}
