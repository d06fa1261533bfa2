//! Suppression of erased identifiers (reject and drop policies) and
//! anonymization for analytics-only retention.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::{AnonymizeRules, AuditAction, ConsentChange, Generalization, SuppressionPolicy, ValueRule};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Error, Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

mod common;
use common::files_containing;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path, policy: SuppressionPolicy) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).suppression_policy(policy).open().unwrap();
    (db, clock)
}

fn purchase(clock: &ManualClock, who: &Identifier, msg: &str) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", clock.now(), vec![who.clone()]);
    e.message_id = Some(msg.to_owned());
    e.properties.insert("amount", 25);
    e
}

/// Creates and erases a person; returns the erased identifier.
fn erased_person(db: &ProfileDb) -> Identifier {
    let gone = id("email:gone@example.com");
    db.update(&gone, Update::new().set("plan", "pro")).unwrap();
    db.erase(&gone, Some("ticket-7")).unwrap();
    gone
}

#[test]
fn writes_carrying_an_erased_identifier_are_rejected_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path(), SuppressionPolicy::default());
    let gone = erased_person(&db);
    let fresh = id("user_id:new-login");
    let before = db.raw_dump().unwrap();
    let err = db.update(&gone, Update::new().set("plan", "free")).unwrap_err();
    assert!(matches!(&err, Error::Suppressed { position: 0, kind } if kind == "email"), "{err}");
    assert!(!err.to_string().contains("gone@example.com"), "the error repeats no identifier value: {err}");
    let err = db.identify(&[fresh.clone(), gone.clone()], Update::new()).unwrap_err();
    assert!(matches!(err, Error::Suppressed { position: 1, .. }), "{err}");
    assert!(matches!(db.track(&purchase(&clock, &gone, "m-1")), Err(Error::Suppressed { .. })));
    assert!(matches!(
        db.set_consent(&gone, "marketing_email", ConsentChange::granted("form")),
        Err(Error::Suppressed { .. })
    ));
    let keeper = db.update(&id("user_id:keeper"), Update::new()).unwrap().profile;
    let before_link = db.raw_dump().unwrap();
    assert!(matches!(db.link_identifier(keeper, &gone), Err(Error::Suppressed { .. })));
    assert_eq!(db.raw_dump().unwrap(), before_link, "refused link wrote nothing");
    assert!(db.resolve(&fresh).unwrap().is_none(), "nothing of the refused identify was written");
    let _ = before;

    // In a batch, the suppressed event is rejected at its position; the
    // others commit.
    let events = vec![purchase(&clock, &fresh, "m-2"), purchase(&clock, &gone, "m-3")];
    let report = db.ingest_batch(&events, false).unwrap();
    assert_eq!((report.applied, report.dropped, report.rejected.len()), (1, 0, 1));
    assert_eq!(report.rejected[0].0, 1);
    assert!(matches!(report.rejected[0].1, Error::Suppressed { .. }));
    assert!(db.resolve(&gone).unwrap().is_none());
}

#[test]
fn the_drop_policy_acknowledges_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path(), SuppressionPolicy::Drop);
    let gone = erased_person(&db);
    let before = db.raw_dump().unwrap();
    let r = db.update(&gone, Update::new().set("plan", "free")).unwrap();
    assert!(r.dropped && r.profile == ProfileId::NONE);
    let r = db.identify(&[id("user_id:u-9"), gone.clone()], Update::new().set("x", 1)).unwrap();
    assert!(r.dropped);
    assert!(matches!(db.track(&purchase(&clock, &gone, "m-1")).unwrap(), IngestOutcome::Dropped));
    assert_eq!(db.raw_dump().unwrap(), before, "dropped writes stored nothing, not even a dedup key");

    let fresh = id("user_id:fresh");
    let events = vec![purchase(&clock, &gone, "m-2"), purchase(&clock, &fresh, "m-3"), purchase(&clock, &gone, "m-4")];
    let report = db.ingest_batch(&events, true).unwrap();
    assert_eq!((report.applied, report.dropped, report.rejected.len()), (1, 2, 0));
    assert!(db.resolve(&gone).unwrap().is_none());
    assert!(db.resolve(&fresh).unwrap().is_some());
    // Identifiers that were never erased are untouched by suppression.
    assert!(!db.update(&fresh, Update::new().set("plan", "pro")).unwrap().dropped);
}

#[test]
fn suppression_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let gone = {
        let (db, _) = open(dir.path(), SuppressionPolicy::Reject);
        erased_person(&db)
    };
    let (db, _) = open(dir.path(), SuppressionPolicy::Reject);
    assert!(db.is_suppressed(&gone).unwrap());
    assert!(matches!(db.update(&gone, Update::new()), Err(Error::Suppressed { .. })));
    // Erasing the erased again is NotFound: nothing is linked to it.
    assert!(matches!(db.erase(&gone, None), Err(Error::NotFound(_))));
}

#[test]
fn anonymize_keeps_analytics_and_removes_every_personal_value() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let rules = AnonymizeRules::default()
        .rule("plan", ValueRule::Keep)
        .rule("amount", ValueRule::Keep)
        .rule("age", ValueRule::Generalize(Generalization::NumberBucket(10)))
        .rule("signup_at", ValueRule::Generalize(Generalization::Month))
        .rule("postcode", ValueRule::Generalize(Generalization::Prefix(2)))
        .rule("customer_ref", ValueRule::Hash);
    let db =
        ProfileDb::builder(dir.path()).clock(clock.clone()).compression(false).anonymize_rules(rules).open().unwrap();
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    db.declare_rollup(RollupDef::new("skus", "purchase", Aggregate::Unique("sku".into()))).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("buyers", "sum(purchase.amount) >= 50").unwrap();
    db.define_segment("named", "traits.name exists").unwrap();
    let email = "Quince.Larkspur@anon-me.example";
    let (name, street, ref_, msg, sku) =
        ("Quince Larkspur", "Marzipan Lane 77", "REF-Obsidian-6612", "msg-Fennel-3391", "Sku-Tangelo-204");
    let who = id(&format!("email:{email}"));
    let anon = id("anonymous_id:anon-Cardamom-88");
    db.update(&anon, Update::new().set("utm", "Utm-Sassafras")).unwrap();
    db.identify(
        &[who.clone(), anon.clone()],
        Update::new()
            .set("plan", "pro")
            .set("name", name)
            .set("address.street", street)
            .set("age", 34)
            .set("postcode", "0150")
            .set("signup_at", Timestamp(1_699_920_000_123))
            .set("customer_ref", ref_),
    )
    .unwrap();
    db.set_consent(&who, "marketing_email", ConsentChange::granted("Consent-Juniper-source")).unwrap();
    for i in 0..3 {
        clock.advance(1_000);
        let mut e = Event::new(EventKind::Track, "purchase", clock.now(), vec![who.clone()]);
        e.message_id = Some(format!("{msg}-{i}"));
        e.properties.insert("amount", 20);
        e.properties.insert("sku", sku);
        db.track(&e).unwrap();
    }
    let p = db.resolve(&who).unwrap().unwrap();
    db.compact().unwrap();
    let needles = [email.to_lowercase(), name.into(), street.into(), ref_.into(), msg.into(), sku.into()];
    let needles: Vec<&str> = needles
        .iter()
        .map(String::as_str)
        .chain(["anon-Cardamom-88", "Utm-Sassafras", "Consent-Juniper-source"])
        .collect();
    assert!(!files_containing(dir.path(), &needles).is_empty(), "the data is on disk first");

    let report = db.anonymize(&who, None, Some("ticket-12")).unwrap();
    assert_eq!(report.profile, p);
    assert_eq!(report.identifiers, 2);
    assert_eq!((report.traits_kept, report.traits_generalized, report.traits_hashed), (1, 3, 1));
    assert_eq!(report.traits_dropped, 3, "name, address.street, utm");
    assert_eq!(report.events_scrubbed, 3);

    // The identifiers are gone and suppressed; the profile lives on by id.
    assert!(db.resolve(&who).unwrap().is_none());
    assert!(db.is_suppressed(&who).unwrap() && db.is_suppressed(&anon).unwrap());
    assert!(matches!(db.export(&who, None), Err(Error::NotFound(_))), "an anonymized person cannot be exported");
    assert!(matches!(db.update(&who, Update::new()), Err(Error::Suppressed { .. })));
    let left = db.get_by_id(p).unwrap().expect("the anonymized profile stays");
    assert_eq!(left.traits.get("plan"), Some(&TraitValue::from("pro")));
    assert_eq!(left.traits.get("age"), Some(&TraitValue::from("30..40")));
    assert_eq!(left.traits.get("postcode"), Some(&TraitValue::from("01")));
    assert_eq!(left.traits.get("signup_at"), Some(&TraitValue::Time(Timestamp(1_698_796_800_000))));
    let Some(TraitValue::Str(hashed)) = left.traits.get("customer_ref") else { panic!("customer_ref is hashed text") };
    assert!(hashed.starts_with("h:") && hashed.len() == 34, "{hashed}");
    assert!(left.traits.get("name").is_none() && left.traits.get("address.street").is_none());
    assert!(left.consent.is_empty());
    assert!(db.identifiers(p).unwrap().is_empty());

    // Analytics stay: rollups, events (scrubbed), segments on kept values.
    assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(Some(60.0)));
    assert!(report.rollups_scrubbed >= 1);
    match db.rollup(p, "skus", Window::All).unwrap() {
        RollupValue::Unique { count, values, .. } => {
            assert_eq!(count, 1, "the distinct count survives hashing");
            assert!(values.iter().all(|v| v.starts_with("h:")), "{values:?}");
        }
        other => panic!("unexpected {other:?}"),
    }
    let events = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|e| e.message_id.is_none() && e.identifiers.is_empty() && e.property("sku").is_none()));
    assert!(db.in_segment("pro", p).unwrap() && db.in_segment("buyers", p).unwrap());
    assert!(!db.in_segment("named", p).unwrap(), "the dropped trait no longer matches");
    assert!(db.check_segments().unwrap().is_empty());
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");

    // History: folded into the anonymized state.
    assert!(db.history(p).unwrap().is_empty());
    assert!(matches!(db.get_as_of_version(p, 1), Err(Error::HistoryTruncated { .. })));
    let log = db.audit_log().unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last.action, last.request_id.as_deref(), last.profile),
        (AuditAction::Anonymize, Some("ticket-12"), p.0)
    );

    // Later writes by id still work (analytics may keep counting).
    db.update_by_id(p, Update::new().increment("visits", 1)).unwrap();
    drop(db);
    let hits = files_containing(dir.path(), &needles);
    assert!(hits.is_empty(), "personal data survived anonymize: {hits:?}");
}

#[test]
fn anonymize_bad_input_is_defined() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path(), SuppressionPolicy::Reject);
    db.update(&id("user_id:1"), Update::new().set("a", 1)).unwrap();
    let before = db.raw_dump().unwrap();
    assert!(matches!(db.anonymize(&id("user_id:nobody"), None, None), Err(Error::NotFound(_))));
    let bad = AnonymizeRules::default().rule("a", ValueRule::Generalize(Generalization::NumberBucket(0)));
    assert!(matches!(db.anonymize(&id("user_id:1"), Some(&bad), None), Err(Error::InvalidInput(_))));
    assert_eq!(db.raw_dump().unwrap(), before, "nothing written");
    let err = ProfileDb::builder(tempfile::tempdir().unwrap().path()).anonymize_rules(bad).open().unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}
