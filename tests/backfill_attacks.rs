//! Adversarial review of the batched backfills (`declare_rollup`,
//! `define_segment`): public API calls made between batches (from the
//! progress callback, which runs without the writer lock, or from other
//! threads) must leave every rollup equal to a brute-force fold of the
//! profile's stored events, every segment membership equal to a fresh
//! evaluation, and `check()` clean.
//!
//! Integration tests run the production batch sizes: a rollup batch is
//! 2,000 profiles or 10,000 stored events, a segment batch 500 profiles.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{AccessMode, Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
/// Noon of a day in 2023.
const T: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + DAY / 2;

fn id(s: &str) -> Identifier {
    s.parse().expect("identifier")
}

fn dev(i: u32) -> Identifier {
    id(&format!("device_id:d{i}"))
}

fn purchase(who: &Identifier, at: i64, amount: i64) -> Event {
    Event::new(EventKind::Track, "purchase", Timestamp(at), vec![who.clone()]).with_property("amount", amount)
}

fn view(who: &Identifier, at: i64) -> Event {
    Event::new(EventKind::Track, "view", Timestamp(at), vec![who.clone()])
}

fn spend() -> RollupDef {
    RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))
}

fn open_at(dir: &std::path::Path, clock: &Arc<ManualClock>) -> ProfileDb {
    ProfileDb::builder(dir).clock(clock.clone()).open().expect("open")
}

/// `n` profiles `device_id:d{i}` (ids in order), each with one purchase
/// (amount `i % 7 + 1`, `i % 5` days ago) and one view.
fn load(db: &ProfileDb, n: u32) {
    let mut events = Vec::new();
    for i in 0..n {
        events.push(purchase(&dev(i), T - i64::from(i % 5) * DAY - i64::from(i % 1000), i64::from(i % 7 + 1)));
        events.push(view(&dev(i), T - DAY + i64::from(i % 1000)));
    }
    for chunk in events.chunks(1000) {
        let r = db.ingest_batch(chunk, true).expect("ingest");
        assert!(r.rejected.is_empty(), "{:?}", r.rejected);
    }
    assert_eq!(db.resolve(&dev(n - 1)).unwrap(), Some(ProfileId(n - 1)), "ids are allocated in order");
}

/// The live profiles among the ids below `bound`.
fn live(db: &ProfileDb, bound: u32) -> Vec<ProfileId> {
    (0..bound).map(ProfileId).filter(|p| db.resolve_id(*p).unwrap() == Some(*p)).collect()
}

/// The sum of `p`'s stored purchase amounts (brute force).
fn brute_spend(db: &ProfileDb, p: ProfileId) -> RollupValue {
    let events = db.events(p, Timestamp(0), Timestamp(i64::MAX)).expect("events");
    let amounts: Vec<f64> =
        events.iter().filter(|e| e.name == "purchase").filter_map(|e| e.property_f64("amount")).collect();
    RollupValue::Number(if amounts.is_empty() { None } else { Some(amounts.iter().sum()) })
}

/// Every live profile's `name` rollup (all time) equals the brute-force
/// sum of its stored purchases, but for `skip`; `check()` and
/// `check_segments()` are clean. Returns how many profiles it compared.
fn assert_exact(db: &ProfileDb, name: &str, bound: u32, skip: &[ProfileId]) -> usize {
    let mut wrong = Vec::new();
    let profiles = live(db, bound);
    for &p in &profiles {
        if skip.contains(&p) {
            continue;
        }
        let got = db.rollup(p, name, Window::All).expect("rollup");
        let want = brute_spend(db, p);
        if got != want {
            wrong.push(format!("{p}: rollup {got:?}, events {want:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} profiles wrong ({name}), first: {:?}", wrong.len(), &wrong[..wrong.len().min(8)]);
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.rollup_backfill_pending, None);
    assert_eq!(db.check_segments().expect("check_segments"), vec![]);
    profiles.len()
}

/// Runs `job` on another thread, failing the test if it does not finish
/// within `secs` (a deadlock fails instead of hanging).
fn within<T: Send + 'static>(secs: u64, what: &str, job: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(job());
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(v) => v,
        Err(_) => panic!("{what}: did not finish within {secs} s (deadlock?)"),
    }
}

/// A fresh database with `n` profiles.
fn loaded(n: u32) -> (tempfile::TempDir, Arc<ManualClock>, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T)));
    let db = open_at(dir.path(), &clock);
    load(&db, n);
    (dir, clock, db)
}

/// Merges, unmerges, erasures, alias events in batches, identifier
/// removal and late events between the batches of a rollup backfill, on
/// profiles the backfill has passed, not reached yet, and created meanwhile.
#[test]
fn rollup_backfill_stays_exact_under_identity_churn_between_batches() {
    const N: u32 = 6_000;
    let (_dir, _clock, db) = loaded(N);
    // Merges done before the build, undone during it: the restored
    // profiles were not live when the backfill listed its profiles.
    for (a, b) in [(20, 21), (4_500, 4_501), (5_990, 5_991)] {
        db.track(&purchase(&dev(b), T - 2 * DAY, 100)).unwrap();
        let r = db.identify(&[dev(a), dev(b)], Update::new()).unwrap();
        assert_eq!(r.merged, vec![ProfileId(b)]);
    }
    let mut calls = Vec::new();
    db.declare_rollup_with_progress(spend(), &mut |done, total| {
        calls.push((done, total));
        match calls.len() {
            1 => {
                assert!(matches!(db.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
                // Late events: passed, not reached, new profiles.
                for who in [dev(3), dev(3_000), dev(5_500), id("device_id:n1"), id("device_id:n2")] {
                    db.track(&purchase(&who, T - 3 * DAY, 7)).unwrap();
                }
                // Merges every way: passed ← unreached, unreached ← passed
                // (survivor is the lower id), unreached ← unreached, passed
                // ← passed, unreached ← new, passed ← new.
                let n1 = db.resolve(&id("device_id:n1")).unwrap().unwrap();
                for (a, b) in [
                    (dev(100), dev(3_100)),
                    (dev(3_200), dev(150)),
                    (dev(3_300), dev(3_301)),
                    (dev(200), dev(201)),
                    (id("device_id:n1"), dev(3_400)),
                    (dev(1_000), id("device_id:n2")),
                ] {
                    let r = db.identify(&[a.clone(), b.clone()], Update::new()).unwrap();
                    assert_eq!(r.merged.len(), 1, "{a} {b}");
                }
                assert_eq!(db.resolve(&id("device_id:n1")).unwrap(), Some(ProfileId(3_400)), "{n1} merged away");
                // Unmerges: a restored profile in the passed range and
                // two in the unreached range.
                for (a, b) in [(20, 21), (4_500, 4_501), (5_990, 5_991)] {
                    let r = db.unmerge(ProfileId(a), &dev(b)).unwrap();
                    assert_eq!(r.restored, ProfileId(b));
                    assert!(r.events.is_some_and(|n| n > 0), "{r:?}");
                }
                // A batch mixing purchases and alias events that merge
                // the profiles it just wrote (a conflict the batch redoes).
                let batch = vec![
                    purchase(&dev(3_500), T - DAY, 11),
                    purchase(&dev(700), T - DAY, 13),
                    Event::new(EventKind::Alias, "alias", Timestamp(T - DAY), vec![dev(3_500)])
                        .with_previous_id(dev(700)),
                    purchase(&dev(3_600), T - DAY, 17),
                    Event::new(EventKind::Alias, "alias", Timestamp(T - DAY), vec![dev(3_601)])
                        .with_previous_id(dev(3_600)),
                    purchase(&dev(3_601), T - DAY, 19),
                ];
                let r = db.ingest_batch(&batch, false).unwrap();
                assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                let erased = db.erase_many(&[dev(3_700), dev(400), dev(3_100)], None).unwrap();
                assert_eq!(erased.erased(), 3);
                // An identifier removed onto a new profile.
                let p = db.identify(&[dev(3_800), id("email:x@example.com")], Update::new()).unwrap().profile;
                db.track(&purchase(&id("email:x@example.com"), T - DAY, 23)).unwrap();
                db.remove_identifier(p, &id("email:x@example.com")).unwrap();
                db.track(&purchase(&id("email:x@example.com"), T - DAY, 29)).unwrap();
                db.tick().unwrap();
            }
            2 => {
                // A restored (unlisted, unreached) profile merged into a
                // passed one; a passed one into an unreached one's
                // survivor; events 40 days old on both sides.
                let r = db.identify(&[dev(50), dev(5_991)], Update::new()).unwrap();
                assert_eq!(r.merged, vec![ProfileId(5_991)]);
                let r = db.identify(&[dev(4_501), dev(3_900)], Update::new()).unwrap();
                assert_eq!(r.merged.len(), 1);
                for who in [dev(10), dev(5_000), dev(4_501)] {
                    db.track(&purchase(&who, T - 40 * DAY, 31)).unwrap();
                }
                db.tick().unwrap();
            }
            _ => {}
        }
    })
    .expect("declare");
    assert!(calls.len() >= 3, "the backfill spans several batches: {calls:?}");
    let n = assert_exact(&db, "spend", N + 100, &[]);
    assert!(n > 5_900, "{n}");
    // Reopened: the same.
    let dir = db.path().to_owned();
    drop(db);
    let db = ProfileDb::builder(&dir).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("reopen");
    assert_exact(&db, "spend", N + 100, &[]);
}

/// Timeline and bucket retention configured, the clock moving on and
/// `tick`/`enforce_retention` called during the build (retention waits),
/// events older than the bucket floor arriving meanwhile; then retention
/// runs after the build.
#[test]
fn rollup_backfill_with_retention_configured_and_ticks_between_batches() {
    const N: u32 = 5_000;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T)));
    let open = || {
        ProfileDb::builder(dir.path())
            .clock(clock.clone())
            .timeline_retention(60 * DAY)
            .rollup_bucket_retention(10 * DAY)
            .open()
            .expect("open")
    };
    let db = open();
    let mut events = Vec::new();
    for i in 0..N {
        // Up to 40 days old: some below the bucket floor.
        events.push(purchase(&dev(i), T - i64::from(i % 41) * DAY, i64::from(i % 9 + 1)));
        events.push(purchase(&dev(i), T - i64::from(i % 3) * DAY, 2));
        events.push(view(&dev(i), T - DAY));
    }
    for chunk in events.chunks(1000) {
        db.ingest_batch(chunk, true).unwrap();
    }
    db.define_segment("big", "sum(purchase.amount) >= 8").unwrap();
    // The bucket floor rises: the other series' old buckets are folded.
    db.enforce_retention().unwrap();
    let mut calls = 0;
    db.declare_rollup_with_progress(spend(), &mut |_, _| {
        calls += 1;
        clock.advance(3 * DAY);
        for who in [dev(5), dev(4_000), dev(4_999), id("device_id:late")] {
            // Older than the bucket floor, and recent.
            db.track(&purchase(&who, T - 30 * DAY, 3)).unwrap();
            db.track(&purchase(&who, clock.now().0 - DAY, 4)).unwrap();
        }
        db.tick().unwrap();
        db.enforce_retention().unwrap();
    })
    .expect("declare");
    assert!(calls >= 2, "{calls}");
    assert_exact(&db, "spend", N + 10, &[]);
    // Retention now runs (the clock moved on): still exact, still clean.
    clock.advance(DAY);
    db.enforce_retention().unwrap();
    db.tick().unwrap();
    assert_exact(&db, "spend", N + 10, &[]);
    for p in [ProfileId(5), ProfileId(4_000)] {
        let w = db.rollup(p, "spend", Window::days(5)).unwrap();
        let from = clock.now().0 - 4 * DAY - clock.now().0.rem_euclid(DAY);
        let events = db.events(p, Timestamp(from), Timestamp(i64::MAX)).unwrap();
        let sum: f64 = events.iter().filter(|e| e.name == "purchase").filter_map(|e| e.property_f64("amount")).sum();
        assert_eq!(w, RollupValue::Number(Some(sum)), "{p}");
    }
    drop(db);
    let db = open();
    assert_exact(&db, "spend", N + 10, &[]);
}

/// The callback panics (the process "dies") after the first batch, the
/// handle is dropped, and the database is opened read-only (the rollup
/// hidden, `check` clean and reporting it), as a secondary, then writable
/// (finished); the secondary catches up.
#[test]
fn rollup_backfill_cut_short_then_read_only_secondary_and_writable_opens() {
    const N: u32 = 4_500;
    let (dir, clock, db) = loaded(N);
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |_, _| {
            db.track(&purchase(&dev(4_400), T - DAY, 5)).unwrap();
            db.track(&purchase(&dev(10), T - DAY, 5)).unwrap();
            panic!("the process dies here");
        })
    }));
    assert!(cut.is_err());
    drop(db);
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(matches!(ro.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
    let report = ro.check().unwrap();
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.rollup_backfill_pending.as_deref(), Some("spend"));
    let secondary = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    assert!(matches!(secondary.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
    drop(ro);
    let db = open_at(dir.path(), &clock);
    assert_exact(&db, "spend", N, &[]);
    secondary.catch_up().unwrap();
    for p in [ProfileId(10), ProfileId(4_400), ProfileId(3_000)] {
        assert_eq!(secondary.rollup(p, "spend", Window::All).unwrap(), brute_spend(&db, p), "{p}");
    }
}

/// The callback panics after the first batch; the application catches
/// the panic and goes on with the same handle, declaring another rollup
/// (a different series). The first rollup's record stays stored though
/// its backfill never finished, and the marker that said so is gone: the
/// next open declares it half-folded.
#[test]
fn rollup_cut_short_then_another_rollup_declared_on_the_same_handle() {
    const N: u32 = 4_500;
    let (dir, clock, db) = loaded(N);
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |_, _| panic!("a bug in the progress bar"))
    }));
    assert!(cut.is_err());
    db.declare_rollup(RollupDef::new("biggest", "purchase", Aggregate::Max("amount".into()))).unwrap();
    db.track(&purchase(&dev(4_400), T - DAY, 5)).unwrap();
    let dir2 = dir.path().to_owned();
    drop(db);
    let db = open_at(&dir2, &clock);
    // Either not declared (then declare it again) or declared and exact.
    if !db.rollup_defs().contains(&spend()) {
        db.declare_rollup(spend()).unwrap();
    }
    assert_exact(&db, "spend", N, &[]);
}

/// The callback panics after the first batch; the application catches
/// it and declares the same rollup again on the same handle, then a
/// second rollup over the same series (declared at once from the series
/// it finds).
#[test]
fn rollup_cut_short_then_redeclared_on_the_same_handle() {
    const N: u32 = 4_500;
    let (dir, clock, db) = loaded(N);
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |_, _| panic!("a bug in the progress bar"))
    }));
    assert!(cut.is_err());
    db.declare_rollup(spend()).unwrap();
    db.track(&purchase(&dev(4_400), T - DAY, 5)).unwrap();
    // Queries find the series by its definition: every profile bought.
    assert_eq!(db.query_count("sum(purchase.amount) >= 1").unwrap(), u64::from(N), "query over the series");
    assert_exact(&db, "spend", N, &[]);
    // Same series, another aggregate name: sums again.
    db.declare_rollup(RollupDef::new("spend2", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    assert_exact(&db, "spend2", N, &[]);
    let dir2 = dir.path().to_owned();
    drop(db);
    let db = open_at(&dir2, &clock);
    db.declare_rollup(RollupDef::new("spend3", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    assert_exact(&db, "spend3", N, &[]);
}

/// A segment definition's callback panics after its first batch; the
/// application goes on with the same handle and defines another segment.
/// The first segment must end up either undefined or complete.
#[test]
fn segment_cut_short_then_another_segment_defined_on_the_same_handle() {
    const N: u32 = 2_000;
    let (dir, clock, db) = loaded(N);
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.define_segment_with_progress("big", "sum(purchase.amount) >= 4", &mut |_, _| {
            panic!("a bug in the progress bar")
        })
    }));
    assert!(cut.is_err());
    db.define_segment("viewers", "count(view) >= 1").unwrap();
    assert_eq!(db.check_segments().unwrap(), vec![], "same handle");
    let dir2 = dir.path().to_owned();
    drop(db);
    let db = open_at(&dir2, &clock);
    let mismatches = db.check_segments().unwrap();
    assert!(mismatches.is_empty(), "{} mismatches after reopen, first: {:?}", mismatches.len(), mismatches.first());
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

/// `check()` called from the progress callback (a natural "verify as we
/// go" use): it takes the definitions lock the backfill holds.
#[test]
fn check_from_the_rollup_progress_callback_does_not_deadlock() {
    const N: u32 = 2_500;
    let (_dir, _clock, db) = loaded(N);
    let db2 = db.clone();
    within(20, "check() from the progress callback", move || {
        db2.declare_rollup_with_progress(spend(), &mut |_, _| {
            let refused = db2.check().map(|_| ()).map_err(|e| e.to_string());
            assert!(refused.is_err_and(|e| e.contains("progress callback")), "check from the callback is refused");
        })
    })
    .unwrap();
    assert_exact(&db, "spend", N, &[]);
}

/// `define_segment` from a rollup's progress callback (same thread).
#[test]
fn define_segment_from_the_rollup_progress_callback_does_not_deadlock() {
    const N: u32 = 2_500;
    let (_dir, _clock, db) = loaded(N);
    let db2 = db.clone();
    within(20, "define_segment from the progress callback", move || {
        let mut once = true;
        db2.declare_rollup_with_progress(spend(), &mut |_, _| {
            if std::mem::take(&mut once) {
                let refused = db2.define_segment("buyers", "count(purchase) >= 1").map_err(|e| e.to_string());
                assert!(
                    refused.is_err_and(|e| e.contains("progress callback")),
                    "a definition from the callback is refused"
                );
            }
        })
    })
    .unwrap();
    assert_exact(&db, "spend", N, &[]);
}

/// Other threads during the build: the same definition again (waits,
/// then a no-op), `drop_rollup` of it (not declared yet), `compute_rfm`
/// (declares its own rollup over the same series: waits), a second rollup
/// over the same series, and reads of every kind.
#[test]
fn definitions_from_other_threads_during_a_rollup_backfill() {
    const N: u32 = 4_500;
    let (_dir, _clock, db) = loaded(N);
    let mut threads = Vec::new();
    let mut calls = 0;
    db.declare_rollup_with_progress(spend(), &mut |_, _| {
        calls += 1;
        if calls != 1 {
            return;
        }
        let d = db.clone();
        threads.push(std::thread::spawn(move || d.declare_rollup(spend()).map(|_| "again")));
        let d = db.clone();
        threads.push(std::thread::spawn(move || {
            d.declare_rollup(RollupDef::new("spend_b", "purchase", Aggregate::Sum("amount".into()))).map(|_| "b")
        }));
        let d = db.clone();
        threads.push(std::thread::spawn(move || {
            d.compute_rfm(profiledb::rollup::RfmConfig { event: "purchase".into(), amount: "amount".into() })
                .map(|_| "rfm")
        }));
        assert!(matches!(db.drop_rollup("spend"), Err(Error::NotFound(_))));
        // Reads during the build: the series is hidden everywhere.
        assert!(matches!(db.rollup(ProfileId(4_000), "spend", Window::All), Err(Error::NotFound(_))));
        let _ = db.rollups_of(ProfileId(4_000)).unwrap();
        let _ = db.query_count("sum(purchase.amount) >= 3").unwrap();
        db.track(&purchase(&dev(4_000), T - DAY, 9)).unwrap();
    })
    .expect("declare");
    for t in threads {
        let r = t.join().unwrap();
        assert!(r.is_ok(), "{r:?}");
    }
    assert_exact(&db, "spend", N, &[]);
    assert_exact(&db, "spend_b", N, &[]);
    // Queries over the series (now visible) agree with the rollup.
    let big: u64 = live(&db, N)
        .into_iter()
        .filter(|p| matches!(db.rollup(*p, "spend", Window::All).unwrap(), RollupValue::Number(Some(x)) if x >= 3.0))
        .count() as u64;
    assert_eq!(db.query_count("sum(purchase.amount) >= 3").unwrap(), big);
}

/// Segment backfill (batches of 500 profiles) with writes between
/// batches: merges all ways, unmerge of a merge made before, erase_many,
/// anonymize, alias batches, new profiles, late events.
#[test]
fn segment_backfill_stays_exact_under_churn_between_batches() {
    const N: u32 = 3_000;
    let (_dir, _clock, db) = loaded(N);
    db.declare_rollup(spend()).unwrap();
    for (a, b) in [(30, 31), (2_800, 2_801)] {
        db.track(&purchase(&dev(b), T - 2 * DAY, 100)).unwrap();
        db.identify(&[dev(a), dev(b)], Update::new()).unwrap();
    }
    db.define_segment("viewers", "count(view) >= 1").unwrap();
    let mut calls = 0;
    let count = db
        .define_segment_with_progress("big", "sum(purchase.amount) >= 8 or count(view) < 1", &mut |_, _| {
            calls += 1;
            match calls {
                1 => {
                    for (a, b) in [(dev(10), dev(2_000)), (dev(2_100), dev(20)), (dev(2_200), dev(2_201))] {
                        db.identify(&[a, b], Update::new()).unwrap();
                    }
                    for (a, b) in [(30, 31), (2_800, 2_801)] {
                        db.unmerge(ProfileId(a), &dev(b)).unwrap();
                    }
                    db.erase_many(&[dev(2_300), dev(40)], None).unwrap();
                    db.anonymize(&dev(2_400), None, None).unwrap();
                    db.anonymize(&dev(60), None, None).unwrap();
                    let batch = vec![
                        purchase(&dev(2_500), T - DAY, 11),
                        Event::new(EventKind::Alias, "alias", Timestamp(T - DAY), vec![dev(2_500)])
                            .with_previous_id(dev(70)),
                        purchase(&id("device_id:new"), T - DAY, 20),
                        purchase(&dev(2_600), T - 50 * DAY, 20),
                        Event::new(EventKind::Track, "purchase", Timestamp(T - DAY), vec![id("device_id:nv")])
                            .with_property("amount", 50),
                    ];
                    let r = db.ingest_batch(&batch, false).unwrap();
                    assert!(r.rejected.is_empty(), "{:?}", r.rejected);
                }
                3 => {
                    db.identify(&[dev(5), dev(2_801)], Update::new()).unwrap();
                    db.identify(&[id("device_id:new"), dev(2_900)], Update::new()).unwrap();
                    db.track(&purchase(&dev(2_950), T - DAY, 30)).unwrap();
                    db.tick().unwrap();
                }
                _ => {}
            }
        })
        .expect("define");
    assert!(calls >= 6, "{calls}");
    let nv = db.resolve(&id("device_id:nv")).unwrap().unwrap();
    assert!(db.in_segment("big", nv).unwrap());
    assert!(count >= 1);
    assert_exact(&db, "spend", N + 20, &[ProfileId(60), ProfileId(2_400)]);
}

/// A backfill cut short, then the database reopened writable with
/// timelines switched off (`timeline_retention(0)`): the resumed
/// backfill has nothing to fold from. The rollup must not be declared
/// half-folded: each profile keeps the sum of its purchases (none is
/// lost: they were all written before the declaration).
#[test]
fn rollup_cut_short_then_reopened_with_timelines_off() {
    const N: u32 = 4_500;
    let (dir, clock, db) = loaded(N);
    let want: Vec<RollupValue> = (0..N).map(|i| brute_spend(&db, ProfileId(i))).collect();
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |_, _| panic!("the process dies here"))
    }));
    assert!(cut.is_err());
    drop(db);
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).timeline_retention(0).open().expect("open");
    if db.rollup_defs().contains(&spend()) {
        let wrong: Vec<u32> =
            (0..N).filter(|i| db.rollup(ProfileId(*i), "spend", Window::All).unwrap() != want[*i as usize]).collect();
        assert!(wrong.is_empty(), "{} profiles wrong, first {:?}", wrong.len(), &wrong[..wrong.len().min(5)]);
    }
}

/// A secondary handle opened and caught up while the backfill runs: the
/// rollup is hidden there too; caught up after it, exact.
#[test]
fn secondary_caught_up_during_and_after_a_rollup_backfill() {
    const N: u32 = 4_500;
    let (dir, _clock, db) = loaded(N);
    let secondary = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    let mut calls = 0;
    db.declare_rollup_with_progress(spend(), &mut |_, _| {
        calls += 1;
        db.track(&purchase(&dev(4_400), T - DAY, 5)).unwrap();
        secondary.catch_up().unwrap();
        assert!(matches!(secondary.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
        assert_eq!(secondary.query_count("sum(purchase.amount) >= 1").unwrap(), u64::from(N));
        let report = secondary.check().unwrap();
        assert!(report.is_clean(), "{report}");
    })
    .unwrap();
    assert!(calls >= 2);
    secondary.catch_up().unwrap();
    for p in [ProfileId(10), ProfileId(4_400), ProfileId(3_000)] {
        assert_eq!(secondary.rollup(p, "spend", Window::All).unwrap(), brute_spend(&db, p), "{p}");
    }
    assert_exact(&db, "spend", N, &[]);
}

/// A time-dependent segment (a window) defined while the clock moves on
/// and `tick` runs between batches (wake-ups of the segment being built
/// fall due meanwhile), then redefined the same way with writes.
#[test]
fn windowed_segment_backfill_with_ticks_and_clock_moving_between_batches() {
    const N: u32 = 3_000;
    let (_dir, clock, db) = loaded(N);
    for def in ["count(purchase, 3d) >= 1", "count(purchase, 2d) >= 1 or count(view, 1d) >= 1"] {
        let mut calls = 0;
        db.define_segment_with_progress("recent", def, &mut |_, _| {
            calls += 1;
            clock.advance(DAY / 2);
            db.tick().unwrap();
            db.track(&purchase(&dev(calls * 400 + 7), clock.now().0 - DAY, 1)).unwrap();
            db.track(&purchase(&dev(2_999 - calls), clock.now().0 - 5 * DAY, 1)).unwrap();
            if calls == 2 {
                db.identify(&[dev(11), dev(2_900)], Update::new()).unwrap();
                db.unmerge(ProfileId(11), &dev(2_900)).unwrap();
            }
        })
        .expect("define");
        assert!(calls >= 6, "{calls}");
        db.tick().unwrap();
        let m = db.check_segments().unwrap();
        assert!(m.is_empty(), "{def}: {} mismatches, first {:?}", m.len(), m.first());
        clock.advance(2 * DAY);
        db.tick().unwrap();
        let m = db.check_segments().unwrap();
        assert!(m.is_empty(), "{def} later: {} mismatches, first {:?}", m.len(), m.first());
        let report = db.check().unwrap();
        assert!(report.is_clean(), "{report}");
    }
}

/// A backup taken between batches (after merges, new profiles and late
/// events) holds an unfinished backfill: opened writable, it finishes it,
/// exact; opened read-only first, it hides it.
#[test]
fn backup_taken_between_rollup_batches_finishes_at_its_open() {
    const N: u32 = 4_500;
    let (dir, clock, db) = loaded(N);
    let backup = dir.path().with_extension("bak");
    let mut calls = 0;
    db.declare_rollup_with_progress(spend(), &mut |_, _| {
        calls += 1;
        if calls == 1 {
            db.identify(&[dev(10), dev(4_000)], Update::new()).unwrap();
            db.identify(&[dev(4_100), dev(4_101)], Update::new()).unwrap();
            db.track(&purchase(&id("device_id:fresh"), T - DAY, 3)).unwrap();
            db.identify(&[id("device_id:fresh"), dev(4_200)], Update::new()).unwrap();
            db.track(&purchase(&dev(4_300), T - 9 * DAY, 8)).unwrap();
            db.erase(&dev(4_400), None).unwrap();
            db.backup(&backup).unwrap();
        }
    })
    .unwrap();
    assert_exact(&db, "spend", N + 10, &[]);
    drop(db);
    let ro = ProfileDb::builder(&backup).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(matches!(ro.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
    drop(ro);
    let restored = open_at(&backup, &clock);
    assert_exact(&restored, "spend", N + 10, &[]);
    assert_eq!(restored.resolve(&dev(4_400)).unwrap(), None, "erased in the backup too");
    drop(restored);
    std::fs::remove_dir_all(&backup).unwrap();
}

/// Another thread writes without pause while the backfill runs: purchases,
/// merges, unmerges and erasures on random profiles (old and new).
#[test]
fn random_writes_from_another_thread_during_a_rollup_backfill() {
    const N: u32 = 8_000;
    let (_dir, _clock, db) = loaded(N);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = random_writer(&db, &stop, N);
    let mut calls = 0;
    db.declare_rollup_with_progress(spend(), &mut |_, _| {
        calls += 1;
        std::thread::sleep(Duration::from_millis(20));
    })
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ops = writer.join().unwrap();
    assert!(calls >= 3, "{calls}");
    eprintln!("{ops} operations during the backfill");
    assert!(ops >= 50, "{ops}");
    assert_exact(&db, "spend", N + 400, &[]);
}

/// A thread that writes without pause until `stop` (and at least 300
/// operations): purchases, merges, unmerges, rare erasures and alias
/// batches on random profiles among `n` (and new ones). Returns how many
/// operations it made before `stop`.
fn random_writer(db: &ProfileDb, stop: &Arc<std::sync::atomic::AtomicBool>, n: u32) -> std::thread::JoinHandle<u32> {
    let (d, s) = (db.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |m: u32| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % u64::from(m)) as u32
        };
        let mut merges = Vec::new();
        let (mut ops, mut during) = (0u32, 0u32);
        while !s.load(std::sync::atomic::Ordering::Relaxed) || ops < 300 {
            ops += 1;
            if !s.load(std::sync::atomic::Ordering::Relaxed) {
                during += 1;
            }
            let who = if next(10) == 0 { id(&format!("device_id:x{}", next(200))) } else { dev(next(n)) };
            match next(10) {
                0..=4 => {
                    let _ = d.track(&purchase(&who, T - i64::from(next(30)) * DAY, i64::from(next(50))));
                }
                5..=6 => {
                    let other = dev(next(n));
                    if let Ok(r) = d.identify(&[who.clone(), other.clone()], Update::new()) {
                        if !r.merged.is_empty() {
                            merges.push((r.profile, other));
                        }
                    }
                }
                7 => {
                    if let Some((p, i)) = merges.pop() {
                        let _ = d.unmerge(p, &i);
                    }
                }
                8 if next(20) == 0 => {
                    // Rare: an erase compacts the files.
                    let _ = d.erase(&who, None);
                }
                _ => {
                    let batch = vec![
                        purchase(&who, T - DAY, 4),
                        Event::new(EventKind::Alias, "alias", Timestamp(T - DAY), vec![who.clone()])
                            .with_previous_id(dev(next(n))),
                        purchase(&dev(next(n)), T - 2 * DAY, 6),
                    ];
                    let _ = d.ingest_batch(&batch, false);
                }
            }
        }
        during
    })
}

/// The same random writer during a segment backfill (batches of 500).
#[test]
fn random_writes_from_another_thread_during_a_segment_backfill() {
    const N: u32 = 5_000;
    let (_dir, _clock, db) = loaded(N);
    db.declare_rollup(spend()).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = random_writer(&db, &stop, N);
    let mut calls = 0;
    db.define_segment_with_progress("big", "sum(purchase.amount) >= 20 or count(purchase, 3d) >= 2", &mut |_, _| {
        calls += 1;
        std::thread::sleep(Duration::from_millis(10));
    })
    .unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let ops = writer.join().unwrap();
    assert!(calls >= 10, "{calls}");
    eprintln!("{ops} operations during the backfill");
    assert!(ops >= 50, "{ops}");
    assert_exact(&db, "spend", N + 400, &[]);
}
