//! `anonymize`: analytics-only retention of one person. It cannot be
//! undone, so it needs `--yes`; `--dry-run` shows what it would keep, hash
//! and drop, and changes nothing.

use std::collections::BTreeSet;

use profiledb::event::{Event, PropertyValue};
use profiledb::privacy::{AnonymizeRules, ValueRule};
use profiledb::{Identifier, Profile, ProfileDb, Timestamp};
use serde_json::json;

use super::Ctx;
use crate::cli::AnonymizeArgs;
use crate::error::CliError;
use crate::open;
use crate::output::text;
use crate::parse;

/// `anonymize IDENTIFIER (--yes | --dry-run) [--keep NAME]... [--hash NAME]... [--request-id ID]`.
pub fn anonymize(ctx: &Ctx, a: &AnonymizeArgs) -> Result<(), CliError> {
    let who = parse::identifier(&a.identifier)?;
    let mut rules = AnonymizeRules::default();
    for name in &a.keep {
        rules = rules.rule(name, ValueRule::Keep);
    }
    for name in &a.hash {
        rules = rules.rule(name, ValueRule::Hash);
    }
    if a.dry_run {
        return preview(ctx, a, &who, &rules);
    }
    if !a.yes {
        return Err(CliError::Usage(format!(
            "anonymize cannot be undone: it drops or hashes the traits and event properties of the person {who} \
             reaches, removes and suppresses their identifiers and removes their history and consent. See what it \
             would do with --dry-run, then add --yes to confirm"
        )));
    }
    let db = open::for_writing(&ctx.db)?;
    if let Some(p) = db.get(&who)? {
        warn_unknown_names(a, &p, &events_of(&db, &p)?);
    }
    let finishing = super::finishing::on_signal(super::finishing::ANONYMIZE)?;
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
    })?;
    finishing.finish();
    Ok(())
}

/// `--dry-run`: what anonymize would do to the profile, read-only.
fn preview(ctx: &Ctx, a: &AnonymizeArgs, who: &Identifier, rules: &AnonymizeRules) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    let p = db.get(who)?.ok_or_else(|| CliError::NotFound(format!("no profile has identifier {who}")))?;
    let events = events_of(&db, &p)?;
    warn_unknown_names(a, &p, &events);
    let identifiers: Vec<String> = db.identifiers(p.id)?.iter().map(ToString::to_string).collect();
    let history = db.history(p.id)?.len();
    let mut traits = Plan::default();
    for (name, _) in p.traits.iter() {
        traits.add(name, rules.rule_for(name));
    }
    let mut properties = Plan::default();
    for e in &events {
        for (name, value) in e.properties.iter() {
            plan_property(name, value, rules, &mut properties);
        }
    }
    let v = json!({
        "dry_run": true, "profile": p.id.0, "identifiers_removed": identifiers,
        "traits": traits.json(), "event_properties": properties.json(), "events": events.len(),
        "history_entries_removed": history,
    });
    ctx.out.emit(&v, || {
        let ids = identifiers.iter().map(|i| text::escape(i)).collect::<Vec<_>>().join(", ");
        format!(
            "dry run: nothing was changed. anonymize would, for profile {}:\n  remove and suppress identifiers: \
             {ids}\n{}\n{}\n  scrub {} events (message ids, identifiers, identify traits)\n  remove {history} \
             history entries and the consent records (the anonymized state becomes the only version)\nrun it with \
             --yes instead of --dry-run to anonymize",
            p.id,
            traits.text("traits"),
            properties.text("event properties"),
            events.len(),
        )
    })
}

/// Every stored event of the profile.
fn events_of(db: &ProfileDb, p: &Profile) -> Result<Vec<Event>, CliError> {
    Ok(db.events(p.id, Timestamp(i64::MIN), Timestamp(i64::MAX))?)
}

/// Names, by what anonymize does to them.
#[derive(Default)]
struct Plan {
    kept: BTreeSet<String>,
    hashed: BTreeSet<String>,
    dropped: BTreeSet<String>,
}

impl Plan {
    fn add(&mut self, name: &str, rule: &ValueRule) {
        let set = match rule {
            ValueRule::Keep => &mut self.kept,
            ValueRule::Hash => &mut self.hashed,
            // The CLI sets no generalizations: anything else is the default, drop.
            _ => &mut self.dropped,
        };
        set.insert(name.to_owned());
    }

    fn json(&self) -> serde_json::Value {
        json!({"kept": self.kept, "hashed": self.hashed, "dropped": self.dropped})
    }

    fn text(&self, what: &str) -> String {
        let list = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "(none)".to_owned()
            } else {
                set.iter().map(|n| text::escape(n)).collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "  {what} kept:    {}\n  {what} hashed:  {}\n  {what} dropped: {}",
            list(&self.kept),
            list(&self.hashed),
            list(&self.dropped)
        )
    }
}

/// Adds the event property at `path` as anonymize treats it: an object
/// with a rule for a name below it member by member, anything else whole.
fn plan_property(path: &str, value: &PropertyValue, rules: &AnonymizeRules, plan: &mut Plan) {
    match value {
        PropertyValue::Object(members) if rules.has_rules_below(path) => {
            for (name, member) in members {
                plan_property(&format!("{path}.{name}"), member, rules, plan);
            }
        }
        _ => plan.add(path, rules.rule_for(path)),
    }
}

/// Warns on stderr about each `--keep`/`--hash` name that names nothing of
/// the profile: anonymizing cannot be undone, and a misspelt name drops
/// what it meant to keep.
fn warn_unknown_names(a: &AnonymizeArgs, p: &Profile, events: &[Event]) {
    let named = a.keep.iter().map(|n| ("--keep", n)).chain(a.hash.iter().map(|n| ("--hash", n)));
    for (option, name) in named {
        if !names_something(p, events, name) {
            eprintln!("warning: {option} {name:?} names no trait or event property of this profile");
        }
    }
}

/// Whether `name` is a trait of profile `p`, a dotted parent of one, or a
/// property (path) of one of its stored `events`.
fn names_something(p: &Profile, events: &[Event], name: &str) -> bool {
    let below = format!("{name}.");
    p.traits.iter().any(|(t, _)| t == name || t.starts_with(&below))
        || events.iter().any(|e| e.properties.get_path(name).is_some())
}
