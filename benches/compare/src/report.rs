//! The results: a markdown report and the same data as JSON.

use std::time::Duration;

use serde_json::{json, Value};

use crate::measure::{fmt_ns, fmt_rate, fmt_ratio, sig3, thousands, Stats};
use crate::stores::Op;

/// What happened to one operation on one store.
pub enum Outcome {
    Done(Stats),
    NotApplicable(&'static str),
    Failed(String),
}

/// One store's run.
pub struct StoreRun {
    pub name: &'static str,
    pub describe: String,
    /// Load time, or why the load failed.
    pub load: std::result::Result<Duration, String>,
    pub outcomes: Vec<(Op, Outcome)>,
    pub notes: Vec<(Op, &'static str)>,
    /// Cross-store checks: (what, value).
    pub checks: Vec<(&'static str, String)>,
}

/// Everything a report shows.
pub struct Report {
    pub header: Vec<(&'static str, String)>,
    pub profiles: u64,
    pub runs: Vec<StoreRun>,
    pub skipped: Vec<(String, String)>,
}

impl Report {
    fn stats(&self, store: &str, op: Op) -> Option<&Stats> {
        let run = self.runs.iter().find(|r| r.name == store)?;
        match run.outcomes.iter().find(|(o, _)| *o == op) {
            Some((_, Outcome::Done(s))) => Some(s),
            _ => None,
        }
    }

    /// How many times faster profiledb is than `s`: (by p50, by throughput).
    fn speedup(&self, s: &Stats, op: Op) -> Option<(f64, f64)> {
        let p = self.stats("profiledb", op)?;
        let by_p50 = s.p50_ns() as f64 / p.p50_ns().max(1) as f64;
        let by_rate = p.ops_per_sec() / s.ops_per_sec().max(f64::MIN_POSITIVE);
        Some((by_p50, by_rate))
    }

    fn load_rate(&self, d: Duration) -> f64 {
        self.profiles as f64 / d.as_secs_f64().max(1e-9)
    }

    /// The checks on which the stores disagree.
    pub fn mismatches(&self) -> Vec<&'static str> {
        self.check_rows().into_iter().filter(|(_, same, _)| !same).map(|(k, _, _)| k).collect()
    }

    /// Stores that were skipped, failed to load, failed an operation or a check.
    pub fn failures(&self) -> Vec<String> {
        let mut out: Vec<String> = self.skipped.iter().map(|(n, why)| format!("{n} not measured: {why}")).collect();
        for r in &self.runs {
            if let Err(e) = &r.load {
                out.push(format!("{}: load failed: {e}", r.name));
            }
            for (op, o) in &r.outcomes {
                match o {
                    Outcome::Done(_) => {}
                    Outcome::NotApplicable(why) => out.push(format!("{}: {}: n/a ({why})", r.name, op.label())),
                    Outcome::Failed(e) => out.push(format!("{}: {}: failed: {e}", r.name, op.label())),
                }
            }
            for (k, v) in &r.checks {
                if v.contains("error") {
                    out.push(format!("{}: {k}: {v}", r.name));
                }
            }
        }
        out
    }

    /// Every check: (what, whether all stores agree, "store value" list).
    fn check_rows(&self) -> Vec<(&'static str, bool, String)> {
        let mut keys: Vec<&'static str> = Vec::new();
        for r in &self.runs {
            for (k, _) in &r.checks {
                if !keys.contains(k) {
                    keys.push(k);
                }
            }
        }
        keys.iter()
            .map(|k| {
                let vals: Vec<(&str, Option<&String>)> =
                    self.runs.iter().map(|r| (r.name, r.checks.iter().find(|(c, _)| c == k).map(|(_, v)| v))).collect();
                let same = vals.windows(2).all(|w| w[0].1.is_some() && w[0].1 == w[1].1);
                let list = vals
                    .iter()
                    .map(|(n, v)| format!("{n} {}", v.map_or("(missing)", String::as_str)))
                    .collect::<Vec<_>>()
                    .join(", ");
                (*k, same, list)
            })
            .collect()
    }

    /// The consistency section: every store should report the same values.
    fn consistency(&self) -> Vec<String> {
        self.check_rows()
            .into_iter()
            .map(|(k, same, list)| format!("- {k}: {} ({list})", if same { "agree" } else { "**MISMATCH**" }))
            .collect()
    }

    pub fn markdown(&self) -> String {
        let mut md = String::from("# profiledb-compare results\n\n");
        for (k, v) in &self.header {
            md.push_str(&format!("- {k}: {v}\n"));
        }
        md.push_str("\n## Stores\n\n");
        for r in &self.runs {
            md.push_str(&format!("- **{}**: {}\n", r.name, r.describe));
        }
        for (name, why) in &self.skipped {
            md.push_str(&format!("- **{name}**: not measured — {why}\n"));
        }
        md.push_str(
            "\n## Load (before measurement)\n\n| store | profiles | load time | profiles/s |\n|---|---:|---:|---:|\n",
        );
        for r in &self.runs {
            match &r.load {
                Ok(d) => md.push_str(&format!(
                    "| {} | {} | {} s | {} |\n",
                    r.name,
                    thousands(self.profiles),
                    sig3(d.as_secs_f64()),
                    fmt_rate(self.load_rate(*d))
                )),
                Err(e) => md.push_str(&format!("| {} | {} | failed: {e} | — |\n", r.name, thousands(self.profiles))),
            }
        }
        md.push_str(
            "\n## Operations\n\n\"profiledb speedup\" = how many times faster profiledb is than that store \
             (other p50 / profiledb p50, profiledb ops/s / other ops/s).\n\n\
             | operation | store | ops | p50 | p99 | throughput | profiledb speedup (p50) | profiledb speedup (ops/s) |\n\
             |---|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let mut notes: Vec<String> = Vec::new();
        for op in Op::ALL {
            for r in &self.runs {
                let Some((_, outcome)) = r.outcomes.iter().find(|(o, _)| *o == op) else { continue };
                let mut name = r.name.to_owned();
                if let Some((_, note)) = r.notes.iter().find(|(o, _)| *o == op) {
                    let n = match notes.iter().position(|x| x == note) {
                        Some(i) => i + 1,
                        None => {
                            notes.push((*note).to_owned());
                            notes.len()
                        }
                    };
                    name.push_str(&format!(" [{n}]"));
                }
                let row = match outcome {
                    Outcome::Done(s) => {
                        let (a, b) = match (r.name, self.speedup(s, op)) {
                            ("profiledb", _) => ("baseline".to_owned(), "baseline".to_owned()),
                            (_, Some((a, b))) => (fmt_ratio(a), fmt_ratio(b)),
                            (_, None) => ("—".to_owned(), "—".to_owned()),
                        };
                        format!(
                            "{} | {} | {} | {} | {a} | {b}",
                            thousands(s.ops() as u64),
                            fmt_ns(s.p50_ns()),
                            fmt_ns(s.p99_ns()),
                            fmt_rate(s.ops_per_sec())
                        )
                    }
                    Outcome::NotApplicable(why) => format!("— | n/a ({why}) | — | — | — | —"),
                    Outcome::Failed(e) => format!("— | failed: {} | — | — | — | —", e.replace('|', "/")),
                };
                md.push_str(&format!("| {} | {name} | {row} |\n", op.label()));
            }
        }
        if !notes.is_empty() {
            md.push_str("\nNotes:\n\n");
            for (i, n) in notes.iter().enumerate() {
                md.push_str(&format!("{}. {n}\n", i + 1));
            }
        }
        md.push_str("\n## Consistency (every store answers the same)\n\n");
        for line in self.consistency() {
            md.push_str(&line);
            md.push('\n');
        }
        md
    }

    pub fn json(&self) -> Value {
        let stores: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                let mut results = serde_json::Map::new();
                for (op, o) in &r.outcomes {
                    let v = match o {
                        Outcome::Done(s) => {
                            let mut v = json!({
                                "ops": s.ops(), "p50_ns": s.p50_ns(), "p99_ns": s.p99_ns(),
                                "ops_per_sec": s.ops_per_sec(), "wall_ms": s.wall.as_secs_f64() * 1e3,
                            });
                            if let (Some((a, b)), false) = (self.speedup(s, *op), r.name == "profiledb") {
                                v["profiledb_speedup_p50"] = json!(a);
                                v["profiledb_speedup_ops_per_sec"] = json!(b);
                            }
                            v
                        }
                        Outcome::NotApplicable(why) => json!({ "not_applicable": why }),
                        Outcome::Failed(e) => json!({ "error": e }),
                    };
                    results.insert(op.key().to_owned(), v);
                }
                json!({
                    "name": r.name,
                    "describe": r.describe,
                    "load": match &r.load {
                        Ok(d) => json!({ "seconds": d.as_secs_f64(), "profiles_per_sec": self.load_rate(*d) }),
                        Err(e) => json!({ "error": e }),
                    },
                    "results": results,
                    "notes": r.notes.iter().map(|(o, n)| json!({ "op": o.key(), "note": n })).collect::<Vec<_>>(),
                    "checks": r.checks.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                })
            })
            .collect();
        json!({
            "header": self.header.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
            "profiles": self.profiles,
            "stores": stores,
            "skipped": self.skipped.iter().map(|(n, w)| json!({ "name": n, "reason": w })).collect::<Vec<_>>(),
        })
    }
}
