//! Arguments of the privacy commands: export, erase, audit, consent, anonymize.

use clap::{Args, Subcommand, ValueEnum};

use super::{READ_SAFETY, WRITE_SAFETY};

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The person to export, kind:value.
    #[arg(value_name = "IDENTIFIER", required_unless_present_any = ["segment", "query"])]
    pub identifier: Option<String>,

    /// Export this segment's members instead.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["identifier", "query"])]
    pub segment: Option<String>,

    /// Export the profiles matching this expression instead (the segment language, e.g. 'has email').
    #[arg(long, value_name = "EXPR", conflicts_with = "identifier")]
    pub query: Option<String>,

    /// With --segment or --query: CSV (id, identifiers as a JSON array, one column per trait) instead of JSONL;
    /// a text cell starting with = + - @ (or a tab or carriage return) gets a leading ' against spreadsheet
    /// formula injection (numeric traits are written as they are).
    #[arg(long, conflicts_with = "identifier")]
    pub csv: bool,

    /// With --csv: only these traits, comma-separated (default: every trait a member has).
    #[arg(long, value_name = "NAME,...", requires = "csv")]
    pub traits: Option<String>,

    /// The caller's request id (e.g. a ticket number), kept in the audit log.
    #[arg(long, value_name = "ID", requires = "identifier")]
    pub request_id: Option<String>,

    /// With --segment: export only members whose consent to every PURPOSE
    /// is granted and unexpired now; the others are left out and counted
    /// (summary on stderr, and in --json).
    #[arg(long, value_name = "PURPOSE,...", requires = "segment", value_delimiter = ',')]
    pub require_consent: Vec<String>,

    /// With --require-consent: include members lacking consent anyway (you
    /// have another legal basis); they are still counted as overridden.
    #[arg(long, requires = "require_consent")]
    pub override_consent: bool,
}

/// `erase`.
#[derive(Args, Debug)]
pub struct EraseArgs {
    /// Any identifier of the person, kind:value. Several (or --from-file):
    /// every person they reach is erased in one batch, with one scan of the
    /// database, and each identifier is reported (erased, not found, or the
    /// same person as an earlier one).
    #[arg(value_name = "IDENTIFIER", required_unless_present = "from_file")]
    pub identifiers: Vec<String>,

    /// Read identifiers from PATH too (`-`: standard input), one per line;
    /// blank lines and lines starting with # are skipped. A malformed line is
    /// an error naming its line number, and nothing is erased.
    #[arg(long, value_name = "PATH")]
    pub from_file: Option<String>,

    /// The caller's request id (e.g. a ticket number), kept in the audit log.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,

    /// Confirm: erasing cannot be undone.
    #[arg(long)]
    pub yes: bool,
}

/// `audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// Show only the newest N records.
    #[arg(long, value_name = "N", value_parser = crate::cli::limit)]
    pub limit: Option<usize>,
}

/// `anonymize`.
#[derive(Args, Debug)]
pub struct AnonymizeArgs {
    /// The person's identifier, kind:value.
    pub identifier: String,
    /// The caller's request id (e.g. a ticket number), kept in the audit log.
    #[arg(long, value_name = "ID")]
    pub request_id: Option<String>,
    /// Keep this trait or event property as it is (repeatable).
    #[arg(long, value_name = "NAME")]
    pub keep: Vec<String>,
    /// Replace this trait or event property by a keyed hash (repeatable).
    #[arg(long, value_name = "NAME")]
    pub hash: Vec<String>,
    /// Confirm: anonymizing cannot be undone.
    #[arg(long)]
    pub yes: bool,
    /// Show what would be removed, kept, hashed and dropped, and change nothing (read-only).
    #[arg(long, conflicts_with = "yes")]
    pub dry_run: bool,
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
        /// When a grant stops counting: RFC 3339, epoch milliseconds or a date (YYYY-MM-DD: 00:00 UTC).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// When the person said it, if earlier than now (an import of past
        /// statements): RFC 3339, epoch milliseconds or a date (00:00 UTC). A change given
        /// before the purpose's recorded state does not replace it.
        #[arg(long, value_name = "TIME")]
        given_at: Option<String>,
    },
}

/// `move-secret-out`.
#[derive(Args, Debug)]
pub struct MoveSecretOutArgs {
    /// The key file to create (it must not exist): the 192 bytes of the
    /// secret, readable by the owner only (mode 600 on Unix).
    #[arg(long, value_name = "PATH")]
    pub to: std::path::PathBuf,
}
