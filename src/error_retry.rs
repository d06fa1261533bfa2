//! [`Retry`]: what a service should do after an [`Error`] — retry now,
//! later, after reopening the handle, or not at all.

use crate::error::Error;

/// Whether, and when, an operation that failed with an [`Error`] is worth
/// running again: [`Error::retry`]. Every variant of `Error` is classified
/// (the match in `retry` names each one, so a new variant must be).
///
/// ```
/// use profiledb::{Identifier, ProfileDb, Retry, Update};
/// let dir = tempfile::tempdir()?;
/// let db = ProfileDb::open(dir.path())?;
/// // A second writable open of the same directory: held by `db`.
/// let locked = ProfileDb::open(dir.path()).unwrap_err();
/// assert_eq!(locked.retry(), Retry::Later);
/// // Bad input: running it again fails the same way.
/// db.update(&"user_id:1".parse()?, Update::new().set("plan", "pro"))?;
/// let bad = db.update(&"user_id:1".parse()?, Update::new().increment("plan", 1)).unwrap_err();
/// assert_eq!(bad.retry(), Retry::No);
/// assert_eq!("no colon".parse::<Identifier>().unwrap_err().retry(), Retry::No);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Retry {
    /// Retry at once (a short backoff helps): a transient race that
    /// changed nothing. [`Error::Unsettled`] (a read-only or secondary open
    /// or a `catch_up` raced a busy writer's flushes; retrying when the
    /// writer is less busy succeeds).
    Now,
    /// Retry after a while, with the same handle: the cause is outside the
    /// call and goes away on its own or by an operator's action.
    /// [`Error::Locked`] (another process holds the database: retry the open
    /// once it closes) and [`Error::Storage`] with a full disk: the write
    /// failed and left nothing, and the handle (every clone) writes again
    /// by itself once space is freed — RocksDB checks every 5 seconds and
    /// resumes once there is room for a memtable flush (64 MiB free, or
    /// `write_buffer_bytes` if larger);
    /// reads keep working meanwhile. Also an [`Error::Storage`] RocksDB
    /// reports as busy, timed out or to be tried again, and an
    /// [`Error::Io`] that was interrupted or timed out, or hit a full disk.
    /// And [`Error::ClockJump`]: retention is held until the clock is
    /// corrected or accepted (`accept_clock`).
    Later,
    /// This handle cannot write again: drop **every clone** of it and open
    /// the database again (a reopen recovers every acknowledged write from
    /// the log). [`Error::Storage`] other than a full disk or corruption —
    /// an I/O error RocksDB does not recover from, such as the database
    /// directory removed underneath the handle (then the reopen fails with
    /// [`Error::NotADatabase`]: the data is gone).
    Reopen,
    /// Do not redo the operation: its write committed, and only a
    /// follow-up step did not finish, which finishes by itself.
    /// [`Error::PurgePending`] (an erase or anonymize committed; the purge
    /// of its bytes runs at the next compaction, erase, tick or open) and
    /// [`Error::ReadStillOpen`] (its cause).
    Done,
    /// Running the same operation again fails the same way: fix the input,
    /// the request or the database first. Every input error
    /// ([`Error::InvalidIdentifier`], `InvalidTraitName`,
    /// `InvalidTraitValue`, `TypeMismatch`, `InvalidExpression`,
    /// `InvalidEvent`, `SchemaViolation`, `InvalidInput`,
    /// `UnknownPurpose`, `UnknownExportPurpose`, `Suppressed`,
    /// `StrictBatchSplit`, `SecretKey`), what asks for something that is
    /// not there or no longer kept (`NotFound`, `HistoryTruncated`,
    /// `WindowBeforeRetention`, `TimelineBeforeRetention`,
    /// `FeedTruncated`, `MembershipBeforeRetention`), the wrong
    /// kind of handle or directory (`ReadOnly`, `NotADatabase`,
    /// `ForeignDatabase`, `UnsupportedFormat`, `UpgradeRefused`), damage (`Corrupt`,
    /// `WalDamaged`: restore, or salvage a copy, first; and
    /// [`Error::Storage`] reporting corruption, a read-only file system or
    /// a permission refused) and other [`Error::Io`] errors.
    /// [`Error::BatchRejected`] and [`Error::SegmentEvaluation`] are
    /// classified by their `source`.
    No,
}

impl Error {
    /// Whether, and when, to run the failed operation again: see
    /// [`Retry`], which lists the errors of each answer.
    pub fn retry(&self) -> Retry {
        match self {
            Error::Unsettled { .. } | Error::Conflict(_) => Retry::Now,
            Error::Locked { .. } | Error::ClockJump { .. } => Retry::Later,
            Error::Storage { detail, .. } => storage_retry(detail),
            Error::PurgePending { .. } | Error::ReadStillOpen { .. } => Retry::Done,
            Error::BatchRejected { source, .. } | Error::SegmentEvaluation { source, .. } => source.retry(),
            Error::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::Interrupted
                | std::io::ErrorKind::WouldBlock
                | std::io::ErrorKind::TimedOut
                | std::io::ErrorKind::StorageFull => Retry::Later,
                _ => Retry::No,
            },
            Error::InvalidIdentifier { .. }
            | Error::InvalidTraitName { .. }
            | Error::InvalidTraitValue { .. }
            | Error::TypeMismatch { .. }
            | Error::InvalidExpression { .. }
            | Error::InvalidEvent { .. }
            | Error::SchemaViolation { .. }
            | Error::InvalidInput(_)
            | Error::UnsupportedFormat { .. }
            | Error::UpgradeRefused { .. }
            | Error::ForeignDatabase { .. }
            | Error::NotADatabase(_)
            | Error::Corrupt { .. }
            | Error::WalDamaged { .. }
            | Error::NotFound(_)
            | Error::HistoryTruncated { .. }
            | Error::FeedTruncated { .. }
            | Error::MembershipBeforeRetention { .. }
            | Error::UnknownPurpose { .. }
            | Error::UnknownExportPurpose { .. }
            | Error::Suppressed { .. }
            | Error::WindowBeforeRetention { .. }
            | Error::TimelineBeforeRetention { .. }
            | Error::ReadOnly(_)
            | Error::StrictBatchSplit
            | Error::SecretKey { .. } => Retry::No,
        }
    }
}

/// RocksDB's report of a full disk.
pub(crate) fn is_disk_full(detail: &str) -> bool {
    detail.contains("No space left on device")
}

/// A [`Error::Storage`] by what RocksDB reported.
fn storage_retry(detail: &str) -> Retry {
    if is_disk_full(detail)
        || detail.contains("Resource busy: ")
        || detail.contains("Try again.")
        || detail.contains("Operation timed out: ")
    {
        Retry::Later
    } else if detail.contains("Corruption: ")
        || detail.contains("Read-only file system")
        || detail.contains("Permission denied")
    {
        Retry::No
    } else {
        Retry::Reopen
    }
}

#[cfg(test)]
mod tests {
    use super::Retry;
    use crate::error::Error;

    fn storage(detail: &str) -> Error {
        Error::Storage { op: "write", cf: "*", detail: detail.into() }
    }

    #[test]
    fn storage_errors_are_classified_by_what_rocksdb_reported() {
        let full = "IO error: No space left on device: While appending to file: db/000043.log: No space left on device";
        assert_eq!(storage(full).retry(), Retry::Later);
        assert_eq!(storage("Resource busy: compaction").retry(), Retry::Later);
        assert_eq!(storage("Corruption: block checksum mismatch").retry(), Retry::No);
        assert_eq!(storage("IO error: db/LOCK: Read-only file system").retry(), Retry::No);
        let gone = "IO error: No such file or directory: While open a file for appending: db/000013.log";
        assert_eq!(storage(gone).retry(), Retry::Reopen);
        let purge = Error::PurgePending { action: "erase", source: Box::new(storage(full)) };
        assert_eq!(purge.retry(), Retry::Done, "the erase committed");
        let batch = Error::BatchRejected {
            position: 3,
            rejected: 1,
            applied: 3,
            source: Box::new(Error::Locked { path: "db".into(), detail: "held".into() }),
        };
        assert_eq!(batch.retry(), Retry::Later, "a batch is classified by its first rejection");
        let io = |kind| Error::Io { path: "f".into(), source: std::io::Error::from(kind) };
        assert_eq!(io(std::io::ErrorKind::Interrupted).retry(), Retry::Later);
        assert_eq!(io(std::io::ErrorKind::NotFound).retry(), Retry::No);
    }
}
