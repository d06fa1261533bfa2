//! Arguments of the privacy commands: export, erase, audit.

use clap::Args;

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

    /// With --segment or --query: CSV (id, identifiers, one column per trait) instead of JSONL.
    #[arg(long, conflicts_with = "identifier")]
    pub csv: bool,

    /// With --csv: only these traits, comma-separated (default: every trait a member has).
    #[arg(long, value_name = "NAME,...", requires = "csv")]
    pub traits: Option<String>,

    /// The caller's request id (e.g. a ticket number), kept in the audit log.
    #[arg(long, value_name = "ID", requires = "identifier")]
    pub request_id: Option<String>,
}

/// `erase`.
#[derive(Args, Debug)]
pub struct EraseArgs {
    /// Any identifier of the person, kind:value.
    pub identifier: String,

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
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
}
