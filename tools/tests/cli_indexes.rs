//! `index add|list|drop`, and what `query --explain` and `check` make of
//! them: happy paths, JSON, exit codes.

mod common;

use common::{people_by_country as people, TestDb};
use serde_json::{json, Value};

fn names(list: &Value) -> Vec<String> {
    list["indexes"].as_array().unwrap().iter().map(|i| i["name"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn indexes_are_added_listed_used_checked_and_dropped() {
    let db = people();
    assert_eq!(db.json(&["index", "list"]), json!({"indexes": []}));
    let plan = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert!(!plan["explain"].as_str().unwrap().contains("value bitmaps"), "{plan}");

    let added = db.json(&["index", "add", "country"]);
    assert_eq!((added["values"].clone(), added["profiles"].clone()), (json!(2), json!(4)));
    assert_eq!((added["unindexed"].clone(), added["already_indexed"].clone()), (json!(0), json!(false)));
    assert_eq!(db.json(&["index", "add", "country"])["already_indexed"], json!(true));
    let text = db.run(&["index", "add", "country"]).ok().stdout;
    assert!(text.contains("already indexed traits.country: 2 distinct values, 4 profiles"), "{text}");

    // Later writes keep it exact: a new value, a new profile.
    db.run(&["trait", "set", "user_id:5", "country", "SE"]).ok();
    let list = db.json(&["index", "list"]);
    assert_eq!(names(&list), ["country"]);
    assert_eq!((list["indexes"][0]["values"].clone(), list["indexes"][0]["profiles"].clone()), (json!(3), json!(5)));
    assert!(db.run(&["index", "list"]).ok().stdout.contains("country"));

    let q = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert_eq!(q["count"], json!(3));
    assert!(q["explain"].as_str().unwrap().contains("value bitmaps of traits.country"), "{q}");
    let text = db.run(&["query", "--explain", r#"traits.country = "DE""#]).ok().stdout;
    assert!(text.contains("value bitmaps of traits.country"), "{text}");

    let check = db.json(&["check"]);
    assert_eq!((check["clean"].clone(), check["trait_indexes"].clone()), (json!(true), json!(1)));

    assert_eq!(db.json(&["index", "drop", "country"]), json!({"dropped": "country"}));
    assert!(names(&db.json(&["index", "list"])).is_empty());
    let q = db.json(&["query", "--explain", r#"traits.country = "DE""#]);
    assert_eq!(q["count"], json!(3));
    assert!(!q["explain"].as_str().unwrap().contains("value bitmaps"), "{q}");
}

#[test]
fn index_errors_have_their_exit_codes() {
    let db = people();
    db.run(&["index", "drop", "country"]).code(3).err_has(&["no index on trait \"country\"", "index list"]);
    db.run(&["index", "add", "bad name!"]).code(2).err_has(&["invalid trait name"]);
    db.run(&["index", "add"]).code(2);
    assert!(names(&db.json(&["index", "list"])).is_empty(), "nothing written");
    TestDb::empty().run(&["index", "list"]).code(3).err_has(&["no database"]);
    for cmd in ["add", "drop"] {
        assert!(db.run(&["index", cmd, "--help"]).ok().stdout.contains("Safety: writes"));
    }
    assert!(db.run(&["index", "list", "--help"]).ok().stdout.contains("Safety: read-only"));
}
