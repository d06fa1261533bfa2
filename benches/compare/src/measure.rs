//! Timing: every operation's latency recorded with [`Instant`], sorted,
//! then read as percentiles; throughput over the whole loop.

use std::time::{Duration, Instant};

use crate::error::Result;

/// The latencies of one operation on one store.
#[derive(Clone, Debug)]
pub struct Stats {
    /// Sorted latencies in nanoseconds.
    sorted_ns: Vec<u64>,
    /// Wall time of the whole loop.
    pub wall: Duration,
}

impl Stats {
    /// Operations timed.
    pub fn ops(&self) -> usize {
        self.sorted_ns.len()
    }

    /// The `q` quantile (nearest rank), in nanoseconds.
    pub fn quantile_ns(&self, q: f64) -> u64 {
        if self.sorted_ns.is_empty() {
            return 0;
        }
        let rank = (q * self.sorted_ns.len() as f64).ceil() as usize;
        self.sorted_ns[rank.clamp(1, self.sorted_ns.len()) - 1]
    }

    /// Mean latency in nanoseconds.
    pub fn mean_ns(&self) -> u64 {
        if self.sorted_ns.is_empty() {
            return 0;
        }
        self.sorted_ns.iter().sum::<u64>() / self.sorted_ns.len() as u64
    }

    /// Median latency.
    pub fn p50_ns(&self) -> u64 {
        self.quantile_ns(0.50)
    }

    /// 99th percentile latency.
    pub fn p99_ns(&self) -> u64 {
        self.quantile_ns(0.99)
    }
}

/// Runs `f` on every item, timing each call; stops at the first error.
/// Each call's result is kept (moved into a vector, outside the hot path's
/// measurement only by the cost of a move) so callers can check what the
/// stores answered without recomputing it.
pub fn run<T, R>(items: &[T], mut f: impl FnMut(&T) -> Result<R>) -> Result<(Stats, Vec<R>)> {
    let mut lat = Vec::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    let start = Instant::now();
    for it in items {
        let t = Instant::now();
        let r = f(it)?;
        lat.push(t.elapsed().as_nanos() as u64);
        out.push(r);
    }
    let wall = start.elapsed();
    lat.sort_unstable();
    Ok((Stats { sorted_ns: lat, wall }, out))
}

/// `850 ns`, `12.3 µs`, `4.56 ms`, `1.23 s`.
pub fn fmt_ns(ns: u64) -> String {
    let x = ns as f64;
    if ns < 1_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{} µs", sig3(x / 1e3))
    } else if ns < 1_000_000_000 {
        format!("{} ms", sig3(x / 1e6))
    } else {
        format!("{} s", sig3(x / 1e9))
    }
}

/// Three significant digits, no exponent.
pub fn sig3(x: f64) -> String {
    if x >= 99.95 {
        format!("{x:.0}")
    } else if x >= 9.995 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// `1,234,567/s` style throughput.
pub fn fmt_rate(per_sec: f64) -> String {
    if per_sec >= 100.0 {
        format!("{}/s", thousands(per_sec.round() as u64))
    } else {
        format!("{}/s", sig3(per_sec))
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Two significant digits, no exponent: `0.75`, `2.3`, `23`, `1600`.
pub fn sig2(x: f64) -> String {
    if !x.is_finite() || x <= 0.0 {
        return format!("{x}");
    }
    let mag = x.log10().floor() as i32;
    let scale = 10f64.powi(mag - 1);
    let r = (x / scale).round() * scale;
    if mag >= 1 {
        format!("{r:.0}")
    } else {
        format!("{r:.*}", (1 - mag) as usize)
    }
}

/// How many times faster profiledb is, to two significant digits: `12×`, `0.50×`.
pub fn fmt_ratio(r: f64) -> String {
    format!("{}×", sig2(r))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_nearest_rank() {
        let s = Stats { sorted_ns: (1..=100).collect(), wall: Duration::from_secs(1) };
        assert_eq!(s.p50_ns(), 50);
        assert_eq!(s.p99_ns(), 99);
        assert_eq!(s.quantile_ns(1.0), 100);
        assert_eq!(s.mean_ns(), 50);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_ns(850), "850 ns");
        assert_eq!(fmt_ns(12_345), "12.3 µs");
        assert_eq!(fmt_ns(4_560_000), "4.56 ms");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(fmt_rate(1234.4), "1,234/s");
        assert_eq!(fmt_ratio(12.0), "12×");
        assert_eq!(fmt_ratio(1640.0), "1600×");
        assert_eq!(fmt_ratio(0.754), "0.75×");
        assert_eq!(fmt_ratio(2.29), "2.3×");
        assert_eq!(fmt_ratio(0.049), "0.049×");
        assert_eq!(fmt_ns(99_960), "100 µs");
        assert_eq!(fmt_ns(9_999), "10.0 µs");
    }
}
