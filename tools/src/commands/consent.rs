//! Consent: `consent get|set`.

use profiledb::privacy::{ConsentChange, ConsentState, ConsentStatus};
use serde_json::Value;

use super::Ctx;
use crate::cli::{ConsentCommand, ConsentStateArg};
use crate::error::CliError;
use crate::open;
use crate::output::table::Table;
use crate::output::{json as js, text};
use crate::parse;

/// `consent get IDENTIFIER` and `consent set IDENTIFIER PURPOSE STATE --source S [--until T] [--given-at T]`.
pub fn consent(ctx: &Ctx, c: ConsentCommand) -> Result<(), CliError> {
    match c {
        ConsentCommand::Get { identifier } => {
            let who = parse::identifier(&identifier)?;
            let db = open::for_reading(&ctx.db)?;
            let list = db.consent(&who)?.ok_or_else(|| CliError::NotFound(format!("no profile has {who}")))?;
            let rows: Vec<Value> = list
                .iter()
                .map(|c| {
                    let mut v = c.record.to_json();
                    v["purpose"] = Value::String(c.purpose.clone());
                    v["status"] = Value::String(status_name(c.status).into());
                    v
                })
                .collect();
            ctx.out.emit(&Value::Array(rows), || {
                if list.is_empty() {
                    return "no consent recorded".into();
                }
                let mut t = Table::new(&["PURPOSE", "STATUS", "SOURCE", "AT", "EXPIRES"]);
                for c in &list {
                    let expires = c.record.expires_at.map(|e| e.to_rfc3339()).unwrap_or_default();
                    let row =
                        [&c.purpose, status_name(c.status), &c.record.source, &c.record.at.to_rfc3339(), &expires];
                    t.row(row.iter().map(|s| s.to_string()).collect());
                }
                t.render()
            })
        }
        ConsentCommand::Set { identifier, purpose, state, source, until, given_at } => {
            let who = parse::identifier(&identifier)?;
            let expires_at = until.as_deref().map(|u| parse::time("--until", u)).transpose()?;
            let given_at = given_at.as_deref().map(|g| parse::time("--given-at", g)).transpose()?;
            let state = match state {
                ConsentStateArg::Granted => ConsentState::Granted,
                ConsentStateArg::Denied => ConsentState::Denied,
                ConsentStateArg::Withdrawn => ConsentState::Withdrawn,
            };
            let db = open::for_writing(&ctx.db)?;
            let receipt = db.set_consent(&who, &purpose, ConsentChange { state, source, expires_at, given_at })?;
            ctx.out.emit(&js::receipt(&receipt), || text::receipt(&receipt))
        }
    }
}

fn status_name(s: ConsentStatus) -> &'static str {
    match s {
        ConsentStatus::Granted => "granted",
        ConsentStatus::Expired => "expired",
        ConsentStatus::Denied => "denied",
        ConsentStatus::Withdrawn => "withdrawn",
    }
}
