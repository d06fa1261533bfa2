//! The CLI's errors and their exit codes.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | runtime or storage error (RocksDB, I/O, corruption, a refused merge) |
//! | 2 | usage error or bad input (malformed identifier, value, time, reversed time range, import line, an import file that cannot be opened or is a directory, a `--db` path that is a file) |
//! | 3 | not found (database, profile, identifier, version, folded history, segment, rollup, RFM model, trait index) |
//! | 4 | `check` found violations |
//! | 5 | the database is locked by another process |
//! | 130, 143 | `import` stopped by SIGINT (Ctrl-C) or SIGTERM (128 + the signal's number, as shells report a process a signal killed), after committing what it had read |
//!
//! `main` prints `error: <Display>` to stderr and exits with [`CliError::exit_code`].

use std::fmt;
use std::path::PathBuf;

/// Exit code: runtime or storage error.
pub const EXIT_RUNTIME: u8 = 1;
/// Exit code: usage error or bad input.
pub const EXIT_USAGE: u8 = 2;
/// Exit code: not found.
pub const EXIT_NOT_FOUND: u8 = 3;
/// Exit code: a check found violations.
pub const EXIT_VIOLATIONS: u8 = 4;
/// Exit code: the database is locked by another process.
pub const EXIT_LOCKED: u8 = 5;

/// Everything a command can fail with.
#[derive(Debug)]
pub enum CliError {
    /// An error from the library.
    Db(profiledb::Error),
    /// There is no database at the path.
    NoDatabase(PathBuf),
    /// Bad arguments or input found by the CLI itself.
    Usage(String),
    /// The profile or identifier asked for does not exist.
    NotFound(String),
    /// An operation the library accepted but did not carry out (e.g. a
    /// merge the identity rules refused).
    Refused(String),
    /// An I/O error outside the database.
    Io {
        /// What was being done (`reading data.jsonl`).
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An import finished but rejected lines.
    Rejected {
        /// Lines rejected.
        rejected: u64,
        /// Lines written (or acknowledged as duplicates).
        accepted: u64,
        /// Of `accepted`, events skipped as duplicates of a message id
        /// seen before (acknowledged, nothing written).
        duplicates: u64,
        /// Of `accepted`, events dropped for an erased identifier
        /// (acknowledged, nothing written).
        dropped: u64,
        /// Lines read (blank lines excluded).
        lines: u64,
        /// Where `--strict` stopped it: the line and why.
        stopped: Option<(u64, String)>,
        /// `--strict` rejected the whole file before writing anything.
        nothing_written: bool,
    },
    /// Another error, with where it happened (`line 17`).
    Context {
        /// Where.
        context: String,
        /// The error.
        source: Box<CliError>,
    },
    /// An import stopped before the end of its input (a signal, a storage
    /// error): what it committed and where to resume.
    ImportStopped(Box<crate::commands::import::stop::ImportStop>),
    /// `check` found broken invariants (already printed).
    Violations(u64),
    /// Standard output was closed (`profiledb dump ... | head`): not an error.
    BrokenPipe,
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        use profiledb::Error as E;
        match self {
            CliError::Db(e) => match e {
                E::InvalidIdentifier { .. }
                | E::InvalidTraitName { .. }
                | E::InvalidTraitValue { .. }
                | E::TypeMismatch { .. }
                | E::InvalidExpression { .. }
                | E::InvalidEvent { .. }
                | E::SchemaViolation { .. }
                | E::UnknownPurpose { .. }
                | E::UnknownExportPurpose { .. }
                | E::Suppressed { .. }
                | E::SecretKey { .. }
                | E::InvalidInput(_) => EXIT_USAGE,
                E::NotFound(_)
                | E::HistoryTruncated { .. }
                | E::FeedTruncated { .. }
                | E::MembershipBeforeRetention { .. }
                | E::NotADatabase(_) => EXIT_NOT_FOUND,
                E::Locked { .. } => EXIT_LOCKED,
                _ => EXIT_RUNTIME,
            },
            CliError::NoDatabase(_) | CliError::NotFound(_) => EXIT_NOT_FOUND,
            CliError::Usage(_) | CliError::Rejected { .. } => EXIT_USAGE,
            CliError::Refused(_) | CliError::Io { .. } => EXIT_RUNTIME,
            CliError::Context { source, .. } => source.exit_code(),
            CliError::ImportStopped(stop) => stop.exit_code(),
            CliError::Violations(_) => EXIT_VIOLATIONS,
            CliError::BrokenPipe => 0,
        }
    }

    /// Whether this is bad input (exit code 2), as opposed to a failure of
    /// the database or the machine.
    pub fn is_bad_input(&self) -> bool {
        self.exit_code() == EXIT_USAGE
    }

    /// Wraps the error with where it happened.
    pub fn context(self, context: impl Into<String>) -> CliError {
        CliError::Context { context: context.into(), source: Box::new(self) }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The library's advice (clone the open ProfileDb) is for code in
            // the same process; an admin needs to know what still works.
            CliError::Db(profiledb::Error::Locked { path, detail }) => write!(
                f,
                "the database at {} is already open in another process (an application, or another profiledb \
                 command that writes): this command needs exclusive access and changed nothing. Read commands \
                 (get, stats, history, query, ...) still work beside it; run this one again once that process has \
                 closed the database (RocksDB: {detail})",
                path.display()
            ),
            // The library's way out (`WalRecovery::Salvage`) is an option
            // of code; an admin restores, or salvages with a program.
            CliError::Db(profiledb::Error::WalDamaged { path, detail }) => write!(
                f,
                "the database at {} has a missing or damaged write-ahead log (a *.log file: they hold \
                 acknowledged writes not yet in table files): {detail}. Nothing was read or changed. Put the \
                 missing file back or restore the directory from a backup (`profiledb backup` makes one); to \
                 keep what precedes the damage instead, open a copy (`cp -a`) with \
                 `Builder::wal_recovery(WalRecovery::Salvage)` from a program (README, \"Damaged or missing \
                 write-ahead logs\")",
                path.display()
            ),
            CliError::Db(e) => write!(f, "{e}"),
            CliError::NoDatabase(p) => write!(
                f,
                "no database at {} (create one with `profiledb init --db {}`, or point --db or PROFILEDB_PATH at one)",
                p.display(),
                p.display()
            ),
            CliError::Usage(m) | CliError::Refused(m) => f.write_str(m),
            CliError::NotFound(m) => write!(f, "not found: {m}"),
            CliError::Io { what, source } => write!(f, "{what}: {source}"),
            CliError::Rejected { stopped: Some((line, why)), accepted: 0, .. } => {
                write!(f, "line {line}: {why} (--strict: stopped there; nothing was imported)")
            }
            CliError::Rejected { stopped: Some((line, why)), accepted, .. } => write!(
                f,
                "line {line}: {why} (--strict: stopped there; nothing of it or after it was written, {} imported \
                 before it)",
                lines_were(*accepted)
            ),
            CliError::Rejected { rejected, lines, nothing_written: true, .. } => {
                write!(f, "{rejected} of {lines} lines rejected (--strict: nothing was written)")
            }
            CliError::Rejected { rejected, lines, accepted: 0, stopped: None, .. } => {
                write!(f, "{rejected} of {lines} lines rejected (nothing was imported)")
            }
            CliError::Rejected { rejected, lines, accepted, duplicates, dropped, stopped: None, .. } => {
                let written = accepted.saturating_sub(duplicates + dropped);
                write!(f, "{rejected} of {lines} lines rejected (")?;
                if written == 0 {
                    f.write_str("nothing was written")?;
                } else {
                    write!(f, "{} imported", lines_were(written))?;
                }
                if *duplicates > 0 {
                    write!(f, "; {duplicates} skipped as duplicates of a message id seen before")?;
                }
                if *dropped > 0 {
                    write!(f, "; {dropped} dropped for an erased identifier")?;
                }
                f.write_str(")")
            }
            CliError::Context { context, source } => write!(f, "{context}: {source}"),
            CliError::ImportStopped(stop) => write!(f, "{stop}"),
            CliError::Violations(n) => write!(f, "check found {n} violations"),
            CliError::BrokenPipe => f.write_str("standard output closed"),
        }
    }
}

/// "1 line was", "3 lines were".
fn lines_were(n: u64) -> String {
    if n == 1 {
        "1 line was".into()
    } else {
        format!("{n} lines were")
    }
}

impl std::error::Error for CliError {}

impl From<profiledb::Error> for CliError {
    fn from(e: profiledb::Error) -> Self {
        match e {
            profiledb::Error::NotADatabase(p) => CliError::NoDatabase(p),
            other => CliError::Db(other),
        }
    }
}
