//! Read commands on databases of older format versions: copies of the
//! library's golden fixtures (`tests/fixtures/v<N>/`), read in their own
//! format without an upgrade.

mod common;

use common::TestDb;
use serde_json::json;

fn fixture(version: u32) -> TestDb {
    common::fixture_copy(version)
}

#[test]
fn read_commands_read_a_format_1_database_without_upgrading_it() {
    let db = fixture(1);
    let st = db.json(&["stats"]);
    assert_eq!(st["format_version"], json!(1));
    assert_eq!(st["profiles"], json!(3), "{st}");
    // The families format 1 predates are reported absent, not as empty.
    let listed: Vec<&str> =
        st["column_families"].as_array().unwrap().iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(listed, ["meta", "identity", "profile_identifiers", "profile", "delta", "snapshot", "alias"], "{st}");
    let absent = st["absent_column_families"].as_array().unwrap();
    assert_eq!(listed.len() + absent.len(), profiledb::ProfileDb::column_families().len(), "{st}");
    assert!(absent.contains(&json!("rollup")) && absent.contains(&json!("segment")), "{st}");
    let text = db.run(&["stats"]).ok().stdout;
    assert!(text.contains("version 1 (this build reads 1..="), "{text}");
    assert!(text.lines().any(|l| l.starts_with("rollup ") && l.contains("absent (format 1)")), "{text}");

    let ann = db.get("email:ann@example.com");
    assert_eq!(ann["id"], json!(0), "{ann}");
    assert_eq!(ann["traits"]["name"], json!("Ann"), "{ann}");
    assert_eq!(ann["traits"]["ltv"], json!(150), "{ann}");
    db.run(&["get", "user_id:u-1"]).ok();
    db.run(&["history", "--id", "0"]).ok();
    let check = db.run(&["check"]).ok().stdout;
    assert!(check.contains("clean: no violations"), "{check}");
    assert_eq!(db.json(&["segment", "list"]), json!({"segments": [], "stale_memberships": null}));
    db.run(&["dump", "--cf", "rollup_def"]).ok();

    // Nothing above upgraded the copy.
    assert_eq!(db.json(&["stats"])["format_version"], json!(1));
}

#[test]
fn read_commands_read_a_format_3_database_without_upgrading_it() {
    let db = fixture(3);
    let segments = db.json(&["segment", "list"]);
    let names: Vec<&str> = segments["segments"].as_array().unwrap().iter().filter_map(|s| s["name"].as_str()).collect();
    assert!(names.contains(&"buyers") && names.contains(&"pro"), "{segments}");
    // The fixture's clock stopped in 2023: the timed segment's wake-up is
    // due (as on the upgraded database); a read-only check reports it
    // apart from violations, and exits 0.
    let check = db.run(&["check"]).ok().stdout;
    assert!(check.contains("1 segment membership difference(s) due, not yet processed"), "{check}");
    assert!(check.contains("clean: no violations"), "{check}");
    let ann = db.get("email:ann@example.com");
    assert_eq!(ann["traits"]["name"], json!("Ann"), "{ann}");
    assert_eq!(db.json(&["stats"])["format_version"], json!(3));
}
