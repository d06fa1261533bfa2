//! Segments beside writers: a segment being (re)defined is absent or
//! complete to readers and to a secondary; queries and `check_segments`
//! run beside writers read one consistent state; ticks
//! racing writes and a moving clock keep time-dependent segments exact.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use profiledb::{AccessMode, ManualClock, ProfileDb, Timestamp};

#[path = "common/concurrency.rs"]
mod conc;
use conc::*;

/// A thread reading a segment's size while another (re)defines it over
/// many profiles: it reads the previous definition's size (or no segment)
/// until the backfill ends, then the new one's.
#[test]
fn in_process_readers_see_a_segment_being_defined_either_absent_or_complete() {
    within("reader during backfill", Duration::from_secs(120), || {
        const PROFILES: u64 = 9_000;
        let dir = tempfile::tempdir().unwrap();
        let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T0)))).open().unwrap();
        let events = users_with_k(PROFILES, |i| i as i64);
        assert_eq!(db.ingest_batch(&events, false).unwrap().applied, PROFILES);
        let defining = Arc::new(AtomicBool::new(true));
        let reader = {
            let (db, defining) = (db.clone(), defining.clone());
            std::thread::spawn(move || {
                let mut seen = BTreeSet::new();
                while defining.load(Ordering::Acquire) {
                    if let Ok(n) = db.segment_count("half") {
                        seen.insert(n);
                    }
                }
                seen
            })
        };
        for round in 0..6 {
            // Either definition has 4,500 members.
            let text = if round % 2 == 0 { "traits.k < 4500" } else { "traits.k >= 4500" };
            assert_eq!(db.define_segment("half", text).unwrap(), PROFILES / 2);
        }
        defining.store(false, Ordering::Release);
        let seen = reader.join().unwrap();
        let partial: Vec<u64> = seen.into_iter().filter(|n| *n != PROFILES / 2).collect();
        assert!(
            partial.is_empty(),
            "segment_count(\"half\") read during its (re)definition: {partial:?} (complete: 4500)"
        );
        let listed: Vec<String> = db.segments().into_iter().map(|s| s.name).collect();
        assert_eq!(listed, ["half"], "the redefinitions replaced the segment");
        assert_eq!(db.check_segments().unwrap(), vec![]);
        let report = db.check().unwrap();
        assert!(report.is_clean(), "{report}");
    });
}

/// A secondary that catches up while the writer defines a segment over many
/// profiles must see the segment either absent or complete, never a
/// partly backfilled bitmap that disagrees with the data it shows.
#[test]
fn a_secondary_sees_a_segment_being_defined_either_absent_or_complete() {
    within("secondary during backfill", Duration::from_secs(180), || {
        const PROFILES: u64 = 9_000;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let events = users_with_k(PROFILES, |i| i as i64);
        let report = db.ingest_batch(&events, false).unwrap();
        assert_eq!(report.applied, PROFILES);
        let sec =
            ProfileDb::builder(dir.path()).clock(clock.clone()).access_mode(AccessMode::Secondary).open().unwrap();
        sec.catch_up().unwrap();
        let defining = Arc::new(AtomicBool::new(true));
        let observer = {
            let (sec, defining) = (sec.clone(), defining.clone());
            std::thread::spawn(move || {
                let mut partial = Vec::new();
                let mut catch_ups = 0;
                while defining.load(Ordering::Acquire) {
                    sec.catch_up().unwrap();
                    catch_ups += 1;
                    for seg in ["all_k", "even_k"] {
                        if let Ok(n) = sec.segment_count(seg) {
                            let want = if seg == "all_k" { PROFILES } else { PROFILES - 4500 };
                            if n != want && partial.len() < 5 {
                                partial.push(format!("{seg}: {n} members after catch_up (complete: {want})"));
                            }
                        }
                    }
                }
                (partial, catch_ups)
            })
        };
        std::thread::sleep(Duration::from_millis(50));
        db.define_segment("all_k", "traits.k >= 0").unwrap();
        db.define_segment("even_k", "traits.k >= 4500").unwrap();
        for round in 0..10 {
            // Redefinitions: the old definition's bitmap is replaced over the backfill.
            let text = if round % 2 == 0 { "traits.k >= 0 or traits.k < 0" } else { "traits.k >= 0" };
            db.define_segment("all_k", text).unwrap();
            let text = if round % 2 == 0 { "traits.k < 4500" } else { "traits.k >= 4500" };
            db.define_segment("even_k", text).unwrap();
        }
        defining.store(false, Ordering::Release);
        let (partial, catch_ups) = observer.join().unwrap();
        eprintln!("secondary during backfill: {catch_ups} catch-ups");
        sec.catch_up().unwrap();
        assert_eq!(sec.segment_count("all_k").unwrap(), PROFILES);
        assert!(partial.is_empty(), "the secondary saw a partly backfilled segment: {partial:#?}");
    });
}

/// A query mixing a segment with a per-profile condition on the very trait
/// the segment is defined by: `in pro and traits.plan != "pro"` is empty in
/// every consistent state, whatever the writers do.
#[test]
fn a_query_never_mixes_a_segment_bitmap_with_data_of_another_commit() {
    within("query consistency", Duration::from_secs(180), || {
        let dir = tempfile::tempdir().unwrap();
        let db = pro_db(dir.path());
        let stop = Arc::new(AtomicBool::new(false));
        let writer = flipping_writer(&db, &stop);
        let mut bad = Vec::new();
        let started = Instant::now();
        let mut queries = 0;
        while started.elapsed() < Duration::from_secs(4) {
            for text in [r#"in pro and traits.plan != "pro""#, r#"not in pro and traits.plan = "pro""#] {
                let q = db.query(text).unwrap();
                queries += 1;
                if q.count() != 0 && bad.len() < 5 {
                    bad.push(format!("query #{queries} {text}: {} profiles {:?}", q.count(), q.members(0, 5)));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        eprintln!("query consistency: {queries} queries beside {writes} writes");
        assert!(bad.is_empty(), "a query saw a bitmap and data of different commits: {bad:#?}");
    });
}

#[test]
fn check_segments_run_beside_live_writers_reports_no_difference_on_a_healthy_database() {
    within("check_segments beside writers", Duration::from_secs(180), || {
        let dir = tempfile::tempdir().unwrap();
        let db = pro_db(dir.path());
        // A segment reading another: evaluated against the same bitmaps.
        db.define_segment("pro_member", "in pro").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = flipping_writer(&db, &stop);
        let mut bad = Vec::new();
        for round in 0..200 {
            let m = db.check_segments().unwrap();
            if !m.is_empty() && bad.len() < 3 {
                bad.push(format!("round {round}: {} differences, first {:?}", m.len(), &m[..m.len().min(3)]));
            }
        }
        stop.store(true, Ordering::Relaxed);
        writer.join().unwrap();
        assert_eq!(db.check_segments().unwrap(), vec![]);
        assert!(bad.is_empty(), "check_segments() reported differences on a healthy database: {bad:#?}");
    });
}

#[test]
fn ticks_racing_writes_and_a_moving_clock_keep_time_dependent_segments_exact() {
    within("ticks racing writes", Duration::from_secs(120), || {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.define_segment("active", "count(view, 2h) >= 2").unwrap();
        db.define_segment("lapsed", "last(view) < now - 3h").unwrap();
        db.define_segment("lapsed_active", "in lapsed or in active").unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = db.tick().unwrap();
                    assert!(r.failures.is_empty(), "{:?}", r.failures);
                    n += 1;
                }
                n
            })
        };
        let mover = {
            let (clock, stop) = (clock.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    clock.advance(11 * MIN);
                    std::thread::sleep(Duration::from_micros(500));
                }
            })
        };
        let writers: Vec<_> = (0..2u64)
            .map(|t| {
                let (db, clock) = (db.clone(), clock.clone());
                std::thread::spawn(move || {
                    let mut x = 31 + t;
                    for _ in 0..600 {
                        let r = xorshift(&mut x);
                        let at = clock.now().0 - ((r >> 8) % 240) as i64 * MIN;
                        db.track(&event("view", at, user(r % 50), None)).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        let ticks = ticker.join().unwrap();
        mover.join().unwrap();
        db.tick().unwrap();
        let report = db.check().unwrap();
        assert!(report.is_clean(), "{report}");
        assert_eq!(db.check_segments().unwrap(), vec![]);
        // And once more after the clock moved on with nothing written.
        clock.advance(5 * HOUR);
        db.tick().unwrap();
        assert_eq!(db.check_segments().unwrap(), vec![]);
        eprintln!("ticks racing writes: {ticks} ticks");
    });
}
