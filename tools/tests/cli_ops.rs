//! Operations and privacy: `check`, `tick`, `feed`, `export`, `erase`,
//! `audit`.

mod common;

use common::TestDb;
use serde_json::json;

fn two_people() -> TestDb {
    let db = TestDb::init();
    db.run(&["identify", "email:ann@x.com", "user_id:1"]).ok();
    db.run(&["trait", "set", "user_id:1", "plan", "pro"]).ok();
    db.run(&["trait", "set", "email:bo@x.com", "plan", "free"]).ok();
    db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#]);
    db
}

#[test]
fn check_is_clean_with_exit_0_and_tick_and_feed_report() {
    let db = two_people();
    let c = db.json(&["check"]);
    assert_eq!((c["clean"].clone(), c["profiles"].clone(), c["segments"].clone()), (json!(true), json!(2), json!(1)));
    assert_eq!(c["violations"], json!([]));
    assert!(db.run(&["check"]).ok().stdout.contains("clean: no violations"));
    assert_eq!(db.json(&["check", "--tick"])["ticked"], json!(0));
    assert_eq!(db.json(&["tick"])["processed"], json!(0));

    let feed = db.json(&["feed"]);
    let records = feed["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{feed}");
    assert_eq!((records[0]["kind"].clone(), records[0]["segment"].clone()), (json!("entered"), json!("pro")));
    db.run(&["trait", "set", "user_id:1", "plan", "free"]).ok();
    let next = db.json(&["feed", "--from", &feed["next"].to_string()]);
    assert_eq!(next["records"][0]["kind"], json!("exited"));
    assert_eq!(db.json(&["feed", "--limit", "1"])["next"], json!(1));
}

#[test]
fn export_gives_a_persons_document_or_a_segments_members() {
    let db = two_people();
    let doc = db.run(&["export", "email:ann@x.com", "--request-id", "T-1"]).ok().json();
    assert_eq!(doc["profile"]["traits"]["plan"], json!("pro"));
    assert_eq!(doc["segments"], json!(["pro"]));
    assert_eq!(doc["identifiers"].as_array().unwrap().len(), 2);
    db.run(&["export", "email:nobody@x.com"]).code(3);

    let jsonl = db.run(&["export", "--segment", "pro"]).ok().stdout;
    let rows: Vec<serde_json::Value> = jsonl.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["identifiers"], json!(["email:ann@x.com", "user_id:1"]));
    db.run(&["trait", "set", "user_id:1", "note", "a, \"b\""]).ok();
    let csv = db.run(&["export", "--segment", "pro", "--csv"]).ok().stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,identifiers,note,plan");
    assert!(lines[1].ends_with(r#","[""email:ann@x.com"",""user_id:1""]","a, ""b""",pro"#), "{csv}");
    let only = db.run(&["export", "--segment", "pro", "--csv", "--traits", "plan"]).ok().stdout;
    assert_eq!(only.lines().next(), Some("id,identifiers,plan"));
    let q = db.run(&["export", "--query", "has email", "--csv", "--traits", "plan"]).ok().stdout;
    assert_eq!(q.lines().count(), 3, "a header and both people: {q}");
    assert!(q.contains(r#""[""email:bo@x.com""]",free"#), "{q}");
    db.run(&["export", "--query", "has (email"]).code(2).err_has(&["position"]);
    db.run(&["export", "--segment", "nope"]).code(3);
    db.run(&["export"]).code(2);
}

#[test]
fn erase_needs_confirmation_and_the_audit_log_records_it() {
    let db = two_people();
    db.run(&["erase", "email:ann@x.com"]).code(2).err_has(&["--yes"]);
    db.get("user_id:1");
    let e = db.json(&["erase", "user_id:1", "--yes", "--request-id", "GDPR-7"]);
    assert_eq!(e["identifiers"], json!(2));
    db.run(&["get", "email:ann@x.com"]).code(3);
    db.run(&["erase", "user_id:1", "--yes"]).code(3).err_has(&["not found"]);
    assert_eq!(db.json(&["segment", "count", "pro"])["members"], json!(0));

    let log = db.json(&["audit"]);
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0]["action"].clone(), records[0]["request_id"].clone()), (json!("erase"), json!("GDPR-7")));
    assert!(!log.to_string().contains("ann@x.com"), "the audit log holds no identifiers: {log}");
    assert!(db.run(&["audit"]).ok().stdout.contains("GDPR-7"));
    assert_eq!(db.json(&["check"])["clean"], json!(true));
}

#[test]
fn reads_work_beside_a_running_application_and_writes_report_the_lock() {
    let db = two_people();
    let app = profiledb::ProfileDb::open(db.path()).unwrap();
    app.update(&"user_id:7".parse().unwrap(), profiledb::Update::new().set("plan", "pro")).unwrap();
    assert_eq!(db.json(&["segment", "count", "pro"])["members"], json!(2));
    assert_eq!(db.json(&["query", "in pro", "--count"])["count"], json!(2));
    assert_eq!(db.json(&["check"])["clean"], json!(true));
    for read in [&["segment", "list"][..], &["feed"], &["audit"], &["rollup", "list"], &["events", "user_id:7"]] {
        db.run(read).ok();
    }
    db.run(&["export", "--segment", "pro"]).ok();
    for write in [&["tick"][..], &["segment", "define", "x", "has email"], &["export", "user_id:7"]] {
        db.run(write).code(5).err_has(&["already open"]);
    }
    db.run(&["erase", "user_id:7", "--yes"]).code(5);
    drop(app);
    db.run(&["tick"]).ok();
}

#[test]
fn anonymize_needs_confirmation_and_dry_run_shows_what_it_would_do() {
    let db = two_people();
    db.run(&["trait", "set", "user_id:1", "name", "Ann"]).ok();
    db.run(&["trait", "set", "user_id:1", "ref", "c-17"]).ok();
    let event = r#"{"type":"track","event":"purchase","timestamp":"2024-05-01T10:00:00Z","identifiers":{"user_id":"1"},"properties":{"amount":30,"card":"4111"}}"#;
    db.run(&["track", event]).ok();
    let before = db.get("user_id:1");

    db.run(&["anonymize", "user_id:1", "--keep", "plan"]).code(2).err_has(&["cannot be undone", "--yes", "--dry-run"]);
    db.run(&["anonymize", "user_id:1", "--yes", "--dry-run"]).code(2);

    let dry = db.json(&["anonymize", "user_id:1", "--keep", "plan", "--keep", "amount", "--hash", "ref", "--dry-run"]);
    assert_eq!(dry["dry_run"], json!(true));
    assert_eq!(dry["identifiers_removed"], json!(["email:ann@x.com", "user_id:1"]));
    assert_eq!(dry["traits"], json!({"kept": ["plan"], "hashed": ["ref"], "dropped": ["name"]}));
    assert_eq!(dry["event_properties"], json!({"kept": ["amount"], "hashed": [], "dropped": ["card"]}));
    assert_eq!(dry["events"], json!(1));
    let text = db.run(&["anonymize", "user_id:1", "--keep", "plan", "--dry-run"]).ok().stdout;
    assert!(text.contains("nothing was changed") && text.contains("traits dropped: name, ref"), "{text}");
    db.run(&["anonymize", "email:nobody@x.com", "--dry-run"]).code(3);
    assert_eq!(db.get("user_id:1"), before, "a refused or dry run changes nothing");
    assert_eq!(db.json(&["audit"])["total"], json!(0));

    let id = db.json(&["anonymize", "user_id:1", "--keep", "plan", "--yes"])["profile"].to_string();
    db.run(&["get", "user_id:1"]).code(3);
    // Its history is gone because of anonymize, and history says so.
    let h = db.json(&["history", "--id", &id]);
    assert_eq!(h["missing_because"], json!("anonymized"), "{h}");
    let text = db.run(&["history", "--id", &id]).ok().stdout;
    assert!(text.contains("`anonymize` removed them at") && !text.contains("by `retain`"), "{text}");
}

#[test]
fn erase_of_several_identifiers_reports_each_and_erases_each_person_once() {
    let db = two_people();
    db.run(&["trait", "set", "user_id:3", "plan", "free"]).ok();
    db.run(&["erase", "user_id:1", "email:bo@x.com"]).code(2).err_has(&["--yes", "2 identifiers"]);
    db.get("user_id:1");
    let e = db.json(&[
        "erase",
        "user_id:1",
        "email:bo@x.com",
        "email:ann@x.com",
        "email:nobody@x.com",
        "--yes",
        "--request-id",
        "B-1",
    ]);
    assert_eq!(
        (e["erased"].clone(), e["not_found"].clone(), e["same_person"].clone()),
        (json!(2), json!(1), json!(1)),
        "{e}"
    );
    let results = e["results"].as_array().unwrap();
    assert_eq!(
        results.iter().map(|r| r["outcome"].as_str().unwrap()).collect::<Vec<_>>(),
        ["erased", "erased", "same_person", "not_found"]
    );
    assert_eq!((results[0]["identifier"].clone(), results[0]["identifiers"].clone()), (json!("user_id:1"), json!(2)));
    assert_eq!(results[2]["same_as"], json!("user_id:1"));
    for gone in ["user_id:1", "email:bo@x.com", "email:ann@x.com"] {
        db.run(&["get", gone]).code(3);
        assert_eq!(db.json(&["identifier", "suppressed", gone])["suppressed"], json!(true), "{gone}");
    }
    db.get("user_id:3");
    let log = db.json(&["audit"]);
    let records = log["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "one audit record per person: {log}");
    assert!(records.iter().all(|r| r["request_id"] == json!("B-1")));

    // Text: one line per identifier and a summary; erased ones are now suppressed.
    let out = db.run(&["erase", "user_id:3", "user_id:1", "user_id:3", "--yes"]).ok().stdout;
    assert!(out.contains("user_id:3") && out.contains("erased profile"), "{out}");
    assert!(out.contains("already erased or anonymized"), "{out}");
    assert!(out.contains("same person as user_id:3"), "{out}");
    assert!(out.contains("erased 1 people; 1 identifiers not found; 1 the same person as an earlier one"), "{out}");
    assert_eq!(db.json(&["check"])["clean"], json!(true));
}

#[test]
fn erase_from_file_skips_comments_and_a_malformed_line_erases_nothing() {
    let db = two_people();
    let bad = db.file("bad.txt", "# DSAR batch 12\nuser_id:1\n\nnot-an-identifier\nemail:bo@x.com\n");
    db.run(&["erase", "--from-file", common::s(&bad), "--yes"]).code(2).err_has(&["line 4", "not-an-identifier"]);
    db.get("user_id:1");
    db.get("email:bo@x.com");
    assert_eq!(db.json(&["audit"])["total"], json!(0), "nothing erased");

    let good = db.file("good.txt", "# DSAR batch 12\nuser_id:1\n\n  email:bo@x.com  \n");
    let e = db.json(&["erase", "--from-file", common::s(&good), "--yes"]);
    assert_eq!(e["erased"], json!(2), "{e}");
    db.run(&["get", "email:bo@x.com"]).code(3);
    // Standard input, beside identifiers on the command line.
    db.run(&["trait", "set", "user_id:8", "plan", "pro"]).ok();
    db.run(&["trait", "set", "user_id:9", "plan", "pro"]).ok();
    let e =
        db.run_stdin(&["--json", "erase", "user_id:8", "--from-file", "-", "--yes"], Some("user_id:9\n")).ok().json();
    assert_eq!(e["erased"], json!(2), "{e}");
    let empty = db.file("empty.txt", "# nothing\n\n");
    db.run(&["erase", "--from-file", common::s(&empty), "--yes"]).code(2).err_has(&["no identifiers"]);
    assert_eq!(db.json(&["check"])["clean"], json!(true));
}
