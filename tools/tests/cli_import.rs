//! `profiledb import`: accepted and rejected lines, line numbers, nothing
//! of a rejected line written, `--strict`, standard input.

mod common;

use common::{s, TestDb};
use serde_json::json;

const MIXED: &str = r#"{"identifiers": {"email": "b@x.com", "user_id": 7}, "traits": {"plan": "pro", "address": {"city": "Oslo"}}}

not json
{"identifiers": {"email": "nope"}, "traits": {"plan": "free"}}
{"identifiers": {"email": "c@x.com"}, "traits": {"bad name": 1}}
{"type": "track", "event": "Order Completed", "identifiers": {"email": "d@x.com"}}
{"identifiers": {"email": "e@x.com", "device_id": ["d1", "d2"]}, "traits": {"tags": ["a"], "ltv": 2.5}}
{"identifiers": {"email": "f@x.com"}, "traits": {"a": 1, "a.b": 2}}
{"identifiers": {}, "traits": {"plan": "free"}}
{"identifiers": {"email": "g@x.com"}, "extra": true}
"#;

#[test]
fn rejected_lines_are_reported_by_number_and_write_nothing() {
    let db = TestDb::init();
    let file = db.file("mixed.jsonl", MIXED);
    let run = db.run(&["--json", "import", s(&file)]).code(2).err_has(&[r#"{"error":"7 of 9 lines rejected"#]);
    let r = run.json();
    assert_eq!((r["lines"].clone(), r["accepted"].clone(), r["rejected"].clone()), (json!(9), json!(2), json!(7)));
    assert_eq!(r["profiles_created"], json!(2));
    let lines: Vec<u64> = r["rejections"].as_array().unwrap().iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 8, 9, 10]);
    let reason = |line: u64| {
        r["rejections"].as_array().unwrap().iter().find(|x| x["line"] == json!(line)).unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // The report gives the file's line; the column alone places the error in it.
    assert!(reason(3).starts_with("not valid JSON: expected ident at column 2"), "{}", reason(3));
    assert!(reason(4).contains("email:nope"), "{}", reason(4));
    assert!(reason(5).contains("bad name"), "{}", reason(5));
    assert!(reason(6).contains("timestamp"), "an event line without a time: {}", reason(6));
    assert!(reason(8).contains("\"a.b\""), "{}", reason(8));
    assert!(reason(9).contains("empty"), "{}", reason(9));
    assert!(reason(10).contains("unknown field \"extra\""), "{}", reason(10));

    let b = db.get("email:b@x.com");
    assert_eq!(b["traits"], json!({"plan": "pro", "address": {"city": "Oslo"}}));
    assert_eq!(db.get("user_id:7")["id"], b["id"]);
    let e = db.get("device_id:d2");
    assert_eq!(e["traits"], json!({"tags": ["a"], "ltv": 2.5}));
    assert_eq!(e["identifiers"], json!(["device_id:d1", "device_id:d2", "email:e@x.com"]));
    // Nothing of a rejected line was written: not even its identifiers.
    for missing in ["email:c@x.com", "email:d@x.com", "email:f@x.com", "email:g@x.com"] {
        db.run(&["get", missing]).code(3);
    }
    assert_eq!(db.json(&["stats"])["profiles"], json!(2));
    let h = db.json(&["history", "email:b@x.com"]);
    assert_eq!(
        h["deltas"][0]["cause"],
        json!({
            "kind": "request",
            "id": format!("import {}:1", s(&file)),
            "description": format!("request import {}:1", s(&file)),
        })
    );

    let text = db.run(&["import", s(&file)]).code(2).stdout;
    assert!(text.contains("9 lines, 2 accepted, 7 rejected") && text.contains("LINE  REASON\n3 "), "{text}");
}

#[test]
fn strict_rejects_the_whole_file_and_writes_nothing() {
    let db = TestDb::init();
    let input = "{\"identifiers\": {\"user_id\": \"1\"}, \"traits\": {\"plan\": \"pro\"}}\n\
                 {\"identifiers\": {\"user_id\": \"2\"}, \"traits\": {\"plan\": [1]}}\n\
                 {\"identifiers\": {\"user_id\": \"3\"}, \"traits\": {\"plan\": \"pro\"}}\n";
    let file = db.file("strict.jsonl", input);
    let run =
        db.run(&["--json", "import", "--strict", s(&file)]).code(2).err_has(&["1 of 3 lines rejected", "--strict"]);
    let r = run.json();
    assert_eq!((r["accepted"].clone(), r["rejected"].clone()), (json!(0), json!(1)));
    assert_eq!(r["nothing_written"], json!(true));
    assert_eq!(r["rejections"][0]["line"], json!(2));
    for id in ["user_id:1", "user_id:2", "user_id:3"] {
        db.run(&["get", id]).code(3);
    }
    assert_eq!(db.json(&["stats"])["profiles"], json!(0));
    // Without --strict the good lines go in.
    db.run(&["import", s(&file)]).code(2);
    assert_eq!(db.get("user_id:3")["traits"]["plan"], json!("pro"));
    assert_eq!(db.get("user_id:1")["traits"]["plan"], json!("pro"));
}

#[test]
fn import_from_stdin_stitches_profiles() {
    let db = TestDb::init();
    let input = "{\"identifiers\": {\"anonymous_id\": \"a1\"}, \"traits\": {\"page_views\": 3}}\r\n\
                 {\"identifiers\": {\"email\": \"Ann@X.com\"}, \"traits\": {\"plan\": \"pro\"}}\n\
                 {\"identifiers\": {\"anonymous_id\": \"a1\", \"email\": \"ann@x.com\"}}";
    let r = db.run_stdin(&["--json", "import", "-"], Some(input)).ok().json();
    assert_eq!(
        (r["source"].clone(), r["accepted"].clone(), r["profiles_merged"].clone()),
        (json!("stdin"), json!(3), json!(1))
    );
    let p = db.get("email:ann@x.com");
    assert_eq!(p["traits"], json!({"page_views": 3, "plan": "pro"}));
    assert_eq!(p["identifiers"], json!(["anonymous_id:a1", "email:ann@x.com"]));
}

#[test]
fn an_unreadable_file_or_a_missing_database_is_reported() {
    let db = TestDb::init();
    db.run(&["import", s(&db.beside("absent.jsonl"))]).code(2).err_has(&["cannot open", "absent.jsonl"]);
    // A directory is bad input like a missing file (exit 2), not a runtime error.
    std::fs::create_dir(db.beside("dir.jsonl")).unwrap();
    db.run(&["import", s(&db.beside("dir.jsonl"))]).code(2).err_has(&["cannot import", "dir.jsonl", "a directory"]);
    let none = TestDb::empty();
    let file = none.file("x.jsonl", "{}\n");
    none.run(&["import", s(&file)]).code(3).err_has(&["no database at"]);
}

/// A strict import of events where a login merges two profiles created
/// earlier in the same batch: the library refuses that as one unit
/// (`StrictBatchSplit`), and the import goes on from that event in a new
/// unit instead of stopping.
#[test]
fn strict_import_splits_a_batch_at_a_merge_of_a_profile_it_wrote() {
    let db = TestDb::init();
    let input = "{\"type\": \"track\", \"event\": \"page\", \"timestamp\": 1750000000000, \"identifiers\": {\"anonymous_id\": \"a1\"}}\n\
                 {\"type\": \"track\", \"event\": \"page\", \"timestamp\": 1750000000001, \"identifiers\": {\"user_id\": \"u1\"}}\n\
                 {\"type\": \"identify\", \"timestamp\": 1750000000002, \"identifiers\": {\"anonymous_id\": \"a1\", \"user_id\": \"u1\"}}\n";
    let file = db.file("login.jsonl", input);
    let r = db.run(&["--json", "import", "--strict", s(&file)]).ok().json();
    assert_eq!((r["accepted"].clone(), r["rejected"].clone()), (json!(3), json!(0)), "{r}");
    let p = db.get("user_id:u1");
    assert_eq!(p["identifiers"], json!(["anonymous_id:a1", "user_id:u1"]));
}

/// A strict import where one alias event merges a profile into another and
/// the next merges that survivor away: each merge starts a new unit (the
/// second cannot see the first's staged writes), and everything ends on one
/// profile with its events.
#[test]
fn strict_import_of_chained_alias_events_ends_on_one_profile() {
    let db = TestDb::init();
    let input = "{\"type\": \"track\", \"event\": \"buy\", \"timestamp\": 1750000000000, \"identifiers\": {\"email\": \"c@x.com\"}}\n\
                 {\"type\": \"track\", \"event\": \"buy\", \"timestamp\": 1750000000001, \"identifiers\": {\"email\": \"b@x.com\"}}\n\
                 {\"type\": \"track\", \"event\": \"buy\", \"timestamp\": 1750000000002, \"identifiers\": {\"anonymous_id\": \"a\"}}\n\
                 {\"type\": \"alias\", \"timestamp\": 1750000000003, \"previous_id\": \"anonymous_id:a\", \"identifiers\": {\"email\": \"b@x.com\"}}\n\
                 {\"type\": \"alias\", \"timestamp\": 1750000000004, \"previous_id\": \"email:b@x.com\", \"identifiers\": {\"email\": \"c@x.com\"}}\n";
    let file = db.file("aliases.jsonl", input);
    let r = db.run(&["--json", "import", "--strict", s(&file)]).ok().json();
    assert_eq!((r["accepted"].clone(), r["rejected"].clone()), (json!(5), json!(0)), "{r}");
    for who in ["anonymous_id:a", "email:b@x.com", "email:c@x.com"] {
        let p = db.get(who);
        assert_eq!(p["identifiers"], json!(["anonymous_id:a", "email:b@x.com", "email:c@x.com"]), "{who}: {p}");
    }
    assert_eq!(db.json(&["check"])["clean"], json!(true));
}

/// `--strict` checks the identity rules that refuse a line on its
/// identifiers alone (every one blocklisted, more than the per-call limit)
/// before writing: such a line rejects the file and nothing is written,
/// not even the good lines before it.
#[test]
fn strict_checks_identifier_rules_before_writing_anything() {
    let devices: Vec<String> = (0..40).map(|i| format!("\"d{i}\"")).collect();
    let bad_lines = [
        (
            "{\"type\": \"track\", \"event\": \"x\", \"timestamp\": 1700000000000, \"identifiers\": {\"user_id\": \"null\"}}"
                .to_owned(),
            "stitching blocklist",
        ),
        ("{\"identifiers\": {\"anonymous_id\": \"N/A\"}, \"traits\": {\"a\": 1}}".to_owned(), "stitching blocklist"),
        (
            format!(
                "{{\"type\": \"track\", \"event\": \"x\", \"timestamp\": 1700000000000, \"identifiers\": {{\"device_id\": [{}]}}}}",
                devices.join(",")
            ),
            "at most 32 identifiers, got 40",
        ),
        (
            format!("{{\"identifiers\": {{\"device_id\": [{}]}}, \"traits\": {{\"a\": 1}}}}", devices.join(",")),
            "at most 32 identifiers, got 40",
        ),
    ];
    for (bad, reason) in bad_lines {
        let db = TestDb::init();
        let input = format!(
            "{{\"type\": \"track\", \"event\": \"x\", \"timestamp\": 1700000000000, \"identifiers\": {{\"user_id\": \"1\"}}}}\n\
             {{\"identifiers\": {{\"user_id\": \"2\"}}, \"traits\": {{\"a\": 1}}}}\n{bad}\n"
        );
        let file = db.file("strict.jsonl", &input);
        let r = db.run(&["--json", "import", "--strict", s(&file)]).code(2).err_has(&["1 of 3 lines rejected"]).json();
        assert_eq!((r["accepted"].clone(), r["nothing_written"].clone()), (json!(0), json!(true)), "{r}");
        assert_eq!(r["rejections"][0]["line"], json!(3), "{r}");
        let got = r["rejections"][0]["reason"].as_str().unwrap();
        assert!(got.contains(reason), "{got} should say {reason}");
        assert_eq!(db.json(&["stats"])["profiles"], json!(0), "{bad}");
        db.run(&["get", "user_id:1"]).code(3);
    }
}

/// A UTF-8 byte order mark at the start of the file (Windows editors write
/// one) is not part of the first line, whatever the line is.
#[test]
fn a_byte_order_mark_before_the_first_line_is_ignored() {
    let lines = [
        ("auto", "{\"identifiers\": {\"user_id\": \"b1\"}, \"traits\": {\"x\": 1}}", "user_id:b1"),
        ("profile", "{\"identifiers\": {\"user_id\": \"b2\"}, \"traits\": {\"x\": 1}}", "user_id:b2"),
        (
            "auto",
            "{\"type\": \"track\", \"event\": \"x\", \"timestamp\": 1700000000000, \"identifiers\": {\"user_id\": \"b3\"}}",
            "user_id:b3",
        ),
        ("segment", "{\"type\": \"track\", \"event\": \"x\", \"timestamp\": 1700000000000, \"userId\": \"b4\"}", "user_id:b4"),
    ];
    for (format, line, who) in lines {
        let db = TestDb::init();
        let file = db.file("bom.jsonl", &format!("\u{feff}{line}\n"));
        let r = db.run(&["--json", "import", "--format", format, s(&file)]).ok().json();
        assert_eq!(r["accepted"], json!(1), "{format}: {r}");
        db.get(who);
    }
}

/// Profile-line identifier values are read as events read `userId`:
/// strings and integers; a float is refused (not stored as `1000.0`), and
/// `null` means absent.
#[test]
fn profile_line_identifiers_are_strings_or_integers_and_null_is_absent() {
    let db = TestDb::init();
    let input = "{\"identifiers\": {\"user_id\": 1e3}, \"traits\": {\"x\": 1}}\n\
                 {\"identifiers\": {\"user_id\": 2.5}, \"traits\": {\"x\": 1}}\n\
                 {\"identifiers\": {\"device_id\": [\"d1\", 1.0]}, \"traits\": {\"x\": 1}}\n\
                 {\"identifiers\": {\"user_id\": null, \"email\": \"z@x.com\"}, \"traits\": {\"x\": 2}}\n\
                 {\"identifiers\": {\"user_id\": null}, \"traits\": {\"x\": 3}}\n\
                 {\"identifiers\": {\"user_id\": 12345678901234567890}, \"traits\": {\"x\": 4}}\n";
    let file = db.file("ids.jsonl", input);
    let r = db.run(&["--json", "import", s(&file)]).code(2).json();
    let rejected: Vec<(u64, String)> = r["rejections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["line"].as_u64().unwrap(), x["reason"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(rejected.iter().map(|(l, _)| *l).collect::<Vec<_>>(), [1, 2, 3, 5], "{r}");
    assert!(rejected[0].1.contains("identifier \"user_id\": must be a string or an integer, found 1000.0"), "{r}");
    assert!(rejected[1].1.contains("found 2.5"), "{r}");
    assert!(rejected[2].1.contains("identifier \"device_id\"") && rejected[2].1.contains("found 1.0"), "{r}");
    assert!(rejected[3].1.contains("\"identifiers\" is empty"), "{r}");
    db.run(&["get", "user_id:1000.0"]).code(3);
    db.run(&["get", "device_id:d1"]).code(3);
    let z = db.get("email:z@x.com");
    assert_eq!((z["identifiers"].clone(), z["traits"].clone()), (json!(["email:z@x.com"]), json!({"x": 2})));
    assert_eq!(db.get("user_id:12345678901234567890")["traits"], json!({"x": 4}));
}

#[test]
fn the_summary_says_when_nothing_was_imported() {
    let db = TestDb::init();
    // Profile lines read as Segment Spec messages: every line is rejected.
    let file = db.file("profiles.jsonl", &"{\"identifiers\": {\"user_id\": \"1\"}}\n".repeat(7));
    let run = db.run(&["import", "--format", "segment", s(&file)]).code(2).err_has(&["7 of 7 lines rejected"]);
    assert!(run.stderr.contains("(nothing was imported)"), "{}", run.stderr);
    assert!(run.stdout.starts_with(&format!("nothing imported from {}: 7 lines", s(&file))), "{}", run.stdout);

    // --strict with one bad line: the others are valid but not written.
    let input = "{\"identifiers\": {\"user_id\": \"1\"}}\nnot json\n{\"identifiers\": {\"user_id\": \"2\"}}\n";
    let file = db.file("strict.jsonl", input);
    let out = db.run(&["import", "--strict", s(&file)]).code(2).err_has(&["nothing was written"]).stdout;
    let head = format!("nothing imported from {}: 3 lines, 1 rejected, 2 valid but not written", s(&file));
    assert!(out.starts_with(&head), "{out}");

    // Without --strict the good lines go in, and both the summary and the
    // error say how many.
    let run = db.run(&["import", s(&file)]).code(2).err_has(&["1 of 3 lines rejected (2 lines were imported)"]);
    assert!(
        run.stdout.starts_with(&format!("imported {}: 3 lines, 2 accepted, 1 rejected", s(&file))),
        "{}",
        run.stdout
    );
    assert_eq!(db.json(&["stats"])["profiles"], json!(2));
}

#[test]
fn identifiers_that_were_not_linked_are_listed_with_their_line() {
    let db = TestDb::init();
    let file = db.file(
        "family.jsonl",
        r#"{"identifiers": {"user_id": "alice", "email": "family@x.com"}, "traits": {"plan": "pro"}}
{"type": "identify", "userId": "bob", "messageId": "b1", "timestamp": "2026-12-06T10:00:00Z", "traits": {"email": "family@x.com", "name": "Bob"}}
{"type": "track", "event": "visit", "timestamp": "2026-12-06T10:00:00Z", "identifiers": {"user_id": "alice", "anonymous_id": "null"}}
"#,
    );
    let r = db.json(&["import", s(&file)]);
    assert_eq!((r["accepted"].clone(), r["rejected"].clone(), r["not_linked"].clone()), (json!(3), json!(0), json!(2)));
    let listed: Vec<(u64, &str, &str)> = r["not_linked_identifiers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["line"].as_u64().unwrap(), x["identifier"].as_str().unwrap(), x["code"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, vec![(2, "email:family@x.com", "gave_way"), (3, "anonymous_id:null", "blocked")]);
    // Bob's traits went to Bob's own profile, not to Alice's.
    let alice = db.json(&["get", "user_id:alice"]);
    assert_eq!(alice["traits"]["name"], json!(null), "{alice}");
    let bob = db.json(&["get", "user_id:bob"]);
    assert_eq!(bob["traits"]["name"], json!("Bob"), "{bob}");
    let text = db.run(&["import", s(&file)]).ok().stdout;
    assert!(text.contains("identifiers not linked") && text.contains("anonymous_id:null"), "{text}");
}
