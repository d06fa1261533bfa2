//! `demo`: builds a database from a generated dataset (see [`data`]) on a
//! simulated clock — events through batch ingest, declared rollups,
//! segments, RFM — then shows what an admin wants to see first (see
//! [`show`]).

mod data;
mod show;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::event::{Event, EventKind, Properties, PropertyValue};
use profiledb::rollup::{Aggregate, RfmConfig, RfmReport, RollupDef};
use profiledb::{
    Clock, Identifier, ManualClock, MergeRules, MergeStrategy, ProfileDb, SystemClock, Timestamp, TraitOp, TraitValue,
};

use super::Ctx;
use crate::cli::DemoArgs;
use crate::error::CliError;
use crate::open;
use crate::parse;
use data::{Action, Dataset, Person};

/// The most events per `ingest_batch` call.
const BATCH: usize = 1_024;

/// The rollups the demo declares (name, event, aggregate).
fn rollups() -> Vec<RollupDef> {
    vec![
        RollupDef::new("revenue", "purchase", Aggregate::Sum("amount".into())),
        RollupDef::new("orders", "purchase", Aggregate::Count),
        RollupDef::new("avg_order", "purchase", Aggregate::Avg("amount".into())),
        RollupDef::new("last_purchase", "purchase", Aggregate::Last),
        RollupDef::new("active_days", "page_view", Aggregate::ActiveDays),
        RollupDef::new("favorite_page", "page_view", Aggregate::MostFrequent("page".into())),
    ]
}

/// The segments the demo defines (name, expression), in dependency order.
pub const SEGMENTS: &[(&str, &str)] = &[
    ("high_value", "sum(purchase.amount, 30d) > 200"),
    ("cart_abandoners", "seq(add_to_cart, not purchase, 24h)"),
    ("active_users", "active_days(page_view, 30d) >= 3"),
    ("pricing_visitors", r#"count(page_view where page = "/pricing", 30d) >= 1"#),
    ("lapsed_buyers", "count(purchase) >= 1 and last(purchase) < now - 45d"),
    ("known_customers", "has email and has user_id"),
];

/// The query the demo runs and explains.
pub const QUERY: &str =
    r#"in pricing_visitors and not in high_value and in active_users and traits.plan in ["free", "starter"]"#;

/// What building the database did.
#[derive(Debug, Default)]
pub struct LoadStats {
    /// Events written.
    pub events: u64,
    /// `ingest_batch` calls.
    pub batches: u64,
    /// Time spent ingesting.
    pub ingest: Duration,
    /// (segment, members when backfilled, backfill time).
    pub segments: Vec<(String, u64, Duration)>,
    /// Wake-ups processed when the clock moved to now.
    pub ticked: u64,
    /// The RFM model and distribution.
    pub rfm: Option<RfmReport>,
    /// Time spent computing RFM.
    pub rfm_time: Duration,
    /// Time spent flushing and compacting the files at the end.
    pub compact_time: Duration,
}

/// Runs the demo.
pub fn run(ctx: &Ctx, a: &DemoArgs) -> Result<(), CliError> {
    if a.profiles == 0 {
        return Err(CliError::Usage("--profiles must be at least 1".into()));
    }
    let now = Clock::now(&SystemClock);
    let end = match &a.end {
        Some(s) => parse::time("--end", s)?,
        None => now,
    };
    prepare_dir(&a.dir)?;
    let generated = Instant::now();
    let data = data::generate(a.profiles, a.seed, end.0);
    let generate_time = generated.elapsed();
    let clock = Arc::new(ManualClock::new(Timestamp(data.start)));
    let db =
        ProfileDb::builder(&a.dir).clock(clock.clone()).merge_rules(merge_rules()).create_if_missing(true).open()?;
    let mut stats = LoadStats::default();
    for def in rollups() {
        db.declare_rollup(def)?;
    }
    load(&db, &clock, &data, &mut stats)?;
    for (name, expr) in SEGMENTS {
        let started = Instant::now();
        let n = db.define_segment(name, expr)?;
        stats.segments.push(((*name).to_owned(), n, started.elapsed()));
    }
    // From here on the database is current: its clock is the real one.
    clock.set(Timestamp(Clock::now(&SystemClock).0.max(end.0)));
    // The jump from the replayed history to now is meant: without this the
    // clock-jump guard would hold the tick (`max_clock_jump`).
    db.accept_clock()?;
    stats.ticked = db.tick()?.processed;
    let started = Instant::now();
    stats.rfm = Some(db.compute_rfm(RfmConfig { event: "purchase".into(), amount: "amount".into() })?);
    stats.rfm_time = started.elapsed();
    // Flushed and compacted, the directory holds table files only: no
    // write-ahead log for the next open to replay (CLI review L3: 45 WAL
    // files, 118 MiB, were left beside 32 MiB of tables).
    let started = Instant::now();
    db.compact()?;
    stats.compact_time = started.elapsed();
    show::report(ctx, a, &db, &data, &stats, generate_time)
}

/// How traits fold when a visitor's anonymous profile merges into the
/// customer: the first source is kept, everything else is last-write-wins.
fn merge_rules() -> MergeRules {
    MergeRules::default().trait_strategy("first_source", MergeStrategy::FirstWriteWins)
}

/// The file `demo` writes into the directory it creates. Only a directory
/// holding it is ever replaced by a later run.
pub const MARKER: &str = ".profiledb-demo";

/// What [`MARKER`] says to whoever finds it.
const MARKER_TEXT: &str = "This directory was created by `profiledb demo`; `profiledb demo --dir` replaces it on \
each run. Remove this file to keep the directory from being replaced.\n";

/// Makes `dir` an empty directory marked as the demo's. An existing one is
/// replaced only when it is empty or holds [`MARKER`] (a directory an
/// earlier run created) and no process has its database open; anything
/// else is refused and left as it is.
fn prepare_dir(dir: &Path) -> Result<(), CliError> {
    let io = |what: &str| {
        let what = format!("{what} {}", dir.display());
        move |source| CliError::Io { what, source }
    };
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(io("cannot access")(source)),
        Ok(meta) if !meta.is_dir() => {
            return Err(CliError::Usage(format!("--dir {} is not a directory; refusing to replace it", dir.display())))
        }
        Ok(_) => {
            let empty = std::fs::read_dir(dir).map_err(io("reading"))?.next().is_none();
            let marked = std::fs::symlink_metadata(dir.join(MARKER)).is_ok_and(|m| m.is_file());
            if !empty && !marked {
                return Err(CliError::Usage(format!(
                    "{} was not created by `profiledb demo` (it has no {MARKER} file); refusing to replace it. \
                     Choose another --dir, or remove the directory yourself",
                    dir.display()
                )));
            }
            if open::exists(dir)? {
                refuse_if_open(dir)?;
            }
            std::fs::remove_dir_all(dir).map_err(io("removing"))?;
        }
    }
    std::fs::create_dir_all(dir).map_err(io("creating"))?;
    std::fs::write(dir.join(MARKER), MARKER_TEXT).map_err(io("marking"))
}

/// Refuses a demo database that another process has open: taking its lock
/// (a writable open, released at once) is the only way to know.
fn refuse_if_open(dir: &Path) -> Result<(), CliError> {
    match ProfileDb::builder(dir).create_if_missing(false).open() {
        Err(e @ profiledb::Error::Locked { .. }) => Err(e.into()),
        // Any other failure (a damaged demo database) is replaced anyway.
        Ok(_) | Err(_) => Ok(()),
    }
}

/// Ingests every step in time order, in batches. A batch ends before an
/// event that may merge profiles, so that merge never finds a profile
/// written earlier in its own batch (which would make the library redo the
/// batch one event at a time). The clock shows each batch's last instant.
fn load(db: &ProfileDb, clock: &ManualClock, data: &Dataset, stats: &mut LoadStats) -> Result<(), CliError> {
    let started = Instant::now();
    let mut batch: Vec<Event> = Vec::with_capacity(BATCH);
    let flush = |batch: &mut Vec<Event>, stats: &mut LoadStats| -> Result<(), CliError> {
        let Some(last) = batch.last() else { return Ok(()) };
        clock.set(last.timestamp);
        let report = db.ingest_batch(batch, false)?;
        if let Some((i, e)) = report.rejected.first() {
            return Err(CliError::Refused(format!("the demo's event {i} of a batch was rejected: {e}")));
        }
        stats.events += report.applied;
        stats.batches += 1;
        batch.clear();
        Ok(())
    };
    for (n, step) in data.steps.iter().enumerate() {
        let person = data
            .people
            .get(step.person as usize)
            .ok_or_else(|| CliError::Usage(format!("demo step for unknown person {}", step.person)))?;
        if step.action.may_merge() || batch.len() >= BATCH {
            flush(&mut batch, stats)?;
        }
        batch.push(event(person, &step.action, Timestamp(step.at), n)?);
    }
    flush(&mut batch, stats)?;
    stats.ingest = started.elapsed();
    Ok(())
}

/// The event one action sends, as an application's tracking would.
fn event(p: &Person, action: &Action, at: Timestamp, n: usize) -> Result<Event, CliError> {
    let id = |kind: &str, value: &str| Identifier::new(kind, value).map_err(CliError::from);
    let anon = |d: usize| id("anonymous_id", p.anon.get(d).map_or("", String::as_str));
    let set = |name: &str, value: TraitValue| TraitOp::Set { name: name.to_owned(), value };
    type Props = Vec<(&'static str, PropertyValue)>;
    let identify =
        |ids: Vec<Identifier>, traits: Vec<TraitOp>| (EventKind::Identify, "identify", ids, Props::new(), traits);
    let track =
        |name: &'static str, ids: Vec<Identifier>, props: Props| (EventKind::Track, name, ids, props, Vec::new());
    let user = || id("user_id", &p.user_id);
    let (kind, name, mut ids, props, mut traits) = match action {
        Action::Newsletter => identify(
            vec![id("email", &p.email)?],
            vec![
                set("newsletter", true.into()),
                TraitOp::SetOnce { name: "first_source".into(), value: "newsletter".into() },
            ],
        ),
        // Logged in, the site sends the user id (a second device's
        // anonymous id joins at its login, not here).
        Action::PageView { device, page, known } => track(
            "page_view",
            vec![if *known { user()? } else { anon(*device)? }],
            vec![("page", (*page).into()), ("source", p.source.into())],
        ),
        Action::Signup => identify(
            vec![anon(0)?, user()?, id("email", &p.email)?],
            vec![
                set("name", p.name.as_str().into()),
                set("plan", "free".into()),
                set("country", p.country.into()),
                set("address.city", p.city.into()),
                set("signup_at", TraitValue::Time(at)),
                TraitOp::SetOnce { name: "first_source".into(), value: p.source.into() },
            ],
        ),
        Action::Login => identify(vec![anon(1)?, user()?], vec![set("last_login_at", TraitValue::Time(at))]),
        Action::AddToCart { product, cents, known } => track(
            "add_to_cart",
            vec![if *known { user()? } else { anon(0)? }],
            vec![("product", (*product).into()), ("price", (*cents as f64 / 100.0).into())],
        ),
        Action::Purchase { product, cents } => track(
            "purchase",
            vec![user()?],
            vec![
                ("product", (*product).into()),
                ("amount", (*cents as f64 / 100.0).into()),
                ("order_id", format!("o{n}").into()),
            ],
        ),
        Action::Upgrade { plan } => identify(vec![user()?], vec![set("plan", (*plan).into())]),
        Action::Move { city } => identify(vec![user()?], vec![set("address.city", (*city).into())]),
    };
    ids.sort();
    ids.dedup();
    traits.sort_by(|a, b| a.name().cmp(b.name()));
    let mut e = Event::new(kind, name, at, ids);
    e.message_id = Some(format!("demo-{n}"));
    e.properties = props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect::<Properties>();
    e.traits = traits;
    Ok(e)
}
