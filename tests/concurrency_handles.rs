//! Several handles on one database: secondaries catching up beside a
//! writer, read-only handles opened beside it, a second writer refused,
//! handles dropped while clones write, and SIGKILL in the middle of a batch
//! or a segment backfill (this binary re-run as the child:
//! `review_conc_child_entry`). The CLI's cross-process reads are tested in
//! `tools/tests/cli_concurrency.rs`.

use std::collections::{BTreeSet, HashMap};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use profiledb::event::Event;
use profiledb::rollup::{Aggregate, RollupDef, Window};
use profiledb::{
    AccessMode, Durability, Error, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update,
};

#[path = "common/concurrency.rs"]
mod conc;
use conc::*;

/// Readers on a secondary handle fill its rollup cache while the
/// application calls `catch_up`: after `catch_up` returns, every rollup
/// read must show the caught-up count (a load that began before the
/// catch-up must not be inserted after it).
#[test]
fn rollup_reads_on_a_secondary_after_catch_up_show_the_caught_up_counts() {
    within("secondary rollup cache", Duration::from_secs(180), || {
        const PROFILES: u64 = 40;
        const ROUNDS: u64 = 150;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.declare_rollup(RollupDef::new("cnt", "e", Aggregate::Count)).unwrap();
        let ids: Vec<ProfileId> = (0..PROFILES)
            .map(|i| match db.track(&event("e", T0 - HOUR, user(i), None)).unwrap() {
                IngestOutcome::Applied(r) => r.profile,
                other => panic!("{other:?}"),
            })
            .collect();
        // A rollup cache smaller than the working set: readers keep loading.
        let sec = ProfileDb::builder(dir.path())
            .clock(clock.clone())
            .rollup_cache_entries(4 * (PROFILES as usize) / 2)
            .access_mode(AccessMode::Secondary)
            .open()
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|t| {
                let (sec, stop, ids) = (sec.clone(), stop.clone(), ids.clone());
                std::thread::spawn(move || {
                    let mut k = t;
                    while !stop.load(Ordering::Relaxed) {
                        let p = ids[k % ids.len()];
                        if t % 2 == 0 {
                            let _ = sec.rollup(p, "cnt", Window::All);
                        } else {
                            let _ = sec.event_stats(p, "e", Window::days(7));
                        }
                        k += 1;
                    }
                })
            })
            .collect();
        let mut stale = Vec::new();
        for round in 0..ROUNDS {
            for i in 0..PROFILES {
                db.track(&event("e", T0 - HOUR, user(i), None)).unwrap();
            }
            sec.catch_up().unwrap();
            let want = round + 2;
            for (i, p) in ids.iter().enumerate() {
                let all = count_of(sec.rollup(*p, "cnt", Window::All).unwrap());
                let week = sec.event_stats(*p, "e", Window::days(7)).unwrap().count;
                if (all != want || week != want) && stale.len() < 5 {
                    stale.push(format!("round {round}, profile {i}: rollup {all}, event_stats {week}, want {want}"));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().unwrap();
        }
        assert!(stale.is_empty(), "stale rollup reads on a secondary after catch_up: {stale:#?}");
    });
}

/// A secondary's reads between catch-ups are consistent: the segment
/// bitmaps it shows match the data it shows (its own `check_segments`).
#[test]
fn a_secondary_after_catch_up_passes_its_own_check_while_the_writer_writes() {
    within("secondary check", Duration::from_secs(180), || {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
        db.define_segment("buyers", "count(buy) >= 2").unwrap();
        db.index_trait("plan").unwrap();
        db.update(&user(0), Update::new().set("plan", "pro")).unwrap();
        let sec =
            ProfileDb::builder(dir.path()).clock(clock.clone()).access_mode(AccessMode::Secondary).open().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut x = 5u64;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = xorshift(&mut x);
                    let p = r % 200;
                    match r % 3 {
                        0 => {
                            db.track(&event("buy", T0 - HOUR, user(p), None)).unwrap();
                        }
                        1 => {
                            let plan = if (r >> 8).is_multiple_of(2) { "pro" } else { "free" };
                            db.update(&user(p), Update::new().set("plan", plan)).unwrap();
                        }
                        _ => {
                            db.identify(&[user(p), anon(p, 0)], Update::new()).unwrap();
                        }
                    }
                    n += 1;
                }
                n
            })
        };
        let mut bad = Vec::new();
        for round in 0..15 {
            std::thread::sleep(Duration::from_millis(15));
            sec.catch_up().unwrap();
            let m = sec.check_segments().unwrap();
            if !m.is_empty() && bad.len() < 3 {
                bad.push(format!("round {round}: {} differences, first {:?}", m.len(), &m[..m.len().min(3)]));
            }
        }
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        eprintln!("secondary check: {writes} writes beside it");
        assert!(bad.is_empty(), "a caught-up secondary disagrees with itself: {bad:#?}");
    });
}

/// A secondary opened on a database of an older format while a writer
/// opens (and so upgrades) it: `catch_up` either brings the secondary up to
/// the upgraded data, consistently, or fails asking for a reopen.
#[test]
fn a_secondary_beside_a_writer_that_upgrades_the_format_catches_up_or_asks_for_a_reopen() {
    let mut bad = Vec::new();
    for version in 3..=9u32 {
        let tmp = tempfile::tempdir().unwrap();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"));
        for entry in std::fs::read_dir(&src).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
        }
        let sec = ProfileDb::builder(tmp.path())
            .create_if_missing(false)
            .access_mode(AccessMode::Secondary)
            .open()
            .unwrap_or_else(|e| panic!("v{version}: secondary open: {e}"));
        let ann = id("email:ann@example.com");
        let before = sec.get(&ann).unwrap().map(|p| p.version);
        let writer = ProfileDb::open(tmp.path()).unwrap_or_else(|e| panic!("v{version}: writer open: {e}"));
        writer.update(&ann, Update::new().set("plan", "upgraded")).unwrap();
        writer.define_segment("up", r#"traits.plan = "upgraded""#).unwrap();
        match sec.catch_up() {
            Ok(()) => {
                let p = sec.get(&ann).unwrap();
                let plan = p.as_ref().and_then(|p| p.traits.get("plan").cloned());
                if plan != Some(TraitValue::from("upgraded")) {
                    bad.push(format!("v{version}: caught up, but plan = {plan:?} (version before: {before:?})"));
                }
                match sec.segment_count("up") {
                    Ok(1) => {}
                    other => bad.push(format!("v{version}: caught up, segment up: {other:?}")),
                }
                match sec.check_segments() {
                    Ok(m) if m.is_empty() => {}
                    other => bad.push(format!("v{version}: caught up, check_segments: {other:?}")),
                }
            }
            Err(e) => {
                let msg = e.to_string();
                if !(msg.contains("reopen") || msg.contains("open it again") || msg.contains("again")) {
                    bad.push(format!("v{version}: catch_up failed without asking for a reopen: {msg}"));
                }
                eprintln!("v{version}: catch_up refused: {msg}");
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

/// Read-only handles opened in the same process while the writer writes
/// (small memtables: a flush every few milliseconds) open (a file the
/// writer's compaction deleted is retried, not reported as corruption) and
/// read a state the writer passed through, or refuse with `Unsettled` when
/// the writer flushed during every attempt.
#[test]
fn read_only_handles_open_beside_a_live_writer_in_process() {
    within("read-only beside writer", Duration::from_secs(180), || {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).write_buffer_bytes(64 << 10).open().unwrap();
        db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
        db.define_segment("buyers", "count(buy) >= 2").unwrap();
        for i in 0..100 {
            db.update(&user(i), Update::new().set("plan", "free")).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut x = 11u64;
                for n in 0_u64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    if n % 8 == 0 {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    let r = xorshift(&mut x);
                    match r % 3 {
                        0 => {
                            let plan = if (r >> 8).is_multiple_of(2) { "pro" } else { "free" };
                            db.update(&user(r % 100), Update::new().set("plan", plan)).unwrap();
                        }
                        1 => {
                            db.track(&event("buy", T0 - HOUR, user(r % 100), None)).unwrap();
                        }
                        _ => {
                            db.identify(&[user(r % 100), anon(r % 100, (r >> 8) % 3)], Update::new()).unwrap();
                        }
                    }
                }
            })
        };
        let mut bad = Vec::new();
        let mut opened = 0;
        for round in 0..20 {
            std::thread::sleep(Duration::from_millis(20));
            let ro = match ProfileDb::builder(dir.path()).clock(clock.clone()).access_mode(AccessMode::ReadOnly).open()
            {
                Ok(ro) => ro,
                Err(Error::Unsettled { .. }) => continue,
                Err(e) => {
                    if bad.len() < 3 {
                        bad.push(format!("round {round}: read-only open failed: {e}"));
                    }
                    continue;
                }
            };
            // Identify links only user(i) with its own anonymous ids: the
            // count never changes, and every state the writer passed
            // through passes `check`.
            opened += 1;
            let profiles = ro.profile_count().unwrap();
            let report = ro.check().unwrap();
            if (profiles != 100 || !report.is_clean()) && bad.len() < 3 {
                bad.push(format!("round {round}: {profiles} profiles, check: {report:?}"));
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(bad.is_empty(), "{bad:#?}");
        assert!(opened >= 5, "only {opened} of 20 read-only opens saw a moment without a flush");
    });
}

/// A reader reads the MANIFEST, then replays the write-ahead logs; a flush
/// finishing in between could delete a log the reader still needed, and it
/// held a profile's record without its newest delta (or lost a profile
/// whose writes were only in that log). Every read-only or secondary open
/// beside a writer that flushes and compacts must read a whole state, or
/// (a writer compacting without pause) refuse with `Unsettled`.
#[test]
fn handles_opened_beside_a_compacting_writer_read_a_whole_state_or_refuse() {
    for pause_ms in [100, 0] {
        let dir = tempfile::tempdir().unwrap();
        let (ann, bo) = (id("email:ann@example.com"), id("email:bo@example.com"));
        // Ann's write is in the log only when the application opens.
        ProfileDb::open(dir.path()).unwrap().update(&ann, Update::new().set("plan", "pro")).unwrap();
        let app = ProfileDb::open(dir.path()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (app, stop) = (app.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut last = std::time::Instant::now();
                for n in 0_i64.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    app.update(&bo, Update::new().set("n", n)).unwrap();
                    if last.elapsed() >= Duration::from_millis(pause_ms) {
                        app.compact().unwrap();
                        last = std::time::Instant::now();
                    } else if n % 8 == 0 {
                        // Paced: the database (and so each compaction) stays small.
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            })
        };
        let mut bad = Vec::new();
        let mut refused = 0;
        for round in 0..16 {
            let mode = if round % 2 == 0 { AccessMode::ReadOnly } else { AccessMode::Secondary };
            let reader = match ProfileDb::builder(dir.path()).access_mode(mode).open() {
                Ok(reader) => reader,
                Err(Error::Unsettled { .. }) => {
                    refused += 1;
                    continue;
                }
                Err(e) => {
                    bad.push(format!("pause {pause_ms} ms, {mode:?}: open failed: {e}"));
                    continue;
                }
            };
            let plan = reader.get(&ann).unwrap().and_then(|p| p.traits.get("plan").cloned());
            let report = reader.check().unwrap();
            if plan != Some(TraitValue::from("pro")) || !report.is_clean() {
                bad.push(format!("pause {pause_ms} ms, {mode:?}: ann's plan {plan:?}, check {report:?}"));
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert!(bad.is_empty(), "{bad:#?}");
        // Pausing, the writer leaves moments to read in (a busy host can
        // stretch its compactions over some of them).
        assert!(refused <= 12 || pause_ms == 0, "{refused} of 16 opens were refused");
    }
}

#[test]
fn a_second_writer_is_refused_clearly_in_the_same_process_and_from_another() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&user(1), Update::new().set("plan", "pro")).unwrap();
    // Same process, from several threads at once.
    let errs: Vec<Error> = (0..4)
        .map(|_| {
            let path = dir.path().to_owned();
            std::thread::spawn(move || ProfileDb::open(&path).map(|_| ()).unwrap_err())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap())
        .collect();
    for e in &errs {
        assert!(matches!(e, Error::Locked { .. }), "{e}");
    }
    // And the other way round: while another process (a writer child)
    // holds the database, opening it here is Locked.
    drop(db);
    let mut child = spawn_child("hold", dir.path());
    wait_ready(&mut child);
    let err = ProfileDb::open(dir.path()).map(|_| ()).unwrap_err();
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(ro.get(&user(1)).unwrap().is_some(), "a read-only handle beside the other process's writer");
    drop(ro);
    let _ = child.kill();
    let _ = child.wait();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn dropping_handles_while_clones_write_loses_nothing_acknowledged_and_reopens_at_once() {
    within("drop while writing", Duration::from_secs(120), || {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        for cycle in 0..5u64 {
            let db = ProfileDb::builder(dir.path())
                .clock(clock.clone())
                .tick_interval(Duration::from_millis(1))
                .open()
                .unwrap_or_else(|e| panic!("cycle {cycle}: reopen right after the last handle dropped: {e}"));
            db.define_segment("buyers", "count(buy, 1d) >= 1").unwrap();
            let acked = Arc::new(Mutex::new(Vec::<(u64, i64)>::new()));
            let handles: Vec<_> = (0..3u64)
                .map(|t| {
                    let (db, acked, clock) = (db.clone(), acked.clone(), clock.clone());
                    std::thread::spawn(move || {
                        for i in 0..60u64 {
                            let p = (cycle * 1000) + t * 100 + i % 10;
                            db.update(&user(p), Update::new().increment("n", 1)).unwrap();
                            db.track(&event("buy", clock.now().0, user(p), None)).unwrap();
                            acked.lock().unwrap().push((p, 1));
                            clock.advance(MIN);
                        }
                        // The thread's clone drops here, maybe as the last one.
                    })
                })
                .collect();
            // The main handle goes first, while the clones write.
            drop(db);
            for h in handles {
                h.join().unwrap();
            }
            // Every clone is gone: the database is closed and opens again at once.
            let db = ProfileDb::builder(dir.path())
                .clock(clock.clone())
                .open()
                .unwrap_or_else(|e| panic!("cycle {cycle}: reopen after the clones dropped: {e}"));
            let mut want: HashMap<u64, i64> = HashMap::new();
            for (p, n) in acked.lock().unwrap().iter() {
                *want.entry(*p).or_default() += n;
            }
            for (p, n) in want {
                let got = db.get(&user(p)).unwrap().expect("acknowledged profile");
                assert_eq!(got.traits.get("n"), Some(&TraitValue::Int(n)), "cycle {cycle}, user {p}");
            }
            db.tick().unwrap();
            let report = db.check().unwrap();
            assert!(report.is_clean(), "cycle {cycle}: {report}");
            drop(db);
        }
    });
}

const CHILD_ENV: &str = "PROFILEDB_REVIEW_CONC_CHILD";

const BATCH_EVENTS: u64 = 30_000;

const BACKFILL_PROFILES: u64 = 12_000;

fn batch_events() -> Vec<Event> {
    (0..BATCH_EVENTS)
        .map(|i| {
            let name = if i % 3 == 0 { "buy" } else { "view" };
            event(name, T0 - HOUR + i as i64, user(i % 500), Some(format!("b{i}")))
        })
        .collect()
}

fn child_open(dir: &std::path::Path) -> ProfileDb {
    ProfileDb::builder(dir).clock(Arc::new(ManualClock::new(Timestamp(T0)))).durability(Durability::Wal).open().unwrap()
}

/// Not a test of its own: the child process's work when `CHILD_ENV` is set.
#[test]
fn review_conc_child_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let (what, dir) = spec.split_once(':').unwrap();
    let dir = std::path::Path::new(dir);
    let db = child_open(dir);
    match what {
        "batch" => {
            println!("ready");
            db.ingest_batch(&batch_events(), false).unwrap();
            println!("done");
        }
        "hold" => {
            println!("ready");
            std::thread::sleep(Duration::from_secs(30));
        }
        "backfill" => {
            println!("ready");
            for round in 0..50 {
                db.define_segment("big", &format!("traits.k >= {}", round % 2)).unwrap();
            }
            println!("done");
        }
        other => panic!("{other}"),
    }
}

fn spawn_child(what: &str, dir: &std::path::Path) -> std::process::Child {
    let exe = std::env::current_exe().unwrap();
    Command::new(exe)
        .args(["review_conc_child_entry", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{what}:{}", dir.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_ready(child: &mut std::process::Child) {
    use std::io::BufRead;
    let out = child.stdout.as_mut().unwrap();
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(out);
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "child ended before it was ready");
        if line.trim().ends_with("ready") {
            return;
        }
    }
}

#[test]
fn sigkill_during_ingest_batch_leaves_a_prefix_of_whole_events_and_a_clean_check() {
    let events = batch_events();
    for (cycle, delay_ms) in [40u64, 90, 160].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = child_open(dir.path());
            db.declare_rollup(RollupDef::new("buys", "buy", Aggregate::Count)).unwrap();
            db.define_segment("buyers", "count(buy) >= 5").unwrap();
        }
        let mut child = spawn_child("batch", dir.path());
        wait_ready(&mut child);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        let _ = child.wait();
        let db = child_open(dir.path());
        let report = db.check().unwrap();
        assert!(report.is_clean(), "cycle {cycle}: {report}");
        assert_eq!(db.check_segments().unwrap(), vec![], "cycle {cycle}");
        // Which events are stored: a prefix of the batch, whole events only.
        let mut stored: BTreeSet<u64> = BTreeSet::new();
        for u in 0..500u64 {
            if let Some(p) = db.resolve(&user(u)).unwrap() {
                let evs = db.events(p, Timestamp(0), Timestamp(i64::MAX / 2)).unwrap();
                let buys = evs.iter().filter(|e| e.name == "buy").count() as u64;
                assert_eq!(count_of(db.rollup(p, "buys", Window::All).unwrap()), buys, "cycle {cycle} user {u}");
                assert_eq!(db.event_stats(p, "view", Window::All).unwrap().count, evs.len() as u64 - buys);
                for e in evs {
                    stored.insert(e.message_id.unwrap()[1..].parse().unwrap());
                }
            }
        }
        let n = stored.len() as u64;
        assert!(stored.iter().copied().eq(0..n), "cycle {cycle}: the stored events are not a prefix of the batch");
        // Sending the whole batch again completes it exactly.
        let again = db.ingest_batch(&events, false).unwrap();
        assert_eq!((again.duplicates, again.applied), (n, BATCH_EVENTS - n), "cycle {cycle}");
        let report = db.check().unwrap();
        assert!(report.is_clean(), "cycle {cycle} after the resend: {report}");
        eprintln!("cycle {cycle}: killed after {n} of {BATCH_EVENTS} events");
    }
}

#[test]
fn sigkill_during_a_segment_backfill_leaves_it_absent_or_exact_for_every_kind_of_handle() {
    let mut partial = Vec::new();
    for (cycle, delay_ms) in [30u64, 120, 300].into_iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = child_open(dir.path());
            let events = users_with_k(BACKFILL_PROFILES, |i| (i % 2) as i64);
            assert_eq!(db.ingest_batch(&events, false).unwrap().applied, BACKFILL_PROFILES);
        }
        let mut child = spawn_child("backfill", dir.path());
        wait_ready(&mut child);
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        let _ = child.wait();
        // What a reader that opens before any writer (the CLI's read
        // commands, a monitoring tool) sees.
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        for mode in [AccessMode::ReadOnly, AccessMode::Secondary] {
            let ro = ProfileDb::builder(dir.path()).clock(clock.clone()).access_mode(mode).open().unwrap();
            if let Some(info) = ro.segments().into_iter().find(|s| s.name == "big") {
                let want = if info.text.ends_with(">= 0") { BACKFILL_PROFILES } else { BACKFILL_PROFILES / 2 };
                let diffs = ro.check_segments().unwrap().len();
                if info.members != want || diffs != 0 {
                    partial.push(format!(
                        "cycle {cycle}, {mode:?} handle after the kill: segment big = {:?} shows {} members \
                         (complete: {want}); check_segments: {diffs} differences",
                        info.text, info.members
                    ));
                }
            }
        }
        // The writer's reopen finishes the backfill.
        let db = child_open(dir.path());
        if let Some(info) = db.segments().into_iter().find(|s| s.name == "big") {
            let want = if info.text.ends_with(">= 0") { BACKFILL_PROFILES } else { BACKFILL_PROFILES / 2 };
            assert_eq!(info.members, want, "cycle {cycle}: after the writer's reopen");
        }
        assert_eq!(db.check_segments().unwrap(), vec![], "cycle {cycle}");
        let report = db.check().unwrap();
        assert!(report.is_clean(), "cycle {cycle}: {report}");
    }
    assert!(partial.is_empty(), "a reader opened after the kill saw a partly backfilled segment: {partial:#?}");
}
