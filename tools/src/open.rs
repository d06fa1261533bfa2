//! Opening the database the way each kind of command needs it.
//!
//! - [`for_reading`]: read-only (falling back to a secondary instance):
//!   neither takes the writer's lock, so read commands work beside an
//!   application that has the database open.
//! - [`for_writing`]: exclusive read-write; never creates a database.
//! - [`create`]: exclusive read-write, creating the database (`init`).
//!
//! Writers commit with [`Durability::Sync`] (every commit fsynced), so a
//! command that prints success has made its writes survive power loss;
//! only `import` ([`for_import`]) commits without and syncs once before its
//! summary.
//!
//! Each first refuses a path that is a file rather than a directory
//! ([`check_dir`]), so that `--db` pointing at a file is bad input (exit 2)
//! and never reads as "no database here, create one".

use std::ops::Deref;
use std::path::Path;

use profiledb::{AccessMode, Builder, Durability, Error, ProfileDb};

use crate::error::CliError;

/// The CLI reads a handful of profiles per run: keep the caches small.
const BLOCK_CACHE_BYTES: usize = 32 << 20;
const PROFILE_CACHE_ENTRIES: usize = 1_000;

/// A handle opened for reading. Dropping it closes the database, then
/// removes the secondary instance's private directory.
pub struct ReadDb {
    // Fields drop in declaration order: the database closes first.
    db: ProfileDb,
    _cleanup: SecondaryCleanup,
}

impl Deref for ReadDb {
    type Target = ProfileDb;
    fn deref(&self) -> &ProfileDb {
        &self.db
    }
}

struct SecondaryCleanup;

impl Drop for SecondaryCleanup {
    fn drop(&mut self) {
        remove_secondary_dirs();
    }
}

/// Opens the database for reading, beside any running writer.
///
/// Read-only comes first: the library's consistent reads (`history`,
/// `identifiers`, `identity_graph`, `dump_cf`) take RocksDB snapshots,
/// which a secondary instance refuses ("snapshot not supported in
/// secondary mode"). A read-only open is a point-in-time view that also
/// works beside a writer (RocksDB keeps every table file open, so the
/// writer's compactions cannot pull files from under it).
///
/// A read-only open can lose a race with a running writer: the writer
/// replaces the MANIFEST on every flush and compaction and deletes the
/// table files a compaction replaced, so a file named by CURRENT or by the
/// MANIFEST can be gone by the time it is opened. That, and only that, is
/// what the secondary fallback is for (a secondary instance tolerates it).
/// But a secondary also skips table files that are missing for good
/// (deleted, or a damaged copy) and answers as if their data were empty,
/// so the fallback is taken only when the failure is a vanished file and
/// it moves: each retry fails on a different file, as it does while a
/// writer keeps replacing them. The same file missing twice in a row (it
/// is still listed by the current MANIFEST), or any other failure (a
/// truncated or corrupt file, permissions), is reported as the read-only
/// open's error.
pub fn for_reading(path: &Path) -> Result<ReadDb, CliError> {
    for_reading_with(path, |b| b)
}

/// How many read-only opens [`for_reading_with`] tries while each fails on
/// a different vanished file, before it falls back to a secondary instance.
const READ_ONLY_ATTEMPTS: u32 = 4;

/// [`for_reading`] with open-time options the database does not store
/// (e.g. an export purpose), set by `configure`.
pub fn for_reading_with(path: &Path, configure: impl Fn(Builder) -> Builder) -> Result<ReadDb, CliError> {
    let builder = || {
        configure(
            ProfileDb::builder(path)
                .create_if_missing(false)
                .block_cache_bytes(BLOCK_CACHE_BYTES)
                .profile_cache_entries(PROFILE_CACHE_ENTRIES),
        )
    };
    check_dir(path)?;
    let cleanup = SecondaryCleanup;
    let mut previous: Option<String> = None;
    let mut attempt = 1;
    loop {
        let err = match builder().access_mode(AccessMode::ReadOnly).open() {
            Ok(db) => return Ok(ReadDb { db, _cleanup: cleanup }),
            Err(e) => e,
        };
        let Some(missing) = vanished_file(&err) else { return Err(err.into()) };
        if previous.as_deref() == Some(missing.as_str()) {
            // Missing again after a fresh look at CURRENT and the MANIFEST:
            // the database still lists it, so it is gone for good.
            return Err(missing_file_error(path, err));
        }
        if attempt == READ_ONLY_ATTEMPTS {
            // Every attempt lost a race on a different file: a busy writer.
            return match builder().access_mode(AccessMode::Secondary).open() {
                Ok(db) => Ok(ReadDb { db, _cleanup: cleanup }),
                // The read-only failure is the one that explains the problem.
                Err(_) => Err(err.into()),
            };
        }
        previous = Some(missing);
        std::thread::sleep(std::time::Duration::from_millis(20 << attempt));
        attempt += 1;
    }
}

/// The RocksDB message of an open that failed because a file it was opening
/// did not exist (the message names the file), else `None`.
fn vanished_file(e: &Error) -> Option<String> {
    match e {
        Error::Storage { op: "open", detail, .. } if detail.contains("No such file or directory") => {
            Some(detail.clone())
        }
        _ => None,
    }
}

/// A file the database lists is missing: say so plainly (the read found
/// nothing wrong with the request; the database directory is damaged).
fn missing_file_error(path: &Path, e: Error) -> CliError {
    CliError::Refused(format!(
        "the database at {} is damaged: a file it lists is missing ({e}); nothing was read. Restore the \
         directory from a backup (see `profiledb backup`)",
        path.display()
    ))
}

/// Opens an existing database for writing, with exclusive access.
pub fn for_writing(path: &Path) -> Result<ProfileDb, CliError> {
    for_writing_with(path, |b| b)
}

/// [`for_writing`] with open-time options the database does not store
/// (e.g. retention settings), set by `configure`.
pub fn for_writing_with(path: &Path, configure: impl FnOnce(Builder) -> Builder) -> Result<ProfileDb, CliError> {
    check_dir(path)?;
    let builder = ProfileDb::builder(path)
        .create_if_missing(false)
        .durability(Durability::Sync)
        .block_cache_bytes(BLOCK_CACHE_BYTES)
        .profile_cache_entries(PROFILE_CACHE_ENTRIES);
    Ok(configure(builder).open()?)
}

/// Opens the database for the event commands (`import`, `track`): with the
/// event schemas of `--schemas` and the bound of `--max-future-skew`.
pub fn for_ingest(
    path: &Path,
    schemas: Option<profiledb::event::SchemaRegistry>,
    skew: Option<&str>,
) -> Result<ProfileDb, CliError> {
    let skew = skew.map(crate::parse::skew).transpose()?;
    for_writing_with(path, |mut b| {
        if let Some(r) = schemas {
            b = b.event_schemas(r);
        }
        if let Some(ms) = skew {
            b = b.max_future_skew(ms);
        }
        b
    })
}

/// [`for_ingest`] without an fsync per commit (an import of profile or CSV
/// lines commits once per line): the caller must call
/// [`ProfileDb::sync`] before it reports the lines as imported.
pub fn for_import(
    path: &Path,
    schemas: Option<profiledb::event::SchemaRegistry>,
    skew: Option<&str>,
) -> Result<ProfileDb, CliError> {
    let skew = skew.map(crate::parse::skew).transpose()?;
    for_writing_with(path, |mut b| {
        b = b.durability(Durability::Wal);
        if let Some(r) = schemas {
            b = b.event_schemas(r);
        }
        if let Some(ms) = skew {
            b = b.max_future_skew(ms);
        }
        b
    })
}

/// Opens the database for writing, creating it when missing.
pub fn create(path: &Path) -> Result<ProfileDb, CliError> {
    check_dir(path)?;
    Ok(ProfileDb::builder(path)
        .create_if_missing(true)
        .durability(Durability::Sync)
        .block_cache_bytes(BLOCK_CACHE_BYTES)
        .open()?)
}

/// Refuses a database path that is not a directory, or lies under a file:
/// the nearest part of `path` that exists must be a directory (`init`
/// creates what is missing below it). A part that cannot be looked at
/// (permission denied, a symlink loop) is an I/O error naming it, never
/// taken for "missing", so that it does not read as "no database here".
pub fn check_dir(path: &Path) -> Result<(), CliError> {
    for part in path.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        let meta = match std::fs::metadata(part) {
            Ok(meta) => meta,
            Err(e) if is_missing(&e) => continue,
            Err(source) => return Err(CliError::Io { what: format!("cannot access {}", part.display()), source }),
        };
        if meta.is_dir() {
            // A database directory the process may not read has no readable CURRENT.
            return if part == path { exists(path).map(drop) } else { Ok(()) };
        }
        let what = if meta.is_file() { "a file" } else { "neither a directory nor a file" };
        let hint = "point --db or PROFILEDB_PATH at a database directory, or at a new path for `profiledb init`";
        return Err(CliError::Usage(if part == path {
            format!("--db {} is {what}, not a database directory ({hint})", path.display())
        } else {
            format!("--db {}: {} is {what}, not a directory ({hint})", path.display(), part.display())
        }));
    }
    Ok(())
}

/// Whether `path` holds a RocksDB database (its `CURRENT` file). Only "no
/// such file" means no: any other failure to look (permission denied, a
/// symlink loop) is an I/O error naming the path and the reason.
pub fn exists(path: &Path) -> Result<bool, CliError> {
    let current = path.join("CURRENT");
    match std::fs::metadata(&current) {
        Ok(meta) => Ok(meta.is_file()),
        Err(e) if is_missing(&e) => Ok(false),
        Err(source) => Err(CliError::Io { what: format!("cannot access {}", current.display()), source }),
    }
}

/// Whether an I/O error says the path does not exist (or lies under a
/// file, which [`check_dir`] reports itself).
fn is_missing(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}

/// Removes the private directories this process's secondary instances
/// left in the temp directory. The library names them
/// `profiledb-secondary-<pid>-<n>` and does not remove them (see the
/// report: a `Builder::secondary_dir` or cleanup on drop would replace
/// this); only this process's own are touched.
fn remove_secondary_dirs() {
    let prefix = format!("profiledb-secondary-{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_fsync_every_commit_and_an_import_syncs_at_its_end() -> Result<(), CliError> {
        let dir = std::env::temp_dir().join(format!("profiledb-cli-open-test-{}", std::process::id()));
        let db = create(&dir)?;
        assert_eq!(db.durability(), Durability::Sync);
        drop(db);
        assert_eq!(for_writing(&dir)?.durability(), Durability::Sync);
        assert_eq!(for_ingest(&dir, None, None)?.durability(), Durability::Sync);
        let import = for_import(&dir, None, None)?;
        assert_eq!(import.durability(), Durability::Wal);
        import.sync()?;
        drop(import);
        assert!(for_reading(&dir)?.sync().is_err(), "a read-only handle has nothing to sync");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
