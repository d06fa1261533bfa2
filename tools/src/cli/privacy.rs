//! Arguments of the privacy commands: export, erase, audit.

use clap::Args;

/// `export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The person to export, kind:value.
    #[arg(value_name = "IDENTIFIER", required_unless_present = "segment")]
    pub identifier: Option<String>,

    /// Export this segment's members instead.
    #[arg(long, value_name = "NAME", conflicts_with = "identifier")]
    pub segment: Option<String>,

    /// With --segment: CSV (id, identifiers, one column per trait) instead of JSONL.
    #[arg(long, requires = "segment")]
    pub csv: bool,

    /// With --segment --csv: only these traits, comma-separated (default: every trait a member has).
    #[arg(long, value_name = "NAME,...", requires = "segment")]
    pub traits: Option<String>,

    /// The caller's request id (e.g. a ticket number), kept in the audit log.
    #[arg(long, value_name = "ID", conflicts_with = "segment")]
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
