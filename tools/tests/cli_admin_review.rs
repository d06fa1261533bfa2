//! Findings of the on-call admin review of the CLI (session 28): due
//! wake-ups are not violations and every read of stored memberships says
//! when they can be behind; `dump` redacts the suppression secret; epoch
//! seconds on a time flag are refused; `--limit 0` is refused alike
//! everywhere; the feed names its head.

mod common;

use common::{now_ms, TestDb};
use serde_json::json;

const DAY_MS: i64 = 86_400_000;

/// A database whose only profile leaves segment `recent` 1.5 s after the
/// call, with no tick run: then a due wake-up, sleeping past it.
fn with_a_due_wakeup() -> TestDb {
    let db = TestDb::init();
    let at = (now_ms() - DAY_MS + 1_500).to_string();
    let event = format!(r#"{{"type":"track","event":"buy","timestamp":{at},"identifiers":{{"email":"a@x.com"}}}}"#);
    db.run(&["track", &event]).ok();
    db.run(&["segment", "define", "recent", "last(buy) > now - 1d"]).ok();
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    db
}

#[test]
fn check_counts_due_wakeups_apart_from_violations_and_exits_0() {
    let db = with_a_due_wakeup();
    let run = db.run(&["check"]).ok();
    assert!(run.stdout.contains("1 segment membership difference(s) due, not yet processed (run `profiledb tick`)"));
    assert!(run.stdout.contains("clean: no violations"), "{}", run.stdout);
    let v = db.json(&["check"]);
    assert_eq!((v["clean"].clone(), v["due_not_processed"].clone()), (json!(true), json!(1)), "{v}");
    assert_eq!(v["violations"], json!([]));
    db.run(&["tick"]).ok();
    assert_eq!(db.json(&["check"])["due_not_processed"], json!(0));
}

#[test]
fn every_read_of_stored_memberships_warns_while_a_wakeup_is_due() {
    let db = with_a_due_wakeup();
    let warned = ["fell due", "run `profiledb tick` first"];
    for args in [
        vec!["get", "email:a@x.com"],
        vec!["stats"],
        vec!["segment", "list"],
        vec!["segment", "show", "recent"],
        vec!["segment", "count", "recent"],
        vec!["segment", "members", "recent"],
        vec!["query", "in recent"],
        vec!["query", "in recent", "--count"],
    ] {
        db.run(&args).ok().err_has(&warned);
        let mut json_args = vec!["--json"];
        json_args.extend(&args);
        let run = db.run(&json_args).ok().err_has(&warned);
        assert_eq!(run.json()["stale_memberships"]["due"], json!(1), "{args:?}: {}", run.stdout);
    }
    // A query that reads no stored membership evaluates at now: no warning.
    let q = db.run(&["query", "last(buy) > now - 1d", "--count"]).ok();
    assert!(!q.stderr.contains("fell due"), "{}", q.stderr);
    db.run(&["tick"]).ok();
    let after = db.run(&["get", "email:a@x.com"]).ok();
    assert!(!after.stderr.contains("fell due"), "{}", after.stderr);
    assert_eq!(db.json(&["stats"])["stale_memberships"], json!(null));
}

#[test]
fn dump_redacts_the_suppression_secret() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:u1", "plan", "pro"]).ok();
    db.run(&["erase", "user_id:u1", "--yes"]).ok();
    // Erasing it again: not found, saying it is suppressed (as the batch form does).
    db.run(&["erase", "user_id:u1", "--yes"]).code(3).err_has(&["already erased or anonymized (suppressed)"]);
    let text = db.run(&["dump", "--cf", "meta"]).ok().stdout;
    let line = text.lines().find(|l| l.starts_with("suppression_secret ==> ")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with(" bytes, redacted>") && line.contains("<secret: "), "{line}");
    let hex = db.run(&["dump", "--cf", "meta", "--hex"]).ok().stdout;
    assert!(hex.contains("bytes, redacted>"), "{hex}");
    let v = db.json(&["dump", "--cf", "meta"]);
    let secret = v.as_array().unwrap().iter().find(|p| p["key"] == json!("suppression_secret")).unwrap();
    assert!(secret["value"].as_str().unwrap().ends_with("bytes, redacted>"), "{secret}");
}

#[test]
fn epoch_seconds_on_a_time_flag_are_refused_with_both_readings() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:u1", "plan", "pro"]).ok();
    let secs = (now_ms() / 1000).to_string();
    let run = db.run(&["events", "user_id:u1", "--from", &secs]).code(2);
    let run =
        run.err_has(&["--from", "ambiguous", "as seconds 20", "as milliseconds it is 1970-", &format!("{secs}000")]);
    assert!(run.stdout.is_empty());
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    db.run(&["segment", "was-member", "user_id:u1", "pro", "--at", &secs]).code(2).err_has(&["ambiguous"]);
    db.run(&["retain", "--before", &secs]).code(2).err_has(&["ambiguous"]);
    let ms = (now_ms() - 60_000).to_string();
    db.run(&["events", "user_id:u1", "--from", &ms]).ok();
}

#[test]
fn limit_0_is_refused_alike_and_the_feed_names_its_head() {
    let db = TestDb::init();
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    db.run(&["trait", "set", "user_id:u1", "plan", "pro"]).ok();
    for args in [
        vec!["feed", "--limit", "0"],
        vec!["segment", "members", "pro", "--limit", "0"],
        vec!["query", "in pro", "--limit", "0"],
        vec!["events", "user_id:u1", "--limit", "0"],
        vec!["history", "user_id:u1", "--limit", "0"],
        vec!["audit", "--limit", "0"],
        vec!["dump", "--cf", "meta", "--limit", "0"],
    ] {
        db.run(&args).code(2).err_has(&["--limit", "0 would show nothing"]);
    }
    let head = db.json(&["feed"])["head"].clone();
    assert_eq!(head, json!(1), "one entered record");
    assert_eq!(db.json(&["stats"])["feed_head"], json!(1));
    assert!(db.run(&["stats"]).ok().stdout.contains("feed head    1"));
    let past = db.run(&["--json", "feed", "--from", "99"]).ok().err_has(&["past the feed's head 1"]);
    assert_eq!(past.json()["head"], json!(1));
    let at_head = db.run(&["feed", "--from", "1"]).ok();
    assert!(!at_head.stderr.contains("past"), "{}", at_head.stderr);
    assert!(at_head.stdout.contains("the feed's head is 1"), "{}", at_head.stdout);
}

#[test]
fn the_events_table_shows_every_trait_operation_of_an_identify() {
    let db = TestDb::init();
    let at = (now_ms() - 60_000).to_string();
    let line = format!(
        r#"{{"type":"identify","timestamp":{at},"identifiers":{{"user_id":"1"}},"traits":{{"country":"GB"}},"trait_ops":[{{"SetOnce":{{"name":"first_source","value":{{"Str":"facebook"}}}}}},{{"Set":{{"name":"plan","value":{{"Str":"free"}}}}}}]}}"#
    );
    let imported = db.run_stdin(&["import", "-"], Some(&line));
    let imported = imported.ok();
    assert!(!imported.stdout.is_empty());
    let table = db.run(&["events", "user_id:1"]).ok().stdout;
    for op in [r#"set country = "GB""#, r#"set_once first_source = "facebook""#, r#"set plan = "free""#] {
        assert!(table.contains(op), "{op} missing: {table}");
    }
}

#[test]
fn with_json_errors_are_one_json_object_on_stderr() {
    let db = TestDb::init();
    let parse = |run: &common::Run| -> serde_json::Value {
        let line = run.stderr.trim();
        assert_eq!(line.lines().count(), 1, "one line: {line}");
        serde_json::from_str(line).unwrap_or_else(|e| panic!("stderr is not JSON ({e}): {line}"))
    };
    let missing = db.run(&["--json", "get", "user_id:nobody"]).code(3);
    let v = parse(&missing);
    assert_eq!(v["exit"], json!(3));
    assert!(v["error"].as_str().unwrap().contains("user_id:nobody"), "{v}");
    let usage = db.run(&["--json", "get", "--id", "abc"]).code(2);
    let v = parse(&usage);
    assert_eq!(v["exit"], json!(2));
    assert!(v["error"].as_str().unwrap().contains("abc"), "{v}");
    // Without --json: text as before.
    db.run(&["get", "user_id:nobody"]).code(3).err_has(&["error: "]);
    // Help is not an error.
    assert!(db.run(&["--json", "get", "--help"]).ok().stdout.contains("Usage"));
}

#[test]
fn an_empty_profiledb_path_is_named_as_such() {
    let db = TestDb::init();
    let mut c = common::profiledb();
    c.env("PROFILEDB_PATH", "").args(["stats"]);
    let run = common::run_cmd(c, None).code(2).err_has(&["PROFILEDB_PATH is set but empty"]);
    assert!(!run.stderr.contains("a value is required"), "{}", run.stderr);
    // --db given: the empty variable does not matter.
    let mut c = common::profiledb();
    c.env("PROFILEDB_PATH", "").arg("--db").arg(db.path()).arg("stats");
    common::run_cmd(c, None).ok();
}

#[test]
fn a_merged_away_id_is_said_to_be_shown_as_its_survivor() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    db.run(&["trait", "set", "device_id:d1", "plan", "free"]).ok();
    let a = db.get("email:a@x.com")["id"].as_u64().unwrap();
    let b = db.get("device_id:d1")["id"].as_u64().unwrap();
    db.run(&["merge", "email:a@x.com", "device_id:d1"]).ok();
    let survivor = db.get("email:a@x.com")["id"].as_u64().unwrap();
    let loser = if survivor == a { b } else { a };
    let note = format!("profile {loser} was merged into profile {survivor}");
    db.run(&["get", "--id", &loser.to_string()]).ok().err_has(&[&note]);
    db.run(&["history", "--id", &loser.to_string()]).ok().err_has(&[&note]);
    let own = db.run(&["get", "--id", &survivor.to_string()]).ok();
    assert!(!own.stderr.contains("merged into"), "{}", own.stderr);
}
