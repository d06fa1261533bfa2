//! Service-embedding review (session 29): profiledb inside a long-running
//! multi-threaded service. Each probe asserts what a service author would
//! expect; a failing probe is a finding (see /work/reviews/service.md).
//!
//! Every probe takes `SERIAL`: they count file descriptors, threads and
//! RSS of the whole process, which parallel tests would disturb.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::event::{Event, EventKind};
use profiledb::{AccessMode, Durability, Error, Identifier, ManualClock, ProfileDb, Timestamp, Update};

static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

const T0: i64 = 1_767_225_600_000; // 2026-01-01

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages as f64 * 4096.0 / (1 << 20) as f64
}

fn secondary_dirs() -> usize {
    let prefix = format!("profiledb-secondary-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(&prefix))
        .count()
}

/// Waits up to 5 s for `f` to drop to at most `target` (detached helper
/// threads such as `profiledb-free` end on their own).
fn settle_to(target: usize, f: impl Fn() -> usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let n = f();
        if n <= target || Instant::now() > deadline {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn seed(dir: &Path) {
    let db = ProfileDb::open(dir).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    for i in 0..50 {
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("plan", if i % 2 == 0 { "pro" } else { "free" }))
            .unwrap();
    }
}

// ---------------------------------------------------------------- leaks

#[test]
fn open_close_cycles_of_every_access_mode_leak_no_fds_threads_or_memory() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for mode in [AccessMode::ReadWrite, AccessMode::ReadOnly, AccessMode::Secondary] {
        // Warm up (RocksDB's global thread pools, allocator arenas).
        for _ in 0..5 {
            let db = ProfileDb::builder(dir.path()).access_mode(mode).block_cache_bytes(1 << 20).open().unwrap();
            db.get(&id("user_id:u1")).unwrap();
        }
        let fds0 = settle_to(0, fd_count);
        let threads0 = settle_to(0, thread_count);
        let rss0 = rss_mib();
        let sec0 = secondary_dirs();
        let started = Instant::now();
        let mut slowest_drop = Duration::ZERO;
        for _ in 0..200 {
            let db = ProfileDb::builder(dir.path()).access_mode(mode).block_cache_bytes(1 << 20).open().unwrap();
            assert!(db.get(&id("user_id:u1")).unwrap().is_some());
            let t = Instant::now();
            drop(db);
            slowest_drop = slowest_drop.max(t.elapsed());
        }
        let fds = settle_to(fds0, fd_count);
        let threads = settle_to(threads0, thread_count);
        let rss = rss_mib();
        let sec = secondary_dirs();
        let line = format!(
            "{mode:?}: 200 cycles in {:?} (slowest drop {slowest_drop:?}): fds {fds0} -> {fds}, threads {threads0} -> \
             {threads}, rss {rss0:.1} -> {rss:.1} MiB, secondary dirs {sec0} -> {sec}",
            started.elapsed()
        );
        eprintln!("{line}");
        if fds > fds0 + 2 || threads > threads0 + 1 || rss - rss0 > 40.0 {
            failures.push(line.clone());
        }
        if mode == AccessMode::Secondary && sec > sec0 {
            // Known (another helper fixes it): noted, not failed here.
            eprintln!("KNOWN: {} secondary temp dirs left behind", sec - sec0);
        }
        report.push(line);
    }
    assert!(failures.is_empty(), "leaks over open/close cycles: {failures:#?}");
}

#[test]
fn dropping_the_last_handle_stops_the_ticker_promptly() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let threads0 = settle_to(0, thread_count);
    let mut slow = Vec::new();
    for interval in [Duration::from_secs(3600), Duration::from_millis(1)] {
        for _ in 0..20 {
            let db = ProfileDb::builder(dir.path()).tick_interval(interval).open().unwrap();
            db.update(&id("user_id:1"), Update::new().increment("n", 1)).unwrap();
            let clone = db.clone();
            std::thread::sleep(Duration::from_millis(3));
            drop(db);
            let t = Instant::now();
            drop(clone);
            if t.elapsed() > Duration::from_millis(500) {
                slow.push(format!("{interval:?}: drop took {:?}", t.elapsed()));
            }
        }
    }
    let threads = settle_to(threads0, thread_count);
    assert!(threads <= threads0 + 1, "ticker threads left: {threads0} -> {threads}");
    assert!(slow.is_empty(), "{slow:?}");
    // The database is closed: it opens again at once.
    ProfileDb::open(dir.path()).unwrap();
}

#[test]
fn a_feed_consumer_blocked_in_recv_wakes_when_the_database_closes() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let rx = db.subscribe();
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        while rx.recv().is_ok() {
            n += 1;
        }
        n
    });
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    drop(db);
    let t = Instant::now();
    while !consumer.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the consumer thread still blocks in recv after the last handle dropped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(consumer.join().unwrap(), 1);
}

#[test]
fn subscriptions_dropped_on_a_database_without_feed_records_are_forgotten() {
    // A service subscribing per client connection (server-sent events) on a
    // database whose writes produce no feed records for a while.
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    for _ in 0..1000 {
        drop(db.subscribe());
    }
    let rss0 = rss_mib();
    for i in 0..200_000u32 {
        drop(db.subscribe());
        if i % 1000 == 0 {
            // Writes with no segment defined: no feed record.
            db.update(&id("user_id:1"), Update::new().increment("n", 1)).unwrap();
        }
    }
    let grown = rss_mib() - rss0;
    eprintln!("200,000 dropped subscriptions: rss +{grown:.1} MiB");
    assert!(grown < 16.0, "200,000 dropped receivers kept {grown:.1} MiB (their senders stay in Core::subscribers)");
}

// ---------------------------------------------------------------- memory

#[test]
fn small_caches_keep_rss_bounded_over_200k_distinct_profiles() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .profile_cache_entries(1_000)
        .identity_cache_entries(1_000)
        .rollup_cache_entries(1_000)
        .wakeup_cache_entries(1_000)
        .block_cache_bytes(8 << 20)
        .open()
        .unwrap();
    db.define_segment("buyers", "count(purchase, 7d) >= 2").unwrap();
    let mut samples = Vec::new();
    let total = 200_000u32;
    for chunk in 0..(total / 1000) {
        let events: Vec<Event> = (0..1000)
            .map(|j| {
                let p = chunk * 1000 + j;
                Event::new(
                    EventKind::Track,
                    "purchase",
                    Timestamp(T0 - 1000 + (j as i64)),
                    vec![id(&format!("user_id:u{p}"))],
                )
                .with_property("amount", 5)
            })
            .collect();
        db.ingest_batch(&events, false).unwrap().into_result().unwrap();
        if chunk % 50 == 49 {
            // Read back a spread of profiles (cache churn).
            for p in (0..(chunk + 1) * 1000).step_by(37) {
                db.get(&id(&format!("user_id:u{p}"))).unwrap().unwrap();
            }
            samples.push(((chunk + 1) * 1000, rss_mib()));
        }
    }
    eprintln!("rss samples (profiles, MiB): {samples:?}");
    let (_, at50k) = samples[0];
    let (_, at200k) = *samples.last().unwrap();
    // Block cache 8 MiB, memtables: at most ~6 x 8 MiB per busy family; caches ~ 1000 entries.
    assert!(
        at200k - at50k < 96.0,
        "RSS grew {:.1} MiB from 50k to 200k profiles with 1,000-entry caches and an 8 MiB block cache",
        at200k - at50k
    );
}

// ---------------------------------------------------------------- concurrency

#[test]
fn threads_merging_the_same_people_converge_with_readers_never_torn() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("active", "traits.n >= 3").unwrap();
    const PEOPLE: u32 = 40;
    const THREADS: u32 = 4;
    const ROUNDS: u32 = 5;
    let stop = Arc::new(AtomicBool::new(false));
    let torn = Arc::new(parking_lot::Mutex::new(Vec::<String>::new()));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, stop, torn, reads) = (db.clone(), stop.clone(), torn.clone(), reads.clone());
            std::thread::spawn(move || {
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    i = i.wrapping_add(7 + r);
                    let who = id(&format!("email:p{}@x.io", i % PEOPLE));
                    match db.resolve(&who) {
                        Ok(Some(p)) => {
                            match db.get_by_id(p) {
                                Ok(Some(_)) => {}
                                other => torn.lock().push(format!("resolve({who}) = {p}, get_by_id = {other:?}")),
                            }
                            if let Err(e) = db.in_segment("active", p) {
                                torn.lock().push(format!("in_segment({p}): {e}"));
                            }
                            if let Err(e) = db.identifiers(p) {
                                torn.lock().push(format!("identifiers({p}): {e}"));
                            }
                        }
                        Ok(None) => {}
                        Err(e) => torn.lock().push(format!("resolve: {e}")),
                    }
                    match db.get(&who) {
                        Ok(_) => {}
                        Err(e) => torn.lock().push(format!("get: {e}")),
                    }
                    if let Err(e) = db.query_count("in active or traits.n >= 1") {
                        torn.lock().push(format!("query_count: {e}"));
                    }
                    reads.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut errors = Vec::new();
                for round in 0..ROUNDS {
                    for k in 0..PEOPLE {
                        let anon = id(&format!("anonymous_id:t{t}-p{k}-r{round}"));
                        let email = id(&format!("email:p{k}@x.io"));
                        let user = id(&format!("user_id:p{k}"));
                        // Increments go through the email (always on the person's
                        // profile): merges keep them whatever the merge order
                        // (anonymous profiles carry no `n`).
                        let r = db
                            .update(&anon, Update::new().set("anon_seen", true))
                            .and_then(|_| db.identify(&[anon.clone(), email.clone()], Update::new()))
                            .and_then(|_| db.update(&email, Update::new().increment("n", 1)))
                            .and_then(|_| {
                                db.identify(
                                    &[email.clone(), user.clone()],
                                    Update::new().add_to_set("seen_by", [format!("t{t}")]),
                                )
                            });
                        if let Err(e) = r {
                            errors.push(format!("t{t} r{round} p{k}: {e}"));
                        }
                    }
                }
                errors
            })
        })
        .collect();
    let mut errors = Vec::new();
    for w in writers {
        errors.extend(w.join().unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
    eprintln!("reads: {}", reads.load(Ordering::Relaxed));
    assert!(errors.is_empty(), "writer errors: {errors:#?}");
    let torn = torn.lock().clone();
    assert!(torn.is_empty(), "{} torn/erroneous reads, first: {:#?}", torn.len(), &torn[..torn.len().min(5)]);
    // Every person is one profile holding every increment and identifier.
    for k in 0..PEOPLE {
        let p = db.get(&id(&format!("user_id:p{k}"))).unwrap().unwrap();
        assert_eq!(p.traits.get("n"), Some(&(i64::from(THREADS * ROUNDS)).into()), "person {k}");
        assert_eq!(db.resolve(&id(&format!("email:p{k}@x.io"))).unwrap(), Some(p.id));
        assert_eq!(db.identifiers(p.id).unwrap().len() as u32, 2 + THREADS * ROUNDS, "person {k}");
        assert!(db.in_segment("active", p.id).unwrap());
    }
    assert_eq!(db.profile_count().unwrap(), u64::from(PEOPLE));
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
    assert!(db.check_segments().unwrap().is_empty());
}

#[test]
fn a_backup_taken_while_threads_write_opens_clean_and_a_secondary_follows() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("big", "sum(purchase.amount) >= 10").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let who = id(&format!("user_id:u{}", i % 300));
                let ev =
                    Event::new(EventKind::Track, "purchase", db.now(), vec![who.clone()]).with_property("amount", 3);
                db.track(&ev).unwrap();
                if i.is_multiple_of(7) {
                    db.identify(&[who, id(&format!("email:{}@x.io", i % 150))], Update::new().increment("k", 1))
                        .unwrap();
                }
                i += 1;
            }
            i
        })
    };
    let secondary = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    let mut last_count = 0;
    let mut problems = Vec::new();
    for b in 0..3 {
        std::thread::sleep(Duration::from_millis(150));
        let target = out.path().join(format!("b{b}"));
        db.backup(&target).unwrap();
        let copy = ProfileDb::open(&target).unwrap();
        let report = copy.check().unwrap();
        if !report.is_clean() {
            problems.push(format!(
                "backup {b}: {} violations, first: {:?}",
                report.violations.len(),
                report.violations[0]
            ));
        }
        let seg = copy.check_segments().unwrap();
        if !seg.is_empty() {
            problems.push(format!("backup {b} segments: {seg:?}"));
        }
        drop(copy);
        match secondary.catch_up() {
            Ok(()) => {
                let n = secondary.profile_count().unwrap();
                if n < last_count {
                    problems.push(format!("secondary went back: {last_count} -> {n}"));
                }
                last_count = n;
                let report = secondary.check().unwrap();
                if !report.is_clean() {
                    problems.push(format!(
                        "secondary after catch-up {b}: {} violations, first: {:?}",
                        report.violations.len(),
                        report.violations[0]
                    ));
                }
            }
            Err(Error::Unsettled { .. }) => {}
            Err(e) => problems.push(format!("catch_up: {e}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    eprintln!("writes during the backups: {n}");
    assert!(problems.is_empty(), "{problems:#?}");
}

// ---------------------------------------------------------------- errors

#[test]
fn errors_are_send_sync_static_and_work_with_question_mark_in_boxed_errors() {
    let _g = SERIAL.lock();
    fn assert_traits<T: std::error::Error + Send + Sync + 'static>() {}
    assert_traits::<Error>();
    fn service_call(dir: &Path) -> Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        let db = ProfileDb::open(dir)?;
        let bad: Result<Identifier, _> = "email:".parse::<Identifier>();
        let _ = bad?;
        db.update(&id("user_id:1"), Update::new())?;
        Ok(())
    }
    let dir = tempfile::tempdir().unwrap();
    let e = service_call(dir.path()).unwrap_err();
    assert!(e.to_string().contains("email"), "{e}");
    // A rejected event in a batch keeps its cause as `source()`.
    let db = ProfileDb::open(dir.path()).unwrap();
    let events = vec![
        Event::new(EventKind::Track, "ok", Timestamp(T0), vec![id("user_id:1")]),
        Event::new(EventKind::Track, "", Timestamp(T0), vec![id("user_id:1")]),
    ];
    let err = db.ingest_batch(&events, false).unwrap().into_result().unwrap_err();
    assert!(std::error::Error::source(&err).is_some(), "BatchRejected has no source(): {err}");
}

/// Space runs out on the database's filesystem (a 20 MiB tmpfs mounted by
/// the review at /tmp/svc29/tmpfs, with a 6 MiB filler file to free):
/// writes fail with a clear error, nothing acknowledged is lost, and once
/// space returns the handle (or, failing that, a reopen) writes again.
#[test]
fn a_full_disk_fails_writes_clearly_and_the_handle_recovers_when_space_returns() {
    let _g = SERIAL.lock();
    let mount = Path::new("/tmp/svc29/tmpfs");
    if !mount.exists() {
        eprintln!("SKIPPED: no tmpfs at {}", mount.display());
        return;
    }
    let dir = mount.join("db");
    let _ = std::fs::remove_dir_all(&dir);
    let filler = mount.join("filler");
    std::fs::write(&filler, vec![7u8; 6 << 20]).unwrap();
    let db = ProfileDb::builder(&dir).write_buffer_bytes(1 << 20).block_cache_bytes(1 << 20).open().unwrap();
    let big = "x".repeat(60_000);
    let mut acked = 0u32;
    let mut first_err = None;
    for i in 0..2000u32 {
        match db.update(&id(&format!("user_id:u{i}")), Update::new().set("blob", big.as_str()).set("i", i64::from(i))) {
            Ok(_) => acked = i + 1,
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    let err = first_err.expect("20 MiB cannot hold 2000 x 60 KB");
    eprintln!("after {acked} acknowledged writes: {err:?}\n  message: {err}");
    // The failed write left no trace in what the handle reads.
    let phantom = db.get(&id(&format!("user_id:u{acked}"))).map(|p| p.is_some());
    eprintln!("the failed write's profile on the same handle: {phantom:?}");
    assert!(matches!(phantom, Ok(false)), "the failed write is visible: {phantom:?}");
    // Space returns.
    std::fs::remove_file(&filler).unwrap();
    let after = db.update(&id("user_id:after"), Update::new().set("i", 1));
    eprintln!("write after space returned, same handle: {after:?}");
    let later = db.update(&id("user_id:after2"), Update::new().set("i", 1));
    eprintln!("second write after space returned, same handle: {later:?}");
    let reads_ok = db.get(&id("user_id:u0")).map(|p| p.is_some());
    eprintln!("read on the same handle: {reads_ok:?}");
    drop(db);
    let reopened = ProfileDb::open(&dir);
    let mut lost = Vec::new();
    match &reopened {
        Ok(db) => {
            for i in 0..acked {
                if db.get(&id(&format!("user_id:u{i}"))).unwrap().is_none() {
                    lost.push(i);
                }
            }
            let report = db.check().unwrap();
            assert!(report.is_clean(), "{:?}", report.violations);
        }
        Err(e) => eprintln!("reopen failed: {e}"),
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(matches!(err, Error::Storage { .. }), "not a Storage error: {err:?}");
    assert!(err.to_string().to_lowercase().contains("space"), "the message does not say the disk is full: {err}");
    assert!(reopened.is_ok(), "reopen after space returned failed: {:?}", reopened.err());
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(after.is_ok() || later.is_ok(), "the handle stays unusable after space returned: {after:?} / {later:?}");
}

#[test]
fn writes_after_the_directory_is_removed_underneath_report_an_error() {
    let _g = SERIAL.lock();
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("db");
    let db = ProfileDb::builder(&dir).write_buffer_bytes(1 << 20).open().unwrap();
    db.update(&id("user_id:u0"), Update::new().set("a", 1)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let big = "y".repeat(20_000);
    let mut outcome = Vec::new();
    let mut ok = 0;
    for i in 0..300u32 {
        match db.update(&id(&format!("user_id:u{i}")), Update::new().set("blob", big.as_str())) {
            Ok(_) => ok += 1,
            Err(e) => {
                outcome.push(format!("update {i}: {e}"));
                break;
            }
        }
    }
    let sync = db.sync();
    let settle = db.settle();
    eprintln!(
        "{ok} updates acknowledged after the directory vanished; {outcome:?}; sync: {sync:?}; settle: {settle:?}"
    );
    assert!(
        !outcome.is_empty() || sync.is_err() || settle.is_err(),
        "{ok} writes (6 MB, past the 1 MiB memtable) were acknowledged into a deleted directory and sync()/settle() \
         reported nothing"
    );
}

// ---------------------------------------------------------------- panics

#[test]
fn odd_inputs_and_clocks_return_errors_never_panic() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    db.define_segment("recent", "count(visit, 1d) >= 1").unwrap();
    db.define_segment("trial", "traits.trial_ends > now").unwrap();
    let mut panics = Vec::new();
    let mut outcomes = Vec::new();
    let mut run = |what: &str, f: &mut dyn FnMut() -> String| match catch_unwind(AssertUnwindSafe(&mut *f)) {
        Ok(s) => outcomes.push(format!("{what}: {s}")),
        Err(p) => panics.push(format!(
            "{what}: {}",
            p.downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    };
    run("empty batch", &mut || format!("{:?}", db.ingest_batch(&[], false).map(|r| r.is_complete())));
    run("empty strict batch", &mut || format!("{:?}", db.ingest_batch(&[], true).map(|r| r.is_complete())));
    run("100k events for one profile", &mut || {
        let evs: Vec<Event> = (0..100_000)
            .map(|i| {
                Event::new(EventKind::Track, "visit", Timestamp(T0 - 100_000 + i), vec![id("user_id:heavy")])
                    .with_property("n", i)
            })
            .collect();
        let t = Instant::now();
        let r = db.ingest_batch(&evs, false).map(|r| r.is_complete());
        format!("{r:?} in {:?}", t.elapsed())
    });
    run("1 KiB identifiers x 32", &mut || {
        let ids: Vec<Identifier> = (0..32).map(|i| id(&format!("device_id:{i:04}{}", "d".repeat(1020)))).collect();
        format!("{:?}", db.identify(&ids, Update::new().set("big", true)).map(|r| r.profile))
    });
    run("1025-byte identifier", &mut || {
        format!("{:?}", format!("device_id:{}", "e".repeat(1025)).parse::<Identifier>().map(|_| ()))
    });
    run("1000 operators", &mut || {
        let mut u = Update::new();
        for i in 0..1000 {
            u = u.set(&format!("t{i}"), i);
        }
        format!("{:?}", db.update(&id("user_id:ops"), u).map(|r| r.version))
    });
    run("trial set", &mut || {
        format!(
            "{:?}",
            db.update(&id("user_id:trial"), Update::new().set("trial_ends", Timestamp(T0 + 3_600_000)))
                .map(|r| r.version)
        )
    });
    run("clock backwards 10 years, write + tick", &mut || {
        clock.set(Timestamp(T0 - 10 * 365 * 86_400_000));
        let w = db.update(&id("user_id:trial"), Update::new().increment("k", 1)).map(|r| r.version);
        let e = db.track(&Event::new(EventKind::Track, "visit", db.now(), vec![id("user_id:back")]));
        format!("{w:?} {e:?} {:?}", db.tick().map(|r| r.processed))
    });
    run("clock far future, tick", &mut || {
        clock.set(Timestamp(253_402_300_799_000)); // 9999-12-31
        format!("{:?}", db.tick().map(|r| r.processed))
    });
    run("clock i64::MAX, write + tick", &mut || {
        clock.set(Timestamp(i64::MAX));
        let w = db.update(&id("user_id:trial"), Update::new().increment("k", 1)).map(|r| r.version);
        let e = db.track(&Event::new(EventKind::Track, "visit", db.now(), vec![id("user_id:max")]));
        format!("{w:?} {e:?} {:?}", db.tick().map(|r| r.processed))
    });
    run("clock i64::MIN, write + tick", &mut || {
        clock.set(Timestamp(i64::MIN));
        let w = db.update(&id("user_id:trial"), Update::new().increment("k", 1)).map(|r| r.version);
        let e = db.track(&Event::new(EventKind::Track, "visit", Timestamp(i64::MIN), vec![id("user_id:min")]));
        format!("{w:?} {e:?} {:?}", db.tick().map(|r| r.processed))
    });
    run("clock back to T0, check", &mut || {
        clock.set(Timestamp(T0));
        let c = db.check().map(|r| r.violations.len());
        let s = db.check_segments().map(|m| m.len());
        format!("check violations {c:?}, segment mismatches {s:?}")
    });
    run("feed with huge from/limit", &mut || format!("{:?}", db.feed(u64::MAX, usize::MAX).map(|v| v.len())));
    run("query_count of an empty expression", &mut || format!("{:?}", db.query_count("")));
    run("get_as_of_version 0 and u64::MAX", &mut || {
        let p = db.resolve(&id("user_id:ops")).unwrap().unwrap();
        format!("{:?} {:?}", db.get_as_of_version(p, 0).map(|_| ()), db.get_as_of_version(p, u64::MAX).map(|_| ()))
    });
    run("get_as_of_time at i64::MIN/MAX", &mut || {
        let p = db.resolve(&id("user_id:ops")).unwrap().unwrap();
        format!(
            "{:?} {:?}",
            db.get_as_of_time(p, Timestamp(i64::MIN)).map(|o| o.is_some()),
            db.get_as_of_time(p, Timestamp(i64::MAX)).map(|o| o.is_some())
        )
    });
    run("events over the whole range", &mut || {
        let p = db.resolve(&id("user_id:heavy")).unwrap().unwrap();
        format!("{:?}", db.events(p, Timestamp(i64::MIN), Timestamp(i64::MAX)).map(|v| v.len()))
    });
    for o in &outcomes {
        eprintln!("{o}");
    }
    assert!(panics.is_empty(), "panics: {panics:#?}");
    // The check after the clock settings (2 violations, from the year-9999
    // step) is the finding of the a_clock_* probes below, not asserted here.
}

#[test]
fn a_subscription_taken_after_the_other_handles_closed_is_disconnected_not_hanging() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let clone = db.clone();
    drop(db);
    let rx = clone.subscribe();
    drop(clone);
    assert!(
        matches!(rx.recv_timeout(Duration::from_secs(2)), Err(crossbeam::channel::RecvTimeoutError::Disconnected)),
        "the receiver of a closed database is not disconnected"
    );
}

// ---------------------------------------------------------------- durability

#[test]
fn durability_modes_are_reported_and_sync_works_on_every_mode() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    {
        let db = ProfileDb::builder(dir.path()).durability(Durability::Sync).open().unwrap();
        assert_eq!(db.durability(), Durability::Sync);
        db.update(&id("user_id:1"), Update::new().set("a", 1)).unwrap();
        db.sync().unwrap();
    }
    let db = ProfileDb::open(dir.path()).unwrap();
    assert_eq!(db.durability(), Durability::Wal);
    db.sync().unwrap();
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    // sync() on a read-only handle: an error or a no-op, never a panic.
    let r = catch_unwind(AssertUnwindSafe(|| ro.sync().is_ok()));
    assert!(r.is_ok(), "sync() on a read-only handle panicked");
}

/// Runs `steps` (each a clock setting and a write, event and tick) on a fresh
/// database with a time-dependent segment and a window segment, then sets
/// the clock back to `T0 + 1 day` and returns check()'s and check_segments()'s findings.
fn clock_scenario(steps: &[i64]) -> (Vec<String>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    db.define_segment("recent", "count(visit, 1d) >= 1").unwrap();
    db.define_segment("trial", "traits.trial_ends > now").unwrap();
    db.update(&id("user_id:trial"), Update::new().set("trial_ends", Timestamp(T0 + 3_600_000))).unwrap();
    db.track(&Event::new(EventKind::Track, "visit", Timestamp(T0), vec![id("user_id:v")])).unwrap();
    let mut log = Vec::new();
    for (i, t) in steps.iter().enumerate() {
        clock.set(Timestamp(*t));
        let w = db.update(&id("user_id:trial"), Update::new().increment("k", 1)).map(|r| r.version);
        let e =
            db.track(&Event::new(EventKind::Track, "visit", db.now(), vec![id(&format!("user_id:s{i}"))])).map(|_| ());
        let k = db.tick().map(|r| r.processed);
        log.push(format!("at {t}: update {w:?}, track {e:?}, tick {k:?}"));
    }
    clock.set(Timestamp(T0 + 86_400_000));
    let _ = db.tick();
    let report = db.check().unwrap();
    let checks = report.violations.iter().map(|v| format!("{v:?}")).collect();
    let segs = db.check_segments().unwrap().iter().map(|m| format!("{m:?}")).collect();
    eprintln!("{log:#?}");
    (checks, segs)
}

#[test]
fn a_clock_stepping_back_ten_years_and_forward_again_leaves_a_clean_check() {
    let _g = SERIAL.lock();
    let r = clock_scenario(&[T0 - 10 * 365 * 86_400_000, T0 + 1000]);
    assert_eq!(r, (vec![], vec![]), "violations / segment mismatches");
}

#[test]
fn a_clock_reading_year_9999_then_back_leaves_a_clean_check() {
    let _g = SERIAL.lock();
    let r = clock_scenario(&[253_402_300_799_000]);
    assert_eq!(r, (vec![], vec![]), "violations / segment mismatches");
}

/// A host clock that ran 30 days ahead (bad NTP) and is then corrected.
#[test]
fn a_clock_thirty_days_ahead_then_corrected_leaves_a_clean_check() {
    let _g = SERIAL.lock();
    let r = clock_scenario(&[T0 + 30 * 86_400_000]);
    assert_eq!(r, (vec![], vec![]), "violations / segment mismatches");
}

#[test]
fn a_clock_reading_i64_max_then_back_leaves_a_clean_check() {
    let _g = SERIAL.lock();
    let r = clock_scenario(&[i64::MAX]);
    assert_eq!(r, (vec![], vec![]), "violations / segment mismatches");
}

#[test]
fn a_clock_reading_i64_min_then_back_leaves_a_clean_check() {
    let _g = SERIAL.lock();
    let r = clock_scenario(&[i64::MIN]);
    assert_eq!(r, (vec![], vec![]), "violations / segment mismatches");
}

/// A replica (secondary handle) catching up beside a writer that tracks
/// events: every catch-up must show one state (a prefix of the commits,
/// consistent across column families), so its own `check()` is clean and
/// its feed head is past every stored feed record. A read-only open beside
/// the same writer is the control.
#[test]
fn a_secondary_catching_up_beside_an_event_writer_reads_one_state() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("big", "sum(purchase.amount) >= 10").unwrap();
    // No segment changes with the events: the meta family is written only
    // when an event-sequence block (4,096) is reserved. (With a segment that
    // toggles on every other write, 0 of 5 runs reproduced; without, 5 of 5.)
    let secondary = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let who = id(&format!("user_id:u{}", i % 300));
                let ev = Event::new(EventKind::Track, "purchase", db.now(), vec![who]).with_property("amount", 3);
                db.track(&ev).unwrap();
                if i.is_multiple_of(10) {
                    db.update(&id("user_id:hot"), Update::new().increment("n", 1)).unwrap();
                }
                i += 1;
            }
            i
        })
    };
    let mut problems = Vec::new();
    let mut last_feed_head: Option<u64> = None;
    let out = tempfile::tempdir().unwrap();
    for round in 0..6 {
        std::thread::sleep(Duration::from_millis(150));
        // The admin endpoint's backup (a checkpoint: it flushes the memtables).
        db.backup(&out.path().join(format!("b{round}"))).unwrap();
        match secondary.catch_up() {
            Ok(()) => {
                let report = secondary.check().unwrap();
                let mut kinds: Vec<String> = report.violations.iter().map(|v| v.what.to_string()).collect();
                kinds.sort();
                kinds.dedup();
                if !report.is_clean() {
                    problems.push(format!(
                        "secondary after catch-up {round}: {} violations {kinds:?}, first: {:?}",
                        report.violations.len(),
                        report.violations[0]
                    ));
                }
                // A version `get` shows is readable by version and listed in the history.
                if let Some(hot) = secondary.get(&id("user_id:hot")).unwrap() {
                    let by_version = secondary.get_as_of_version(hot.id, hot.version).map(|p| p.version);
                    let last = secondary.history(hot.id).map(|h| h.last().map(|d| d.version));
                    if by_version.as_ref().ok() != Some(&hot.version) || last.as_ref().ok() != Some(&Some(hot.version))
                    {
                        problems.push(format!(
                            "secondary {round}: get shows version {}, get_as_of_version gives {by_version:?}, history ends at {last:?}",
                            hot.version
                        ));
                    }
                }
                // Diagnostic: the raw next_event_seq the secondary reads, and the writer's.
                let meta = |db: &ProfileDb| {
                    db.dump_cf("meta")
                        .unwrap()
                        .into_iter()
                        .find(|e| e.key == b"next_event_seq")
                        .map(|e| e.value.iter().map(|b| format!("{b:02x}")).collect::<String>())
                };
                eprintln!("round {round}: next_event_seq secondary {:?}, writer {:?}", meta(&secondary), meta(&db));
                let head = secondary.feed_head().unwrap();
                // The same meta key, by a point read (feed_head) and by a scan (dump_cf).
                let scanned = secondary
                    .dump_cf("meta")
                    .unwrap()
                    .into_iter()
                    .find(|e| e.key == b"next_feed_seq")
                    .map(|e| u64::from_be_bytes(e.value[e.value.len() - 8..].try_into().unwrap()));
                eprintln!(
                    "round {round}: secondary feed_head {head}, scanned next_feed_seq {scanned:?}, writer {}",
                    db.feed_head().unwrap()
                );
                if scanned != Some(head) {
                    problems.push(format!(
                        "secondary {round}: feed_head (point read) {head}, the meta scan says {scanned:?}"
                    ));
                }
                if let Some(last_head) = last_feed_head {
                    if head < last_head {
                        problems.push(format!("secondary {round}: feed_head went back from {last_head} to {head}"));
                    }
                }
                last_feed_head = Some(head);
                let past = secondary.feed(head, 10).unwrap();
                if !past.is_empty() {
                    problems.push(format!("secondary {round}: feed_head {head} but record {} is stored", past[0].seq));
                }
            }
            Err(Error::Unsettled { .. }) => problems.push(format!("catch-up {round}: unsettled")),
            Err(e) => problems.push(format!("catch-up {round}: {e}")),
        }
        match ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open() {
            Ok(ro) => {
                let report = ro.check().unwrap();
                if !report.is_clean() {
                    problems.push(format!(
                        "read-only open {round}: {} violations, first: {:?}",
                        report.violations.len(),
                        report.violations[0]
                    ));
                }
            }
            Err(e) => problems.push(format!("read-only open {round}: {e}")),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    eprintln!("events written: {n}; problems: {problems:#?}");
    assert!(problems.is_empty(), "{problems:#?}");
}

/// The audience-sync consumer: four request threads change memberships
/// (and the ticker runs) while a slow subscriber reads the live channel.
/// Every stored record arrives once, in `seq` order, and writes never
/// block on the slow consumer.
#[test]
fn a_slow_subscriber_beside_four_writers_and_the_ticker_gets_every_record_in_order() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).tick_interval(Duration::from_millis(2)).open().unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("trial", "traits.trial_ends > now").unwrap();
    let rx = db.subscribe();
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(r) = rx.recv() {
            got.push(r.seq);
            if got.len() % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // slow
            }
        }
        got
    });
    let mut slowest = Duration::ZERO;
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in 0..500u32 {
                    let who = id(&format!("user_id:t{t}-{}", i % 50));
                    let plan = if i % 2 == 0 { "pro" } else { "free" };
                    let started = Instant::now();
                    db.update(&who, Update::new().set("plan", plan).set("trial_ends", Timestamp(db.now().0 + 5)))
                        .unwrap();
                    slowest = slowest.max(started.elapsed());
                }
                slowest
            })
        })
        .collect();
    for w in writers {
        slowest = slowest.max(w.join().unwrap());
    }
    std::thread::sleep(Duration::from_millis(50));
    let stored: Vec<u64> = db.feed(0, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    let status = db.ticker_status().unwrap();
    drop(db);
    let got = consumer.join().unwrap();
    eprintln!("stored {} records, received {}, slowest write {slowest:?}, ticker {status:?}", stored.len(), got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]), "records out of order");
    assert_eq!(got, stored, "the live channel and the stored feed differ");
    assert_eq!(status.errors, 0, "{status:?}");
}

/// The admin endpoint runs `check()` and `check_segments()` on the live
/// writer handle while request threads write (events, merges): a healthy
/// database reports nothing (README, "Concurrency and atomicity").
#[test]
fn check_on_the_live_writer_during_writes_and_merges_reports_nothing() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("buyers", "count(purchase) >= 2").unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|t| {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let anon = id(&format!("anonymous_id:t{t}-{i}"));
                    let email = id(&format!("email:p{}@x.io", i % 200));
                    let ev = Event::new(EventKind::Track, "purchase", db.now(), vec![anon.clone()])
                        .with_property("amount", 2);
                    db.track(&ev).unwrap();
                    db.identify(
                        &[anon, email],
                        Update::new().set("plan", if i.is_multiple_of(3) { "pro" } else { "free" }),
                    )
                    .unwrap();
                    i += 1;
                }
                i
            })
        })
        .collect();
    let mut problems = Vec::new();
    for round in 0..8 {
        std::thread::sleep(Duration::from_millis(100));
        let report = db.check().unwrap();
        if !report.is_clean() {
            problems.push(format!(
                "check {round}: {} violations, first {:?}",
                report.violations.len(),
                report.violations[0]
            ));
        }
        let seg = db.check_segments().unwrap();
        if !seg.is_empty() {
            problems.push(format!("check_segments {round}: {} mismatches, first {:?}", seg.len(), seg[0]));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let n: u64 = writers.into_iter().map(|w| w.join().unwrap()).sum();
    eprintln!("{n} event+identify pairs during 8 checks");
    assert!(problems.is_empty(), "{problems:#?}");
}
