//! Leftovers of a data engineer's review of `import` (twenty-sixth
//! session): plain dates in command-line times (F12), integral float
//! epochs (F11), `--max-future-skew 0` (F22), lines over the size limit
//! skipped without reading them whole (F23), lists of objects or numbers in
//! Segment identify traits left out and reported (F7), quoted `--map`
//! columns (F14), duplicated CSV headers (F26) and whitespace in quoted
//! cells (F27).

mod common;

use common::{now_ms, s, TestDb, DAY_MS};
use serde_json::json;

/// One purchase per day, November 1 to 7 2026, of 1, 2, ... 7.
fn one_purchase_a_day() -> String {
    (1..=7)
        .map(|d| {
            format!(
                "{{\"type\":\"track\",\"event\":\"purchase\",\"userId\":\"d1\",\"messageId\":\"p-{d}\",\
                 \"timestamp\":\"2026-11-0{d}T12:00:00Z\",\"properties\":{{\"amount\":{d}}}}}\n"
            )
        })
        .collect()
}

#[test]
fn command_line_times_accept_plain_dates_as_whole_utc_days() {
    let db = TestDb::init();
    let file = db.file("days.jsonl", &one_purchase_a_day());
    db.run(&["import", "--max-future-skew", "36500d", s(&file)]).ok();
    db.run(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "sum", "--property", "amount"]).ok();

    // A window of dates covers FROM's day to TO's day, both included.
    let show = db.json(&["rollup", "show", "user_id:d1", "spend", "--window", "2026-11-01..2026-11-05"]);
    assert!(show.to_string().contains("15"), "1+2+3+4+5: {show}");
    let show = db.json(&["rollup", "show", "user_id:d1", "spend", "--window", "2026-11-07..2026-11-07"]);
    assert!(show.to_string().contains('7'), "{show}");

    // events: --from inclusive, --to exclusive, a date being 00:00 UTC.
    let events = db.json(&["events", "user_id:d1", "--from", "2026-11-02", "--to", "2026-11-04"]);
    let ids: Vec<&str> =
        events["events"].as_array().into_iter().flatten().filter_map(|e| e["message_id"].as_str()).collect();
    let mut ids = ids;
    ids.sort_unstable();
    assert_eq!(ids, ["p-2", "p-3"], "{events}");

    // --as-of reads a date as a time, not a version (the profile was
    // created today, by the import).
    db.run(&["get", "user_id:d1", "--as-of", "2026-11-01"]).code(3).err_has(&["at 2026-11-01T00:00:00.000Z"]);

    // Bad dates say what is expected.
    db.run(&["events", "user_id:d1", "--from", "2026-02-30"]).code(2).err_has(&["not a valid date", "YYYY-MM-DD"]);
    db.run(&["rollup", "show", "user_id:d1", "spend", "--window", "2026-11-05..2026-11-01"])
        .code(2)
        .err_has(&["is after TO"]);
    let help = db.run(&["rollup", "show", "--help"]).ok().stdout;
    assert!(help.contains("YYYY-MM-DD") && help.contains("both included"), "{help}");

    // Event timestamps stay refused as dates: their time zone is unknown.
    let line = r#"{"type":"track","event":"x","userId":"t1","timestamp":"2026-11-01"}"#;
    db.run(&["track", line]).code(2).err_has(&["\"timestamp\"", "2026-11-01"]);
}

#[test]
fn a_max_future_skew_of_0_refuses_any_future_time() {
    let db = TestDb::init();
    let line = |id: &str, at: i64| {
        format!(r#"{{"type":"track","event":"x","userId":"u1","messageId":"{id}","timestamp":{at}}}"#) + "\n"
    };
    let file = db.file("skew.jsonl", &(line("past", now_ms() - DAY_MS) + &line("future", now_ms() + 600_000)));
    let run = db.run(&["import", "--max-future-skew", "0", s(&file)]).code(2);
    assert!(run.stdout.contains("line 2") && run.stdout.contains("after now"), "{}", run.stdout);
    let events = db.json(&["events", "user_id:u1"]);
    assert_eq!(events["events"].as_array().map(Vec::len), Some(1), "{events}");
    let help = db.run(&["import", "--help"]).ok().stdout;
    assert!(help.contains("or 0 for no time after now"), "{help}");
    // The default skew (1 day) takes the line 10 minutes ahead.
    db.run(&["import", s(&file)]).ok();
}

#[test]
fn a_line_of_many_megabytes_is_rejected_by_its_number_and_the_next_lines_import() {
    let db = TestDb::init();
    let event = |user: &str, extra: &str| {
        format!(
            "{{\"type\":\"track\",\"event\":\"x\",\"userId\":\"{user}\",\"timestamp\":\"2026-11-01T00:00:00Z\",\
             \"properties\":{{\"p\":\"{extra}\"}}}}\n"
        )
    };
    let text = event("before", "") + &event("big", &"a".repeat(20 << 20)) + &event("after", "");
    let file = db.file("big.jsonl", &text);
    let run = db.run(&["--json", "import", s(&file)]).code(2);
    let report = run.json();
    assert_eq!(report["rejections"][0]["line"], json!(2), "{report}");
    let reason = report["rejections"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("the limit is 1048576") && reason.contains("skipped unread"), "{reason}");
    db.get("user_id:before");
    db.get("user_id:after");
    db.run(&["get", "user_id:big"]).code(3);

    // A CSV line too.
    let csv = format!("email,note\nx1@x.com,{}\nx2@x.com,ok\n", "n".repeat(3 << 20));
    let csv = db.file("big.csv", &csv);
    let run = db.run(&["--json", "import", "--csv", "--map", "email=email,note=traits.note", s(&csv)]).code(2);
    let report = run.json();
    assert_eq!(report["rejections"][0]["line"], json!(2), "{report}");
    db.get("email:x2@x.com");
}

#[test]
fn a_float_epoch_with_no_fraction_imports_and_one_with_a_fraction_is_refused() {
    let db = TestDb::init();
    let text = "{\"type\":\"track\",\"event\":\"x\",\"userId\":\"f1\",\"messageId\":\"a\",\"timestamp\":1762000000000.0}\n\
                {\"type\":\"track\",\"event\":\"x\",\"userId\":\"f2\",\"messageId\":\"b\",\"timestamp\":1762000000000.5}\n\
                {\"type\":\"track\",\"event\":\"x\",\"userId\":\"f3\",\"messageId\":\"c\",\"timestamp\":\"2025-11-01\"}\n";
    let file = db.file("floats.jsonl", text);
    let report = db.run(&["--json", "import", s(&file)]).code(2).json();
    let events = db.json(&["events", "user_id:f1"]);
    assert!(events.to_string().contains("2025-11-01T12:26:40.000Z"), "{events}");
    let reasons: Vec<(u64, &str)> = report["rejections"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| (r["line"].as_u64().unwrap_or_default(), r["reason"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(reasons.len(), 2, "{report}");
    assert!(reasons[0].0 == 2 && reasons[0].1.contains("is not an integer of epoch milliseconds"), "{reasons:?}");
    assert!(reasons[1].0 == 3 && reasons[1].1.contains("neither RFC 3339 nor epoch milliseconds"), "{reasons:?}");
}

#[test]
fn an_identify_trait_holding_objects_or_numbers_is_left_out_and_reported() {
    let db = TestDb::init();
    let file = db.file(
        "f7b.jsonl",
        r#"{"type":"identify","userId":"t1","anonymousId":"a-1","messageId":"tr-1","timestamp":"2026-11-01T00:00:00Z","traits":{"plan":"pro","companies":[{"name":"Acme"}],"tags":[1,2],"labels":["x"]}}
"#,
    );
    let run = db.run(&["import", s(&file)]).ok();
    for needle in ["2 traits not stored", "traits.companies", "traits.tags", "lists hold strings only, found 1"] {
        assert!(run.stdout.contains(needle), "{needle:?} missing: {}", run.stdout);
    }
    let profile = db.get("user_id:t1");
    assert_eq!(profile["traits"], json!({"plan": "pro", "labels": ["x"]}), "{profile}");
    assert_eq!(db.get("anonymous_id:a-1")["id"], profile["id"], "the userId-anonymousId link is kept");
    let report = db.run(&["--json", "import", "--dedup-horizon", "0", s(&file)]).ok().json();
    assert_eq!(report["traits_not_stored"], json!(2), "{report}");
    assert_eq!(
        report["traits_not_stored_list"][0],
        json!({"line": 1, "field": "traits.companies",
        "reason": "lists hold strings only, found {\"name\":\"Acme\"}"})
    );

    // The native format stays strict, and track says what it left out.
    let native = r#"{"type":"identify","timestamp":"2026-11-01T00:00:00Z","identifiers":{"user_id":"n1"},"traits":{"tags":[1]}}"#;
    db.run(&["track", native]).code(2).err_has(&["\"traits.tags\"", "lists hold strings only"]);
    let segment = r#"{"type":"identify","userId":"t2","timestamp":"2026-11-01T00:00:00Z","traits":{"tags":[1]}}"#;
    db.run(&["track", segment]).ok().err_has(&["trait not stored", "traits.tags"]);
}

#[test]
fn a_quoted_map_column_holds_commas_and_map_repeats() {
    let db = TestDb::init();
    let csv = db.file("plans.csv", "email,\"Plan, tier\",\"say \"\"hi\"\"\"\nx1@x.com,pro,yes\n");
    db.run(&["import", "--csv", "--map", r#"email=email,"Plan, tier"=traits.plan"#, s(&csv)]).ok();
    assert_eq!(db.get("email:x1@x.com")["traits"], json!({"plan": "pro"}));
    db.run(&["import", "--csv", "--map", "email=email", "--map", r#""say ""hi"""=traits.hi"#, s(&csv)]).ok();
    assert_eq!(db.get("email:x1@x.com")["traits"], json!({"plan": "pro", "hi": "yes"}));
    db.run(&["import", "--csv", "--map", r#"email=email,"Plan=traits.plan"#, s(&csv)])
        .code(2)
        .err_has(&["does not close"]);
    let help = db.run(&["import", "--help"]).ok().stdout;
    assert!(help.contains("\"Plan, tier\"=traits.plan") && help.contains("may be repeated"), "{help}");
}

#[test]
fn a_mapped_column_the_header_names_twice_is_refused() {
    let db = TestDb::init();
    let csv = db.file("twice.csv", "email,email,plan,plan\nx1@x.com,x2@x.com,pro,free\n");
    let run = db.run(&["import", "--csv", "--map", "email=email", s(&csv)]).code(2);
    run.err_has(&["column \"email\"", "2 times (columns 1, 2)"]);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0), "nothing written");
    // Unmapped duplicates may stay.
    let csv = db.file("plans.csv", "email,plan,plan\nx1@x.com,pro,free\n");
    db.run(&["import", "--csv", "--map", "email=email", s(&csv)]).ok();
    db.run(&["import", "--csv", "--map", "email=email,plan=traits.plan", s(&csv)]).code(2).err_has(&["columns 2, 3"]);
}

#[test]
fn quoted_cells_keep_their_whitespace() {
    let db = TestDb::init();
    let csv = db.file(
        "ws.csv",
        "email,plan,note,n,blank\r\n x1@x.com ,\"pro \", free text ,\" 42 \",\"  \"\r\nx2@x.com,\"two\r\nlines\",a,1,\r\n",
    );
    let map = "email=email,plan=traits.plan,note=traits.note,n=traits.n,blank=traits.blank:number";
    db.run(&["import", "--csv", "--map", map, s(&csv)]).ok();
    assert_eq!(db.get("email:x1@x.com")["traits"], json!({"plan": "pro ", "note": "free text", "n": 42}));
    assert_eq!(db.get("email:x2@x.com")["traits"]["plan"], json!("two\nlines"), "CRLF in a quoted cell is \\n");
}

#[test]
fn a_json_key_given_twice_rejects_the_line_naming_the_key() {
    let db = TestDb::init();
    let file = db.file(
        "dup.jsonl",
        "{\"type\":\"track\",\"event\":\"x\",\"userId\":\"g1\",\"userId\":\"g2\",\"timestamp\":\"2026-11-01T00:00:00Z\"}\n\
         {\"identifiers\":{\"email\":\"a@x.com\"},\"traits\":{\"plan\":\"pro\",\"plan\":\"free\"}}\n\
         {\"type\":\"track\",\"event\":\"x\",\"userId\":\"g3\",\"timestamp\":\"2026-11-01T00:00:00Z\"}\n",
    );
    let report = db.run(&["--json", "import", s(&file)]).code(2).json();
    let reasons = report["rejections"].to_string();
    assert!(
        reasons.contains(r#"key \"userId\" is given twice"#) && reasons.contains(r#"key \"plan\" is given twice"#),
        "{reasons}"
    );
    db.run(&["get", "user_id:g2"]).code(3);
    db.run(&["get", "email:a@x.com"]).code(3);
    db.get("user_id:g3");
}
