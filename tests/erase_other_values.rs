//! Erase and the erased identifiers' values that OTHER profiles hold
//! without naming the person: a trait of another profile (`referred_by`,
//! indexed), a list trait holding it, an event property (`invitee_email`,
//! nested too). Erase removes them from the profile record, its deltas and
//! snapshots, the trait index and the stored events, in the same batch.

use std::sync::Arc;

use profiledb::event::property::Properties;
use profiledb::event::{Event, EventKind};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, TraitValue, Update};

mod common;
use common::{files_containing, raw_hits};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    // A snapshot at every version: every state of the history is stored.
    let db = ProfileDb::builder(dir)
        .clock(clock.clone())
        .compression(false)
        .snapshot_every(1)
        .open()
        .expect("open the test database");
    (db, clock)
}

fn assert_clean(db: &ProfileDb) {
    let report = db.check().unwrap();
    assert!(report.is_clean(), "check: {report}");
}

/// Bob refers `victim`: an indexed trait, a list trait, and a referral
/// event whose properties hold it (top level, nested, in a list).
fn refer(db: &ProfileDb, clock: &ManualClock, bob: &Identifier, victim: &str) {
    db.update(bob, Update::new().set("referred_by", victim).set("name", "Bob")).unwrap();
    clock.advance(1000);
    db.update(bob, Update::new().add_to_set("invited", [victim, "amy.keep@example.com"])).unwrap();
    clock.advance(1000);
    let mut e = Event::new(EventKind::Track, "referral_sent", clock.now(), vec![bob.clone()]);
    e.properties = Properties::from_json(&serde_json::json!({
        "invitee_email": victim,
        "channel": "mail",
        "to": {"address": victim, "kind": "friend"},
        "cc": [victim, "amy.keep@example.com"],
    }))
    .unwrap();
    db.track(&e).unwrap();
    clock.advance(1000);
}

fn bob_in_referred(db: &ProfileDb, bob: profiledb::ProfileId) -> bool {
    db.segment_members("referred", 0, 100).unwrap().contains(&bob)
}

#[test]
fn erase_removes_the_value_from_other_profiles_traits_index_history_and_events() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.index_trait("referred_by").unwrap();
    db.define_segment("referred", "traits.referred_by exists").unwrap();
    let victim = "zed.other7781@example.com";
    let zed = id(&format!("email:{victim}"));
    db.update(&zed, Update::new().set("plan", "pro")).unwrap();
    let bob = id("user_id:bob");
    refer(&db, &clock, &bob, victim);
    let bid = db.get(&bob).unwrap().unwrap().id;
    let query = format!(r#"traits.referred_by = "{victim}""#);
    assert_eq!(db.query(&query).unwrap().count(), 1);
    assert!(bob_in_referred(&db, bid));
    assert!(!raw_hits(&db, &[victim]).is_empty());

    db.erase(&zed, Some("dsar")).unwrap();

    let p = assert_bob_keeps_only_his_own(&db, &bob, victim);
    for v in 1..=p.version {
        let old = db.get_as_of_version(bid, v).unwrap();
        assert_eq!(old.traits.get("name"), Some(&TraitValue::from("Bob")), "version {v}");
    }
    let then = db.get_as_of_time(bid, clock.now()).unwrap().unwrap();
    assert!(!format!("{then:?}").contains(victim));
    for d in db.history(bid).unwrap() {
        assert!(!format!("{d:?}").contains(victim), "{d:?}");
    }
    // The trait index no longer files bob under the value.
    assert_eq!(db.query(&query).unwrap().count(), 0);
    // Segment membership re-evaluated in the same batch.
    assert!(!bob_in_referred(&db, bid));
    let events = db.events(bid, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events.len(), 1);
    let props = events[0].properties.to_json();
    assert_eq!(
        props,
        serde_json::json!({"channel": "mail", "to": {"kind": "friend"}, "cc": ["amy.keep@example.com"]}),
        "{props}"
    );
    assert_clean(&db);
    drop(db);
    assert_eq!(files_containing(dir.path(), &[victim]), Vec::<String>::new());
    // Reopened: still clean, still gone.
    let (db, _) = open(dir.path());
    assert_eq!(db.query(&query).unwrap().count(), 0);
    assert_clean(&db);
}

/// A log the erase also redacts for naming the person (an identify whose
/// email a limit refused) and that holds the value in another trait: both
/// rewrites compose, and the history still replays.
#[test]
fn erase_removes_values_from_a_log_that_also_names_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let victim = "zed.named4410@example.com";
    let (zed_user, zed_email) = (id("user_id:zed"), id(&format!("email:{victim}")));
    db.identify(&[zed_user.clone(), zed_email.clone()], Update::new().set("plan", "pro")).unwrap();
    let bob = id("user_id:bob");
    refer(&db, &clock, &bob, victim);
    // One user id per profile: the email stays on zed, bob's delta names it.
    let mut e = Event::new(EventKind::Identify, "identify", clock.now(), vec![zed_email.clone(), bob.clone()]);
    e.traits = Update::new().set("color", "green").set("email", victim).into_ops();
    db.track(&e).unwrap();
    clock.advance(1000);
    db.update(&bob, Update::new().set("color", "blue")).unwrap();
    let bid = db.get(&bob).unwrap().unwrap().id;

    db.erase(&zed_user, None).unwrap();

    assert_eq!(raw_hits(&db, &[victim]), Vec::<String>::new());
    let p = db.get(&bob).unwrap().unwrap();
    assert_eq!(p.traits.get("color"), Some(&TraitValue::from("blue")));
    assert_eq!(p.traits.get("referred_by"), None);
    for v in 1..=p.version {
        let old = db.get_as_of_version(bid, v).unwrap();
        assert!(!format!("{old:?}").contains(victim), "version {v}: {old:?}");
    }
    assert_clean(&db);
}

#[test]
fn erase_many_removes_the_values_of_every_person() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.index_trait("referred_by").unwrap();
    let (v1, v2) = ("zed.many1@example.com", "yan.many2@example.com");
    let (zed, yan) = (id(&format!("email:{v1}")), id(&format!("email:{v2}")));
    db.update(&zed, Update::new().set("plan", "pro")).unwrap();
    db.update(&yan, Update::new().set("plan", "free")).unwrap();
    let (bob, cat) = (id("user_id:bob"), id("user_id:cat"));
    refer(&db, &clock, &bob, v1);
    refer(&db, &clock, &cat, v2);
    // Bob's list holds both.
    db.update(&bob, Update::new().add_to_set("invited", [v2])).unwrap();

    let report = db.erase_many(&[zed, yan], Some("dsar-batch")).unwrap();
    assert_eq!(report.erased(), 2);

    assert_eq!(raw_hits(&db, &[v1, v2]), Vec::<String>::new());
    for who in [&bob, &cat] {
        let p = db.get(who).unwrap().unwrap();
        assert_eq!(p.traits.get("referred_by"), None);
        assert_eq!(p.traits.get("invited"), Some(&TraitValue::List(vec!["amy.keep@example.com".into()])));
    }
    for v in [v1, v2] {
        assert_eq!(db.query(&format!(r#"traits.referred_by = "{v}""#)).unwrap().count(), 0);
    }
    assert_clean(&db);
    drop(db);
    assert_eq!(files_containing(dir.path(), &[v1, v2]), Vec::<String>::new());
}

/// A profile holding the value merged into another and was split off
/// again: the merge's loser state, the survivor's merged states, the
/// split-off profile's own log and snapshots all lose it; every log still
/// replays (`check`), and the unmerge's states read without it.
#[test]
fn erase_removes_values_carried_by_merges_and_unmerges() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.index_trait("referred_by").unwrap();
    let victim = "zed.merged5150@example.com";
    let zed = id(&format!("email:{victim}"));
    db.update(&zed, Update::new().set("plan", "pro")).unwrap();
    let (bob, anon) = (id("user_id:bob"), id("anonymous_id:b-device"));
    db.update(&bob, Update::new().set("name", "Bob")).unwrap();
    clock.advance(1000);
    refer(&db, &clock, &anon, victim);
    db.identify(&[bob.clone(), anon.clone()], Update::new().set("color", "red")).unwrap();
    clock.advance(1000);
    let bid = db.get(&bob).unwrap().unwrap().id;
    assert_eq!(db.get(&bob).unwrap().unwrap().traits.get("referred_by"), Some(&TraitValue::from(victim)));
    db.unmerge(bid, &anon).unwrap();
    clock.advance(1000);
    db.identify(&[bob.clone(), anon.clone()], Update::new()).unwrap();
    let merged_at = db.get(&bob).unwrap().unwrap().version;

    db.erase(&zed, None).unwrap();

    let p = assert_bob_keeps_only_his_own(&db, &bob, victim);
    assert_eq!(p.version, merged_at);
    assert_eq!(db.query(&format!(r#"traits.referred_by = "{victim}""#)).unwrap().count(), 0);
    assert_clean(&db);
    drop(db);
    assert_eq!(files_containing(dir.path(), &[victim]), Vec::<String>::new());
}

/// Only strings that are the erased identifier go: a number equal to a
/// numeric user id, and strings that merely contain the value, stay.
#[test]
fn erase_keeps_numbers_and_strings_that_only_contain_the_value() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let zed = id("user_id:4242");
    db.update(&zed, Update::new().set("plan", "pro")).unwrap();
    let bob = id("user_id:bob");
    db.update(&bob, Update::new().set("age", 4242).set("code", "x4242").set("ref", "4242")).unwrap();
    let mut e = Event::new(EventKind::Track, "order", clock.now(), vec![bob.clone()]);
    e.properties = Properties::from_json(&serde_json::json!({"qty": 4242, "sku": "4242-b", "ref": "4242"})).unwrap();
    db.track(&e).unwrap();
    let bid = db.get(&bob).unwrap().unwrap().id;

    db.erase(&zed, None).unwrap();

    let p = db.get(&bob).unwrap().unwrap();
    assert_eq!(p.traits.get("age"), Some(&TraitValue::Int(4242)));
    assert_eq!(p.traits.get("code"), Some(&TraitValue::from("x4242")));
    assert_eq!(p.traits.get("ref"), None);
    let events = db.events(bid, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events[0].properties.to_json(), serde_json::json!({"qty": 4242, "sku": "4242-b"}));
    assert_clean(&db);
}

/// No trace of `victim` in the raw dump; Bob's profile (returned) has lost
/// `referred_by` and kept his own traits, and none of his versions shows
/// the value.
fn assert_bob_keeps_only_his_own(db: &ProfileDb, bob: &Identifier, victim: &str) -> std::sync::Arc<profiledb::Profile> {
    assert_eq!(raw_hits(db, &[victim]), Vec::<String>::new());
    let p = db.get(bob).unwrap().unwrap();
    assert_eq!(p.traits.get("referred_by"), None);
    assert_eq!(p.traits.get("name"), Some(&TraitValue::from("Bob")));
    assert_eq!(p.traits.get("invited"), Some(&TraitValue::List(vec!["amy.keep@example.com".into()])));
    for v in 1..=p.version {
        let old = db.get_as_of_version(p.id, v).unwrap();
        assert!(!format!("{old:?}").contains(victim), "version {v}: {old:?}");
    }
    p
}
