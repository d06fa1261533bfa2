//! Capabilities beyond profiles and segments: `retention run` (and the
//! retention `tick` enforces),
//! `segment was-member`, `identifier suppressed`, and
//! `export --segment --require-consent`: happy paths, JSON, exit codes.

mod common;

use common::{now_ms, people_by_country as people, TestDb, DAY_MS};
use serde_json::{json, Value};

#[test]
fn retention_run_trims_timelines_and_folds_buckets() {
    let db = TestDb::init();
    let now = now_ms();
    for age_days in [60, 1] {
        let e = json!({"type": "track", "event": "buy", "timestamp": now - age_days * DAY_MS,
                       "identifiers": {"user_id": "9"}});
        db.run(&["track", &e.to_string()]).ok();
    }
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(2));

    // Deletes events: refused without --yes (exit 2), nothing deleted.
    db.run(&["retention", "run", "--timeline", "30"]).code(2).err_has(&["cannot be undone", "--yes"]);
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(2));
    let pass = db.json(&["retention", "run", "--timeline", "30", "--yes"]);
    assert_eq!((pass["timelines_trimmed"].clone(), pass["complete"].clone()), (json!(1), json!(true)));
    assert_eq!(pass["timeline_days"], json!(30));
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(1));

    let pass = db.json(&["retention", "run", "--timeline", "30", "--buckets", "30", "--yes"]);
    assert_eq!((pass["timelines_trimmed"].clone(), pass["buckets_folded"].clone()), (json!(0), json!(1)));
    let text = db.run(&["retention", "run", "--timeline", "30", "--buckets", "30", "--yes"]).ok().stdout;
    assert!(text.contains("trimmed 0 timelines, folded 0 day buckets"), "{text}");

    db.run(&["retention", "run", "--buckets", "0", "--yes"]).code(2).err_has(&["at least 1 day"]);
    db.run(&["retention", "run", "--timeline", "-3", "--yes"]).code(2);
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(1));
    assert!(db.run(&["retention", "run", "--help"]).ok().stdout.contains("Safety: writes"));
}

#[test]
fn tick_enforces_the_retention_it_is_given() {
    let db = TestDb::init();
    let now = now_ms();
    for age_days in [60, 1] {
        let e = json!({"type": "track", "event": "view", "timestamp": now - age_days * DAY_MS,
                       "identifiers": {"user_id": "7"}});
        db.run(&["track", &e.to_string()]).ok();
    }
    // The defaults (365 days) keep both; so does a plain retention run.
    db.run(&["tick"]).ok();
    assert_eq!(db.json(&["retention", "run", "--yes"])["timelines_trimmed"], json!(0));
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(2));

    db.run(&["check", "--timeline", "30"]).code(2).err_has(&["--tick"]);
    db.run(&["tick", "--timeline", "0"]).code(2).err_has(&["at least 1 day"]);
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(2), "nothing written");
    // What retention removed is reported, and the setting is recorded.
    let tick = db.run(&["tick", "--timeline", "30", "--yes"]).ok().stdout;
    assert!(tick.contains("retention (timeline 30 days, buckets forever, feed 30 days, membership history 365 days): trimmed 1 timelines"), "{tick}");
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(1));
    assert_eq!(db.json(&["check", "--tick", "--timeline", "30", "--yes"])["clean"], json!(true));
    let pass = db.json(&["retention", "run", "--yes"]);
    assert_eq!((pass["timeline_days"].clone(), pass["buckets_days"].clone()), (json!(30), json!(0)));
}

/// An application that keeps events longer than the CLI's default: a plain
/// `tick` applies the application's recorded setting and deletes nothing.
#[test]
fn tick_applies_the_retention_the_application_recorded() {
    let db = TestDb::init();
    let now = now_ms();
    let e = json!({"type": "track", "event": "view", "timestamp": now - 500 * DAY_MS, "identifiers": {"user_id": "7"}});
    db.run(&["track", &e.to_string()]).ok();
    db.run(&["retention", "run", "--timeline", "730", "--yes"]).ok();
    let tick = db.json(&["tick"]);
    assert_eq!(tick["timelines_trimmed"], json!(0), "{tick}");
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(1), "the 500-day-old event stays");
    assert_eq!(db.json(&["check", "--tick"])["clean"], json!(true));
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(1));
}

#[test]
fn was_member_answers_from_the_membership_history() {
    let db = people();
    db.run(&["segment", "define", "de", r#"traits.country = "DE""#]).ok();
    let later = now_ms() + DAY_MS;
    let at = later.to_string();
    let v = db.json(&["segment", "was-member", "user_id:1", "de", "--at", &at]);
    assert_eq!((v["member"].clone(), v["segment"].clone()), (json!(true), json!("de")));
    assert_eq!(db.json(&["segment", "was-member", "user_id:4", "de", "--at", &at])["member"], json!(false));
    let before = db.json(&["segment", "was-member", "user_id:1", "de", "--at", "2000-01-01T00:00:00Z"]);
    assert_eq!(before["member"], json!(false));
    let text = db.run(&["segment", "was-member", "user_id:1", "de", "--at", &at]).ok().stdout;
    assert!(text.contains("was a member of de"), "{text}");

    db.run(&["segment", "was-member", "user_id:1", "nope", "--at", &at]).code(3).err_has(&["no segment named"]);
    db.run(&["segment", "was-member", "user_id:99", "de", "--at", &at]).code(3);
    db.run(&["segment", "was-member", "user_id:1", "de", "--at", "yesterday"]).code(2).err_has(&["--at"]);
    db.run(&["segment", "was-member", "nocolon", "de", "--at", &at]).code(2);
}

#[test]
fn suppressed_says_whether_an_identifier_was_erased() {
    let db = people();
    let v = db.json(&["identifier", "suppressed", "user_id:1"]);
    assert_eq!(v, json!({"identifier": "user_id:1", "suppressed": false}));
    db.run(&["erase", "user_id:1", "--yes"]).ok();
    assert_eq!(db.json(&["identifier", "suppressed", "user_id:1"])["suppressed"], json!(true));
    assert_eq!(db.json(&["identifier", "suppressed", "user_id:2"])["suppressed"], json!(false));
    let text = db.run(&["identifier", "suppressed", "user_id:1"]).ok().stdout;
    assert!(text.contains("user_id:1 is suppressed"), "{text}");
    db.run(&["identifier", "suppressed", "nocolon"]).code(2);
    assert!(db.run(&["identifier", "suppressed", "--help"]).ok().stdout.contains("Safety: read-only"));
}

#[test]
fn segment_export_respects_consent() {
    let db = people();
    db.run(&["segment", "define", "de", r#"traits.country = "DE""#]).ok();
    db.run(&["consent", "set", "user_id:1", "marketing_email", "granted", "--source", "form"]).ok();
    db.run(&["consent", "set", "user_id:2", "marketing_email", "denied", "--source", "form"]).ok();
    db.run(&["consent", "set", "user_id:3", "marketing_email", "granted", "--source", "form"]).ok();
    db.run(&["consent", "set", "user_id:3", "marketing_email", "withdrawn", "--source", "ticket"]).ok();

    let r = db.run(&["export", "--segment", "de", "--require-consent", "marketing_email"]).ok();
    let rows: Vec<Value> = r.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.iter().map(|r| r["identifiers"][0].clone()).collect::<Vec<_>>(), [json!("user_id:1")]);
    assert!(r.stderr.contains("exported 1 members of segment de; 2 left out"), "{}", r.stderr);

    let v = db.json(&["export", "--segment", "de", "--require-consent", "marketing_email"]);
    assert_eq!((v["exported"].clone(), v["left_out"].clone(), v["overridden"].clone()), (json!(1), json!(2), json!(0)));
    assert_eq!(v["members"].as_array().unwrap().len(), 1);

    let v = db.json(&["export", "--segment", "de", "--require-consent", "marketing_email", "--override-consent"]);
    assert_eq!((v["exported"].clone(), v["left_out"].clone(), v["overridden"].clone()), (json!(3), json!(0), json!(2)));

    // Two purposes: nobody has both.
    let v = db.json(&["export", "--segment", "de", "--require-consent", "marketing_email,analytics"]);
    assert_eq!((v["exported"].clone(), v["left_out"].clone()), (json!(0), json!(3)));

    let csv = db.run(&["export", "--segment", "de", "--require-consent", "marketing_email", "--csv"]).ok().stdout;
    assert_eq!(csv.lines().count(), 2, "{csv}");

    db.run(&["export", "--segment", "nope", "--require-consent", "marketing_email"]).code(3).err_has(&["no segment"]);
    db.run(&["export", "--segment", "de", "--require-consent", "Bad Purpose"]).code(2).err_has(&["consent purpose"]);
    db.run(&["export", "--query", "has email", "--require-consent", "marketing_email"]).code(2);
    db.run(&["export", "--segment", "de", "--override-consent"]).code(2);
}
