//! A rollup's backfill lets writes through between its batches (review
//! A1): writes complete while it runs; the rollup stays hidden until it
//! ends and is then exact for every profile they touched — before and
//! after its position, created meanwhile, merged either way, erased;
//! a backfill cut short is hidden from every handle and finished by the
//! next writable open. Under `cfg(test)` a batch is 16 profiles.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{ManualClock, Timestamp};
use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::rollup::{Aggregate, RollupDef, RollupValue, Window};
use crate::{AccessMode, Error, ProfileDb, Update};

const T: i64 = 1_700_000_000_000;
const DAY: i64 = Timestamp::DAY;
/// How long a write may wait while a backfill runs: the writer lock held
/// through the whole backfill makes it wait until the end.
const WAIT: Duration = Duration::from_secs(10);
const PROFILES: u32 = 100;

fn id(s: &str) -> Identifier {
    s.parse().expect("identifier")
}

fn purchase(who: &str, at: i64, amount: i64) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)]);
    e.properties.insert("amount", amount);
    e
}

fn spend() -> RollupDef {
    RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))
}

/// `PROFILES` profiles, ids in order (`device_id:d{i}`), each with
/// `i % 4` purchases over the last days.
fn loaded() -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("open");
    for i in 0..PROFILES {
        let who = format!("device_id:d{i}");
        let r = db.identify(&[id(&who)], Update::new().set("k", i64::from(i))).expect("identify");
        assert_eq!(r.profile, ProfileId(i), "ids are allocated in order");
        for j in 0..i % 4 {
            db.track(&purchase(&who, T - i64::from(j) * DAY - i64::from(i), i64::from(i + j))).expect("track");
        }
    }
    (dir, db)
}

/// Runs `job` on another thread and waits for it at most [`WAIT`]: a job
/// the writer lock blocks fails the test instead of hanging it.
fn promptly(db: &ProfileDb, what: &str, job: impl FnOnce(ProfileDb) + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    let db = db.clone();
    std::thread::spawn(move || {
        job(db);
        let _ = tx.send(());
    });
    assert!(rx.recv_timeout(WAIT).is_ok(), "{what} waited for the whole backfill");
}

/// Every live profile's rollup equals the sum over its stored purchases.
fn assert_exact(db: &ProfileDb) {
    let live: Vec<u32> = db.core.segments.read().live.iter().collect();
    for p in live.into_iter().map(ProfileId) {
        let events = db.events(p, Timestamp(0), Timestamp(i64::MAX)).expect("events");
        let amounts: Vec<f64> =
            events.iter().filter(|e| e.name == "purchase").filter_map(|e| e.property_f64("amount")).collect();
        let want = if amounts.is_empty() { None } else { Some(amounts.iter().sum::<f64>()) };
        assert_eq!(db.rollup(p, "spend", Window::All).expect("rollup"), RollupValue::Number(want), "profile {p}");
    }
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
}

#[test]
fn writes_go_on_during_a_rollup_backfill_and_the_rollup_is_exact_for_every_profile_they_touched() {
    let (_dir, db) = loaded();
    let mut batches = 0;
    db.declare_rollup_with_progress(spend(), &mut |done, total| {
        batches += 1;
        assert_eq!(total, u64::from(PROFILES));
        match done {
            16 => {
                // Hidden until it ends.
                assert!(matches!(db.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
                promptly(&db, "track", |db| {
                    // Before the backfill's position, after it, and a
                    // profile created meanwhile.
                    for who in ["device_id:d3", "device_id:d50", "device_id:d99", "device_id:new1"] {
                        db.track(&purchase(who, T - 3 * DAY, 7)).expect("track");
                    }
                });
            }
            32 => promptly(&db, "merges", |db| {
                // A profile not reached yet merged with one passed, both
                // ways; two not reached; two passed; a new one with one
                // not reached.
                for pair in [("d5", "d70"), ("d71", "d6"), ("d80", "d81"), ("d9", "d10"), ("new1", "d90")] {
                    let ids = [id(&format!("device_id:{}", pair.0)), id(&format!("device_id:{}", pair.1))];
                    let r = db.identify(&ids, Update::new()).expect("identify");
                    assert_eq!(r.merged.len(), 1, "{pair:?}");
                }
            }),
            48 => promptly(&db, "erase", |db| {
                for who in ["device_id:d95", "device_id:d2"] {
                    db.erase(&id(who), None).expect("erase");
                }
                db.track(&purchase("device_id:d98", T - 40 * DAY, 11)).expect("late event");
            }),
            _ => {}
        }
    })
    .expect("declare");
    assert_eq!(batches, PROFILES.div_ceil(16), "a batch of 16 profiles per commit");
    assert_exact(&db);
    // Reopened: declared, and the same.
    let dir = db.path().to_owned();
    drop(db);
    let db = ProfileDb::open(&dir).expect("reopen");
    assert!(db.rollup_defs().contains(&spend()));
    assert_exact(&db);
}

#[test]
fn a_rollup_backfill_cut_short_is_hidden_from_every_handle_and_finished_by_the_next_writable_open() {
    let (dir, db) = loaded();
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |done, _| {
            db.track(&purchase("device_id:d60", T - DAY, 5)).expect("track");
            assert!(done < 48, "the process dies here");
        })
    }));
    assert!(cut.is_err());
    drop(db);
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().expect("read-only");
    assert!(matches!(ro.rollup(ProfileId(1), "spend", Window::All), Err(Error::NotFound(_))));
    assert!(!ro.rollup_defs().contains(&spend()));
    let report = ro.check().expect("check");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.rollup_backfill_pending.as_deref(), Some("spend"));
    drop(ro);
    let db = ProfileDb::open(dir.path()).expect("writable open finishes it");
    assert!(db.rollup_defs().contains(&spend()));
    assert_eq!(db.check().expect("check").rollup_backfill_pending, None);
    assert_exact(&db);
}

#[test]
fn a_definition_waits_for_a_rollup_backfill_and_reads_do_not() {
    let (_dir, db) = loaded();
    let other = RollupDef::new("big", "purchase", Aggregate::Max("amount".into()));
    db.declare_rollup_with_progress(spend(), &mut |done, _| {
        if done == 16 {
            let (tx, rx) = mpsc::channel();
            let (db2, other) = (db.clone(), other.clone());
            std::thread::spawn(move || {
                let _ = tx.send(db2.declare_rollup(other));
            });
            // It waits for this backfill (which this callback holds up).
            assert!(rx.recv_timeout(Duration::from_millis(200)).is_err(), "a second definition interleaved");
            promptly(&db, "a read", |db| {
                assert!(db.get(&id("device_id:d1")).expect("get").is_some());
            });
        }
    })
    .expect("declare");
    // The second one ran after it.
    let deadline = std::time::Instant::now() + WAIT;
    while !db.rollup_defs().contains(&other) {
        assert!(std::time::Instant::now() < deadline, "the second definition never ran");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_exact(&db);
}

#[test]
fn a_definition_started_from_a_progress_callback_is_refused_instead_of_waiting_forever() {
    let (_dir, db) = loaded();
    let (tx, rx) = mpsc::channel();
    let worker = db.clone();
    std::thread::spawn(move || {
        let mut refusals = Vec::new();
        let mut first = true;
        let declared = worker.declare_rollup_with_progress(spend(), &mut |_, _| {
            if std::mem::take(&mut first) {
                let other = RollupDef::new("big", "purchase", Aggregate::Max("amount".into()));
                refusals.push(worker.declare_rollup(other).map_err(|e| e.to_string()));
                refusals
                    .push(worker.define_segment("s", "count(purchase) >= 1").map(|_| ()).map_err(|e| e.to_string()));
                refusals.push(worker.check().map(|_| ()).map_err(|e| e.to_string()));
                refusals.push(worker.check_segments().map(|_| ()).map_err(|e| e.to_string()));
            }
        });
        let _ = tx.send((declared.map_err(|e| e.to_string()), refusals));
    });
    let (declared, refusals) = rx.recv_timeout(WAIT).expect("a call from the callback waited forever");
    assert_eq!(declared, Ok(()));
    assert_eq!(refusals.len(), 4);
    for r in refusals {
        let e = r.expect_err("refused");
        assert!(e.contains("progress callback") && e.contains("after the definition returns"), "{e}");
    }
    // From another thread they wait, and run after it.
    db.declare_rollup(RollupDef::new("big", "purchase", Aggregate::Max("amount".into()))).expect("declare");
    assert_exact(&db);
}

/// `spend` of `device_id:d{i}` as [`loaded`] wrote it: the sum of its
/// purchases' amounts.
fn loaded_spend(i: u32) -> RollupValue {
    let amounts: Vec<f64> = (0..i % 4).map(|j| f64::from(i + j)).collect();
    RollupValue::Number((!amounts.is_empty()).then(|| amounts.iter().sum()))
}

/// Anonymizes `people` (the default rules drop `amount`) and returns
/// their profiles.
fn anonymize_all(db: &ProfileDb, people: &[&str]) -> Result<Vec<ProfileId>, String> {
    people.iter().map(|who| db.anonymize(&id(who), None, None).map(|r| r.profile).map_err(|e| e.to_string())).collect()
}

/// The anonymized profiles' `spend` is what [`loaded`] wrote, `check` is
/// clean; also after a reopen.
fn assert_spend_survived(db: ProfileDb, anonymized: &[(ProfileId, u32)]) {
    let dir = db.path().to_owned();
    for db in [Some(db), None] {
        let db = db.unwrap_or_else(|| ProfileDb::open(&dir).expect("reopen"));
        assert!(db.rollup_defs().contains(&spend()));
        for &(p, i) in anonymized {
            assert_eq!(db.rollup(p, "spend", Window::All).expect("rollup"), loaded_spend(i), "d{i} ({p})");
        }
        let report = db.check().expect("check");
        assert!(report.is_clean(), "{report}");
    }
}

#[test]
fn an_anonymize_during_a_rollup_backfill_keeps_the_fold_of_the_values_it_scrubs() {
    let (_dir, db) = loaded();
    let (tx, rx) = mpsc::channel();
    let mut result = None;
    db.declare_rollup_with_progress(spend(), &mut |done, _| {
        if done == 16 {
            // d3 the backfill has passed, d50 it has not reached.
            let (db, tx) = (db.clone(), tx.clone());
            std::thread::spawn(move || {
                let _ = tx.send(anonymize_all(&db, &["device_id:d3", "device_id:d50"]));
            });
            // Between two batches, if it does not wait for the backfill.
            result = rx.recv_timeout(Duration::from_secs(2)).ok();
        }
    })
    .expect("declare");
    let anonymized = result.or_else(|| rx.recv_timeout(WAIT).ok()).expect("anonymize ended").expect("anonymize");
    assert_eq!(anonymized, [ProfileId(3), ProfileId(50)]);
    let p50 = db.events(ProfileId(50), Timestamp(0), Timestamp(i64::MAX)).expect("events");
    assert!(p50.iter().all(|e| e.property("amount").is_none()), "scrubbed");
    assert_spend_survived(db, &[(ProfileId(3), 3), (ProfileId(50), 50)]);
}

#[test]
fn an_anonymize_after_a_rollup_backfill_stopped_early_keeps_the_fold_of_the_values_it_scrubs() {
    let (_dir, db) = loaded();
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |done, _| assert!(done < 32, "the callback panics"))
    }));
    assert!(cut.is_err());
    // The same handle: the backfill is pending, d50 not reached.
    let anonymized = anonymize_all(&db, &["device_id:d50"]).expect("anonymize");
    assert_eq!(anonymized, [ProfileId(50)]);
    // Still pending, the next writable open would fold the scrubbed
    // timeline: anonymize finished it first.
    let dir = db.path().to_owned();
    drop(db);
    assert_spend_survived(ProfileDb::open(&dir).expect("reopen"), &[(ProfileId(50), 50)]);
}

#[test]
fn an_anonymize_called_from_a_progress_callback_is_refused_and_changes_nothing() {
    let (_dir, db) = loaded();
    let mut refused = None;
    db.declare_rollup_with_progress(spend(), &mut |done, _| {
        if done == 16 {
            refused = Some(anonymize_all(&db, &["device_id:d50"]));
        }
    })
    .expect("declare");
    let e = refused.expect("called").expect_err("refused");
    assert!(e.contains("anonymize") && e.contains("after the definition returns"), "{e}");
    assert_eq!(db.resolve(&id("device_id:d50")).expect("resolve"), Some(ProfileId(50)), "not anonymized");
    let anonymized = anonymize_all(&db, &["device_id:d50"]).expect("anonymize after it returns");
    assert_spend_survived(db, &[(anonymized[0], 50)]);
}

#[test]
fn an_anonymize_from_a_segment_definitions_callback_is_refused_while_a_rollup_backfill_is_pending() {
    let (_dir, db) = loaded();
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        db.declare_rollup_with_progress(spend(), &mut |done, _| assert!(done < 32, "the callback panics"))
    }));
    assert!(cut.is_err());
    let mut refused = None;
    db.define_segment_with_progress("buyers", "count(purchase) >= 1", &mut |_, _| {
        refused.get_or_insert_with(|| anonymize_all(&db, &["device_id:d50"]));
    })
    .expect("define");
    let e = refused.expect("called").expect_err("refused");
    assert!(e.contains("anonymize") && e.contains("after the definition returns"), "{e}");
    assert_eq!(db.resolve(&id("device_id:d50")).expect("resolve"), Some(ProfileId(50)), "not anonymized");
    // With no rollup backfill pending, it runs from the callback.
    let anonymized = anonymize_all(&db, &["device_id:d50"]).expect("anonymize");
    let mut ran = None;
    db.define_segment_with_progress("buyers2", "count(purchase) >= 2", &mut |_, _| {
        ran.get_or_insert_with(|| anonymize_all(&db, &["device_id:d51"]));
    })
    .expect("define");
    let ran = ran.expect("called").expect("anonymize from a segment definition's callback");
    assert_spend_survived(db, &[(anonymized[0], 50), (ran[0], 51)]);
}
