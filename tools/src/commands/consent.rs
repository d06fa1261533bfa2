//! Consent (`consent get|set`) and `anonymize`.

use profiledb::privacy::{AnonymizeRules, ConsentChange, ConsentState, ConsentStatus, ValueRule};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{AnonymizeArgs, ConsentCommand, ConsentStateArg};
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

/// `anonymize IDENTIFIER [--keep NAME]... [--hash NAME]... [--request-id ID]`.
pub fn anonymize(ctx: &Ctx, a: &AnonymizeArgs) -> Result<(), CliError> {
    let who = parse::identifier(&a.identifier)?;
    let mut rules = AnonymizeRules::default();
    for name in &a.keep {
        rules = rules.rule(name, ValueRule::Keep);
    }
    for name in &a.hash {
        rules = rules.rule(name, ValueRule::Hash);
    }
    let db = open::for_writing(&ctx.db)?;
    let named: Vec<(&str, &String)> =
        a.keep.iter().map(|n| ("--keep", n)).chain(a.hash.iter().map(|n| ("--hash", n))).collect();
    if let Some(p) = db.get(&who)?.filter(|_| !named.is_empty()) {
        // Anonymizing cannot be undone: a misspelt name drops what it meant to keep.
        let events = db.events(p.id, profiledb::Timestamp(i64::MIN), profiledb::Timestamp(i64::MAX))?;
        for (option, name) in named {
            if !names_something(&p, &events, name) {
                eprintln!("warning: {option} {name:?} names no trait or event property of this profile");
            }
        }
    }
    let r = db.anonymize(&who, Some(&rules), a.request_id.as_deref())?;
    let v = json!({
        "profile": r.profile.0, "identifiers": r.identifiers, "traits_kept": r.traits_kept,
        "traits_dropped": r.traits_dropped, "traits_hashed": r.traits_hashed,
        "traits_generalized": r.traits_generalized, "events_scrubbed": r.events_scrubbed,
        "rollups_scrubbed": r.rollups_scrubbed,
        "history_removed": r.history_removed,
    });
    ctx.out.emit(&v, || {
        format!(
            "anonymized profile {}: {} identifiers removed and suppressed; traits kept {}, hashed {}, dropped {}; \
             {} events scrubbed; {} history entries removed",
            r.profile,
            r.identifiers,
            r.traits_kept,
            r.traits_hashed,
            r.traits_dropped,
            r.events_scrubbed,
            r.history_removed
        )
    })
}

/// Whether `name` is a trait of profile `p`, a dotted parent of one, or a
/// property (path) of one of its stored `events`.
fn names_something(p: &profiledb::Profile, events: &[profiledb::event::Event], name: &str) -> bool {
    let below = format!("{name}.");
    p.traits.iter().any(|(t, _)| t == name || t.starts_with(&below))
        || events.iter().any(|e| e.properties.get_path(name).is_some())
}
