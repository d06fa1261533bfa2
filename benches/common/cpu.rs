//! CPU time per event: the writing thread's own, and RocksDB's background
//! threads' (flushes and compactions), beside the wall-clock rate.
//!
//! On a shared two-core machine a write-heavy benchmark's wall-clock rate
//! is set by how much CPU the writer gets: RocksDB's compaction thread and
//! the neighbours' processes take their share of the same cores. The CPU
//! each event costs does not depend on them, so this pass reports it — the
//! writer's from its thread clock around each call, the background's from
//! the kernel's per-thread counters over the pass and the settling after it
//! (the compaction debt the pass leaves is its cost too).

use std::time::{Duration, Instant};

/// The calling thread's CPU time.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a
    // constant Linux supports for every thread.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU seconds of every thread of this process but the caller, by thread
/// name (`rocksdb:low` compacts, `rocksdb:high` flushes), from
/// `/proc/self/task/*/stat` (clock ticks: 10 ms).
fn other_threads() -> Vec<(String, f64)> {
    // SAFETY: sysconf and gettid take no pointers and cannot fail here.
    let (tick, me) = unsafe { (libc::sysconf(libc::_SC_CLK_TCK) as f64, libc::gettid()) };
    let me = me.to_string();
    let mut out: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return out };
    for task in tasks.flatten() {
        if task.file_name().to_str() == Some(me.as_str()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // "tid (name) state ppid …": the name may hold spaces and
        // parentheses, so fields are counted after the last ')'; utime and
        // stime are fields 14 and 15, the 12th and 13th after it.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks: f64 = fields.get(11..13).into_iter().flatten().filter_map(|f| f.parse::<f64>().ok()).sum();
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, s)) => *s += ticks / tick,
            None => out.push((name, ticks / tick)),
        }
    }
    out
}

/// `after − before`, by thread name.
fn delta(before: &[(String, f64)], after: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut d: Vec<(String, f64)> = after
        .iter()
        .map(|(n, s)| (n.clone(), s - before.iter().find(|(b, _)| b == n).map_or(0.0, |(_, b)| *b)))
        .filter(|(_, s)| *s > 0.0)
        .collect();
    d.sort_by(|a, b| b.1.total_cmp(&a.1));
    d
}

/// Whether the CPU pass of `name` runs: it follows the benchmark filter
/// ([`super::filtered_in`]), and `PROFILEDB_CPU_SECONDS=0` turns it off.
fn wanted(name: &str) -> Option<f64> {
    let seconds = std::env::var("PROFILEDB_CPU_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20.0);
    (seconds > 0.0 && super::filtered_in(name)).then_some(seconds)
}

/// Calls `settle` (waits for the background work earlier writes left),
/// then `op` (each call `per_call` events; `setup` prepares its input,
/// untimed) for `PROFILEDB_CPU_SECONDS` (default 20) seconds of calls,
/// then `settle` again, and prints the events per second of call time,
/// the writer's CPU per event and the other threads' CPU per event over
/// the pass and the settling.
pub fn cpu_pass<I, O>(
    name: &str,
    per_call: u64,
    mut setup: impl FnMut() -> I,
    mut op: impl FnMut(I) -> O,
    mut settle: impl FnMut(),
) {
    let Some(seconds) = wanted(name) else { return };
    settle();
    let before = other_threads();
    let (mut wall, mut writer, mut events) = (Duration::ZERO, Duration::ZERO, 0u64);
    while wall.as_secs_f64() < seconds {
        let input = setup();
        let (t, c) = (Instant::now(), thread_cpu());
        let out = op(input);
        writer += thread_cpu() - c;
        wall += t.elapsed();
        events += per_call;
        drop(out);
    }
    let during = delta(&before, &other_threads());
    let settling = Instant::now();
    settle();
    let settled = settling.elapsed();
    let total = delta(&before, &other_threads());
    let us = |s: f64| s * 1e6 / events as f64;
    let list = |d: &[(String, f64)]| {
        d.iter().take(4).map(|(n, s)| format!("{n} {:.2}", us(*s))).collect::<Vec<_>>().join(", ")
    };
    let sum = |d: &[(String, f64)]| d.iter().map(|(_, s)| s).sum::<f64>();
    let per_writer = us(writer.as_secs_f64());
    println!(
        "cpu {name}: {events} events in {:.1} s of calls = {:.0} events/s; writer {per_writer:.2} µs CPU per event \
         ({:.0} % of a core while called; alone on a core: {:.0} events/s)",
        wall.as_secs_f64(),
        events as f64 / wall.as_secs_f64(),
        100.0 * writer.as_secs_f64() / wall.as_secs_f64(),
        1e6 / per_writer,
    );
    println!(
        "cpu {name}: other threads {:.2} µs CPU per event during the calls ({}); {:.2} µs with the {settled:.1?} \
         settling after them ({})",
        us(sum(&during)),
        list(&during),
        us(sum(&total)),
        list(&total),
    );
}
