//! Erase (and anonymize) remove the erased person's identifier values from
//! the rollup accumulators of OTHER profiles: a track whose link to the
//! person was refused stays on another profile, and its properties holding
//! the person's email (or numeric user id) reached that profile's value
//! sets, sums and extremes. The scrubbed events and the buckets must agree
//! afterwards, and no family may still hold the value.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, FilterOp, Literal, RollupDef, RollupValue, Window};
use profiledb::{Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

mod common;
use common::raw_hits;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path, configure: impl FnOnce(profiledb::Builder) -> profiledb::Builder) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    configure(ProfileDb::builder(dir).clock(clock).compression(false)).open().expect("open the test database")
}

fn assert_clean(db: &ProfileDb) {
    let report = db.check().unwrap();
    assert!(report.is_clean(), "check: {report}");
}

/// The rollups every test declares: over `purchase.email` (value sets) and
/// over `purchase.code` (numbers: a user id of the erased person).
fn declare(db: &ProfileDb) {
    for def in [
        RollupDef::new("emails", "purchase", Aggregate::Unique("email".into())),
        RollupDef::new("top_email", "purchase", Aggregate::MostFrequent("email".into())),
        RollupDef::new("codes", "purchase", Aggregate::Sum("code".into())),
        RollupDef::new("top_code", "purchase", Aggregate::Max("code".into())),
        RollupDef::new("low_code", "purchase", Aggregate::Min("code".into())),
        // Filtered on the numeric property: the events that lose it leave the series.
        RollupDef::new("big_codes", "purchase", Aggregate::Count).filter("code", FilterOp::Gt, Literal::Num(100.0)),
    ] {
        db.declare_rollup(def).unwrap();
    }
}

/// A person with `user_id:<code>` and `email:<email>`; returns the email identifier.
fn person(db: &ProfileDb, code: i64, email: &str) -> Identifier {
    let email = id(&format!("email:{email}"));
    db.identify(&[id(&format!("user_id:{code}")), email.clone()], Update::new().set("plan", "pro")).unwrap();
    email
}

/// A purchase at `at` on `other` (user_id), carrying `email` and `code`;
/// `named` (the person's email identifier) is named too — the link it asks
/// for is refused (two user ids), so the event stays on `other`.
fn purchase(db: &ProfileDb, other: &str, at: i64, named: Option<&Identifier>, email: &str, code: i64) -> ProfileId {
    let mut ids = vec![id(&format!("user_id:{other}"))];
    ids.extend(named.cloned());
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), ids);
    e.properties.insert("email", email);
    e.properties.insert("code", code);
    let p = match db.track(&e).unwrap() {
        IngestOutcome::Applied(r) => r.profile,
        other => panic!("not applied: {other:?}"),
    };
    assert_eq!(Some(p), db.resolve(&id(&format!("user_id:{other}"))).unwrap(), "the event stayed on {other}");
    p
}

fn unique(db: &ProfileDb, p: ProfileId) -> (u64, Vec<String>) {
    match db.rollup(p, "emails", Window::All).unwrap() {
        RollupValue::Unique { count, values, complete } => {
            assert!(complete);
            (count, values)
        }
        other => panic!("{other:?}"),
    }
}

fn most_frequent(db: &ProfileDb, p: ProfileId) -> Option<String> {
    match db.rollup(p, "top_email", Window::All).unwrap() {
        RollupValue::MostFrequent { value, .. } => value,
        other => panic!("{other:?}"),
    }
}

fn number(db: &ProfileDb, p: ProfileId, name: &str) -> Option<f64> {
    match db.rollup(p, name, Window::All).unwrap() {
        RollupValue::Number(x) => x,
        other => panic!("{other:?}"),
    }
}

/// The other profile's own values, read back after the erase.
fn assert_only_own_values(db: &ProfileDb, p: ProfileId, own: &[&str], sum: f64, max: f64, min: f64) {
    let (count, values) = unique(db, p);
    assert_eq!((count, values.iter().map(String::as_str).collect::<Vec<_>>()), (own.len() as u64, own.to_vec()));
    assert_eq!(most_frequent(db, p).as_deref(), own.first().copied());
    assert_eq!(number(db, p, "codes"), Some(sum));
    assert_eq!(number(db, p, "top_code"), Some(max));
    assert_eq!(number(db, p, "low_code"), Some(min));
}

/// The brief's repro: the value of the refused email (and the person's
/// numeric user id) reached the other profile's Unique, MostFrequent, Sum,
/// Max and Min rollups; erase takes them out and the buckets equal their
/// scrubbed events.
#[test]
fn erase_removes_the_value_from_other_profiles_value_sets_and_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    declare(&db);
    let zed = person(&db, 4242, "zed@example.com");
    let o1 = purchase(&db, "o1", T0 - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * DAY - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 3 * HOUR, None, "o1@example.com", 7);
    purchase(&db, "o1", T0 - 2 * DAY, None, "o1@example.com", 5);
    assert_eq!(unique(&db, o1).0, 2);
    assert_eq!(most_frequent(&db, o1).as_deref(), Some("zed@example.com"));
    assert_eq!(number(&db, o1, "top_code"), Some(4242.0));
    assert_eq!(db.rollup(o1, "big_codes", Window::All).unwrap(), RollupValue::Count(3));
    assert_clean(&db);

    db.erase(&zed, Some("dsar-zed")).unwrap();
    let hits = raw_hits(&db, &["zed@example.com", "4242"]);
    assert!(hits.is_empty(), "the erased values are still stored: {hits:?}");
    assert_only_own_values(&db, o1, &["o1@example.com"], 12.0, 7.0, 5.0);
    assert_eq!(db.rollup(o1, "big_codes", Window::All).unwrap(), RollupValue::Count(0));
    assert_eq!(db.event_stats(o1, "purchase", Window::All).unwrap().count, 5, "the events stay");
    assert_clean(&db);
    // Reopened: what is stored says the same (no cache involved).
    drop(db);
    let db = open(dir.path(), |b| b);
    assert_only_own_values(&db, o1, &["o1@example.com"], 12.0, 7.0, 5.0);
    assert_clean(&db);
}

/// Buckets the timelines no longer cover: one day bucket whose events
/// timeline retention deleted, and one day folded by bucket retention into
/// the retired accumulator (its events gone too). Nothing is left to
/// recompute them from; the values are taken out of them as stored.
#[test]
fn erase_removes_the_value_from_retired_and_uncovered_buckets() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b.timeline_retention(2 * DAY).rollup_bucket_retention(4 * DAY));
    declare(&db);
    let zed = person(&db, 4242, "zed@example.com");
    // Retired (6 days back), uncovered day bucket (3 days back), covered (now).
    let o1 = purchase(&db, "o1", T0 - 6 * DAY, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 6 * DAY + HOUR, None, "o1@example.com", 3);
    purchase(&db, "o1", T0 - 3 * DAY, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 3 * DAY + HOUR, None, "o1@example.com", 9);
    purchase(&db, "o1", T0 - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * HOUR, None, "o2@example.com", 5);
    let pass = db.enforce_retention().unwrap();
    assert!(pass.complete && pass.buckets_folded > 0 && pass.timelines_trimmed > 0, "{pass:?}");
    assert_eq!(db.events(o1, Timestamp(i64::MIN), Timestamp(i64::MAX)).unwrap().len(), 2);
    assert_eq!(unique(&db, o1).0, 3);
    assert_clean(&db);

    db.erase(&zed, None).unwrap();
    let hits = raw_hits(&db, &["zed@example.com", "4242"]);
    assert!(hits.is_empty(), "the erased values are still stored: {hits:?}");
    let (count, values) = unique(&db, o1);
    assert_eq!((count, values), (2, vec!["o1@example.com".to_owned(), "o2@example.com".to_owned()]));
    assert_eq!(most_frequent(&db, o1).as_deref(), Some("o1@example.com"));
    assert_eq!(number(&db, o1, "codes"), Some(17.0));
    assert_eq!(number(&db, o1, "top_code"), Some(9.0));
    assert_eq!(number(&db, o1, "low_code"), Some(3.0));
    // The events are still counted: only their property went.
    assert_eq!(db.event_stats(o1, "purchase", Window::All).unwrap().count, 6);
    assert_clean(&db);
}

/// Timelines off: no event is stored, so every bucket is taken as stored.
#[test]
fn erase_removes_the_value_when_timelines_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b.timeline_retention(0));
    declare(&db);
    let zed = person(&db, 4242, "zed@example.com");
    let o1 = purchase(&db, "o1", T0 - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * HOUR, None, "o1@example.com", 7);
    db.erase(&zed, None).unwrap();
    let hits = raw_hits(&db, &["zed@example.com", "4242"]);
    assert!(hits.is_empty(), "the erased values are still stored: {hits:?}");
    assert_only_own_values(&db, o1, &["o1@example.com"], 7.0, 7.0, 7.0);
    assert_clean(&db);
}

/// `erase_many` of two people both referenced by two other profiles.
#[test]
fn erase_many_removes_every_persons_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    declare(&db);
    let zed = person(&db, 4242, "zed@example.com");
    let amy = person(&db, 3131, "amy@example.com");
    let o1 = purchase(&db, "o1", T0 - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * HOUR, Some(&amy), "amy@example.com", 3131);
    purchase(&db, "o1", T0 - 3 * HOUR, None, "o1@example.com", 2);
    let o2 = purchase(&db, "o2", T0 - DAY, Some(&amy), "amy@example.com", 3131);
    purchase(&db, "o2", T0 - DAY - HOUR, None, "o2@example.com", 4);
    assert_eq!(unique(&db, o1).0, 3);

    let report = db.erase_many(&[zed, amy], None).unwrap();
    assert_eq!(report.erased(), 2);
    let hits = raw_hits(&db, &["zed@example.com", "amy@example.com", "4242", "3131"]);
    assert!(hits.is_empty(), "the erased values are still stored: {hits:?}");
    assert_only_own_values(&db, o1, &["o1@example.com"], 2.0, 2.0, 2.0);
    assert_only_own_values(&db, o2, &["o2@example.com"], 4.0, 4.0, 4.0);
    assert_clean(&db);
}

/// Anonymize redacts other profiles' references as erase does: their
/// accumulators lose the person's values too.
#[test]
fn anonymize_removes_the_value_from_other_profiles_rollups() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    declare(&db);
    let zed = person(&db, 4242, "zed@example.com");
    let o1 = purchase(&db, "o1", T0 - HOUR, Some(&zed), "zed@example.com", 4242);
    purchase(&db, "o1", T0 - 2 * HOUR, None, "o1@example.com", 7);
    // The rollup cache holds o1's series before the anonymize.
    assert_eq!(unique(&db, o1).0, 2);
    let report = db.anonymize(&zed, None, None).unwrap();
    assert!(report.references_redacted > 0, "{report:?}");
    let hits = raw_hits(&db, &["zed@example.com", "4242"]);
    assert!(hits.is_empty(), "the anonymized values are still stored: {hits:?}");
    assert_only_own_values(&db, o1, &["o1@example.com"], 7.0, 7.0, 7.0);
    assert_clean(&db);
}
