//! Concurrency stress: 8 threads of mixed writes (updates, identifies that
//! merge overlapping identifiers, events) alongside readers running
//! lookups and segment queries; afterwards `check()` (every invariant,
//! segments and rollups included) must be clean.
//!
//! `PROFILEDB_STRESS_OPS` sets the total number of operations (default
//! 8,000 for CI; the long mode runs 1,000,000).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::Window;
use profiledb::{Error, Identifier, IdentityRules, ManualClock, ProfileDb, Timestamp, Update};

const POOL: u64 = 2_000;

fn ident(kind: &str, n: u64) -> Identifier {
    Identifier::new(kind, &format!("{kind}-{}", n % POOL)).expect("valid identifier")
}

fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn mixed_writers_and_readers_keep_every_invariant() {
    let total: u64 = std::env::var("PROFILEDB_STRESS_OPS").ok().and_then(|v| v.parse().ok()).unwrap_or(8_000);
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let rules = IdentityRules { max_profiles_per_merge: 64, ..IdentityRules::default() };
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).identity_rules(rules).open().unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("buyers", "count(purchase, 7d) >= 2").unwrap();
    db.define_segment("pro_buyers", "in pro and in buyers").unwrap();
    let pool = POOL;
    let done = Arc::new(AtomicBool::new(false));
    let ops = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..8u64)
        .map(|t| {
            let (db, clock, ops) = (db.clone(), clock.clone(), ops.clone());
            std::thread::spawn(move || {
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t + 1);
                while ops.fetch_add(1, Ordering::Relaxed) < total {
                    let r = next(&mut x);
                    match r % 10 {
                        0..=3 => {
                            let plan = if r.is_multiple_of(3) { "pro" } else { "free" };
                            db.update(&ident("user_id", r >> 8), Update::new().set("plan", plan).increment("n", 1))
                                .unwrap();
                        }
                        4..=5 => {
                            let mut ids = vec![ident("anonymous_id", r >> 8), ident("device_id", r >> 20)];
                            ids.sort();
                            ids.dedup();
                            db.identify(&ids, Update::new()).unwrap();
                        }
                        6 => {
                            let mut ids = vec![ident("anonymous_id", r >> 8), ident("user_id", r >> 24)];
                            ids.sort();
                            db.identify(&ids, Update::new()).unwrap();
                        }
                        _ => {
                            let name = if r.is_multiple_of(2) { "purchase" } else { "page_view" };
                            let at = Timestamp(clock.now().0 - (r % 5) as i64 * 3_600_000);
                            let e = Event::new(EventKind::Track, name, at, vec![ident("user_id", r >> 8)]);
                            db.track(&e).unwrap();
                        }
                    }
                    if r.is_multiple_of(97) {
                        clock.advance(3_600_000);
                    }
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2u64)
        .map(|t| {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut x = 0xDEAD_BEEFu64 ^ (t + 7);
                let mut reads = 0u64;
                while !done.load(Ordering::Relaxed) {
                    let r = next(&mut x);
                    if let Some(p) = db.get(&ident("user_id", r)).unwrap() {
                        // A profile read is internally consistent: its id resolves to itself or a survivor.
                        assert!(db.resolve_id(p.id).unwrap().is_some());
                    }
                    // Segment queries: bitmap algebra, and a per-candidate condition.
                    let q = db.query("in pro and not in buyers").unwrap();
                    assert!(q.count() <= db.segment_count("pro").unwrap() + 1_000);
                    let q = db.query("in pro_buyers and count(purchase, 7d) >= 2").unwrap();
                    assert!(q.count() <= POOL * 3);
                    for p in db.segment_members("pro_buyers", 0, 8).unwrap() {
                        // A member read a moment ago may have merged away since; its
                        // id still resolves (to itself or its survivor).
                        assert!(db.resolve_id(p).unwrap().is_some());
                        let _ = db.in_segment("buyers", p).unwrap();
                        // Rollup reads fill the rollup cache while writers
                        // commit (the final check compares it with storage).
                        for window in [Window::days(30), Window::All] {
                            match db.event_stats(p, "purchase", window) {
                                Ok(_) | Err(Error::NotFound(_)) => {}
                                Err(e) => panic!("rollup read of {p}: {e}"),
                            }
                        }
                    }
                    reads += 1;
                }
                reads
            })
        })
        .collect();
    for w in writers {
        w.join().expect("writer panicked");
    }
    done.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().expect("reader panicked")).sum();
    assert!(reads > 0, "readers ran alongside the writers");
    db.tick().unwrap();
    // Every invariant: identity graph, history, rollups against the
    // timelines, and every segment bitmap against a fresh evaluation.
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(report.evaluations > 0 && report.buckets_recomputed > 0, "{report}");
    // Identity: every identifier resolves to a live profile that lists it.
    for kind in ["user_id", "anonymous_id", "device_id"] {
        for n in 0..pool {
            let i = ident(kind, n);
            if let Some(p) = db.resolve(&i).unwrap() {
                assert_eq!(db.get_by_id(p).unwrap().expect("live").id, p);
                assert!(db.identifiers(p).unwrap().contains(&i), "{i} missing from profile {p}");
            }
        }
    }
    eprintln!("stress: {total} writes, {reads} read rounds; check: {report}");
}
