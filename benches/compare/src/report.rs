//! The results: every store's runs, summarised as medians and ranges in a
//! markdown report, or all of it as JSON.

use serde_json::{json, Value};

use crate::measure::{fmt_ns, fmt_rate, fmt_ratio, sig3, thousands};
use crate::resources;
use crate::runner::{OpResult, Outcome, StoreRun};
use crate::stores::Op;

/// Everything a report shows.
pub struct Report {
    /// (what, value) lines at the top.
    pub header: Vec<(&'static str, String)>,
    /// Profiles loaded.
    pub profiles: u64,
    /// Every store run, all runs.
    pub runs: Vec<StoreRun>,
    /// Stores not measured, and why.
    pub skipped: Vec<(String, String)>,
}

/// Median, minimum and maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// How many values.
    pub n: usize,
}

impl Spread {
    /// The spread of `xs`; `None` when empty.
    pub fn of(mut xs: Vec<f64>) -> Option<Spread> {
        if xs.is_empty() {
            return None;
        }
        xs.sort_by(f64::total_cmp);
        let n = xs.len();
        let median = if n % 2 == 1 { xs[n / 2] } else { (xs[n / 2 - 1] + xs[n / 2]) / 2.0 };
        Some(Spread { median, min: xs[0], max: xs[n - 1], n })
    }

    /// `median (min–max)` with `f` formatting each; just the median for one value.
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        if self.n < 2 {
            f(self.median)
        } else {
            format!("{} ({}–{})", f(self.median), f(self.min), f(self.max))
        }
    }
}

/// Server CPU below this many clock ticks over a phase is reported as
/// below resolution: `/proc/<pid>/stat` counts whole ticks per process, so
/// a reading can be off by a tick per process.
pub const RESOLUTION_TICKS: u64 = 10;

/// The server CPU per operation cell: `per_op` (spread over the runs of
/// the CPU per operation) unless the phase's server CPU (`phase_total`,
/// nanoseconds) is under [`RESOLUTION_TICKS`] clock ticks of `tick_ns`,
/// then `< x (below resolution)` with x the resolution per operation.
pub fn server_cpu_cell(per_op: Spread, phase_total: Spread, ops: f64, tick_ns: u64) -> String {
    let resolution = (RESOLUTION_TICKS * tick_ns) as f64;
    if phase_total.median < resolution {
        format!("< {} (below resolution)", fmt_ns((resolution / ops.max(1.0)) as u64))
    } else {
        per_op.show(|x| fmt_ns(x as u64))
    }
}

fn mib(bytes: f64) -> String {
    format!("{} MiB", sig3(bytes / 1048576.0))
}

impl Report {
    /// Store names in the order they ran.
    fn stores(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for r in &self.runs {
            if !out.contains(&r.name.as_str()) {
                out.push(&r.name);
            }
        }
        out
    }

    fn runs_of<'a>(&'a self, store: &'a str) -> impl Iterator<Item = &'a StoreRun> + 'a {
        self.runs.iter().filter(move |r| r.name == store)
    }

    fn result(&self, store: &str, run: usize, op: Op) -> Option<&OpResult> {
        let r = self.runs.iter().find(|r| r.name == store && r.run == run)?;
        match r.outcomes.iter().find(|(o, _)| *o == op) {
            Some((_, Outcome::Done(s))) => Some(s),
            _ => None,
        }
    }

    /// The spread of `f` over a store's runs of `op`.
    fn spread(&self, store: &str, op: Op, f: impl Fn(&OpResult) -> f64) -> Option<Spread> {
        Spread::of(self.runs_of(store).filter_map(|r| self.result(store, r.run, op)).map(f).collect())
    }

    /// How many times faster profiledb is than `store`, per run (compared
    /// within the run): (by p50, by single-client throughput of the
    /// operations alone, by single-client throughput with the settle).
    fn speedups(&self, store: &str, op: Op) -> [Option<Spread>; 3] {
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        for r in self.runs_of(store) {
            if let (Some(p), Some(o)) = (self.result("profiledb", r.run, op), self.result(store, r.run, op)) {
                a.push(o.p50_ns as f64 / p.p50_ns.max(1) as f64);
                b.push(p.ops_per_sec_unsettled() / o.ops_per_sec_unsettled().max(f64::MIN_POSITIVE));
                c.push(p.ops_per_sec() / o.ops_per_sec().max(f64::MIN_POSITIVE));
            }
        }
        [Spread::of(a), Spread::of(b), Spread::of(c)]
    }

    /// The checks on which the store runs disagree.
    pub fn mismatches(&self) -> Vec<String> {
        self.check_rows().into_iter().filter(|(_, same, _)| !same).map(|(k, _, _)| k).collect()
    }

    /// Stores that were skipped, failed to load, failed an operation or a check.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.skipped.iter().map(|(n, why)| format!("{n} not measured: {why}")).collect();
        for r in &self.runs {
            if let Err(e) = &r.load {
                out.push(format!("{} #{}: load failed: {e}", r.name, r.run));
            }
            for (op, o) in &r.outcomes {
                match o {
                    Outcome::Done(_) => {}
                    Outcome::NotApplicable(why) => out.push(format!("{}: {}: n/a ({why})", r.name, op.label())),
                    Outcome::Failed(e) => out.push(format!("{} #{}: {}: failed: {e}", r.name, r.run, op.label())),
                }
            }
            for (k, v) in &r.checks {
                if v.contains("error") {
                    out.push(format!("{} #{}: {k}: {v}", r.name, r.run));
                }
            }
        }
        out
    }

    /// Every check: (what, whether every store run agrees, the values).
    /// Runs are deterministic, so all runs of all stores must agree.
    fn check_rows(&self) -> Vec<(String, bool, String)> {
        let mut keys: Vec<&String> = Vec::new();
        for r in &self.runs {
            for (k, _) in &r.checks {
                if !keys.contains(&k) {
                    keys.push(k);
                }
            }
        }
        keys.iter()
            .map(|k| {
                let vals: Vec<(String, Option<&String>)> = self
                    .runs
                    .iter()
                    .map(|r| (format!("{} #{}", r.name, r.run), r.checks.iter().find(|(c, _)| c == *k).map(|(_, v)| v)))
                    .collect();
                let same = vals.windows(2).all(|w| w[0].1.is_some() && w[0].1 == w[1].1)
                    && vals.first().is_some_and(|v| v.1.is_some());
                let list = if same {
                    format!("{} store runs: {}", vals.len(), vals[0].1.map_or("", String::as_str))
                } else {
                    vals.iter()
                        .map(|(n, v)| format!("{n} {}", v.map_or("(missing)", String::as_str)))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                ((*k).clone(), same, list)
            })
            .collect()
    }

    /// The markdown report.
    pub fn markdown(&self) -> String {
        let mut md = String::from("# profiledb-compare results\n\n");
        for (k, v) in &self.header {
            md.push_str(&format!("- {k}: {v}\n"));
        }
        md.push_str("\n## Stores\n\n");
        for name in self.stores() {
            if let Some(r) = self.runs_of(name).next() {
                md.push_str(&format!(
                    "- **{name}**: {}.\n  - Memory budget: {}.\n  - Does: {}.\n",
                    r.describe, r.budget, r.scope
                ));
                let loads: Vec<String> = self.runs_of(name).map(|r| format!("#{} {}", r.run, r.load_average)).collect();
                md.push_str(&format!("  - Load average when each run started: {}.\n", loads.join("; ")));
            }
        }
        for (name, why) in &self.skipped {
            md.push_str(&format!("- **{name}**: not measured — {why}\n"));
        }
        md.push_str(&self.resources_table());
        md.push_str(&self.ops_table());
        md.push_str("\n## Consistency (every store and every run answers the same)\n\n");
        for (k, same, list) in self.check_rows() {
            md.push_str(&format!("- {k}: {} ({list})\n", if same { "agree" } else { "**MISMATCH**" }));
        }
        md
    }

    fn resources_table(&self) -> String {
        let mut md = String::from(
            "\n## Load, memory and size\n\n\
             Medians over the runs, range in parentheses. Peak RSS is the worker process's (the embedded \
             store itself, or the client for a server; it includes the harness's baseline, shown apart). \
             Server memory is the proportional set size (PSS) of the server's processes at the end of the \
             run. The OS page cache is not counted for any store.\n\n\
             \"Store memory\" is peak RSS minus the harness baseline plus the server PSS: the memory \
             the store itself used.\n\n\
             | store | load time | load CPU (process + server) | store memory | peak RSS (process) | harness baseline RSS | server PSS | data size |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for name in self.stores() {
            let runs: Vec<&StoreRun> = self.runs_of(name).collect();
            let loads: Vec<_> = runs.iter().filter_map(|r| r.load.as_ref().ok()).collect();
            let secs = Spread::of(loads.iter().map(|l| l.secs).collect());
            let cpu = Spread::of(loads.iter().map(|l| (l.cpu.process_ns + l.cpu.server_ns) as f64 / 1e9).collect());
            let spread = |f: &dyn Fn(&StoreRun) -> Option<f64>| Spread::of(runs.iter().filter_map(|r| f(r)).collect());
            let own = spread(&|r| {
                Some(
                    r.memory.peak_rss.saturating_sub(r.memory.baseline_rss) as f64
                        + r.memory.server_pss.unwrap_or(0) as f64,
                )
            });
            let peak = spread(&|r| Some(r.memory.peak_rss as f64));
            let base = spread(&|r| Some(r.memory.baseline_rss as f64));
            let pss = spread(&|r| r.memory.server_pss.map(|b| b as f64));
            let size = spread(&|r| r.memory.footprint.as_ref().map(|f| f.0 as f64));
            let what = runs.iter().find_map(|r| r.memory.footprint.as_ref().map(|f| f.1.clone())).unwrap_or_default();
            let s = |x: Option<Spread>, f: &dyn Fn(f64) -> String| x.map_or("—".to_owned(), |x| x.show(f));
            md.push_str(&format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {} |\n",
                s(secs, &|x| format!("{} s", sig3(x))),
                s(cpu, &|x| format!("{} s", sig3(x))),
                s(own, &mib),
                s(peak, &mib),
                s(base, &mib),
                s(pss, &mib),
                s(size, &mib) + &if what.is_empty() { String::new() } else { format!(" ({what})") },
            ));
        }
        md
    }

    fn ops_table(&self) -> String {
        let mut md = format!(
            "\n## Operations\n\n\
             Medians over the runs, range in parentheses. Latencies are measured by the client around each \
             call (for Redis and PostgreSQL: including the loopback TCP round trip). Single-client ops/s \
             is one client running the operations back to back: \"ops only\" divides by the wall time of \
             the operations; for a write phase \"with settle\" divides by it plus the settle at the end of \
             the phase (profiledb: flush the memtables and wait for compactions; SQLite: WAL checkpoint; \
             PostgreSQL: VACUUM of the written tables + CHECKPOINT; Redis: nothing). The settle costs \
             about the same whatever the phase's length, so the rate with settle understates a store \
             with a costly settle on a short phase and the rate without it ignores the deferred work; \
             CPU per operation (settle included) charges that work by what it used. CPU per operation is the CPU time of every thread of the store's process (for a \
             server store: the client process) and of the server's processes, over the whole phase — \
             background flushes, compactions and the settle at the end of a write phase included — divided \
             by the operations; \"(settle …)\" is the part spent settling. Server CPU is read in clock \
             ticks (10 ms): a phase whose server CPU is under {RESOLUTION_TICKS} ticks shows \"< x\" \
             (below resolution) instead of a number. \"profiledb speedup\" is computed within each run \
             (other / profiledb) and then summarised; below 1× profiledb is slower.\n\n\
             | operation | store | ops | p50 | p99 | ops/s (ops only) | ops/s (with settle) | CPU/op (process) | CPU/op (server) | round trips/op | profiledb speedup (p50) | profiledb speedup (ops/s, ops only) | profiledb speedup (ops/s, with settle) |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut notes: Vec<String> = Vec::new();
        for op in Op::ALL {
            for name in self.stores() {
                let Some(first) = self.runs_of(name).next() else { continue };
                let mut label = name.to_owned();
                if let Some((_, note)) = first.notes.iter().find(|(o, _)| *o == op) {
                    let n = match notes.iter().position(|x| x == note) {
                        Some(i) => i + 1,
                        None => {
                            notes.push(note.clone());
                            notes.len()
                        }
                    };
                    label.push_str(&format!(" [{n}]"));
                }
                let failed: Vec<String> = self
                    .runs_of(name)
                    .filter_map(|r| match r.outcomes.iter().find(|(o, _)| *o == op) {
                        Some((_, Outcome::Failed(e))) => Some(format!("#{}: {}", r.run, e.replace('|', "/"))),
                        Some((_, Outcome::NotApplicable(why))) => Some(format!("n/a ({why})")),
                        _ => None,
                    })
                    .collect();
                let row = match self.spread(name, op, |s| s.p50_ns as f64) {
                    None if failed.is_empty() => continue,
                    None => format!("— | {} | — | — | — | — | — | — | — | — | —", failed.join("; ")),
                    Some(p50) => {
                        let ops = self.spread(name, op, |s| s.ops as f64).map_or(0.0, |s| s.median);
                        let p99 = self.spread(name, op, |s| s.p99_ns as f64);
                        let rate = self.spread(name, op, OpResult::ops_per_sec);
                        let rate_ops = self.spread(name, op, OpResult::ops_per_sec_unsettled);
                        let cpu_p = self.spread(name, op, |s| s.cpu_per_op().0);
                        let cpu_s = self.spread(name, op, |s| s.cpu_per_op().1);
                        let server_total = self.spread(name, op, |s| s.cpu.server_ns as f64);
                        let trips = self
                            .spread(name, op, |s| s.round_trips.map_or(f64::NAN, |t| t as f64 / s.ops.max(1) as f64));
                        let ns = |x: f64| fmt_ns(x as u64);
                        let [a, b, c] = if name == "profiledb" {
                            ["baseline".to_owned(), "baseline".to_owned(), "baseline".to_owned()]
                        } else {
                            self.speedups(name, op).map(|x| x.map_or("—".into(), |x| x.show(fmt_ratio)))
                        };
                        let c = if op.writes() { c } else { "(no settle)".to_owned() };
                        let server = if first.memory.server_pss.is_some() || name == "redis" || name == "postgres" {
                            match (cpu_s, server_total) {
                                (Some(x), Some(t)) => server_cpu_cell(x, t, ops, resources::tick_ns()),
                                _ => "—".into(),
                            }
                        } else {
                            "— (in-process)".to_owned()
                        };
                        let trips = match trips {
                            Some(t) if !t.median.is_nan() => format!("{:.2}", t.median),
                            _ => "0 (in-process)".to_owned(),
                        };
                        // Stores whose settle does nothing take under a microsecond.
                        let settle =
                            self.spread(name, op, |s| s.settle_ns as f64).filter(|s| op.writes() && s.median >= 1e3);
                        let settle_cpu = self.spread(name, op, |s| {
                            (s.settle_cpu.process_ns + s.settle_cpu.server_ns) as f64 / s.ops.max(1) as f64
                        });
                        let rate = match (rate, settle) {
                            (Some(r), Some(s)) => format!("{} (settle {})", r.show(fmt_rate), s.show(ns)),
                            (Some(r), None) if op.writes() => r.show(fmt_rate),
                            _ => "(no settle)".into(),
                        };
                        let rate_ops = rate_ops.map_or("—".into(), |r| r.show(fmt_rate));
                        let cpu_p = match (cpu_p, settle_cpu, settle) {
                            (Some(c), Some(sc), Some(_)) => {
                                format!("{} (settle {})", c.show(ns), sc.show(ns))
                            }
                            (Some(c), _, _) => c.show(ns),
                            _ => "—".into(),
                        };
                        let failed =
                            if failed.is_empty() { String::new() } else { format!(" ({})", failed.join("; ")) };
                        format!(
                            "{} | {}{failed} | {} | {rate_ops} | {} | {} | {server} | {trips} | {a} | {b} | {c}",
                            thousands(ops as u64),
                            p50.show(ns),
                            p99.map_or("—".into(), |x| x.show(ns)),
                            rate,
                            cpu_p,
                        )
                    }
                };
                md.push_str(&format!("| {} | {label} | {row} |\n", op.label()));
            }
        }
        if !notes.is_empty() {
            md.push_str("\nNotes:\n\n");
            for (i, n) in notes.iter().enumerate() {
                md.push_str(&format!("{}. {n}\n", i + 1));
            }
        }
        md
    }

    /// Every run's raw results, the header and the skipped stores, as JSON.
    pub fn json(&self) -> Value {
        json!({
            "header": self.header.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "profiles": self.profiles,
            "runs": self.runs,
            "skipped": self.skipped.iter().map(|(n, w)| json!({ "name": n, "reason": w })).collect::<Vec<_>>(),
            "mismatches": self.mismatches(),
        })
    }
}
