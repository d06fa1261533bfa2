//! Names the stored data has never used. A definition naming one is most
//! often a misspelling, and some definitions cannot be taken back: `rfm
//! compute` refuses an amount property no stored event has (unless
//! `--allow-unseen`); rollups, segments and trait indexes, which may be
//! meant for data still to come, are defined with a warning on stderr.

use profiledb::{EventRef, ProfileDb};

use crate::error::CliError;

/// The sentence for an event name, or a property of one, that no stored
/// event has.
pub fn describe(r: &EventRef<'_>) -> String {
    match r.property {
        None => format!("no stored event is named {:?}", r.name),
        Some(p) => format!("no stored {:?} event has a property {p:?}", r.name),
    }
}

/// The first of (the event name, then its property) that no stored event
/// has, if any: a name never seen is reported as such, not as a missing
/// property.
pub fn first_unseen<'a>(
    db: &ProfileDb,
    event: &'a str,
    property: Option<&'a str>,
) -> Result<Option<EventRef<'a>>, CliError> {
    let mut refs = vec![EventRef { name: event, property: None }];
    refs.extend(property.map(|p| EventRef { name: event, property: Some(p) }));
    let seen = db.stored_events_match(&refs)?;
    Ok(refs.into_iter().zip(seen).find(|(_, seen)| !seen).map(|(r, _)| r))
}

/// Warns on stderr about each of `events` that no stored event is named,
/// saying what that means for the definition (`consequence`).
pub fn warn_events(db: &ProfileDb, events: &[&str], consequence: &str) -> Result<(), CliError> {
    let refs: Vec<EventRef<'_>> = events.iter().map(|name| EventRef { name, property: None }).collect();
    for (r, seen) in refs.iter().zip(db.stored_events_match(&refs)?) {
        if !seen {
            warn(r, consequence);
        }
    }
    Ok(())
}

/// Prints the warning for one unseen name.
pub fn warn(r: &EventRef<'_>, consequence: &str) {
    eprintln!("warning: {}; {consequence} (check the spelling)", describe(r));
}
