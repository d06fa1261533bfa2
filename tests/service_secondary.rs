//! A live writer taking backups while a thread writes: every backup opens
//! with a clean `check()`; and a secondary handle following it should read
//! one state after every `catch_up()`, a prefix of the writer's commits
//! (its own `check()` clean) — ignored: H1 is mitigated (a secondary reads
//! rarely written families by seeks, src/storage/view.rs `get`, and a
//! catch-up that would move a `meta` counter back is refused,
//! src/storage/mod.rs `catch_up_whole`) but still fails about 1 run in 3.
//!
//! Both tests take `SERIAL`: each runs a busy writer thread.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use profiledb::event::{Event, EventKind};
use profiledb::{AccessMode, Error, Identifier, ProfileDb, Update};

static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

#[test]
#[ignore = "H1 is mitigated, not fixed: about 1 run in 3 still shows `meta/next_event_seq` behind the events of the \
            same catch-up (RocksDB's secondary replay loses a rarely written family's newest write); run with \
            --ignored"]
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
    let mut unsettled = 0;
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
            // A catch-up that would have moved a `meta` counter back is refused.
            Err(Error::Unsettled { .. }) => {
                eprintln!("round {round}: catch-up unsettled");
                unsettled += 1;
            }
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
    eprintln!("events written: {n}; unsettled catch-ups: {unsettled}; problems: {problems:#?}");
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(unsettled < 6, "no catch-up succeeded");
}

#[test]
fn backups_taken_while_threads_write_open_clean() {
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
    }
    stop.store(true, Ordering::Relaxed);
    let n = writer.join().unwrap();
    eprintln!("writes during the backups: {n}");
    assert!(problems.is_empty(), "{problems:#?}");
}
