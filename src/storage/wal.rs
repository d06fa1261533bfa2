//! The write-ahead logs (`*.log` in the database directory): acknowledged
//! writes not yet in table files. A missing or damaged one must fail the
//! open, not drop those writes silently.
//!
//! By default RocksDB replays the logs it finds up to the first damaged
//! record and drops the rest without an error (point-in-time recovery),
//! and does not notice a deleted log at all. Unless the open salvages
//! ([`StoreOptions::salvage_wal`]):
//! - RocksDB records each log in the MANIFEST once it is closed and synced
//!   (number and size) and its deletion once it is obsolete, and refuses
//!   to open when a recorded log is missing or shorter than recorded. The
//!   bookkeeping is a few bytes in version edits RocksDB writes anyway. A
//!   database written before has no such records: it opens as before.
//! - The log being written is not recorded until it is closed, so a
//!   writable handle closes it when it is dropped ([`seal`]): it flushes
//!   the one column family with the smallest non-empty memtable, which
//!   starts a new, empty log and records the previous one. After a clean
//!   close, every log holding data is recorded.
//! - A damaged record anywhere but at the very end of the last log fails
//!   the open. A record cut short there is a crash during its write (it
//!   was never acknowledged as synced) and is dropped as before.
//!
//! What is not detected: the log a crashed writer was writing (not yet
//! closed, so not recorded) deleted or cut short at a record boundary; and
//! logs deleted from a database last closed before this check existed.
//! A secondary instance cannot verify the MANIFEST's records (RocksDB does
//! not support it there) and replays what it finds.

use std::path::Path;

use super::open::StoreOptions;

/// Sets the options of [`StoreOptions::salvage_wal`] (off: verify).
pub(super) fn verify_at_open(db_opts: &mut rocksdb::Options, opts: &StoreOptions) {
    if opts.salvage_wal {
        db_opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::PointInTime);
        return;
    }
    db_opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::TolerateCorruptedTailRecords);
    if opts.secondary_dir.is_none() {
        db_opts.set_track_and_verify_wals_in_manifest(true);
    }
}

/// What to report when an open failed with `detail` because a
/// write-ahead log is missing or damaged: `detail` with the log file it
/// names. `None` when the failure is not about a log.
///
/// RocksDB's error names a missing log's number; of a damaged record it
/// says only `Corruption: checksum mismatch` (or similar), as it does of a
/// damaged MANIFEST. Its diagnostic `LOG` names the file: a writable open
/// starts `path/LOG` afresh and a secondary its own in `log_dir`; a
/// read-only open writes none, so there (`log_dir` is `None`) `probe`
/// opens the database as a secondary instance, which replays the logs as
/// the read-only open did and writes its `LOG` in a directory of its own,
/// and returns the file that `LOG` names ([`named_in_log`]). (A read-only
/// open that stops at or skips the damaged record instead would tell too,
/// but RocksDB 11.8 crashes in one when a column family's table files are
/// past the damage.)
pub(super) fn damaged_wal(
    log_dir: Option<&Path>,
    detail: &str,
    probe: impl FnOnce() -> Option<String>,
) -> Option<String> {
    if !detail.starts_with("Corruption") {
        return None;
    }
    if let Some(number) = detail.split("log number: ").nth(1) {
        let digits: String = number.chars().take_while(char::is_ascii_digit).collect();
        let number: u64 = digits.parse().ok()?;
        return Some(format!("{detail} (file {number:06}.log)"));
    }
    if detail.contains("WAL") {
        return Some(detail.to_owned());
    }
    let file = match log_dir {
        Some(dir) => named_in_log(dir),
        None => probe(),
    };
    file.map(|file| format!("{detail} in {file}"))
}

/// The log file a failed open's diagnostic `LOG` (in `dir`) reports
/// dropping a damaged record of:
/// `<dir>/000013.log: dropping 722 bytes; Corruption: checksum mismatch`.
pub(super) fn named_in_log(dir: &Path) -> Option<String> {
    let log = std::fs::read(dir.join("LOG")).ok()?;
    let log = String::from_utf8_lossy(&log);
    let line = log.lines().find(|l| l.contains(".log: dropping "))?;
    let end = line.find(".log: dropping ")? + ".log".len();
    let start = line[..end].rfind('/').map_or(0, |i| i + 1);
    Some(line[start..end].to_owned())
}

/// Whether an open failed on a log the MANIFEST it read records but the
/// directory does not have (a writer may have deleted it since).
pub(super) fn names_a_missing_wal(e: &rocksdb::Error) -> bool {
    e.as_ref().contains("Missing WAL with log number")
}

/// Whether a salvage open failed because point-in-time recovery cannot
/// give a consistent prefix: a column family's table files already hold
/// writes from past the damaged record.
pub(super) fn past_the_damage(e: &rocksdb::Error) -> bool {
    e.as_ref().contains("SST file contains data beyond the point of corruption")
}

/// For a salvage whose point-in-time recovery is impossible
/// ([`past_the_damage`]): replay every record that can be read, skipping
/// the damaged ones. What the table files hold stays; what the damaged
/// records held is lost, and later writes may be there without the lost
/// ones (`check` tells).
pub(super) fn skip_damaged_records(db_opts: &mut rocksdb::Options) {
    db_opts.set_wal_recovery_mode(rocksdb::DBRecoveryMode::SkipAnyCorruptedRecord);
}

/// Closes the log a writable handle is writing, so that the MANIFEST
/// records it (see the module documentation): flushes the column family
/// of `families` with the smallest non-empty memtable. Nothing to do when
/// every memtable is empty (the log holds nothing). Best effort: a failure
/// (e.g. a full disk) leaves the log unrecorded, as before.
pub(super) fn seal(db: &rocksdb::DB, families: &[&'static str]) {
    let active_bytes = |name: &str| {
        let handle = db.cf_handle(name)?;
        let entries = db.property_int_value_cf(handle, "rocksdb.num-entries-active-mem-table").ok()??;
        let bytes = db.property_int_value_cf(handle, "rocksdb.cur-size-active-mem-table").ok()??;
        (entries > 0).then_some((bytes, handle))
    };
    let smallest = families.iter().filter_map(|name| active_bytes(name)).min_by_key(|(bytes, _)| *bytes);
    if let Some((_, handle)) = smallest {
        let _ = db.flush_cf(handle);
    }
}
