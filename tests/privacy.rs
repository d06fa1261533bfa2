//! Erasure that leaves no trace, suppression, export and the audit log.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::{AuditAction, ConsentChange};
use profiledb::rollup::{Aggregate, RollupDef};
use profiledb::{Error, Identifier, ManualClock, ProfileDb, Timestamp, Update};

mod common;
use common::files_containing;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

#[test]
fn erase_removes_every_byte_of_the_person() {
    erase_leaves_no_trace(true);
}

/// Without compression the values sit in the files as plain bytes, so the
/// scan cannot miss one hidden by LZ4 encoding.
#[test]
fn erase_removes_every_byte_of_the_person_from_uncompressed_files() {
    erase_leaves_no_trace(false);
}

fn erase_leaves_no_trace(compression: bool) {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).compression(compression).open().unwrap();
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    db.define_segment("buyers", "count(purchase) >= 1").unwrap();
    let secret_email = "zanzibar.quokka@erase-me.example";
    let secret_trait = "Xylophone-Marmalade-7731";
    let secret_prop = "Sku-Quasar-99812";
    let secret_msg = "msg-Pomegranate-4471";
    let secret_anon = "anon-Kumquat-1029";
    let secret_source = "Source-Tamarind-5531";
    // Someone else, who must survive.
    db.update(&id("email:keep@example.com"), Update::new().set("name", "Kept")).unwrap();
    db.update(&id(&format!("anonymous_id:{secret_anon}")), Update::new().set("color", "teal")).unwrap();
    db.update(&id(&format!("email:{secret_email}")), Update::new().set("nickname", secret_trait)).unwrap();
    let consent = ConsentChange::granted(secret_source);
    db.set_consent(&id(&format!("email:{secret_email}")), "marketing_email", consent).unwrap();
    let mut ids = vec![id(&format!("email:{secret_email}")), id(&format!("anonymous_id:{secret_anon}"))];
    ids.sort();
    db.identify(&ids, Update::new()).unwrap();
    for i in 0..3 {
        clock.advance(1_000);
        let mut e = Event::new(EventKind::Track, "purchase", clock.now(), vec![id(&format!("email:{secret_email}"))]);
        e.message_id = Some(format!("{secret_msg}-{i}"));
        e.properties.insert("sku", secret_prop);
        e.properties.insert("amount", 10);
        db.track(&e).unwrap();
    }
    assert_eq!(db.segment_count("buyers").unwrap(), 1);
    db.compact().unwrap(); // the data is in SST files before the erase
    let needles = [secret_email, secret_trait, secret_prop, secret_msg, secret_anon, secret_source];
    assert!(!files_containing(dir.path(), &needles).is_empty(), "the test data must be on disk first");

    let report = db.erase(&id(&format!("email:{secret_email}")), Some("ticket-1")).unwrap();
    assert_eq!((report.identifiers, report.aliases), (2, 1));
    assert!(db.get(&id(&format!("email:{secret_email}"))).unwrap().is_none());
    assert!(db.get(&id(&format!("anonymous_id:{secret_anon}"))).unwrap().is_none());
    assert!(db.get(&id("email:keep@example.com")).unwrap().is_some(), "others are untouched");
    assert_eq!(db.segment_count("buyers").unwrap(), 0);
    assert!(db.check_segments().unwrap().is_empty());
    assert!(db.is_suppressed(&id(&format!("email:{secret_email}"))).unwrap());
    assert!(!db.is_suppressed(&id("email:keep@example.com")).unwrap());
    let log = db.audit_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].action, log[0].request_id.as_deref()), (AuditAction::Erase, Some("ticket-1")));
    drop(db);
    let hits = files_containing(dir.path(), &needles);
    assert!(hits.is_empty(), "erased data is still on disk: {hits:?}");
}

#[test]
fn export_returns_everything_and_bad_requests_are_defined() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let ann = id("email:ann@example.com");
    db.update(&ann, Update::new().set("plan", "pro")).unwrap();
    let e = Event::new(EventKind::Track, "login", Timestamp(1_000), vec![ann.clone()]);
    db.track(&e).unwrap();
    let doc = db.export(&ann, Some("req-9")).unwrap();
    assert_eq!(doc["profile"]["traits"]["plan"], "pro");
    assert_eq!(doc["identifiers"][0]["identifier"], "email:ann@example.com");
    assert_eq!(doc["events"].as_array().unwrap().len(), 1);
    assert_eq!(doc["segments"][0], "pro");
    assert!(!doc["history"].as_array().unwrap().is_empty());
    assert_eq!(db.audit_log().unwrap()[0].action, AuditAction::Export);
    // Unknown person: erase and export are NotFound and change nothing.
    let before = db.raw_dump().unwrap();
    assert!(matches!(db.erase(&id("email:nobody@example.com"), None), Err(Error::NotFound(_))));
    assert_eq!(db.raw_dump().unwrap(), before);
    db.erase(&ann, None).unwrap();
    assert!(matches!(db.export(&ann, None), Err(Error::NotFound(_))), "an erased person cannot be exported");
}
