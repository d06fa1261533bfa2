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
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use profiledb::{AccessMode, Builder, Durability, Error, ProfileDb};

use crate::error::CliError;

/// The CLI reads a handful of profiles per run: keep the caches small.
const BLOCK_CACHE_BYTES: usize = 32 << 20;
const PROFILE_CACHE_ENTRIES: usize = 1_000;

/// `--key-file` (or `PROFILEDB_KEY_FILE`), set once by `commands::run`.
static KEY_FILE: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Records `--key-file` for every open of this run.
pub fn set_key_file(path: Option<PathBuf>) {
    // Set once per process; a second call keeps the first value.
    let _ = KEY_FILE.set(path);
}

/// `builder` with the suppression key of `--key-file`, if one was given
/// (the library checks it against the database and its length).
fn keyed(builder: Builder) -> Result<Builder, CliError> {
    let Some(path) = KEY_FILE.get().and_then(Option::as_ref) else { return Ok(builder) };
    let key = std::fs::read(path).map_err(|e| {
        CliError::Usage(format!("--key-file {} (or PROFILEDB_KEY_FILE) cannot be read: {e}", path.display()))
    })?;
    Ok(builder.secret_key(key))
}

/// A handle opened for reading (read-only, or a secondary instance, whose
/// private directory the library removes when it closes).
pub struct ReadDb {
    db: ProfileDb,
}

impl Deref for ReadDb {
    type Target = ProfileDb;
    fn deref(&self) -> &ProfileDb {
        &self.db
    }
}

/// Opens the database for reading, beside any running writer.
///
/// Read-only comes first: a point-in-time view that takes no lock, so it
/// works beside an application that has the database open. The library
/// retries it while the writer's flushes and compactions change the files
/// under it, and returns only a consistent view (see
/// [`profiledb::Error::Unsettled`]). A writer that flushes or compacts
/// without pause never leaves a read-only open such a moment; a secondary
/// instance is tried then, which catches up instead of reopening.
///
/// The secondary is not the first choice: a read-only open reports a table
/// file that is missing for good (deleted, or a damaged copy), where a
/// secondary would skip it and answer as if its data were empty.
pub fn for_reading(path: &Path) -> Result<ReadDb, CliError> {
    for_reading_with(path, |b| b)
}

/// [`for_reading`] with open-time options the database does not store
/// (e.g. an export purpose), set by `configure`.
pub fn for_reading_with(path: &Path, configure: impl Fn(Builder) -> Builder) -> Result<ReadDb, CliError> {
    check_dir(path)?;
    let base = keyed(ProfileDb::builder(path))?;
    let builder = || {
        configure(
            base.clone()
                .create_if_missing(false)
                .block_cache_bytes(BLOCK_CACHE_BYTES)
                .profile_cache_entries(PROFILE_CACHE_ENTRIES),
        )
    };
    let db = match builder().access_mode(AccessMode::ReadOnly).open() {
        Err(Error::Unsettled { .. }) => builder().access_mode(AccessMode::Secondary).open(),
        opened => opened,
    };
    match db {
        Ok(db) => Ok(ReadDb { db }),
        Err(e) if names_a_missing_file(&e) => Err(missing_file_error(path, e)),
        Err(e) => Err(e.into()),
    }
}

/// Whether an open failed because a file the database lists does not exist
/// (the library retries one a running writer deleted, so this one is gone).
fn names_a_missing_file(e: &Error) -> bool {
    matches!(e, Error::Storage { op: "open", detail, .. } if detail.contains("No such file or directory"))
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
    let builder = keyed(ProfileDb::builder(path))?
        .create_if_missing(false)
        .durability(Durability::Sync)
        .block_cache_bytes(BLOCK_CACHE_BYTES)
        .profile_cache_entries(PROFILE_CACHE_ENTRIES);
    Ok(configure(builder).open()?)
}

/// Opens the database for the event commands (`import`, `track`): with the
/// event schemas of `--schemas` (parsed by the caller), the bound of
/// `--max-future-skew`, the `--epoch-unit` and the `--dedup-horizon`.
pub fn for_ingest(
    path: &Path,
    schemas: Option<profiledb::event::SchemaRegistry>,
    opts: &crate::cli::IngestOptions,
) -> Result<ProfileDb, CliError> {
    ingest_with(path, schemas, opts, Durability::Sync)
}

fn ingest_with(
    path: &Path,
    schemas: Option<profiledb::event::SchemaRegistry>,
    opts: &crate::cli::IngestOptions,
    durability: Durability,
) -> Result<ProfileDb, CliError> {
    let skew = opts.max_future_skew.as_deref().map(|s| crate::parse::duration("--max-future-skew", s)).transpose()?;
    let horizon = opts.dedup_horizon.as_deref().map(|s| crate::parse::duration("--dedup-horizon", s)).transpose()?;
    let unit = match opts.epoch_unit {
        crate::cli::EpochUnitArg::Ms => profiledb::event::EpochUnit::Milliseconds,
        crate::cli::EpochUnitArg::S => profiledb::event::EpochUnit::Seconds,
    };
    for_writing_with(path, |mut b| {
        b = b.durability(durability);
        if let Some(r) = schemas {
            b = b.event_schemas(r);
        }
        if let Some(ms) = skew {
            b = b.max_future_skew(ms);
        }
        if let Some(ms) = horizon {
            b = b.dedup_horizon(ms);
        }
        b.epoch_unit(unit)
    })
}

/// [`for_ingest`] without an fsync per commit (an import of profile or CSV
/// lines commits one per line): `import` syncs once, with
/// [`ProfileDb::sync`], before its summary says what was imported.
pub fn for_import(
    path: &Path,
    schemas: Option<profiledb::event::SchemaRegistry>,
    opts: &crate::cli::IngestOptions,
) -> Result<ProfileDb, CliError> {
    ingest_with(path, schemas, opts, Durability::Wal)
}

/// Opens the database for writing, creating it when missing.
pub fn create(path: &Path) -> Result<ProfileDb, CliError> {
    check_dir(path)?;
    Ok(keyed(ProfileDb::builder(path))?
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
        assert_eq!(for_ingest(&dir, None, &Default::default())?.durability(), Durability::Sync);
        let import = for_import(&dir, None, &Default::default())?;
        assert_eq!(import.durability(), Durability::Wal);
        import.sync()?;
        drop(import);
        assert!(for_reading(&dir)?.sync().is_err(), "a read-only handle has nothing to sync");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
