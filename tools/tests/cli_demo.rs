//! `profiledb demo`: a deterministic dataset that the other commands can read.

mod common;

use common::{profiledb, run_cmd, s};
use serde_json::json;

/// A fixed end, so reruns build the same database.
const END: &str = "2024-05-01T00:00:00Z";

fn demo(dir: &std::path::Path, people: &str) -> common::Run {
    let mut c = profiledb();
    c.args(["--json", "demo", "--dir", s(dir), "--profiles", people, "--end", END]);
    run_cmd(c, None)
}

#[test]
fn demo_builds_a_stitched_database_deterministically() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    let first = demo(&dir, "400").ok().json();
    assert_eq!(first["people"], json!(400));
    assert_eq!(first["end"], json!("2024-05-01T00:00:00.000Z"));
    let events = first["events"].as_u64().unwrap();
    assert!(events > 5_000, "tens of events per person: {events}");
    assert!(first["merged_ids"].as_u64().unwrap() > 50, "{first}");
    assert_eq!(first["merges"], first["merged_ids"], "the older name, kept for scripts");
    let profiles = first["profiles"].as_u64().unwrap();
    assert!((300..600).contains(&profiles), "{first}");
    let customer = &first["customer"];
    let ident = customer["identifier"].as_str().unwrap();
    assert!(customer["identities"].as_array().unwrap().len() >= 3, "{customer}");
    assert!(customer["history"].as_array().unwrap().iter().any(|d| d["change"]["type"] == json!("merge")));
    assert!(customer["rollups"]["page_view.count"].as_u64().unwrap() > 0, "{customer}");
    assert!(customer["segments"].as_array().unwrap().contains(&json!("known_customers")), "{customer}");

    let segments: Vec<(&str, u64)> = first["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["members"].as_u64().unwrap()))
        .collect();
    let names: Vec<&str> = segments.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        ["high_value", "cart_abandoners", "active_users", "pricing_visitors", "lapsed_buyers", "known_customers"]
    );
    assert!(segments.iter().all(|(_, n)| *n <= profiles), "{segments:?}");
    // The counts shown are the members after the tick at now (review L3),
    // what `segment count` answers; the window segments emptied since 2024.
    assert!(first["ticked"].as_u64().unwrap() > 0, "{first}");
    for (name, n) in &segments {
        let mut c = profiledb();
        c.args(["--json", "--db", s(&dir), "segment", "count", name]);
        assert_eq!(run_cmd(c, None).ok().json()["members"], json!(n), "{name}");
    }
    let high_value = &first["segments"][0];
    assert_ne!(high_value["members"], high_value["members_at_backfill"], "{high_value}");
    // Flushed and compacted: no write-ahead log is left for the next open to replay.
    assert_eq!(first["wal_bytes"], json!(0), "{first}");
    let wal: u64 = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().extension().is_some_and(|x| x == "log"))
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert_eq!(wal, 0, "write-ahead log bytes left");
    assert_eq!(first["rollups"].as_array().unwrap().len(), 7, "six declared and RFM's own");
    assert!(first["query"]["explain"].as_str().unwrap().contains("bitmap"), "{}", first["query"]);
    let scored = first["rfm"]["profiles_scored"].as_u64().unwrap();
    let total: u64 = first["rfm"]["distribution"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(scored > 0 && total == scored, "{}", first["rfm"]);

    // The other commands read it.
    let mut c = profiledb();
    c.args(["--json", "--db", s(&dir), "get", ident]);
    let p = run_cmd(c, None).ok().json();
    assert_eq!(p["id"], customer["profile"]["id"]);
    assert!(p["traits"]["address"]["city"].is_string());

    assert!(p["rollups"].is_object() && p["segments"].is_array(), "{p}");
    let mut c = profiledb();
    c.args(["--json", "--db", s(&dir), "check", "--tick"]);
    assert_eq!(run_cmd(c, None).ok().json()["clean"], json!(true));

    // A rerun replaces the directory and builds the same database.
    let again = demo(&dir, "400").ok().json();
    for k in ["events", "profiles", "identifiers", "merges", "segments"] {
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            for s in v.as_array_mut().into_iter().flatten() {
                s.as_object_mut().map(|o| o.remove("backfill_ms"));
            }
            v
        };
        assert_eq!(strip(&again[k]), strip(&first[k]), "{k}");
    }
    assert_eq!(again["customer"]["profile"], first["customer"]["profile"]);
}

#[test]
fn demo_refuses_to_replace_a_directory_that_is_not_a_database() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("keep.txt"), "mine").unwrap();
    demo(tmp.path(), "10").code(2).err_has(&["was not created by `profiledb demo`"]);
    assert!(tmp.path().join("keep.txt").exists());
    let text = {
        let dir = tmp.path().join("d");
        let mut c = profiledb();
        c.args(["demo", "--dir", s(&dir), "--profiles", "50", "--end", END]);
        run_cmd(c, None).ok().stdout
    };
    assert!(
        ["ONE STITCHED CUSTOMER", "SEGMENTS", "QUERY", "plan:", "RFM of purchase", "ingested in", "merged ids"]
            .iter()
            .all(|needle| text.contains(needle)),
        "{text}"
    );
}

#[test]
fn demo_never_replaces_a_database_it_did_not_create() {
    let db = common::TestDb::init();
    db.run(&["trait", "set", "email:ann@example.com", "plan", "pro"]).ok();
    demo(&db.path(), "10").code(2).err_has(&["was not created by `profiledb demo`", "refusing"]);
    assert_eq!(db.get("email:ann@example.com")["traits"]["plan"], json!("pro"), "the database is untouched");
}

#[test]
fn demo_refuses_to_replace_its_own_database_while_it_is_open() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("demo");
    demo(&dir, "10").ok();
    assert!(dir.join(".profiledb-demo").is_file(), "the demo marks the directory it created");
    let app = profiledb::ProfileDb::open(&dir).unwrap();
    demo(&dir, "10").code(5).err_has(&["open in another process"]);
    assert!(app.profile_count().unwrap() > 0, "the open database is untouched");
    drop(app);
    demo(&dir, "10").ok();
}
