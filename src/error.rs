//! The crate's error type: every variant says what failed and where.

use std::path::PathBuf;

/// A `Result` whose error is [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in profiledb.
///
/// Variants carry the context needed to act on them: which input, which
/// column family, which key. Input errors are raised before anything is
/// written, so a call that fails with one of them has changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An identifier (`kind:value`) was malformed or not allowed.
    #[error("invalid identifier {input:?}: {reason}")]
    InvalidIdentifier {
        /// The identifier as given (truncated to 80 characters).
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A trait name was malformed or collides with another trait's nesting.
    #[error("invalid trait name {name:?}: {reason}")]
    InvalidTraitName {
        /// The trait name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A trait value was not acceptable (too large, wrong shape, ...).
    #[error("invalid value for trait {name:?}: {reason}")]
    InvalidTraitValue {
        /// The trait name.
        name: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// An operator does not apply to the trait's current type.
    #[error("cannot {op} trait {name:?}: it holds {found}, the operator needs {expected}")]
    TypeMismatch {
        /// The trait name.
        name: String,
        /// The operator (`increment`, `add_to_set`, ...).
        op: &'static str,
        /// The type the trait currently holds.
        found: &'static str,
        /// The type the operator needs.
        expected: &'static str,
    },
    /// A segment expression could not be parsed or type-checked.
    #[error("{}", expression_error(expr, *position, message))]
    InvalidExpression {
        /// The expression text.
        expr: String,
        /// Character offset (0-based) where the problem is.
        position: usize,
        /// What was expected, or what is wrong.
        message: String,
    },
    /// An event could not be parsed or mapped.
    #[error("invalid event {at}: {message}")]
    InvalidEvent {
        /// Where: `line 3`, `message_id m-1`, `batch position 7`...
        at: String,
        /// What is wrong.
        message: String,
    },
    /// An event broke its schema.
    #[error("{}", schema_violation(event, property, rule))]
    SchemaViolation {
        /// The event name.
        event: String,
        /// The property (empty: the rule is about the event itself, such as
        /// an event name with no schema where unknown events are refused).
        property: String,
        /// The rule it broke (`is required`, `must be a number`, ...).
        rule: String,
    },
    /// Input that is not an identifier or trait but was still invalid
    /// (an option, a limit, a request shape).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The database was written in a format this build cannot read.
    #[error(
        "database at {path} has format version {found}, this build reads versions \
         {oldest_supported}..={current}"
    )]
    UnsupportedFormat {
        /// The database directory.
        path: PathBuf,
        /// The version recorded in the database.
        found: u32,
        /// The oldest version this build opens.
        oldest_supported: u32,
        /// The version this build writes.
        current: u32,
    },
    /// A writable open could not upgrade the database to this build's
    /// format without merging people or losing a mapping (format 14 → 15:
    /// two stored spellings of one identifier belong to different
    /// profiles). Nothing was written: the database is still readable by
    /// this build read-only, and writable by the build that wrote it.
    #[error("cannot upgrade the database at {path} from format {from} to {to}: {detail}; nothing was written")]
    UpgradeRefused {
        /// The database directory.
        path: PathBuf,
        /// The version recorded in the database.
        from: u32,
        /// The version the refused step leads to.
        to: u32,
        /// What stands in the way, and the way out.
        detail: String,
    },
    /// The database directory is held open by another process (or handle).
    #[error(
        "database at {path} is already open in another process or handle ({detail}); within one process, \
         clone the open ProfileDb (clones share one database) instead of opening it again"
    )]
    Locked {
        /// The database directory.
        path: PathBuf,
        /// What RocksDB reported.
        detail: String,
    },
    /// The path holds a RocksDB database (or data) that profiledb did not
    /// write — or one too damaged to tell (a truncated MANIFEST can list no
    /// family of ours): a writable open refuses to change it.
    #[error(
        "{path} holds a RocksDB database profiledb did not write, or a damaged one ({detail}): refusing to open it \
         for writing"
    )]
    ForeignDatabase {
        /// The database directory.
        path: PathBuf,
        /// What marks it as foreign.
        detail: String,
    },
    /// A read-only or secondary open, or a secondary's catch-up, beside a
    /// live writer never got a consistent view: the writer's flushes or
    /// compactions replaced files it needed during every attempt (retried
    /// for about 1.3 s). Nothing
    /// inconsistent was returned.
    #[error(
        "a writer flushing or compacting {path} replaced files during each of {attempts} attempts to read a \
         consistent view of it ({op}); nothing inconsistent was returned. Try again when the writer is less busy"
    )]
    Unsettled {
        /// `open` or `catch_up`.
        op: &'static str,
        /// The database directory.
        path: PathBuf,
        /// How many times the read was tried.
        attempts: u32,
    },
    /// A write-ahead log file (`*.log` in the database directory: writes
    /// that were acknowledged but are not yet in table files) is missing,
    /// has another size than the database recorded, or is damaged before
    /// its last record. Opening anyway would silently lose acknowledged
    /// writes, so the open failed and changed nothing. Restore the file, or
    /// the directory from a backup; or open with
    /// [`WalRecovery::Salvage`](crate::WalRecovery::Salvage) to keep what
    /// precedes the damage and lose the rest.
    #[error(
        "the database at {path} was not opened: a write-ahead log file (*.log, holding acknowledged writes that are \
         not yet in table files) is missing or damaged before its end ({detail}). Opening it would silently lose \
         acknowledged writes; nothing was read or changed. Restore the missing or damaged *.log file, or the \
         directory from a backup; or, accepting the loss of every write from the damaged point on, open it with \
         Builder::wal_recovery(WalRecovery::Salvage)"
    )]
    WalDamaged {
        /// The database directory.
        path: PathBuf,
        /// What RocksDB reported (the log file or its number, and the damage).
        detail: String,
    },
    /// There is no database at the path and `create_if_missing` was off.
    #[error("no database at {0} (create it with create_if_missing, or `profiledb init`)")]
    NotADatabase(PathBuf),
    /// A RocksDB operation failed. The message names the column family
    /// unless the operation was on the whole database (`*`), and adds what
    /// to do when the cause is a full disk or a directory that cannot be
    /// written. [`Error::retry`] says whether the handle can go on: after a
    /// full disk it writes again by itself once space is freed
    /// ([`Retry::Later`](crate::Retry::Later)); after most other I/O
    /// errors every clone must be dropped and the database reopened
    /// ([`Retry::Reopen`](crate::Retry::Reopen)).
    #[error("{}", storage_error(op, cf, detail))]
    Storage {
        /// The operation (`get`, `write`, `open`, ...).
        op: &'static str,
        /// The column family involved, or `*` for whole-database operations.
        cf: &'static str,
        /// What RocksDB reported.
        detail: String,
    },
    /// An erase or anonymize committed (the person is gone from every
    /// read), but the compaction that removes their bytes from the table
    /// files could not finish: it failed — typically for lack of disk
    /// space — or a read that began before the erase was still open
    /// (`source` is then [`Error::ReadStillOpen`]: a compaction keeps
    /// what an open read can still see). The purge stays pending
    /// (recorded in the database; [`purge_pending`](crate::ProfileDb::purge_pending))
    /// until a purge succeeds: [`compact`](crate::ProfileDb::compact), the
    /// next erase or anonymize, or the next writable open runs it — and,
    /// after a read held it up, the next [`tick`](crate::ProfileDb::tick).
    #[error("{}", purge_pending_message(action, source))]
    PurgePending {
        /// What committed: `erase`, `anonymize`, or `an earlier erase or
        /// anonymize` (a purge resumed at open).
        action: &'static str,
        /// Why the compaction failed, or [`Error::ReadStillOpen`].
        source: Box<Error>,
    },
    /// Why a purge ([`Error::PurgePending`]'s `source`) did not run: a read
    /// that began before the erase or anonymize it follows — a query,
    /// export, check, dump or history read on another thread, each of
    /// which reads a snapshot — was still open after the purge waited for
    /// it ([`PURGE_READ_WAIT`](crate::PURGE_READ_WAIT)), and a compaction
    /// keeps every version an open snapshot can still see.
    #[error(
        "a read that began before it (a query, export, check, dump or history read on another thread, which reads a \
         snapshot of the data as it was) was still open after the purge waited {} s for it, and a compaction keeps \
         what an open read can still see",
        waited.as_secs_f64()
    )]
    ReadStillOpen {
        /// How long the purge waited for the read to end.
        waited: std::time::Duration,
    },
    /// A stored key or value could not be decoded: the database is corrupt
    /// or was written by an incompatible build.
    #[error("corrupt {what} in column family {cf} at key {key_hex}: {reason}")]
    Corrupt {
        /// The column family.
        cf: &'static str,
        /// What was being decoded (`value`, `key`).
        what: &'static str,
        /// The key, hex encoded (truncated).
        key_hex: String,
        /// Why decoding failed.
        reason: String,
    },
    /// The profile, identifier, version, segment, rollup... asked for does
    /// not exist: [`NotFound::kind`] says which, so an application can
    /// branch without reading the message.
    ///
    /// ```
    /// use profiledb::{Error, NotFound, NotFoundKind, ProfileDb, ProfileId};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let status = |e: &Error| match e {
    ///     Error::NotFound(NotFound { kind: NotFoundKind::Profile, .. }) => 404,
    ///     Error::NotFound(_) => 400, // an unknown segment, rollup, ...
    ///     _ => 500,
    /// };
    /// assert_eq!(status(&db.history(ProfileId(7)).unwrap_err()), 404);
    /// assert_eq!(status(&db.segment_count("nope").unwrap_err()), 400);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[error("not found: {0}")]
    NotFound(NotFound),
    /// An as-of read asked for a version older than the retained history.
    #[error("{}", history_truncated(*profile, *requested, *floor))]
    HistoryTruncated {
        /// The profile.
        profile: u32,
        /// The version asked for (0 for a read as of a time: versions
        /// start at 1).
        requested: u64,
        /// The oldest version that can still be reconstructed.
        floor: u64,
    },
    /// A consent purpose not in the configured list, in strict mode.
    #[error("unknown consent purpose {purpose:?} (strict mode; known purposes: {known})")]
    UnknownPurpose {
        /// The purpose as given.
        purpose: String,
        /// The configured purposes, comma-separated.
        known: String,
    },
    /// An export purpose that is not configured.
    #[error("unknown export purpose {purpose:?} (configured: {known})")]
    UnknownExportPurpose {
        /// The export purpose as given.
        purpose: String,
        /// The configured export purposes, comma-separated.
        known: String,
    },
    /// A write carried an identifier of an erased person, and the
    /// suppression policy is to reject it. Nothing was written. The
    /// identifier's value is not repeated here, so the error can be logged.
    #[error("identifier {position} of the operation (kind {kind}) belongs to an erased person: refused")]
    Suppressed {
        /// Its position among the operation's identifiers (0-based).
        position: usize,
        /// Its kind.
        kind: String,
    },
    /// A rollup window reaches before the bucket-retention horizon: the
    /// per-day buckets there were folded into the all-time values.
    #[error(
        "rollup window starts on {window_start} but per-day buckets before {horizon} were folded by bucket \
         retention; use a window starting on or after {horizon}, or all time (`all`, Window::All)"
    )]
    WindowBeforeRetention {
        /// The first day the window asked for (YYYY-MM-DD, UTC).
        window_start: String,
        /// The first day that still has per-day buckets (YYYY-MM-DD, UTC).
        horizon: String,
    },
    /// A [`feed`](crate::ProfileDb::feed) cursor before the oldest record
    /// feed retention kept: the records between it and `oldest` were
    /// deleted, so a consumer reading on would silently miss changes.
    #[error(
        "change feed cursor {from} is before the oldest retained record {oldest}: records before it were deleted \
         by feed retention; re-sync this consumer from a segment export (segment_members / export_segment), \
         then read the feed from feed_head() taken before the export"
    )]
    FeedTruncated {
        /// The cursor asked for.
        from: u64,
        /// The oldest sequence number retention kept (a cursor at or after
        /// it is served).
        oldest: u64,
    },
    /// [`was_member`](crate::ProfileDb::was_member) at a time before the
    /// membership-history floor: membership history retention deleted the
    /// rows that could answer it.
    #[error(
        "membership history of segment {segment:?} before {floor} was deleted by membership history retention; \
         was_member at {requested} cannot be answered (ask for a time at or after {floor})"
    )]
    MembershipBeforeRetention {
        /// The segment.
        segment: String,
        /// The time asked for.
        requested: crate::clock::Timestamp,
        /// The earliest time still answered.
        floor: crate::clock::Timestamp,
    },
    /// A retention step's clock is further ahead of the last retention
    /// step's than `max_clock_jump` allows: no retention floor was raised
    /// and nothing was deleted. A clock that ran ahead and is corrected
    /// ends it by itself; after a real pause longer than the limit, check
    /// the clock and call [`accept_clock`](crate::ProfileDb::accept_clock).
    #[error(
        "clock jump: the clock reads {to}, {ahead_days:.1} days after the last retention step at {from} (more than \
         max_clock_jump allows); retention is held so that a wrong clock deletes nothing — if the clock is right \
         (the database was idle that long), accept it with accept_clock (CLI: tick --accept-clock), else correct \
         the clock"
    )]
    ClockJump {
        /// The clock of the last retention step.
        from: crate::clock::Timestamp,
        /// The clock now.
        to: crate::clock::Timestamp,
        /// `to − from` in days.
        ahead_days: f64,
    },
    /// A read of events reaches before the timeline floor: timeline
    /// retention may have deleted events there, so the part of a day it
    /// needs cannot be read exactly (a window longer than the timeline
    /// retention that cut it, e.g. set by a pass run with a shorter one).
    #[error(
        "events from {from} are needed, but timeline retention may have deleted the events before {floor}; use a window \
         starting at or after {floor}, or all time (`all`, Window::All)"
    )]
    TimelineBeforeRetention {
        /// The first instant the read needs (RFC 3339, UTC).
        from: String,
        /// The timeline floor (RFC 3339, UTC): events before it may be gone.
        floor: String,
    },
    /// Evaluating a segment for a profile failed (a storage error, or a
    /// condition retention no longer lets it answer): the write, wake-up
    /// or retention step that needed it did not happen for that profile.
    #[error("evaluating segment {segment:?} for profile {profile}: {source}")]
    SegmentEvaluation {
        /// The segment.
        segment: String,
        /// The profile.
        profile: u32,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// The database was opened read-only and a write was attempted.
    #[error("database is open read-only; {0} needs a writable handle")]
    ReadOnly(&'static str),
    /// In a strict batch, an event merges away a profile that an earlier
    /// event of the same batch wrote (an event on it, or a merge of another
    /// profile into it, as an alias event does): the merge cannot see those
    /// staged writes, so the two cannot commit as the one unit a strict
    /// batch is.
    /// Nothing was written; split the batch before this event (the events
    /// before it, then the rest) or send it without `strict`.
    #[error(
        "this event merges away a profile that an earlier event of the same strict batch wrote, and a strict batch \
         commits as one unit: split the batch before this event, or send it without strict"
    )]
    StrictBatchSplit,
    /// A batch had rejected events
    /// ([`BatchReport::into_result`](crate::BatchReport::into_result)):
    /// the first one's position in the batch and error. The events that
    /// were not rejected committed (`applied` of them), unless the batch was
    /// strict (then `applied` is 0 and nothing was written).
    #[error("event {position} of the batch was rejected: {source} ({rejected} rejected in all, {applied} applied)")]
    BatchRejected {
        /// The first rejected event's position in the batch.
        position: usize,
        /// How many events were rejected.
        rejected: usize,
        /// How many events were applied.
        applied: u64,
        /// Why the first was rejected.
        #[source]
        source: Box<Error>,
    },
    /// An internal retry signal: an operation must be redone in a batch of
    /// its own. Never returned to callers.
    #[doc(hidden)]
    #[error("internal conflict: {0}")]
    Conflict(&'static str),
    /// The database's suppression key is held outside it and the open gave
    /// none, or a wrong one (or gave one to a database that stores its
    /// own): nothing was written. See [`Builder::secret_key`](crate::Builder::secret_key).
    #[error("the suppression key of the database at {path}: {detail}; nothing was written")]
    SecretKey {
        /// The database directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// An I/O error outside RocksDB (reading an import file, the fixture, ...).
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Shorthand for [`Error::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    /// An [`Error::NotFound`] of `kind`, described by `what` (the message
    /// after `not found: `).
    pub(crate) fn not_found(kind: NotFoundKind, what: impl Into<String>) -> Self {
        Error::NotFound(NotFound { kind, what: what.into() })
    }

    /// [`Error::NotFound`] of the profile `id`.
    pub(crate) fn no_profile(id: impl std::fmt::Display) -> Self {
        Error::not_found(NotFoundKind::Profile, format!("profile {id}"))
    }

    /// What kind of thing was not found, for an [`Error::NotFound`]
    /// (`None` for every other error).
    pub fn not_found_kind(&self) -> Option<NotFoundKind> {
        match self {
            Error::NotFound(n) => Some(n.kind),
            _ => None,
        }
    }
}

/// What an [`Error::NotFound`] did not find, and its description.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NotFound {
    /// What kind of thing was asked for.
    pub kind: NotFoundKind,
    /// Which one, as the message says it (`profile 12`, `segment "vip"`,
    /// `rollup "spend"`, `version 9 of profile 3 (versions 1..=4 exist)`).
    pub what: String,
}

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.what)
    }
}

/// The kinds of thing an [`Error::NotFound`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NotFoundKind {
    /// A profile id (neither live nor merged into a live profile).
    Profile,
    /// An identifier no profile has (erase, anonymize, export).
    Identifier,
    /// A version of a profile, or the merge an as-of read needed.
    Version,
    /// A segment name.
    Segment,
    /// A rollup name (declared, or an event name's automatic
    /// `<event>.count`, `.first`, `.last`).
    Rollup,
    /// An event name no stored event has (RFM's purchase event).
    Event,
    /// A trait index.
    TraitIndex,
    /// The RFM model (never computed).
    RfmModel,
    /// The format version record of the database.
    FormatVersion,
}

/// Hex-encodes at most 64 bytes of `bytes` for error messages.
pub(crate) fn hex_prefix(bytes: &[u8]) -> String {
    let mut s: String = bytes.iter().take(64).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 64 {
        s.push('…');
    }
    s
}

/// Truncates user input quoted in an error message.
pub(crate) fn quote_input(s: &str) -> String {
    if s.chars().count() > 80 {
        let mut t: String = s.chars().take(80).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

/// The message of [`Error::SchemaViolation`]: a rule about the event
/// itself names no property.
fn schema_violation(event: &str, property: &str, rule: &str) -> String {
    if property.is_empty() {
        format!("event {event:?} {rule}")
    } else {
        format!("event {event:?} breaks its schema: property {property:?} {rule}")
    }
}

/// The message of [`Error::Storage`].
/// [`Error::PurgePending`]'s message: what to do depends on why.
fn purge_pending_message(action: &str, source: &Error) -> String {
    let head = format!(
        "{action} committed (the person is gone from every read), but their bytes are still in the database files"
    );
    match source {
        Error::ReadStillOpen { .. } => format!(
            "{head}: {source}. The purge stays pending: it runs once no read that began before the {action} is open — \
             at the next erase or anonymize, tick, `profiledb compact` (ProfileDb::compact) or writable open"
        ),
        _ => format!(
            "{head}: the compaction that removes them failed ({source}). The purge stays pending: free disk space, \
             then run `profiledb compact` (ProfileDb::compact) or open the database for writing, which finishes it"
        ),
    }
}

/// What [`Error::Storage`] adds for a full disk: RocksDB stops writes and
/// resumes them by itself once space returns (its `SstFileManager` polls),
/// so the same handle works again — no reopen is needed.
const DISK_FULL_ADVICE: &str = " (the disk is full: nothing of this operation was written; free space — the handle and \
     its clones write again by themselves within about 5 s once 64 MiB (or write_buffer_bytes, if larger) are free, so retry later; reads still work)";

fn storage_error(op: &str, cf: &str, detail: &str) -> String {
    let mut out = match cf {
        "*" => format!("storage error during {op}: {detail}"),
        cf => format!("storage error during {op} on column family {cf}: {detail}"),
    };
    if crate::error_retry::is_disk_full(detail) {
        out.push_str(DISK_FULL_ADVICE);
    } else if detail.contains("Read-only file system") || detail.contains("Permission denied") {
        out.push_str(" (the database directory cannot be written here: read-only opens still work)");
    }
    out
}

/// The message of [`Error::InvalidExpression`]: the position (in
/// characters), and the line it is on with a caret under it (line and
/// column too when the expression spans lines).
fn expression_error(expr: &str, position: usize, message: &str) -> String {
    let mut start = 0;
    let mut lines = expr.split('\n').enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let len = line.chars().count();
        if position <= start + len || lines.peek().is_none() {
            let column = position.saturating_sub(start);
            let at = if n == 0 && lines.peek().is_none() {
                format!("position {position}")
            } else {
                format!("line {}, column {} (position {position})", n + 1, column + 1)
            };
            return format!("invalid expression at {at}: {message}\n{}", excerpt(line, column));
        }
        start += len + 1;
    }
    format!("invalid expression at position {position}: {message}")
}

/// Characters of a long line shown on each side of the position.
const EXCERPT_SIDE: usize = 40;

/// `line` indented, with the character at `column` pointed at: a window
/// of the line around it when the line is long; tabs and other control
/// characters shown as spaces, so each character before the position
/// takes one column. When one of those is not ASCII (a wide CJK
/// character, an emoji, a combining mark) a caret cannot be placed by
/// counting, so a `▶` in the line marks the position instead.
fn excerpt(line: &str, column: usize) -> String {
    let chars: Vec<char> = line.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let column = column.min(chars.len());
    let width = 2 * EXCERPT_SIDE;
    let from = column.saturating_sub(EXCERPT_SIDE).min(chars.len().saturating_sub(width));
    let to = chars.len().min(from + width);
    let (lead, tail) = (if from > 0 { "…" } else { "" }, if to < chars.len() { "…" } else { "" });
    let before: String = chars[from..column].iter().collect();
    let after: String = chars[column..to].iter().collect();
    if before.is_ascii() {
        let pad = " ".repeat(before.len() + lead.chars().count());
        format!("  {lead}{before}{after}{tail}\n  {pad}^")
    } else {
        format!("  {lead}{before}▶{after}{tail}\n  (▶ marks the position)")
    }
}

/// The message of [`Error::HistoryTruncated`]: a read by time names no
/// version (`requested` 0).
fn history_truncated(profile: u32, requested: u64, floor: u64) -> String {
    let what =
        if requested == 0 { "the state at the time asked for".to_owned() } else { format!("version {requested}") };
    format!("history of profile {profile} before version {floor} was folded by retention; {what} can no longer be reconstructed")
}

#[cfg(test)]
mod tests {
    use super::Error;

    #[test]
    fn storage_errors_name_a_family_only_when_there_is_one_and_say_what_to_do() {
        let full = Error::Storage {
            op: "write",
            cf: "*",
            detail: "IO error: No space left on device: While appending to file: db/000014.log".into(),
        };
        let text = full.to_string();
        assert!(text.starts_with("storage error during write: IO error"), "{text}");
        assert!(text.contains("(the disk is full: nothing of this operation was written; free space"), "{text}");
        assert!(text.contains("write again by themselves"), "{text}");
        let ro = Error::Storage { op: "open", cf: "*", detail: "IO error: db/LOG: Read-only file system".into() };
        assert!(ro.to_string().contains("read-only opens still work"), "{ro}");
        let cf = Error::Storage { op: "get", cf: "profile", detail: "Corruption: bad block".into() };
        assert_eq!(cf.to_string(), "storage error during get on column family profile: Corruption: bad block");
    }
}
