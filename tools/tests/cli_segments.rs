//! `segment define|list|show|drop|members|count` and `query`: happy paths,
//! bad expressions with their position, unknown segments.

mod common;

use common::TestDb;
use serde_json::json;

/// Three people: a pro in NO, a pro in DE, a free user in NO.
fn people() -> TestDb {
    let db = TestDb::init();
    for (id, plan, country) in [("user_id:1", "pro", "NO"), ("user_id:2", "pro", "DE"), ("user_id:3", "free", "NO")] {
        db.run(&["trait", "set", id, "plan", plan]).ok();
        db.run(&["trait", "set", id, "country", country]).ok();
    }
    db
}

fn ids(v: &serde_json::Value) -> Vec<u64> {
    v["members"].as_array().unwrap().iter().map(|m| m.as_u64().or_else(|| m["id"].as_u64()).unwrap()).collect()
}

#[test]
fn segments_are_defined_listed_shown_counted_and_dropped() {
    let db = people();
    let d = db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#]);
    assert_eq!((d["members"].clone(), d["redefined"].clone()), (json!(2), json!(false)));
    db.json(&["segment", "define", "norway", r#"traits.country = "NO""#]);
    db.json(&["segment", "define", "pro_no", "in pro and in norway"]);
    let text = db.run(&["segment", "define", "pro", r#"traits.plan in ["pro", "free"]"#, "--yes"]).ok().stdout;
    assert!(text.contains("redefined segment pro: 3 members"), "{text}");
    db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#, "--yes"]);

    let list = db.json(&["segment", "list"]);
    let counts: Vec<(String, u64)> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_owned(), s["members"].as_u64().unwrap()))
        .collect();
    assert_eq!(counts, [("norway".into(), 2), ("pro".into(), 2), ("pro_no".into(), 1)]);
    assert_eq!(db.json(&["segment", "count", "pro_no"])["members"], json!(1));
    assert_eq!(db.run(&["segment", "count", "norway"]).ok().stdout.trim(), "2");

    let show = db.json(&["segment", "show", "pro"]);
    assert_eq!(show["reads"]["traits"], json!(["plan"]));
    assert_eq!(show["read_by"], json!(["pro_no"]));
    assert_eq!(show["reads"]["time_dependent"], json!(false));
    assert_eq!(db.json(&["segment", "show", "pro_no"])["reads"]["segments"], json!(["norway", "pro"]));

    let members = db.json(&["segment", "members", "norway", "--resolve"]);
    assert_eq!(members["count"], json!(2));
    assert_eq!(members["members"][0]["identifiers"], json!(["user_id:1"]));
    let page = db.json(&["segment", "members", "norway", "--limit", "1", "--offset", "1"]);
    assert_eq!(ids(&page).len(), 1);
    assert_ne!(ids(&page), ids(&db.json(&["segment", "members", "norway", "--limit", "1"])));

    // A write keeps membership exact; get and stats show it.
    db.run(&["trait", "set", "user_id:3", "plan", "pro"]).ok();
    assert_eq!(db.get("user_id:3")["segments"], json!(["norway", "pro", "pro_no"]));
    let stats = db.json(&["stats"]);
    assert_eq!(stats["segments"].as_array().unwrap().len(), 3);

    db.run(&["segment", "drop", "pro", "--yes"]).code(2).err_has(&["pro_no"]);
    db.run(&["segment", "drop", "pro_no"]).code(2).err_has(&["cannot be undone", "--yes"]);
    db.json(&["segment", "drop", "pro_no", "--yes"]);
    db.json(&["segment", "drop", "pro", "--yes"]);
    assert_eq!(db.json(&["segment", "list"])["segments"].as_array().unwrap().len(), 1);
}

#[test]
fn bad_expressions_say_where_and_unknown_segments_are_not_found() {
    let db = people();
    db.run(&["segment", "define", "x", "count(page_view >= 3"])
        .code(2)
        .err_has(&["invalid expression at position 16", "^"]);
    db.run(&["segment", "define", "x", "in nowhere"]).code(2).err_has(&["nowhere"]);
    db.run(&["segment", "define", "Bad Name", "has email"]).code(2).err_has(&["segment name"]);
    db.run(&["query", "traits.plan = "]).code(2).err_has(&["position"]);
    assert_eq!(db.json(&["segment", "list"])["segments"], json!([]));
    for cmd in [&["segment", "show", "nope"][..], &["segment", "count", "nope"], &["segment", "members", "nope"]] {
        db.run(cmd).code(3).err_has(&["no segment named \"nope\""]);
    }
    db.run(&["segment", "drop", "nope", "--yes"]).code(3);
}

#[test]
fn queries_count_list_and_explain() {
    let db = people();
    db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#]);
    let q = r#"in pro and traits.country = "NO""#;
    assert_eq!(db.run(&["query", q, "--count"]).ok().stdout.trim(), "1");
    let r = db.json(&["query", q, "--explain", "--resolve"]);
    assert_eq!(r["count"], json!(1));
    assert_eq!(r["members"][0]["identifiers"], json!(["user_id:1"]));
    let plan = r["explain"].as_str().unwrap();
    assert!(plan.contains("segment pro: bitmap") && plan.contains("traits.country"), "{plan}");
    assert_eq!(db.json(&["query", "has user_id", "--limit", "2"])["members"].as_array().unwrap().len(), 2);
    let text = db.run(&["query", "has user_id", "--limit", "2", "--explain"]).ok().stdout;
    assert!(text.contains("matched 3 profiles") && text.contains("PLAN") && text.contains("1 more"), "{text}");
}

/// The reviewer's reproduction: a cart followed by a purchase, then
/// `retention run --timeline 30` deletes them. `seq` reads what the
/// timeline holds, so the cart no longer counts (neither abandoned nor
/// bought), `check` is clean, and `segment define`/`show` say how `seq`
/// sees retention.
#[test]
fn seq_segments_under_timeline_retention_from_the_cli() {
    use common::{now_ms, DAY_MS};
    let db = TestDb::init();
    let start = now_ms() - 40 * DAY_MS;
    for (name, hour) in [("purchase", 9), ("add_to_cart", 10), ("purchase", 11)] {
        let e = json!({"type": "track", "event": name, "timestamp": start + hour * 3_600_000,
                       "identifiers": {"user_id": "s"}});
        db.run(&["track", &e.to_string()]).ok();
    }
    let d = db.json(&["segment", "define", "abandoned", "seq(add_to_cart, not purchase, 24h)"]);
    assert_eq!(d["members"], json!(0));
    assert!(d["retained_only"][0].as_str().unwrap().contains("reads the timeline"), "{d}");
    let text = db.run(&["segment", "define", "bought", "seq(add_to_cart, purchase, 24h)"]).ok().stdout;
    assert!(text.contains("bought: 1 members") && text.contains("note: `seq(add_to_cart, purchase, 1d)`"), "{text}");
    let r = db.json(&["retention", "run", "--timeline", "30", "--yes"]);
    assert_eq!((r["timelines_trimmed"].clone(), r["failures"].clone()), (json!(1), json!([])));
    let counts = db.json(&["segment", "list"]);
    let members: Vec<u64> =
        counts["segments"].as_array().unwrap().iter().map(|s| s["members"].as_u64().unwrap()).collect();
    assert_eq!(members, [0, 0], "{counts}");
    assert_eq!(db.json(&["check"])["clean"], json!(true));
    let show = db.run(&["segment", "show", "abandoned"]).ok().stdout;
    assert!(show.contains("retention   `seq(add_to_cart, not purchase, 1d)` reads the timeline"), "{show}");
    assert_eq!(db.json(&["tick", "--timeline", "30", "--yes"])["failures"], json!([]));
}
