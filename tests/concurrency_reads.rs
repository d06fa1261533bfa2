//! Reads beside writers on one handle shared by many threads: every count
//! exact after a mixed run, no read seeing part of one operation (a link
//! without the update it carried, a profile older than the feed record
//! that told of it), no read by id losing events to a merge committing
//! meanwhile, and the change feed read from a cursor and a subscription.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use profiledb::event::Event;
use profiledb::rollup::{Aggregate, RollupDef, Window};
use profiledb::segment::{FeedKind, FeedRecord};
use profiledb::{Error, Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

#[path = "common/concurrency.rs"]
mod conc;
use conc::*;

#[derive(Default)]
struct Sent {
    /// Per person: the message ids of acknowledged (applied or duplicate) events, by name.
    events: HashMap<u64, HashMap<&'static str, HashSet<String>>>,
    /// Per person: acknowledged increments of `n`.
    increments: HashMap<u64, i64>,
}

#[test]
fn many_threads_writing_merging_and_reading_keep_every_count_exact_and_check_clean() {
    within("mixed concurrency", Duration::from_secs(240), || {
        const PERSONS: u64 = 30;
        const ANON: u64 = 4;
        const OPS_PER_WRITER: u64 = 2_000;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let tick_errors = Arc::new(Mutex::new(Vec::<String>::new()));
        let sink = tick_errors.clone();
        let db = ProfileDb::builder(dir.path())
            .clock(clock.clone())
            .tick_interval(Duration::from_millis(3))
            .on_tick_error(move |m| sink.lock().unwrap().push(m.to_owned()))
            .open()
            .unwrap();
        db.declare_rollup(RollupDef::new("buys", "buy", Aggregate::Count)).unwrap();
        db.define_segment("buyers", "count(buy) >= 3").unwrap();
        db.define_segment("recent_viewers", "count(view, 1h) >= 2").unwrap();
        db.define_segment("heavy", "traits.n >= 5").unwrap();
        db.define_segment("combo", "in buyers and in heavy").unwrap();
        let feed_rx = db.subscribe();

        let sent = Arc::new(Mutex::new(Sent::default()));
        let recent: Arc<Mutex<Vec<(u64, Event)>>> = Arc::new(Mutex::new(Vec::new()));
        let done = Arc::new(AtomicBool::new(false));
        let msg_seq = Arc::new(AtomicU64::new(0));
        let progress = Arc::new(AtomicU64::new(0));

        let ack = |sent: &Mutex<Sent>, person: u64, e: &Event| {
            let name: &'static str = if e.name == "buy" { "buy" } else { "view" };
            let mut s = sent.lock().unwrap();
            s.events.entry(person).or_default().entry(name).or_default().insert(e.message_id.clone().unwrap());
        };

        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let (db, clock, sent, recent, msg_seq, progress) =
                    (db.clone(), clock.clone(), sent.clone(), recent.clone(), msg_seq.clone(), progress.clone());
                std::thread::spawn(move || {
                    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (t * 7919 + 1);
                    for _ in 0..OPS_PER_WRITER {
                        progress.fetch_add(1, Ordering::Relaxed);
                        let r = xorshift(&mut x);
                        let person = r % PERSONS;
                        let via =
                            if (r >> 8).is_multiple_of(3) { user(person) } else { anon(person, (r >> 12) % ANON) };
                        let name = if (r >> 16).is_multiple_of(3) { "buy" } else { "view" };
                        let at = clock.now().0 - ((r >> 20) % 50) as i64 * MIN;
                        match (r >> 28) % 10 {
                            0..=2 => {
                                let msg = format!("m{}", msg_seq.fetch_add(1, Ordering::Relaxed));
                                let e = event(name, at, via, Some(msg));
                                match db.track(&e).unwrap() {
                                    IngestOutcome::Applied(_) | IngestOutcome::Duplicate { .. } => {}
                                    other => panic!("{other:?}"),
                                }
                                ack(&sent, person, &e);
                                recent.lock().unwrap().push((person, e));
                            }
                            3 => {
                                // A resend of an event some thread sent before.
                                let again = {
                                    let rec = recent.lock().unwrap();
                                    if rec.is_empty() {
                                        None
                                    } else {
                                        Some(rec[(r >> 32) as usize % rec.len()].clone())
                                    }
                                };
                                if let Some((person, e)) = again {
                                    match db.track(&e).unwrap() {
                                        IngestOutcome::Duplicate { .. } => {}
                                        other => panic!("a resent message id must be a duplicate: {other:?}"),
                                    }
                                    ack(&sent, person, &e);
                                }
                            }
                            4..=5 => {
                                let mut batch = Vec::new();
                                let mut people = Vec::new();
                                let mut y = r;
                                for _ in 0..12 {
                                    let r2 = xorshift(&mut y);
                                    let p = r2 % PERSONS;
                                    let via = if r2.is_multiple_of(4) { user(p) } else { anon(p, (r2 >> 8) % ANON) };
                                    let name = if (r2 >> 16).is_multiple_of(3) { "buy" } else { "view" };
                                    let msg = format!("m{}", msg_seq.fetch_add(1, Ordering::Relaxed));
                                    batch.push(event(name, at, via, Some(msg)));
                                    people.push(p);
                                }
                                // A duplicate inside the batch too.
                                batch.push(batch[0].clone());
                                people.push(people[0]);
                                let report = db.ingest_batch(&batch, false).unwrap();
                                assert!(report.rejected.is_empty(), "{:?}", report.rejected);
                                assert_eq!(report.applied + report.duplicates, batch.len() as u64);
                                for (p, e) in people.iter().zip(&batch) {
                                    ack(&sent, *p, e);
                                }
                            }
                            6..=7 => {
                                // Log-in: links an anonymous id to the user, merging profiles
                                // other threads are writing to.
                                db.identify(&[user(person), anon(person, (r >> 12) % ANON)], Update::new()).unwrap();
                            }
                            _ => {
                                db.update(&user(person), Update::new().increment("n", 1)).unwrap();
                                *sent.lock().unwrap().increments.entry(person).or_default() += 1;
                            }
                        }
                    }
                })
            })
            .collect();

        // The clock, moved by its own thread.
        let mover = {
            let (clock, done) = (clock.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    // Slow enough to stay well inside the 7-day dedup horizon.
                    clock.advance(MIN);
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };

        // A segment and a rollup declared while the writers run.
        let declarer = {
            let (db, progress) = (db.clone(), progress.clone());
            std::thread::spawn(move || {
                while progress.load(Ordering::Relaxed) < OPS_PER_WRITER {
                    std::thread::sleep(Duration::from_millis(1));
                }
                db.define_segment("late", "count(view) >= 4 or in buyers").unwrap();
                while progress.load(Ordering::Relaxed) < 2 * OPS_PER_WRITER {
                    std::thread::sleep(Duration::from_millis(1));
                }
                db.declare_rollup(RollupDef::new("views", "view", Aggregate::Count)).unwrap();
            })
        };

        let readers: Vec<_> = (0..2u64)
            .map(|t| {
                let (db, done) = (db.clone(), done.clone());
                std::thread::spawn(move || {
                    let mut x = 0xDEAD_BEEFu64 ^ (t + 3);
                    let mut rounds = 0u64;
                    while !done.load(Ordering::Relaxed) {
                        let r = xorshift(&mut x);
                        let person = r % PERSONS;
                        if let Some(p) = db.get(&user(person)).unwrap() {
                            match db.events(p.id, Timestamp(0), Timestamp(i64::MAX / 2)) {
                                Ok(_) | Err(Error::NotFound(_)) => {}
                                Err(e) => panic!("events: {e}"),
                            }
                            for w in [Window::All, Window::days(7)] {
                                match db.rollup(p.id, "buys", w) {
                                    Ok(_) | Err(Error::NotFound(_)) => {}
                                    Err(e) => panic!("rollup: {e}"),
                                }
                            }
                            let _ = db.segments_of(p.id);
                            let _ = db.in_segment("buyers", p.id).unwrap();
                        }
                        let _ = db.segment_count("combo").unwrap();
                        let _ = db.segment_members("recent_viewers", 0, 10).unwrap();
                        let q = db.query("in buyers and traits.n >= 2").unwrap();
                        assert!(q.count() <= PERSONS * (ANON + 1));
                        let _ = db.query_count("in buyers and not in heavy").unwrap();
                        let _ = db.feed(0, 20).unwrap();
                        rounds += 1;
                    }
                    rounds
                })
            })
            .collect();

        for w in writers {
            w.join().expect("writer panicked");
        }
        declarer.join().expect("declarer panicked");
        done.store(true, Ordering::Relaxed);
        mover.join().unwrap();
        let rounds: u64 = readers.into_iter().map(|r| r.join().expect("reader panicked")).sum();
        assert!(rounds > 0);

        // Log every person in through every anonymous id: one profile each.
        for p in 0..PERSONS {
            let ids: Vec<Identifier> = std::iter::once(user(p)).chain((0..ANON).map(|k| anon(p, k))).collect();
            db.identify(&ids, Update::new()).unwrap();
        }
        db.tick().unwrap();
        let report = db.check().unwrap();
        assert!(report.is_clean(), "check after the threads: {report}");
        assert_eq!(db.check_segments().unwrap(), vec![], "check_segments after the threads");
        assert!(tick_errors.lock().unwrap().is_empty(), "tick errors: {:?}", tick_errors.lock().unwrap());

        let sent = sent.lock().unwrap();
        let mut seen_profiles = BTreeSet::new();
        for person in 0..PERSONS {
            let p = db.resolve(&user(person)).unwrap().expect("every person has a profile");
            assert!(seen_profiles.insert(p), "two persons share profile {p}");
            for k in 0..ANON {
                if let Some(q) = db.resolve(&anon(person, k)).unwrap() {
                    assert_eq!(q, p, "anon {k} of person {person}");
                }
            }
            let empty = HashMap::new();
            let by_name = sent.events.get(&person).unwrap_or(&empty);
            let n = |name: &str| by_name.get(name).map_or(0, |s| s.len() as u64);
            let stored = db.events(p, Timestamp(0), Timestamp(i64::MAX / 2)).unwrap();
            let stored_ids: BTreeSet<_> = stored.iter().map(|e| e.message_id.clone().unwrap()).collect();
            assert_eq!(stored.len(), stored_ids.len(), "person {person}: an event stored twice");
            assert_eq!(stored.iter().filter(|e| e.name == "view").count() as u64, n("view"), "person {person} views");
            assert_eq!(stored.iter().filter(|e| e.name == "buy").count() as u64, n("buy"), "person {person} buys");
            assert_eq!(db.event_stats(p, "view", Window::All).unwrap().count, n("view"), "person {person}");
            assert_eq!(count_of(db.rollup(p, "buys", Window::All).unwrap()), n("buy"), "person {person}: buys");
            assert_eq!(count_of(db.rollup(p, "views", Window::All).unwrap()), n("view"), "person {person}: views");
            let want_n = sent.increments.get(&person).copied().unwrap_or(0);
            let got_n = db.get_by_id(p).unwrap().unwrap().traits.get("n").cloned();
            let got_n = match got_n {
                Some(TraitValue::Int(v)) => v,
                None => 0,
                other => panic!("{other:?}"),
            };
            assert_eq!(got_n, want_n, "person {person}: increments of n");
        }
        assert_eq!(db.profile_count().unwrap(), PERSONS, "no profile lost or left over");

        // The live subscription saw exactly the durable feed, in order.
        let live: Vec<FeedRecord> = feed_rx.try_iter().collect();
        let durable = db.feed(0, usize::MAX).unwrap();
        assert_eq!(live.len(), durable.len(), "subscription vs durable feed");
        assert!(live == durable, "subscription and durable feed differ");
        for w in durable.windows(2) {
            assert_eq!(w[1].seq, w[0].seq + 1, "feed sequence numbers are dense without erasure");
        }
        eprintln!("mixed: {rounds} read rounds, {} feed records; check: {report}", durable.len());
    });
}

#[test]
fn a_reader_never_sees_an_identify_link_without_the_update_it_carried() {
    within("half identify", Duration::from_secs(120), || {
        const ROUNDS: u64 = 5_000;
        let dir = tempfile::tempdir().unwrap();
        let db = ProfileDb::open(dir.path()).unwrap();
        // A segment whose membership flips with every write, and many
        // subscribers: the commit publishes feed records to each.
        db.define_segment("odd", "traits.tag_odd = true").unwrap();
        let subs: Vec<_> = (0..2_000).map(|_| db.subscribe()).collect();
        let known = id("anonymous_id:known");
        db.update(&known, Update::new().set("tag", -1)).unwrap();
        let written = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|_| {
                let (db, written, stop) = (db.clone(), written.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut bad = Vec::new();
                    let mut seen = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let i = written.load(Ordering::Acquire);
                        let email = Identifier::new("email", &format!("p{i}@example.com")).unwrap();
                        if let Some(p) = db.get(&email).unwrap() {
                            seen += 1;
                            // Identify `i` set tag `i` with the link; later ones set more.
                            let tag = p.traits.get("tag").cloned();
                            let carried = matches!(tag, Some(TraitValue::Int(t)) if t >= i as i64);
                            if !carried && bad.len() < 5 {
                                bad.push(format!("email p{i}: linked, but tag = {tag:?} (version {})", p.version));
                            }
                        }
                    }
                    (bad, seen)
                })
            })
            .collect();
        for i in 0..ROUNDS {
            written.store(i, Ordering::Release);
            let email = Identifier::new("email", &format!("p{i}@example.com")).unwrap();
            let update = Update::new().set("tag", i as i64).set("tag_odd", i % 2 == 1);
            db.identify(&[known.clone(), email], update).unwrap();
            // Drain the subscriptions so they stay small.
            if i % 256 == 0 {
                for s in &subs {
                    while s.try_recv().is_ok() {}
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut all_bad = Vec::new();
        let mut seen = 0;
        for r in readers {
            let (bad, s) = r.join().unwrap();
            all_bad.extend(bad);
            seen += s;
        }
        eprintln!("half identify: {seen} linked reads");
        assert!(all_bad.is_empty(), "a read saw half of one identify: {all_bad:#?}");
    });
}

#[test]
fn rollup_and_event_reads_of_a_profile_merging_away_never_lose_its_events() {
    within("reads during merges", Duration::from_secs(120), || {
        const ROUNDS: u64 = 300;
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.declare_rollup(RollupDef::new("cnt", "e", Aggregate::Count)).unwrap();
        let round = Arc::new(AtomicU64::new(u64::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..3)
            .map(|t| {
                let (db, round, stop) = (db.clone(), round.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut bad = Vec::new();
                    let mut reads = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let r = round.load(Ordering::Acquire);
                        if r == u64::MAX {
                            continue;
                        }
                        // The user's profile holds 5 events from before this round started.
                        let Some(p) = db.resolve(&user(r)).unwrap() else { continue };
                        let got = match t {
                            0 => db.event_stats(p, "e", Window::All).map(|a| a.count),
                            1 => db.rollup(p, "cnt", Window::All).map(count_of),
                            _ => db.events(p, Timestamp(0), Timestamp(i64::MAX / 2)).map(|v| v.len() as u64),
                        };
                        reads += 1;
                        match got {
                            Ok(n) if n >= 5 => {}
                            Ok(n) if bad.len() < 5 => bad.push(format!("round {r}: profile {p} read {n} events")),
                            Ok(_) => {}
                            Err(e) if bad.len() < 5 => bad.push(format!("round {r}: profile {p}: {e}")),
                            Err(_) => {}
                        }
                    }
                    (bad, reads)
                })
            })
            .collect();
        for r in 0..ROUNDS {
            // An anonymous visitor first (the lower id: the survivor), then the user.
            db.track(&event("e", T0, anon(r, 0), None)).unwrap();
            for _ in 0..5 {
                db.track(&event("e", T0, user(r), None)).unwrap();
            }
            round.store(r, Ordering::Release);
            std::thread::sleep(Duration::from_micros(300));
            // Log-in: the user's profile merges into the visitor's.
            db.identify(&[user(r), anon(r, 0)], Update::new()).unwrap();
            std::thread::sleep(Duration::from_micros(300));
        }
        stop.store(true, Ordering::Relaxed);
        let mut bad = Vec::new();
        let mut reads = 0;
        for (t, h) in readers.into_iter().enumerate() {
            let (b, n) = h.join().unwrap();
            bad.extend(b.into_iter().map(|m| format!("reader {t}: {m}")));
            reads += n;
        }
        eprintln!("reads during merges: {reads} reads");
        assert!(bad.is_empty(), "a read during a merge lost the profile's events: {bad:#?}");
    });
}

/// A subscriber that looks a profile up as soon as it is told the profile
/// entered a segment must find the profile as that commit left it.
#[test]
fn a_subscriber_reading_the_profile_of_an_entered_record_sees_the_write_that_caused_it() {
    within("subscriber reads", Duration::from_secs(120), || {
        const USERS: u64 = 40_000;
        let dir = tempfile::tempdir().unwrap();
        let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T0)))).open().unwrap();
        db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
        db.declare_rollup(RollupDef::new("cnt", "e", Aggregate::Count)).unwrap();
        for i in 0..USERS {
            db.update(&user(i), Update::new().set("plan", "free")).unwrap();
        }
        let rx = db.subscribe();
        let consumer = {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut bad = Vec::new();
                let mut n = 0;
                while n < USERS {
                    // Busy: a consumer working through its queue.
                    let Ok(rec) = rx.try_recv() else { continue };
                    if rec.segment.as_deref() != Some("pro") || !matches!(rec.kind, FeedKind::Entered) {
                        continue;
                    }
                    n += 1;
                    let p = db.get_by_id(rec.profile).unwrap().expect("live");
                    let plan = p.traits.get("plan").cloned();
                    if plan != Some(TraitValue::from("pro")) && bad.len() < 5 {
                        bad.push(format!(
                            "seq {}: profile {} entered pro, but reads plan = {plan:?}",
                            rec.seq, rec.profile
                        ));
                    }
                }
                bad
            })
        };
        for i in 0..USERS {
            // Once pro, always pro: the entered record's profile reads pro from then on.
            db.update(&user(i), Update::new().set("plan", "pro")).unwrap();
        }
        let bad = consumer.join().unwrap();
        assert!(bad.is_empty(), "a subscriber read a profile older than the feed record it was told of: {bad:#?}");
    });
}

#[test]
fn the_feed_read_from_a_cursor_and_a_subscription_agree_in_order_across_a_reopen() {
    within("feed", Duration::from_secs(120), || {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let open = || {
            ProfileDb::builder(dir.path()).clock(clock.clone()).tick_interval(Duration::from_millis(2)).open().unwrap()
        };
        let db = open();
        db.define_segment("active", "count(view, 1h) >= 1").unwrap();
        db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
        let rx = db.subscribe();
        let done = Arc::new(AtomicBool::new(false));
        // A consumer reading the durable feed from its cursor while writers run.
        let consumer = {
            let (db, done) = (db.clone(), done.clone());
            std::thread::spawn(move || {
                let mut cursor = 0u64;
                let mut got: Vec<FeedRecord> = Vec::new();
                loop {
                    let finished = done.load(Ordering::Acquire);
                    let page = db.feed(cursor, 7).unwrap();
                    for r in &page {
                        assert!(r.seq >= cursor, "feed went backwards: {} < {cursor}", r.seq);
                        cursor = r.seq + 1;
                    }
                    got.extend(page.iter().cloned());
                    if finished && page.is_empty() {
                        return got;
                    }
                }
            })
        };
        let writers: Vec<_> = (0..3u64)
            .map(|t| {
                let (db, clock) = (db.clone(), clock.clone());
                std::thread::spawn(move || {
                    let mut x = 77 + t;
                    for _ in 0..400 {
                        let r = xorshift(&mut x);
                        let p = r % 40;
                        if r.is_multiple_of(2) {
                            db.track(&event("view", clock.now().0, user(p), None)).unwrap();
                        } else {
                            let plan = if (r >> 8).is_multiple_of(2) { "pro" } else { "free" };
                            db.update(&user(p), Update::new().set("plan", plan)).unwrap();
                        }
                        if r.is_multiple_of(5) {
                            clock.advance(7 * MIN);
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        clock.advance(2 * HOUR);
        db.tick().unwrap();
        done.store(true, Ordering::Release);
        let consumed = consumer.join().unwrap();
        let live: Vec<FeedRecord> = rx.try_iter().collect();
        let durable = db.feed(0, usize::MAX).unwrap();
        assert!(consumed == durable, "a cursor reader missed or repeated records");
        assert!(live == durable, "the subscription differs from the durable feed");
        // Each (segment, profile) alternates entered/exited, starting with entered.
        let mut state: BTreeMap<(String, ProfileId), bool> = BTreeMap::new();
        for r in &durable {
            let key = (r.segment.clone().unwrap_or_default(), r.profile);
            let member = state.entry(key.clone()).or_insert(false);
            match r.kind {
                FeedKind::Entered => assert!(!*member, "entered twice: {key:?} at seq {}", r.seq),
                FeedKind::Exited => assert!(*member, "exited while out: {key:?} at seq {}", r.seq),
                _ => {}
            }
            *member = matches!(r.kind, FeedKind::Entered);
        }
        // Current membership equals the fold of the feed.
        for ((seg, p), member) in &state {
            assert_eq!(db.in_segment(seg, *p).unwrap(), *member, "{seg} {p} vs the feed");
        }
        let last = durable.last().map_or(0, |r| r.seq);
        drop(rx);
        drop(db);
        let db = open();
        assert!(db.feed(0, usize::MAX).unwrap() == durable, "the feed after a reopen");
        db.update(&user(0), Update::new().set("plan", "enterprise")).unwrap();
        db.update(&user(0), Update::new().set("plan", "pro")).unwrap();
        let after = db.feed(last + 1, 10).unwrap();
        assert!(after.iter().all(|r| r.seq > last), "sequence numbers continue after a reopen: {after:?}");
    });
}
