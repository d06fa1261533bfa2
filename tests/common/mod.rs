//! Helpers shared by the integration tests.

// Each test target compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::Path;

use profiledb::rollup::{Aggregate, RollupValue};
use profiledb::Timestamp;

/// Every file directly in `dir` that contains one of `needles` byte for
/// byte, as "PATH contains NEEDLE" lines (the erase and anonymize scans).
pub fn files_containing(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                hits.push(format!("{} contains {n:?}", path.display()));
            }
        }
    }
    hits
}

/// A rollup computed by brute force over the selected events, given as
/// `(time in ms, amount)` (the rollup model tests' reference).
pub fn brute_force_rollup(aggregate: &Aggregate, events: &[(i64, i64)]) -> RollupValue {
    let amounts = || events.iter().map(|&(_, amount)| amount as f64);
    let times = || events.iter().map(|&(at, _)| at);
    match aggregate {
        Aggregate::Count => RollupValue::Count(events.len() as u64),
        Aggregate::Sum(_) => RollupValue::Number((!events.is_empty()).then(|| amounts().sum())),
        Aggregate::Max(_) => RollupValue::Number(amounts().reduce(f64::max)),
        Aggregate::First => RollupValue::Time(times().min().map(Timestamp)),
        Aggregate::Last => RollupValue::Time(times().max().map(Timestamp)),
        Aggregate::ActiveDays => {
            let mut days: Vec<i64> = times().map(|t| t.div_euclid(Timestamp::DAY)).collect();
            days.sort_unstable();
            days.dedup();
            RollupValue::Count(days.len() as u64)
        }
        other => unreachable!("the model does not cover {other:?}"),
    }
}
