//! Stored bytes that could deceive a reader: control characters in
//! identifiers shown on a terminal, and CSV cells a spreadsheet would run
//! as formulas or split apart.

mod common;

use common::TestDb;
use serde_json::json;

#[test]
fn identifiers_with_control_characters_are_escaped_on_a_terminal() {
    let db = TestDb::init();
    let raw = "user_id:a\u{1b}[31mb\nFAKE";
    db.run(&["trait", "set", raw, "plan", "pro"]).ok();
    db.json(&["segment", "define", "pro", r#"traits.plan = "pro""#]);
    let shown = "user_id:a\\u001b[31mb\\nFAKE";
    for args in
        [&["get", raw][..], &["identities", raw], &["segment", "members", "pro", "--resolve"], &["history", raw]]
    {
        let out = db.run(args).ok().stdout;
        assert!(!out.contains('\u{1b}') && !out.contains("\nFAKE"), "{args:?} printed raw control characters: {out}");
        assert!(out.contains(shown), "{args:?}: {out}");
    }
    // JSON keeps the exact value (JSON escapes it itself).
    assert_eq!(db.get(raw)["identifiers"], json!([raw]));
}

#[test]
fn csv_export_encodes_identifiers_unambiguously_and_defuses_formulas() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:a b", "plan", "=HYPERLINK(\"http://x\")"]).ok();
    db.run(&["identify", "user_id:a b", "email:c@x.com"]).ok();
    db.run(&["trait", "set", "user_id:a b", "note", "@SUM(1)"]).ok();
    db.run(&["trait", "set", "user_id:a b", "delta", "-3"]).ok();
    db.run(&["trait", "set", "user_id:a b", "cmd", "+cmd|' /C calc'!A0"]).ok();
    let csv = db.run(&["export", "--query", "has user_id", "--csv"]).ok().stdout;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "id,identifiers,cmd,delta,note,plan");
    let row = lines[1];
    // Identifiers as a JSON array: a value with a space stays one identifier.
    assert!(row.starts_with(r#"0,"[""email:c@x.com"",""user_id:a b""]","#), "{row}");
    // Cells starting with = + - @ are prefixed with ' (a number stays a number).
    assert!(row.contains(r#""'=HYPERLINK(""http://x"")""#), "{row}");
    assert!(row.contains(",'@SUM(1),"), "{row}");
    assert!(row.contains(",'+cmd|' /C calc'!A0,"), "{row}");
    assert!(row.contains(",-3,"), "a number is not a formula: {row}");
}
