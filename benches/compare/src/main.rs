//! `profiledb-compare`: runs one customer-profile workload against
//! profiledb, SQLite, Redis and PostgreSQL and prints a markdown table.
//!
//! ```text
//! eval "$(tools/servers.sh start)"
//! profiledb-compare --quick
//! profiledb-compare --profiles 1000000 --out results.md
//! tools/servers.sh stop
//! ```
//!
//! Each store loads the same N profiles (not measured, but timed), then
//! runs the same operation sequence: lookups, trait updates, event ingest,
//! 3-way segment counts, membership checks. Stores run one after another,
//! so they never compete for the machine.

mod error;
mod measure;
mod report;
mod stores;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;

use error::{Context, Error, Result};
use report::{Outcome, Report, StoreRun};
use stores::{Op, Store};
use workload::{Ident, OpCounts, Ops};

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
    /// Segment-count queries [default: 100, quick and ci: 30; with --ops: ops/200 within 10..1000]
    #[arg(long)]
    count_ops: Option<usize>,
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
    #[arg(long)]
    cache_entries: Option<usize>,
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
    let (mut c, counts) = if cli.ci {
        (OpCounts { lookups: 2_000, updates: 500, events: 1_000, counts: 30, members: 2_000 }, 30)
    } else if cli.quick {
        (OpCounts { lookups: 20_000, updates: 5_000, events: 10_000, counts: 30, members: 20_000 }, 30)
    } else {
        (OpCounts { lookups: 100_000, updates: 20_000, events: 50_000, counts: 100, members: 100_000 }, 100)
    };
    if let Some(n) = cli.ops {
        c = OpCounts { lookups: n, updates: n, events: n, counts: (n / 200).clamp(10, 1000), members: n };
    } else {
        c.counts = counts;
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

fn stores(cli: &Cli) -> Vec<String> {
    match &cli.stores {
        Some(s) => s.clone(),
        None if cli.ci => vec!["profiledb".into(), "sqlite".into()],
        None => ALL_STORES.iter().map(|s| (*s).to_owned()).collect(),
    }
}

/// Profiles profiledb's caches hold: the option, or every profile the
/// workload makes.
fn cache_entries(cli: &Cli, n: u64, c: &OpCounts) -> usize {
    cli.cache_entries.unwrap_or(n as usize + (c.events / 10).max(1))
}

/// Runs the comparison; returns what is wrong with the result (stores that
/// disagree; with `--ci` also failures and skipped stores), empty if nothing.
fn run(cli: Cli) -> Result<Vec<String>> {
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
    eprintln!("generating operations for {n} profiles: {counts:?}");
    let ops = workload::ops(cli.seed, n, counts);
    let mut report = Report { header: header(&cli, n, &counts), profiles: n, runs: Vec::new(), skipped: Vec::new() };
    for name in ALL_STORES.iter().filter(|s| wanted.iter().any(|c| c == *s)) {
        eprintln!("== {name}");
        match open(name, &cli, dir, cache_entries(&cli, n, &counts)) {
            Ok(mut store) => report.runs.push(run_store(store.as_mut(), &cli, n, &ops)),
            Err(e) => {
                eprintln!("{name}: NOT measured: {e}");
                report.skipped.push(((*name).to_owned(), e.to_string()));
            }
        }
    }
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
        if report.runs.len() < 2 {
            problems.push(format!("{} store(s) measured; CI compares at least two", report.runs.len()));
        }
    }
    Ok(problems)
}

fn open(name: &str, cli: &Cli, dir: &Path, cache_entries: usize) -> Result<Box<dyn Store>> {
    let sub = |s: &str| -> Result<PathBuf> {
        let p = dir.join(s);
        if p.exists() {
            std::fs::remove_dir_all(&p).with_context(|| format!("removing old {}", p.display()))?;
        }
        std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
        Ok(p)
    };
    let url = |u: &Option<String>, var: &str, flag: &str| {
        u.clone().ok_or_else(|| {
            Error::msg(format!(
                "no server URL: pass {flag} or set {var} (eval \"$(tools/servers.sh start)\" starts one)"
            ))
        })
    };
    match name {
        "profiledb" => stores::pdb::open(&sub("profiledb")?, cache_entries),
        "sqlite" => stores::sqlite::open(&sub("sqlite")?),
        "redis" => stores::redis::connect(&url(&cli.redis_url, "PROFILEDB_REDIS_URL", "--redis-url")?),
        "postgres" => stores::postgres::connect(&url(&cli.pg_url, "PROFILEDB_PG_URL", "--pg-url")?),
        other => Err(Error::msg(format!("unknown store {other}"))),
    }
}

fn load(store: &mut dyn Store, cli: &Cli, n: u64) -> Result<Duration> {
    let mut spent = Duration::ZERO;
    let batch = cli.batch.max(1) as u64;
    let mut lo = 0;
    while lo < n {
        let hi = (lo + batch).min(n);
        let seeds: Vec<_> = (lo..hi).map(|i| workload::seed(cli.seed, i)).collect();
        let t = Instant::now();
        store.load(&seeds).with_context(|| format!("loading profiles {lo}..{hi}"))?;
        spent += t.elapsed();
        lo = hi;
    }
    let t = Instant::now();
    store.finish_load(n).context("finishing the load")?;
    Ok(spent + t.elapsed())
}

fn run_store(store: &mut dyn Store, cli: &Cli, n: u64, ops: &Ops) -> StoreRun {
    let name = store.name();
    let mut run = StoreRun {
        name,
        describe: store.describe(),
        load: Err(String::new()),
        outcomes: Vec::new(),
        notes: Op::ALL.iter().filter_map(|op| store.note(*op).map(|s| (*op, s))).collect(),
        checks: Vec::new(),
    };
    run.load = load(store, cli, n).map_err(|e| e.to_string());
    match &run.load {
        Ok(d) => eprintln!("{name}: loaded {n} profiles in {:.2} s", d.as_secs_f64()),
        Err(e) => {
            eprintln!("{name}: load failed: {e}");
            return run;
        }
    }
    run.checks.push(("segment sizes after load", sizes(store)));
    for op in Op::ALL {
        if let Some(why) = store.unsupported(op) {
            eprintln!("{name}: {}: n/a ({why})", op.label());
            run.outcomes.push((op, Outcome::NotApplicable(why)));
            continue;
        }
        let result = measure_op(store, op, ops, &mut run.checks);
        match &result {
            Ok(s) => eprintln!(
                "{name}: {}: {} ops, p50 {}, p99 {}, {}",
                op.label(),
                s.ops(),
                measure::fmt_ns(s.p50_ns()),
                measure::fmt_ns(s.p99_ns()),
                measure::fmt_rate(s.ops_per_sec())
            ),
            Err(e) => eprintln!("{name}: {}: FAILED: {e}", op.label()),
        }
        run.outcomes.push((op, result.map_or_else(|e| Outcome::Failed(e.to_string()), Outcome::Done)));
    }
    run.checks.push(("segment sizes after all operations", sizes(store)));
    match final_state(store, n, ops) {
        Ok(v) => run.checks.push(("final state of sampled profiles (digest)", v)),
        Err(e) => run.checks.push(("final state of sampled profiles (digest)", format!("error: {e}"))),
    }
    run
}

/// The 20 segment sizes, `/`-separated (or the error).
fn sizes(store: &mut dyn Store) -> String {
    match store.segment_sizes() {
        Ok(v) => v.iter().map(u64::to_string).collect::<Vec<_>>().join("/"),
        Err(e) => format!("error: {e}"),
    }
}

fn measure_op(
    store: &mut dyn Store,
    op: Op,
    ops: &Ops,
    checks: &mut Vec<(&'static str, String)>,
) -> Result<measure::Stats> {
    Ok(match op {
        Op::Lookup => {
            let (s, views) = measure::run(&ops.lookups, |id| store.lookup(id))?;
            let found = views.iter().flatten().count();
            let digest = views.iter().flatten().fold(0u64, |h, v| h.wrapping_add(v.digest()));
            checks.push(("lookups found", found.to_string()));
            checks.push(("lookup digest", format!("{digest:016x}")));
            s
        }
        Op::TraitUpdate => measure::run(&ops.updates, |(id, set)| store.set_trait(id, set))?.0,
        Op::Ingest => measure::run(&ops.events, |ev| store.ingest(ev))?.0,
        Op::SegmentCount => {
            let (s, answers) = measure::run(&ops.counts, |q| store.segment_count(q))?;
            let first: Vec<String> = answers.iter().take(6).map(u64::to_string).collect();
            checks.push(("segment counts (first 6)", first.join("/")));
            s
        }
        Op::Membership => {
            let (s, answers) = measure::run(&ops.members, |(id, seg)| store.is_member(id, *seg))?;
            checks.push(("membership checks true", answers.iter().filter(|b| **b).count().to_string()));
            s
        }
    })
}

/// After every operation: a digest over a sample of profiles (users and the
/// event stream's visitors), to check stitching and rollups agree.
fn final_state(store: &mut dyn Store, n: u64, ops: &Ops) -> Result<String> {
    let mut rng = workload::Rng::new(0xf1a1);
    let mut ids: Vec<Ident> = (0..1000).map(|_| Ident::user(rng.below(n))).collect();
    let visitors = (ops.events.len() as u64 / 10).max(1);
    ids.extend((0..visitors.min(1000)).map(Ident::visitor));
    let (mut found, mut digest) = (0u64, 0u64);
    for id in &ids {
        if let Some(v) = store.lookup(id)? {
            found += 1;
            digest = digest.wrapping_add(v.digest());
        }
    }
    Ok(format!("{found} found, {digest:016x}"))
}

fn header(cli: &Cli, n: u64, c: &OpCounts) -> Vec<(&'static str, String)> {
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
            format!(
                "{} profiles, {} identifiers, {} rollup pairs, {} wake-ups",
                k(profiles),
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
        ("seed", format!("{:#x}", cli.seed)),
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
