//! Bad input that used to get through: misspelt identity rules, float
//! traits past `f64::MAX`, event timestamps before 1970 or too far ahead
//! when events are built in code, and identifiers built by deserializing.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::{
    Error, Identifier, IdentityRules, Ignored, KindLimit, ManualClock, OnExceed, ProfileDb, Timestamp, Update,
};

const NOW: i64 = 1_700_000_000_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open_with(dir: &std::path::Path, configure: impl FnOnce(profiledb::Builder) -> profiledb::Builder) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    configure(ProfileDb::builder(dir).clock(clock)).open().expect("open")
}

fn purchase(at: i64) -> Event {
    Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id("user_id:u1")])
}

#[test]
fn identity_rules_naming_impossible_kinds_are_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let open = |rules: IdentityRules| ProfileDb::builder(dir.path()).identity_rules(rules).open().map(|_| ());
    let limit = KindLimit { max: 1, on_exceed: OnExceed::Refuse };
    let cases = [
        (IdentityRules::default().limit("Email", limit), "Email"),
        (IdentityRules::default().limit("loyalty_id", KindLimit { max: 0, on_exceed: OnExceed::Refuse }), "is 0"),
        (IdentityRules { priority: vec!["e-mail".into()], ..IdentityRules::default() }, "e-mail"),
        (IdentityRules { priority: vec!["email".into(), "email".into()], ..IdentityRules::default() }, "twice"),
        (IdentityRules { max_profiles_per_merge: 0, ..IdentityRules::default() }, "max_profiles_per_merge"),
        (IdentityRules { max_identifiers_per_call: 0, ..IdentityRules::default() }, "max_identifiers_per_call"),
    ];
    for (rules, named) in cases {
        match open(rules) {
            Err(Error::InvalidInput(msg)) => assert!(msg.contains(named), "{msg:?} should name {named:?}"),
            other => panic!("rules naming {named:?}: expected InvalidInput, got {other:?}"),
        }
    }
    assert!(!dir.path().join("CURRENT").exists(), "a refused open created no database");
    open(IdentityRules::default().limit("loyalty_id", limit)).expect("valid rules open");
}

#[test]
fn blocklist_entries_set_directly_are_normalized() {
    let dir = tempfile::tempdir().unwrap();
    let mut rules = IdentityRules::default();
    rules.blocklist.insert("  ÄRGER ".into());
    let db = open_with(dir.path(), |b| b.identity_rules(rules));
    let r = db.identify(&[id("user_id:u1"), id("anonymous_id:ärger")], Update::new()).unwrap();
    assert_eq!(r.ignored, vec![(id("anonymous_id:ärger"), Ignored::Blocked)]);
}

#[test]
fn a_float_increment_past_the_largest_float_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |b| b);
    let who = id("user_id:u1");
    db.update(&who, Update::new().increment("score", f64::MAX)).unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.update(&who, Update::new().increment("score", f64::MAX)).unwrap_err();
    assert!(matches!(&err, Error::InvalidTraitValue { name, .. } if name == "score"), "{err}");
    assert_eq!(db.raw_dump().unwrap(), before, "a refused increment changed the database");
    assert_eq!(db.get(&who).unwrap().unwrap().traits.get("score"), Some(&f64::MAX.into()));
}

#[test]
fn events_built_in_code_are_checked_against_1970_and_the_future_skew() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |b| b);
    let before = db.raw_dump().unwrap();
    for (at, says) in [(-1, "before 1970"), (NOW + 2 * Timestamp::DAY, "after now")] {
        let err = db.track(&purchase(at)).unwrap_err();
        assert!(matches!(&err, Error::InvalidEvent { message, .. } if message.contains(says)), "{at}: {err}");
    }
    // In a batch: reported by position, the valid event commits.
    let report =
        db.ingest_batch(&[purchase(NOW - 1), purchase(-5), purchase(NOW + 3 * Timestamp::DAY)], false).unwrap();
    assert_eq!(report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1, 2]);
    // Strict: nothing of the batch is written.
    let strict_before = db.raw_dump().unwrap();
    let report = db.ingest_batch(&[purchase(NOW - 2), purchase(-5)], true).unwrap();
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(db.raw_dump().unwrap(), strict_before, "a strict batch with a bad timestamp wrote something");
    assert_ne!(strict_before, before, "the valid event of the lenient batch committed");
    // Exactly at the bound is accepted; a larger skew accepts later events.
    db.track(&purchase(NOW + Timestamp::DAY)).expect("at the bound");
    drop(db);
    let db = open_with(dir.path(), |b| b.max_future_skew(7 * Timestamp::DAY));
    assert_eq!(db.event_limits().max_future_skew_ms, 7 * Timestamp::DAY);
    db.track(&purchase(NOW + 2 * Timestamp::DAY)).expect("within a 7-day skew");
    drop(db);
    let refused = ProfileDb::builder(dir.path()).max_future_skew(-1).open().map(|_| ());
    assert!(matches!(refused, Err(Error::InvalidInput(ref m)) if m.contains("max_future_skew")), "{refused:?}");
}

#[test]
fn deserialized_identifiers_are_normalized_like_parsed_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_with(dir.path(), |b| b);
    let raw: Identifier = serde_json::from_str(r#"{"kind":"email","value":"  Ann@Example.COM"}"#).unwrap();
    let first = db.update(&raw, Update::new().set("plan", "pro")).unwrap().profile;
    assert_eq!(db.update(&id("email:ann@example.com"), Update::new()).unwrap().profile, first);
    let event: Result<Event, _> = serde_json::from_value(serde_json::json!({
        "message_id": null, "kind": "Track", "name": "purchase", "timestamp": NOW,
        "identifiers": [{"kind": "user_id", "value": ""}],
    }));
    assert!(event.is_err(), "an event with an empty identifier value deserialized: {event:?}");
}

#[test]
fn rfm_can_be_recomputed_with_another_amount_and_scores_recency_from_now() {
    use profiledb::rollup::RfmConfig;
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    let mut e = purchase(NOW - 10_000);
    e.properties.insert("amount", 30);
    e.properties.insert("revenue", 7);
    db.track(&e).unwrap();
    let p = db.resolve(&id("user_id:u1")).unwrap().unwrap();
    let config = |amount: &str| RfmConfig { event: "purchase".into(), amount: amount.into() };
    db.compute_rfm(config("amount")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 30.0);
    // Another amount property: its own rollup (it failed: "rfm_purchase already exists").
    db.compute_rfm(config("revenue")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 7.0);
    assert!(db.rollup_defs().iter().any(|r| r.name == "rfm_purchase_revenue"));
    // Recomputing with the first amount reuses its rollup.
    db.compute_rfm(config("amount")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 30.0);
    // Recency is measured from now, never negative for a purchase after the model.
    clock.advance(5_000);
    assert_eq!(db.rfm(p).unwrap().unwrap().recency_ms, 15_000);
    db.track(&purchase(NOW + 60_000)).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().recency_ms, 0, "a purchase stamped ahead of the clock is just now");
}

#[test]
fn rfm_of_events_whose_names_sanitize_alike_use_their_own_rollups_and_an_unknown_event_is_refused() {
    use profiledb::rollup::RfmConfig;
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(NOW)))).open().unwrap();
    for (name, amount) in [("Bad Event", 3), ("bad_event", 40)] {
        let mut e = purchase(NOW - 10_000);
        e.name = name.into();
        e.properties.insert("x y", amount);
        db.track(&e).unwrap();
    }
    let p = db.resolve(&id("user_id:u1")).unwrap().unwrap();
    let config = |event: &str| RfmConfig { event: event.into(), amount: "x y".into() };
    // Both sanitize to `rfm_bad_event` and `rfm_bad_event_x_y` (the second
    // was refused: "rollup rfm_bad_event already exists with another
    // definition").
    db.compute_rfm(config("Bad Event")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 3.0);
    db.compute_rfm(config("bad_event")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 40.0);
    db.compute_rfm(config("Bad Event")).unwrap();
    assert_eq!(db.rfm(p).unwrap().unwrap().monetary, 3.0, "recomputing finds its own rollup again");
    let before = db.rollup_defs().len();
    let err = db.compute_rfm(config("purchse")).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)) && err.to_string().contains("\"purchse\""), "{err}");
    assert_eq!(db.rollup_defs().len(), before, "a misspelt event declares no rollup");
}

#[test]
fn a_profile_that_would_grow_past_the_decode_limit_is_refused_and_stays_readable() {
    let dir = tempfile::tempdir().unwrap();
    let who = id("user_id:big");
    let big = "x".repeat(60_000);
    let many =
        |from: usize, n: usize| (from..from + n).fold(Update::new(), |u, i| u.set(&format!("note{i}"), big.as_str()));
    {
        let db = ProfileDb::builder(dir.path()).profile_cache_entries(0).open().unwrap();
        // One update whose delta alone would be 18 MB: refused, nothing written.
        let err = db.update(&who, many(0, 300)).unwrap_err();
        assert!(matches!(&err, Error::InvalidInput(m) if m.contains("could not be read back")), "{err}");
        assert!(db.resolve(&who).unwrap().is_none(), "nothing of the refused update was written");
        // Updates of 10 MB each: the second would make the profile record 20 MB.
        db.update(&who, many(0, 170)).unwrap();
        let before = db.raw_dump().unwrap();
        let err = db.update(&who, many(170, 170)).unwrap_err();
        assert!(matches!(&err, Error::InvalidInput(m) if m.contains("profile")), "{err}");
        assert!(db.raw_dump().unwrap() == before, "the refused update wrote something");
    }
    let db = ProfileDb::open(dir.path()).unwrap();
    let p = db.get(&who).unwrap().expect("still readable after reopening");
    assert_eq!((p.version, p.traits.len()), (1, 170));
    assert_eq!(db.history(p.id).unwrap().len(), 1);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

#[test]
fn a_negative_dedup_horizon_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let err = ProfileDb::builder(dir.path()).dedup_horizon(-1).open().unwrap_err();
    assert!(matches!(&err, Error::InvalidInput(m) if m.contains("dedup_horizon")), "{err}");
    assert!(ProfileDb::builder(dir.path()).dedup_horizon(0).open().is_ok());
}

#[test]
fn a_dropped_rollup_frees_its_name_and_survives_reopen() {
    use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    {
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let mut e = purchase(NOW - 10_000);
        e.properties.insert("amount", 30);
        db.track(&e).unwrap();
        let p = db.resolve(&id("user_id:u1")).unwrap().unwrap();
        db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amont".into()))).unwrap();
        assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(None), "no event has \"amont\"");
        db.drop_rollup("spend").unwrap();
        assert!(matches!(db.rollup(p, "spend", Window::All), Err(Error::NotFound(_))));
        db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
        assert_eq!(db.rollup(p, "spend", Window::All).unwrap(), RollupValue::Number(Some(30.0)));
        db.drop_rollup("spend").unwrap();
        assert!(matches!(db.drop_rollup("spend"), Err(Error::NotFound(_))));
    }
    let db = ProfileDb::builder(dir.path()).clock(clock).open().unwrap();
    assert!(db.rollup_defs().is_empty(), "the drop is durable");
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
    drop(db);
    let ro = ProfileDb::builder(dir.path()).access_mode(profiledb::AccessMode::ReadOnly).open().unwrap();
    assert!(matches!(ro.drop_rollup("spend"), Err(Error::ReadOnly(_))));
}
