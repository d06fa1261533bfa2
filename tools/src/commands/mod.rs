//! What each command does, one module per command group. Each command
//! parses its input first (bad input fails before the database opens),
//! opens the database the way it needs ([`crate::open`]), and prints
//! through [`Out`].

pub mod admin;
mod anonymize;
mod consent;
mod demo;
mod disk_usage;
mod events;
mod finishing;
mod identity;
pub(crate) mod import;
mod indexes;
mod maintenance;
mod privacy;
pub mod profile;
pub mod retention;
mod secret;
mod segments;
mod traits;
mod unseen;

use std::path::PathBuf;

use profiledb::{Identifier, ProfileDb, ProfileId};

use crate::cli::{Cli, Command};
use crate::error::CliError;
use crate::output::Out;
use crate::parse::Target;

/// What every command gets: the database path and the output mode.
#[derive(Debug)]
pub struct Ctx {
    /// `--db`.
    pub db: PathBuf,
    /// `--json` or tables.
    pub out: Out,
}

/// Runs the command the user asked for.
pub fn run(cli: Cli) -> Result<(), CliError> {
    crate::open::set_key_file(cli.key_file);
    let ctx = Ctx { db: cli.db, out: Out { json: cli.json } };
    match cli.command {
        Command::Init => admin::init(&ctx),
        Command::Stats => admin::stats(&ctx),
        Command::Get(a) => profile::get(&ctx, &a),
        Command::History(a) => profile::history(&ctx, &a),
        Command::Identities(a) => profile::identities(&ctx, &a),
        Command::Trait(t) => traits::run(&ctx, t),
        Command::Identify(a) => identity::identify(&ctx, &a),
        Command::Merge(a) => identity::merge(&ctx, &a),
        Command::Unmerge(a) => identity::unmerge(&ctx, &a),
        Command::Identifier(c) => identity::identifier(&ctx, c),
        Command::Retain(a) => admin::retain(&ctx, &a),
        Command::Dump(a) => admin::dump(&ctx, &a),
        Command::Backup(a) => admin::backup(&ctx, &a),
        Command::Compact => admin::compact(&ctx),
        Command::Import(a) => import::run(&ctx, &a),
        Command::Track(a) => events::track(&ctx, &a),
        Command::Events(a) => events::events(&ctx, &a),
        Command::Rollup(c) => events::rollup(&ctx, c),
        Command::Rfm(c) => events::rfm(&ctx, c),
        Command::Segment(c) => segments::segment(&ctx, c),
        Command::Query(a) => segments::query(&ctx, &a),
        Command::Index(c) => indexes::index(&ctx, c),
        Command::Retention(c) => retention::retention(&ctx, c),
        Command::Feed(a) => maintenance::feed(&ctx, &a),
        Command::Tick(a) => maintenance::tick(&ctx, a),
        Command::Check(a) => maintenance::check(&ctx, &a),
        Command::Export(a) => privacy::export(&ctx, &a),
        Command::Erase(a) => privacy::erase(&ctx, &a),
        Command::Audit(a) => privacy::audit(&ctx, &a),
        Command::Consent(c) => consent::consent(&ctx, c),
        Command::Anonymize(a) => anonymize::anonymize(&ctx, &a),
        Command::MoveSecretOut(a) => secret::move_out(&ctx, &a),
        Command::Demo(a) => demo::run(&ctx, &a),
    }
}

/// The live profile an identifier reaches, or "not found".
pub fn resolve_identifier(db: &ProfileDb, identifier: &Identifier) -> Result<ProfileId, CliError> {
    db.resolve(identifier)?.ok_or_else(|| CliError::NotFound(format!("no profile has identifier {identifier}")))
}

/// The live profile a target reaches, or "not found".
pub fn resolve(db: &ProfileDb, target: &Target) -> Result<ProfileId, CliError> {
    let found = match target {
        Target::Identifier(i) => db.resolve(i)?,
        Target::Id(id) => db.resolve_id(*id)?,
    };
    let found = found.ok_or_else(|| CliError::NotFound(format!("no profile has {target}")))?;
    if let Target::Id(id) = target {
        note_merged_away(*id, found);
    }
    Ok(found)
}

/// Says on stderr that profile id `asked` merged away and `survivor` is
/// shown instead (nothing when they are the same).
pub fn note_merged_away(asked: ProfileId, survivor: ProfileId) {
    if asked != survivor {
        eprintln!("note: profile {asked} was merged into profile {survivor}: showing profile {survivor}");
    }
}
