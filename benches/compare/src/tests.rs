//! Smoke tests: the workload is deterministic, and profiledb and SQLite
//! (the two stores that need no server) end in the same state.

use clap::Parser;

use crate::runner::{open, run_store, Outcome};
use crate::stores::{mask_diff, Op};
use crate::workload::{self, SEGMENTS};
use crate::{op_counts, Cli};

#[test]
fn workload_is_deterministic() {
    let a = workload::seed(7, 42);
    let b = workload::seed(7, 42);
    assert_eq!(a.view, b.view);
    assert_eq!(a.segs, a.view.segments());
    let c = workload::OpCounts { lookups: 50, updates: 50, events: 50, counts: 7, members: 50 };
    let (x, y) = (workload::ops(7, 1000, c), workload::ops(7, 1000, c));
    assert_eq!(x.lookups, y.lookups);
    assert_eq!(x.events.iter().map(|e| e.at).collect::<Vec<_>>(), y.events.iter().map(|e| e.at).collect::<Vec<_>>());
    assert_eq!(x.counts.len(), 7);
}

#[test]
fn segments_are_populated() {
    let mut members = [0u32; 20];
    for i in 0..5_000 {
        let s = workload::seed(workload::SEED, i);
        for (k, m) in members.iter_mut().enumerate() {
            *m += (s.segs >> k) & 1;
        }
    }
    for (k, m) in members.iter().enumerate() {
        assert!(*m > 0 && *m < 5_000, "segment {} has {m} of 5000 members", SEGMENTS[k].name);
    }
}

#[test]
fn rng_stays_in_range() {
    let mut r = workload::Rng::new(1);
    assert!((0..10_000).all(|_| r.below(7) < 7));
    assert!((0..10_000).all(|_| (0.0..1.0).contains(&r.unit())));
}

#[test]
fn mask_diff_splits_added_and_removed() {
    let (added, removed) = mask_diff(0b0110, 0b1100);
    assert_eq!(added.collect::<Vec<_>>(), vec![3]);
    assert_eq!(removed.collect::<Vec<_>>(), vec![1]);
}

#[test]
fn profiledb_and_sqlite_agree() -> crate::error::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let cli = Cli::parse_from(["t", "--profiles", "500", "--ops", "300", "--batch", "128", "--dir", &dir_arg]);
    let ops = workload::ops(cli.seed, 500, op_counts(&cli));
    let mut runs = Vec::new();
    for name in ["profiledb", "sqlite"] {
        let mut store = open(name, &cli, dir.path(), (10_000, 550))?;
        runs.push(run_store(store.as_mut(), &cli, 500, &ops, 1, 0));
    }
    for run in &runs {
        assert!(run.load.is_ok(), "{} load: {:?}", run.name, run.load);
        for (op, o) in &run.outcomes {
            match o {
                Outcome::Done(s) => assert!(s.ops > 0),
                Outcome::NotApplicable(why) => panic!("{} {}: n/a ({why})", run.name, op.label()),
                Outcome::Failed(e) => panic!("{} {}: {e}", run.name, op.label()),
            }
        }
    }
    for run in &runs {
        assert!(matches!(run.outcomes.iter().find(|(o, _)| *o == Op::SegmentCount), Some((_, Outcome::Done(_)))));
    }
    assert!(runs[0].checks.len() >= 9, "{:?}", runs[0].checks);
    assert_eq!(runs[0].checks, runs[1].checks);
    for (k, v) in &runs[0].checks {
        assert!(!v.contains("error"), "{k}: {v}");
    }
    // The final state reads all 500 users and the 30 visitors of the event
    // stream: visitors that sent events (alone or when logging in) resolve too.
    let (_, state) = runs[0].checks.iter().find(|(k, _)| k.starts_with("final state")).cloned().unwrap_or_default();
    let found: u32 = state.split(',').next().unwrap_or_default().parse().unwrap_or_default();
    assert!(found > 500, "visitors should resolve: {state}");
    // Write phases settle; embedded stores make no round trips; CPU is counted.
    for run in &runs {
        for (op, o) in &run.outcomes {
            if let Outcome::Done(r) = o {
                assert_eq!(r.round_trips, None);
                assert_eq!(r.cpu.server_ns, 0);
                assert!(r.wall_ns >= r.settle_ns);
                assert!(op.writes() || r.settle_ns == 0);
            }
        }
        let ingest = run.outcomes.iter().find_map(|(o, x)| match (o, x) {
            (Op::Ingest, Outcome::Done(r)) => Some(r.cpu.process_ns),
            _ => None,
        });
        assert!(ingest.unwrap_or(0) > 0, "{}: ingest CPU", run.name);
        assert!(run.memory.peak_rss > 0);
    }
    Ok(())
}

#[test]
fn ci_mode_defaults() {
    let cli = Cli::parse_from(["t", "--ci"]);
    assert_eq!(crate::profiles(&cli), 5_000);
    assert_eq!(crate::stores(&cli), vec!["profiledb".to_owned(), "sqlite".to_owned()]);
    let c = op_counts(&cli);
    assert_eq!((c.lookups, c.events, c.counts), (2_000, 1_000, 200));
    assert_eq!(crate::runs(&cli), 1);
    assert_eq!(crate::runs(&Cli::parse_from(["t", "--quick"])), 3);
    assert_eq!(crate::cache_entries(&cli, 5_000, &c), 5_100);
}

#[test]
fn a_spread_history_adds_up_to_the_same_rollups_over_more_days() {
    let mut widest = 0;
    for i in 0..200 {
        let s = workload::seed(workload::SEED, i);
        let (short, long) = (s.history_over(0), s.history_over(365));
        assert_eq!(short.len(), long.len());
        let delta = |h: &[workload::Event]| {
            h.iter().fold(workload::Rollups::default(), |mut r, e| {
                let d = e.delta();
                r.page_views += d.page_views;
                r.purchase_sum += d.purchase_sum;
                r.last_purchase_at = r.last_purchase_at.max(d.last_purchase_at);
                r
            })
        };
        assert_eq!(delta(&short), delta(&long), "profile {i}");
        let days = |h: &[workload::Event]| {
            let (lo, hi) = (h.iter().map(|e| e.at).min(), h.iter().map(|e| e.at).max());
            lo.zip(hi).map_or(0, |(lo, hi)| (hi - lo) / 86_400_000)
        };
        assert!(days(&long) >= days(&short), "profile {i}");
        widest = widest.max(days(&long));
    }
    assert!(widest >= 300, "the longest spread history spans {widest} days");
}

#[test]
fn history_adds_up_to_the_loaded_rollups() {
    for i in 0..200 {
        let s = workload::seed(workload::SEED, i);
        let h = s.history_over(if i % 2 == 0 { 0 } else { 365 });
        let mut r = workload::Rollups::default();
        for e in &h {
            let d = e.delta();
            r.page_views += d.page_views;
            r.add_to_carts += d.add_to_carts;
            r.purchases += d.purchases;
            r.purchase_sum += d.purchase_sum;
            r.last_purchase_at = r.last_purchase_at.max(d.last_purchase_at);
        }
        assert_eq!(r, s.view.r, "profile {i}");
    }
}

#[test]
fn every_segment_has_an_expression() {
    for s in &SEGMENTS {
        profiledb::segment::parse(s.expr).unwrap_or_else(|e| panic!("{}: {e}", s.name));
    }
}

#[test]
fn disagreeing_stores_are_reported() {
    let run = |name: &str, run: usize, digest: &str| crate::runner::StoreRun {
        name: name.to_owned(),
        run,
        describe: String::new(),
        scope: String::new(),
        budget: String::new(),
        load_average: String::new(),
        load: Ok(crate::runner::Load { secs: 1.0, cpu: crate::resources::Cpu::default() }),
        outcomes: Vec::new(),
        notes: Vec::new(),
        checks: vec![("lookup digest".to_owned(), digest.to_owned()), ("lookups found".to_owned(), "3".to_owned())],
        memory: crate::runner::Memory::default(),
    };
    let mut report = crate::report::Report {
        header: Vec::new(),
        profiles: 1,
        runs: vec![run("profiledb", 1, "aa"), run("sqlite", 1, "aa"), run("profiledb", 2, "aa")],
        skipped: Vec::new(),
    };
    assert!(report.mismatches().is_empty() && report.failures().is_empty());
    report.runs[2].checks[0].1 = "bb".to_owned();
    assert_eq!(report.mismatches(), vec!["lookup digest".to_owned()]);
    assert!(report.markdown().contains("lookup digest: **MISMATCH**"));
}

#[test]
fn spreads_and_speedups_are_per_run() {
    use crate::report::Spread;
    let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap_or(Spread { median: 0.0, min: 0.0, max: 0.0, n: 0 });
    assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
    assert_eq!(s.show(|x| format!("{x}")), "2 (1–3)");
    assert!(Spread::of(Vec::new()).is_none());
    assert_eq!(Spread::of(vec![1.0, 4.0]).map(|s| s.median), Some(2.5));
}

#[test]
fn worker_output_round_trips_through_json() -> crate::error::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let cli = Cli::parse_from(["t", "--profiles", "200", "--ops", "50", "--count-ops", "12", "--dir", &dir_arg]);
    let ops = workload::ops(cli.seed, 200, op_counts(&cli));
    let mut store = open("sqlite", &cli, dir.path(), (1_000, 205))?;
    let run = run_store(store.as_mut(), &cli, 200, &ops, 2, 0);
    let text = serde_json::to_string(&run)?;
    let back: crate::runner::StoreRun = serde_json::from_str(&text)?;
    assert_eq!(back.run, 2);
    assert_eq!(back.checks, run.checks);
    assert_eq!(back.outcomes.len(), Op::ALL.len());
    Ok(())
}

#[test]
fn the_mask_count_is_the_three_way_count() {
    for q in &workload::COUNT_QUERIES {
        let (mask, want) = q.mask();
        for i in 0..2_000 {
            let segs = workload::seed(workload::SEED, i).segs;
            let has = |s: usize| segs & (1 << s) != 0;
            assert_eq!(segs & mask == want, has(q.a) && has(q.b) && !has(q.not_c), "{} profile {i}", q.describe());
        }
    }
}

#[test]
fn sqlite_counts_by_the_mask_index_as_the_membership_join_does() -> crate::error::Result<()> {
    use crate::stores::Store;
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let cli = Cli::parse_from(["t", "--profiles", "800", "--ops", "400", "--batch", "100", "--dir", &dir_arg]);
    let ops = workload::ops(cli.seed, 800, op_counts(&cli));
    let mut db = crate::stores::sqlite::open_sqlite(dir.path())?;
    let run = run_store(&mut db, &cli, 800, &ops, 1, 0);
    assert!(run.load.is_ok(), "{:?}", run.load);
    // After the writes (trait updates, ingest with merges) both queries
    // give the same answers, none of them trivially zero.
    let mut nonzero = 0;
    for q in &workload::COUNT_QUERIES {
        let (by_mask, by_join) = (db.segment_count(q)?, db.count_by_join(q)?);
        assert_eq!(by_mask, by_join, "{}", q.describe());
        nonzero += usize::from(by_mask > 0);
    }
    assert!(nonzero >= 4, "too few non-empty counts to compare");
    let plan = db.count_plan()?;
    assert!(plan.contains("COVERING INDEX profiles_segs"), "{plan}");
    Ok(())
}

#[test]
fn profiledb_with_small_caches_and_a_year_of_history_agrees_with_sqlite() -> crate::error::Result<()> {
    let dir = tempfile::tempdir()?;
    let dir_arg = dir.path().to_string_lossy().into_owned();
    let args = ["t", "--profiles", "500", "--ops", "300", "--batch", "128", "--history-days", "365", "--dir", &dir_arg];
    let cli = Cli::parse_from(args);
    let ops = workload::ops(cli.seed, 500, op_counts(&cli));
    let mut runs = Vec::new();
    for (name, caches) in [("profiledb", 50), ("sqlite", 0)] {
        let mut store = open(name, &cli, dir.path(), (caches, 550))?;
        runs.push(run_store(store.as_mut(), &cli, 500, &ops, 1, 0));
    }
    assert!(runs[0].budget.contains("50 of the run's 550 profiles (the rest read from RocksDB)"), "{}", runs[0].budget);
    assert_eq!(runs[0].checks, runs[1].checks);
    Ok(())
}

#[test]
fn cache_fraction_sizes_profiledb_caches() {
    let cli = Cli::parse_from(["t", "--quick", "--cache-fraction", "0.1"]);
    let c = op_counts(&cli);
    assert_eq!(crate::cache_entries(&cli, 100_000, &c), 10_100);
    assert_eq!(crate::cache_entries(&Cli::parse_from(["t", "--quick"]), 100_000, &c), 101_000);
    for bad in ["0", "1.5", "-0.1", "ten"] {
        assert!(Cli::try_parse_from(["t", "--cache-fraction", bad]).is_err(), "{bad}");
    }
    assert!(Cli::try_parse_from(["t", "--cache-fraction", "0.5", "--cache-entries", "9"]).is_err());
}

fn op_result(ops: usize, wall_ms: u64, settle_ms: u64, server_ns: u64) -> crate::runner::OpResult {
    crate::runner::OpResult {
        ops,
        p50_ns: 1,
        p99_ns: 1,
        mean_ns: 1,
        wall_ns: wall_ms * 1_000_000,
        settle_ns: settle_ms * 1_000_000,
        cpu: crate::resources::Cpu { process_ns: 0, server_ns },
        settle_cpu: crate::resources::Cpu::default(),
        round_trips: None,
    }
}

#[test]
fn write_rates_are_given_with_and_without_the_settle() {
    let r = op_result(1_000, 2_000, 1_500, 0);
    assert!((r.ops_per_sec() - 500.0).abs() < 1e-9);
    assert!((r.ops_per_sec_unsettled() - 2_000.0).abs() < 1e-9);
    let read = op_result(1_000, 500, 0, 0);
    assert!((read.ops_per_sec() - read.ops_per_sec_unsettled()).abs() < 1e-9);
}

#[test]
fn server_cpu_below_the_tick_resolution_is_not_a_number() {
    use crate::report::{server_cpu_cell, Spread};
    let one = |x: f64| Spread { median: x, min: x, max: x, n: 1 };
    // 200 operations, 1 tick of 10 ms in the phase: below resolution, at most 100 ms / 200.
    assert_eq!(server_cpu_cell(one(50_000.0), one(10_000_000.0), 200.0, 10_000_000), "< 500 µs (below resolution)");
    assert_eq!(server_cpu_cell(one(0.0), one(0.0), 200.0, 10_000_000), "< 500 µs (below resolution)");
    // 2 s of server CPU over 20,000 operations: 100 µs each.
    assert_eq!(server_cpu_cell(one(100_000.0), one(2e9), 20_000.0, 10_000_000), "100 µs");
}

#[test]
fn the_report_shows_both_rates_and_the_store_memory() {
    use crate::runner::{Load, Memory, Outcome, StoreRun};
    let run = |name: &str, r: crate::runner::OpResult| StoreRun {
        name: name.to_owned(),
        run: 1,
        describe: String::new(),
        scope: String::new(),
        budget: String::new(),
        load_average: String::new(),
        load: Ok(Load { secs: 1.0, cpu: crate::resources::Cpu::default() }),
        outcomes: vec![(Op::Ingest, Outcome::Done(r))],
        notes: Vec::new(),
        checks: Vec::new(),
        memory: Memory { baseline_rss: 10 << 20, peak_rss: 110 << 20, server_pss: None, footprint: None },
    };
    let report = crate::report::Report {
        header: Vec::new(),
        profiles: 1,
        runs: vec![run("profiledb", op_result(1_000, 2_000, 1_500, 0)), run("sqlite", op_result(1_000, 1_000, 0, 0))],
        skipped: Vec::new(),
    };
    let md = report.markdown();
    // profiledb: 2,000/s over the operations, 500/s with its settle; SQLite 1,000/s both.
    assert!(md.contains("| 2,000/s | 500/s (settle 1.50 s) |"), "{md}");
    assert!(md.contains("| 2.0× | 0.50× |"), "{md}");
    assert!(md.contains("| 100 MiB |"), "{md}");
}
