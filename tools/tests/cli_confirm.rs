//! Every destructive command needs `--yes` (CLI admin review M6, follow-up):
//! `tick`/`check --tick` with a retention setting, redefining an existing
//! segment, `unmerge` and `identifier remove` are refused without it (exit
//! 2, "add --yes to confirm") and write nothing.

mod common;

use common::{now_ms, TestDb};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

/// The refusal every unconfirmed destructive command gives.
const REFUSED: &[&str] = &["cannot be undone", "add --yes to confirm"];

#[test]
fn tick_with_a_retention_setting_needs_yes_and_writes_nothing_without() {
    let db = TestDb::init();
    let e = json!({"type": "track", "event": "view", "timestamp": now_ms() - 60 * DAY_MS,
                   "identifiers": {"user_id": "7"}});
    db.run(&["track", &e.to_string()]).ok();
    db.run(&["tick", "--timeline", "30"]).code(2).err_has(REFUSED);
    db.run(&["tick", "--buckets", "30"]).code(2).err_has(REFUSED);
    db.run(&["check", "--tick", "--timeline", "30"]).code(2).err_has(REFUSED);
    // A bad value is still reported as such first.
    db.run(&["tick", "--timeline", "0"]).code(2).err_has(&["at least 1 day"]);
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(1), "nothing deleted");
    // Nothing recorded either: a plain tick (recorded settings, no --yes) keeps it.
    assert_eq!(db.json(&["tick"])["timelines_trimmed"], json!(0));
    assert_eq!(db.json(&["check", "--tick"])["clean"], json!(true));
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(1));
    assert_eq!(db.json(&["tick", "--timeline", "30", "--yes"])["timelines_trimmed"], json!(1));
    assert_eq!(db.json(&["events", "user_id:7"])["total"], json!(0));
    assert_eq!(db.json(&["check", "--tick", "--timeline", "30", "--yes"])["clean"], json!(true));
}

#[test]
fn redefining_an_existing_segment_needs_yes_a_new_one_does_not() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:1", "plan", "pro"]).ok();
    db.run(&["trait", "set", "user_id:2", "plan", "free"]).ok();
    assert_eq!(db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#])["members"], json!(1));
    db.run(&["segment", "define", "pro", r#"traits.plan = "free""#]).code(2).err_has(REFUSED).err_has(&["pro exists"]);
    let show = db.json(&["segment", "show", "pro"]);
    assert_eq!(show["expression"], json!(r#"traits.plan = "pro""#), "unchanged: {show}");
    assert_eq!(db.json(&["feed"])["records"].as_array().map(Vec::len), Some(1), "no feed record written");
    let d = db.json(&["segment", "define", "pro", r#"traits.plan = "free""#, "--yes"]);
    assert_eq!((d["redefined"].clone(), d["members"].clone()), (json!(true), json!(1)));
    assert_eq!(db.json(&["segment", "show", "pro"])["expression"], json!(r#"traits.plan = "free""#));
}

#[test]
fn unmerge_needs_yes_and_writes_nothing_without() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    db.run(&["trait", "set", "anonymous_id:v1", "page_views", "4"]).ok();
    db.run(&["merge", "email:a@x.com", "anonymous_id:v1"]).ok();
    db.run(&["unmerge", "anonymous_id:v1"]).code(2).err_has(REFUSED);
    assert_eq!(db.get("anonymous_id:v1")["id"], json!(0), "still merged");
    // A malformed identifier is reported as such, before the confirmation.
    db.run(&["unmerge", "EMAIL:x"]).code(2).err_has(&["kind"]);
    assert_eq!(db.json(&["unmerge", "anonymous_id:v1", "--yes"])["restored"], json!(1));
}

#[test]
fn identifier_remove_needs_yes_and_writes_nothing_without() {
    let db = TestDb::init();
    db.run(&["identify", "email:a@x.com", "device_id:shared"]).ok();
    db.run(&["identifier", "remove", "device_id:shared"]).code(2).err_has(REFUSED);
    assert_eq!(db.json(&["identities", "device_id:shared"])["identifiers"].as_array().map(Vec::len), Some(2));
    let r = db.json(&["identifier", "remove", "device_id:shared", "--yes"]);
    assert_eq!(r["detached"], json!(true));
}

#[test]
fn feed_and_membership_history_settings_need_yes_and_are_recorded() {
    let db = TestDb::init();
    let e = json!({"type": "track", "event": "view", "timestamp": now_ms(), "identifiers": {"user_id": "7"}});
    db.run(&["track", &e.to_string()]).ok();
    db.run(&["tick", "--feed", "30"]).code(2).err_has(REFUSED);
    db.run(&["tick", "--membership-history", "30"]).code(2).err_has(REFUSED);
    db.run(&["tick", "--feed", "0"]).code(2).err_has(&["at least 1 day"]);
    db.run(&["check", "--membership-history", "30"]).code(2).err_has(&["go with --tick"]);
    db.run(&["tick", "--feed", "7", "--membership-history", "90", "--yes"]).ok();
    // Recorded: `retention run` applies and reports them.
    let run = db.json(&["retention", "run", "--yes"]);
    assert_eq!((run["feed_days"].clone(), run["membership_history_days"].clone()), (json!(7), json!(90)), "{run}");
    // The clock is right: accepting it changes nothing else.
    assert_eq!(db.json(&["tick", "--accept-clock"])["failures"], json!([]));
}
