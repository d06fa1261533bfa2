//! Kill-and-reopen crash test (after sled's `test_crash_recovery.rs`).
//!
//! The test binary re-runs itself as a writer child (`crash_child_entry`,
//! a no-op unless `PROFILEDB_CRASH_CHILD` is set). The child opens the
//! database with `Durability::Sync` and performs a seeded random mix of
//! updates, identifies that link profiles (merges), unmerges, identifier
//! removals, re-links, explicit merges and retention passes. After every
//! acknowledged operation it appends a line to an ack log and fsyncs it:
//! the operation's sequence number, its outcome, and what must now be true
//! — for every identifier of the universe, the profile it resolves to with
//! that profile's version and traits.
//!
//! The parent kills the child with SIGKILL after 10–300 ms, reopens the
//! database and requires:
//! - `check()` reports no violation;
//! - replaying the acknowledged operations onto a copy of the pre-cycle
//!   database gives the same outcomes and facts the child acknowledged
//!   (the workload is deterministic: the clock is a `ManualClock` set from
//!   the sequence number);
//! - the reopened database equals that replay byte for byte (every
//!   acknowledged write is present, nothing else is), or equals it plus
//!   exactly the one operation the child was running when killed.
//!   Retention commits one batch per profile, so a retention cut short may
//!   leave some profiles folded: then the observable facts must still be
//!   those acknowledged.
//!
//! `PROFILEDB_CRASH_CYCLES` sets the number of kill cycles (default 10);
//! `PROFILEDB_CRASH_SEED` the master seed.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use profiledb::{Durability, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const CHILD_ENV: &str = "PROFILEDB_CRASH_CHILD";
const CYCLES_ENV: &str = "PROFILEDB_CRASH_CYCLES";
const SEED_ENV: &str = "PROFILEDB_CRASH_SEED";
/// The clock reads `BASE + seq * STEP` during operation `seq`.
const BASE: i64 = 1_700_000_000_000;
const STEP: i64 = 1_000;

/// splitmix64: small, seedable, the same in parent and child.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// The identifiers the workload uses: four of each kind, so identifies
/// merge profiles and run into the default identity limits.
fn universe() -> Vec<Identifier> {
    let mut out = Vec::new();
    for n in 0..4 {
        for s in [
            format!("user_id:u{n}"),
            format!("email:e{n}@x.com"),
            format!("device_id:d{n}"),
            format!("anonymous_id:a{n}"),
        ] {
            out.push(s.parse().expect("valid identifier"));
        }
    }
    out
}

/// One operation of the workload. Generated from the RNG alone (never from
/// the database), so parent and child generate the same sequence.
#[derive(Debug)]
enum Op {
    Update(usize, Update),
    Identify(Vec<usize>, Update),
    Unmerge { profile_of: usize, ident: usize },
    Remove { profile_of: usize, ident: usize },
    Link { profile_of: usize, ident: usize },
    MergeProfiles(u32, u32),
    Retain { ops_back: i64 },
}

fn gen_update(rng: &mut Rng) -> Update {
    let mut u = Update::new();
    for _ in 0..rng.below(3) {
        let name = format!("t{}", rng.below(4));
        u = match rng.below(5) {
            0 => u.set(&name, format!("s{}", rng.below(100))),
            1 => u.set(&name, rng.below(1_000) as i64),
            2 => u.increment("count", 1),
            3 => u.add_to_set("tags", [format!("g{}", rng.below(6))]),
            _ => u.unset(&name),
        };
    }
    u
}

fn gen_op(rng: &mut Rng) -> Op {
    let n = universe().len();
    match rng.below(100) {
        0..=46 => Op::Update(rng.pick(n), gen_update(rng)),
        47..=71 => {
            let k = 2 + rng.pick(2);
            Op::Identify((0..k).map(|_| rng.pick(n)).collect(), gen_update(rng))
        }
        72..=83 => {
            // Mostly an identifier from its own profile: the case that can succeed.
            let ident = rng.pick(n);
            Op::Unmerge { profile_of: if rng.below(5) == 0 { rng.pick(n) } else { ident }, ident }
        }
        84..=89 => {
            let ident = rng.pick(n);
            Op::Remove { profile_of: if rng.below(5) == 0 { rng.pick(n) } else { ident }, ident }
        }
        90..=93 => Op::Link { profile_of: rng.pick(n), ident: rng.pick(n) },
        94..=97 => Op::MergeProfiles(rng.below(24) as u32, rng.below(24) as u32),
        _ => Op::Retain { ops_back: 50 + rng.below(250) as i64 },
    }
}

/// Runs `op` at sequence number `seq`; returns its outcome as text.
fn apply(db: &ProfileDb, clock: &ManualClock, seq: u64, op: Op) -> String {
    let u = universe();
    let now = BASE + seq as i64 * STEP;
    clock.set(Timestamp(now));
    let resolve = |i: usize| db.resolve(&u[i]).expect("resolve");
    let result = match op {
        Op::Update(i, up) => db.update(&u[i], up).map(|r| format!("update {}@{}", r.profile, r.version)),
        Op::Identify(is, up) => {
            let ids: Vec<Identifier> = is.iter().map(|i| u[*i].clone()).collect();
            db.identify(&ids, up).map(|r| format!("identify {}@{} merged {:?}", r.profile, r.version, r.merged))
        }
        Op::Unmerge { profile_of, ident } => match resolve(profile_of) {
            Some(p) => db.unmerge(p, &u[ident]).map(|r| format!("unmerge {} from {}", r.restored, r.from)),
            None => return "skipped".into(),
        },
        Op::Remove { profile_of, ident } => match resolve(profile_of) {
            Some(p) => db.remove_identifier(p, &u[ident]).map(|own| format!("removed to {own}")),
            None => return "skipped".into(),
        },
        Op::Link { profile_of, ident } => match resolve(profile_of) {
            Some(p) => db.link_identifier(p, &u[ident]).map(|()| "linked".to_owned()),
            None => return "skipped".into(),
        },
        Op::MergeProfiles(a, b) => db
            .merge_profiles(ProfileId(a), ProfileId(b), profiledb::Cause::Admin("crash test".into()))
            .map(|s| format!("merged into {s}")),
        Op::Retain { ops_back } => {
            db.retain_history(Timestamp(now - ops_back * STEP)).map(|r| format!("folded {}", r.profiles_folded))
        }
    };
    match result {
        Ok(s) => s,
        Err(e) => format!("error: {e}"),
    }
}

/// What must be true now: per identifier, its profile's id, version and traits.
fn facts(db: &ProfileDb) -> String {
    let mut out = format!("profiles={}", db.profile_count().expect("count"));
    for ident in universe() {
        match db.get(&ident).expect("get") {
            Some(p) => out.push_str(&format!(" | {ident}={}@{} {:?}", p.id, p.version, p.traits)),
            None => out.push_str(&format!(" | {ident}=-")),
        }
    }
    out
}

fn open_with(dir: &Path, clock: Arc<ManualClock>, durability: Durability) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(clock)
        .snapshot_every(4)
        .durability(durability)
        .open()
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> ProfileDb {
    open_with(dir, clock, Durability::Sync)
}

/// The writer child. Does nothing unless started by the parent test.
#[test]
fn crash_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let parts: Vec<&str> = spec.split('\n').collect();
    let [dir, ack, seed, start] = parts[..] else { panic!("bad {CHILD_ENV}: {spec:?}") };
    let (seed, start): (u64, u64) = (seed.parse().expect("seed"), start.parse().expect("start seq"));
    let clock = Arc::new(ManualClock::new(Timestamp(BASE)));
    let db = open(Path::new(dir), clock.clone());
    let mut log = OpenOptions::new().create(true).append(true).open(ack).expect("ack log");
    let mut rng = Rng(seed);
    for seq in start.. {
        let outcome = apply(&db, &clock, seq, gen_op(&mut rng));
        let line = format!("{seq}\t{outcome}\t{}\n", facts(&db));
        log.write_all(line.as_bytes()).expect("ack write");
        log.sync_data().expect("ack fsync");
    }
}

struct Ack {
    seq: u64,
    outcome: String,
    facts: String,
}

/// The complete lines of an ack log (a line cut by the kill is not an ack).
fn read_acks(path: &Path) -> Vec<Ack> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .map(|l| {
            let mut it = l.splitn(3, '\t');
            let (seq, outcome, facts) = (it.next(), it.next(), it.next());
            Ack {
                seq: seq.and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad ack line {l:?}")),
                outcome: outcome.unwrap_or_default().to_owned(),
                facts: facts.unwrap_or_default().to_owned(),
            }
        })
        .collect()
}

#[derive(Debug, Default)]
struct Tally {
    acked: u64,
    killed_before_first_ack: u64,
    unacked_committed: u64,
    retention_cut_short: u64,
    /// Acknowledged outcomes by kind (`update`, `unmerge`, `error:`, ...).
    outcomes: BTreeMap<String, u64>,
}

fn outcome_kind(outcome: &str) -> String {
    outcome.split(' ').next().unwrap_or_default().to_owned()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let cycles = env_u64(CYCLES_ENV, 10);
    let mut master = Rng(env_u64(SEED_ENV, 0x5eed_c4a5));
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    drop(open(&dir, Arc::new(ManualClock::new(Timestamp(BASE)))));
    let exe = std::env::current_exe().unwrap();
    let mut seq = 0u64;
    let mut tally = Tally::default();
    for cycle in 0..cycles {
        // The state before the child runs: the replay starts from a copy.
        let base = root.path().join(format!("base-{cycle}"));
        open(&dir, Arc::new(ManualClock::new(Timestamp(BASE)))).backup(&base).unwrap();
        let seed = master.next();
        let ack_path = root.path().join(format!("ack-{cycle}"));
        let log_path = root.path().join(format!("child-{cycle}.log"));
        let log = File::create(&log_path).unwrap();
        let spec = format!("{}\n{}\n{seed}\n{seq}", dir.display(), ack_path.display());
        let mut child = Command::new(&exe)
            .args(["crash_child_entry", "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(10 + master.below(291)));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("cycle {cycle}: the writer exited on its own ({status}):\n{}", read(&log_path));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let acks = read_acks(&ack_path);
        let clock = Arc::new(ManualClock::new(Timestamp(BASE)));
        let crashed = open(&dir, clock.clone());
        let report = crashed.check().unwrap();
        assert!(report.is_clean(), "cycle {cycle} (seed {seed}): check after the kill: {report}");

        let reference = open_with(&base, clock.clone(), Durability::Wal);
        let mut rng = Rng(seed);
        for (i, ack) in acks.iter().enumerate() {
            assert_eq!(ack.seq, seq + i as u64, "cycle {cycle}: ack sequence");
            let outcome = apply(&reference, &clock, ack.seq, gen_op(&mut rng));
            assert_eq!(outcome, ack.outcome, "cycle {cycle}: replaying op {} gives another outcome", ack.seq);
            assert_eq!(facts(&reference), ack.facts, "cycle {cycle}: replaying op {} gives other facts", ack.seq);
            *tally.outcomes.entry(outcome_kind(&outcome)).or_default() += 1;
        }
        seq += acks.len() as u64;
        tally.acked += acks.len() as u64;
        tally.killed_before_first_ack += u64::from(acks.is_empty());

        if crashed.raw_dump().unwrap() != reference.raw_dump().unwrap() {
            // The operation running at the kill may have committed.
            let op = gen_op(&mut rng);
            let retention = matches!(op, Op::Retain { .. });
            apply(&reference, &clock, seq, op);
            seq += 1;
            if crashed.raw_dump().unwrap() == reference.raw_dump().unwrap() {
                tally.unacked_committed += 1;
            } else if retention && facts(&crashed) == facts(&reference) {
                tally.retention_cut_short += 1;
            } else {
                panic!(
                    "cycle {cycle} (seed {seed}): the reopened database is neither the acknowledged state nor one \
                     operation past it\n  reopened: {}\n  expected: {}",
                    facts(&crashed),
                    facts(&reference)
                );
            }
        } else if let Some(last) = acks.last() {
            assert_eq!(facts(&crashed), last.facts, "cycle {cycle}: the last acknowledged facts");
        }
        drop(reference);
        std::fs::remove_dir_all(&base).unwrap();
    }
    eprintln!("crash test: {cycles} kill cycles, {tally:?}");
    assert!(tally.acked > cycles, "the writer acknowledged too little to test anything: {tally:?}");
}

/// The same workload in-process, without kills, with `check()` after
/// every operation: pinpoints the operation that breaks an invariant.
#[test]
fn the_workload_keeps_every_invariant_after_every_operation() {
    let ops = env_u64("PROFILEDB_WORKLOAD_OPS", 3_000);
    let seed = env_u64(SEED_ENV, 0x5eed_c4a5);
    let root = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(BASE)));
    let db = open_with(root.path(), clock.clone(), Durability::Wal);
    let mut rng = Rng(seed);
    let mut outcomes = BTreeMap::<String, u64>::new();
    for seq in 0..ops {
        let op = gen_op(&mut rng);
        let what = format!("{op:?}");
        let outcome = apply(&db, &clock, seq, op);
        let report = db.check().unwrap();
        assert!(report.is_clean(), "seed {seed}, op {seq} {what} → {outcome}: {report}");
        *outcomes.entry(outcome_kind(&outcome)).or_default() += 1;
    }
    eprintln!("workload: {ops} operations, outcomes {outcomes:?}");
    for kind in ["identify", "unmerge", "removed", "linked", "merged", "folded"] {
        assert!(outcomes.get(kind).is_some_and(|n| *n > 0), "the workload never succeeded at {kind}: {outcomes:?}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
