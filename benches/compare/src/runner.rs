//! One store's run: open, load, warm up, the measured phases, the checks,
//! and the CPU time and memory it took. A worker process runs exactly one
//! of these (see `main.rs`), so the process's CPU time and peak memory are
//! the store's own.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Context, Error, Result};
use crate::measure;
use crate::resources::{self, Cpu, Server};
use crate::stores::{self, Op, Store};
use crate::workload::{self, Ident, Ops};
use crate::Cli;

/// One measured operation on one store in one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OpResult {
    /// Operations run.
    pub ops: usize,
    /// Median latency of one operation.
    pub p50_ns: u64,
    /// 99th percentile latency (nearest rank).
    pub p99_ns: u64,
    /// Mean latency.
    pub mean_ns: u64,
    /// Wall time of the phase, [`Store::settle`] included.
    pub wall_ns: u64,
    /// The part of `wall_ns` spent settling at the end of a write phase.
    pub settle_ns: u64,
    /// CPU time of the phase (process and server), settling included.
    pub cpu: Cpu,
    /// The part of `cpu` spent while settling (the background work the
    /// phase's writes left behind, plus what settling forces early).
    #[serde(default)]
    pub settle_cpu: Cpu,
    /// Requests sent to the server during the phase (`None`: in-process).
    pub round_trips: Option<u64>,
}

impl OpResult {
    /// Operations per second of one client running them back to back,
    /// settling included.
    pub fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / (self.wall_ns.max(1) as f64 / 1e9)
    }

    /// Operations per second of one client over the operations alone, the
    /// settle at the end of a write phase left out (for reads the same as
    /// [`OpResult::ops_per_sec`]).
    pub fn ops_per_sec_unsettled(&self) -> f64 {
        self.ops as f64 / (self.wall_ns.saturating_sub(self.settle_ns).max(1) as f64 / 1e9)
    }

    /// CPU nanoseconds per operation: (process, server).
    pub fn cpu_per_op(&self) -> (f64, f64) {
        let n = self.ops.max(1) as f64;
        (self.cpu.process_ns as f64 / n, self.cpu.server_ns as f64 / n)
    }
}

/// What happened to one operation on one store.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum Outcome {
    /// Measured.
    Done(OpResult),
    /// The store cannot run it.
    NotApplicable(String),
    /// It failed with this error.
    Failed(String),
}

/// The load: wall time and CPU.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Load {
    /// Wall time in seconds, index builds and settling included.
    pub secs: f64,
    /// CPU time (process and server).
    pub cpu: Cpu,
}

/// Memory and size of one store's run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Memory {
    /// Resident set of the worker before the store was opened (the
    /// harness and the generated operations).
    pub baseline_rss: u64,
    /// Peak resident set of the worker process.
    pub peak_rss: u64,
    /// Proportional set size of the server's processes after the run.
    pub server_pss: Option<u64>,
    /// The stored data's size and what was measured.
    pub footprint: Option<(u64, String)>,
}

/// One store's run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoreRun {
    /// `profiledb`, `sqlite`, `redis` or `postgres`.
    pub name: String,
    /// Which run (1-based).
    pub run: usize,
    /// Version and configuration.
    pub describe: String,
    /// What the store keeps and does not.
    pub scope: String,
    /// Its memory budget.
    pub budget: String,
    /// Load average when the run started.
    pub load_average: String,
    /// The load, or why it failed.
    pub load: std::result::Result<Load, String>,
    /// Every operation's outcome.
    pub outcomes: Vec<(Op, Outcome)>,
    /// Footnotes per operation.
    pub notes: Vec<(Op, String)>,
    /// Cross-store checks: (what, value).
    pub checks: Vec<(String, String)>,
    /// Memory and size.
    pub memory: Memory,
}

/// Opens store `name`, its files (if any) in a fresh subdirectory of `dir`;
/// `caches` is (profiles profiledb's caches hold, profiles the run makes).
pub fn open(name: &str, cli: &Cli, dir: &Path, caches: (usize, usize)) -> Result<Box<dyn Store>> {
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
        "profiledb" => stores::pdb::open(&sub("profiledb")?, caches.0, caches.1, cli.history_days),
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

/// Runs the whole job on `store` (run number `run`): load, warm-up, every
/// operation, the checks, memory.
pub fn run_store(store: &mut dyn Store, cli: &Cli, n: u64, ops: &Ops, run: usize, baseline_rss: u64) -> StoreRun {
    let name = store.name();
    let mut out = StoreRun {
        name: name.to_owned(),
        run,
        describe: store.describe(),
        scope: store.scope().to_owned(),
        budget: store.budget(),
        load_average: resources::load_average(),
        load: Err(String::new()),
        outcomes: Vec::new(),
        notes: Op::ALL.iter().filter_map(|op| store.note(*op).map(|s| (*op, s.to_owned()))).collect(),
        checks: Vec::new(),
        memory: Memory { baseline_rss, ..Memory::default() },
    };
    let server = match store.server() {
        Ok(s) => s,
        Err(e) => {
            out.load = Err(format!("finding the server's processes: {e}"));
            return out;
        }
    };
    let cpu0 = Cpu::now(server);
    out.load = load(store, cli, n)
        .map(|d| Load { secs: d.as_secs_f64(), cpu: Cpu::now(server).since(cpu0) })
        .map_err(|e| e.to_string());
    match &out.load {
        Ok(l) => eprintln!("{name} #{run}: loaded {n} profiles in {:.2} s", l.secs),
        Err(e) => {
            eprintln!("{name} #{run}: load failed: {e}");
            return out;
        }
    }
    out.checks.push(("segment sizes after load".into(), sizes(store)));
    if let Err(e) = warm_up(store, ops) {
        out.checks.push(("warm-up".into(), format!("error: {e}")));
    }
    for op in Op::ALL {
        if let Some(why) = store.unsupported(op) {
            eprintln!("{name} #{run}: {}: n/a ({why})", op.label());
            out.outcomes.push((op, Outcome::NotApplicable(why.to_owned())));
            continue;
        }
        let result = measure_op(store, server, op, ops, &mut out.checks);
        match &result {
            Ok(s) => eprintln!(
                "{name} #{run}: {}: {} ops, p50 {}, p99 {}, {}, CPU/op {} + server {}",
                op.label(),
                s.ops,
                measure::fmt_ns(s.p50_ns),
                measure::fmt_ns(s.p99_ns),
                measure::fmt_rate(s.ops_per_sec()),
                measure::fmt_ns(s.cpu_per_op().0 as u64),
                measure::fmt_ns(s.cpu_per_op().1 as u64),
            ),
            Err(e) => eprintln!("{name} #{run}: {}: FAILED: {e}", op.label()),
        }
        out.outcomes.push((op, result.map_or_else(|e| Outcome::Failed(e.to_string()), Outcome::Done)));
    }
    out.checks.push(("segment sizes after all operations".into(), sizes(store)));
    let counts = store.counts().map_or_else(|e| format!("error: {e}"), |(p, i)| format!("{p} / {i}"));
    out.checks.push(("live profiles / identifiers after all operations".into(), counts));
    let (what, v) = final_state(store, n, ops);
    out.checks.push((what, v));
    out.memory.footprint = store.footprint().ok().map(|(b, what)| (b, what.to_owned()));
    out.memory.server_pss = server.map(Server::pss);
    out.memory.peak_rss = resources::peak_rss();
    out
}

/// Reads before measuring, not timed: lookups and membership checks of
/// other profiles than the measured ones, and every count query once.
fn warm_up(store: &mut dyn Store, ops: &Ops) -> Result<()> {
    for id in &ops.warm_lookups {
        store.lookup(id)?;
    }
    for (id, seg) in &ops.warm_members {
        store.is_member(id, *seg)?;
    }
    for q in &workload::COUNT_QUERIES {
        store.segment_count(q)?;
    }
    Ok(())
}

/// The 20 segment sizes, `/`-separated (or the error).
fn sizes(store: &mut dyn Store) -> String {
    match store.segment_sizes() {
        Ok(v) => v.iter().map(u64::to_string).collect::<Vec<_>>().join("/"),
        Err(e) => format!("error: {e}"),
    }
}

/// FNV-1a over a stream of words.
fn fnv(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |h, w| (h ^ w).wrapping_mul(0x100_0000_01b3))
}

fn measure_op(
    store: &mut dyn Store,
    server: Option<Server>,
    op: Op,
    ops: &Ops,
    checks: &mut Vec<(String, String)>,
) -> Result<OpResult> {
    let trips0 = store.round_trips();
    let cpu0 = Cpu::now(server);
    let stats = match op {
        Op::Lookup => {
            let (s, views) = measure::run(&ops.lookups, |id| store.lookup(id))?;
            let found = views.iter().flatten().count();
            let digest = fnv(views.iter().map(|v| v.as_ref().map_or(0, |v| v.digest())));
            checks.push(("lookups found".into(), found.to_string()));
            checks.push(("lookup answers (digest, in order)".into(), format!("{digest:016x}")));
            s
        }
        Op::TraitUpdate => measure::run(&ops.updates, |(id, set)| store.set_trait(id, set))?.0,
        Op::Ingest => measure::run(&ops.events, |ev| store.ingest(ev))?.0,
        Op::SegmentCount => {
            let (s, answers) = measure::run(&ops.counts, |q| store.segment_count(q))?;
            let first: Vec<String> = answers.iter().take(6).map(u64::to_string).collect();
            checks.push(("segment counts (first 6)".into(), first.join("/")));
            checks.push((
                format!("segment counts (all {}, digest)", answers.len()),
                format!("{:016x}", fnv(answers.iter().copied())),
            ));
            s
        }
        Op::Membership => {
            let (s, answers) = measure::run(&ops.members, |(id, seg)| store.is_member(id, *seg))?;
            let yes = answers.iter().filter(|b| **b).count();
            let digest = fnv(answers.iter().map(|b| u64::from(*b)));
            checks.push(("membership answers (true; digest, in order)".into(), format!("{yes}; {digest:016x}")));
            s
        }
    };
    let cpu1 = Cpu::now(server);
    let settle = if op.writes() {
        let t = Instant::now();
        store.settle()?;
        t.elapsed()
    } else {
        Duration::ZERO
    };
    let cpu2 = Cpu::now(server);
    let (cpu, settle_cpu) = (cpu2.since(cpu0), cpu2.since(cpu1));
    let round_trips = match (trips0, store.round_trips()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    Ok(OpResult {
        ops: stats.ops(),
        p50_ns: stats.p50_ns(),
        p99_ns: stats.p99_ns(),
        mean_ns: stats.mean_ns(),
        wall_ns: (stats.wall + settle).as_nanos() as u64,
        settle_ns: settle.as_nanos() as u64,
        cpu,
        settle_cpu,
        round_trips,
    })
}

/// Profiles the final-state digest reads: every user (or, above 200,000
/// profiles, every k-th so that 200,000 are read) and every visitor of the
/// event stream.
pub fn final_state_ids(n: u64, ops: &Ops) -> Vec<Ident> {
    let step = n.div_ceil(200_000).max(1);
    let mut ids: Vec<Ident> = (0..n).step_by(step as usize).map(Ident::user).collect();
    ids.extend((0..ops.visitors).map(Ident::visitor));
    ids
}

/// After every operation: a digest of the sampled profiles (users and the
/// event stream's visitors), to check stitching and rollups agree.
fn final_state(store: &mut dyn Store, n: u64, ops: &Ops) -> (String, String) {
    let ids = final_state_ids(n, ops);
    let what = format!("final state of {} profiles read after all operations (found, digest)", ids.len());
    let (mut found, mut digest) = (0u64, 0u64);
    for id in &ids {
        match store.lookup(id) {
            Ok(Some(v)) => {
                found += 1;
                digest = digest.wrapping_add(v.digest());
            }
            Ok(None) => {}
            Err(e) => return (what, format!("error: {e}")),
        }
    }
    (what, format!("{found}, {digest:016x}"))
}
