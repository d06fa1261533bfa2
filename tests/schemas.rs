//! Event schemas through an opened database (`Builder::event_schemas`):
//! a violating event is refused naming the event, the property and the
//! rule, and writes nothing; a batch reports the rejected events by
//! position while the valid ones commit, or with `strict` writes nothing;
//! unknown event names are refused or accepted by configuration.

use std::sync::Arc;

use profiledb::event::{Event, EventKind, EventSchema, Properties, PropertyType, SchemaRegistry};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Error, Identifier, IngestOutcome, ManualClock, ProfileDb, Timestamp, TraitOp, TraitValue};
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

/// `Order Completed` needs a numeric `total` and a `currency` of USD or
/// EUR, and an integer `qty` when present; identify events need a `plan`
/// trait of free or pro when they carry one. Other track names are
/// accepted only with `allow_unknown`.
fn registry(allow_unknown: bool) -> SchemaRegistry {
    SchemaRegistry { allow_unknown_events: allow_unknown, ..SchemaRegistry::new() }
        .with_schema(
            "Order Completed",
            EventSchema::new()
                .require("total")
                .require("currency")
                .typed("total", PropertyType::Number)
                .typed("qty", PropertyType::Integer)
                .allow("currency", ["USD", "EUR"]),
        )
        .with_schema("identify", EventSchema::new().typed("plan", PropertyType::String).allow("plan", ["free", "pro"]))
}

fn open(dir: &std::path::Path, schemas: SchemaRegistry) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir).clock(clock).event_schemas(schemas).open().unwrap();
    db.declare_rollup(RollupDef::new("revenue", "Order Completed", Aggregate::Sum("total".into()))).unwrap();
    db
}

fn track(name: &str, who: &str, msg: &str, props: serde_json::Value) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(T0 - 1_000), vec![id(who)]);
    e.message_id = Some(msg.to_owned());
    e.properties = Properties::from_json(&props).unwrap();
    e
}

fn order(who: &str, msg: &str, props: serde_json::Value) -> Event {
    track("Order Completed", who, msg, props)
}

fn identify(who: &str, plan: TraitValue) -> Event {
    let mut e = Event::new(EventKind::Identify, "identify", Timestamp(T0 - 1_000), vec![id(who)]);
    e.traits = vec![TraitOp::Set { name: "plan".into(), value: plan }];
    e
}

/// The (event, property, rule) of a schema violation; panics on any other error.
fn violation(err: &Error) -> (&str, &str, &str) {
    match err {
        Error::SchemaViolation { event, property, rule } => (event, property, rule),
        other => panic!("expected a schema violation, got {other:?}"),
    }
}

/// The revenue rollup (sum of `total`) of the profile `who` reaches.
fn revenue(db: &ProfileDb, who: &str) -> RollupValue {
    let p = db.resolve(&id(who)).unwrap().unwrap_or_else(|| panic!("{who} has no profile"));
    db.rollup(p, "revenue", Window::All).unwrap()
}

/// The `total` of every stored `Order Completed` event of the profile `who`
/// reaches, oldest first (identify events are on the timeline too).
fn totals(db: &ProfileDb, who: &str) -> Vec<serde_json::Value> {
    let p = db.resolve(&id(who)).unwrap().unwrap_or_else(|| panic!("{who} has no profile"));
    let events = db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    events
        .iter()
        .filter(|e| e.name == "Order Completed")
        .map(|e| e.property("total").map_or(json!(null), |v| v.to_json()))
        .collect()
}

#[test]
fn track_refuses_a_violation_naming_event_property_and_rule_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), registry(false));
    db.track(&order("user_id:1", "m-0", json!({"total": 10, "currency": "USD"}))).unwrap();
    db.track(&identify("user_id:1", "pro".into())).unwrap();

    let cases: Vec<(Event, &str, &str)> = vec![
        // Known person, each rule; the message id is reused below.
        (order("user_id:1", "m-1", json!({"currency": "USD"})), "total", "is required"),
        (
            order("user_id:1", "m-1", json!({"total": "12", "currency": "USD"})),
            "total",
            "must be a number, found string",
        ),
        (
            order("user_id:1", "m-1", json!({"total": 12, "currency": "USD", "qty": 1.5})),
            "qty",
            "must be an integer, found float 1.5",
        ),
        (
            order("user_id:1", "m-1", json!({"total": 12, "currency": "GBP"})),
            "currency",
            r#"must be one of ["USD", "EUR"], found "GBP""#,
        ),
        // A person never seen: not even the identifier may be linked.
        (order("email:new@example.com", "m-2", json!({"total": 12})), "currency", "is required"),
        // Identify events are checked on their traits.
        (identify("user_id:1", "gold".into()), "plan", r#"must be one of ["free", "pro"], found "gold""#),
        (identify("email:new@example.com", TraitValue::Int(3)), "plan", "must be a string, found integer"),
    ];
    let before = db.raw_dump().unwrap();
    for (event, property, rule) in &cases {
        let err = db.track(event).unwrap_err();
        assert_eq!(violation(&err), (event.name.as_str(), *property, *rule), "{event:?}");
        let text = err.to_string();
        for part in [&event.name, *property, *rule] {
            assert!(text.contains(part), "the message {text:?} does not name {part:?}");
        }
        assert_eq!(db.raw_dump().unwrap(), before, "a refused {event:?} changed the database");
    }
    assert_eq!(
        db.track(&cases[0].0).unwrap_err().to_string(),
        r#"event "Order Completed" breaks its schema: property "total" is required"#
    );
    assert_eq!(db.resolve(&id("email:new@example.com")).unwrap(), None);
    assert_eq!(db.get(&id("user_id:1")).unwrap().unwrap().traits.get("plan"), Some(&"pro".into()));
    assert_eq!(totals(&db, "user_id:1"), vec![json!(10)]);
    assert_eq!(revenue(&db, "user_id:1"), RollupValue::Number(Some(10.0)));

    // The refused events left no dedup key: a conforming event with the
    // same message id is applied, not acknowledged as a duplicate.
    let fixed = order("user_id:1", "m-1", json!({"total": 2.5, "currency": "EUR", "qty": 2}));
    assert!(matches!(db.track(&fixed).unwrap(), IngestOutcome::Applied(_)));
    assert_ne!(db.raw_dump().unwrap(), before);
    assert_eq!(totals(&db, "user_id:1"), vec![json!(10), json!(2.5)]);
    assert_eq!(revenue(&db, "user_id:1"), RollupValue::Number(Some(12.5)));
}

#[test]
fn a_batch_reports_rejected_events_by_position_and_commits_the_valid_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), registry(false));
    let batch = [
        order("user_id:1", "b-0", json!({"total": 10, "currency": "USD"})),
        order("user_id:2", "b-1", json!({"currency": "USD"})),
        order("user_id:1", "b-2", json!({"total": 5, "currency": "EUR"})),
        order("user_id:3", "b-3", json!({"total": 7, "currency": "GBP"})),
        track("Newsletter Signup", "user_id:1", "b-4", json!({})),
        identify("user_id:4", "gold".into()),
        order("user_id:5", "b-6", json!({"total": 1, "currency": "USD"})),
        identify("user_id:5", "free".into()),
    ];
    let report = db.ingest_batch(&batch, false).unwrap();
    assert_eq!((report.applied, report.duplicates, report.dropped), (4, 0, 0));
    let rejected: Vec<(usize, (&str, &str, &str))> = report.rejected.iter().map(|(i, e)| (*i, violation(e))).collect();
    assert_eq!(
        rejected,
        vec![
            (1, ("Order Completed", "total", "is required")),
            (3, ("Order Completed", "currency", r#"must be one of ["USD", "EUR"], found "GBP""#)),
            (4, ("Newsletter Signup", "", "has no schema, and unknown event names are refused")),
            (5, ("identify", "plan", r#"must be one of ["free", "pro"], found "gold""#)),
        ]
    );

    // The valid ones committed: timelines, rollups, traits.
    assert_eq!(totals(&db, "user_id:1"), vec![json!(10), json!(5)]);
    assert_eq!(revenue(&db, "user_id:1"), RollupValue::Number(Some(15.0)));
    assert_eq!(revenue(&db, "user_id:5"), RollupValue::Number(Some(1.0)));
    let p5 = db.get(&id("user_id:5")).unwrap().unwrap();
    assert_eq!(p5.traits.get("plan"), Some(&"free".into()));
    let p1 = db.resolve(&id("user_id:1")).unwrap().unwrap();
    let counts: Vec<String> = db.rollups_of(p1).unwrap().into_iter().map(|(name, _)| name).collect();
    assert!(counts.contains(&"Order Completed.count".to_owned()), "{counts:?}");
    assert!(!counts.iter().any(|n| n.starts_with("Newsletter")), "a rejected event was counted: {counts:?}");
    // Nothing of the rejected ones: their people were never created.
    for who in ["user_id:2", "user_id:3", "user_id:4"] {
        assert_eq!(db.resolve(&id(who)).unwrap(), None, "{who} came from a rejected event");
    }
    assert_eq!(db.profile_count().unwrap(), 2);
}

#[test]
fn a_strict_batch_with_a_violation_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), registry(false));
    db.track(&order("user_id:1", "s-0", json!({"total": 10, "currency": "USD"}))).unwrap();
    let good = [
        order("user_id:1", "s-1", json!({"total": 5, "currency": "EUR"})),
        order("user_id:2", "s-2", json!({"total": 7, "currency": "USD"})),
        identify("user_id:1", "free".into()),
    ];
    let batch = [
        good[0].clone(),
        order("user_id:3", "s-3", json!({"total": true, "currency": "USD"})),
        good[1].clone(),
        track("Unknown Thing", "user_id:1", "s-4", json!({})),
        good[2].clone(),
    ];
    let before = db.raw_dump().unwrap();
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!((report.applied, report.duplicates, report.dropped), (0, 0, 0));
    let rejected: Vec<(usize, (&str, &str, &str))> = report.rejected.iter().map(|(i, e)| (*i, violation(e))).collect();
    assert_eq!(
        rejected,
        vec![
            (1, ("Order Completed", "total", "must be a number, found bool")),
            (3, ("Unknown Thing", "", "has no schema, and unknown event names are refused")),
        ]
    );
    assert_eq!(db.raw_dump().unwrap(), before, "a strict batch with violations wrote something");
    assert_eq!(db.resolve(&id("user_id:2")).unwrap(), None);
    assert_eq!(revenue(&db, "user_id:1"), RollupValue::Number(Some(10.0)));

    // The same valid events alone, strict, all commit (their message ids
    // were not recorded by the refused batch).
    let report = db.ingest_batch(&good, true).unwrap();
    assert_eq!((report.applied, report.duplicates, report.rejected.len()), (3, 0, 0));
    assert_eq!(totals(&db, "user_id:1"), vec![json!(10), json!(5)]);
    assert_eq!(revenue(&db, "user_id:1"), RollupValue::Number(Some(15.0)));
    assert_eq!(revenue(&db, "user_id:2"), RollupValue::Number(Some(7.0)));
    assert_eq!(db.get(&id("user_id:1")).unwrap().unwrap().traits.get("plan"), Some(&"free".into()));
}

#[test]
fn unknown_event_names_are_refused_or_accepted_by_configuration() {
    let signup = || track("Newsletter Signup", "user_id:1", "u-1", json!({"source": "footer"}));

    // Refused: allow_unknown_events = false.
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), registry(false));
    db.track(&order("user_id:1", "u-0", json!({"total": 1, "currency": "USD"}))).unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.track(&signup()).unwrap_err();
    assert_eq!(violation(&err), ("Newsletter Signup", "", "has no schema, and unknown event names are refused"));
    assert_eq!(err.to_string(), r#"event "Newsletter Signup" has no schema, and unknown event names are refused"#);
    assert_eq!(db.raw_dump().unwrap(), before, "a refused unknown event changed the database");
    // Only track events need a declared name: a page view is accepted.
    let mut page = Event::new(EventKind::Page, "Pricing", Timestamp(T0 - 1_000), vec![id("user_id:1")]);
    page.properties.insert("path", "/pricing");
    assert!(matches!(db.track(&page).unwrap(), IngestOutcome::Applied(_)));
    drop(db);

    // Accepted: the same schemas from a JSON file that leaves
    // allow_unknown_events out (default true); declared names still checked.
    let dir = tempfile::tempdir().unwrap();
    let from_json: SchemaRegistry = serde_json::from_value(json!({
        "schemas": {
            "Order Completed": {
                "required": ["total", "currency"],
                "types": {"total": "number", "qty": "integer"},
                "allowed": {"currency": ["USD", "EUR"]}
            },
            "identify": {"types": {"plan": "string"}, "allowed": {"plan": ["free", "pro"]}}
        }
    }))
    .unwrap();
    assert_eq!(from_json, registry(true));
    let db = open(dir.path(), from_json);
    assert!(matches!(db.track(&signup()).unwrap(), IngestOutcome::Applied(_)));
    let report = db.ingest_batch(&[track("Another Thing", "user_id:1", "u-2", json!({}))], true).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (1, 0));
    let p = db.resolve(&id("user_id:1")).unwrap().unwrap();
    let names: Vec<String> =
        db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["Newsletter Signup", "Another Thing"]);
    let err = db.track(&order("user_id:1", "u-3", json!({"total": 1}))).unwrap_err();
    assert_eq!(violation(&err), ("Order Completed", "currency", "is required"));
}
