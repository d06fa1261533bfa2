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
pub mod event;
pub mod identity;
pub(crate) mod keys;
pub mod privacy;
pub mod profile;
pub mod rollup;
mod schema;
pub mod segment;
mod storage;
mod txn;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
/// The inline string type of [`TraitValue::Str`], re-exported so that
/// applications need no dependency of their own to name it.
pub use compact_str::CompactString;
pub use db::format::{FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
pub use db::retention_settings::Settings as RetentionSettings;
pub use db::{AccessMode, Builder, CfSize, Durability, IdentifierInfo, ProfileDb, ProfileView, RawEntry, WriteReceipt};
pub use db::{AnonymizeReport, ConsentCheck, ConsentInfo, SegmentExport};
pub use db::{
    BatchReport, DueWakeups, EraseManyReport, EraseOutcome, EraseReport, IngestOutcome, RetentionReport, SegmentInfo,
    SegmentMismatch, TickReport, MAX_ERASE_MANY,
};
pub use db::{CheckReport, EventRef, ProfileFailure, RetentionPass, Violation};
pub use db::{IndexMismatch, TickErrorHook, TickerStatus, TraitIndexInfo, LIVE_SET};
pub use error::{Error, Result};
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

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
