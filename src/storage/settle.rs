//! Reading a whole state beside a live writer.
//!
//! A read-only or secondary handle opens (or catches up) by reading the
//! MANIFEST, which lists each column family's table files and the oldest
//! write-ahead log it still needs, then replaying the logs it finds. A
//! writer in another process (or handle) flushes and compacts meanwhile:
//!
//! - a flush that finishes in between may delete a log whose data the
//!   MANIFEST read does not yet place in a table file. The reader then
//!   misses those writes in some column families and not others (a
//!   profile's record without its newest delta, an identifier without its
//!   profile). A log deleted by a flush the MANIFEST read already records
//!   held nothing the reader needs; one created after the reader listed
//!   the logs holds only later writes. And a log is deleted only once every
//!   column family has flushed past it, which makes every older log
//!   obsolete too: one created and deleted while the reader read takes the
//!   logs present at its start with it. So a read-only open during which
//!   no log present at its start was deleted saw a whole state, a prefix
//!   of the writer's commits. (What is left: RocksDB deletes the logs one
//!   flush made obsolete one after another, so a listing taken in the
//!   microseconds between two of those unlinks could miss the race.)
//! - a compaction deletes the table files it replaced once it has
//!   installed a new MANIFEST. A read-only open then fails on the missing
//!   file (and is retried); a secondary instance skips it and reads its
//!   data as empty, so a secondary's read is whole only if no new MANIFEST
//!   was installed while it read.
//!
//! Every flush and compaction installs a new MANIFEST (the storage opens
//! with `max_manifest_file_size=1`) or appends to it, so its name and
//! length mark the writer's progress. [`Mark`] takes both marks around a
//! read; a read that was not whole is retried, and after [`RETRIES`]
//! retries it is [`Error::Unsettled`]: nothing inconsistent is returned.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use crate::error::Error;

/// How many times a read-only or secondary open, or a catch-up, is retried
/// when the writer changed the database under it (waits of 2, 4, … 128 ms,
/// then 200 ms: about 1.3 s in all).
pub(super) const RETRIES: u32 = 12;

/// The wait before retry number `attempt` (from 0).
pub(super) fn wait(attempt: u32) -> Duration {
    Duration::from_millis((2_u64 << attempt.min(7)).min(200))
}

/// The writer's progress as seen in the database directory: the current
/// MANIFEST (name and length) and the write-ahead logs present. `None`
/// where it cannot be read (then any comparison says "changed").
pub(super) struct Mark {
    manifest: Option<(String, u64)>,
    logs: Option<BTreeSet<OsString>>,
}

/// What changed between two [`Mark`]s.
#[derive(Default)]
pub(super) struct Changes {
    /// A new MANIFEST was installed, or the current one grew.
    pub manifest_changed: bool,
    /// A log present at the first mark is gone at the second.
    pub log_deleted: bool,
}

impl Mark {
    pub fn take(path: &Path) -> Mark {
        Mark { manifest: manifest(path), logs: logs(path) }
    }

    /// What changed from `self` to `later`.
    pub fn compare(&self, later: &Mark) -> Changes {
        let unreadable = self.manifest.is_none() || later.manifest.is_none();
        let log_deleted = match (&self.logs, &later.logs) {
            (Some(before), Some(after)) => !before.is_subset(after),
            _ => true,
        };
        Changes { manifest_changed: unreadable || self.manifest != later.manifest, log_deleted }
    }
}

impl Changes {
    /// Whether a read made between the two marks saw a whole state: no
    /// log present at the start was deleted, and for a secondary (which
    /// skips missing table files), no new MANIFEST was installed either.
    pub fn whole_for(&self, secondary: bool) -> bool {
        !(self.log_deleted || (secondary && self.manifest_changed))
    }
}

/// The current MANIFEST's name (from CURRENT) and length.
fn manifest(path: &Path) -> Option<(String, u64)> {
    let current = std::fs::read_to_string(path.join("CURRENT")).ok()?;
    let name = current.trim_end();
    let len = std::fs::metadata(path.join(name)).ok()?.len();
    Some((name.to_owned(), len))
}

/// The write-ahead logs in the database directory.
fn logs(path: &Path) -> Option<BTreeSet<OsString>> {
    let entries = std::fs::read_dir(path).ok()?;
    let names = entries.map(|e| e.map(|e| e.file_name())).collect::<std::io::Result<Vec<_>>>().ok()?;
    Some(names.into_iter().filter(|n| n.to_string_lossy().ends_with(".log")).collect())
}

/// Whether a RocksDB operation failed on a file that does not exist (any
/// more).
pub(super) fn names_a_missing_file(e: &rocksdb::Error) -> bool {
    e.as_ref().contains("No such file or directory")
}

/// Whether a read beside a writer failed because the writer changed the
/// files under it: a file it named (or a log the MANIFEST it read
/// recorded) is gone while the MANIFEST changed
/// (`changes`), or RocksDB says to try again (a secondary whose MANIFEST
/// the writer replaced while it was read). Other failures, including a
/// file missing while the MANIFEST naming it stayed current, are for good.
pub(super) fn raced(e: &rocksdb::Error, changes: &Changes) -> bool {
    (changes.manifest_changed && (names_a_missing_file(e) || super::wal::names_a_missing_wal(e)))
        || e.kind() == rocksdb::ErrorKind::TryAgain
}

/// Whether a counter of `before` is gone or lower in `after` (values of
/// `StoreOptions::counters`: a type tag and a big-endian integer, so equal lengths
/// compare as bytes).
pub(super) fn went_back(before: &[Option<Vec<u8>>], after: &[Option<Vec<u8>>]) -> bool {
    before.iter().zip(after).any(|(b, a)| match (b, a) {
        (Some(_), None) => true,
        (Some(b), Some(a)) => a.len() == b.len() && a < b,
        (None, _) => false,
    })
}

/// The error of a read that never saw a whole state.
pub(super) fn unsettled(op: &'static str, path: &Path) -> Error {
    Error::Unsettled { op, path: path.to_owned(), attempts: RETRIES + 1 }
}
