//! Identifiers are compared in Unicode NFC and without invisible format
//! characters (format 15): the NFD spelling macOS input produces and a
//! pasted zero-width space reach the person the NFC spelling names — for
//! writes, reads, events, Segment Spec messages and erase. (Identity
//! review M2; the probes `probe_nfc_and_nfd_emails_are_one_identifier` and
//! `probe_zero_width_space_in_email_is_not_a_new_person`.)

use std::sync::Arc;

use profiledb::event::{parse_line, Event, EventFormat, EventKind, EventLimits};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, TraitValue, Update};

const NFC: &str = "jos\u{e9}@example.com";
const NFD: &str = "jose\u{301}@example.com";
const NOW: i64 = 1_714_564_800_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open() -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let db = ProfileDb::builder(dir.path()).clock(clock).open().expect("open");
    (dir, db)
}

#[test]
fn nfc_and_nfd_emails_are_one_identifier() {
    let (_dir, db) = open();
    let a = db.update(&id(&format!("email:{NFC}")), Update::new().set("plan", "pro")).expect("update").profile;
    let b = db.update(&id(&format!("email:{NFD}")), Update::new().set("seen", true)).expect("update").profile;
    assert_eq!(a, b, "the NFD spelling is the same person");
    assert_eq!(db.profile_count().expect("count"), 1);
    assert_eq!(db.identifiers(a).expect("identifiers"), vec![id(&format!("email:{NFC}"))]);
    let p = db.get(&id(&format!("email:{NFD}"))).expect("get").expect("found");
    assert_eq!(p.traits.get("plan"), Some(&TraitValue::from("pro")));
    // Upper case and NFD together.
    assert_eq!(db.resolve(&id("email:JOSE\u{301}@Example.COM")).expect("resolve"), Some(a));
}

#[test]
fn a_zero_width_space_in_an_email_is_not_a_new_person() {
    let (_dir, db) = open();
    let a = db.update(&id("email:ann@example.com"), Update::new().set("n", 1)).expect("update").profile;
    for pasted in ["ann\u{200b}@example.com", "\u{feff}ann@example.com", "an\u{ad}n@example.com\u{200e}"] {
        let got = db.update(&id(&format!("email:{pasted}")), Update::new().set("n", 2)).expect("update").profile;
        assert_eq!(got, a, "{pasted:?}");
    }
    assert_eq!(db.profile_count().expect("count"), 1);
    assert_eq!(db.identifiers(a).expect("identifiers"), vec![id("email:ann@example.com")]);
}

#[test]
fn user_id_nfc_and_nfd_are_one_identifier() {
    let (_dir, db) = open();
    let a = db.update(&id("user_id:ren\u{e9}"), Update::new().set("n", 1)).expect("update").profile;
    let b = db.update(&id("user_id:rene\u{301}"), Update::new().set("n", 2)).expect("update").profile;
    let c = db.update(&id("user_id:ren\u{e9}\u{200b}"), Update::new().set("n", 3)).expect("update").profile;
    assert_eq!((a, a), (b, c));
    assert_eq!(db.identifiers(a).expect("identifiers"), vec![id("user_id:ren\u{e9}")]);
    // A zero-width joiner is kept: it is part of emoji sequences.
    let family = "user_id:\u{1f468}\u{200d}\u{1f469}";
    let d = db.update(&id(family), Update::new().set("n", 4)).expect("update").profile;
    assert_ne!(d, a);
    assert_eq!(db.identifiers(d).expect("identifiers"), vec![id(family)]);
}

#[test]
fn events_and_segment_messages_reach_the_nfc_profile() {
    let (_dir, db) = open();
    let a = db.update(&id(&format!("email:{NFC}")), Update::new().set("n", 1)).expect("update").profile;
    let e = Event::new(EventKind::Track, "opened", Timestamp(NOW), vec![id(&format!("email:{NFD}"))]);
    db.track(&e).expect("track");
    assert_eq!(db.events(a, Timestamp(0), Timestamp(i64::MAX)).expect("events").len(), 1, "on the NFC profile");
    let line = format!(
        r#"{{"type":"identify","userId":null,"anonymousId":"anon-1","traits":{{"email":"{}"}},"timestamp":"2024-05-01T12:00:00Z","messageId":"m1"}}"#,
        "Jose\\u0301\\u200b@example.com"
    );
    let ev = parse_line(&line, EventFormat::SegmentSpec, "line 1", &EventLimits::new(Timestamp(NOW))).expect("parse");
    assert!(ev.identifiers.contains(&id(&format!("email:{NFC}"))), "{:?}", ev.identifiers);
    db.track(&ev).expect("track");
    assert_eq!(db.resolve(&id("anonymous_id:anon-1")).expect("resolve"), Some(a));
    assert_eq!(db.profile_count().expect("count"), 1);
}

#[test]
fn erase_by_the_nfd_spelling_erases_the_profile_stored_under_nfc() {
    let (_dir, db) = open();
    let a = db.update(&id(&format!("email:{NFC}")), Update::new().set("plan", "pro")).expect("update").profile;
    // Another profile holds the value, written decomposed.
    let bob = id("user_id:bob");
    db.update(&bob, Update::new().set("referred_by", NFD)).expect("update");
    let report = db.erase(&id(&format!("email:{NFD}")), Some("dsar")).expect("erase");
    assert_eq!(report.profile, a);
    assert_eq!(db.resolve(&id(&format!("email:{NFC}"))).expect("resolve"), None);
    assert!(db.get_by_id(a).expect("get").is_none());
    // Suppressed in either spelling.
    assert!(db.update(&id(&format!("email:{NFC}")), Update::new().set("n", 1)).is_err());
    // Bob's trait held the erased value in its NFD bytes: removed too.
    let bob_now = db.get(&bob).expect("get").expect("bob");
    assert_eq!(bob_now.traits.get("referred_by"), None, "{:?}", bob_now.traits);
    assert!(db.check().expect("check").is_clean());
}
