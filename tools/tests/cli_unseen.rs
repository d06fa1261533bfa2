//! Misspelt names: definitions naming an event, property or trait the
//! stored data has never used are refused (`rfm compute`'s amount, which
//! would replace the model) or warned about on stderr (rollups, segments,
//! trait indexes, which may be meant for future data).

mod common;

use common::{s, TestDb};
use serde_json::json;

const EVENTS: &str = r#"{"type":"track","event":"purchase","timestamp":"2024-05-01T10:10:00Z","identifiers":{"user_id":"9"},"properties":{"amount":30}}
{"type":"track","event":"purchase","timestamp":"2024-05-02T09:00:00Z","identifiers":{"user_id":"10"},"properties":{"amount":99}}
"#;

fn loaded() -> TestDb {
    let db = TestDb::init();
    let file = db.file("events.jsonl", EVENTS);
    db.run(&["import", s(&file)]).ok();
    db.run(&["trait", "set", "user_id:9", "country", "DE"]).ok();
    db
}

#[test]
fn rfm_refuses_an_amount_property_no_stored_event_has() {
    let db = loaded();
    db.run(&["rfm", "compute", "--amount", "amuont"])
        .code(2)
        .err_has(&["no stored \"purchase\" event has a property \"amuont\"", "--allow-unseen"]);
    db.run(&["rfm", "score", "user_id:9"]).code(3).err_has(&["rfm compute"]);
    assert_eq!(db.json(&["rollup", "list"])["rollups"], json!([]), "no rollup was declared");
    let forced = db.run(&["--json", "rfm", "compute", "--amount", "amuont", "--allow-unseen"]).ok();
    assert!(forced.stderr.contains("warning:") && forced.stderr.contains("amuont"), "{}", forced.stderr);
    let r = db.run(&["rfm", "compute"]).ok();
    assert!(!r.stderr.contains("warning"), "{}", r.stderr);
}

/// A misspelt purchase event is reported as such (not found, exit 3), not
/// as a property that event lacks.
#[test]
fn rfm_with_an_unseen_event_name_says_the_event_is_unknown() {
    let db = loaded();
    let r = db.run(&["rfm", "compute", "--event", "Order Complete", "--amount", "amount"]).code(3);
    assert!(r.stderr.contains("Order Complete"), "{}", r.stderr);
    assert!(!r.stderr.contains("has a property"), "{}", r.stderr);
    assert_eq!(db.json(&["rollup", "list"])["rollups"], json!([]), "no rollup was declared");
}

#[test]
fn definitions_naming_unseen_events_or_traits_warn() {
    let db = loaded();
    let r = db.run(&["rollup", "declare", "x", "--event", "nosuchevent", "--agg", "count"]).ok();
    assert!(r.stderr.contains("warning: no stored event is named \"nosuchevent\""), "{}", r.stderr);
    let r = db.run(&["rollup", "declare", "y", "--event", "purchase", "--agg", "sum", "--property", "amt"]).ok();
    assert!(r.stderr.contains("warning: no stored \"purchase\" event has a property \"amt\""), "{}", r.stderr);
    let r = db.run(&["rollup", "declare", "z", "--event", "purchase", "--agg", "sum", "--property", "amount"]).ok();
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    let r = db.run(&["segment", "define", "typo", "count(purhcase) >= 1"]).ok();
    assert!(r.stderr.contains("warning: no stored event is named \"purhcase\""), "{}", r.stderr);
    let r = db.run(&["segment", "define", "buyers", "count(purchase) >= 1"]).ok();
    assert!(r.stderr.is_empty(), "{}", r.stderr);

    let r = db.run(&["index", "add", "contry"]).ok();
    assert!(r.stderr.contains("warning: no profile has the trait \"contry\""), "{}", r.stderr);
    let r = db.run(&["index", "add", "country"]).ok();
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}
