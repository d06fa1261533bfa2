//! Helpers shared by the integration tests.

// Each test target compiles this module and uses only part of it.
#![allow(dead_code)]

pub mod versions;

use std::collections::BTreeMap;
use std::path::Path;

use profiledb::rollup::{Aggregate, ExactSum, RollupValue, MAX_UNIQUE_VALUES};
use profiledb::{Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

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

/// Every raw entry of `db` (any column family) whose key or value holds
/// one of `needles` byte for byte, as "CF KEY-HEX: NEEDLE" lines (what an
/// erase must leave none of).
pub fn raw_hits(db: &ProfileDb, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for e in db.raw_dump().expect("raw dump") {
        for n in needles {
            let holds = |b: &[u8]| b.windows(n.len()).any(|w| w == n.as_bytes());
            if holds(&e.key) || holds(&e.value) {
                let key: String = e.key.iter().map(|x| format!("{x:02x}")).collect();
                hits.push(format!("{} {key}: {n}", e.cf));
            }
        }
    }
    hits
}

/// A rollup computed by brute force over the selected events, given as
/// `(time in ms, amount)` (the rollup model tests' reference).
pub fn brute_force_rollup(aggregate: &Aggregate, events: &[(i64, i64)]) -> RollupValue {
    let observed: Vec<Observed> = events
        .iter()
        .map(|&(at, amount)| Observed { at, number: Some(amount as f64), key: Some(amount.to_string()) })
        .collect();
    brute_force_rollup_of(aggregate, &observed)
}

/// One selected event as a brute-force rollup sees it: its time and the
/// value of the rollup's property, if the event has it.
#[derive(Clone, Debug)]
pub struct Observed {
    /// Event time (ms).
    pub at: i64,
    /// The property's value when it is a number (sum, min, max, average).
    pub number: Option<f64>,
    /// The property's value as a key: the string itself, or the JSON of
    /// any other value (most frequent, unique).
    pub key: Option<String>,
}

/// A rollup computed by brute force over the selected events: every
/// aggregate, with the documented rules — sums, extremes and averages over
/// the events that carry a number (sums exact, correctly rounded: what
/// every fold order gives; average = sum / how many), the most
/// frequent value's ties going to the smallest value. The model does not
/// cover value sets past [`MAX_UNIQUE_VALUES`] (it panics).
pub fn brute_force_rollup_of(aggregate: &Aggregate, events: &[Observed]) -> RollupValue {
    let numbers = || events.iter().filter_map(|e| e.number);
    let times = || events.iter().map(|e| e.at);
    let frequencies = || {
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for k in events.iter().filter_map(|e| e.key.as_deref()) {
            *counts.entry(k).or_default() += 1;
        }
        assert!(counts.len() <= MAX_UNIQUE_VALUES, "the model does not cover overflowed value sets");
        counts
    };
    match aggregate {
        Aggregate::Count => RollupValue::Count(events.len() as u64),
        Aggregate::Sum(_) => {
            RollupValue::Number(numbers().next().is_some().then(|| numbers().collect::<ExactSum>().value()))
        }
        Aggregate::Min(_) => RollupValue::Number(numbers().reduce(f64::min)),
        Aggregate::Max(_) => RollupValue::Number(numbers().reduce(f64::max)),
        Aggregate::Avg(_) => {
            let n = numbers().count();
            RollupValue::Number((n > 0).then(|| numbers().collect::<ExactSum>().value() / n as f64))
        }
        Aggregate::First => RollupValue::Time(times().min().map(Timestamp)),
        Aggregate::Last => RollupValue::Time(times().max().map(Timestamp)),
        Aggregate::ActiveDays => {
            let mut days: Vec<i64> = times().map(|t| t.div_euclid(Timestamp::DAY)).collect();
            days.sort_unstable();
            days.dedup();
            RollupValue::Count(days.len() as u64)
        }
        Aggregate::MostFrequent(_) => {
            // Ascending order, replaced only by a strictly larger count: ties keep the smallest.
            let mut best: Option<(&str, u64)> = None;
            for (k, n) in frequencies() {
                if best.is_none_or(|(_, m)| n > m) {
                    best = Some((k, n));
                }
            }
            RollupValue::MostFrequent { value: best.map(|(k, _)| k.to_owned()), complete: true }
        }
        Aggregate::Unique(_) => {
            let values: Vec<String> = frequencies().into_keys().map(str::to_owned).collect();
            RollupValue::Unique { count: values.len() as u64, values, complete: true }
        }
    }
}

/// A chain of merges (see [`merge_chain`]): the three profile ids and the
/// instants around the merges.
pub struct MergeChain {
    /// Profiles 0 (`user_id:a`, plan), 1 (`anonymous_id:b`, color) and 2
    /// (`device_id:c`, size).
    pub ids: [ProfileId; 3],
    /// After all three exist, before any merge.
    pub before_merges: Timestamp,
    /// After 2 merged into 1, before 1 merged into 0.
    pub between: Timestamp,
    /// After 1 merged into 0.
    pub after: Timestamp,
}

/// Creates three profiles 10 ms apart (`user_id:a` with plan, then
/// `anonymous_id:b` with color, then `device_id:c` with size), then merges
/// them as a chain 2 → 1 → 0: identify b + c, then a + b.
pub fn merge_chain(db: &ProfileDb, clock: &ManualClock) -> MergeChain {
    let id = |s: &str| s.parse::<profiledb::Identifier>().expect("valid test identifier");
    let create = |who: &str, update: Update| db.update(&id(who), update).expect("create").profile;
    let zero = create("user_id:a", Update::new().set("plan", "gold"));
    clock.advance(10);
    let one = create("anonymous_id:b", Update::new().set("color", "red"));
    clock.advance(10);
    let two = create("device_id:c", Update::new().set("size", 42));
    clock.advance(10);
    let before_merges = clock.now();
    clock.advance(10);
    db.identify(&[id("anonymous_id:b"), id("device_id:c")], Update::new()).expect("merge 2 into 1");
    clock.advance(10);
    let between = clock.now();
    clock.advance(10);
    db.identify(&[id("user_id:a"), id("anonymous_id:b")], Update::new()).expect("merge 1 into 0");
    clock.advance(10);
    MergeChain { ids: [zero, one, two], before_merges, between, after: clock.now() }
}

/// A test identifier from `kind:value`.
pub fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

/// A database in `dir` (created) on a manual clock set to `t0`. Its tests
/// jump the clock by months and read the whole feed and membership
/// history: feed and membership-history retention and the clock guard are
/// off (tests/feed_retention.rs and tests/clock_guard.rs cover them).
pub fn open_at(dir: &Path, t0: i64) -> (ProfileDb, std::sync::Arc<ManualClock>) {
    open_configured(dir, t0, |b| b)
}

/// [`open_at`], the builder configured by `configure` too.
pub fn open_configured(
    dir: &Path,
    t0: i64,
    configure: impl FnOnce(profiledb::Builder) -> profiledb::Builder,
) -> (ProfileDb, std::sync::Arc<ManualClock>) {
    let clock = std::sync::Arc::new(ManualClock::new(Timestamp(t0)));
    let db = configure(ProfileDb::builder(dir))
        .clock(clock.clone())
        .feed_retention(0)
        .membership_history_retention(0)
        .max_clock_jump(0)
        .open()
        .expect("open the test database");
    (db, clock)
}

/// The given time of the first change of every consent delta in the
/// history of profile `p`, oldest first.
pub fn consent_given_times(db: &ProfileDb, p: ProfileId) -> Vec<Option<Timestamp>> {
    db.history(p)
        .unwrap()
        .iter()
        .filter_map(|d| match &d.change {
            profiledb::Change::Consent(ops) => Some(ops.first()?.change.given_at),
            _ => None,
        })
        .collect()
}
