//! profiledb inside a long-running multi-threaded service: durability
//! modes; threads merging the same people converge while readers never see
//! a torn state; `check()` on the live writer during writes finds nothing.
//!
//! Every test takes `SERIAL`: each keeps the host's cores busy.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use profiledb::event::{Event, EventKind};
use profiledb::{AccessMode, Durability, Identifier, ProfileDb, Update};

static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

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
