//! `profiledb-compare`: runs one customer-profile workload against
//! profiledb, SQLite, Redis and PostgreSQL and prints a markdown table.
//!
//! ```text
//! eval "$(tools/servers.sh start)"
//! profiledb-compare --quick --runs 3
//! profiledb-compare --profiles 1000000 --stores profiledb,sqlite --out results.md
//! tools/servers.sh stop
//! ```
//!
//! Each store loads the same N profiles (not measured, but timed), is
//! warmed up with reads, then runs the same operation sequence: lookups,
//! trait updates, event ingest, 3-way segment counts, membership checks.
//! Every store run is a separate worker process (this binary with
//! `--worker`), one at a time, so an embedded store's CPU time and peak
//! memory are its own and stores never compete for the machine; with
//! `--runs N` the runs are interleaved (every store once, then again).

mod error;
mod measure;
mod report;
mod resources;
mod runner;
mod stores;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Parser;
use serde::{Deserialize, Serialize};

use error::{Context, Error, Result};
use report::Report;
use runner::StoreRun;
use workload::OpCounts;

const ALL_STORES: [&str; 4] = ["profiledb", "sqlite", "redis", "postgres"];

/// Compare profiledb with SQLite, Redis and PostgreSQL on one workload.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// Number of profiles [default: 1000000, or 100000 with --quick]
    #[arg(long)]
    profiles: Option<u64>,
    /// Quick mode: 100,000 profiles and fewer operations.
    #[arg(long, conflicts_with = "ci")]
    quick: bool,
    /// CI mode: 5,000 profiles, few operations, profiledb and SQLite (unless
    /// --stores says otherwise); exits non-zero if a store fails, is
    /// skipped or disagrees with another.
    #[arg(long)]
    ci: bool,
    /// Stores to run, comma-separated [default: profiledb,sqlite,redis,postgres; with --ci: profiledb,sqlite]
    #[arg(long, value_delimiter = ',')]
    stores: Option<Vec<String>>,
    /// Operations per measured point operation (lookup, trait update,
    /// ingest, membership) [default: 100000/20000/50000/100000; quick: 20000/5000/10000/20000;
    /// ci: 2000/500/1000/2000]
    #[arg(long)]
    ops: Option<usize>,
    /// Segment-count queries [default: 200, or ops/100 within 200..1000 with --ops]
    #[arg(long)]
    count_ops: Option<usize>,
    /// Runs of every store (each a fresh process and a fresh load), reported
    /// as median and range [default: 3, with --ci: 1]
    #[arg(long)]
    runs: Option<usize>,
    /// Internal: run one store once in this process and print its results
    /// as JSON (the parent process starts one worker per store and run).
    #[arg(long, hide = true)]
    worker: Option<String>,
    /// Internal: the run number of a worker.
    #[arg(long, hide = true, default_value_t = 1)]
    run_index: usize,
    /// Redis URL; its database is FLUSHED. `tools/servers.sh env` prints one.
    #[arg(long, env = "PROFILEDB_REDIS_URL")]
    redis_url: Option<String>,
    /// PostgreSQL URL; the schema `profiledb_compare` is dropped and recreated.
    #[arg(long, env = "PROFILEDB_PG_URL")]
    pg_url: Option<String>,
    /// Directory for the profiledb and SQLite files [default: a temporary directory, removed afterwards]
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Also write the markdown report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the results as JSON on stdout instead of markdown.
    #[arg(long)]
    json: bool,
    /// Profiles profiledb's caches hold (records, and per profile 3
    /// identifiers, 4 rollup pairs, 8 wake-ups) [default: sized to the
    /// workload: profiles + the event stream's visitors, so every profile
    /// fits, as the SQL stores' page caches and Redis hold theirs]
    #[arg(long, conflicts_with = "cache_fraction")]
    cache_entries: Option<usize>,
    /// profiledb's caches sized to this fraction of the profiles the run
    /// makes (profiles + the event stream's visitors), e.g. 0.1: the
    /// memory-constrained configuration (lookups and writes of uncached
    /// profiles read RocksDB) [default: 1, every profile cached]
    #[arg(long, value_parser = parse_fraction)]
    cache_fraction: Option<f64>,
    /// Spread each profile's loaded event history over about this many
    /// days (profiledb keeps rollups in day buckets, so a longer history
    /// means more buckets: more disk, slower cold reads; the other stores
    /// load totals) [default: 0, a few days per profile]
    #[arg(long, default_value_t = 0)]
    history_days: u32,
    /// Workload seed.
    #[arg(long, default_value_t = workload::SEED)]
    seed: u64,
    /// Profiles per load batch (transaction / pipeline / COPY).
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(problems) if problems.is_empty() => {}
        Ok(problems) => {
            for p in problems {
                eprintln!("profiledb-compare: {p}");
            }
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("profiledb-compare: {e}");
            std::process::exit(1);
        }
    }
}

fn op_counts(cli: &Cli) -> OpCounts {
    let mut c = if cli.ci {
        OpCounts { lookups: 2_000, updates: 500, events: 1_000, counts: 200, members: 2_000 }
    } else if cli.quick {
        OpCounts { lookups: 20_000, updates: 5_000, events: 10_000, counts: 200, members: 20_000 }
    } else {
        OpCounts { lookups: 100_000, updates: 20_000, events: 50_000, counts: 200, members: 100_000 }
    };
    if let Some(n) = cli.ops {
        c = OpCounts { lookups: n, updates: n, events: n, counts: (n / 100).clamp(200, 1000), members: n };
    }
    if let Some(n) = cli.count_ops {
        c.counts = n;
    }
    c
}

fn profiles(cli: &Cli) -> u64 {
    cli.profiles.unwrap_or(if cli.ci {
        5_000
    } else if cli.quick {
        100_000
    } else {
        1_000_000
    })
}

fn runs(cli: &Cli) -> usize {
    cli.runs.unwrap_or(if cli.ci { 1 } else { 3 }).max(1)
}

fn stores(cli: &Cli) -> Vec<String> {
    match &cli.stores {
        Some(s) => s.clone(),
        None if cli.ci => vec!["profiledb".into(), "sqlite".into()],
        None => ALL_STORES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Profiles the workload makes: the loaded ones and (at most) one per
/// tenth event of the stream (its anonymous visitors).
fn workload_profiles(n: u64, c: &OpCounts) -> usize {
    n as usize + (c.events / 10).max(1)
}

/// Profiles profiledb's caches hold: `--cache-entries`, or
/// `--cache-fraction` of the profiles the workload makes (at least 1), or
/// all of them.
fn cache_entries(cli: &Cli, n: u64, c: &OpCounts) -> usize {
    let all = workload_profiles(n, c);
    match (cli.cache_entries, cli.cache_fraction) {
        (Some(e), _) => e,
        (None, Some(f)) => ((all as f64 * f).round() as usize).max(1),
        (None, None) => all,
    }
}

/// A fraction in (0, 1] for `--cache-fraction`.
fn parse_fraction(s: &str) -> std::result::Result<f64, String> {
    let f: f64 = s.parse().map_err(|_| format!("{s:?} is not a number (e.g. 0.1)"))?;
    if f > 0.0 && f <= 1.0 {
        Ok(f)
    } else {
        Err(format!("{s} is not in (0, 1]: the fraction of the profiles profiledb's caches hold"))
    }
}

/// What a worker prints on stdout.
#[derive(Serialize, Deserialize)]
enum WorkerOutput {
    /// The store ran (perhaps with failed operations).
    Ran(Box<StoreRun>),
    /// The store could not be opened.
    Skipped(String),
}

/// Runs the comparison; returns what is wrong with the result (stores that
/// disagree; with `--ci` also failures and skipped stores), empty if nothing.
fn run(cli: Cli) -> Result<Vec<String>> {
    if let Some(name) = &cli.worker {
        let out = worker(&cli, name)?;
        println!("{}", serde_json::to_string(&out)?);
        return Ok(Vec::new());
    }
    let wanted = stores(&cli);
    for s in &wanted {
        if !ALL_STORES.contains(&s.as_str()) {
            return Err(Error::msg(format!("unknown store {s:?}; known: {}", ALL_STORES.join(","))));
        }
    }
    let n = profiles(&cli);
    if n == 0 || n > u64::from(u32::MAX / 2) {
        return Err(Error::msg("--profiles must be between 1 and 2^31"));
    }
    let counts = op_counts(&cli);
    let load_before = resources::load_average();
    // Read now: the tree may change while a long run goes on.
    let commit = commit();
    let mut report = Report { header: Vec::new(), profiles: n, runs: Vec::new(), skipped: Vec::new() };
    let exe = std::env::current_exe().context("finding this program")?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    for run in 1..=runs(&cli) {
        for name in ALL_STORES.iter().filter(|s| wanted.iter().any(|c| c == *s)) {
            if report.skipped.iter().any(|(s, _)| s == name) {
                continue;
            }
            eprintln!("== {name}, run {run}");
            let why = match spawn_worker(&exe, &args, name, run) {
                Ok(WorkerOutput::Ran(r)) => {
                    report.runs.push(*r);
                    continue;
                }
                Ok(WorkerOutput::Skipped(why)) => why,
                Err(e) => e.to_string(),
            };
            eprintln!("{name}: NOT measured: {why}");
            report.skipped.push(((*name).to_owned(), why));
        }
    }
    report.header = header(&cli, n, &counts, &load_before, commit);
    let md = report.markdown();
    if let Some(out) = &cli.out {
        std::fs::write(out, &md).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("wrote {}", out.display());
    }
    if cli.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{md}");
    }
    let mut problems: Vec<String> =
        report.mismatches().into_iter().map(|k| format!("stores disagree on {k}")).collect();
    if cli.ci {
        problems.extend(report.failures());
        let stores = report.runs.iter().map(|r| r.name.as_str()).collect::<std::collections::BTreeSet<_>>();
        if stores.len() < 2 {
            problems.push(format!("{} store(s) measured; CI compares at least two", stores.len()));
        }
    }
    Ok(problems)
}

/// Runs store `name` in a fresh process of this program and reads its results.
fn spawn_worker(exe: &Path, args: &[String], name: &str, run: usize) -> Result<WorkerOutput> {
    let out = Command::new(exe)
        .args(args)
        .args(["--worker", name, "--run-index", &run.to_string()])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("starting the {name} worker"))?;
    if !out.status.success() {
        return Err(Error::msg(format!("the {name} worker failed ({})", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| format!("reading the {name} worker's results"))
}

/// The worker: one store, one run, in this process.
fn worker(cli: &Cli, name: &str) -> Result<WorkerOutput> {
    let n = profiles(cli);
    let counts = op_counts(cli);
    let temp;
    let dir: &Path = match &cli.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            d
        }
        None => {
            temp = tempfile::Builder::new().prefix("profiledb-compare-").tempdir().context("creating a temp dir")?;
            temp.path()
        }
    };
    let ops = workload::ops(cli.seed, n, counts);
    let baseline = resources::rss();
    match runner::open(name, cli, dir, (cache_entries(cli, n, &counts), workload_profiles(n, &counts))) {
        Ok(mut store) => {
            Ok(WorkerOutput::Ran(Box::new(runner::run_store(store.as_mut(), cli, n, &ops, cli.run_index, baseline))))
        }
        Err(e) => Ok(WorkerOutput::Skipped(e.to_string())),
    }
}

/// The commit checked out in the tree the harness was built from
/// (`PROFILEDB_COMMIT` overrides),
/// with `-dirty` when tracked files differ from it.
fn commit() -> String {
    if let Ok(c) = std::env::var("PROFILEDB_COMMIT") {
        return c;
    }
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            format!("{head}{}", if dirty { "-dirty" } else { "" })
        }
        None => "unknown (not a git checkout; set PROFILEDB_COMMIT)".into(),
    }
}

fn header(cli: &Cli, n: u64, c: &OpCounts, load_before: &str, commit: String) -> Vec<(&'static str, String)> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name").map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("MemTotal:").map(|m| m.trim().to_owned())))
        .and_then(|m| m.trim_end_matches(" kB").parse::<f64>().ok())
        .map_or_else(|| "?".into(), |kb| format!("{:.1}", kb / 1024.0 / 1024.0));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    vec![
        ("command", format!("`{command}`")),
        ("commit", commit),
        ("date", utc_date()),
        ("machine", format!("{cpu}, {cores} cores, {mem_gib} GiB RAM")),
        (
            "profiles",
            format!(
                "{}{}",
                measure::thousands(n),
                if cli.ci {
                    " (CI mode)"
                } else if cli.quick {
                    " (quick mode)"
                } else {
                    ""
                }
            ),
        ),
        ("profiledb caches", {
            let profiles = cache_entries(cli, n, c);
            let (ids, pairs, wakeups) = (
                profiles * stores::pdb::IDENTIFIERS_PER_PROFILE,
                profiles * stores::pdb::ROLLUP_PAIRS_PER_PROFILE,
                profiles * stores::pdb::WAKEUPS_PER_PROFILE,
            );
            let k = |x: usize| measure::thousands(x as u64);
            let all = workload_profiles(n, c);
            format!(
                "{} profiles ({}% of the {} the run makes), {} identifiers, {} rollup pairs, {} wake-ups",
                k(profiles),
                measure::sig2(100.0 * profiles as f64 / all.max(1) as f64),
                k(all),
                k(ids),
                k(pairs),
                k(wakeups)
            )
        }),
        (
            "operations",
            format!(
                "lookup {}, trait update {}, ingest {}, segment count {}, membership {}",
                c.lookups, c.updates, c.events, c.counts, c.members
            ),
        ),
        (
            "warm-up (not timed)",
            format!(
                "{} lookups, {} membership checks and each count query once, of other profiles, after the load",
                c.lookups.min(n as usize),
                c.lookups.min(n as usize)
            ),
        ),
        (
            "runs",
            format!(
            "{} per store, each a fresh worker process and a fresh load, interleaved (every store once, then again)",
            runs(cli)
        ),
        ),
        ("load average (1, 5, 15 min)", format!("{load_before} before, {} after", resources::load_average())),
        ("seed", format!("{:#x}", cli.seed)),
        (
            "loaded event history (profiledb)",
            if cli.history_days == 0 {
                "compressed: page views and adds to cart an hour apart, purchases a day apart".to_owned()
            } else {
                format!("spread over about {} days per profile (--history-days)", cli.history_days)
            },
        ),
        ("segment queries", workload::COUNT_QUERIES.iter().map(|q| q.describe()).collect::<Vec<_>>().join("; ")),
    ]
}

/// Today's date (UTC) as `YYYY-MM-DD`, from the days-to-civil algorithm.
fn utc_date() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} UTC")
}

#[cfg(test)]
mod tests;
