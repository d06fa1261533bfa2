//! A segment backfill lets writes through between its batches (review
//! A1): writes complete while it runs, the segment it builds stays exact
//! for every profile they touch (before and after its position, created,
//! merged away, erased, woken by a tick), and definitions do not
//! interleave. Under `cfg(test)` a batch is [`BACKFILL_BATCH`] = 50
//! profiles, so a few hundred profiles span several batches.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{ManualClock, Timestamp};
use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::{ProfileDb, Update};

use super::segments::BACKFILL_BATCH;

const T: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
/// How long a write may wait while a backfill runs: the old code (writer
/// lock held through the whole backfill) makes it wait until the end.
const WAIT: Duration = Duration::from_secs(10);

fn id(s: &str) -> Identifier {
    s.parse().expect("identifier")
}

fn purchase(who: &str, at: i64) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)]);
    e.properties.insert("amount", 10.0);
    e
}

/// `n` profiles, ids 0..n in order: `device_id:d{i}` with trait `k = i`;
/// every 4th also has an email, every 5th bought an hour ago.
fn loaded(n: u32) -> (tempfile::TempDir, Arc<ManualClock>, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
    for i in 0..n {
        let mut ids = vec![id(&format!("device_id:d{i}"))];
        if i % 4 == 0 {
            ids.push(id(&format!("email:u{i}@example.com")));
        }
        let r = db.identify(&ids, Update::new().set("k", i64::from(i))).expect("identify");
        assert_eq!(r.profile, ProfileId(i), "ids are allocated in order");
        if i % 5 == 0 {
            db.track(&purchase(&format!("device_id:d{i}"), T - HOUR)).expect("track");
        }
    }
    (dir, clock, db)
}

/// Runs jobs on another thread, one at a time, each awaited with a
/// timeout from the backfill's progress callback: a job the writer lock
/// blocks is recorded as late (the old code), and the test fails then
/// rather than hangs.
struct Helper {
    jobs: mpsc::Sender<Box<dyn FnOnce() + Send>>,
    done: mpsc::Receiver<()>,
    late: Vec<String>,
}

impl Helper {
    fn new() -> Helper {
        let (jobs, rx) = mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let (tx, done) = mpsc::channel();
        std::thread::spawn(move || {
            for job in rx {
                job();
                if tx.send(()).is_err() {
                    break;
                }
            }
        });
        Helper { jobs, done, late: Vec::new() }
    }

    /// Runs `job` on the helper thread and waits for it (at most
    /// [`WAIT`]). Once one was late, the others are skipped (the late one
    /// finishes after the backfill).
    fn run(&mut self, what: &str, job: impl FnOnce() + Send + 'static) {
        if !self.late.is_empty() {
            self.late.push(format!("{what} (skipped)"));
            return;
        }
        self.jobs.send(Box::new(job)).expect("helper alive");
        if self.done.recv_timeout(WAIT).is_err() {
            self.late.push(what.to_owned());
        }
    }
}

/// Every live profile matching `text`, evaluated from scratch.
fn evaluated(db: &ProfileDb, text: &str) -> Vec<ProfileId> {
    db.query(text).expect("query").members(0, usize::MAX)
}

fn members(db: &ProfileDb, name: &str) -> Vec<ProfileId> {
    db.segment_members(name, 0, usize::MAX).expect("members")
}

fn assert_exact(db: &ProfileDb, name: &str, text: &str) {
    assert_eq!(db.check_segments().expect("check_segments"), vec![], "{name}: no mismatch");
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
    assert_eq!(members(db, name), evaluated(db, text), "{name}: members are a fresh evaluation");
}

#[test]
fn a_write_completes_while_a_backfill_runs() {
    const PROFILES: u32 = 300;
    assert!(PROFILES as usize > 3 * BACKFILL_BATCH, "several batches");
    let (_dir, _clock, db) = loaded(PROFILES);
    let mut helper = Helper::new();
    let mut calls = 0;
    let d = db.clone();
    let n = db
        .define_segment_with_progress("big", "traits.k >= 0", &mut |done, total| {
            calls += 1;
            if calls == 1 {
                assert!(done < total, "the first batch is not the last");
                let d = d.clone();
                helper.run("update during the backfill", move || {
                    d.update(&id("device_id:d7"), Update::new().set("k", -1)).expect("update");
                    d.track(&purchase("device_id:d8", T)).expect("track");
                });
            }
        })
        .expect("define");
    assert_eq!(helper.late, Vec::<String>::new(), "writes waited for the whole backfill");
    assert!(calls > 1, "progress is reported per batch ({calls} calls)");
    assert_eq!(n, u64::from(PROFILES) - 1, "the updated profile left it");
    assert!(!db.in_segment("big", ProfileId(7)).expect("read"));
    assert_exact(&db, "big", "traits.k >= 0");
}

/// The profiles round `round` merges (pairs) and erases, apart from the
/// other round's: behind the backfill's position when it does, ahead of
/// it, and across it.
struct Victims {
    behind: (u32, u32),
    ahead: (u32, u32),
    across: (u32, u32),
    erased: (u32, u32),
}

const VICTIMS: [Victims; 2] = [
    Victims { behind: (10, 11), ahead: (360, 370), across: (20, 380), erased: (30, 350) },
    Victims { behind: (110, 111), ahead: (362, 372), across: (120, 382), erased: (130, 352) },
];

/// What the helper does between batches `step` (0, 1, …) of a backfill
/// (after batch `step + 1`: at position `(step + 1) * 50`).
fn interleave(db: &ProfileDb, clock: &ManualClock, step: usize, round: usize) {
    let d = |i: u32| format!("device_id:d{i}");
    let r = round as u32 * 100;
    let v = &VICTIMS[round];
    match step {
        // Behind the backfill's position and ahead of it: identifiers,
        // traits, events.
        0 => {
            db.update(&id(&d(3)), Update::new().set("plan", "pro")).expect("update");
            db.identify(&[id(&d(1)), id(&format!("email:late{r}@example.com"))], Update::new()).expect("email");
            db.identify(&[id(&d(390)), id(&format!("email:late{}@example.com", r + 1))], Update::new()).expect("email");
            db.track(&purchase(&d(2), clock.now().0)).expect("track behind");
            db.track(&purchase(&d(391), clock.now().0)).expect("track ahead");
        }
        // New profiles: one with nothing (matches `not has email`), one
        // with an email, one with a purchase.
        1 => {
            db.update(&id(&format!("user_id:new{r}")), Update::new().set("k", 1)).expect("new");
            db.identify(&[id(&format!("email:new{r}@example.com"))], Update::new()).expect("new email");
            db.track(&purchase(&format!("anonymous_id:buyer{r}"), clock.now().0)).expect("new buyer");
        }
        // Merges: both behind, both ahead (the loser is in the backfill's
        // list), and across its position.
        2 => {
            db.identify(&[id(&d(v.behind.0)), id(&d(v.behind.1))], Update::new()).expect("merge behind");
            db.identify(&[id(&d(v.ahead.0)), id(&d(v.ahead.1))], Update::new()).expect("merge ahead");
            db.identify(&[id(&d(v.across.0)), id(&d(v.across.1))], Update::new()).expect("merge across");
        }
        // Erasures, behind and ahead.
        3 => {
            db.erase(&id(&d(v.erased.0)), None).expect("erase behind");
            db.erase(&id(&d(v.erased.1)), None).expect("erase ahead");
        }
        // A day passes: the hour-old purchases leave a 1-day window at
        // their wake-ups, which the tick processes (those behind the
        // backfill filed them; those ahead it evaluates at the new now).
        4 => {
            clock.set(Timestamp(clock.now().0 + DAY));
            db.tick().expect("tick");
            db.track(&purchase(&d(4), clock.now().0)).expect("track after the tick");
        }
        _ => {}
    }
}

#[test]
fn writes_between_backfill_batches_leave_the_segment_exact() {
    const PROFILES: u32 = 400;
    assert!(PROFILES as usize >= 7 * BACKFILL_BATCH, "a batch per step and more");
    let (_dir, clock, db) = loaded(PROFILES);
    db.define_segment("pro", r#"traits.plan = "pro""#).expect("pro");
    let texts = [
        "count(purchase, 1d) >= 1 or not has email",
        // A redefinition, reading the other segment too.
        "count(purchase, 1d) >= 1 and has email or in pro",
    ];
    for (round, text) in texts.into_iter().enumerate() {
        let mut helper = Helper::new();
        let mut step = 0;
        let (d, c) = (db.clone(), clock.clone());
        db.define_segment_with_progress("s", text, &mut |done, total| {
            if done == total {
                return;
            }
            let (d2, c2) = (d.clone(), c.clone());
            helper.run(&format!("step {step}"), move || interleave(&d2, &c2, step, round));
            if step == 0 && helper.late.is_empty() {
                // Readers see the other segments exact meanwhile, and the
                // segment being defined as it was.
                assert!(d.in_segment("pro", ProfileId(3)).expect("read"), "pro is maintained for readers");
                match round {
                    0 => assert!(d.segment_count("s").is_err(), "not defined for readers until complete"),
                    _ => {
                        let s = d.segments().into_iter().find(|s| s.name == "s").expect("s");
                        assert_eq!(s.text, texts[0], "the previous definition for readers");
                    }
                }
            }
            step += 1;
        })
        .expect("define");
        assert_eq!(helper.late, Vec::<String>::new(), "round {round}: writes waited for the whole backfill");
        assert!(step >= 5, "round {round}: every step ran between batches ({step})");
        assert_exact(&db, "s", text);
        assert_exact(&db, "pro", r#"traits.plan = "pro""#);
        // The new profile with nothing, and the erased and merged-away ones.
        let fresh = db.resolve(&id(&format!("user_id:new{}", round * 100))).expect("resolve").expect("created");
        assert_eq!(db.in_segment("s", fresh).expect("read"), round == 0, "round {round}: a profile with nothing");
        let v = &VICTIMS[round];
        for gone in [v.behind.1, v.ahead.1, v.across.1, v.erased.0, v.erased.1] {
            assert!(db.resolve_id(ProfileId(gone)).expect("resolve") != Some(ProfileId(gone)), "{gone} is not live");
            assert!(!members(&db, "s").contains(&ProfileId(gone)), "round {round}: {gone} is not a member");
        }
    }
    // And once more from storage: what a reopen loads agrees.
    let path = db.path().to_owned();
    drop(db);
    let db = ProfileDb::builder(&path).clock(clock).open().expect("reopen");
    assert_exact(&db, "s", texts[1]);
}

#[test]
fn definitions_from_two_threads_wait_for_each_other_and_writes_do_not() {
    const PROFILES: u32 = 300;
    let (_dir, _clock, db) = loaded(PROFILES);
    let (started_tx, started) = mpsc::channel();
    let (release_tx, release) = mpsc::channel::<()>();
    let first = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut first_batch = true;
            db.define_segment_with_progress("a", "traits.k < 150", &mut |_, _| {
                if std::mem::take(&mut first_batch) {
                    started_tx.send(()).expect("main thread");
                    // Held until the other definition and the write were started.
                    let _ = release.recv_timeout(WAIT);
                }
            })
        })
    };
    started.recv_timeout(WAIT).expect("first backfill started");
    let (second_tx, second_done) = mpsc::channel();
    let second = {
        let db = db.clone();
        std::thread::spawn(move || {
            let r = db.define_segment("b", "not has email or in a");
            second_tx.send(()).expect("main thread");
            r
        })
    };
    let (write_tx, write_done) = mpsc::channel();
    {
        let db = db.clone();
        std::thread::spawn(move || {
            db.update(&id("device_id:d1"), Update::new().set("k", 1_000)).expect("update");
            write_tx.send(()).expect("main thread");
        });
    }
    let wrote = write_done.recv_timeout(WAIT);
    // The second definition waits for the first (it reads "a").
    let second_waited = second_done.recv_timeout(Duration::from_millis(300)).is_err();
    release_tx.send(()).expect("first definition");
    let a = first.join().expect("first thread").expect("define a");
    assert!(wrote.is_ok(), "a write waited for the whole backfill");
    assert!(second_waited, "the second definition ran inside the first's backfill");
    second_done.recv_timeout(WAIT * 3).expect("the second definition ends");
    let b = second.join().expect("second thread").expect("define b");
    assert_eq!(a, 149, "k < 150 less the profile updated to 1000");
    assert_eq!(b, db.query_count("not has email or in a").expect("count"));
    assert_exact(&db, "a", "traits.k < 150");
    assert_exact(&db, "b", "not has email or in a");
}
