//! `import --csv --map`: columns to identifiers and typed traits, rejected
//! rows by line, mapping errors before anything is written.

mod common;

use common::{s, TestDb};
use serde_json::json;

const CSV: &str = "mail,uid,plan,zip,seats,joined,notes\n\
                   ann@x.com,1,pro,0150,3,2024-01-02T00:00:00Z,\"likes \"\"tea\"\", and\ncake\"\n\
                   \n\
                   bo@x.com,,free,0151,x,2024-01-03T00:00:00Z,\n\
                   not-an-email,3,free,0152,1,2024-01-04T00:00:00Z,\n\
                   ,,free,0153,1,2024-01-04T00:00:00Z,\n\
                   cy@x.com,4,free\n";

const MAP: &str = "mail=email,uid=user_id,plan=traits.plan,zip=traits.zip:string,seats=traits.seats,\
                   joined=traits.joined:time,notes=traits.notes";

#[test]
fn csv_rows_become_profiles_through_the_mapping() {
    let db = TestDb::init();
    let file = db.file("people.csv", CSV);
    let r = db.run(&["--json", "import", "--csv", "--map", MAP, s(&file)]).code(2).json();
    assert_eq!((r["lines"].clone(), r["accepted"].clone(), r["rejected"].clone()), (json!(5), json!(2), json!(3)));
    let lines: Vec<u64> = r["rejections"].as_array().unwrap().iter().map(|x| x["line"].as_u64().unwrap()).collect();
    assert_eq!(lines, [6, 7, 8], "{r}");
    let reasons: Vec<&str> =
        r["rejections"].as_array().unwrap().iter().map(|x| x["reason"].as_str().unwrap()).collect();
    assert!(reasons[0].contains("not-an-email"), "{reasons:?}");
    assert!(reasons[1].contains("no identifier"), "{reasons:?}");
    assert!(reasons[2].contains("expected 7 cells"), "{reasons:?}");

    let ann = db.get("user_id:1");
    assert_eq!(ann["identifiers"], json!(["email:ann@x.com", "user_id:1"]));
    assert_eq!(ann["traits"]["zip"], json!("0150"), "typed string keeps the zero");
    assert_eq!(ann["traits"]["seats"], json!(3));
    assert_eq!(ann["traits"]["joined"], json!("2024-01-02T00:00:00.000Z"));
    assert_eq!(ann["traits"]["notes"], json!("likes \"tea\", and\ncake"));
    // An empty cell sets nothing; a non-number in an auto column is text.
    let bo = db.get("email:bo@x.com");
    assert_eq!(bo["identifiers"], json!(["email:bo@x.com"]));
    assert_eq!(bo["traits"]["seats"], json!("x"));
    db.run(&["get", "email:cy@x.com"]).code(3);
}

#[test]
fn bad_mappings_are_usage_errors_and_write_nothing() {
    let db = TestDb::init();
    let file = db.file("people.csv", CSV);
    db.run(&["import", "--csv", s(&file)]).code(2).err_has(&["needs --map"]);
    db.run(&["import", "--csv", "--map", "plan=traits.plan", s(&file)]).code(2).err_has(&["identifier"]);
    db.run(&["import", "--csv", "--map", "email=email", s(&file)]).code(2).err_has(&["header does not have"]);
    db.run(&["import", "--csv", "--map", "mail=email,seats=traits.seats:weird", s(&file)]).code(2);
    db.run(&["import", "--map", "mail=email", s(&file)]).code(2).err_has(&["--csv"]);
    db.run(&["import", "--format", "csv", "--strict", "--map", "mail=email,seats=traits.seats:number", s(&file)])
        .code(2)
        .err_has(&["nothing was written"]);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0));
}

#[test]
fn a_byte_order_mark_before_the_header_is_ignored() {
    for header in ["mail,plan", "\"mail\",plan"] {
        let db = TestDb::init();
        let file = db.file("bom.csv", &format!("\u{feff}{header}\nann@x.com,pro\n"));
        db.run(&["import", "--csv", "--map", "mail=email,plan=traits.plan", s(&file)]).ok();
        assert_eq!(db.get("email:ann@x.com")["traits"], json!({"plan": "pro"}), "{header}");
    }
}

/// The reviewer's file: the quoted note of line 2 spans lines 2-5 and holds
/// a byte that is not UTF-8 on line 3, and text that looks like a row.
fn bad_byte_in_a_quoted_cell(db: &TestDb) -> std::path::PathBuf {
    let mut bytes = b"\xef\xbb\xbfemail,plan,zip,note\r\na@x.com,pro,0123,\"hello\r\n".to_vec();
    bytes.extend_from_slice(b"bad \xff byte\r\nc@evil.com,free,999,x\r\n\"\r\nb@x.com,free,1,ok\r\n");
    let path = db.beside("e.csv");
    std::fs::write(&path, bytes).expect("write e.csv");
    path
}

const NOTE_MAP: &str = "email=email,plan=traits.plan,zip=traits.zip,note=traits.note";

#[test]
fn a_bad_byte_in_a_quoted_multi_line_cell_rejects_that_whole_row_only() {
    let db = TestDb::init();
    let file = bad_byte_in_a_quoted_cell(&db);
    let r = db.run(&["--json", "import", s(&file), "--csv", "--map", NOTE_MAP]).code(2).json();
    assert_eq!((r["lines"].clone(), r["accepted"].clone(), r["rejected"].clone()), (json!(2), json!(1), json!(1)));
    assert_eq!(r["rejections"][0]["line"], json!(2), "{r}");
    let reason = r["rejections"][0]["reason"].as_str().unwrap();
    assert!(reason.contains("not valid UTF-8 at line 3, column 5") && reason.contains("lines 2-5"), "{reason}");
    // Nothing of the rejected row, nor text inside its quoted cell, became a profile.
    db.run(&["get", "email:c@evil.com"]).code(3);
    db.run(&["get", "email:a@x.com"]).code(3);
    // The row after it was read as a row.
    assert_eq!(db.get("email:b@x.com")["traits"], json!({"plan": "free", "zip": 1, "note": "ok"}));
    assert_eq!(db.json(&["stats"])["profiles"], json!(1));

    let strict = TestDb::init();
    let file = bad_byte_in_a_quoted_cell(&strict);
    let r = strict.run(&["--json", "import", "--strict", s(&file), "--csv", "--map", NOTE_MAP]).code(2).json();
    assert_eq!((r["nothing_written"].clone(), r["rejected"].clone()), (json!(true), json!(1)), "{r}");
    assert_eq!(strict.json(&["stats"])["profiles"], json!(0));
}
