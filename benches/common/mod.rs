//! Helpers shared by the criterion benchmarks: dataset size, identifiers,
//! deterministic pseudo-random picks.

// Each bench target compiles this module and uses only part of it.
#![allow(dead_code)]

use profiledb::Identifier;

pub mod cpu;

/// The dataset size: `var` from the environment, else `default`.
pub fn profiles(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The identifier of the `i`-th generated profile.
pub fn user(i: u64) -> Identifier {
    Identifier::new("user_id", &format!("u{i:08}")).expect("a generated user id is a valid identifier")
}

/// A splitmix64 step: deterministic pseudo-random picks.
pub fn next(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether the per-call latency pass of `name` runs: it follows the
/// criterion filter ([`filtered_in`]), and `PROFILEDB_LATENCY_CALLS=0`
/// turns every pass off.
pub fn latency_wanted(name: &str) -> bool {
    latency_calls(1) != 0 && filtered_in(name)
}

/// Whether the criterion filter given on the command line (the first
/// argument that is not an option; alternatives split on `|`, each matched
/// as a substring — the plain filters the benchmarks document) selects
/// `name`; no filter selects everything.
pub fn filtered_in(name: &str) -> bool {
    // Options of criterion that take a value (the rest are flags).
    const VALUED: [&str; 8] = [
        "--warm-up-time",
        "--measurement-time",
        "--sample-size",
        "--save-baseline",
        "--baseline",
        "--load-baseline",
        "--noise-threshold",
        "--significance-level",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(a) = args.next() {
        if VALUED.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filter = Some(a);
            break;
        }
    }
    filter.is_none_or(|f| f.split('|').any(|alt| name.contains(alt)))
}

/// How many calls a latency pass times: `PROFILEDB_LATENCY_CALLS`, else
/// `default`.
pub fn latency_calls(default: usize) -> usize {
    std::env::var("PROFILEDB_LATENCY_CALLS").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Times `calls` calls of `op` one by one and prints their percentiles.
///
/// Criterion reports the mean time of a call (a regression over batches of
/// calls); the issues' targets are medians of single calls, which this
/// pass measures: the clock is read around each call (about 20 ns each).
/// `setup` runs untimed before each call and hands it its input; what
/// `op` returns (the input it was lent, say) is dropped untimed after it.
pub fn latency<I, O>(name: &str, calls: usize, mut setup: impl FnMut() -> I, mut op: impl FnMut(I) -> O) {
    if !latency_wanted(name) || calls == 0 {
        return;
    }
    let mut times = Vec::with_capacity(calls);
    for _ in 0..calls {
        let input = setup();
        let start = std::time::Instant::now();
        let out = op(input);
        times.push(start.elapsed());
        drop(out);
    }
    times.sort_unstable();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let mean = times.iter().sum::<std::time::Duration>() / calls as u32;
    println!(
        "latency {name:<44} p50 {:>9.3?}  p90 {:>9.3?}  p99 {:>9.3?}  mean {:>9.3?}  ({calls} calls)",
        at(0.5),
        at(0.9),
        at(0.99),
        mean
    );
}
