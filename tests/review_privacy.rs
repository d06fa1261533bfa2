//! A privacy review's findings (twenty-third session): what erase and
//! anonymize left behind, each checked against the stored bytes.
//!
//! - an identify whose email a limit refused reached another profile, where
//!   Segment's `traits.email` also set the email as a trait: erase scrubbed
//!   the identifier lists but kept the trait (record, delta, event);
//! - a Segment `alias` whose `previousId` was an erased anonymous id was read
//!   as a `user_id` and linked the erased value again;
//! - a write that came only through the erased person's identifiers, while
//!   merged into a survivor, kept its message id in the survivor's history;
//! - anonymize applied only the top-level rule to nested event properties.

use std::path::Path;
use std::sync::Arc;

use profiledb::event::{parse_line, Event, EventFormat, EventKind, EventLimits};
use profiledb::privacy::{AnonymizeRules, ValueRule};
mod common;

use profiledb::{Error, Identifier, ManualClock, ProfileDb, Timestamp, TraitValue, Update};

const T0: i64 = 1_700_000_000_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).compression(false).open().expect("open");
    (db, clock)
}

fn spec(db: &ProfileDb, line: &str) -> Event {
    parse_line(line, EventFormat::Auto, "line 1", &EventLimits::new(db.now())).expect("a valid message")
}

/// Every raw entry (its column family) whose key or value holds `needle`.
fn raw_hits(db: &ProfileDb, needle: &str) -> Vec<String> {
    let n = needle.as_bytes();
    let holds = |b: &[u8]| b.windows(n.len()).any(|w| w == n);
    db.raw_dump()
        .expect("dump")
        .into_iter()
        .filter(|e| holds(&e.key) || holds(&e.value))
        .map(|e| e.cf.to_string())
        .collect()
}

#[test]
fn erase_removes_the_email_a_refused_identify_set_as_a_trait_on_another_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, clock) = open(dir.path());
    let secret = "zq-secret-7731@example.com";
    db.index_trait("email").expect("index");
    db.define_segment("has_email_trait", "traits.email exists").expect("segment");
    db.identify(&[id("user_id:zed"), id(&format!("email:{secret}"))], Update::new().set("name", "Zed"))
        .expect("identify");
    db.update(&id("user_id:other1"), Update::new().set("email", "own@example.com")).expect("update");
    clock.advance(1_000);
    // Another person's Segment identify names Zed's email (mixed case): the
    // one-user-id limit keeps the email on Zed's profile, the call lands on
    // other1 — with the email as a trait.
    let line = r#"{"type":"identify","messageId":"m5","timestamp":"2023-11-14T10:00:00Z","userId":"other1","traits":{"email":" ZQ-Secret-7731@example.com","color":"red"}}"#;
    db.track(&spec(&db, line)).expect("track");
    let other = db.get(&id("user_id:other1")).expect("get").expect("other1");
    assert_eq!(other.traits.get("email"), Some(&TraitValue::Str(" ZQ-Secret-7731@example.com".into())));
    clock.advance(1_000);

    db.erase(&id(&format!("email:{secret}")), Some("dsar")).expect("erase");
    let after = db.get(&id("user_id:other1")).expect("get").expect("other1 stays");
    // The identify's other trait stays; the email goes back to other1's own.
    assert_eq!(after.traits.get("color"), Some(&TraitValue::Str("red".into())));
    assert_eq!(after.traits.get("email"), Some(&TraitValue::Str("own@example.com".into())));
    for v in 1..=after.version {
        let p = db.get_as_of_version(after.id, v).expect("as of");
        assert_ne!(p.traits.get("email"), Some(&TraitValue::Str(" ZQ-Secret-7731@example.com".into())), "version {v}");
    }
    let events = db.events(after.id, Timestamp(0), Timestamp(i64::MAX)).expect("events");
    assert_eq!(events.len(), 1);
    assert!(events[0].traits.iter().all(|op| op.name() != "email"), "{:?}", events[0].traits);
    assert_eq!(db.check_trait_indexes().expect("check"), vec![]);
    assert_eq!(db.check_segments().expect("check"), vec![]);
    assert_eq!(raw_hits(&db, "ZQ-Secret"), Vec::<String>::new());
    assert_eq!(raw_hits(&db, secret), Vec::<String>::new());
    drop(db);
    assert_eq!(common::files_containing(dir.path(), &["ZQ-Secret"]), Vec::<String>::new());
}

#[test]
fn an_alias_from_an_erased_anonymous_id_is_suppressed_not_read_as_a_user_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open(dir.path());
    let anon = "anon-SECRETANON55";
    db.identify(&[id(&format!("anonymous_id:{anon}")), id("email:zed@example.com")], Update::new().set("x", 1))
        .expect("identify");
    db.erase(&id("email:zed@example.com"), None).expect("erase");
    let line = format!(
        r#"{{"type":"alias","messageId":"a1","timestamp":"2023-11-14T10:00:00Z","userId":"new-user","previousId":"{anon}"}}"#
    );
    let outcome = db.track(&spec(&db, &line));
    assert!(matches!(outcome, Err(Error::Suppressed { .. })), "{outcome:?}");
    assert_eq!(db.resolve(&id(&format!("user_id:{anon}"))).expect("resolve"), None);
    assert_eq!(db.resolve(&id("user_id:new-user")).expect("resolve"), None, "nothing of the call was written");
    assert_eq!(raw_hits(&db, anon), Vec::<String>::new());
}

/// E merges into S, an identify through E's email alone (message id
/// `msg-SECRET-W1`) lands on S, E is split off again; then `forget` E.
fn merged_write_then_split(forget: impl FnOnce(&ProfileDb, &Identifier)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, clock) = open(dir.path());
    let s = id("user_id:s");
    let e = id("email:e-secret@example.com");
    db.update(&s, Update::new().set("plan", "pro")).expect("update");
    db.update(&e, Update::new().set("name", "Zed")).expect("update");
    clock.advance(1_000);
    let r = db.identify(&[s.clone(), e.clone()], Update::new()).expect("identify");
    assert_eq!(r.merged.len(), 1);
    clock.advance(1_000);
    let mut ev = Event::new(EventKind::Identify, "identify", clock.now(), vec![e.clone()]);
    ev.message_id = Some("msg-SECRET-W1".into());
    ev.traits = Update::new().set("city", "SECRETCITY").into_ops();
    db.track(&ev).expect("track");
    clock.advance(1_000);
    db.unmerge(r.profile, &e).expect("unmerge");
    clock.advance(1_000);
    forget(&db, &e);
    for secret in ["msg-SECRET-W1", "SECRETCITY", "e-secret@example.com"] {
        assert_eq!(raw_hits(&db, secret), Vec::<String>::new(), "{secret}");
    }
    assert_eq!(db.get(&s).expect("get").expect("S stays").traits.get("plan"), Some(&TraitValue::Str("pro".into())));
}

#[test]
fn erase_forgets_the_message_id_of_a_write_that_came_only_through_the_person() {
    merged_write_then_split(|db, e| {
        db.erase(e, None).expect("erase");
    });
}

#[test]
fn anonymize_forgets_the_message_id_of_a_write_that_came_only_through_the_person() {
    merged_write_then_split(|db, e| {
        db.anonymize(e, None, None).expect("anonymize");
    });
}

/// Anonymizes a profile whose trait `address.*` and event property
/// `address` hold a city and a street, under `rules`; returns the event's
/// `address` property after it.
fn anonymized_address(rules: &AnonymizeRules) -> Option<serde_json::Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open(dir.path());
    let who = id("email:zed@example.com");
    db.update(&who, Update::new().set("address.city", "Oslo").set("address.street", "SECRETSTREET 1")).expect("update");
    let line = r#"{"type":"track","event":"order","timestamp":"2023-11-14T10:00:00Z","identifiers":{"email":"zed@example.com"},"properties":{"address":{"city":"Oslo","street":"SECRETSTREET 1"}}}"#;
    db.track(&spec(&db, line)).expect("track");
    let rep = db.anonymize(&who, Some(rules), None).expect("anonymize");
    let p = db.get_by_id(rep.profile).expect("get").expect("anonymized profile");
    let events = db.events(rep.profile, Timestamp(0), Timestamp(i64::MAX)).expect("events");
    // The trait and the property follow the same rule.
    let city = p.traits.get("address.city").cloned();
    let event_city = events[0].properties.get_str("address.city").map(|c| TraitValue::Str(c.into()));
    assert_eq!(city, event_city, "trait and event property disagree");
    assert_eq!(p.traits.get("address.street").is_some(), events[0].properties.get_str("address.street").is_some());
    events[0].properties.get("address").map(|a| a.to_json())
}

#[test]
fn anonymize_applies_dotted_rules_inside_nested_event_properties() {
    let keep_city_drop_street =
        AnonymizeRules::default().rule("address", ValueRule::Keep).rule("address.street", ValueRule::Drop);
    assert_eq!(anonymized_address(&keep_city_drop_street), Some(serde_json::json!({"city": "Oslo"})));
    let keep_city_only = AnonymizeRules::default().rule("address.city", ValueRule::Keep);
    assert_eq!(anonymized_address(&keep_city_only), Some(serde_json::json!({"city": "Oslo"})));
    let keep_all = AnonymizeRules::default().rule("address", ValueRule::Keep);
    assert_eq!(anonymized_address(&keep_all), Some(serde_json::json!({"city": "Oslo", "street": "SECRETSTREET 1"})));
    assert_eq!(anonymized_address(&AnonymizeRules::default()), None, "the default drops it");
}
