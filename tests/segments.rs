//! Segments: definition and backfill, exactness after every write, time,
//! wake-ups, queries, the change feed, history and persistence.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::segment::FeedKind;
use profiledb::{Error, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
mod common;
use common::{id, open_at};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    open_at(dir, T0)
}

fn track(db: &ProfileDb, who: &str, name: &str, at: Timestamp, amount: i64) {
    let mut e = Event::new(EventKind::Track, name, at, vec![id(who)]);
    e.properties.insert("amount", amount);
    db.track(&e).unwrap();
}

#[test]
fn definition_backfills_and_writes_keep_membership_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    for (who, plan) in [("user_id:1", "pro"), ("user_id:2", "free"), ("user_id:3", "pro")] {
        db.update(&id(who), Update::new().set("plan", plan)).unwrap();
    }
    assert_eq!(db.define_segment("pro", r#"traits.plan = "pro""#).unwrap(), 2);
    assert_eq!(db.define_segment("free", "not in pro").unwrap(), 1);
    let two = db.resolve(&id("user_id:2")).unwrap().unwrap();
    assert!(!db.in_segment("pro", two).unwrap());
    db.update(&id("user_id:2"), Update::new().set("plan", "pro")).unwrap();
    assert!(db.in_segment("pro", two).unwrap(), "a read after a write sees the new membership");
    assert!(!db.in_segment("free", two).unwrap(), "dependent segments follow in the same write");
    assert_eq!(db.segment_count("pro").unwrap(), 3);
    assert_eq!(db.segments_of(two).unwrap(), vec!["pro".to_owned()]);
    assert!(db.check_segments().unwrap().is_empty());
}

#[test]
fn definition_errors_are_clear_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    db.define_segment("a", r#"traits.plan = "pro""#).unwrap();
    let before = db.raw_dump().unwrap();
    let unknown = db.define_segment("b", "in nope").unwrap_err();
    assert!(matches!(unknown, Error::InvalidExpression { .. }), "{unknown}");
    let typed = db.define_segment("b", r#"count(purchase, 7d) > "abc""#).unwrap_err();
    assert!(typed.to_string().contains("position"), "{typed}");
    db.define_segment("b", "in a").unwrap();
    let cycle = db.define_segment("a", "in b").unwrap_err();
    assert!(cycle.to_string().contains("cycle"), "{cycle}");
    let drop = db.drop_segment("a").unwrap_err();
    assert!(drop.to_string().contains("reads"), "{drop}");
    assert!(db.define_segment("Bad-Name", "in a").is_err());
    db.drop_segment("b").unwrap();
    db.drop_segment("a").unwrap();
    assert!(db.segments().is_empty());
    let after: Vec<_> = db
        .raw_dump()
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.cf != "feed" && e.cf != "membership" && e.cf != "meta" && e.cf != "segment_def" && e.cf != "segment"
        })
        .collect();
    let before: Vec<_> = before
        .into_iter()
        .filter(|e| {
            e.cf != "feed" && e.cf != "membership" && e.cf != "meta" && e.cf != "segment_def" && e.cf != "segment"
        })
        .collect();
    assert_eq!(after, before);
}

#[test]
fn time_relative_segments_change_at_the_due_instant_via_tick() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    track(&db, "user_id:1", "purchase", Timestamp(T0), 10);
    track(&db, "user_id:2", "purchase", Timestamp(T0 - 20 * DAY), 10);
    db.define_segment("lapsed", "last(purchase) < now - 30d").unwrap();
    db.define_segment("cart_abandoned", "seq(add_to_cart, not purchase, 24h)").unwrap();
    assert_eq!(db.segment_count("lapsed").unwrap(), 0);
    let two = db.resolve(&id("user_id:2")).unwrap().unwrap();
    clock.set(Timestamp(T0 + 10 * DAY));
    db.tick().unwrap();
    assert!(!db.in_segment("lapsed", two).unwrap(), "exactly 30 days is not yet lapsed");
    clock.advance(1);
    let r = db.tick().unwrap();
    assert!(r.processed >= 1);
    assert!(db.in_segment("lapsed", two).unwrap(), "left at the due instant");
    assert_eq!(db.segment_count("lapsed").unwrap(), 1);
    // Cart abandonment: a cart and no purchase within 24h.
    let now = clock.now();
    track(&db, "user_id:3", "add_to_cart", now, 0);
    let three = db.resolve(&id("user_id:3")).unwrap().unwrap();
    clock.advance(DAY);
    db.tick().unwrap();
    assert!(db.in_segment("cart_abandoned", three).unwrap());
    track(&db, "user_id:3", "add_to_cart", clock.now(), 0);
    assert!(!db.in_segment("cart_abandoned", three).unwrap(), "a new cart restarts the 24h");
    clock.advance(3_600_000);
    track(&db, "user_id:3", "purchase", clock.now(), 5);
    clock.advance(DAY);
    db.tick().unwrap();
    assert!(!db.in_segment("cart_abandoned", three).unwrap(), "purchased within 24h");
    assert!(db.check_segments().unwrap().is_empty());
}

/// Events are ordered by timestamp alone (to the millisecond), never by
/// ingest order: a `b` stamped at the same instant as the latest `a`
/// follows it, whichever was ingested first (application developer review
/// A11), so it cancels `seq(a, not b, w)` and satisfies `seq(a, b, w)`.
/// A `b` one millisecond earlier precedes the trigger.
#[test]
fn seq_treats_a_follow_up_at_the_triggers_instant_as_following_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.define_segment("abandoned", "seq(add_to_cart, not purchase, 24h)").unwrap();
    db.define_segment("bought", "seq(add_to_cart, purchase, 24h)").unwrap();
    let now = clock.now();
    // Same millisecond, the purchase ingested before the cart.
    track(&db, "user_id:same", "purchase", now, 1);
    track(&db, "user_id:same", "add_to_cart", now, 0);
    // The purchase one millisecond before the cart.
    track(&db, "user_id:before", "purchase", Timestamp(now.0 - 1), 1);
    track(&db, "user_id:before", "add_to_cart", now, 0);
    clock.advance(DAY);
    db.tick().unwrap();
    let same = db.resolve(&id("user_id:same")).unwrap().unwrap();
    let before = db.resolve(&id("user_id:before")).unwrap().unwrap();
    assert!(!db.in_segment("abandoned", same).unwrap(), "a purchase at the cart's instant follows it");
    assert!(db.in_segment("bought", same).unwrap());
    assert!(db.in_segment("abandoned", before).unwrap(), "a purchase 1 ms earlier precedes the cart");
    assert!(!db.in_segment("bought", before).unwrap());
    assert!(db.check_segments().unwrap().is_empty());
}

/// Redefining a segment replaces its wake-ups: none stay behind from a
/// time-dependent definition, and a new time-dependent one flips on time.
#[test]
fn redefinition_replaces_the_wakeups_of_the_old_definition() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    track(&db, "user_id:1", "purchase", Timestamp(T0), 10);
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    let one = db.resolve(&id("user_id:1")).unwrap().unwrap();
    db.define_segment("lapsed", "last(purchase) < now - 1d").unwrap();
    // Time-dependent → static: the pending wake-up of the old definition goes.
    db.define_segment("lapsed", r#"traits.plan = "pro""#).unwrap();
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
    assert!(db.in_segment("lapsed", one).unwrap());
    clock.advance(2 * DAY);
    db.tick().unwrap();
    assert!(db.in_segment("lapsed", one).unwrap(), "a static definition does not change with time");
    // Static → time-dependent: the backfill files the new wake-up, and the
    // membership flips at its due instant.
    db.define_segment("lapsed", "last(purchase) < now - 5d").unwrap();
    assert!(!db.in_segment("lapsed", one).unwrap());
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
    clock.set(Timestamp(T0 + 5 * DAY + 1));
    let r = db.tick().unwrap();
    assert!(r.processed >= 1);
    assert!(db.in_segment("lapsed", one).unwrap(), "left at the new definition's due instant");
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

#[test]
fn queries_use_bitmaps_and_explain_scans() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    for i in 0..30 {
        let plan = if i % 2 == 0 { "pro" } else { "free" };
        let country = if i % 3 == 0 { "DE" } else { "FR" };
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("plan", plan).set("country", country).set("n", i))
            .unwrap();
    }
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("big", "traits.n >= 20").unwrap();
    let q = db.query(r#"in pro and not in big and traits.country = "DE""#).unwrap();
    let expected: Vec<i64> = (0..30).filter(|i| i % 2 == 0 && *i < 20 && i % 3 == 0).collect();
    assert_eq!(q.count(), expected.len() as u64);
    let plan = q.explain();
    assert!(plan.contains("segment pro: bitmap"), "{plan}");
    assert!(plan.contains("not indexed"), "{plan}");
    assert_eq!(q.members(0, 100).len(), expected.len());
    assert_eq!(db.query("in pro or in big").unwrap().count(), 15 + 5);
    // Explain gives each segment's size, then what the step did within
    // its candidates (not a second, smaller "size").
    let plan = db.query(r#"traits.country = "DE" and not (in big or traits.n = 1)"#).unwrap().explain();
    assert!(plan.contains("segment big: bitmap, 10 members; 3 of them among the candidates"), "{plan}");
    let plan = db.query(r#"traits.country = "DE" and in pro and not in big"#).unwrap().explain();
    assert!(plan.contains("segment pro: bitmap, 15 members"), "{plan}");
    assert!(plan.contains("segment big: bitmap, 10 members; removes"), "{plan}");
    let plan = db.query("in pro and in big").unwrap().explain();
    assert!(plan.contains("member by member where it has fewer"), "{plan}");
    assert!(plan.contains("segment big: bitmap, 10 members"), "{plan}");
}

#[test]
fn the_change_feed_resumes_from_a_cursor_and_streams_live() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let rx = db.subscribe();
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    clock.advance(1_000);
    db.update(&id("user_id:1"), Update::new().set("plan", "free")).unwrap();
    let live: Vec<_> = rx.try_iter().collect();
    assert_eq!(live.iter().map(|r| r.kind.clone()).collect::<Vec<_>>(), vec![FeedKind::Entered, FeedKind::Exited]);
    let p = live[0].profile;
    assert!(db.was_member(p, "pro", Timestamp(T0 + 500)).unwrap());
    assert!(!db.was_member(p, "pro", Timestamp(T0 + 1_500)).unwrap());
    assert!(!db.was_member(p, "pro", Timestamp(T0 - 1)).unwrap());
    drop(db);
    let (db, _) = open(dir.path());
    let all = db.feed(0, 100).unwrap();
    assert_eq!(all.len(), 2);
    let after = db.feed(all[0].seq + 1, 100).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].kind, FeedKind::Exited);
    // A page of at most `limit` records: none for 0, at any cursor.
    assert_eq!(db.feed(0, 0).unwrap(), vec![]);
    assert_eq!(db.feed(all[1].seq, 0).unwrap(), vec![]);
    assert_eq!(db.feed(0, 1).unwrap(), all[..1]);
    db.update(&id("user_id:2"), Update::new().set("plan", "pro")).unwrap();
    assert_eq!(db.feed(0, 100).unwrap().last().unwrap().seq, all[1].seq + 1, "sequence numbers continue after reopen");
}

/// A drop writes an `Exited` record for every member (live subscribers
/// get them too), so drop-then-define reads as exit then enter.
#[test]
fn dropping_a_segment_writes_an_exit_for_every_member() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    for who in ["user_id:1", "user_id:2", "user_id:3"] {
        db.update(&id(who), Update::new().set("plan", "pro")).unwrap();
    }
    db.update(&id("user_id:2"), Update::new().set("plan", "free")).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let rx = db.subscribe();
    clock.advance(1_000);
    db.drop_segment("pro").unwrap();
    let live: Vec<_> = rx.try_iter().collect();
    let kinds = |recs: &[profiledb::segment::FeedRecord]| {
        recs.iter().map(|r| (r.kind.clone(), r.segment.clone().unwrap_or_default(), r.profile.0)).collect::<Vec<_>>()
    };
    let exits = vec![(FeedKind::Exited, "pro".to_owned(), 0), (FeedKind::Exited, "pro".to_owned(), 2)];
    assert_eq!(kinds(&live), exits);
    assert!(live.iter().all(|r| r.at == Timestamp(T0 + 1_000)));
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let all = db.feed(0, 100).unwrap();
    let mut expected = vec![(FeedKind::Entered, "pro".to_owned(), 0), (FeedKind::Entered, "pro".to_owned(), 2)];
    expected.extend(exits);
    expected.extend([(FeedKind::Entered, "pro".to_owned(), 0), (FeedKind::Entered, "pro".to_owned(), 2)]);
    assert_eq!(kinds(&all), expected);
    // Dropping an empty segment writes nothing.
    db.define_segment("none", r#"traits.plan = "gold""#).unwrap();
    db.drop_segment("none").unwrap();
    assert_eq!(db.feed(0, 100).unwrap().len(), all.len());
}

#[test]
fn merges_move_membership_to_the_survivor_and_bitmaps_persist() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    db.update(&id("anonymous_id:a"), Update::new().set("plan", "pro")).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("known", "has user_id").unwrap();
    assert_eq!(db.segment_count("pro").unwrap(), 2);
    let r = db.identify(&[id("user_id:1"), id("anonymous_id:a")], Update::new()).unwrap();
    assert_eq!(db.segment_count("pro").unwrap(), 1, "the loser left every segment");
    assert!(db.in_segment("known", r.profile).unwrap());
    assert!(db.in_segment("pro", ProfileId(1)).unwrap(), "an alias answers for its survivor");
    assert!(db.feed(0, 100).unwrap().iter().any(|f| matches!(f.kind, FeedKind::Merged { into } if into == r.profile)));
    drop(db);
    let (db, _) = open(dir.path());
    assert_eq!(db.segment_count("pro").unwrap(), 1);
    assert_eq!(db.segment_count("known").unwrap(), 1);
    assert!(db.check_segments().unwrap().is_empty());
}

/// A query's value for a profile, given its memberships of `s0..s3`.
type Truth = Box<dyn Fn(&[bool; 4]) -> bool>;

/// A random boolean query over the segments `s0..s3`, and its value for
/// a profile given its memberships.
fn random_query(x: &mut u64, depth: u32) -> (String, Truth) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    let pick = *x;
    if depth == 0 || pick.is_multiple_of(3) {
        let s = (pick >> 8) as usize % 4;
        return (format!("in s{s}"), Box::new(move |m| m[s]));
    }
    match pick % 5 {
        0 => {
            let (t, f) = random_query(x, depth - 1);
            (format!("not ({t})"), Box::new(move |m| !f(m)))
        }
        1 | 2 => {
            let (a, fa) = random_query(x, depth - 1);
            let (b, fb) = random_query(x, depth - 1);
            let (c, fc) = random_query(x, depth - 1);
            (format!("({a}) and ({b}) and not ({c})"), Box::new(move |m| fa(m) && fb(m) && !fc(m)))
        }
        _ => {
            let (a, fa) = random_query(x, depth - 1);
            let (b, fb) = random_query(x, depth - 1);
            (format!("({a}) or ({b})"), Box::new(move |m| fa(m) || fb(m)))
        }
    }
}

#[test]
fn boolean_queries_over_segments_equal_set_algebra_on_memberships() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    for i in 0..200i64 {
        db.update(&id(&format!("user_id:q{i}")), Update::new().set("n", i)).unwrap();
    }
    // Segments of different sizes, so the smallest-first order matters.
    let texts = [
        "traits.n in [0, 2, 4, 6, 8, 10, 40, 42, 44, 150, 152]",
        "traits.n < 30",
        "traits.n >= 120",
        "traits.n > 10 and traits.n < 90",
    ];
    for (s, text) in texts.iter().enumerate() {
        db.define_segment(&format!("s{s}"), text).unwrap();
    }
    // An erased profile leaves a hole in the live set.
    db.erase(&id("user_id:q4"), None).unwrap();
    let profiles: Vec<(ProfileId, [bool; 4])> = (0..200)
        .filter_map(|i| db.resolve(&id(&format!("user_id:q{i}"))).unwrap())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(|p| (p, [0, 1, 2, 3].map(|s| db.in_segment(&format!("s{s}"), p).unwrap())))
        .collect();
    assert_eq!(profiles.len(), 199);
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..300 {
        let (text, truth) = random_query(&mut x, 3);
        let expected: Vec<ProfileId> = profiles.iter().filter(|(_, m)| truth(m)).map(|(p, _)| *p).collect();
        let q = db.query(&text).unwrap();
        assert_eq!(q.members(0, usize::MAX), expected, "{text}\n{}", q.explain());
        assert_eq!(q.count(), expected.len() as u64, "{text}");
        assert_eq!(db.query_count(&text).unwrap(), expected.len() as u64, "{text}");
    }
}

/// Sets trait `r` of profiles `q{i}` to `r(i)`, in one batch.
fn set_r(db: &ProfileDb, ids: std::ops::Range<u32>, r: impl Fn(u32) -> i64) {
    let events: Vec<Event> = ids
        .map(|i| {
            let mut e = Event::new(EventKind::Identify, "identify", Timestamp(T0), vec![id(&format!("user_id:q{i}"))]);
            e.traits = Update::new().set("r", r(i)).into_ops();
            e
        })
        .collect();
    db.ingest_batch(&events, true).unwrap();
}

/// Counting over flat blocks (segments dense enough to have them, and
/// chunks that gain and lose them as membership moves) equals the
/// materialized query and set algebra, and `check` finds the in-memory
/// blocks equal to the stored bitmaps.
#[test]
fn counts_of_dense_segments_equal_set_algebra_as_blocks_come_and_go() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let texts = ["traits.r < 60", "traits.r >= 30 and traits.r < 80", "traits.r < 5", "traits.r >= 90"];
    for (s, text) in texts.iter().enumerate() {
        db.define_segment(&format!("s{s}"), text).unwrap();
    }
    const N: u32 = 131_072; // two chunks of 65,536 ids
    let spread = |i: u32| i64::from(i.wrapping_mul(2_654_435_761) % 100);
    let mut x = 0x2545_f491_4f6c_dd1du64;
    // Phases: spread values (s0, s1 dense in both chunks); most profiles
    // moved to 95 (s0, s1 thin out below the block threshold, s3 dense);
    // spread again.
    let phases: [&dyn Fn(u32) -> i64; 3] = [&spread, &|i| if i % 10 == 0 { spread(i) } else { 95 }, &spread];
    for phase in phases {
        set_r(&db, 0..N, phase);
        let truth_of = |i: u32| {
            let r = phase(i);
            [r < 60, (30..80).contains(&r), r < 5, r >= 90]
        };
        let memberships: Vec<[bool; 4]> = (0..N).map(truth_of).collect();
        // Ids were allocated in order: q{i} is profile i.
        for i in [0, 1, 65_535, 65_536, N - 1] {
            assert_eq!(db.resolve(&id(&format!("user_id:q{i}"))).unwrap(), Some(ProfileId(i)));
        }
        for k in 0..60 {
            let (text, truth) = random_query(&mut x, 3);
            let expected = memberships.iter().filter(|m| truth(m)).count() as u64;
            assert_eq!(db.query_count(&text).unwrap(), expected, "{text}");
            let q = db.query(&text).unwrap();
            assert_eq!(q.count(), expected, "{text}");
            if k % 6 == 0 {
                // Members, pages and membership tests of the result (flat
                // blocks or a bitmap) equal the set algebra.
                let ids: Vec<ProfileId> = (0..N).filter(|i| truth(&memberships[*i as usize])).map(ProfileId).collect();
                assert_eq!(q.members(0, usize::MAX), ids, "{text}");
                let mid = ids.len() as u64 / 2;
                assert_eq!(q.members(mid, 100), ids.iter().skip(mid as usize).take(100).copied().collect::<Vec<_>>());
                for i in (0..N).step_by(997) {
                    assert_eq!(q.contains(ProfileId(i)), truth(&memberships[i as usize]), "{text}: {i}");
                }
            }
        }
        let report = db.check().unwrap();
        assert!(report.is_clean(), "{report}");
    }
}
