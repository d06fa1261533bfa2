//! Segment maintenance against retention, anonymization and wake-ups:
//! memberships that read folded day buckets, refused windows, and the
//! batch a membership change commits in.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupValue};
use profiledb::segment::{FeedKind, FeedRecord};
use profiledb::{Clock, Error, Identifier, ManualClock, ProfileDb, Timestamp, Update};

mod common;
use common::brute_force_rollup;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
/// Noon of a day in 2023.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY + DAY / 2;

fn user() -> Identifier {
    Identifier::new("user_id", "u1").unwrap()
}

fn purchase(at: i64) -> Event {
    Event::new(EventKind::Track, "purchase", Timestamp(at), vec![user()])
}

/// The number of purchases in `[from, to)` by brute force over `times`.
fn count_in(times: &[i64], from: i64, to: i64) -> u64 {
    let picked: Vec<(i64, i64)> = times.iter().filter(|t| (from..to).contains(*t)).map(|&t| (t, 1)).collect();
    match brute_force_rollup(&Aggregate::Count, &picked) {
        RollupValue::Count(n) => n,
        other => panic!("a count, not {other:?}"),
    }
}

/// Asserts that the stored memberships equal a fresh evaluation and that
/// the whole database checks clean.
fn assert_clean(db: &ProfileDb) {
    assert_eq!(db.check_segments().unwrap(), vec![]);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

/// Trigger B: an all-time condition, its buckets folded by retention, then
/// one future-dated event (so the all-time shortcut no longer applies):
/// the folded purchases still count, and `last` still sees them.
#[test]
fn all_time_conditions_still_count_folded_buckets_after_a_future_dated_event() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).rollup_bucket_retention(30 * DAY).open().unwrap();
    db.define_segment("loyal", "count(purchase) >= 3").unwrap();
    db.define_segment("lapsed", "last(purchase) < now - 30d").unwrap();
    let mut times = vec![T0 - 60 * DAY, T0 - 60 * DAY + HOUR, T0 - 60 * DAY + 2 * HOUR];
    for &t in &times {
        db.track(&purchase(t)).unwrap();
    }
    let p = db.resolve(&user()).unwrap().unwrap();
    assert!(db.in_segment("loyal", p).unwrap() && db.in_segment("lapsed", p).unwrap());
    let pass = db.enforce_retention().unwrap();
    assert_eq!(pass.buckets_folded, 1, "the day 60 days back is folded");
    assert_clean(&db);
    // Stamped an hour ahead (within the default clock skew).
    times.push(T0 + HOUR);
    db.track(&purchase(T0 + HOUR)).unwrap();
    assert_eq!(count_in(&times, i64::MIN, T0 + 1), 3);
    assert!(db.in_segment("loyal", p).unwrap(), "three purchases up to now, two of them folded");
    assert!(db.in_segment("lapsed", p).unwrap(), "the last purchase up to now was 60 days ago");
    assert_clean(&db);
    // Once the future purchase comes due, it counts (and the profile is no longer lapsed).
    clock.set(Timestamp(T0 + 2 * HOUR));
    db.tick().unwrap();
    assert!(db.in_segment("loyal", p).unwrap());
    assert!(!db.in_segment("lapsed", p).unwrap());
    assert_clean(&db);
}

/// Trigger A on a definition stored before bucket retention was turned on
/// (new definitions with such windows are refused, below): the window
/// reaches into the folded days, so it is answered from the timeline, which
/// still holds them — membership follows a brute-force count through the
/// retention pass, writes and wake-ups, and check stays clean.
#[test]
fn a_window_reaching_into_folded_buckets_keeps_exact_membership() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let times = [T0 - 100 * DAY, T0 - 80 * DAY, T0 - 60 * DAY];
    let p = {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        db.define_segment("repeat", "count(purchase, 90d) >= 2").unwrap();
        for &t in &times {
            db.track(&purchase(t)).unwrap();
        }
        let p = db.resolve(&user()).unwrap().unwrap();
        assert!(db.in_segment("repeat", p).unwrap());
        p
    };
    // The clock jumps 21 days at once below.
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .rollup_bucket_retention(30 * DAY)
        .max_clock_jump(0)
        .open()
        .unwrap();
    let member = |now: i64| count_in(&times, now + 1 - 90 * DAY, now + 1) >= 2;
    let pass = db.enforce_retention().unwrap();
    assert_eq!(pass.buckets_folded, 3);
    assert_eq!(db.in_segment("repeat", p).unwrap(), member(T0));
    assert!(db.in_segment("repeat", p).unwrap());
    assert_clean(&db);
    // A write re-evaluates the profile: still a member (the true count is 2).
    db.update(&user(), Update::new().set("plan", "pro")).unwrap();
    assert!(db.in_segment("repeat", p).unwrap());
    assert_clean(&db);
    // 21 days on, the purchase 80 days back has left the window.
    clock.set(Timestamp(T0 + 21 * DAY));
    db.tick().unwrap();
    assert_eq!(db.in_segment("repeat", p).unwrap(), member(T0 + 21 * DAY));
    assert!(!db.in_segment("repeat", p).unwrap());
    assert_clean(&db);
}

/// A windowed condition longer than what retention keeps is refused at
/// definition and query time, naming the segment, the condition and the
/// retention; nothing is written.
#[test]
fn windows_longer_than_retention_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path())
        .clock(clock)
        .timeline_retention(60 * DAY)
        .rollup_bucket_retention(30 * DAY)
        .open()
        .unwrap();
    db.track(&purchase(T0 - DAY)).unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.define_segment("repeat", "count(purchase, 90d) >= 2").unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    let msg = err.to_string();
    for part in ["\"repeat\"", "count(purchase, 90d) >= 2", "rollup_bucket_retention", "30d"] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    let err = db.define_segment("big", "traits.plan = \"pro\" or sum(purchase.amount, 31d) > 10").unwrap_err();
    assert!(err.to_string().contains("sum(purchase.amount, 31d) > 10"), "{err}");
    // A query is refused only past the timeline retention: within it the
    // timeline answers exactly (see the test below).
    let err = db.query("count(purchase, 61d) >= 1").unwrap_err();
    assert!(err.to_string().contains("timeline_retention"), "{err}");
    assert_eq!(db.query_count("count(purchase, 45d) >= 1").unwrap(), 1);
    assert_eq!(db.raw_dump().unwrap(), before, "a refused definition writes nothing");
    // Within retention, and all time, are fine.
    assert_eq!(db.define_segment("recent", "count(purchase, 30d) >= 1").unwrap(), 1);
    assert_eq!(db.define_segment("ever", "count(purchase) >= 1").unwrap(), 1);
    // The timeline retention limits windows too.
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).timeline_retention(60 * DAY).open().unwrap();
    let err = db.define_segment("repeat", "count(purchase, 90d) >= 2").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("\"repeat\"") && msg.contains("timeline_retention") && msg.contains("60d"), "{msg}");
    assert_eq!(db.define_segment("repeat", "count(purchase, 60d) >= 2").unwrap(), 0);
}

/// After a retention pass folded the day buckets past the bucket
/// retention, a query whose window reaches past it (but not past the
/// timeline retention) is answered exactly from the timeline, as a stored
/// segment reading such a window is — for conditions the buckets answer
/// and for those only the timeline answers.
#[test]
fn queries_past_the_bucket_retention_read_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path())
        .clock(clock.clone())
        .timeline_retention(60 * DAY)
        .rollup_bucket_retention(20 * DAY)
        .open()
        .unwrap();
    let amounts = [(T0 - 40 * DAY, 300), (T0 - 25 * DAY, 50), (T0 - 2 * DAY, 7)];
    for (at, amount) in amounts {
        let mut e = purchase(at);
        e.properties.insert("amount", amount);
        db.track(&e).unwrap();
    }
    let pass = db.enforce_retention().unwrap();
    assert!(pass.buckets_folded > 0, "{pass:?}");
    for (expr, want) in [
        ("count(purchase, 30d) = 2", 1),
        ("count(purchase, 45d) = 3", 1),
        ("count(purchase, 45d) = 2", 0),
        ("sum(purchase.amount, 30d) = 57", 1),
        ("sum(purchase.amount, 45d) = 357", 1),
        ("count(purchase where amount > 10, 30d) = 1", 1),
        ("distinct(purchase.amount, 45d) = 3", 1),
        ("last(purchase) > now - 3d", 1),
    ] {
        assert_eq!(db.query_count(expr).unwrap(), want, "{expr}");
    }
    let err = db.query("count(purchase, 61d) >= 1").unwrap_err();
    assert!(err.to_string().contains("timeline_retention is 60d"), "{err}");
    // A definition is still held to the bucket retention.
    let err = db.define_segment("month", "count(purchase, 30d) >= 1").unwrap_err();
    assert!(err.to_string().contains("rollup_bucket_retention"), "{err}");
}

/// A clock that moves on by a millisecond at every reading, so two
/// transactions of one operation get different instants.
#[derive(Debug)]
struct SteppingClock(AtomicI64);

impl Clock for SteppingClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.fetch_add(1, Ordering::SeqCst))
    }
}

/// Anonymization updates segment membership in its own batch: the exit it
/// causes is recorded (feed and membership history) at the instant of the
/// anonymization, with no later commit between — so no reader sees the
/// anonymized profile still in `has email`, and no crash can keep it there.
#[test]
fn anonymize_changes_membership_in_its_own_batch() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(SteppingClock(AtomicI64::new(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock).open().unwrap();
    let email = Identifier::new("email", "ada@example.com").unwrap();
    db.update(&email, Update::new().set("plan", "pro")).unwrap();
    assert_eq!(db.define_segment("reachable", "has email").unwrap(), 1);
    let feed = db.subscribe();
    let p = db.anonymize(&email, None, None).unwrap().profile;
    let anonymized_at = db.get_by_id(p).unwrap().unwrap().updated_at;
    let records: Vec<FeedRecord> = feed.try_iter().collect();
    let exits: Vec<&FeedRecord> = records
        .iter()
        .filter(|r| r.kind == FeedKind::Exited && r.segment.as_deref() == Some("reachable") && r.profile == p)
        .collect();
    assert_eq!(exits.len(), 1, "{records:?}");
    assert_eq!(exits[0].at, anonymized_at, "the exit is committed with the anonymization");
    assert!(!db.was_member(p, "reachable", anonymized_at).unwrap());
    assert!(db.was_member(p, "reachable", Timestamp(anonymized_at.0 - 1)).unwrap());
    assert!(!db.in_segment("reachable", p).unwrap());
    assert_clean(&db);
}

/// A stored segment whose window the timeline no longer holds under the
/// retention a handle opens with is refused at open (its evaluations could
/// only fail); a shorter bucket retention alone is fine (the timeline
/// answers), and a read-only handle opens either way.
#[test]
fn reopening_with_a_timeline_shorter_than_a_stored_window_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = ProfileDb::builder(dir.path()).open().unwrap();
        db.define_segment("repeat", "count(purchase, 90d) >= 2").unwrap();
    }
    let err = ProfileDb::builder(dir.path()).timeline_retention(60 * DAY).open().map(|_| ()).unwrap_err();
    let msg = err.to_string();
    for part in ["\"repeat\"", "count(purchase, 90d) >= 2", "timeline_retention", "60d"] {
        assert!(msg.contains(part), "{part:?} missing from: {msg}");
    }
    ProfileDb::builder(dir.path())
        .timeline_retention(60 * DAY)
        .access_mode(profiledb::AccessMode::ReadOnly)
        .open()
        .expect("a read-only handle opens");
    ProfileDb::builder(dir.path()).rollup_bucket_retention(30 * DAY).open().expect("the timeline answers");
    let db = ProfileDb::builder(dir.path()).timeline_retention(90 * DAY).open().expect("the timeline holds 90 days");
    db.drop_segment("repeat").unwrap();
    drop(db);
    ProfileDb::builder(dir.path()).timeline_retention(60 * DAY).open().expect("nothing left to refuse");
}

#[test]
fn segment_names_that_are_words_of_the_language_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    for word in ["all", "not", "now", "and"] {
        let err = db.define_segment(word, "has email").unwrap_err();
        assert!(matches!(&err, Error::InvalidInput(m) if m.contains("a word of the expression language")), "{err}");
    }
    assert!(db.segments().is_empty(), "nothing was defined");
    db.define_segment("all_users", "has email").unwrap();
    assert_eq!(db.query_count("in all_users").unwrap(), 0);
}
