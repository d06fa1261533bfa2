//! Events from the command line: `import` of native and Segment Spec
//! lines, `track`, `events`, `rollup declare|list|show`, `rfm`.

mod common;

use common::{s, TestDb};
use serde_json::json;

/// An anonymous visitor who views pages, logs in (Segment identify with
/// both ids), then buys twice; a second customer buys once.
const EVENTS: &str = r#"{"type":"track","event":"page_view","timestamp":"2024-05-01T10:00:00Z","identifiers":{"anonymous_id":"a-1"},"properties":{"page":"/pricing"}}
{"type":"track","event":"add_to_cart","userId":"9","anonymousId":"a-1","messageId":"m-2","timestamp":"2024-05-01T10:05:00Z","properties":{"price":30}}
{"type":"identify","userId":"9","anonymousId":"a-1","messageId":"m-3","timestamp":"2024-05-01T10:06:00Z","traits":{"email":"Ann@X.com","plan":"pro"}}
{"type":"track","event":"purchase","timestamp":"2024-05-01T10:10:00Z","identifiers":{"user_id":"9"},"properties":{"amount":30}}
{"type":"track","event":"purchase","message_id":"m-5","timestamp":"2024-05-03T09:00:00Z","identifiers":{"email":"ann@x.com"},"properties":{"amount":12.5}}
{"type":"track","event":"purchase","message_id":"m-5","timestamp":"2024-05-03T09:00:00Z","identifiers":{"email":"ann@x.com"},"properties":{"amount":12.5}}
{"type":"track","event":"purchase","timestamp":"2024-05-02T09:00:00Z","identifiers":{"user_id":"10"},"properties":{"amount":99}}
"#;

fn loaded() -> TestDb {
    let db = TestDb::init();
    let file = db.file("events.jsonl", EVENTS);
    let r = db.json(&["import", s(&file)]);
    assert_eq!((r["lines"].clone(), r["accepted"].clone(), r["rejected"].clone()), (json!(7), json!(7), json!(0)));
    assert_eq!((r["events_applied"].clone(), r["duplicates"].clone()), (json!(6), json!(1)), "{r}");
    db
}

#[test]
fn imported_events_stitch_and_are_listed_per_profile() {
    let db = loaded();
    let ann = db.get("anonymous_id:a-1");
    assert_eq!(ann["identifiers"], json!(["anonymous_id:a-1", "email:ann@x.com", "user_id:9"]));
    assert_eq!(ann["traits"]["plan"], json!("pro"));
    assert_eq!(ann["rollups"]["purchase.count"], json!(2));
    assert_eq!(ann["rollups"]["page_view.count"], json!(1));

    let ev = db.json(&["events", "user_id:9"]);
    assert_eq!(
        ev["events"].as_array().unwrap().len(),
        5,
        "the identify and both purchases, the cart and the page view: {ev}"
    );
    assert_eq!((ev["total"].clone(), ev["more"].clone(), ev["next"].clone()), (json!(5), json!(false), json!(null)));
    let names: Vec<&str> = ev["events"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap_or("")).collect();
    assert_eq!(names, ["page_view", "add_to_cart", "", "purchase", "purchase"]);
    let newest = db.json(&["events", "user_id:9", "--limit", "1"]);
    assert_eq!(newest["events"][0]["message_id"], json!("m-5"));
    let window = db.json(&["events", "user_id:9", "--from", "2024-05-01T10:06:00Z", "--to", "2024-05-02T00:00:00Z"]);
    assert_eq!(window["events"].as_array().unwrap().len(), 2, "{window}");
    let text = db.run(&["events", "user_id:9"]).ok().stdout;
    assert!(text.contains("TIME") && text.contains("\"/pricing\""), "{text}");

    db.run(&["events", "user_id:404"]).code(3).err_has(&["not found"]);
    db.run(&["events", "user_id:9", "--from", "yesterday"]).code(2).err_has(&["--from"]);
}

#[test]
fn rollups_are_declared_backfilled_listed_and_read_over_windows() {
    let db = loaded();
    let d = db.json(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "sum", "--property", "amount"]);
    assert_eq!(d["already_declared"], json!(false));
    assert_eq!(
        db.json(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "sum", "--property", "amount"])
            ["already_declared"],
        json!(true)
    );
    db.run(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "count"]).code(2).err_has(&["another"]);
    db.run(&["rollup", "declare", "x", "--event", "purchase", "--agg", "sum"])
        .code(2)
        .err_has(&["--agg sum needs --property"]);
    let err = db.run(&["rollup", "declare", "x", "--event", "purchase", "--agg", "most-frequent"]).code(2);
    err.err_has(&["--agg most-frequent needs --property"]);
    let err =
        db.run(&["rollup", "declare", "x", "--event", "purchase", "--agg", "active-days", "--property", "amount"]);
    let err =
        err.code(2).err_has(&["--agg active-days reads no property", "sum, min, max, avg, most-frequent, unique"]);
    assert!(!err.stderr.contains("ActiveDays"), "{}", err.stderr);
    db.run(&["rollup", "declare", "x", "--event", "e", "--agg", "count", "--where", "nope"]).code(2);
    db.json(&["rollup", "declare", "big", "--event", "purchase", "--agg", "count", "--where", "amount>=20"]);

    let list = db.json(&["rollup", "list"]);
    let names: Vec<&str> = list["rollups"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["big", "spend"]);
    assert_eq!(list["rollups"][0]["filter"], json!("amount >= 20"));

    let all = db.json(&["rollup", "show", "user_id:9"]);
    assert_eq!(all["rollups"]["spend"], json!(42.5));
    assert_eq!(all["rollups"]["big"], json!(1));
    let between =
        db.json(&["rollup", "show", "user_id:9", "spend", "--window", "2024-05-01T00:00:00Z..2024-05-01T23:00:00Z"]);
    assert_eq!(between["value"], json!(30.0));
    assert_eq!(db.json(&["rollup", "show", "user_id:9", "spend", "--window", "7d"])["value"], json!(null));
    db.run(&["rollup", "show", "user_id:9", "nope"]).code(3).err_has(&["rollup list"]);
    db.run(&["rollup", "show", "user_id:9", "spend", "--window", "week"]).code(2).err_has(&["--window"]);
    // A rollup declared by mistake is dropped, its name then free.
    db.json(&["rollup", "declare", "oops", "--event", "purchase", "--agg", "max", "--property", "amount"]);
    assert_eq!(db.json(&["rollup", "drop", "oops"])["dropped"], json!("oops"));
    db.run(&["rollup", "drop", "oops"]).code(3).err_has(&["rollup list"]);
    db.json(&["rollup", "declare", "oops", "--event", "purchase", "--agg", "count"]);
    db.json(&["rollup", "drop", "oops"]);

    // Anonymized: no identifier reaches the profile any more, its id does;
    // the filtered rollup's buckets stay, and check accepts them.
    let p = all["profile"].as_u64().unwrap().to_string();
    db.run(&["anonymize", "user_id:9", "--yes"]).ok();
    db.run(&["rollup", "show", "user_id:9"]).code(3);
    assert_eq!(db.json(&["rollup", "show", "--id", &p, "spend"])["value"], json!(42.5));
    assert_eq!(db.json(&["rollup", "show", "--id", &p])["rollups"]["big"], json!(1));
    db.run(&["rollup", "show", "user_id:9", "spend", "--id", &p]).code(2).err_has(&["not both"]);
    db.run(&["rollup", "show"]).code(2).err_has(&["--id N"]);
    db.run(&["check"]).ok();
}

#[test]
fn rfm_is_computed_then_scored_per_profile() {
    let db = loaded();
    let none = db.run(&["rfm", "score", "user_id:9"]).code(3).err_has(&["run `profiledb rfm compute` first"]);
    assert!(!none.stderr.contains("compute_rfm"), "names the CLI command only: {}", none.stderr);
    let model = db.json(&["rfm", "compute"]);
    assert_eq!(model["profiles_scored"], json!(2));
    let total: u64 = model["distribution"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(total, 2);
    let text = db.run(&["rfm", "compute"]).ok().stdout;
    assert!(text.contains("R \\ F") && text.contains("2 profiles scored"), "{text}");
    let ann = db.json(&["rfm", "score", "email:ann@x.com"]);
    assert_eq!(ann["rfm"]["frequency"], json!(2));
    assert_eq!(ann["rfm"]["monetary"], json!(42.5));
    assert_eq!(db.get("user_id:9")["rfm"]["code"], ann["rfm"]["code"]);
    // `--id` as `get` takes it (review L7).
    let id = ann["profile"].as_u64().unwrap().to_string();
    assert_eq!(db.json(&["rfm", "score", "--id", &id])["rfm"]["code"], ann["rfm"]["code"]);
    db.run(&["rfm", "score", "--id", "999"]).code(3).err_has(&["no profile"]);
    db.run(&["rfm", "score", "email:ann@x.com", "--id", &id]).code(2);
    let visitor =
        db.json(&["track", r#"{"type":"page","timestamp":1700000000000,"identifiers":{"anonymous_id":"z"}}"#]);
    assert_eq!(visitor["created"], json!(true));
    assert_eq!(db.json(&["rfm", "score", "anonymous_id:z"])["rfm"], json!(null));
}

#[test]
fn track_applies_one_event_and_acknowledges_duplicates() {
    let db = TestDb::init();
    let e = r#"{"type":"track","event":"signup","message_id":"x-1","timestamp":"2024-01-01T00:00:00Z","identifiers":{"email":"b@x.com"}}"#;
    let first = db.json(&["track", e]);
    assert_eq!((first["created"].clone(), first["duplicate"].clone()), (json!(true), json!(false)));
    assert_eq!(db.json(&["track", e])["duplicate"], json!(true));
    assert_eq!(db.json(&["events", "email:b@x.com"])["events"].as_array().unwrap().len(), 1);
    db.run(&["track", r#"{"type":"track","timestamp":1700000000000,"identifiers":{"email":"b@x.com"}}"#])
        .code(2)
        .err_has(&["\"event\""]);
    db.run(&["track", "{not json"]).code(2).err_has(&["malformed JSON"]);
    db.run(&["track", e, "--format", "csv"]).code(2);
}

#[test]
fn event_lines_are_rejected_by_line_and_strict_stops_where_applying_fails() {
    let db = TestDb::init();
    let input = r#"{"type":"identify","timestamp":1700000000000,"identifiers":{"user_id":"1"},"traits":{"plan":"pro"}}
{"type":"identify","timestamp":1700000000000,"identifiers":{"user_id":"1"},"trait_ops":[{"Increment":{"name":"plan","by":{"Int":1}}}]}
{"type":"track","event":"e","timestamp":1700000000000,"identifiers":{"user_id":"2"}}
{"type":"group","timestamp":1700000000000,"identifiers":{"user_id":"3"}}
"#;
    let file = db.file("ev.jsonl", input);
    // Line 4 is malformed: --strict writes nothing at all.
    let r = db.run(&["--json", "import", "--strict", s(&file)]).code(2).json();
    assert_eq!((r["nothing_written"].clone(), r["rejections"][0]["line"].clone()), (json!(true), json!(4)));
    db.run(&["get", "user_id:1"]).code(3);

    // Without line 4, line 2 is valid on its own but fails when applied
    // (plan is text): --strict stops there, line 1 stays written.
    let three: String = input.lines().take(3).map(|l| format!("{l}\n")).collect();
    let file = db.file("ev3.jsonl", &three);
    let r = db
        .run(&["--json", "import", "--strict", s(&file)])
        .code(2)
        .err_has(&["line 2:", "stopped", "1 line was imported before it"])
        .json();
    assert_eq!((r["accepted"].clone(), r["stopped_at"].clone()), (json!(1), json!(2)));
    assert_eq!(db.get("user_id:1")["traits"]["plan"], json!("pro"));
    db.run(&["get", "user_id:2"]).code(3);

    // Without --strict every good line goes in and the bad ones are listed.
    let r = db.run(&["--json", "import", s(&db.file("ev4.jsonl", input))]).code(2).json();
    let lines: Vec<u64> = r["rejections"].as_array().unwrap().iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [2, 4]);
    assert!(r["rejections"][0]["reason"].as_str().unwrap().contains("increment"), "{r}");
    assert!(r["rejections"][1]["reason"].as_str().unwrap().contains("group"), "{r}");
    db.get("user_id:2");

    // --format forces one reading.
    db.run(&["import", "--format", "profile", s(&file)]).code(2);
    db.run(&["import", "--format", "segment", s(&file)]).code(2);
}

#[test]
fn reversed_time_ranges_are_usage_errors_naming_both_ends() {
    let db = loaded();
    db.json(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "sum", "--property", "amount"]);
    let (early, late) = ("2024-05-01T00:00:00Z", "2024-05-03T00:00:00Z");
    let forward = db.json(&["rollup", "show", "user_id:9", "spend", "--window", &format!("{early}..{late}")]);
    assert_eq!(forward["value"], json!(42.5), "the days from FROM's to TO's, inclusive");
    db.run(&["rollup", "show", "user_id:9", "spend", "--window", &format!("{late}..{early}")])
        .code(2)
        .err_has(&["--window", &format!("FROM {late} is after TO {early}")]);

    assert_eq!(db.json(&["events", "user_id:9", "--from", early, "--to", late])["events"].as_array().unwrap().len(), 4);
    assert_eq!(
        db.json(&["events", "user_id:9", "--from", early, "--to", early])["events"],
        json!([]),
        "empty, not reversed"
    );
    db.run(&["events", "user_id:9", "--from", late, "--to", early])
        .code(2)
        .err_has(&[&format!("--from {late} is after --to {early}")]);
}

/// The message ids of an `events --json` page, in printed order.
fn ids(page: &serde_json::Value) -> Vec<String> {
    page["events"].as_array().unwrap().iter().map(|e| e["message_id"].as_str().unwrap_or("").to_owned()).collect()
}

#[test]
fn events_shows_the_newest_100_and_pages_on_with_next() {
    let db = TestDb::init();
    // 250 events, three per millisecond at times going back from the newest.
    let lines: String = (0..250)
        .map(|i| {
            format!(
                r#"{{"type":"track","event":"hit","message_id":"m{i:03}","timestamp":{},"identifiers":{{"user_id":"b"}}}}"#,
                1_700_000_000_000i64 + i / 3
            ) + "\n"
        })
        .collect();
    db.json(&["import", s(&db.file("hits.jsonl", &lines))]);
    let all: Vec<String> = (0..250).map(|i| format!("m{i:03}")).collect();

    // The default: the newest 100, printed oldest first, and a cursor.
    let first = db.json(&["events", "user_id:b"]);
    assert_eq!(ids(&first), all[150..]);
    assert_eq!((first["more"].clone(), first["total"].clone()), (json!(true), json!(null)), "cut: not counted");
    let next = first["next"].as_str().expect("a cursor").to_owned();
    let second = db.json(&["events", "user_id:b", "--next", &next]);
    assert_eq!(ids(&second), all[50..150]);
    let last = db.json(&["events", "user_id:b", "--next", second["next"].as_str().unwrap()]);
    assert_eq!(
        (ids(&last), last["more"].clone(), last["next"].clone()),
        (all[..50].to_vec(), json!(false), json!(null))
    );

    // --oldest: from the other end, pages of 120.
    let o1 = db.json(&["events", "user_id:b", "--oldest", "--limit", "120"]);
    assert_eq!(ids(&o1), all[..120]);
    let o2 = db.json(&["events", "user_id:b", "--oldest", "--limit", "200", "--next", o1["next"].as_str().unwrap()]);
    assert_eq!((ids(&o2), o2["more"].clone()), (all[120..].to_vec(), json!(false)));

    // The text says how to go on.
    let text = db.run(&["events", "user_id:b", "--limit", "5"]).ok().stdout;
    assert!(text.contains("newest 5") && text.contains("more: --next n"), "{text}");

    // A cursor of the other order, or no cursor at all, is a usage error.
    db.run(&["events", "user_id:b", "--oldest", "--next", &next]).code(2).err_has(&["--next", "without --oldest"]);
    db.run(&["events", "user_id:b", "--next", "yesterday"]).code(2).err_has(&["--next", "event cursor"]);
    db.run(&["events", "user_id:b", "--limit", "0"]).code(2).err_has(&["--limit"]);
}
