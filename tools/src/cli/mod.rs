//! The command line: every command, argument and help text, and nothing
//! else. What each command does lives in `commands/`.

mod data;
mod indexes;
mod privacy;
mod segments;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use data::{
    Aggregation, EpochUnitArg, EventsArgs, ImportArgs, ImportFormat, IngestOptions, RfmCommand, RollupCommand,
    RollupDeclareArgs, TrackArgs,
};
pub use indexes::{IndexCommand, RetentionCommand, RetentionSettings, TickArgs};
pub use privacy::{
    AnonymizeArgs, AuditArgs, ConsentCommand, ConsentStateArg, EraseArgs, ExportArgs, MoveSecretOutArgs,
};
pub use segments::{CheckArgs, FeedArgs, Page, QueryArgs, SegmentCommand};

/// Parses a `--limit N`: every command refuses 0 alike (it would show
/// nothing while appearing to answer "there is none").
pub fn limit(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 would show nothing: give a positive number (a large one shows everything)".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{s:?} is not a count: {e}")),
    }
}

/// Shown after the help of every command that only reads.
pub const READ_SAFETY: &str = "Safety: read-only. Opens the database read-only without taking the writer's lock, so \
it is safe while an application has the database open; it sees what was committed when it started (a secondary \
instance is used only while a running writer keeps replacing the files being opened). A missing or damaged database \
file is an error (exit 1), never read as empty.";

/// Shown after the help of every command that writes.
pub const WRITE_SAFETY: &str = "Safety: writes. Needs exclusive access: while an application (or another \
profiledb command) has the database open, it fails with exit code 5 and changes nothing.";

/// Shown after `backup`'s help.
const BACKUP_SAFETY: &str = "Safety: exclusive, and changes no data. It opens the database read-only first; a \
database of an older format is refused (a writable open would upgrade it). A database in this build's format is then \
opened for writing to take the checkpoint, which needs the write lock: while an application has the database open, it \
fails with exit code 5 (back up from inside the application with ProfileDb::backup).";

const EXIT_CODES: &str = "Exit codes:
  0  success
  1  runtime or storage error
  2  usage error or bad input (malformed identifier, value, expression, import line, unopenable import file...)
  3  not found (database, profile, identifier, version, segment, rollup, RFM model, trait index)
  4  `check` found violations
  5  the database is locked by another process
  130, 143  `import` stopped by SIGINT (Ctrl-C) or SIGTERM: it committed the lines it had read, and says how many
       and from which line to resume

Read-only commands are safe while an application has the database open; commands that write need exclusive \
access. Each command's --help says which it is.";

/// profiledb: inspect, import and operate a profile database.
#[derive(Parser, Debug)]
#[command(name = "profiledb", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The database directory.
    #[arg(long, global = true, value_name = "PATH", env = "PROFILEDB_PATH", default_value = "./profiledb-data")]
    pub db: PathBuf,

    /// A file holding the database's suppression key (exactly 192 bytes,
    /// e.g. `head -c 192 /dev/urandom`): the secret of erased identifiers'
    /// suppression hashes and of anonymized Hash values, kept outside the
    /// database so its copies and backups do not carry it. A database
    /// created or upgraded with a key needs it for every command; one that
    /// stores its own secret refuses a key.
    #[arg(long, global = true, value_name = "PATH", env = "PROFILEDB_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// Print JSON for scripts instead of readable tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Every command.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an empty database (writes).
    ///
    /// On an existing database it changes nothing: it prints the format
    /// version the database stores and whether the first writing command
    /// will upgrade it to this build's format.
    #[command(after_help = WRITE_SAFETY)]
    Init,

    /// Profiles, identifiers, segments with counts, size per column family, files on disk, format version (read-only).
    ///
    /// ON DISK per column family counts its table files only; FILES IN
    /// lists everything in the directory: table files, the write-ahead log
    /// (writes not yet flushed into table files) and the rest (MANIFEST,
    /// OPTIONS, RocksDB's info logs), with the directory's total. Counts
    /// are printed with thousands separators, as `demo` prints them.
    ///
    /// --json fields:
    ///   path, format_version          the database and the format it stores
    ///   build_format_version          the format this build writes
    ///   oldest_supported_format_version
    ///   profiles, identifiers         live profiles; identifiers linked to them
    ///   merged_ids                    profile ids merged into another profile (still
    ///                                 working aliases of it; `check` and `demo` say the same)
    ///   rollups                       declared rollups
    ///   segments                      [{name, members, expression, defined_at}]
    ///   column_families               [{name, disk_bytes (table files), memtable_bytes (this
    ///                                 process's memtables: what it replayed from the write-ahead
    ///                                 log), bytes (their sum)}]
    ///   absent_column_families        families of later formats an older database lacks
    ///   total_disk_bytes              every family's table files
    ///   total_bytes                   total_disk_bytes plus this process's memtables (not a size
    ///                                 on disk: see files.directory_bytes)
    ///   files                         {table_bytes, wal_bytes, other_bytes, directory_bytes}:
    ///                                 the directory's files by kind, and all of them
    ///   purge_pending                 an erase or anonymize whose compaction has not succeeded
    ///   feed_head                     the next change-feed record's sequence number
    ///   stale_memberships             {due, at_least, oldest} when wake-ups are due that no tick
    ///                                 processed (null otherwise)
    #[command(after_help = READ_SAFETY, verbatim_doc_comment)]
    Stats,

    /// Print one profile: traits, identifiers, rollups, segments, RFM score (read-only).
    ///
    /// Examples:
    ///   profiledb get email:ann@example.com
    ///   profiledb get --id 42 --as-of 2026-11-01T12:00:00Z
    ///   profiledb get user_id:u1 --as-of 3
    ///   profiledb --json get user_id:u1
    #[command(after_help = READ_SAFETY, verbatim_doc_comment)]
    Get(GetArgs),

    /// Print a profile's history: one row per delta (read-only).
    ///
    /// When the oldest versions can no longer be read, it says why, as far
    /// as the database records it: removed by `anonymize` (its audit
    /// record), folded by `retain` or redacted by the erase of a person whose
    /// identifiers reached the profile (within the recorded history floor),
    /// or missing with no recorded cause (damaged data: run `check`).
    ///
    /// Examples:
    ///   profiledb history email:ann@example.com
    ///   profiledb history --id 42 --limit 10
    #[command(after_help = READ_SAFETY, verbatim_doc_comment)]
    History(HistoryArgs),

    /// Print a profile's identity graph: each identifier, when and how it was linked (read-only).
    #[command(after_help = READ_SAFETY)]
    Identities(ProfileRef),

    /// Change one trait of a profile: set, unset, incr, add, remove (writes).
    #[command(subcommand)]
    Trait(TraitCommand),

    /// Link identifiers to one profile, merging the profiles they reach (writes).
    ///
    /// Unseen identifiers are linked to the profile the others reach (a new
    /// profile when none is known); identifiers that reach different profiles
    /// merge them into the oldest, under the identity rules. Prints the
    /// receipt: the profile, what merged, what was linked, and what was
    /// ignored and why.
    #[command(after_help = WRITE_SAFETY)]
    Identify(IdentifyArgs),

    /// Merge the profiles two known identifiers reach (writes).
    ///
    /// The same mechanism as `identify`, explicit: both identifiers must
    /// already exist. The newer profile merges into the older one, which keeps
    /// its id; the other id stays a working alias. Fails (exit 1) when the
    /// identity rules refuse the merge, e.g. two different user_ids.
    #[command(after_help = WRITE_SAFETY)]
    Merge(MergeArgs),

    /// Split the profile IDENTIFIER came from back off the profile it merged into (writes).
    ///
    /// The restored profile gets its state at the merge plus the later
    /// updates that came only through its identifiers; the survivor is
    /// rebuilt without it. Both histories record the split. When IDENTIFIER's
    /// profile merged into an intermediate one first, the intermediate is
    /// split off; unmerge again to split further. Needs --yes: merging the
    /// two again does not restore the history as it was.
    ///
    /// Example:
    ///   profiledb unmerge anonymous_id:eddfe12aace96e71 --yes
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Unmerge(UnmergeArgs),

    /// Detach an identifier from stitching, or link one explicitly (writes); ask whether one is suppressed (read-only).
    #[command(subcommand)]
    Identifier(IdentifierCommand),

    /// Fold history written before a time into snapshots (writes).
    ///
    /// Afterwards `get --as-of` an earlier version or time fails with "not
    /// found" (exit 3) instead of answering; current states are unchanged.
    #[command(after_help = WRITE_SAFETY)]
    Retain(RetainArgs),

    /// Print the raw keys and values of one column family (read-only).
    ///
    /// Printable bytes are shown as they are, others as \xNN (as RocksDB's
    /// ldb escapes them); --hex prints both sides as hex.
    #[command(after_help = READ_SAFETY)]
    Dump(DumpArgs),

    /// Write a consistent, openable copy of the database to DIR (exclusive).
    ///
    /// A RocksDB checkpoint: table files are hard-linked when DIR is on the
    /// same filesystem. DIR must not exist and must lie outside the database
    /// directory. RocksDB takes checkpoints only through a writable handle
    /// (a copy through a read-only one would also leave out writes still
    /// only in the write-ahead log), and a writable open upgrades a database
    /// of an older format; so backup first reads the stored format
    /// read-only and refuses an older one (exit 1; copy the directory, e.g.
    /// `cp -a`, while nothing has it open). A database in this build's
    /// format is then opened for writing, which changes no data (like any
    /// writer's open, it finishes work a crash interrupted), and
    /// checkpointed. To back up a database an application has open, call
    /// `ProfileDb::backup` from the application.
    ///
    /// Example:
    ///   profiledb --db /var/lib/app/profiles backup /backups/profiles-2026-12-07
    #[command(after_help = BACKUP_SAFETY, verbatim_doc_comment)]
    Backup(BackupArgs),

    /// Flush and compact every column family (writes).
    #[command(after_help = WRITE_SAFETY)]
    Compact,

    /// Load events or profile updates from JSONL or CSV (writes)
    ///
    /// JSONL, one JSON object per line, in any of three shapes (detected per
    /// line; force one with --format):
    ///
    ///   native event:  {"type": "track", "event": "purchase", "timestamp": "2024-05-01T10:00:00Z",
    ///                   "identifiers": {"user_id": "42"}, "properties": {"amount": 30}}
    ///   Segment Spec:  {"type": "identify", "userId": "42", "anonymousId": "a-1",
    ///                   "timestamp": "2024-05-01T10:00:00Z", "traits": {"email": "ann@example.com"}}
    ///   profile line:  {"identifiers": {"email": "a@x.com", "user_id": "1"},
    ///                   "traits": {"plan": "pro", "address": {"city": "Oslo"}}}
    ///
    /// A line with "type" (or Segment's userId, anonymousId, messageId) is an
    /// event: types track, identify, alias, page, screen (see the README's
    /// "Events and rollups"); events go through the library's batch ingest
    /// (stitching, dedup by message id, rollups, segments). Any other object
    /// is a profile line: it links its identifiers (merging profiles as
    /// `identify` does) and sets its traits. Identifier values are strings
    /// or integers, or lists of them; null means absent.
    ///
    /// CSV (--csv, or --format csv): the first row names the columns; --map
    /// says what each column is: COLUMN=KIND makes it an identifier of a
    /// known kind (email=email, id=user_id; the kinds are user_id, email,
    /// phone, device_id, anonymous_id), COLUMN=identifiers.KIND one of any
    /// other kind (card=identifiers.loyalty_id: a bare unknown kind is
    /// refused, since an identifier column stitches every row sharing its
    /// value into one profile), COLUMN=traits.NAME a trait, with an
    /// optional type: traits.NAME:string|number|bool|time (default: numbers
    /// and true/false, in any case, are read as such, anything else as
    /// text). Columns not in --map are ignored; empty cells set nothing.
    /// Example:
    ///
    ///   --csv --map email=email,uid=user_id,plan=traits.plan,zip=traits.zip:string
    ///
    /// A CSV row may span lines inside a quoted cell; it is numbered by its
    /// first line, and a byte that is not UTF-8 anywhere in it rejects the
    /// whole row (reported by line and column).
    ///
    /// Each line (CSV row) is atomic: a rejected line writes nothing. Blank
    /// lines are skipped. Prints accepted and rejected counts, with the line
    /// number and reason of each rejection, and exits 2 when any line was
    /// rejected. With --strict, every line is parsed and validated before
    /// anything is written, and one bad line rejects the whole file (nothing
    /// written); a valid line that fails when applied (an increment of a
    /// text trait, a merge past the merge cap) stops the import there, and
    /// the lines before it stay written.
    /// With --schemas FILE, events are also checked against per-event-name
    /// schemas (format under --schemas below); a violating event is a
    /// rejected line.
    ///
    /// Events are deduplicated by message id within the dedup horizon:
    /// 7 days from the id's first sighting unless --dedup-horizon says
    /// otherwise (it is not stored in the database: give it on every run).
    /// Re-importing a file whose message ids were first seen longer ago
    /// applies its events again; events without a message id are never
    /// deduplicated. Numeric timestamps are epoch milliseconds; a number
    /// that would be before 1973 as milliseconds is refused as probably
    /// seconds (--epoch-unit s reads seconds).
    /// Draws a progress bar (rate, ETA) when stderr is a terminal.
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Import(ImportArgs),

    /// Ingest one event given as JSON, native or Segment Spec (writes).
    ///
    /// The same as one line of `import`: stitching, dedup by message id,
    /// trait updates (identify), rollups and segments, in one atomic write.
    /// Prints the receipt, or that the message id was a duplicate.
    #[command(after_help = WRITE_SAFETY)]
    Track(TrackArgs),

    /// Print a profile's stored events, oldest first (read-only).
    #[command(after_help = READ_SAFETY)]
    Events(EventsArgs),

    /// Declare rollups, list them, read one profile's values (declare writes; list and show read).
    #[command(subcommand)]
    Rollup(RollupCommand),

    /// Recency, frequency, monetary scores: compute the model (writes), or read one profile's score (read-only).
    #[command(subcommand)]
    Rfm(RfmCommand),

    /// Define, list, show, drop segments; list their members (define and drop write).
    #[command(subcommand)]
    Segment(SegmentCommand),

    /// Evaluate a segment expression once, without storing it (read-only)
    ///
    /// The expression language is the one of `segment define` (see the
    /// README's "Segments"): e.g.
    ///   'in high_value and not in cart_abandoners and traits.plan = "pro"'.
    /// Prints the count and the first members; --explain prints how it was
    /// evaluated (bitmap algebra over segment bitmaps, per-profile checks).
    ///
    /// Examples:
    ///   profiledb query 'traits.plan = "pro" and count(purchase, 30d) >= 2' --count
    ///   profiledb query 'in high_value and not in cart_abandoners' --limit 50 --resolve
    ///   profiledb query 'active_days(page_view, 30d) >= 3' --explain
    #[command(after_help = READ_SAFETY, verbatim_doc_comment)]
    Query(QueryArgs),

    /// Index traits for bitmap queries: add, list, drop (add and drop write).
    #[command(subcommand)]
    Index(IndexCommand),

    /// Print the segment change feed: entered, exited, merged, erased records (read-only).
    ///
    /// Records carry increasing sequence numbers, which may have gaps (an
    /// erase deletes the erased profile's records and writes one erased
    /// record); resume with --from the printed next cursor. The feed's
    /// head (the sequence number the next record gets; also in `stats`) is
    /// printed, and a --from past it is warned about: no record can arrive
    /// there until the feed grows that far. The records a tick writes carry
    /// the instants their changes fell due, so `at` can go back in time as
    /// the sequence number increases. --json is streamed, 1,000 records at
    /// a time, so a large --limit does not hold them all: `records` comes
    /// after `from` and `head`, and `next` after `records`.
    #[command(after_help = READ_SAFETY)]
    Feed(FeedArgs),

    /// Process every segment wake-up due now, so time-dependent memberships change on time (writes).
    ///
    /// Applications call `ProfileDb::tick` on a timer; this runs it once.
    /// Like the library's tick, it also enforces retention a bounded amount
    /// (see `retention run`) with the retention settings recorded in the
    /// database (the application's), or with --timeline and --buckets,
    /// which are then recorded. Wake-ups run first, then retention; what
    /// retention removed is reported.
    /// Profiles it could not process (a segment that cannot be evaluated)
    /// are listed and make the exit code 1; the others are processed.
    /// --timeline or --buckets (recorded, and events older than them
    /// deleted for good) need --yes; a plain `tick` applies the recorded
    /// settings, as the application's ticker does, and needs none.
    ///
    /// Examples:
    ///   profiledb tick
    ///   profiledb tick --timeline 400 --yes
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Tick(TickArgs),

    /// Enforce timeline and rollup-bucket retention now (writes).
    #[command(subcommand)]
    Retention(RetentionCommand),

    /// Verify every invariant: identity graph and aliases, history, segment and trait-index bitmaps (read-only).
    ///
    /// Runs the library's check() (identity links both ways, aliases,
    /// profile records, history replay, snapshots) and check_segments()
    /// (every segment re-evaluated for every profile against its bitmap,
    /// and every trait-index bitmap and the live set against a scan of the
    /// profiles).
    /// Exits 0 when clean and 4 when any violation is found. A segment
    /// difference at a profile whose time-dependent wake-up is due but not
    /// yet processed is not a violation: it is counted apart ("due, not yet
    /// processed"; an application that runs tick() processes them; --tick
    /// processes them first, which writes).
    #[command(after_help = READ_SAFETY)]
    Check(CheckArgs),

    /// Export a person's data as one JSON document (writes an audit record), or a segment's members (read-only).
    ///
    /// `export IDENTIFIER`: everything stored about the person (identifiers,
    /// traits, history, events, rollups, segments), recorded in the privacy
    /// audit log (so it writes, and needs exclusive access).
    /// `export --segment NAME` or `export --query EXPR`: one line per
    /// profile (id, identifiers, traits) as JSONL, or CSV with --csv;
    /// read-only.
    #[command(after_help = "Safety: `export IDENTIFIER` writes (an audit record) and needs exclusive access; \
`export --segment` and `export --query` are read-only and safe while an application has the database open.")]
    Export(ExportArgs),

    /// Erase people: profile, identifiers, history, events, rollups, memberships (writes).
    ///
    /// Irreversible; needs --yes. The erased identifiers are kept only as
    /// keyed hashes, so later writes carrying them are refused. The audit
    /// log records each erased person (with --request-id, e.g. a ticket
    /// number), never the identifiers. Several identifiers (`erase ID...`,
    /// `--from-file PATH`) are erased in one batch with one scan of the
    /// database, which costs about what erasing one does.
    ///
    /// Examples:
    ///   profiledb erase email:ann@example.com --yes --request-id TICKET-123
    ///   profiledb erase --from-file requests.txt --yes
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Erase(EraseArgs),

    /// Print the privacy audit log: every erase, export and anonymize, oldest first (read-only).
    ///
    /// Columns: SEQ (the record's number), AT (when), ACTION (erase, export,
    /// anonymize), PROFILE (the person's profile id), ENTRIES (how many
    /// stored entries the action removed, rewrote or returned: for an erase,
    /// the person's own records plus the other profiles' deltas, snapshots
    /// and events it redacted — a batch erase counts those once, in the
    /// record of its first person; for an export, the entries returned; for
    /// an anonymize, those rewritten and removed), REQUEST ID (the
    /// --request-id given, e.g. a ticket number). The log never holds the
    /// identifiers. --json gives the same fields (`entries`).
    #[command(after_help = READ_SAFETY)]
    Audit(AuditArgs),

    /// Show a person's consent per purpose, or record a change.
    #[command(subcommand)]
    Consent(ConsentCommand),

    /// Anonymize a person for analytics-only retention (writes; --dry-run reads only).
    ///
    /// Traits and event properties are dropped unless named with --keep or
    /// --hash (a dotted parent covers its children); identifiers are removed
    /// and suppressed, consent and history folded away; rollups and segment
    /// membership stay. The files are compacted afterwards.
    /// Irreversible; needs --yes. --dry-run instead lists what would be
    /// removed, kept, hashed and dropped and changes nothing. A --keep or
    /// --hash name that is no trait or event property of the person is
    /// warned about on stderr.
    #[command(after_help = "Safety: writes, and needs exclusive access (exit code 5 while an application has the \
database open); with --dry-run, read-only and safe beside an application.")]
    Anonymize(AnonymizeArgs),

    /// Move the stored suppression secret into a key file (writes).
    ///
    /// By default the secret that keys erased identifiers' hashes and
    /// anonymize's `Hash` values is stored in the database, so every copy
    /// and backup carries it. This writes it to a new file (--to, mode 600,
    /// fsynced), then deletes it from the database, records a check value
    /// and compacts the files. From then on every command needs
    /// `--key-file PATH` (or PROFILEDB_KEY_FILE). Keep the file outside the
    /// database's backups; lose it and the database cannot be opened.
    /// Backups taken before still carry the secret.
    #[command(after_help = WRITE_SAFETY)]
    MoveSecretOut(MoveSecretOutArgs),

    /// Build a demo database from a generated, realistic dataset and show it (own --dir).
    ///
    /// Anonymous visitors browse (page views), some later sign up or log in
    /// (identify events stitch their anonymous profiles into the customer),
    /// add to cart, purchase, abandon carts, change plans, over four
    /// simulated months ending now. Loads the events with batch ingest,
    /// declares rollups, defines segments (high value, cart abandoners,
    /// active users, pricing-page visitors...), computes RFM, and prints one
    /// stitched customer, the segment counts, a query with its plan and the
    /// RFM distribution. The dataset is deterministic for a given --seed and
    /// --end. --db is not used.
    ///
    /// The demo writes a .profiledb-demo marker file into the directory it
    /// creates, and a later run deletes and rebuilds only such a directory
    /// (or a missing or empty one). It refuses, changing nothing, a
    /// directory without the marker (exit 2: another database, your files)
    /// and a demo database that another process has open (exit 5).
    #[command(after_help = "Safety: creates its own database in --dir and replaces only a directory an earlier \
demo run created (marked by its .profiledb-demo file) that no process has open; never touches --db.")]
    Demo(DemoArgs),
}

/// Which profile: an identifier, or `--id`.
#[derive(Args, Debug, Clone)]
#[group(required = true, multiple = false)]
pub struct ProfileRef {
    /// An identifier, kind:value (e.g. email:ann@example.com, user_id:42).
    #[arg(value_name = "IDENTIFIER")]
    pub identifier: Option<String>,

    /// The internal profile id instead (an id that merged away reaches its survivor).
    #[arg(long, value_name = "N")]
    pub id: Option<u32>,
}

/// `get`.
#[derive(Args, Debug)]
pub struct GetArgs {
    #[command(flatten)]
    pub profile: ProfileRef,

    /// Show the profile as it was: a version number, an RFC 3339 time
    /// (2024-05-01T12:00:00Z), or a date (2024-05-01: 00:00 UTC). Identifiers shown are the current ones. With
    /// --id of a profile that merged away, a time before its merge shows
    /// that profile's own state then; a version counts in the history of the
    /// profile it reaches now.
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
}

/// `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub profile: ProfileRef,

    /// Show only the newest N deltas.
    #[arg(long, value_name = "N", value_parser = crate::cli::limit)]
    pub limit: Option<usize>,
}

/// How `trait set` reads its VALUE.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ValueType {
    /// JSON when it parses (42, true, null, "x", ["a","b"], {"city": "Oslo"}), else a string.
    #[default]
    Auto,
    /// Always a string, as given.
    String,
    /// A point in time: RFC 3339 or epoch milliseconds.
    Timestamp,
}

/// `trait ...`: every command writes; set, incr and add create the profile when the identifier is new, unset and
/// remove of an identifier no profile has fail with "not found" (exit 3) and write nothing.
#[derive(Subcommand, Debug)]
#[command(after_help = WRITE_SAFETY)]
pub enum TraitCommand {
    /// Set a trait (creates the profile when the identifier is new).
    ///
    /// VALUE is parsed as JSON when it parses (42, 2.5, true, null, "42",
    /// ["a","b"]), else taken as a string. A JSON object sets nested traits:
    /// `trait set ID address '{"city": "Oslo"}'` sets address.city.
    #[command(after_help = WRITE_SAFETY)]
    Set {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name; dots nest (address.city).
        name: String,
        /// The value.
        #[arg(allow_negative_numbers = true)]
        value: String,
        /// How to read VALUE.
        #[arg(long = "type", value_enum, default_value_t = ValueType::Auto)]
        value_type: ValueType,
    },

    /// Remove a trait (an identifier no profile has is "not found", exit 3).
    #[command(after_help = WRITE_SAFETY)]
    Unset {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name.
        name: String,
    },

    /// Add a number to a numeric trait (absent counts as 0; creates the profile when the identifier is new).
    #[command(after_help = WRITE_SAFETY)]
    Incr {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name.
        name: String,
        /// The amount: an integer or a decimal, possibly negative (default 1).
        #[arg(allow_negative_numbers = true)]
        by: Option<String>,
    },

    /// Add strings to a list trait (no duplicates; creates the profile when the identifier is new).
    #[command(after_help = WRITE_SAFETY)]
    Add {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name.
        name: String,
        /// The strings to add.
        #[arg(required = true)]
        values: Vec<String>,
    },

    /// Remove strings from a list trait (an identifier no profile has is "not found", exit 3).
    #[command(after_help = WRITE_SAFETY)]
    Remove {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name.
        name: String,
        /// The strings to remove.
        #[arg(required = true)]
        values: Vec<String>,
    },
}

/// `identify`.
#[derive(Args, Debug)]
pub struct IdentifyArgs {
    /// Identifiers, kind:value, of one person.
    #[arg(required = true, value_name = "IDENTIFIER")]
    pub identifiers: Vec<String>,
}

/// `merge`.
#[derive(Args, Debug)]
pub struct MergeArgs {
    /// An identifier of the first profile.
    pub a: String,
    /// An identifier of the second profile.
    pub b: String,
}

/// `unmerge`.
#[derive(Args, Debug)]
pub struct UnmergeArgs {
    /// An identifier that arrived by a merge, kind:value.
    pub identifier: String,

    /// Confirm: the split rewrites both profiles, which a later merge does not restore.
    #[arg(long)]
    pub yes: bool,
}

/// `identifier ...`.
#[derive(Subcommand, Debug)]
#[command(after_help = WRITE_SAFETY)]
pub enum IdentifierCommand {
    /// Move an identifier onto a profile of its own, never stitched again until linked.
    ///
    /// For identifiers that were wrongly stitched (a shared device, a
    /// support agent's email). Later writes carrying it reach its own
    /// profile and merge nothing. Needs --yes: `identifier link` attaches
    /// it again, but the profile it leaves keeps what came through it.
    ///
    /// Example:
    ///   profiledb identifier remove device_id:shared-kiosk-7 --yes
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Remove {
        /// The identifier, kind:value.
        identifier: String,
        /// Confirm: the identifier is detached from its profile and stitched no more until linked.
        #[arg(long)]
        yes: bool,
    },

    /// Whether an identifier is suppressed (its person was erased or anonymized) (read-only).
    ///
    /// Suppressed identifiers are kept only as keyed hashes. Exits 0 either
    /// way and prints a sentence saying which ("user_id:1 is suppressed
    /// ..." or "user_id:1 is not suppressed"); scripts should read
    /// `suppressed` (true or false) from --json. The hashes are keyed by the
    /// suppression secret: a database that holds its key outside needs
    /// --key-file (without it the command is refused, exit 2).
    #[command(after_help = READ_SAFETY)]
    Suppressed {
        /// The identifier, kind:value.
        identifier: String,
    },

    /// Link an identifier to a profile explicitly, even if it was removed or lives elsewhere.
    ///
    /// Identity rules (per-kind limits) do not apply to an explicit link.
    #[command(after_help = WRITE_SAFETY)]
    Link {
        /// The identifier to link, kind:value (created when new).
        identifier: String,
        /// The profile to link it to.
        #[command(flatten)]
        to: LinkTarget,
    },
}

/// The profile `identifier link` links to.
#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct LinkTarget {
    /// The profile that this identifier reaches.
    #[arg(long, value_name = "IDENTIFIER")]
    pub to: Option<String>,
    /// The profile with this internal id.
    #[arg(long, value_name = "N")]
    pub to_id: Option<u32>,
}

/// `retain`.
#[derive(Args, Debug)]
pub struct RetainArgs {
    /// The horizon: RFC 3339 (2024-05-01T00:00:00Z), epoch milliseconds, or a date (2024-05-01: 00:00 UTC); a
    /// time after now is refused.
    #[arg(long, value_name = "TIME")]
    pub before: String,

    /// Confirm: folded history cannot be restored.
    #[arg(long)]
    pub yes: bool,
}

/// `dump`.
#[derive(Args, Debug)]
pub struct DumpArgs {
    /// The column family (see `stats` for the list).
    #[arg(long, value_name = "NAME")]
    pub cf: String,

    /// Print keys and values as hex.
    #[arg(long)]
    pub hex: bool,

    /// Print at most N pairs: the scan stops there (pairs are streamed as they are read, never held all at once).
    /// When more pairs follow, the text ends with "... more pairs after these N"; with --json, the list of
    /// {"key", "value"} pairs ends with one element {"more": true} (absent when the scan reached the end).
    #[arg(long, value_name = "N", value_parser = crate::cli::limit)]
    pub limit: Option<usize>,
}

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist.
    pub dir: PathBuf,
}

/// `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to build the demo database (a directory an earlier demo run created is replaced).
    #[arg(long, value_name = "PATH", default_value = "./profiledb-demo")]
    pub dir: PathBuf,

    /// How many people to simulate.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub profiles: u32,

    /// The generator's seed: the same seed builds the same database.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// When the simulated four months end: RFC 3339, epoch milliseconds or
    /// a date (00:00 UTC) (default: now, so time windows such as "last 30 days" are current).
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
}
