//! Arguments of the trait-index and retention commands.

use clap::{Args, Subcommand};

use super::{READ_SAFETY, WRITE_SAFETY};

/// `index ...`: value bitmaps of low-cardinality traits.
#[derive(Subcommand, Debug)]
pub enum IndexCommand {
    /// Index a trait: one bitmap per distinct value, backfilled now; prints the result (writes).
    ///
    /// Queries and segments on the trait (traits.country = "DE", !=, in
    /// [..], exists) then use bitmap algebra instead of checking profiles
    /// one by one; every later write keeps the bitmaps exact. Meant for
    /// low-cardinality traits: profiles holding values past the library's
    /// cap are counted as unindexed and checked one by one. Indexing an
    /// indexed trait changes nothing. A trait no profile has is indexed
    /// anyway (profiles may get it later) with a warning on stderr.
    #[command(after_help = WRITE_SAFETY)]
    Add {
        /// The trait's dotted name (country, address.city).
        name: String,
    },

    /// List indexed traits: distinct values, profiles with the trait, unindexed profiles (read-only).
    #[command(after_help = READ_SAFETY)]
    List,

    /// Drop a trait index: its definition and bitmaps (writes).
    ///
    /// Queries on the trait keep working; they check profiles one by one.
    #[command(after_help = WRITE_SAFETY)]
    Drop {
        /// The indexed trait's name (see `profiledb index list`).
        name: String,
    },
}

/// `retention ...`.
#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Enforce event and rollup-bucket retention now, to completion (writes).
    ///
    /// Deletes every stored event older than now − --timeline days and
    /// folds every per-day rollup bucket older than now − --buckets days
    /// into the all-time values (rollups keep counting them; a rollup
    /// window reaching further back then fails). The retention settings are
    /// stored in the database: without --timeline and --buckets the ones
    /// recorded there apply (the application's; 365 days and forever on a
    /// database that never recorded any), and a setting given here is
    /// recorded, so later opens (the application's too, unless it sets its
    /// own) apply it. `tick` (and an application's ticker) does the same
    /// work a bounded amount at a time. A profile whose segments cannot be
    /// re-evaluated is left as it is, listed, and makes the exit code 1;
    /// the others are trimmed.
    #[command(after_help = WRITE_SAFETY)]
    Run {
        /// The retention to enforce.
        #[command(flatten)]
        settings: RetentionSettings,
        /// Confirm: deleted events cannot be restored.
        #[arg(long)]
        yes: bool,
    },
}

/// `tick`: its retention settings and their confirmation.
#[derive(Args, Debug, Clone, Copy)]
pub struct TickArgs {
    /// The retention to enforce.
    #[command(flatten)]
    pub settings: RetentionSettings,

    /// With --timeline, --buckets, --feed or --membership-history: confirm (the setting is recorded, and what is
    /// older than it is deleted or folded for good).
    #[arg(long)]
    pub yes: bool,

    /// Record the clock as right, as the last retention step's (library: `accept_clock`). A run's clock at
    /// open already counts as seen: the clock-jump guard holds jumps within long-running processes.
    #[arg(long)]
    pub accept_clock: bool,
}

impl RetentionSettings {
    /// Whether a setting is given (it is then recorded, and enforced at once).
    pub fn given(&self) -> bool {
        self.timeline.is_some() || self.buckets.is_some() || self.feed.is_some() || self.membership_history.is_some()
    }
}

/// Retention settings for a run that enforces retention (`retention
/// run`, `tick`, `check --tick`). Left out, the ones the database recorded
/// apply; given, they are recorded in the database.
#[derive(Args, Debug, Clone, Copy)]
pub struct RetentionSettings {
    /// Keep events of the last DAYS days in timelines, and record that (at least 1; default: the recorded setting).
    #[arg(long, value_name = "DAYS")]
    pub timeline: Option<u32>,

    /// Keep per-day rollup buckets of the last DAYS days, and record that (at least 1; default: the recorded setting).
    #[arg(long, value_name = "DAYS")]
    pub buckets: Option<u32>,

    /// Keep change-feed records of the last DAYS days, and record that (at least 1; default: the recorded setting).
    #[arg(long, value_name = "DAYS")]
    pub feed: Option<u32>,

    /// Keep segment membership history of the last DAYS days, and record that (at least 1; default: the recorded
    /// setting).
    #[arg(long, value_name = "DAYS")]
    pub membership_history: Option<u32>,
}
