//! Kill-and-reopen crash test (after sled's `test_crash_recovery.rs`).
//!
//! The test binary re-runs itself as a writer child (`crash_child_entry`,
//! a no-op unless `PROFILEDB_CRASH_CHILD` is set). The child opens the
//! database with `Durability::Sync` and performs a seeded random mix of
//! updates, identifies that link profiles (merges), unmerges, identifier
//! removals, re-links, explicit merges, history retention, events (`track`
//! and `ingest_batch`, late and duplicate ones included, feeding declared
//! rollups), segment definitions and drops (one reads consent), consent
//! changes (grants, expiring grants, denials, withdrawals), erases, ticks
//! and timeline / bucket retention passes. After every acknowledged operation it appends
//! a line to an ack log and fsyncs it: the operation's sequence number,
//! its outcome, and what must now be true — for every identifier of the
//! universe, the profile it resolves to with that profile's version,
//! traits, consent, timeline length, rollups (all time and a 2-day window) and
//! segments, or that it is gone and whether it is suppressed (erased).
//!
//! The parent kills the child with SIGKILL after 50–1,500 ms, reopens the
//! database and requires:
//! - the full `check()` (identity graph, history, rollups against the
//!   timelines, every segment bitmap against a fresh evaluation, wake-ups,
//!   membership history, feed) reports no violation;
//! - replaying the acknowledged operations onto a copy of the pre-cycle
//!   database gives the same outcomes and facts the child acknowledged
//!   (the workload is deterministic: the clock is a `ManualClock` set from
//!   the sequence number);
//! - the reopened database equals that replay byte for byte (every
//!   acknowledged write is present, nothing else is), or equals it plus
//!   exactly the one operation the child was running when killed. Only the
//!   erase suppression hashes (keyed by a random per-database secret) are
//!   left out of the comparison. Operations of several batches may be cut
//!   short: history retention (one batch per profile: the facts must still
//!   be those acknowledged), `tick` (wake-ups, then a retention step:
//!   everything but segment membership must match the acknowledged state)
//!   and `ingest_batch` (an
//!   event refused or needing a batch of its own splits it: the state must
//!   equal the acknowledged one plus the batch's first events).
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

use profiledb::event::{Event, EventKind};
use profiledb::privacy::ConsentChange;
use profiledb::rollup::{Aggregate, RollupDef, Window};
use profiledb::{Durability, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const CHILD_ENV: &str = "PROFILEDB_CRASH_CHILD";
const CYCLES_ENV: &str = "PROFILEDB_CRASH_CYCLES";
const SEED_ENV: &str = "PROFILEDB_CRASH_SEED";
/// The clock reads `BASE + seq * STEP` during operation `seq`.
const BASE: i64 = 1_700_000_000_000;
const STEP: i64 = 1_000;
const DAY: i64 = Timestamp::DAY;
/// The universe moves on every this many operations, so erased people
/// (suppressed forever) do not use it up.
const GENERATION_OPS: u64 = 400;
/// Segments the workload defines and drops (a later one may read an earlier one).
const SEGMENTS: [(&str, &str); 6] = [
    ("pro", "traits.t0 = \"s1\" or traits.count >= 3"),
    ("buyers", "count(purchase, 1h) >= 2"),
    ("recent", "last(purchase) > now - 10m"),
    ("viewers", "count(page_view) >= 3 and has email"),
    ("pro_buyers", "in pro and in buyers"),
    ("marketable", "consent(marketing_email) and has email"),
];

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

/// The identifiers the workload uses at operation `seq`: four of each
/// kind, so identifies merge profiles and run into the default identity
/// limits; a new set every `GENERATION_OPS` operations.
fn universe(seq: u64) -> Vec<Identifier> {
    let g = seq / GENERATION_OPS * 4;
    let mut out = Vec::new();
    for n in g..g + 4 {
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
    Unmerge {
        profile_of: usize,
        ident: usize,
    },
    Remove {
        profile_of: usize,
        ident: usize,
    },
    Link {
        profile_of: usize,
        ident: usize,
    },
    MergeProfiles(u32, u32),
    Retain {
        ops_back: i64,
    },
    Track(Ev),
    Batch(Vec<Ev>),
    Define(usize),
    Drop(usize),
    Erase(usize),
    Tick,
    EnforceRetention,
    /// A consent change: 0 granted, 1 granted for 20 minutes (expires
    /// under the workload's clock), 2 denied, 3 withdrawn.
    Consent {
        ident: usize,
        purpose: usize,
        change: u64,
    },
}

/// The consent purposes of the workload.
const PURPOSES: [&str; 2] = ["marketing_email", "analytics"];

/// An event of the workload: who, which, how late, amount, message id.
#[derive(Debug)]
struct Ev {
    who: usize,
    purchase: bool,
    secs_ago: i64,
    amount: i64,
    msg: Option<u64>,
}

fn gen_event(rng: &mut Rng, n: usize) -> Ev {
    Ev {
        who: rng.pick(n),
        purchase: rng.below(3) == 0,
        // Mostly recent, some up to 3 days late: across retention horizons.
        secs_ago: if rng.below(4) == 0 { rng.below(3 * 86_400) as i64 } else { rng.below(600) as i64 },
        amount: 1 + rng.below(100) as i64,
        // Reused message ids: duplicates within the dedup horizon.
        msg: (rng.below(3) != 0).then(|| rng.below(2_000)),
    }
}

fn to_event(ev: &Ev, u: &[Identifier], now: i64) -> Event {
    let name = if ev.purchase { "purchase" } else { "page_view" };
    let mut e = Event::new(EventKind::Track, name, Timestamp(now - ev.secs_ago * 1_000), vec![u[ev.who].clone()]);
    e.properties.insert("amount", ev.amount);
    e.message_id = ev.msg.map(|m| format!("m{m}"));
    e
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
    let n = universe(0).len();
    match rng.below(100) {
        0..=29 => Op::Update(rng.pick(n), gen_update(rng)),
        30..=47 => {
            let k = 2 + rng.pick(2);
            Op::Identify((0..k).map(|_| rng.pick(n)).collect(), gen_update(rng))
        }
        48..=55 => {
            // Mostly an identifier from its own profile: the case that can succeed.
            let ident = rng.pick(n);
            Op::Unmerge { profile_of: if rng.below(5) == 0 { rng.pick(n) } else { ident }, ident }
        }
        56..=59 => {
            let ident = rng.pick(n);
            Op::Remove { profile_of: if rng.below(5) == 0 { rng.pick(n) } else { ident }, ident }
        }
        60..=62 => Op::Link { profile_of: rng.pick(n), ident: rng.pick(n) },
        63..=65 => Op::MergeProfiles(rng.below(24) as u32, rng.below(24) as u32),
        66..=67 => Op::Retain { ops_back: 50 + rng.below(250) as i64 },
        68..=81 => Op::Track(gen_event(rng, n)),
        82..=86 => Op::Batch((0..2 + rng.below(4)).map(|_| gen_event(rng, n)).collect()),
        87..=90 => Op::Define(rng.pick(SEGMENTS.len())),
        91..=92 => Op::Drop(rng.pick(SEGMENTS.len())),
        93 => Op::Erase(rng.pick(n)),
        94..=95 => Op::Tick,
        96..=97 => Op::Consent { ident: rng.pick(n), purpose: rng.pick(PURPOSES.len()), change: rng.below(4) },
        _ => Op::EnforceRetention,
    }
}

/// Runs `op` at sequence number `seq`; returns its outcome as text.
fn apply(db: &ProfileDb, clock: &ManualClock, seq: u64, op: Op) -> String {
    let u = universe(seq);
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
        Op::Track(ev) => db.track(&to_event(&ev, &u, now)).map(|o| format!("track {o:?}")),
        Op::Batch(evs) => {
            let events: Vec<Event> = evs.iter().map(|ev| to_event(ev, &u, now)).collect();
            db.ingest_batch(&events, false).map(|r| {
                let rejected: Vec<usize> = r.rejected.iter().map(|(i, _)| *i).collect();
                format!("batch {} applied {} duplicates, rejected {rejected:?}", r.applied, r.duplicates)
            })
        }
        Op::Define(k) => db.define_segment(SEGMENTS[k].0, SEGMENTS[k].1).map(|n| format!("defined {n}")),
        Op::Drop(k) => db.drop_segment(SEGMENTS[k].0).map(|()| "dropped".to_owned()),
        Op::Erase(i) => db.erase(&u[i], Some("crash test")).map(|r| {
            // The erased identifier is gone and suppressed.
            let gone = db.resolve(&u[i]).expect("resolve").is_none() && db.is_suppressed(&u[i]).expect("suppressed");
            format!("erased {} ({} identifiers) gone={gone}", r.profile, r.identifiers)
        }),
        Op::Tick => db.tick().map(|r| format!("tick {}", r.processed)),
        Op::EnforceRetention => db.enforce_retention().map(|r| format!("retention {r:?}")),
        Op::Consent { ident, purpose, change } => {
            let change = match change {
                0 => ConsentChange::granted("crash test"),
                1 => ConsentChange::granted_until("crash test", Timestamp(now + 20 * 60_000)),
                2 => ConsentChange::denied("crash test"),
                _ => ConsentChange::withdrawn("crash test"),
            };
            db.set_consent(&u[ident], PURPOSES[purpose], change).map(|r| format!("consent {}@{}", r.profile, r.version))
        }
    };

    match result {
        Ok(s) => s,
        Err(e) => format!("error: {e}").replace('\n', " / "), // one line per ack
    }
}

/// What must be true now: per identifier of the universe at `seq`, its
/// profile's id, version, traits, timeline length, rollups and segments;
/// or that it is unknown, and whether it is suppressed (erased). Segment
/// facts come last in each part (after ` segs=`), see `without_segments`.
fn facts(db: &ProfileDb, seq: u64) -> String {
    let mut out = format!("profiles={}", db.profile_count().expect("count"));
    for ident in universe(seq) {
        match db.get(&ident).expect("get") {
            Some(p) => {
                let events = db.events(p.id, Timestamp(0), Timestamp(i64::MAX)).expect("events").len();
                let spend = db.rollup(p.id, "spend", Window::All).expect("all-time rollup");
                let recent = db.rollup(p.id, "spend", Window::days(2)).map_err(|e| e.to_string());
                let views = db.event_stats(p.id, "page_view", Window::All).expect("event stats").count;
                let segs = db.segments_of(p.id).expect("segments of");
                out.push_str(&format!(
                    " | {ident}={}@{} {:?} {:?} events={events} spend={spend:?} 2d={recent:?} views={views} segs={segs:?}",
                    p.id, p.version, p.traits, p.consent
                ));
            }
            None => out.push_str(&format!(" | {ident}=- suppressed={}", db.is_suppressed(&ident).expect("suppressed"))),
        }
    }
    let counts: Vec<String> = db.segments().iter().map(|s| format!("{}:{}", s.name, s.members)).collect();
    out.push_str(&format!(" | segs={counts:?}"));
    out
}

/// `facts` without segment membership (a `tick` cut short by the kill may
/// have applied its retention step but not all its wake-ups).
fn without_segments(facts: &str) -> String {
    facts.split(" | ").map(|part| part.split("segs=").next().unwrap_or_default()).collect::<Vec<_>>().join(" | ")
}

/// The database's entries, without the erase suppression hashes and the
/// secret they are keyed with (random per database), and without the
/// marker an erase writes after its purge (its own batch, after the erase).
fn dump(db: &ProfileDb) -> Vec<profiledb::RawEntry> {
    let mut all = db.raw_dump().expect("raw dump");
    all.retain(|e| match e.cf {
        "audit" => e.key.first() != Some(&0x02),
        "meta" => e.key != b"suppression_secret" && e.key != b"last_purge",
        _ => true,
    });
    all
}

fn open_with(dir: &Path, clock: Arc<ManualClock>, durability: Durability) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(clock)
        .snapshot_every(4)
        .durability(durability)
        .timeline_retention(2 * DAY)
        .rollup_bucket_retention(3 * DAY)
        .open()
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()))
}

fn open(dir: &Path, clock: Arc<ManualClock>) -> ProfileDb {
    open_with(dir, clock, Durability::Sync)
}

/// A new database with the workload's declared rollups.
fn create(dir: &Path, durability: Durability) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(BASE)));
    let db = open_with(dir, clock.clone(), durability);
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).expect("declare");
    db.declare_rollup(RollupDef::new("views", "page_view", Aggregate::Count)).expect("declare");
    (db, clock)
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
        let line = format!("{seq}\t{outcome}\t{}\n", facts(&db, seq));
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
    tick_cut_short: u64,
    /// Batches that committed part of their events (at an event boundary).
    batch_cut_short: u64,
    /// The operation running at each kill, by kind.
    interrupted: BTreeMap<String, u64>,
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
    drop(create(&dir, Durability::Sync));
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
        std::thread::sleep(Duration::from_millis(50 + master.below(1_451)));
        if let Some(status) = child.try_wait().unwrap() {
            panic!("cycle {cycle}: the writer exited on its own ({status}):\n{}", read(&log_path));
        }
        child.kill().unwrap();
        child.wait().unwrap();

        let acks = read_acks(&ack_path);
        // Check at the time of the operation the kill interrupted: time-
        // dependent memberships are then exact or have a due wake-up.
        let clock = Arc::new(ManualClock::new(Timestamp(BASE + (seq + acks.len() as u64) as i64 * STEP)));
        let crashed = open(&dir, clock.clone());
        let report = crashed.check().unwrap();
        assert!(report.is_clean(), "cycle {cycle} (seed {seed}): check after the kill: {report}");

        let reference = open_with(&base, clock.clone(), Durability::Wal);
        let mut rng = Rng(seed);
        for (i, ack) in acks.iter().enumerate() {
            assert_eq!(ack.seq, seq + i as u64, "cycle {cycle}: ack sequence");
            let outcome = apply(&reference, &clock, ack.seq, gen_op(&mut rng));
            assert_eq!(outcome, ack.outcome, "cycle {cycle}: replaying op {} gives another outcome", ack.seq);
            assert_eq!(
                facts(&reference, ack.seq),
                ack.facts,
                "cycle {cycle}: replaying op {} gives other facts",
                ack.seq
            );
            *tally.outcomes.entry(outcome_kind(&outcome)).or_default() += 1;
        }
        seq += acks.len() as u64;
        tally.acked += acks.len() as u64;
        tally.killed_before_first_ack += u64::from(acks.is_empty());

        // The operation running at the kill (it may have committed).
        let op = gen_op(&mut rng);
        let kind: String = format!("{op:?}").split(['(', ' ', '{']).next().unwrap_or_default().to_owned();
        *tally.interrupted.entry(kind.clone()).or_default() += 1;
        if dump(&crashed) != dump(&reference) {
            // History retention folds profile by profile; timeline and bucket
            // retention may finish a pass a tick left running and then run a
            // new one (two commits): cut between them, the data read back is
            // the same and only the floors lag (the next pass raises them).
            let retention = matches!(op, Op::Retain { .. } | Op::EnforceRetention);
            let tick = matches!(op, Op::Tick);
            // A tick commits its wake-ups before its retention step.
            let before = if tick { without_segments(&facts(&reference, seq)) } else { String::new() };
            let mut batch_cut = false;
            match op {
                // A batch commits whole, or at an event boundary when an
                // event is refused or must start a batch of its own: replay
                // it one event at a time, comparing after each.
                Op::Batch(evs) => {
                    let n = evs.len();
                    for (m, ev) in evs.into_iter().enumerate() {
                        apply(&reference, &clock, seq, Op::Track(ev));
                        if m + 1 < n && dump(&crashed) == dump(&reference) {
                            batch_cut = true;
                            break;
                        }
                    }
                }
                op => {
                    apply(&reference, &clock, seq, op);
                }
            }
            let (now_crashed, now_reference) = (facts(&crashed, seq), facts(&reference, seq));
            seq += 1;
            if batch_cut {
                tally.batch_cut_short += 1;
            } else if dump(&crashed) == dump(&reference) {
                tally.unacked_committed += 1;
            } else if retention && now_crashed == now_reference {
                tally.retention_cut_short += 1;
            } else if tick && without_segments(&now_crashed) == before {
                tally.tick_cut_short += 1;
            } else {
                let (c, r) = (dump(&crashed), dump(&reference));
                let first = c.iter().zip(&r).position(|(x, y)| x != y).unwrap_or(c.len().min(r.len()));
                panic!(
                    "cycle {cycle} (seed {seed}): the reopened database is neither the acknowledged state nor one \
                     operation past it (interrupted: {kind}; raw entries {} vs {}, first difference {:?} vs {:?})\n  \
                     reopened: {now_crashed}\n  expected: {now_reference}",
                    c.len(),
                    r.len(),
                    c.get(first).map(|e| (e.cf, &e.key)),
                    r.get(first).map(|e| (e.cf, &e.key)),
                );
            }
        } else if let Some(last) = acks.last() {
            assert_eq!(facts(&crashed, last.seq), last.facts, "cycle {cycle}: the last acknowledged facts");
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
    let ops = env_u64("PROFILEDB_WORKLOAD_OPS", 1_000);
    let seed = env_u64(SEED_ENV, 0x5eed_c4a5);
    let root = tempfile::tempdir().unwrap();
    let (db, clock) = create(root.path(), Durability::Wal);
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
    for kind in [
        "identify",
        "unmerge",
        "removed",
        "linked",
        "merged",
        "folded",
        "track",
        "batch",
        "defined",
        "dropped",
        "erased",
        "tick",
        "retention",
    ] {
        assert!(outcomes.get(kind).is_some_and(|n| *n > 0), "the workload never succeeded at {kind}: {outcomes:?}");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
