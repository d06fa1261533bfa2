//! Big outputs (CLI admin review L8): `segment members --json` and `feed
//! --json` are streamed in chunks (the array written element by element,
//! last), `events` shows the newest 100 by default, and `dump --json
//! --limit N` says when more pairs follow.

mod common;

use common::{now_ms, TestDb};
use serde_json::{json, Value};

/// `n` profiles with `user_id:u1..=un` and plan "pro", all in segment `pro`.
fn pros(n: u32) -> TestDb {
    let db = TestDb::init();
    let lines: String = (0..n)
        .map(|i| format!("{{\"identifiers\":{{\"user_id\":\"u{i}\"}},\"traits\":{{\"plan\":\"pro\"}}}}\n"))
        .collect();
    db.run_stdin(&["import", "-"], Some(&lines)).ok();
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    db
}

/// The position of `"key":` in the text (the first occurrence).
fn at(text: &str, key: &str) -> usize {
    text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("no {key} in {text}"))
}

#[test]
fn segment_members_json_is_streamed_across_chunks_and_stays_one_document() {
    let db = pros(2_500);
    let run = db.run(&["--json", "segment", "members", "pro", "--limit", "2200", "--offset", "150", "--resolve"]).ok();
    let v: Value = run.json();
    assert_eq!(
        (v["count"].clone(), v["offset"].clone(), v["of"].clone()),
        (json!(2500), json!(150), json!("segment pro"))
    );
    let members = v["members"].as_array().unwrap();
    assert_eq!(members.len(), 2200, "three chunks, the last one partial");
    let ids: Vec<u64> = members.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ascending, no chunk repeated");
    assert_eq!(members[0]["identifiers"].as_array().unwrap().len(), 1);
    // Streamed: the array is written last, after every small field.
    assert!(at(&run.stdout, "stale_memberships") < at(&run.stdout, "members"), "{}", &run.stdout[..200]);
    // Past the end: what is left, and an empty page is `[]`.
    let tail = db.json(&["segment", "members", "pro", "--limit", "5000", "--offset", "2000"]);
    assert_eq!(tail["members"].as_array().unwrap().len(), 500);
    assert_eq!(db.json(&["segment", "members", "pro", "--offset", "9999"])["members"], json!([]));
}

#[test]
fn feed_json_is_streamed_and_next_follows_the_records() {
    let db = pros(1_500);
    let run = db.run(&["--json", "feed", "--limit", "1400", "--from", "50"]).ok();
    let v: Value = run.json();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 1400);
    let last = records.last().unwrap()["seq"].as_u64().unwrap();
    assert_eq!((v["next"].clone(), v["from"].clone()), (json!(last + 1), json!(50)));
    assert!(at(&run.stdout, "records") < at(&run.stdout, "next"), "next is known after the records");
    let all = db.json(&["feed", "--limit", "1000000"]);
    assert_eq!(all["records"].as_array().unwrap().len(), 1500);
    assert_eq!(all["next"], all["head"]);
    let none = db.json(&["feed", "--from", "1500"]);
    assert_eq!((none["records"].clone(), none["next"].clone()), (json!([]), json!(1500)));
}

#[test]
fn events_shows_the_newest_100_by_default() {
    let db = TestDb::init();
    let now = now_ms();
    let lines: String = (0..130)
        .map(|i| {
            format!(
                "{{\"type\":\"track\",\"event\":\"view\",\"timestamp\":{},\"identifiers\":{{\"user_id\":\"7\"}}}}\n",
                now - 1_000_000 + i * 1_000
            )
        })
        .collect();
    db.run_stdin(&["import", "-"], Some(&lines)).ok();
    let v = db.json(&["events", "user_id:7"]);
    assert_eq!((v["total"].clone(), v["more"].clone()), (json!(null), json!(true)), "cut: not counted");
    assert_eq!(v["events"].as_array().unwrap().len(), 100, "the default --limit");
    assert_eq!(db.json(&["events", "user_id:7", "--limit", "1000"])["events"].as_array().unwrap().len(), 130);
    let text = db.run(&["events", "user_id:7"]).ok().stdout;
    assert!(text.contains("newest 100") && text.contains("more: --next n"), "{}", &text[..200]);
}

#[test]
fn dump_json_with_a_limit_says_when_more_pairs_follow() {
    let db = pros(3);
    let cut = db.json(&["dump", "--cf", "profile", "--limit", "2"]);
    let cut = cut.as_array().unwrap();
    assert_eq!(cut.len(), 3, "two pairs and the marker");
    assert!(cut[..2].iter().all(|p| p["key"].is_string() && p["value"].is_string()));
    assert_eq!(cut[2], json!({"more": true}));
    let whole = db.json(&["dump", "--cf", "profile", "--limit", "1000"]);
    assert!(whole.as_array().unwrap().iter().all(|p| p.get("more").is_none()), "the scan reached the end");
}
