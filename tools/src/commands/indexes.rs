//! Trait indexes: `index add|list|drop`.

use std::time::Instant;

use profiledb::{Error, TraitIndexInfo};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::IndexCommand;
use crate::error::CliError;
use crate::open;
use crate::output::table::Table;

/// Runs one `index` command.
pub fn index(ctx: &Ctx, cmd: IndexCommand) -> Result<(), CliError> {
    match cmd {
        IndexCommand::Add { name } => {
            let db = open::for_writing(&ctx.db)?;
            let existed = db.trait_indexes().iter().any(|i| i.name == name);
            let started = Instant::now();
            let info = db.index_trait(&name)?;
            let ms = started.elapsed().as_millis();
            if info.profiles == 0 && info.unindexed == 0 {
                eprintln!(
                    "warning: no profile has the trait {name:?}; the index stays empty until one gets it (check the \
                     spelling)"
                );
            }
            let mut v = info_json(&info);
            if let Value::Object(m) = &mut v {
                m.insert("already_indexed".into(), json!(existed));
                m.insert("elapsed_ms".into(), json!(ms));
            }
            ctx.out.emit(&v, || {
                let what = if existed { "already indexed" } else { "indexed" };
                format!(
                    "{what} traits.{}: {} distinct values, {} profiles with the trait, {} unindexed (backfilled in \
                     {ms} ms)",
                    info.name, info.values, info.profiles, info.unindexed
                )
            })
        }
        IndexCommand::List => {
            let db = open::for_reading(&ctx.db)?;
            let all = db.trait_indexes();
            let v = json!({"indexes": all.iter().map(info_json).collect::<Vec<_>>()});
            ctx.out.emit(&v, || {
                if all.is_empty() {
                    return "no indexed traits (add one with `profiledb index add NAME`)".into();
                }
                let mut t = Table::new(&["TRAIT", "VALUES", "PROFILES", "UNINDEXED"]);
                for i in &all {
                    t.row(vec![i.name.clone(), i.values.to_string(), i.profiles.to_string(), i.unindexed.to_string()]);
                }
                t.render()
            })
        }
        IndexCommand::Drop { name } => {
            let db = open::for_writing(&ctx.db)?;
            db.drop_trait_index(&name).map_err(|e| match e {
                Error::NotFound(_) => {
                    CliError::NotFound(format!("no index on trait {name:?} (see `profiledb index list`)"))
                }
                other => other.into(),
            })?;
            ctx.out.emit(&json!({"dropped": name}), || format!("dropped the index on traits.{name}"))
        }
    }
}

/// One index as JSON.
fn info_json(i: &TraitIndexInfo) -> Value {
    json!({"name": i.name, "values": i.values, "profiles": i.profiles, "unindexed": i.unindexed})
}
