//! `--schemas FILE` on `import` and `track`: events checked against
//! per-event-name schemas, violations rejected by line naming the event,
//! the property and the rule, `--strict` writing nothing, bad schema files
//! refused before anything is written.

mod common;

use common::{s, TestDb};
use serde_json::json;

const SCHEMAS: &str = r#"{
  "schemas": {
    "Order Completed": {
      "required": ["total", "currency"],
      "types": {"total": "number"},
      "allowed": {"currency": ["USD", "EUR"]}
    },
    "identify": {"allowed": {"plan": ["free", "pro"]}}
  },
  "allow_unknown_events": false
}"#;

const EVENTS: &str = r#"{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:00:00Z","identifiers":{"user_id":"1"},"properties":{"total":10,"currency":"USD"}}
{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:01:00Z","identifiers":{"user_id":"2"},"properties":{"currency":"USD"}}
{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:02:00Z","identifiers":{"user_id":"3"},"properties":{"total":"7","currency":"USD"}}
{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:03:00Z","identifiers":{"user_id":"1"},"properties":{"total":5,"currency":"GBP"}}
{"type":"track","event":"Newsletter Signup","timestamp":"2024-05-01T10:04:00Z","identifiers":{"user_id":"4"}}
{"type":"identify","userId":"5","timestamp":"2024-05-01T10:05:00Z","traits":{"plan":"gold"}}
{"type":"identify","userId":"1","timestamp":"2024-05-01T10:06:00Z","traits":{"plan":"pro"}}
{"identifiers":{"user_id":"6"},"traits":{"plan":"gold"}}
{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:07:00Z","identifiers":{"user_id":"1"},"properties":{"total":2.5,"currency":"EUR"}}
"#;

fn loaded() -> (TestDb, String, String) {
    let db = TestDb::init();
    let schemas = s(&db.file("schemas.json", SCHEMAS)).to_owned();
    let events = s(&db.file("events.jsonl", EVENTS)).to_owned();
    (db, schemas, events)
}

#[test]
fn import_rejects_violating_events_by_line_and_writes_the_others() {
    let (db, schemas, events) = loaded();
    let run = db.run(&["--json", "import", "--schemas", &schemas, &events]).code(2).err_has(&["5 of 9 lines rejected"]);
    let r = run.json();
    assert_eq!((r["accepted"].clone(), r["events_applied"].clone()), (json!(4), json!(3)), "{r}");
    let rejections: Vec<(u64, String)> = r["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["line"].as_u64().unwrap(), x["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        rejections,
        vec![
            (2, r#"event "Order Completed" breaks its schema: property "total" is required"#.to_owned()),
            (3, r#"event "Order Completed" breaks its schema: property "total" must be a number, found string"#.to_owned()),
            (
                4,
                r#"event "Order Completed" breaks its schema: property "currency" must be one of ["USD", "EUR"], found "GBP""#
                    .to_owned()
            ),
            (5, r#"event "Newsletter Signup" has no schema, and unknown event names are refused"#.to_owned()),
            (6, r#"event "identify" breaks its schema: property "plan" must be one of ["free", "pro"], found "gold""#.to_owned()),
        ]
    );
    // The good events went in; nothing of the rejected ones did. Profile
    // lines are not events: line 8 is not checked.
    let ev = db.json(&["events", "user_id:1"]);
    let totals: Vec<serde_json::Value> =
        ev["events"].as_array().unwrap().iter().filter_map(|e| e["properties"].get("total").cloned()).collect();
    assert_eq!(totals, vec![json!(10), json!(2.5)], "{ev}");
    assert_eq!(db.get("user_id:1")["traits"]["plan"], json!("pro"));
    assert_eq!(db.get("user_id:6")["traits"]["plan"], json!("gold"));
    for absent in ["user_id:2", "user_id:3", "user_id:4", "user_id:5"] {
        db.run(&["get", absent]).code(3);
    }
    let text = db.run(&["import", "--schemas", &schemas, &events]).code(2).stdout;
    assert!(text.contains("property \"total\" is required"), "{text}");
}

#[test]
fn strict_import_with_a_violation_writes_nothing() {
    let (db, schemas, events) = loaded();
    let before = db.run(&["dump", "--cf", "event"]).ok().stdout;
    let r = db
        .run(&["--json", "import", "--strict", "--schemas", &schemas, &events])
        .code(2)
        .err_has(&["5 of 9 lines rejected", "nothing was written"])
        .json();
    assert_eq!(r["nothing_written"], json!(true));
    assert_eq!(r["rejections"].as_array().unwrap().len(), 5);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0));
    assert_eq!(db.run(&["dump", "--cf", "event"]).ok().stdout, before);

    // The conforming lines alone import under --strict.
    let good: String =
        EVENTS.lines().enumerate().filter(|(i, _)| [0, 6, 7, 8].contains(i)).map(|(_, l)| format!("{l}\n")).collect();
    let good = db.file("good.jsonl", &good);
    let r = db.json(&["import", "--strict", "--schemas", &schemas, s(&good)]);
    assert_eq!((r["accepted"].clone(), r["rejected"].clone()), (json!(4), json!(0)));
}

#[test]
fn without_schemas_every_event_is_accepted() {
    // Schemas are an open-time option, not stored: a run without the file
    // does not check them.
    let (db, _, events) = loaded();
    let r = db.json(&["import", &events]);
    assert_eq!((r["accepted"].clone(), r["rejected"].clone()), (json!(9), json!(0)));
}

#[test]
fn track_checks_the_schemas() {
    let (db, schemas, _) = loaded();
    let bad = r#"{"type":"track","event":"Order Completed","timestamp":"2024-05-01T10:00:00Z","identifiers":{"user_id":"1"},"properties":{"total":10,"currency":"NOK"}}"#;
    db.run(&["track", "--schemas", &schemas, bad]).code(2).err_has(&[
        "error: event \"Order Completed\" breaks its schema: property \"currency\" must be one of [\"USD\", \"EUR\"], found \"NOK\"",
    ]);
    db.run(&["get", "user_id:1"]).code(3);
    let unknown =
        r#"{"type":"track","event":"Other","timestamp":"2024-05-01T10:00:00Z","identifiers":{"user_id":"1"}}"#;
    db.run(&["track", "--schemas", &schemas, unknown]).code(2).err_has(&["\"Other\"", "has no schema"]);
    db.run(&["get", "user_id:1"]).code(3);
    db.run(&["track", unknown]).ok();
    db.get("user_id:1");
}

#[test]
fn a_bad_schemas_file_is_refused_before_anything_is_written() {
    let (db, _, events) = loaded();
    let typo = db.file("typo.json", r#"{"schemas": {"Order Completed": {"require": ["total"]}}}"#);
    db.run(&["import", "--schemas", s(&typo), &events]).code(2).err_has(&["--schemas", "unknown field `require`"]);
    let bad_type = db.file("bad_type.json", r#"{"schemas": {"Order Completed": {"types": {"total": "money"}}}}"#);
    db.run(&["import", "--schemas", s(&bad_type), &events]).code(2).err_has(&["--schemas", "unknown variant `money`"]);
    db.run(&["track", "--schemas", s(&db.beside("absent.json")), "{}"]).code(2).err_has(&["--schemas", "cannot read"]);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0));
}
