//! A data engineer's review of `import` (twenty-fourth session): epoch
//! seconds refused or read with `--epoch-unit s`, the dedup horizon in the
//! help and settable, rejection reasons shown with their hint; (twenty-fifth)
//! invalid Segment email traits listed as not linked, `group` messages.

mod common;

use common::{s, TestDb};
use serde_json::json;

const SECONDS: &str = r#"{"type":"track","event":"purchase","userId":"s1","messageId":"e-1","timestamp":1762000000,"properties":{"amount":5}}
"#;

#[test]
fn epoch_seconds_are_refused_naming_the_line_and_read_with_epoch_unit_s() {
    let db = TestDb::init();
    let file = db.file("seconds.jsonl", SECONDS);
    let run = db.run(&["import", s(&file)]).code(2);
    // The readable table shows the whole reason, hint included.
    for needle in ["1     invalid event line 1", "\"timestamp\"", "looks like epoch seconds", "--epoch-unit s"] {
        assert!(run.stdout.contains(needle), "{needle:?} missing: {}", run.stdout);
    }
    db.run(&["get", "user_id:s1"]).code(3);
    db.run(&["import", "--epoch-unit", "s", s(&file)]).ok();
    let events = db.json(&["events", "user_id:s1"]);
    assert!(events.to_string().contains("2025-11-01T12:26:40.000Z"), "{events}");

    let csv = db.file("signup.csv", "email,signup\nx1@x.com,1714557600\n");
    let map = "email=email,signup=traits.signup:time";
    let run = db.run(&["--json", "import", "--csv", "--map", map, s(&csv)]).code(2);
    let reason = run.json()["rejections"][0]["reason"].as_str().unwrap_or_default().to_owned();
    assert!(reason.contains("looks like epoch seconds") && reason.contains("signup"), "{reason}");
    db.run(&["get", "email:x1@x.com"]).code(3);
    db.run(&["import", "--csv", "--map", map, "--epoch-unit", "s", s(&csv)]).ok();
    assert_eq!(db.get("email:x1@x.com")["traits"]["signup"], json!("2024-05-01T10:00:00.000Z"));
    // track too.
    let line = r#"{"type":"track","event":"x","userId":"t1","timestamp":"1762000000"}"#;
    db.run(&["track", line]).code(2).err_has(&["looks like epoch seconds"]);
    db.run(&["track", "--epoch-unit", "s", line]).ok();
}

#[test]
fn the_dedup_horizon_is_documented_in_the_help_and_settable() {
    let db = TestDb::init();
    let help = db.run(&["import", "--help"]).ok().stdout;
    for needle in ["--dedup-horizon", "7 days", "never deduplicated", "--epoch-unit"] {
        assert!(help.contains(needle), "import --help lacks {needle:?}");
    }
    let file = db.file(
        "one.jsonl",
        r#"{"type":"track","event":"Order Completed","userId":"bob-7","messageId":"m-1","timestamp":"2026-01-20T08:10:00Z"}
"#,
    );
    let count = |db: &TestDb| db.json(&["events", "user_id:bob-7"])["events"].as_array().map_or(0, Vec::len);
    db.run(&["import", s(&file)]).ok();
    db.run(&["import", s(&file)]).ok();
    assert_eq!(count(&db), 1, "a duplicate within the default horizon");
    // A horizon of 0 remembers nothing: the same line applies again.
    db.run(&["import", "--dedup-horizon", "0", s(&file)]).ok();
    assert_eq!(count(&db), 2);
    db.run(&["import", "--dedup-horizon", "30d", s(&file)]).ok();
    assert_eq!(count(&db), 2);
    db.run(&["import", "--dedup-horizon", "soon", s(&file)]).code(2).err_has(&["--dedup-horizon \"soon\""]);
}

#[test]
fn a_csv_column_mapped_to_an_unknown_kind_is_refused_with_how_to_map_a_trait() {
    let db = TestDb::init();
    let csv = db.file("f3.csv", "email,country,ok\nx1@x.com,NO,TRUE\nx2@x.com,NO,false\n");
    let run = db.run(&["import", "--csv", "--map", "email=email,country=country", s(&csv)]).code(2);
    let run = run.err_has(&["\"country\" is not a known identifier kind", "country=traits.country"]);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0), "nothing written");
    db.run(&["import", "--csv", "--map", "email=email,country=traits.country,ok=traits.ok:bool", s(&csv)]).ok();
    assert_eq!(db.json(&["stats"])["profiles"], json!(2));
    assert_eq!(db.get("email:x1@x.com")["traits"], json!({"country": "NO", "ok": true}));
    // A new kind, explicitly.
    db.run(&["import", "--csv", "--map", "email=email,country=identifiers.country", s(&csv)]).ok();
    assert_eq!(db.json(&["stats"])["profiles"], json!(1), "as asked: the two share country:NO");
}

#[test]
fn amounts_sent_as_strings_are_reported_by_import_and_rfm_compute() {
    let db = TestDb::init();
    let strings = db.file(
        "f5.jsonl",
        r#"{"type":"track","event":"purchase","userId":"s1","messageId":"sn-1","timestamp":"2026-01-01T00:00:00Z","properties":{"amount":"30.00"}}
{"type":"track","event":"purchase","userId":"s2","messageId":"sn-2","timestamp":"2026-01-02T00:00:00Z","properties":{"amount":"12.50"}}
{"type":"track","event":"purchase","userId":"s3","timestamp":"2026-01-03T00:00:00Z","properties":{"amount":7}}
"#,
    );
    db.run(&["rollup", "declare", "spend", "--event", "purchase", "--agg", "sum", "--property", "amount"]).ok();
    let run = db.run(&["--json", "import", s(&strings)]).ok();
    run.json()["notices"]["non_numeric"][0]["events"].as_u64().filter(|n| *n == 2).expect("two counted");
    let run = run.err_has(&[
        "warning: 2 \"purchase\" events had a non-numeric \"amount\" (such as \"30.00\"), which rollup \"spend\" (sum)",
        "note: 1 events had no message id",
    ]);
    assert_eq!(run.json()["notices"]["events_without_message_id"], json!(1));
    // Every spend 0 because every amount is a string: rfm compute says so.
    let only = db.file(
        "only.jsonl",
        r#"{"type":"track","event":"order","userId":"o1","messageId":"o-1","timestamp":"2026-01-01T00:00:00Z","properties":{"total":"30.00"}}
"#,
    );
    db.run(&["import", s(&only)]).ok();
    db.run(&["rfm", "compute", "--event", "order", "--amount", "total"])
        .ok()
        .err_has(&["warning: every buyer's spend is 0: no \"order\" event carries \"total\" as a number"]);
    let run = db.run(&["rfm", "compute", "--event", "purchase", "--amount", "amount"]).ok();
    assert!(!run.stderr.contains("spend is 0"), "one amount is a number: {}", run.stderr);
}

#[test]
fn gzip_utf16_arrays_and_batch_envelopes_say_what_the_file_is() {
    let db = TestDb::init();
    let gz = db.beside("events.jsonl.gz");
    std::fs::write(&gz, [0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, b'\n', 0x03]).expect("write");
    db.run(&["import", s(&gz)]).code(2).err_has(&["gzip-compressed", "zcat FILE | profiledb import -"]);
    let utf16 = db.beside("events.utf16");
    std::fs::write(&utf16, [0xff, 0xfe, b'{', 0, b'}', 0, b'\n', 0]).expect("write");
    db.run(&["import", s(&utf16)]).code(2).err_has(&["UTF-16", "iconv"]);
    let line = r#"{"type":"track","event":"x","userId":"a1","timestamp":"2026-01-01T00:00:00Z"}"#;
    let array = db.file("array.json", &format!("[\n {line}\n]\n"));
    let r = db.run(&["--json", "import", s(&array)]).code(2).json();
    assert!(r["rejections"][0]["reason"].as_str().unwrap_or_default().contains("jq -c '.[]'"), "{r}");
    let batch = db.file("batch.json", &format!("{{\"batch\":[{line}],\"sentAt\":\"2026-01-01T00:00:00Z\"}}\n"));
    let r = db.run(&["--json", "import", s(&batch)]).code(2).json();
    assert!(r["rejections"][0]["reason"].as_str().unwrap_or_default().contains("jq -c '.batch[]'"), "{r}");
}

/// F20: a re-import whose every good line is a duplicate says so, and
/// does not say lines "were imported".
#[test]
fn an_all_duplicate_reimport_says_the_lines_were_skipped_not_imported() {
    let db = TestDb::init();
    let mut text = String::new();
    for i in 0..9 {
        text.push_str(&format!(
            "{{\"type\":\"track\",\"event\":\"x\",\"userId\":\"d{i}\",\"messageId\":\"dm-{i}\",\"timestamp\":\"2026-11-01T00:00:00Z\"}}\n"
        ));
    }
    text.push_str("not json\n");
    let file = db.file("dups.jsonl", &text);
    db.run(&["import", s(&file)]).code(2).err_has(&["1 of 10 lines rejected (9 lines were imported)"]);
    let run = db.run(&["import", s(&file)]).code(2);
    let run = run.err_has(&["1 of 10 lines rejected (nothing was written; 9 skipped as duplicates of a message id"]);
    assert!(!run.stderr.contains("were imported"), "{}", run.stderr);
    assert!(run.stdout.starts_with(&format!("nothing new imported from {}", s(&file))), "{}", run.stdout);
    assert!(run.stdout.contains("0 applied") && run.stdout.contains("9 duplicates"), "{}", run.stdout);
}

/// F19: profiles the events created and merged are counted.
#[test]
fn the_summary_counts_profiles_events_created_and_merged() {
    let db = TestDb::init();
    let file = db.file(
        "merges.jsonl",
        concat!(
            r#"{"type":"track","event":"view","anonymousId":"a1","messageId":"v1","timestamp":"2026-11-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"track","event":"view","userId":"k1","messageId":"v2","timestamp":"2026-11-01T00:00:01Z"}"#,
            "\n",
            r#"{"type":"identify","userId":"k1","anonymousId":"a1","messageId":"v3","timestamp":"2026-11-01T00:00:02Z"}"#,
            "\n",
        ),
    );
    let v = db.json(&["import", s(&file)]);
    assert_eq!(
        (v["events_profiles_created"].clone(), v["events_profiles_merged"].clone()),
        (json!(2), json!(1)),
        "{v}"
    );
    let out = db.run(&["import", s(&db.file("m2.jsonl", ""))]).ok().stdout;
    assert!(out.contains("events: 0 applied (0 profiles created, 0 merged)"), "{out}");
    let text = db.file(
        "more.jsonl",
        concat!(
            r#"{"type":"track","event":"view","anonymousId":"a2","messageId":"w1","timestamp":"2026-11-01T00:00:00Z"}"#,
            "\n",
            r#"{"type":"track","event":"view","userId":"k2","anonymousId":"a2","messageId":"w2","timestamp":"2026-11-01T00:00:01Z"}"#,
            "\n",
        ),
    );
    let out = db.run(&["import", s(&text)]).ok().stdout;
    assert!(out.contains("events: 2 applied (1 profiles created, 0 merged)"), "{out}");
}

/// F17: an empty input is not an error, in JSONL as in CSV.
#[test]
fn empty_jsonl_and_empty_csv_both_import_zero_lines() {
    let db = TestDb::init();
    let jsonl = db.file("e.jsonl", "");
    let csv = db.file("e.csv", "");
    let out = db.run(&["import", s(&jsonl)]).ok().stdout;
    assert!(out.starts_with(&format!("nothing imported from {}: 0 lines", s(&jsonl))), "{out}");
    let out = db.run(&["import", "--csv", "--map", "email=email", s(&csv)]).ok().stdout;
    assert!(out.starts_with(&format!("nothing imported from {}: 0 lines", s(&csv))), "{out}");
    let blank = db.file("b.csv", "\n\n");
    db.run(&["import", "--csv", "--map", "email=email", s(&blank)]).ok();
    // A header without rows is 0 lines too; a header missing a mapped column is still an error.
    db.run(&["import", "--csv", "--map", "email=email", s(&db.file("h.csv", "email\n"))]).ok();
    db.run(&["import", "--csv", "--map", "mail=email", s(&db.file("h2.csv", "email\n"))]).code(2);
}

const F7: &str = r#"{"type":"track","event":"Order Completed","userId":"jm1","messageId":"jm-1","timestamp":"2026-11-01T00:00:00Z","context":{"traits":{"email":"john.doe"}},"properties":{"revenue":99}}
{"type":"track","event":"Order Completed","messageId":"jm-2","timestamp":"2026-11-01T00:00:00Z","context":{"traits":{"email":"john.doe"}}}
"#;

/// Review F7: junk in a Segment message's `context.traits.email` no longer
/// loses the purchase; it is listed as not linked, with its line.
#[test]
fn an_invalid_segment_email_trait_is_listed_as_not_linked_and_the_event_applies() {
    let db = TestDb::init();
    let file = db.file("f7.jsonl", F7);
    // The line with no other identifier is still refused, naming the field.
    let v = db.run(&["--json", "import", s(&file)]).code(2).json();
    assert_eq!(v["not_linked_identifiers"][0]["line"], json!(1), "{v}");
    assert_eq!(v["not_linked_identifiers"][0]["identifier"], json!("email:john.doe"), "{v}");
    assert_eq!(v["not_linked_identifiers"][0]["code"], json!("invalid"), "{v}");
    assert_eq!(v["rejections"][0]["line"], json!(2), "{v}");
    assert!(v["rejections"][0]["reason"].as_str().unwrap_or_default().contains("context.traits.email"), "{v}");
    let events = db.json(&["events", "user_id:jm1"]);
    assert_eq!(events["events"].as_array().map_or(0, Vec::len), 1, "{events}");
    assert!(events.to_string().contains("Order Completed"), "{events}");
    let db = TestDb::init();
    let file = db.file("f7.jsonl", F7);
    let run = db.run(&["import", s(&file)]).code(2);
    for needle in ["1 identifiers not linked", "email:john.doe", "field \"context.traits.email\": invalid identifier"] {
        assert!(run.stdout.contains(needle), "{needle:?} missing: {}", run.stdout);
    }
}

/// Review F9: a Segment `group` message is a track event named `group`.
#[test]
fn a_segment_group_message_imports_as_a_group_event() {
    let db = TestDb::init();
    let file = db.file(
        "f9.jsonl",
        r#"{"type":"group","groupId":"acme-1","userId":"g1","messageId":"g-1","timestamp":"2026-11-01T00:00:00Z","traits":{"name":"Acme","employees":40}}
"#,
    );
    db.run(&["import", s(&file)]).ok();
    let events = db.json(&["events", "user_id:g1"]);
    let text = events.to_string();
    for needle in ["\"group\"", "acme-1", "Acme"] {
        assert!(text.contains(needle), "{needle:?} missing: {text}");
    }
}
