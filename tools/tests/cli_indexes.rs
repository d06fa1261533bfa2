//! `index add|list|drop` (and what `query --explain` and `check` make of
//! them), `retention run`, `segment was-member`, and
//! `export --segment --require-consent`: happy paths, JSON, exit codes.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::TestDb;
use serde_json::{json, Value};

const DAY_MS: i64 = 86_400_000;

/// Four people: three in DE, one in NO.
fn people() -> TestDb {
    let db = TestDb::init();
    for (id, country) in [("user_id:1", "DE"), ("user_id:2", "DE"), ("user_id:3", "DE"), ("user_id:4", "NO")] {
        db.run(&["trait", "set", id, "country", country]).ok();
    }
    db
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

fn names(list: &Value) -> Vec<String> {
    list["indexes"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn indexes_are_added_listed_used_checked_and_dropped() {
    let db = people();
    assert_eq!(db.json(&["index", "list"]), json!({"indexes": []}));
    let plan = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert!(!plan["explain"].as_str().unwrap().contains("value bitmaps"), "{plan}");

    let added = db.json(&["index", "add", "country"]);
    assert_eq!((added["values"].clone(), added["profiles"].clone()), (json!(2), json!(4)));
    assert_eq!((added["unindexed"].clone(), added["already_indexed"].clone()), (json!(0), json!(false)));
    assert_eq!(db.json(&["index", "add", "country"])["already_indexed"], json!(true));
    let text = db.run(&["index", "add", "country"]).ok().stdout;
    assert!(text.contains("already indexed traits.country: 2 distinct values, 4 profiles"), "{text}");

    // Later writes keep it exact: a new value, a new profile.
    db.run(&["trait", "set", "user_id:5", "country", "SE"]).ok();
    let list = db.json(&["index", "list"]);
    assert_eq!(names(&list), ["country"]);
    assert_eq!((list["indexes"][0]["values"].clone(), list["indexes"][0]["profiles"].clone()), (json!(3), json!(5)));
    assert!(db.run(&["index", "list"]).ok().stdout.contains("country"));

    let q = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert_eq!(q["count"], json!(3));
    assert!(q["explain"].as_str().unwrap().contains("value bitmaps of traits.country"), "{q}");
    let text = db.run(&["query", "--explain", r#"traits.country = "DE""#]).ok().stdout;
    assert!(text.contains("value bitmaps of traits.country"), "{text}");

    let check = db.json(&["check"]);
    assert_eq!((check["clean"].clone(), check["trait_indexes"].clone()), (json!(true), json!(1)));

    assert_eq!(db.json(&["index", "drop", "country"]), json!({"dropped": "country"}));
    assert!(names(&db.json(&["index", "list"])).is_empty());
    let q = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert_eq!(q["count"], json!(3));
    assert!(!q["explain"].as_str().unwrap().contains("value bitmaps"), "{q}");
}

#[test]
fn index_errors_have_their_exit_codes() {
    let db = people();
    db.run(&["index", "drop", "country"]).code(3).err_has(&["no index on trait \"country\"", "index list"]);
    db.run(&["index", "add", "bad name!"]).code(2).err_has(&["invalid trait name"]);
    db.run(&["index", "add"]).code(2);
    assert!(names(&db.json(&["index", "list"])).is_empty(), "nothing written");
    TestDb::empty().run(&["index", "list"]).code(3).err_has(&["no database"]);
    for cmd in ["add", "drop"] {
        assert!(db.run(&["index", cmd, "--help"]).ok().stdout.contains("Safety: writes"));
    }
    assert!(db.run(&["index", "list", "--help"]).ok().stdout.contains("Safety: read-only"));
}

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

    let pass = db.json(&["retention", "run", "--timeline", "30"]);
    assert_eq!((pass["timelines_trimmed"].clone(), pass["complete"].clone()), (json!(1), json!(true)));
    assert_eq!(pass["timeline_days"], json!(30));
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(1));

    let pass = db.json(&["retention", "run", "--timeline", "30", "--buckets", "30"]);
    assert_eq!((pass["timelines_trimmed"].clone(), pass["buckets_folded"].clone()), (json!(0), json!(1)));
    let text = db.run(&["retention", "run", "--timeline", "30", "--buckets", "30"]).ok().stdout;
    assert!(text.contains("trimmed 0 timelines, folded 0 day buckets"), "{text}");

    db.run(&["retention", "run", "--buckets", "0"]).code(2).err_has(&["at least 1 day"]);
    db.run(&["retention", "run", "--timeline", "-3"]).code(2);
    assert_eq!(db.json(&["events", "user_id:9"])["total"], json!(1));
    assert!(db.run(&["retention", "run", "--help"]).ok().stdout.contains("Safety: writes"));
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
