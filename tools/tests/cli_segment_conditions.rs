//! Conditions that could quietly match nothing: `query` warns about event
//! names no stored event has (as `segment define` does), and the type rules
//! the README states (times, missing and null traits, text amounts) hold.

mod common;

use common::{now_ms, TestDb, DAY_MS};
use serde_json::json;

#[test]
fn query_warns_about_an_event_name_no_stored_event_has() {
    let db = TestDb::init();
    let e = json!({"type": "track", "event": "purchase", "timestamp": now_ms(), "identifiers": {"user_id": "1"}, "properties": {"amount": 5}});
    db.run(&["track", &e.to_string()]).ok();
    let run = db.run(&["query", "--count", "count(purchse, 7d) >= 1"]).ok();
    assert_eq!(run.stdout.trim(), "0");
    let run = run.err_has(&["warning: no stored event is named \"purchse\"", "count nothing"]);
    assert!(!run.stderr.contains("\"purchase\""), "{}", run.stderr);
    let run = db.run(&["query", "count(purchase, 7d) >= 1"]).ok();
    assert!(run.stderr.is_empty(), "a stored name is not warned about: {}", run.stderr);
    // An expression that does not parse is reported once, by the query.
    db.run(&["query", "count(purchse, 7d) >="]).code(2).err_has(&["position"]);
}

#[test]
fn the_documented_type_rules_hold() {
    let db = TestDb::init();
    let soon = now_ms() + 2 * DAY_MS;
    db.run(&["trait", "set", "user_id:1", "trial_ends", &soon.to_string()]).ok(); // a number
    db.run(&["trait", "set", "user_id:2", "trial_ends", &json!(soon.to_string()).to_string()]).ok(); // a string
    db.run(&["trait", "set", "user_id:3", "nick", "null"]).ok();
    let q = |expr: &str| db.json(&["query", expr])["members"].clone();
    // Only the string holding epoch milliseconds is a time.
    assert_eq!(q("traits.trial_ends < now + 3d and traits.trial_ends > now"), json!([1]));
    assert_eq!(q("traits.nick exists"), json!([2]));
    assert_eq!(q("traits.nick is null"), json!([2]));
    assert_eq!(q("not traits.nick exists or traits.nick is null"), json!([0, 1, 2]));
}
