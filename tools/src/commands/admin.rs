//! Database administration: init, stats, retain, dump, backup, compact.

use std::io::{BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use profiledb::{ProfileDb, FORMAT_VERSION, OLDEST_SUPPORTED_FORMAT_VERSION};
use serde_json::json;

use super::disk_usage::DirUsage;
use super::Ctx;
use crate::cli::{BackupArgs, DumpArgs, RetainArgs};
use crate::error::CliError;
use crate::open;
use crate::output::table::Table;
use crate::output::{data, escape_bytes, hex_bytes, human_bytes, stdout_error, thousands};
use crate::parse;

/// `init`: creates the database, or confirms an existing one (reporting
/// the format version it stores, which a read-only look never changes).
pub fn init(ctx: &Ctx) -> Result<(), CliError> {
    let path = &ctx.db;
    let existed = open::exists(path)?;
    let stored = if existed {
        // Reads the stored format without taking the write lock or upgrading.
        open::for_reading(path)?.stored_format_version()?
    } else {
        let non_empty = std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(false);
        if non_empty {
            return Err(CliError::Usage(format!(
                "{} is not empty and holds no database; refusing to create one there",
                path.display()
            )));
        }
        refuse_too_long(path)?;
        drop(open::create(path)?);
        FORMAT_VERSION
    };
    let upgrade = stored < FORMAT_VERSION;
    let v = json!({
        "path": path.display().to_string(), "created": !existed, "format_version": stored,
        "build_format_version": FORMAT_VERSION, "upgrade_on_write": upgrade,
    });
    ctx.out.emit(&v, || {
        if !existed {
            format!("created database at {} (format version {FORMAT_VERSION})", path.display())
        } else if upgrade {
            format!(
                "database at {} already exists (format version {stored}); nothing to do. The first writing command \
                 will upgrade it to format version {FORMAT_VERSION} (read commands never do)",
                path.display()
            )
        } else {
            format!("database at {} already exists (format version {stored}); nothing to do", path.display())
        }
    })
}

/// The longest path Linux accepts (`PATH_MAX`, with its terminating NUL).
const PATH_MAX: usize = 4096;

/// The longest name RocksDB gives a file in the database directory
/// (`LOG.old.` and 16 digits is 24 bytes), with room to spare.
const LONGEST_FILE_NAME: usize = 32;

/// Refuses a new database path so long that the files RocksDB writes
/// later (a rotated info log: `LOG.old.<microseconds>`) could not be named:
/// every writing command would then fail.
fn refuse_too_long(path: &Path) -> Result<(), CliError> {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let len = absolute.as_os_str().len();
    if len + 1 + LONGEST_FILE_NAME >= PATH_MAX {
        return Err(CliError::Usage(format!(
            "the database path is {len} bytes long (as an absolute path): the files RocksDB names inside it need \
             {} more, beyond the system's limit of {} bytes; choose a shorter path",
            1 + LONGEST_FILE_NAME,
            PATH_MAX - 1
        )));
    }
    Ok(())
}

/// `stats`: counts, sizes and the format version.
pub fn stats(ctx: &Ctx) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    let profiles = db.profile_count()?;
    let identifiers = db.identifier_count()?;
    let stored_version = db.stored_format_version()?;
    let sizes = db.size_parts()?;
    let total_disk: u64 = sizes.iter().map(|s| s.disk).sum();
    let total: u64 = total_disk + sizes.iter().map(|s| s.memtables).sum::<u64>();
    // Families of later formats that a read-only open of an older database lacks.
    let absent: Vec<&str> =
        ProfileDb::column_families().iter().copied().filter(|cf| sizes.iter().all(|s| s.name != *cf)).collect();
    let segments = db.segments();
    let rollups = db.rollup_defs().len();
    let merged = merged_ids(&db)?;
    let files = DirUsage::of(&ctx.db)?;
    let purge_pending = db.purge_pending()?;
    let feed_head = db.feed_head()?;
    let mut v = json!({
        "path": ctx.db.display().to_string(),
        "format_version": stored_version,
        "build_format_version": FORMAT_VERSION,
        "oldest_supported_format_version": OLDEST_SUPPORTED_FORMAT_VERSION,
        "profiles": profiles,
        "identifiers": identifiers,
        "merged_ids": merged,
        "rollups": rollups,
        "segments": segments.iter().map(data::segment).collect::<Vec<_>>(),
        "column_families": sizes
            .iter()
            .map(|s| json!({"name": s.name, "bytes": s.disk + s.memtables, "disk_bytes": s.disk, "memtable_bytes": s.memtables}))
            .collect::<Vec<_>>(),
        "absent_column_families": absent,
        "purge_pending": purge_pending,
        "feed_head": feed_head,
        "total_bytes": total,
        "total_disk_bytes": total_disk,
        "files": {
            "table_bytes": files.tables, "wal_bytes": files.wal, "other_bytes": files.other,
            "directory_bytes": files.total(),
        },
    });
    super::segments::mark_stale(&db, &mut v)?;
    ctx.out.emit(&v, || {
        let mut t = Table::new(&["COLUMN FAMILY", "ON DISK", "MEMTABLES", "BYTES"]);
        for s in &sizes {
            let bytes = s.disk + s.memtables;
            t.row(vec![s.name.to_owned(), human_bytes(s.disk), human_bytes(s.memtables), bytes.to_string()]);
        }
        for name in &absent {
            t.row(vec![(*name).to_owned(), format!("absent (format {stored_version})"), "-".into(), "-".into()]);
        }
        t.row(vec!["(total)".into(), human_bytes(total_disk), human_bytes(total - total_disk), total.to_string()]);
        format!(
            "database     {}\nformat       version {stored_version} (this build reads \
             {OLDEST_SUPPORTED_FORMAT_VERSION}..={FORMAT_VERSION})\nprofiles     {}\nidentifiers  \
             {}\nmerged ids   {}\nrollups      {rollups} declared\nfeed head    {feed_head} (the next \
             change-feed record's sequence number)\n{}\n{}\n\n{}\n(ON DISK counts \
             each column family's table files only; the files below are everything on disk)\n\n{}",
            ctx.db.display(),
            thousands(profiles),
            thousands(identifiers),
            thousands(merged),
            if purge_pending { PURGE_PENDING_NOTE } else { "" },
            data::segments_table(&segments),
            t.render(),
            files.text(&ctx.db),
        )
    })
}

/// The `stats` line for a purge left pending (a line of its own).
const PURGE_PENDING_NOTE: &str = "purge        PENDING: an erase or anonymize committed, but the compaction that \
                                  removes its bytes from the files has not succeeded (a full disk, or a read that \
                                  began before the erase was still open); free disk space if needed and run \
                                  `profiledb compact`\n";

/// Merged-away profile ids that are aliases of a live profile.
pub fn merged_ids(db: &ProfileDb) -> Result<u64, CliError> {
    Ok(db.alias_count()?)
}

/// `retain --before TIME`: folds old history.
pub fn retain(ctx: &Ctx, a: &RetainArgs) -> Result<(), CliError> {
    let horizon = parse::time("--before", &a.before)?;
    let now = profiledb::Clock::now(&profiledb::SystemClock);
    if horizon > now {
        return Err(CliError::Usage(format!(
            "--before {} is after now ({}): it would fold every version of every profile, which cannot be undone; \
             give a time in the past",
            horizon.to_rfc3339(),
            now.to_rfc3339()
        )));
    }
    if !a.yes {
        return Err(CliError::Usage(format!(
            "retain cannot be undone: every profile's versions before {} are folded into one and can no longer be \
             read; add --yes to confirm",
            horizon.to_rfc3339()
        )));
    }
    let db = open::for_writing(&ctx.db)?;
    let finishing = super::finishing::on_signal(super::finishing::RETAIN)?;
    let bar = crate::output::progress::profiles("retain");
    let report = db.retain_history_with_progress(horizon, &mut crate::output::progress::reporter(&bar));
    bar.finish_and_clear();
    let report = report?;
    let v = json!({
        "before": horizon.to_rfc3339(), "profiles_folded": report.profiles_folded,
        "merged_logs_folded": report.merged_logs_folded, "merged_logs_dropped": report.merged_logs_dropped,
    });
    ctx.out.emit(&v, || {
        format!(
            "folded the history before {horizon} of {} profiles and of {} merged-away ids' logs, deleted {} \
             merged-away ids' logs whose merge was folded; earlier versions can no longer be read",
            report.profiles_folded, report.merged_logs_folded, report.merged_logs_dropped
        )
    })?;
    finishing.finish();
    Ok(())
}

/// `dump --cf NAME`: raw pairs, streamed one at a time (`--limit` stops
/// the scan after N pairs; memory does not grow with the family).
pub fn dump(ctx: &Ctx, a: &DumpArgs) -> Result<(), CliError> {
    if !ProfileDb::column_families().contains(&a.cf.as_str()) {
        return Err(CliError::Usage(format!(
            "unknown column family {:?}; known: {}",
            a.cf,
            ProfileDb::column_families().join(", ")
        )));
    }
    let db = open::for_reading(&ctx.db)?;
    let limit = a.limit.unwrap_or(usize::MAX);
    let fmt = |b: &[u8]| if a.hex { hex_bytes(b) } else { escape_bytes(b) };
    let mut w = BufWriter::new(std::io::stdout().lock());
    let mut shown = 0_usize;
    let mut more = false;
    if ctx.out.json {
        write!(w, "[").map_err(stdout_error)?;
    }
    db.dump_cf_each(&a.cf, |e| {
        if shown == limit {
            // One pair past the limit: there are more; stop reading.
            more = true;
            return Ok(false);
        }
        let value = if is_secret(&a.cf, &e.key) {
            format!("<secret: {} bytes, redacted>", e.value.len())
        } else {
            fmt(&e.value)
        };
        if ctx.out.json {
            let sep = if shown == 0 { "" } else { "," };
            write!(w, "{sep}\n  {}", json!({"key": fmt(&e.key), "value": value})).map_err(stdout_error)?;
        } else {
            writeln!(w, "{} ==> {value}", fmt(&e.key)).map_err(stdout_error)?;
        }
        shown += 1;
        Ok::<bool, CliError>(true)
    })?;
    if ctx.out.json {
        // The array stays a list of pairs (as before); a cut scan ends it
        // with one element that is not a pair.
        if more {
            let sep = if shown == 0 { "" } else { "," };
            write!(w, "{sep}\n  {}", json!({"more": true})).map_err(stdout_error)?;
        }
        writeln!(w, "\n]").map_err(stdout_error)?;
    } else if more {
        writeln!(w, "... more pairs after these {shown} (raise --limit)").map_err(stdout_error)?;
    }
    w.flush().map_err(stdout_error)
}

/// Whether the pair at `key` of column family `cf` is the stored
/// suppression secret, which `dump` never prints: with it, anyone can test
/// guessed identifiers against the erased set (README, "Where the secret
/// lives"). `move-secret-out` takes it out of the database altogether.
fn is_secret(cf: &str, key: &[u8]) -> bool {
    cf == "meta" && key == b"suppression_secret"
}

/// `backup DIR`: a checkpoint, which changes no data in the source.
///
/// RocksDB cannot checkpoint through a read-only handle (it refuses the
/// file-deletion pause a checkpoint needs), and a writable open upgrades a
/// database of an older format. So the source is first opened read-only to
/// read its format; only a database already in this build's format is then
/// opened for writing (which upgrades nothing) to take the checkpoint. An
/// older one is refused with how to copy it instead.
pub fn backup(ctx: &Ctx, a: &BackupArgs) -> Result<(), CliError> {
    if a.dir.exists() {
        return Err(CliError::Usage(format!("backup directory {} already exists", a.dir.display())));
    }
    refuse_inside(&ctx.db, &a.dir)?;
    let stored = open::for_reading(&ctx.db)?.stored_format_version()?;
    if stored != FORMAT_VERSION {
        return Err(CliError::Refused(format!(
            "the database at {} is in format version {stored}, and this build writes format version \
             {FORMAT_VERSION}: a backup needs a writable open, which would upgrade it, so nothing was done. To back \
             it up unchanged, copy the directory (e.g. `cp -a {} {}`) while nothing has it open",
            ctx.db.display(),
            ctx.db.display(),
            a.dir.display()
        )));
    }
    let db = open::for_writing(&ctx.db).map_err(|e| cannot_open_to_back_up(&ctx.db, &a.dir, e))?;
    db.backup(&a.dir)?;
    let v = json!({"path": ctx.db.display().to_string(), "backup": a.dir.display().to_string()});
    ctx.out.emit(&v, || format!("backed up {} to {}", ctx.db.display(), a.dir.display()))
}

/// A writable open of the source failed: when it is read-only or its disk
/// is full, say how to back it up anyway (a copy of the closed directory).
fn cannot_open_to_back_up(db: &Path, dest: &Path, e: CliError) -> CliError {
    let text = e.to_string();
    let why = ["Read-only file system", "Permission denied", "No space left on device"];
    if !why.iter().any(|w| text.contains(w)) {
        return e;
    }
    CliError::Refused(format!(
        "{text}. A backup opens the database for writing (a RocksDB checkpoint needs it), which this directory or its \
         disk does not allow now; nothing was written. Copy the directory instead while nothing writes to it, e.g. \
         `cp -a {} {}`: the copy is a complete backup",
        db.display(),
        dest.display()
    ))
}

/// Refuses a backup directory inside the database directory (or the
/// database directory itself): the copy would land among the files it
/// copies.
fn refuse_inside(db: &Path, dest: &Path) -> Result<(), CliError> {
    let io = |p: &Path| {
        let what = format!("cannot access {}", p.display());
        move |source| CliError::Io { what, source }
    };
    let db_real = db.canonicalize().map_err(io(db))?;
    if resolve_new_path(dest).map_err(io(dest))?.starts_with(&db_real) {
        return Err(CliError::Usage(format!(
            "backup directory {} is inside the database directory {}; choose a directory outside it",
            dest.display(),
            db.display()
        )));
    }
    Ok(())
}

/// `path` made absolute: the part that exists resolved (symlinks, `..`),
/// the part that does not exist yet appended with `..` applied.
fn resolve_new_path(path: &Path) -> std::io::Result<PathBuf> {
    let mut missing = Vec::new();
    let mut existing = path;
    let mut full = loop {
        if existing.as_os_str().is_empty() {
            break std::env::current_dir()?;
        }
        match existing.canonicalize() {
            Ok(real) => break real,
            Err(_) => {
                missing.extend(existing.components().next_back());
                existing = existing.parent().unwrap_or(Path::new(""));
            }
        }
    };
    for part in missing.into_iter().rev() {
        match part {
            Component::ParentDir => {
                full.pop();
            }
            Component::Normal(name) => full.push(name),
            _ => {}
        }
    }
    Ok(full)
}

/// `compact`: flush and compact every column family.
pub fn compact(ctx: &Ctx) -> Result<(), CliError> {
    let db = open::for_writing(&ctx.db)?;
    let before: u64 = db.sizes()?.iter().map(|(_, b)| b).sum();
    let started = std::time::Instant::now();
    db.compact()?;
    let after: u64 = db.sizes()?.iter().map(|(_, b)| b).sum();
    let ms = started.elapsed().as_millis();
    let v = json!({"bytes_before": before, "bytes_after": after, "elapsed_ms": ms});
    ctx.out.emit(&v, || format!("compacted in {ms} ms: {} -> {}", human_bytes(before), human_bytes(after)))
}
