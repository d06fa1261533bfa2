//! `erase_many`: several people erased in one batch, with one scan of the
//! column families erase sweeps, leave the database as erasing them one by
//! one does; unknown, suppressed and repeated identifiers are reported.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::segment::FeedKind;
use profiledb::{EraseOutcome, Error, Identifier, ManualClock, ProfileDb, Timestamp, Update, MAX_ERASE_MANY};

mod common;
use common::raw_hits;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    ProfileDb::builder(dir).clock(clock).compression(false).open().expect("open the test database")
}

/// The values that must leave the database with the three erased people.
const ERASED_VALUES: &[&str] = &["alice-77", "bob-88", "dora-99"];

fn event(name: &str, who: &Identifier, msg: &str) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(1_700_000_000_000), vec![who.clone()]);
    e.message_id = Some(msg.to_owned());
    e
}

/// Three people to erase and two who stay:
/// - Alice: `user_id:alice-77`, with an anonymous profile merged into hers
///   (a merged-away id) — each had an event with a message id;
/// - Bob: `user_id:bob-88` and `email:bob-88@example.com`; Carl's identify
///   event carried Bob's email, which the one-`user_id` limit refused, so
///   Carl's delta and stored event name it;
/// - Dora: in segment `pro`, with an event;
/// - Carl and Eve stay (Eve in `pro` too);
/// - `user_id:old-11` was erased before.
fn populate(db: &ProfileDb) {
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let (alice, anon) = (id("user_id:alice-77"), id("anonymous_id:anon-alice-77"));
    db.update(&anon, Update::new().set("seen", "alice-77-device")).unwrap();
    db.track(&event("view", &anon, "msg-alice-77-anon")).unwrap();
    db.update(&alice, Update::new().set("name", "alice-77-name")).unwrap();
    db.track(&event("purchase", &alice, "msg-alice-77")).unwrap();
    db.identify(&[alice, anon], Update::new()).unwrap();

    let (bob, bob_email, carl) = (id("user_id:bob-88"), id("email:bob-88@example.com"), id("user_id:carl"));
    db.identify(&[bob.clone(), bob_email.clone()], Update::new().set("plan", "pro")).unwrap();
    db.track(&event("purchase", &bob, "msg-bob-88")).unwrap();
    db.update(&carl, Update::new().set("name", "Carl")).unwrap();
    let mut stitch = Event::new(EventKind::Identify, "identify", Timestamp(1_700_000_000_000), vec![bob_email, carl]);
    stitch.traits = Update::new().set("color", "green").into_ops();
    db.track(&stitch).unwrap();

    let dora = id("user_id:dora-99");
    db.update(&dora, Update::new().set("plan", "pro").set("name", "dora-99-name")).unwrap();
    db.track(&event("purchase", &dora, "msg-dora-99")).unwrap();
    db.update(&id("user_id:eve"), Update::new().set("plan", "pro")).unwrap();

    let old = id("user_id:old-11");
    db.update(&old, Update::new().set("plan", "free")).unwrap();
    db.erase(&old, None).unwrap();
}

/// Every raw entry, as (column family, key, value), except the audit log
/// and meta: they hold the suppression hashes, keyed by a random secret
/// per database, the secret itself and the purge times.
fn dump(db: &ProfileDb) -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    db.raw_dump()
        .unwrap()
        .into_iter()
        .filter(|e| e.cf != "audit" && e.cf != "meta")
        .map(|e| (e.cf, e.key, e.value))
        .collect()
}

fn assert_clean(db: &ProfileDb) {
    let report = db.check().unwrap();
    assert!(report.is_clean(), "check: {report}");
    let segments = db.check_segments().unwrap();
    assert!(segments.is_empty(), "check_segments: {segments:?}");
}

#[test]
fn erase_many_leaves_the_state_erasing_one_by_one_leaves_and_reports_each_identifier() {
    let (one_dir, many_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (one, many) = (open(one_dir.path()), open(many_dir.path()));
    populate(&one);
    populate(&many);
    assert_eq!(dump(&one), dump(&many), "precondition: both databases start alike");
    assert!(!raw_hits(&many, ERASED_VALUES).is_empty(), "precondition: the values are stored");
    let carl = many.resolve(&id("user_id:carl")).unwrap().unwrap();
    assert!(
        many.events(carl, Timestamp(0), Timestamp(i64::MAX))
            .unwrap()
            .iter()
            .any(|e| e.identifiers.contains(&id("email:bob-88@example.com"))),
        "precondition: Carl's stored event names Bob's email"
    );

    let people = [id("user_id:alice-77"), id("email:bob-88@example.com"), id("user_id:dora-99")];
    let mut expected = Vec::new();
    for who in &people {
        expected.push(one.erase(who, Some("batch-1")).unwrap());
    }
    let list = [
        people[0].clone(),
        people[1].clone(),
        id("user_id:nobody"),
        id("user_id:bob-88"), // Bob again, by another identifier
        people[2].clone(),
        id("user_id:old-11"),             // erased before
        people[0].clone(),                // listed twice
        id("anonymous_id:anon-alice-77"), // Alice's merged-away id
    ];
    let report = many.erase_many(&list, Some("batch-1")).unwrap();
    assert_eq!(
        report.outcomes,
        vec![
            EraseOutcome::Erased(expected[0].clone()),
            EraseOutcome::Erased(expected[1].clone()),
            EraseOutcome::NotFound,
            EraseOutcome::SamePersonAs(1),
            EraseOutcome::Erased(expected[2].clone()),
            EraseOutcome::Suppressed,
            EraseOutcome::SamePersonAs(0),
            EraseOutcome::SamePersonAs(0),
        ]
    );
    assert_eq!((report.erased(), report.not_found(), report.same_person()), (3, 2, 3));
    assert_eq!(expected[0].aliases, 1, "Alice's anonymous profile merged into hers");
    assert_eq!(expected[1].identifiers, 2);

    assert_eq!(dump(&many), dump(&one), "erase_many leaves what erasing one by one leaves");
    for db in [&one, &many] {
        assert_eq!(raw_hits(db, ERASED_VALUES), Vec::<String>::new());
        assert_clean(db);
        assert!(!db.purge_pending().unwrap());
        for who in list.iter().filter(|i| i.value() != "nobody") {
            assert!(db.is_suppressed(who).unwrap(), "{who} is suppressed");
            let refused = db.update(who, Update::new().set("x", 1)).unwrap_err();
            assert!(matches!(refused, Error::Suppressed { .. }), "{who}: {refused:?}");
        }
        assert_eq!(db.segment_members("pro", 0, 10).unwrap().len(), 1, "only Eve stays in pro");
        let erased_feed = db.feed(0, 1000).unwrap().into_iter().filter(|r| r.kind == FeedKind::Erased).count();
        assert_eq!(erased_feed, 4, "one Erased record per person (and the earlier erase's)");
    }
    let audit = many.audit_log().unwrap();
    let batch: Vec<_> = audit.iter().filter(|r| r.request_id.as_deref() == Some("batch-1")).collect();
    let erased_ids: Vec<u32> = expected.iter().map(|r| r.profile.0).collect();
    assert_eq!(batch.iter().map(|r| r.profile).collect::<Vec<_>>(), erased_ids, "one audit record per person");
    assert!(batch.windows(2).all(|w| w[1].seq == w[0].seq + 1), "consecutive sequence numbers: {batch:?}");
    assert!(batch.iter().all(|r| r.entries > 0));
    // Still usable: a new person with new identifiers.
    many.update(&id("user_id:fay"), Update::new().set("plan", "pro")).unwrap();
    assert_clean(&many);
}

#[test]
fn erase_many_refuses_an_empty_or_oversized_list_and_writes_nothing_when_nobody_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    populate(&db);
    let before = db.raw_dump().unwrap();

    let empty = db.erase_many(&[], None).unwrap_err();
    assert!(matches!(&empty, Error::InvalidInput(m) if m.contains("empty")), "{empty:?}");
    let too_many: Vec<Identifier> = (0..=MAX_ERASE_MANY).map(|i| id(&format!("user_id:u{i}"))).collect();
    let over = db.erase_many(&too_many, None).unwrap_err();
    assert!(matches!(&over, Error::InvalidInput(m) if m.contains("10000")), "{over:?}");

    let report = db.erase_many(&[id("user_id:nobody"), id("user_id:old-11")], Some("r")).unwrap();
    assert_eq!(report.outcomes, vec![EraseOutcome::NotFound, EraseOutcome::Suppressed]);
    assert_eq!(report.erased(), 0);
    let after = db.raw_dump().unwrap();
    assert!(before.iter().map(|e| (&e.key, &e.value)).eq(after.iter().map(|e| (&e.key, &e.value))), "nothing written");
    assert_eq!(db.audit_log().unwrap().len(), 1, "only the earlier erase's record");
    assert!(db.resolve(&id("user_id:alice-77")).unwrap().is_some());
}
