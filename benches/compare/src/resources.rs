//! CPU time and memory: of this process (every thread, via `getrusage`)
//! and of a server's processes (via `/proc`).
//!
//! An embedded store runs alone in its worker process (see `main.rs`), so
//! the process's CPU time is the store's, background threads included
//! (RocksDB's flushes and compactions, SQLite has none). A server's CPU
//! time is read from `/proc/<pid>/stat` (user + system, children reaped
//! included) of every process that serves it.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// CPU time of this process, user + system, all threads, in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    // SAFETY: `getrusage` only writes the struct we pass, which is a
    // zero-initialised, properly aligned `rusage` owned by this frame.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    if rc != 0 {
        return 0;
    }
    let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000_000 + t.tv_usec as u64 * 1_000;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A `kB` field of `/proc/<pid>/status` (`VmHWM`, `VmRSS`), in bytes.
fn status_kb(pid: &str, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// Peak resident set size of this process so far, in bytes.
pub fn peak_rss() -> u64 {
    status_kb("self", "VmHWM").unwrap_or(0)
}

/// Resident set size of this process now, in bytes.
pub fn rss() -> u64 {
    status_kb("self", "VmRSS").unwrap_or(0)
}

/// Fields of `/proc/<pid>/stat` after the command name: (ppid, utime +
/// stime + cutime + cstime in clock ticks).
fn stat(pid: u32) -> Option<(u32, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may contain spaces.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
    let ppid = f.get(1)?.parse().ok()?;
    let ticks = (11..=14).map(|i| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0)).sum();
    Some((ppid, ticks))
}

/// Nanoseconds per clock tick of `/proc/<pid>/stat`.
pub fn tick_ns() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        1_000_000_000 / hz as u64
    } else {
        10_000_000
    }
}

/// The processes serving a server store.
#[derive(Clone, Copy, Debug)]
pub enum Server {
    /// One process (redis-server; its threads are included).
    Process(u32),
    /// A parent and all its children (the PostgreSQL postmaster, its
    /// backends and background processes).
    Tree(u32),
}

impl Server {
    fn pids(self) -> Vec<u32> {
        match self {
            Server::Process(p) => vec![p],
            Server::Tree(root) => {
                let mut out = vec![root];
                if let Ok(dir) = std::fs::read_dir("/proc") {
                    for e in dir.flatten() {
                        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
                        if stat(pid).is_some_and(|(ppid, _)| ppid == root) {
                            out.push(pid);
                        }
                    }
                }
                out
            }
        }
    }

    /// CPU time of the server's processes (children that exited and were
    /// reaped count through their parent), in nanoseconds.
    pub fn cpu_ns(self) -> u64 {
        self.pids().into_iter().filter_map(stat).map(|(_, t)| t).sum::<u64>() * tick_ns()
    }

    /// Memory of the server's processes now, in bytes: the sum of their
    /// proportional set sizes (shared memory counted once overall).
    pub fn pss(self) -> u64 {
        self.pids()
            .into_iter()
            .filter_map(|p| {
                let s = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).ok()?;
                s.lines()
                    .find_map(|l| l.strip_prefix("Pss:"))
                    .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            })
            .sum::<u64>()
            * 1024
    }
}

/// CPU time charged to a store: its process and its server.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
pub struct Cpu {
    /// This process (the store itself when embedded; the client otherwise).
    pub process_ns: u64,
    /// The server's processes (0 for embedded stores).
    pub server_ns: u64,
}

impl Cpu {
    /// A reading now.
    pub fn now(server: Option<Server>) -> Cpu {
        Cpu { process_ns: process_cpu_ns(), server_ns: server.map_or(0, Server::cpu_ns) }
    }

    /// The CPU time spent since `earlier`.
    pub fn since(self, earlier: Cpu) -> Cpu {
        Cpu {
            process_ns: self.process_ns.saturating_sub(earlier.process_ns),
            server_ns: self.server_ns.saturating_sub(earlier.server_ns),
        }
    }
}

/// The total size of the files under `dir`, in bytes.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The 1-, 5- and 15-minute load averages, as `/proc/loadavg` prints them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_measured() {
        let before = process_cpu_ns();
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(process_cpu_ns() >= before);
        assert!(peak_rss() > 0 && rss() > 0);
        let me = std::process::id();
        assert!(stat(me).is_some());
        assert!(Server::Process(me).pss() > 0);
    }
}
