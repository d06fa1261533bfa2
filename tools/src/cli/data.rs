//! Arguments of the event commands: import, track, events, rollup, rfm.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use super::{ProfileRef, READ_SAFETY, WRITE_SAFETY};

/// The short help of `--schemas` (import, track).
const SCHEMAS_HELP: &str = "Check every event against per-event-name schemas from this JSON file; a violating event \
is rejected (exit 2), naming the event, the property and the rule";

/// The long help of `--schemas`: the file format.
const SCHEMAS_LONG_HELP: &str = r#"Check every event against per-event-name schemas from this JSON file; a violating
event is rejected (exit 2) and writes nothing, naming the event, the property
and the rule. The file is the library's SchemaRegistry as JSON:

  {"schemas": {
     "Order Completed": {"required": ["total", "currency"],
                         "types": {"total": "number", "product.sku": "string"},
                         "allowed": {"currency": ["USD", "EUR"]}},
     "identify": {"types": {"plan": "string"}}},
   "allow_unknown_events": false}

Keys of "schemas" are event names (identify events are named "identify").
Each schema has optional "required" (properties that must be present),
"types" (string, number, integer, bool, timestamp, list, object; checked when
present) and "allowed" (the only values a property may take). Paths are dotted
property paths; identify events are checked on their traits (address.city).
"allow_unknown_events" (default true) says whether track events whose name has
no schema are accepted; page, screen, identify and alias events are never
refused for lacking one. Unknown fields are an error. Schemas are not stored
in the database: pass the file on every run that should check them. Profile
lines (import) are not events and are not checked."#;

/// The help of `--max-future-skew` (import, track).
const SKEW_HELP: &str = "How far after now an event's timestamp may be (default 1d): 6h, 30m, 2d, 500ms..., or 0 \
for no time after now at all; later events are rejected, as are events before 1970";

/// How a number given as a timestamp is read (`--epoch-unit`).
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum EpochUnitArg {
    /// Epoch milliseconds; a number before 1973 as milliseconds (below 100000000000) is refused as probably seconds.
    #[default]
    Ms,
    /// Epoch seconds.
    S,
}

/// The options `import` and `track` share: how events are checked and
/// deduplicated.
#[derive(Args, Debug, Default)]
pub struct IngestOptions {
    #[arg(long, value_name = "FILE", help = SCHEMAS_HELP, long_help = SCHEMAS_LONG_HELP)]
    pub schemas: Option<PathBuf>,

    #[arg(long, value_name = "DURATION", help = SKEW_HELP)]
    pub max_future_skew: Option<String>,

    /// How numeric timestamps (an event's "timestamp", CSV :time cells) are read: ms (default) refuses a number that
    /// would be before 1973 as milliseconds, naming the line, since it is almost surely seconds; s reads seconds.
    /// RFC 3339 strings are unaffected.
    #[arg(long, value_enum, value_name = "ms|s", default_value_t = EpochUnitArg::Ms)]
    pub epoch_unit: EpochUnitArg,

    /// How long a message id is remembered as a duplicate (default 7d), from its first sighting: a message id first
    /// seen longer ago is applied again. Set it to cover any re-import: 30d, 365d... Events without a message id are
    /// never deduplicated. The horizon is not stored in the database: give it on every run.
    #[arg(long, value_name = "DURATION")]
    pub dedup_horizon: Option<String>,
}

/// What `import` reads each line as.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ImportFormat {
    /// Per line: an event (native or Segment Spec) when it has "type", else a profile line.
    #[default]
    Auto,
    /// Native events only.
    Native,
    /// Segment Spec messages only.
    Segment,
    /// Profile lines only ({"identifiers": ..., "traits": ...}).
    Profile,
    /// CSV with a header row and --map.
    Csv,
}

/// `import`.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The JSONL or CSV file, or - for standard input.
    #[arg(value_name = "FILE|-")]
    pub file: String,

    /// What the lines are (default: detected per line).
    #[arg(long, value_enum, default_value_t = ImportFormat::Auto)]
    pub format: ImportFormat,

    /// The file is CSV (the same as --format csv); needs --map.
    #[arg(long)]
    pub csv: bool,

    /// CSV column mapping, comma-separated: COLUMN=KIND (an identifier of a known kind: user_id, email, phone,
    /// device_id, anonymous_id), COLUMN=identifiers.KIND (an identifier of any other kind) or
    /// COLUMN=traits.NAME[:string|number|bool|time]. A column whose name holds a comma goes in double quotes
    /// (--map 'email=email,"Plan, tier"=traits.plan', a quote in it doubled); --map may be repeated, each holding
    /// one mapping or more. A column the header names twice cannot be mapped (rename one).
    #[arg(long, value_name = "COLUMN=TARGET,...")]
    pub map: Vec<String>,

    /// Validate every line first (holding the parsed file in memory); any bad line rejects the whole file and nothing is
    /// written. A valid line that fails when applied stops the import there; the lines before it stay written.
    #[arg(long)]
    pub strict: bool,

    #[command(flatten)]
    pub ingest: IngestOptions,
}

/// `track`.
#[derive(Args, Debug)]
pub struct TrackArgs {
    /// The event, as one JSON object (native or Segment Spec), e.g.
    /// '{"type":"track","event":"purchase","timestamp":"2024-05-01T10:00:00Z","identifiers":{"user_id":"1"},"properties":{"amount":30}}'.
    #[arg(value_name = "JSON")]
    pub event: String,

    /// Which format the JSON is in: auto, native or segment.
    #[arg(long, default_value = "auto")]
    pub format: String,

    #[command(flatten)]
    pub ingest: IngestOptions,
}

/// `events`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(flatten)]
    pub profile: ProfileRef,

    /// Only events at or after this time (RFC 3339, epoch ms, or a date YYYY-MM-DD: 00:00 UTC).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,

    /// Only events before this time (RFC 3339, epoch ms, or a date YYYY-MM-DD: 00:00 UTC, so that day is left
    /// out: --from 2026-11-01 --to 2026-11-06 is November 1 to 5).
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,

    /// Show the newest N (with --oldest, the oldest N), printed oldest first. Only the events shown are read,
    /// however long the history: when there are more, the output ends with a cursor to pass to --next.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = crate::cli::limit)]
    pub limit: usize,

    /// Start at the oldest events of the range instead of the newest.
    #[arg(long)]
    pub oldest: bool,

    /// Continue where an earlier run stopped: the cursor it printed (`next`), with the same --from, --to and
    /// --oldest. Without --oldest the next page holds older events; with it, newer ones.
    #[arg(long, value_name = "CURSOR")]
    pub next: Option<String>,
}

/// What a declared rollup computes.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// Number of events.
    Count,
    /// Sum of --property.
    Sum,
    /// Smallest value of --property.
    Min,
    /// Largest value of --property.
    Max,
    /// Average of --property.
    Avg,
    /// Time of the first event.
    First,
    /// Time of the last event.
    Last,
    /// Number of distinct UTC days with an event.
    ActiveDays,
    /// The most frequent value of --property.
    MostFrequent,
    /// The distinct values of --property and their count.
    Unique,
}

impl Aggregation {
    /// Whether it reads `--property`.
    pub fn reads_property(self) -> bool {
        matches!(
            self,
            Aggregation::Sum
                | Aggregation::Min
                | Aggregation::Max
                | Aggregation::Avg
                | Aggregation::MostFrequent
                | Aggregation::Unique
        )
    }
}

/// `rollup declare`.
#[derive(Args, Debug)]
pub struct RollupDeclareArgs {
    /// The rollup's name: a-z, 0-9 and _.
    pub name: String,

    /// The event name it reads (e.g. purchase).
    #[arg(long)]
    pub event: String,

    /// What it computes.
    #[arg(long = "agg", value_enum)]
    pub aggregate: Aggregation,

    /// The property read by sum, min, max, avg, most-frequent and unique.
    #[arg(long, value_name = "NAME")]
    pub property: Option<String>,

    /// Only events whose property passes: PROP=V, PROP!=V, PROP<V, <=, >, >= (repeatable; all must hold).
    #[arg(long = "where", value_name = "CONDITION")]
    pub filters: Vec<String>,
}

/// `rollup ...`.
#[derive(Subcommand, Debug)]
pub enum RollupCommand {
    /// Declare a rollup and backfill it from stored events (writes).
    ///
    /// Example: rollup declare revenue --event purchase --agg sum --property amount.
    /// Declaring the same definition again does nothing; another definition
    /// under an existing name is refused. An event name that no stored
    /// event has, or a --property that no stored event of that name has, is
    /// declared anyway (it may be meant for events still to come) with a
    /// warning on stderr.
    #[command(after_help = WRITE_SAFETY)]
    Declare(RollupDeclareArgs),

    /// Drop a declared rollup: its name is free again (writes).
    ///
    /// The buckets stay with their series (segments may read the same
    /// events); declaring the same definition again reuses them.
    #[command(after_help = WRITE_SAFETY)]
    Drop {
        /// The rollup's name.
        name: String,
    },

    /// List the declared rollups (read-only).
    #[command(after_help = READ_SAFETY)]
    List,

    /// A profile's rollup values: every rollup all-time, or one over --window (read-only).
    ///
    /// Without NAME: every declared rollup (all time) and every event
    /// name's automatic count. With NAME: that rollup over --window.
    #[command(after_help = READ_SAFETY)]
    Show {
        /// The profile's identifier, kind:value (or give --id N, then NAME
        /// follows directly: `rollup show --id 7 spend`).
        identifier: Option<String>,
        /// The rollup's name.
        name: Option<String>,
        /// The internal profile id instead of an identifier (an anonymized
        /// profile has none; an id that merged away reaches its survivor).
        #[arg(long, value_name = "N")]
        id: Option<u32>,
        /// The window: all, Nd (whole UTC days, today included: 7d, 30d), Nh (the last N hours exactly, a
        /// rolling window: 24h), or FROM..TO (the UTC days from FROM's to TO's, both included; times or dates
        /// YYYY-MM-DD, FROM not after TO: 2026-11-01..2026-11-05 is five whole UTC days).
        #[arg(long, default_value = "all")]
        window: String,
    },
}

/// `rfm ...`.
#[derive(Subcommand, Debug)]
pub enum RfmCommand {
    /// Score every profile that purchased (quintiles of recency, frequency, monetary) and store the model (writes).
    ///
    /// Prints the cut points and the distribution of scores.
    #[command(after_help = WRITE_SAFETY)]
    Compute {
        /// The purchase event name.
        #[arg(long, default_value = "purchase")]
        event: String,
        /// The amount property of the purchase event. A property no stored
        /// purchase event has is refused (exit 2), unless --allow-unseen.
        #[arg(long, default_value = "amount")]
        amount: String,
        /// Compute even when no stored purchase event has the --amount property (a warning instead).
        #[arg(long)]
        allow_unseen: bool,
    },

    /// One profile's RFM score under the stored model (read-only).
    ///
    /// Examples:
    ///   profiledb rfm score email:ann@example.com
    ///   profiledb rfm score --id 42
    #[command(after_help = READ_SAFETY, verbatim_doc_comment)]
    Score(ProfileRef),
}
