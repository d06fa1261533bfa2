//! `demo`: builds a database from a generated dataset (see [`data`]) on a
//! simulated clock, then shows what an admin wants to see first (see
//! [`show`]). Later capabilities (events, segments, RFM) add their own
//! load steps and sections here.

mod data;
mod show;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::{Cause, Identifier, ManualClock, MergeRules, MergeStrategy, ProfileDb, Timestamp, Update};

use super::Ctx;
use crate::cli::DemoArgs;
use crate::error::CliError;
use crate::open;
use data::{Action, Dataset, Person};

/// What loading the dataset did.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Write operations.
    pub writes: u64,
    /// Profiles merged into others.
    pub merges: u64,
    /// Time spent writing.
    pub elapsed: Duration,
    /// The simulated time of the last write.
    pub last_at: Timestamp,
}

/// Runs the demo.
pub fn run(ctx: &Ctx, a: &DemoArgs) -> Result<(), CliError> {
    if a.profiles == 0 {
        return Err(CliError::Usage("--profiles must be at least 1".into()));
    }
    prepare_dir(&a.dir)?;
    let generated = Instant::now();
    let data = data::generate(a.profiles, a.seed);
    let generate_time = generated.elapsed();
    let clock = Arc::new(ManualClock::new(Timestamp(data::START)));
    let db =
        ProfileDb::builder(&a.dir).clock(clock.clone()).merge_rules(merge_rules()).create_if_missing(true).open()?;
    let stats = load(&db, &clock, &data)?;
    show::report(ctx, a, &db, &data, &stats, generate_time)
}

/// How traits fold when a visitor's anonymous profile merges into the
/// customer: counters add up, the first source is kept, tags unite, and
/// everything else is last-write-wins.
fn merge_rules() -> MergeRules {
    MergeRules::default()
        .trait_strategy("page_views", MergeStrategy::Sum)
        .trait_strategy("logins", MergeStrategy::Sum)
        .trait_strategy("first_source", MergeStrategy::FirstWriteWins)
        .trait_strategy("tags", MergeStrategy::Union)
}

/// Empties the demo directory: it must be missing, empty, or a database.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    if !dir.exists() {
        return Ok(());
    }
    let io = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |source| CliError::Io { what, source }
    };
    let empty = std::fs::read_dir(dir).map_err(io("reading"))?.next().is_none();
    if !empty && !open::exists(dir) {
        return Err(CliError::Usage(format!(
            "{} exists and is not a profiledb database; refusing to replace it (choose another --dir)",
            dir.display()
        )));
    }
    std::fs::remove_dir_all(dir).map_err(io("removing"))
}

/// Writes every event in time order, moving the clock to each.
fn load(db: &ProfileDb, clock: &ManualClock, data: &Dataset) -> Result<LoadStats, CliError> {
    let started = Instant::now();
    let mut stats = LoadStats::default();
    for ev in &data.events {
        let person = data
            .people
            .get(ev.person as usize)
            .ok_or_else(|| CliError::Usage(format!("demo event for unknown person {}", ev.person)))?;
        clock.set(Timestamp(ev.at));
        let (ids, update) = operation(person, &ev.action, Timestamp(ev.at))?;
        let receipt = db.identify(&ids, update)?;
        stats.writes += 1;
        stats.merges += receipt.merged.len() as u64;
        stats.last_at = Timestamp(ev.at);
    }
    stats.elapsed = started.elapsed();
    Ok(stats)
}

/// The identifiers and update one action writes, as an application would.
fn operation(p: &Person, action: &Action, at: Timestamp) -> Result<(Vec<Identifier>, Update), CliError> {
    let id = |kind: &str, value: &str| Identifier::new(kind, value).map_err(CliError::from);
    let anon = |d: usize| id("anonymous_id", p.anon.get(d).map_or("", String::as_str));
    let event = |name: &str| Cause::Event { message_id: None, name: name.to_owned() };
    Ok(match action {
        Action::Newsletter => (
            vec![id("email", &p.email)?],
            Update::new()
                .set("newsletter", true)
                .set_once("first_source", "newsletter")
                .cause(event("Newsletter Subscribed")),
        ),
        Action::Visit { device, pages } => (
            vec![anon(*device)?],
            Update::new()
                .increment("page_views", *pages)
                .set_once("first_source", p.source)
                .set("last_seen_at", at)
                .cause(event("page")),
        ),
        Action::Signup => (
            vec![anon(0)?, id("user_id", &p.user_id)?, id("email", &p.email)?],
            Update::new()
                .set("name", p.name.as_str())
                .set("plan", "free")
                .set("country", p.country)
                .set("address.city", p.city)
                .set("signup_at", at)
                .add_to_set("tags", ["signed_up"])
                .cause(event("identify")),
        ),
        Action::Login => (
            vec![anon(1)?, id("user_id", &p.user_id)?],
            Update::new().increment("logins", 1).set("last_seen_at", at).cause(event("identify")),
        ),
        Action::Purchase { cents } => (
            vec![id("user_id", &p.user_id)?],
            Update::new()
                .increment("lifetime_value", *cents as f64 / 100.0)
                .increment("orders", 1)
                .set("last_order_at", at)
                .add_to_set("tags", ["buyer"])
                .cause(event("Order Completed")),
        ),
        Action::Upgrade { plan } => {
            (vec![id("user_id", &p.user_id)?], Update::new().set("plan", *plan).cause(event("Plan Changed")))
        }
        Action::Move { city } => {
            (vec![id("user_id", &p.user_id)?], Update::new().set("address.city", *city).cause(event("Address Updated")))
        }
    })
}
