//! `trait set|unset|incr|add|remove`: one operator on one trait, written
//! as one delta (cause `admin trait <op>`). `set`, `incr` and `add` create
//! the profile when the identifier is new; `unset` and `remove` of an
//! identifier no profile has are "not found" and write nothing.

use profiledb::{Cause, Identifier, Update};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::TraitCommand;
use crate::error::CliError;
use crate::open;
use crate::output::{json as js, text};
use crate::parse;

/// Runs one `trait` command.
pub fn run(ctx: &Ctx, cmd: TraitCommand) -> Result<(), CliError> {
    let (command, identifier, name, update) = build(cmd)?;
    let update = update.cause(Cause::Admin(format!("trait {command}")));
    update.validate()?;
    let db = open::for_writing(&ctx.db)?;
    // Taking away from a profile that does not exist would create an empty one.
    if matches!(command, "unset" | "remove") {
        super::resolve_identifier(&db, &identifier)?;
    }
    let receipt = db.update(&identifier, update)?;
    let after = db.get_by_id(receipt.profile)?;
    let value = after.as_ref().and_then(|p| p.traits.get(&name).cloned());
    // `set` of an object writes nested traits: show the subtree.
    let nested = after.as_ref().map(|p| nested_json(&p.traits.to_json(), &name)).unwrap_or(Value::Null);
    let mut v = js::receipt(&receipt);
    if let Value::Object(m) = &mut v {
        let shown = value.as_ref().map_or(nested.clone(), |x| x.to_json());
        m.insert("trait".into(), json!({"name": name, "value": shown}));
    }
    ctx.out.emit(&v, || {
        let now = match (&value, &nested) {
            (Some(x), _) => format!("{name} = {}", text::value(x)),
            (None, Value::Null) => format!("{name} is not set"),
            (None, n) => format!("{name} = {n}"),
        };
        format!("{now}\n{}", text::receipt(&receipt))
    })
}

/// Parses a trait command into (command name, identifier, trait, update);
/// nothing is opened yet.
fn build(cmd: TraitCommand) -> Result<(&'static str, Identifier, String, Update), CliError> {
    Ok(match cmd {
        TraitCommand::Set { identifier, name, value, value_type } => {
            let ident = parse::identifier(&identifier)?;
            let pairs = parse::trait_values(&name, &value, value_type)?;
            let update = pairs.into_iter().fold(Update::new(), |u, (n, v)| u.set(&n, v));
            ("set", ident, name, update)
        }
        TraitCommand::Unset { identifier, name } => {
            ("unset", parse::identifier(&identifier)?, name.clone(), Update::new().unset(&name))
        }
        TraitCommand::Incr { identifier, name, by } => {
            let ident = parse::identifier(&identifier)?;
            let by = parse::amount(by.as_deref().unwrap_or("1"))?;
            ("incr", ident, name.clone(), Update::new().increment(&name, by))
        }
        TraitCommand::Add { identifier, name, values } => {
            ("add", parse::identifier(&identifier)?, name.clone(), Update::new().add_to_set(&name, values))
        }
        TraitCommand::Remove { identifier, name, values } => {
            ("remove", parse::identifier(&identifier)?, name.clone(), Update::new().remove_from_set(&name, values))
        }
    })
}

/// The subtree of nested trait JSON under a dotted name (Null if absent).
fn nested_json(root: &Value, dotted: &str) -> Value {
    let mut node = root;
    for part in dotted.split('.') {
        match node.get(part) {
            Some(child) => node = child,
            None => return Value::Null,
        }
    }
    node.clone()
}
