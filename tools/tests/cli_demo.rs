//! `profiledb demo`: a deterministic dataset that the other commands can read.

mod common;

use common::{profiledb, run_cmd, s};
use serde_json::json;

fn demo(dir: &std::path::Path, people: &str) -> common::Run {
    let mut c = profiledb();
    c.args(["--json", "demo", "--dir", s(dir), "--profiles", people]);
    run_cmd(c, None)
}

#[test]
fn demo_builds_a_stitched_database_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let first = demo(&dir, "400").ok().json();
    assert_eq!(first["people"], json!(400));
    assert!(first["writes"].as_u64().unwrap() > 1_000, "{first}");
    assert!(first["merges"].as_u64().unwrap() > 50, "{first}");
    let profiles = first["profiles"].as_u64().unwrap();
    assert!((300..600).contains(&profiles), "{first}");
    let customer = &first["customer"];
    let ident = customer["identifier"].as_str().unwrap();
    assert!(customer["identities"].as_array().unwrap().len() >= 3, "{customer}");
    assert!(customer["history"].as_array().unwrap().iter().any(|d| d["change"]["type"] == json!("merge")));
    assert!(customer["as_of"]["version"].as_u64().unwrap() < customer["profile"]["version"].as_u64().unwrap());

    // The other commands read it.
    let mut c = profiledb();
    c.args(["--json", "--db", s(&dir), "get", ident]);
    let p = run_cmd(c, None).ok().json();
    assert_eq!(p["id"], customer["profile"]["id"]);
    assert!(p["traits"]["address"]["city"].is_string());

    // A rerun replaces the directory and builds the same database.
    let again = demo(&dir, "400").ok().json();
    for k in ["writes", "profiles", "identifiers", "merges"] {
        assert_eq!(again[k], first[k], "{k}");
    }
    assert_eq!(again["customer"]["profile"], first["customer"]["profile"]);
}

#[test]
fn demo_refuses_to_replace_a_directory_that_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    demo(tmp.path(), "10").code(2).err_has(&["not a profiledb database"]);
    assert!(tmp.path().join("keep.txt").exists());
    let text = {
        let dir = tmp.path().join("d");
        let mut c = profiledb();
        c.args(["demo", "--dir", s(&dir), "--profiles", "50"]);
        run_cmd(c, None).ok().stdout
    };
    assert!(
        text.contains("ONE STITCHED CUSTOMER") && text.contains("AS OF VERSION") && text.contains("loaded in"),
        "{text}"
    );
}
