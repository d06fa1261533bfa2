//! The command line: every command, argument and help text, and nothing
//! else. What each command does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Shown after the help of every command that only reads.
pub const READ_SAFETY: &str = "Safety: read-only. Opens the database read-only (falling back to a secondary \
instance) without taking the writer's lock, so it is safe while an application has the database open; it sees what \
was committed when it started.";

/// Shown after the help of every command that writes.
pub const WRITE_SAFETY: &str = "Safety: writes. Needs exclusive access: while an application (or another \
profiledb command) has the database open, it fails with exit code 5 and changes nothing.";

/// Shown after `backup`'s help.
const BACKUP_SAFETY: &str = "Safety: exclusive. Changes no data but takes the write lock: while an application has \
the database open, it fails with exit code 5 (back up from inside the application with ProfileDb::backup).";

const EXIT_CODES: &str = "Exit codes:
  0  success
  1  runtime or storage error
  2  usage error or bad input (malformed identifier, value, import line...)
  3  not found (database, profile, identifier, version)
  4  a check found violations
  5  the database is locked by another process

Read-only commands are safe while an application has the database open; commands that write need exclusive \
access. Each command's --help says which it is.";

/// profiledb: inspect, import and operate a profile database.
#[derive(Parser, Debug)]
#[command(name = "profiledb", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// The database directory.
    #[arg(long, global = true, value_name = "PATH", env = "PROFILEDB_PATH", default_value = "./profiledb-data")]
    pub db: PathBuf,

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
    #[command(after_help = WRITE_SAFETY)]
    Init,

    /// Profiles, identifiers, size per column family, format version (read-only).
    #[command(after_help = READ_SAFETY)]
    Stats,

    /// Print one profile: id, version, times, traits, identifiers (read-only).
    #[command(after_help = READ_SAFETY)]
    Get(GetArgs),

    /// Print a profile's history: one row per delta (read-only).
    #[command(after_help = READ_SAFETY)]
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
    /// split off; unmerge again to split further.
    #[command(after_help = WRITE_SAFETY)]
    Unmerge(UnmergeArgs),

    /// Detach an identifier from stitching, or link one explicitly (writes).
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
    /// same filesystem. It changes no data, but needs the database's write
    /// lock, because a copy taken through a read-only handle would leave out
    /// writes still only in the write-ahead log. To back up a database an
    /// application has open, call `ProfileDb::backup` from the application.
    #[command(after_help = BACKUP_SAFETY)]
    Backup(BackupArgs),

    /// Flush and compact every column family (writes).
    #[command(after_help = WRITE_SAFETY)]
    Compact,

    /// Load profiles from JSONL: one profile update per line (writes)
    ///
    /// Each line is one JSON object, for example:
    ///
    ///   {"identifiers": {"email": "a@x.com", "user_id": "1"},
    ///    "traits": {"plan": "pro", "address": {"city": "Oslo"}}}
    ///
    /// Identifier values may be strings, numbers, or lists of them. Nested
    /// trait objects become dotted names (address.city). Each line links its
    /// identifiers (merging profiles as `identify` does) and sets its traits
    /// in one atomic write, so a rejected line writes nothing. Blank lines
    /// are skipped. Prints accepted and rejected counts, with the line number
    /// and reason of each rejection, and exits 2 when any line was rejected.
    /// Draws a progress bar (rate, ETA) when stderr is a terminal.
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Import(ImportArgs),

    /// Show a person's consent per purpose, or record a change.
    #[command(subcommand)]
    Consent(ConsentCommand),

    /// Erase the person IDENTIFIER reaches, leaving no trace in the files (writes).
    ///
    /// Removes the profile, its identifiers and aliases, traits, history,
    /// consent, events, rollups, dedup keys and segment memberships in one
    /// batch, then compacts so the bytes leave the files. The identifiers
    /// are kept only as keyed hashes: later writes carrying them are refused.
    #[command(after_help = WRITE_SAFETY)]
    Erase(PrivacyArgs),

    /// Print everything stored about a person as one JSON document (writes the audit log).
    #[command(after_help = WRITE_SAFETY)]
    Export(PrivacyArgs),

    /// Anonymize a person for analytics-only retention (writes).
    ///
    /// Traits and event properties are dropped unless named with --keep or
    /// --hash (a dotted parent covers its children); identifiers are removed
    /// and suppressed, consent and history folded away; rollups and segment
    /// membership stay. The files are compacted afterwards.
    #[command(after_help = WRITE_SAFETY)]
    Anonymize(AnonymizeArgs),

    /// Build a demo database from a generated, realistic dataset and show it (own --dir).
    ///
    /// Anonymous visitors who later sign up (their anonymous profiles merge
    /// into the customer), newsletter subscribers, second devices, purchases,
    /// plan changes and moves, over four simulated months. The dataset is
    /// deterministic for a given --seed. The directory is replaced on each
    /// run (it must be empty or a database). --db is not used.
    #[command(after_help = "Safety: creates its own database in --dir; never touches --db.")]
    Demo(DemoArgs),
}

/// `erase`, `export`: a person and the request they answer.
#[derive(Args, Debug)]
pub struct PrivacyArgs {
    /// The person's identifier, kind:value.
    pub identifier: String,
    /// The request this answers (a ticket number), recorded in the audit log.
    #[arg(long, value_name = "ID")]
    pub request: Option<String>,
}

/// `anonymize`.
#[derive(Args, Debug)]
pub struct AnonymizeArgs {
    #[command(flatten)]
    pub person: PrivacyArgs,
    /// Keep this trait or event property as it is (repeatable).
    #[arg(long, value_name = "NAME")]
    pub keep: Vec<String>,
    /// Replace this trait or event property by a keyed hash (repeatable).
    #[arg(long, value_name = "NAME")]
    pub hash: Vec<String>,
}

/// A consent state on the command line.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentStateArg {
    /// Consent given.
    Granted,
    /// Consent refused.
    Denied,
    /// Consent taken back.
    Withdrawn,
}

/// `consent ...`.
#[derive(Subcommand, Debug)]
pub enum ConsentCommand {
    /// Print the person's consent per purpose, with its status now (read-only).
    #[command(after_help = READ_SAFETY)]
    Get {
        /// The person's identifier, kind:value.
        identifier: String,
    },
    /// Record a consent change (creates the profile when the identifier is new) (writes).
    #[command(after_help = WRITE_SAFETY)]
    Set {
        /// The person's identifier, kind:value.
        identifier: String,
        /// The purpose, e.g. marketing_email.
        purpose: String,
        /// The new state.
        #[arg(value_enum)]
        state: ConsentStateArg,
        /// Where the change came from (cookie_banner, signup_form, a ticket...).
        #[arg(long)]
        source: String,
        /// When a grant stops counting: RFC 3339 or epoch milliseconds.
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
    },
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

    /// Show the profile as it was: a version number, or an RFC 3339 time
    /// (2024-05-01T12:00:00Z). Identifiers shown are the current ones.
    #[arg(long, value_name = "VERSION|TIME")]
    pub as_of: Option<String>,
}

/// `history`.
#[derive(Args, Debug)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub profile: ProfileRef,

    /// Show only the newest N deltas.
    #[arg(long, value_name = "N")]
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

/// `trait ...`: every command writes and creates the profile when the identifier is new.
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

    /// Remove a trait.
    #[command(after_help = WRITE_SAFETY)]
    Unset {
        /// The profile's identifier, kind:value.
        identifier: String,
        /// The trait name.
        name: String,
    },

    /// Add a number to a numeric trait (absent counts as 0).
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

    /// Add strings to a list trait (no duplicates).
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

    /// Remove strings from a list trait.
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
}

/// `identifier ...`.
#[derive(Subcommand, Debug)]
#[command(after_help = WRITE_SAFETY)]
pub enum IdentifierCommand {
    /// Move an identifier onto a profile of its own, never stitched again until linked.
    ///
    /// For identifiers that were wrongly stitched (a shared device, a
    /// support agent's email). Later writes carrying it reach its own
    /// profile and merge nothing.
    #[command(after_help = WRITE_SAFETY)]
    Remove {
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
    /// The horizon: RFC 3339 (2024-05-01T00:00:00Z) or epoch milliseconds.
    #[arg(long, value_name = "TIME")]
    pub before: String,
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

    /// Print at most N pairs.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}

/// `backup`.
#[derive(Args, Debug)]
pub struct BackupArgs {
    /// Where to write the copy; must not exist.
    pub dir: PathBuf,
}

/// `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The JSONL file, or - for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: String,

    /// Stop at the first bad line (which writes nothing; earlier lines stay written).
    #[arg(long)]
    pub strict: bool,
}

/// `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to build the demo database (replaced on each run).
    #[arg(long, value_name = "PATH", default_value = "./profiledb-demo")]
    pub dir: PathBuf,

    /// How many people to simulate.
    #[arg(long, value_name = "N", default_value_t = 20_000)]
    pub profiles: u32,

    /// The generator's seed: the same seed builds the same database.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}
