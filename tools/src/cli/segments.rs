//! Arguments of the segment commands: segment, query, feed, check.

use clap::{Args, Subcommand};

use super::{READ_SAFETY, WRITE_SAFETY};

/// A page of members: `--limit`, `--offset`, `--resolve`.
#[derive(Args, Debug, Clone, Copy)]
pub struct Page {
    /// Show at most N members.
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = crate::cli::limit)]
    pub limit: usize,

    /// Skip the first N members (ascending profile id).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub offset: u64,

    /// Also print each member's identifiers.
    #[arg(long)]
    pub resolve: bool,
}

/// `segment ...`.
#[derive(Subcommand, Debug)]
pub enum SegmentCommand {
    /// Define (or redefine) a segment and backfill its members; prints the count (writes).
    ///
    /// EXPR is the segment language (README "Segments"), e.g.
    ///   'sum(purchase.amount, 30d) > 200'
    ///   'seq(add_to_cart, not purchase, 24h)'
    ///   'count(page_view where page = "/pricing", 30d) >= 2 and not in high_value'
    /// A bad expression is refused with its position, and nothing is written.
    /// An event name it reads that no stored event has is defined anyway
    /// (events may come later) with a warning on stderr.
    /// Redefining an existing segment needs --yes (a new name needs none):
    /// the earlier definition is not kept, and the members are re-evaluated
    /// under the new one (each profile that enters or leaves gets a feed
    /// record; the membership history keeps the earlier rows).
    /// Shows backfill progress when stderr is a terminal.
    ///
    /// Examples:
    ///   profiledb segment define big_spenders 'sum(purchase.amount, 30d) > 200'
    ///   profiledb segment define big_spenders 'sum(purchase.amount, 30d) > 500' --yes
    #[command(after_help = WRITE_SAFETY, verbatim_doc_comment)]
    Define {
        /// The segment's name: a-z, 0-9 and _, starting with a letter.
        name: String,
        /// The expression.
        expr: String,
        /// Confirm replacing the definition of an existing segment (not needed for a new name).
        #[arg(long)]
        yes: bool,
    },

    /// List every segment with its member count (read-only).
    #[command(after_help = READ_SAFETY)]
    List,

    /// Show a segment: expression, count, when defined, what it reads (read-only).
    #[command(after_help = READ_SAFETY)]
    Show {
        /// The segment's name.
        name: String,
    },

    /// Drop a segment: definition, bitmap, wake-ups, membership history (writes).
    ///
    /// Every member gets an `exited` record in the change feed, written
    /// with the drop, so feed consumers remove them (defining the name
    /// again then writes `entered` records). Refused while another segment
    /// reads it.
    #[command(after_help = WRITE_SAFETY)]
    Drop {
        /// The segment's name.
        name: String,
        /// Confirm: the membership history cannot be restored.
        #[arg(long)]
        yes: bool,
    },

    /// List a segment's members, ascending by profile id (read-only).
    ///
    /// --json is streamed, 1,000 members at a time, so a large --limit does
    /// not hold them all: the `members` array comes after the other fields.
    #[command(after_help = READ_SAFETY)]
    Members {
        /// The segment's name.
        name: String,
        #[command(flatten)]
        page: Page,
    },

    /// Whether a profile was a member of a segment at a time, from the membership history (read-only).
    ///
    /// Exits 0 either way and prints a sentence saying which ("profile 3
    /// (user_id:1) was a member of de at ..." or "... was not a member
    /// ...", with a note when the time is in the future or before the
    /// segment's current definition); scripts should read `member` (true or
    /// false) from --json. An identifier answers for the profile it belonged
    /// to at that time: one that has merged into another profile since
    /// answers from its own profile's history before the merge (and from
    /// the profile it merged into after it). `--id N` asks about a profile
    /// id the same way.
    #[command(
        after_help = READ_SAFETY,
        override_usage = "profiledb segment was-member <IDENTIFIER> <NAME> --at <TIME>\n       \
                          profiledb segment was-member --id <N> <NAME> --at <TIME>"
    )]
    WasMember {
        /// The profile's identifier (kind:value) and the segment's name; with
        /// --id, the segment's name alone.
        #[arg(value_name = "IDENTIFIER|NAME", num_args = 1..=2, required = true)]
        args: Vec<String>,
        /// The internal profile id instead of an identifier (an id that
        /// merged away answers from its own history before its merge).
        #[arg(long, value_name = "N")]
        id: Option<u32>,
        /// When: RFC 3339 (2024-05-01T12:00:00Z), epoch milliseconds or a date (2024-05-01: 00:00 UTC).
        #[arg(long, value_name = "TIME")]
        at: String,
    },

    /// Print a segment's member count (read-only).
    #[command(after_help = READ_SAFETY)]
    Count {
        /// The segment's name.
        name: String,
    },
}

/// `query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// The expression (the segment language).
    pub expr: String,

    /// Print only the count.
    #[arg(long)]
    pub count: bool,

    /// Print how the query was evaluated.
    #[arg(long)]
    pub explain: bool,

    #[command(flatten)]
    pub page: Page,
}

/// `feed`.
#[derive(Args, Debug)]
pub struct FeedArgs {
    /// The first sequence number to print (a cursor from an earlier run).
    #[arg(long, value_name = "SEQ", default_value_t = 0)]
    pub from: u64,

    /// Print at most N records.
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = crate::cli::limit)]
    pub limit: usize,
}

/// `check`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Process due segment wake-ups first, as `tick` does (writes; needs exclusive access).
    #[arg(long)]
    pub tick: bool,

    /// With --tick: the retention settings tick enforces (see `tick --help`).
    #[command(flatten)]
    pub retention: super::RetentionSettings,

    /// With --tick and --timeline or --buckets: confirm (events deleted by the new setting cannot be restored).
    #[arg(long)]
    pub yes: bool,
}
