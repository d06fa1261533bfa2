//! Consent: history and as-of reads, expiry, the merge rule, strict
//! purposes, the `consent()` segment condition with its expiry wake-up,
//! consent-aware segment exports, and bad input.

use std::sync::Arc;

use profiledb::privacy::{ConsentChange, ConsentState, ConsentStatus};
use profiledb::segment::Cond;
use profiledb::{
    Builder, Change, ConsentCheck, Error, Identifier, ManualClock, ProfileDb, Timestamp, TraitValue, Update,
};

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open_with(dir: &std::path::Path, f: impl FnOnce(Builder) -> Builder) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = f(ProfileDb::builder(dir).clock(clock.clone())).open().expect("open");
    (db, clock)
}

fn state_of(db: &ProfileDb, who: &Identifier, purpose: &str) -> Option<ConsentStatus> {
    db.consent(who).unwrap().expect("known person").into_iter().find(|c| c.purpose == purpose).map(|c| c.status)
}

#[test]
fn every_change_is_a_delta_and_as_of_reads_reconstruct_consent() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| b.snapshot_every(2));
    let ann = id("email:ann@example.com");
    let r1 = db.set_consent(&ann, "marketing_email", ConsentChange::granted("signup_form")).unwrap();
    assert!(r1.created && r1.version == 1);
    clock.advance(1_000);
    db.update(&ann, Update::new().set("plan", "pro")).unwrap();
    clock.advance(1_000);
    let r3 = db.set_consent(&ann, "marketing_email", ConsentChange::withdrawn("unsubscribe_link")).unwrap();
    clock.advance(1_000);
    db.set_consent(&ann, "analytics", ConsentChange::denied("banner")).unwrap();

    let h = db.history(r1.profile).unwrap();
    let consents: Vec<_> = h
        .iter()
        .filter_map(|d| match &d.change {
            Change::Consent(ops) => Some((d.version, ops[0].purpose.clone(), ops[0].change.state)),
            _ => None,
        })
        .collect();
    assert_eq!(
        consents,
        vec![
            (1, "marketing_email".into(), ConsentState::Granted),
            (3, "marketing_email".into(), ConsentState::Withdrawn),
            (4, "analytics".into(), ConsentState::Denied),
        ]
    );
    let v2 = db.get_as_of_version(r1.profile, 2).unwrap();
    assert_eq!(v2.consent["marketing_email"].state, ConsentState::Granted);
    assert_eq!(v2.consent["marketing_email"].source, "signup_form");
    assert_eq!(v2.traits.get("plan"), Some(&TraitValue::from("pro")));
    assert!(!v2.consent.contains_key("analytics"));
    let v3 = db.get_as_of_version(r3.profile, r3.version).unwrap();
    assert_eq!(v3.consent["marketing_email"].state, ConsentState::Withdrawn);
    assert_eq!(v3.consent["marketing_email"].at, Timestamp(T0 + 2_000));
    let at = db.get_as_of_time(r1.profile, Timestamp(T0 + 1_500)).unwrap().expect("existed");
    assert_eq!(at.consent["marketing_email"].state, ConsentState::Granted);
    assert!(db.check().unwrap().violations.is_empty());

    // The current state survives a reopen.
    drop(db);
    let db = ProfileDb::open(dir.path()).unwrap();
    let now = db.get(&ann).unwrap().expect("ann");
    assert_eq!(now.consent["marketing_email"].state, ConsentState::Withdrawn);
    assert_eq!(now.consent["analytics"].state, ConsentState::Denied);
    assert_eq!(db.get_as_of_version(now.id, 1).unwrap().consent["marketing_email"].state, ConsentState::Granted);
}

#[test]
fn an_expired_grant_is_reported_as_expired() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| b);
    let ann = id("user_id:ann");
    db.set_consent(&ann, "sms", ConsentChange::granted_until("app", Timestamp(T0 + HOUR))).unwrap();
    assert_eq!(state_of(&db, &ann, "sms"), Some(ConsentStatus::Granted));
    clock.advance(HOUR - 1);
    assert_eq!(state_of(&db, &ann, "sms"), Some(ConsentStatus::Granted));
    clock.advance(1);
    assert_eq!(state_of(&db, &ann, "sms"), Some(ConsentStatus::Expired));
    assert!(!ConsentStatus::Expired.allows());
    assert_eq!(db.consent(&id("user_id:nobody")).unwrap(), None);
}

#[test]
fn merges_keep_the_most_restrictive_consent_and_unmerge_splits_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| b);
    let (anon, email) = (id("anonymous_id:a-1"), id("email:bo@example.com"));
    db.set_consent(&email, "marketing_email", ConsentChange::granted("signup_form")).unwrap();
    db.set_consent(&email, "analytics", ConsentChange::granted_until("banner", Timestamp(T0 + 10 * HOUR))).unwrap();
    db.set_consent(&email, "ads", ConsentChange::denied("banner")).unwrap();
    clock.advance(1_000);
    db.set_consent(&anon, "marketing_email", ConsentChange::denied("banner")).unwrap();
    db.set_consent(&anon, "analytics", ConsentChange::granted_until("banner", Timestamp(T0 + 2 * HOUR))).unwrap();
    db.set_consent(&anon, "ads", ConsentChange::granted("banner")).unwrap();
    db.set_consent(&anon, "personalization", ConsentChange::granted("banner")).unwrap();
    clock.advance(1_000);
    let r = db.identify(&[email.clone(), anon.clone()], Update::new()).unwrap();
    assert_eq!(r.merged.len(), 1);
    let merged = db.get(&email).unwrap().unwrap();
    assert_eq!(merged.consent["marketing_email"].state, ConsentState::Denied, "denied beats granted");
    assert_eq!(merged.consent["ads"].state, ConsentState::Denied, "the survivor's refusal stays");
    assert_eq!(merged.consent["analytics"].expires_at, Some(Timestamp(T0 + 2 * HOUR)), "earliest expiry");
    assert_eq!(merged.consent["personalization"].state, ConsentState::Granted, "one-sided purposes are kept");
    let last = db.history(merged.id).unwrap().pop().unwrap();
    assert!(matches!(&last.change, Change::Merge { consent, .. } if consent == &merged.consent));
    assert!(db.check().unwrap().violations.is_empty());

    // Unmerge: each side gets its own consent back.
    let u = db.unmerge(merged.id, &anon).unwrap();
    let restored = db.get_by_id(u.restored).unwrap().unwrap();
    assert_eq!(restored.consent["ads"].state, ConsentState::Granted);
    let survivor = db.get(&email).unwrap().unwrap();
    assert_eq!(survivor.consent["marketing_email"].state, ConsentState::Granted);
    assert!(!survivor.consent.contains_key("personalization"));
    assert!(db.check().unwrap().violations.is_empty());
}

#[test]
fn strict_purposes_refuse_unknown_names_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |b| b.consent_purposes(["marketing_email", "analytics"], true));
    let ann = id("email:ann@example.com");
    db.set_consent(&ann, "analytics", ConsentChange::granted("banner")).unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.set_consent(&ann, "marketing_sms", ConsentChange::granted("banner")).unwrap_err();
    assert!(matches!(&err, Error::UnknownPurpose { purpose, .. } if purpose == "marketing_sms"), "{err}");
    assert!(err.to_string().contains("marketing_sms") && err.to_string().contains("analytics, marketing_email"));
    let err = db.define_segment("sms_ok", "consent(marketing_sms)").unwrap_err();
    assert!(matches!(err, Error::UnknownPurpose { .. }), "{err}");
    assert!(matches!(db.query("consent(marketing_sms)"), Err(Error::UnknownPurpose { .. })));
    // Malformed names and bad changes are refused in any mode.
    assert!(db.set_consent(&ann, "Marketing Email", ConsentChange::granted("x")).is_err());
    assert!(db.set_consent(&ann, "analytics", ConsentChange::granted("")).is_err());
    let past = ConsentChange::granted_until("form", Timestamp(T0 - 1));
    assert!(db.set_consent(&ann, "analytics", past).is_err());
    let mut denied = ConsentChange::denied("form");
    denied.expires_at = Some(Timestamp(T0 + HOUR));
    assert!(db.set_consent(&ann, "analytics", denied).is_err());
    assert_eq!(db.raw_dump().unwrap(), before, "refused changes wrote nothing");

    // Non-strict: any valid name.
    let dir2 = tempfile::tempdir().unwrap();
    let (lax, _) = open_with(dir2.path(), |b| b.consent_purposes(["analytics"], false));
    lax.set_consent(&ann, "marketing_sms", ConsentChange::granted("banner")).unwrap();
    lax.define_segment("sms_ok", "consent(marketing_sms)").unwrap();
    assert!(lax.set_consent(&ann, "9lives", ConsentChange::granted("banner")).is_err());

    // An export purpose requiring an unknown consent is refused at open.
    let dir3 = tempfile::tempdir().unwrap();
    let err = ProfileDb::builder(dir3.path())
        .consent_purposes(["analytics"], true)
        .export_purpose("email_campaign", ["marketing_email"])
        .open()
        .unwrap_err();
    assert!(matches!(&err, Error::UnknownPurpose { purpose, .. } if purpose == "marketing_email"), "{err}");
}

#[test]
fn a_writable_open_with_strict_purposes_refuses_stored_segments_reading_other_purposes() {
    let dir = tempfile::tempdir().unwrap();
    let ann = id("email:ann@example.com");
    let strict = |purposes: &[&str]| {
        let purposes: Vec<String> = purposes.iter().map(|p| p.to_string()).collect();
        ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T0)))).consent_purposes(purposes, true)
    };
    {
        let db = strict(&["analytics", "marketing"]).open().unwrap();
        db.set_consent(&ann, "analytics", ConsentChange::granted("banner")).unwrap();
        db.define_segment("measured", "consent(analytics)").unwrap();
        db.define_segment("both", "consent(analytics) and consent(marketing)").unwrap();
        db.define_segment("mailable", "consent(marketing)").unwrap();
    }
    // The list lost `analytics`: a query naming it is refused, and so is
    // the open, naming every segment reading it (not `mailable`).
    let err = strict(&["marketing"]).open().unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    assert!(msg.contains(r#"segment "measured" reads consent(analytics)"#), "{msg}");
    assert!(msg.contains(r#"segment "both" reads consent(analytics)"#), "{msg}");
    assert!(!msg.contains("mailable") && msg.contains("[marketing]"), "{msg}");
    // A read-only handle opens for inspection (it evaluates nothing).
    let ro = strict(&["marketing"]).access_mode(profiledb::AccessMode::ReadOnly).open().unwrap();
    assert_eq!(ro.segment_count("measured").unwrap(), 1);
    drop(ro);
    // The full list opens, the segment evaluating as before.
    let db = strict(&["analytics", "marketing"]).open().unwrap();
    assert_eq!(db.segment_count("measured").unwrap(), 1);
    drop(db);
    // The admin's way out: open without strict purposes (as the CLI does),
    // drop or redefine the segments; then the strict open succeeds.
    let admin = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T0)))).open().unwrap();
    admin.drop_segment("measured").unwrap();
    admin.define_segment("both", "consent(marketing)").unwrap();
    drop(admin);
    let db = strict(&["marketing"]).open().unwrap();
    let names: Vec<String> = db.segments().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["both", "mailable"]);
    assert!(matches!(db.query("consent(analytics)"), Err(Error::UnknownPurpose { .. })));
}

#[test]
fn the_consent_condition_follows_grants_withdrawals_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| b);
    db.define_segment("mailable", "consent(marketing_email)").unwrap();
    db.define_segment("mailable_pro", r#"consent(marketing_email) and traits.plan = "pro""#).unwrap();
    let (ann, bo, cy) = (id("user_id:ann"), id("user_id:bo"), id("user_id:cy"));
    db.update(&ann, Update::new().set("plan", "pro")).unwrap();
    db.set_consent(&ann, "marketing_email", ConsentChange::granted_until("form", Timestamp(T0 + HOUR))).unwrap();
    db.set_consent(&bo, "marketing_email", ConsentChange::granted("form")).unwrap();
    db.set_consent(&cy, "marketing_email", ConsentChange::denied("form")).unwrap();
    let who = |i: &Identifier| db.resolve(i).unwrap().unwrap();
    assert_eq!(db.segment_count("mailable").unwrap(), 2);
    assert!(db.in_segment("mailable_pro", who(&ann)).unwrap());
    // A query sees the same.
    assert_eq!(db.query("consent(marketing_email)").unwrap().count(), 2);

    // Just before the expiry nothing is due; at it, tick drops ann.
    clock.advance(HOUR - 1);
    assert_eq!(db.tick().unwrap().processed, 0);
    assert!(db.in_segment("mailable", who(&ann)).unwrap());
    clock.advance(1);
    assert!(db.tick().unwrap().processed >= 1);
    assert!(!db.in_segment("mailable", who(&ann)).unwrap());
    assert!(!db.in_segment("mailable_pro", who(&ann)).unwrap());
    assert!(db.in_segment("mailable", who(&bo)).unwrap());
    let feed = db.feed(0, 100).unwrap();
    assert!(feed.iter().any(|r| r.profile == who(&ann)
        && r.segment.as_deref() == Some("mailable")
        && matches!(r.kind, profiledb::segment::FeedKind::Exited)));

    // A withdrawal exits at once; a renewed grant enters again.
    db.set_consent(&bo, "marketing_email", ConsentChange::withdrawn("unsubscribe")).unwrap();
    assert!(!db.in_segment("mailable", who(&bo)).unwrap());
    db.set_consent(&ann, "marketing_email", ConsentChange::granted("preference_center")).unwrap();
    assert!(db.in_segment("mailable_pro", who(&ann)).unwrap());
    assert!(db.check_segments().unwrap().is_empty());

    // The builder API defines the same condition.
    db.define_segment_expr("mailable2", &Cond::consent("marketing_email")).unwrap();
    assert_eq!(db.segment_count("mailable2").unwrap(), db.segment_count("mailable").unwrap());
}

#[test]
fn exports_leave_out_profiles_without_consent_unless_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| {
        b.export_purpose("email_campaign", ["marketing_email"])
            .export_purpose("retargeting", ["marketing_email", "ads"])
    });
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let people: Vec<Identifier> = (0..5).map(|i| id(&format!("user_id:u{i}"))).collect();
    for p in &people {
        db.update(p, Update::new().set("plan", "pro")).unwrap();
    }
    db.set_consent(&people[0], "marketing_email", ConsentChange::granted("form")).unwrap();
    db.set_consent(&people[0], "ads", ConsentChange::granted("form")).unwrap();
    db.set_consent(&people[1], "marketing_email", ConsentChange::granted("form")).unwrap();
    db.set_consent(&people[2], "marketing_email", ConsentChange::denied("form")).unwrap();
    db.set_consent(&people[3], "marketing_email", ConsentChange::granted_until("form", Timestamp(T0 + HOUR))).unwrap();
    // people[4]: never asked.
    let ids: Vec<_> = people.iter().map(|p| db.resolve(p).unwrap().unwrap()).collect();

    let e = db.export_segment("pro", "email_campaign", ConsentCheck::Enforce).unwrap();
    assert_eq!((e.members.clone(), e.left_out, e.overridden), (vec![ids[0], ids[1], ids[3]], 2, 0));
    clock.advance(HOUR);
    let e = db.export_segment("pro", "email_campaign", ConsentCheck::Enforce).unwrap();
    assert_eq!((e.members.clone(), e.left_out), (vec![ids[0], ids[1]], 3), "the expired grant no longer counts");
    let e = db.export_segment("pro", "retargeting", ConsentCheck::Enforce).unwrap();
    assert_eq!((e.members.clone(), e.left_out), (vec![ids[0]], 4), "every required consent is needed");
    let e = db.export_segment("pro", "email_campaign", ConsentCheck::Override).unwrap();
    assert_eq!((e.members.len(), e.left_out, e.overridden), (5, 0, 3));

    let err = db.export_segment("pro", "sms_blast", ConsentCheck::Enforce).unwrap_err();
    assert!(matches!(&err, Error::UnknownExportPurpose { purpose, .. } if purpose == "sms_blast"), "{err}");
    assert!(err.to_string().contains("email_campaign, retargeting"), "{err}");
    assert!(matches!(db.export_segment("nope", "email_campaign", ConsentCheck::Enforce), Err(Error::NotFound(_))));
}

#[test]
fn the_personal_export_holds_consent_and_its_history() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), |b| b);
    let ann = id("email:ann@example.com");
    db.set_consent(&ann, "marketing_email", ConsentChange::granted("signup_form")).unwrap();
    clock.advance(1_000);
    db.set_consent(&ann, "marketing_email", ConsentChange::withdrawn("unsubscribe_link")).unwrap();
    let doc = db.export(&ann, Some("dsar-1")).unwrap();
    assert_eq!(doc["consent"]["marketing_email"]["state"], "withdrawn");
    assert_eq!(doc["consent"]["marketing_email"]["source"], "unsubscribe_link");
    let hist = doc["consent_history"].as_array().unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["consent"][0]["state"], "granted");
    assert_eq!(hist[1]["consent"][0]["source"], "unsubscribe_link");
    assert_eq!(doc["profile"]["consent"]["marketing_email"]["state"], "withdrawn");
}

#[test]
fn identify_events_carry_consent_changes() {
    use profiledb::event::{parse_line, EventFormat, EventLimits};
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), |b| b.consent_purposes(["marketing_email", "ads"], true));
    let limits = EventLimits::new(Timestamp(T0));
    let line = r#"{"type": "identify", "message_id": "m-1", "timestamp": 1700000000000,
        "identifiers": {"email": "ann@example.com"}, "traits": {"plan": "pro"},
        "consent": {"marketing_email": {"state": "granted", "source": "cookie_banner", "expires_at": "2030-01-01T00:00:00Z"},
                    "ads": {"state": "denied", "source": "cookie_banner"}}}"#;
    let event = parse_line(line, EventFormat::Native, "line 1", &limits).unwrap();
    assert_eq!(event.consent.len(), 2);
    assert_eq!(profiledb::event::to_native_json(&event)["consent"]["ads"]["state"], "denied");
    db.track(&event).unwrap();
    let ann = db.get(&id("email:ann@example.com")).unwrap().unwrap();
    assert_eq!(ann.traits.get("plan"), Some(&TraitValue::from("pro")));
    assert_eq!(ann.consent["marketing_email"].expires_at, Some(Timestamp::parse("2030-01-01T00:00:00Z").unwrap()));
    assert_eq!(ann.consent["ads"].state, ConsentState::Denied);
    let last = db.history(ann.id).unwrap().pop().unwrap();
    assert!(matches!(last.change, Change::Consent(ref ops) if ops.len() == 2));
    assert_eq!(last.cause.describe(), "event identify (m-1)");

    // Bad consent in an event is an error naming the field; nothing written.
    let before = db.raw_dump().unwrap();
    for (line, needle) in [
        (
            r#"{"type": "track", "event": "x", "timestamp": 1700000000000, "identifiers": {"user_id": "u"}, "consent": {}}"#,
            "only identify events carry consent",
        ),
        (
            r#"{"type": "identify", "timestamp": 1700000000000, "identifiers": {"user_id": "u"}, "consent": {"ads": {"state": "maybe", "source": "s"}}}"#,
            "\"consent.ads.state\"",
        ),
        (
            r#"{"type": "identify", "timestamp": 1700000000000, "identifiers": {"user_id": "u"}, "consent": {"ads": {"state": "granted"}}}"#,
            "\"consent.ads.source\": is required",
        ),
    ] {
        let err = parse_line(line, EventFormat::Native, "line 2", &limits).unwrap_err().to_string();
        assert!(err.contains(needle) && err.contains("line 2"), "{err}");
    }
    let unknown = r#"{"type": "identify", "timestamp": 1700000000000, "identifiers": {"user_id": "u"}, "consent": {"sms": {"state": "granted", "source": "s"}}}"#;
    let event = parse_line(unknown, EventFormat::Native, "line 3", &limits).unwrap();
    assert!(matches!(db.track(&event), Err(Error::UnknownPurpose { .. })));
    let report = db.ingest_batch(&[event], false).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (0, 1));
    assert_eq!(db.raw_dump().unwrap(), before, "nothing of the refused events was written");
}
