//! # profiledb
//!
//! An embedded customer-profile database on RocksDB: any identifier of a
//! person reaches one stitched profile; every trait update is a delta in
//! the profile's history, so any past version can be read back.
//!
//! ```
//! use profiledb::{Identifier, ProfileDb, Update};
//! let dir = tempfile::tempdir()?;
//! let db = ProfileDb::open(dir.path())?;
//! let id: Identifier = "user_id:42".parse()?;
//! let r1 = db.update(&id, Update::new().set("plan", "free"))?;
//! db.update(&id, Update::new().set("plan", "pro"))?;
//! let then = db.get_as_of_version(r1.profile, r1.version)?;
//! assert_eq!(then.traits.get("plan"), Some(&"free".into()));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Concepts
//!
//! The README (`README.md` in the repository) is the guide; its sections
//! are named below. In short:
//!
//! - **Stitching** ("Stitching and merge rules"): [`ProfileDb::identify`]
//!   resolves every identifier; unseen ones join the resolved profile, and
//!   identifiers on different profiles merge them into the lowest
//!   [`ProfileId`] (the loser stays an alias: reads by its id reach the
//!   survivor). [`IdentityRules`] guard against over-merging: per-kind
//!   limits (one `user_id` per profile), a priority (`user_id` > `email` >
//!   `phone` > `device_id` > `anonymous_id`) deciding the target, a
//!   blocklist of junk values. [`MergeRules`] decide each trait's value.
//! - **Windows** ("Events and rollups", "Segments"): a rollup window
//!   [`Window::days(7)`](rollup::Window::days) is whole UTC days (today and
//!   the six before it), while `7d` in a segment or query condition is the
//!   rolling span (now − 7 days, now], as
//!   [`Window::hours`](rollup::Window::hours) and
//!   [`Window::Rolling`](rollup::Window::Rolling) are. Every event name has
//!   the automatic rollups `<event>.count`, `.first` and `.last`
//!   ([`ProfileDb::rollup`]). Time-dependent segment memberships move when
//!   [`ProfileDb::tick`] runs (or `tick_interval` runs it).
//! - **Retention** ("Events and rollups"): `timeline_retention` (default
//!   365 days) deletes older stored events; `rollup_bucket_retention`
//!   (default: keep) folds older day buckets into the all-time values, after
//!   which windows reaching there are refused
//!   ([`Error::WindowBeforeRetention`]); history retention
//!   ([`ProfileDb::retain_history`]) folds old versions.
//! - **Errors**: an unknown profile, segment, rollup, version or identifier
//!   is [`Error::NotFound`], whose [`NotFoundKind`] says which.
//!
//! The layers, top to bottom: [`ProfileDb`] (the handle) → identity and
//! profile logic → `storage` (the only module that touches RocksDB) →
//! `keys` and `codec` (byte layouts, documented in `storage-format/`).

#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]
#![deny(clippy::host_endian_bytes)]

mod clock;
pub mod codec;
mod commit_epoch;
mod core;
mod db;
mod error;
mod error_retry;
pub mod event;
pub mod identity;
pub(crate) mod keys;
mod numeric;
pub mod privacy;
pub mod profile;
pub mod rollup;
mod schema;
pub mod segment;
mod storage;
mod subscription;
mod txn;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
/// The inline string type of [`TraitValue::Str`], re-exported so that
/// applications need no dependency of their own to name it.
pub use compact_str::CompactString;
pub use db::events_read::{EventCursor, EventOrder, EventsPage};
pub use db::format::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use db::retention_settings::Settings as RetentionSettings;
pub use db::{
    AccessMode, Builder, CfSize, Durability, IdentifierInfo, ProfileDb, ProfileView, RawEntry, WalRecovery,
    WriteReceipt,
};
pub use db::{AnonymizeReport, ConsentCheck, ConsentInfo, SegmentExport};
pub use db::{
    BatchReport, DueWakeups, EraseManyReport, EraseOutcome, EraseReport, EventOutcome, FeedReceiver, IngestOutcome,
    RetentionReport, SegmentInfo, SegmentMismatch, TickReport, MAX_ERASE_MANY,
};
pub use db::{CheckReport, EventRef, ProfileFailure, RetentionPass, Violation};
pub use db::{IndexMismatch, TickErrorHook, TickerStatus, TraitIndexInfo, LIVE_SET, PURGE_READ_WAIT};
pub use error::{Error, NotFound, NotFoundKind, Result};
pub use error_retry::Retry;
pub use identity::identifier::Identifier;
pub use identity::link::IdentityLink;
pub use identity::rules::{IdentityRules, KindLimit, OnExceed};
pub use identity::stitch::Ignored;
pub use identity::unmerge::UnmergeReceipt;
pub use profile::delta::{Cause, Change, Delta};
pub use profile::id::ProfileId;
pub use profile::merge_rules::{MergeRules, MergeStrategy};
pub use profile::operator::{TraitOp, Update};
pub use profile::state::Profile;
pub use profile::traits::{TraitEntry, Traits};
pub use profile::value::TraitValue;
pub use subscription::FeedIntoIter;

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
