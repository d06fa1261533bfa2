//! One name and one number format across commands (CLI admin review L10):
//! merged-away ids are "merged ids" in `stats`, `check` and `demo`; `stats`
//! prints counts with thousands separators as `demo` does; `stats --help`
//! explains its --json fields and `audit --help` its ENTRIES column.

mod common;

use common::TestDb;
use serde_json::json;

#[test]
fn merged_ids_have_one_name_and_counts_one_format() {
    let db = TestDb::init();
    let lines: String = (1..=1_200)
        .map(|i| format!("{{\"identifiers\":{{\"user_id\":\"u{i}\"}},\"traits\":{{\"n\":{i}}}}}\n"))
        .collect();
    db.run_stdin(&["import", "-"], Some(&lines)).ok();
    db.run(&["trait", "set", "anonymous_id:a1", "seen", "true"]).ok();
    db.run(&["merge", "user_id:u1", "anonymous_id:a1"]).ok();

    let stats = db.run(&["stats"]).ok().stdout;
    assert!(stats.contains("profiles     1,200\n"), "{stats}");
    assert!(stats.contains("merged ids   1\n"), "{stats}");
    let check = db.run(&["check"]).ok().stdout;
    assert!(check.contains("1 merged ids") && !check.contains("aliases"), "{check}");
    let v = db.json(&["check"]);
    assert_eq!((v["merged_ids"].clone(), v["aliases"].clone()), (json!(1), json!(1)), "the older name stays: {v}");
    assert_eq!(db.json(&["stats"])["merged_ids"], json!(1));
}

#[test]
fn stats_help_explains_its_json_fields_and_audit_help_its_entries() {
    let db = TestDb::empty();
    let stats = db.run(&["stats", "--help"]).ok().stdout;
    for field in ["merged_ids", "total_bytes", "total_disk_bytes", "directory_bytes", "memtable_bytes", "feed_head"] {
        assert!(stats.contains(field), "{field}: {stats}");
    }
    assert!(stats.contains("not a size") && stats.contains("on disk"), "{stats}");
    let audit = db.run(&["audit", "--help"]).ok().stdout;
    assert!(audit.contains("ENTRIES (how many stored entries"), "{audit}");
}
