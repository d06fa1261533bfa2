//! Smoke tests: the workload is deterministic, and profiledb and SQLite
//! (the two stores that need no server) end in the same state.

use clap::Parser;

use crate::report::Outcome;
use crate::stores::{mask_diff, Op};
use crate::workload::{self, SEGMENTS};
use crate::{op_counts, open, run_store, Cli};

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
        let mut store = open(name, &cli, dir.path())?;
        runs.push(run_store(store.as_mut(), &cli, 500, &ops));
    }
    for run in &runs {
        assert!(run.load.is_ok(), "{} load: {:?}", run.name, run.load);
        for (op, o) in &run.outcomes {
            match o {
                Outcome::Done(s) => assert!(s.ops() > 0),
                Outcome::NotApplicable(_) => assert!(run.name == "profiledb"),
                Outcome::Failed(e) => panic!("{} {}: {e}", run.name, op.label()),
            }
        }
    }
    assert!(matches!(runs[1].outcomes.iter().find(|(o, _)| *o == Op::SegmentCount), Some((_, Outcome::Done(_)))));
    let check = |r: &crate::report::StoreRun, k: &str| r.checks.iter().find(|(c, _)| *c == k).map(|(_, v)| v.clone());
    for k in ["lookups found", "lookup digest", "final state of sampled profiles (digest)"] {
        assert_eq!(check(&runs[0], k), check(&runs[1], k), "{k}");
        assert!(check(&runs[0], k).is_some(), "{k} missing");
    }
    // The sample holds 1000 users and 30 visitors of the event stream:
    // visitors that sent events (alone or when logging in) resolve too.
    let state = check(&runs[0], "final state of sampled profiles (digest)").unwrap_or_default();
    let found: u32 = state.split(' ').next().unwrap_or_default().parse().unwrap_or_default();
    assert!(found > 1000, "visitors should resolve: {state}");
    Ok(())
}
