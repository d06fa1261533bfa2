//! Integers past 2^53 compare exactly: profiles holding 2^53, 2^53 + 1 and
//! the float 2^53 are told apart by segment and query comparisons (`=`,
//! `!=`, `<`, `>=`, `in`), on an indexed trait and an unindexed one alike,
//! by `where` filters on events, by rollup property filters and by schema
//! allowed values; a `Sum` merge of integers past `i64` is refused
//! (stitching leaves the profiles apart, `Ignored::MergeRefused`).

use std::collections::BTreeSet;
use std::sync::Arc;

use profiledb::event::{Event, EventKind, EventSchema, PropertyValue, SchemaRegistry};
use profiledb::rollup::{Aggregate, FilterOp, Literal, RollupDef, RollupValue, Window};
use profiledb::{Identifier, ManualClock, MergeRules, MergeStrategy, ProfileDb, Timestamp, TraitValue, Update};

const T0: i64 = 1_700_000_000_000;
/// 2^53, the first integer past which `i64 as f64` rounds.
const P: i64 = 1 << 53;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

/// `refund` events accept only the order id 2^53 + 1; other events are free.
fn open(dir: &std::path::Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let schemas = SchemaRegistry { allow_unknown_events: true, ..SchemaRegistry::new() }
        .with_schema("refund", EventSchema::new().allow("order_id", [P + 1]));
    ProfileDb::builder(dir)
        .clock(clock)
        .event_schemas(schemas)
        .merge_rules(MergeRules::default().trait_strategy("credits", MergeStrategy::Sum))
        .open()
        .unwrap()
}

fn event(name: &str, who: &str, order_id: impl Into<PropertyValue>) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(T0 - 1_000), vec![id(who)]);
    e.properties.insert("order_id", order_id);
    e
}

/// The profiles holding 2^53 (`a`), 2^53 + 1 (`b`) and 2^53 as a float
/// (`c`) in `account_id` (indexed) and `acct` (not), each with a purchase
/// whose `order_id` is the same number.
fn fill(db: &ProfileDb) -> [(u32, &'static str); 3] {
    let values = [
        ("user_id:a", TraitValue::Int(P)),
        ("user_id:b", TraitValue::Int(P + 1)),
        ("user_id:c", TraitValue::Float(P as f64)),
    ];
    db.index_trait("account_id").unwrap();
    let mut out = [(0, ""); 3];
    for (k, (who, v)) in values.into_iter().enumerate() {
        let r = db.update(&id(who), Update::new().set("account_id", v.clone()).set("acct", v.clone())).unwrap();
        let order = match v {
            TraitValue::Int(i) => PropertyValue::Int(i),
            TraitValue::Float(f) => PropertyValue::Float(f),
            _ => unreachable!("numbers only"),
        };
        db.track(&event("purchase", who, order)).unwrap();
        out[k] = (r.profile.0, &who[8..]);
    }
    out
}

/// The names of the profiles a query matches.
fn matching(db: &ProfileDb, names: &[(u32, &'static str)], query: &str) -> BTreeSet<&'static str> {
    let q = db.query(query).unwrap_or_else(|e| panic!("{query}: {e}"));
    let ids: BTreeSet<u32> = q.members(0, usize::MAX).into_iter().map(|p| p.0).collect();
    names.iter().filter(|(p, _)| ids.contains(p)).map(|(_, n)| *n).collect()
}

#[test]
fn segments_and_queries_tell_2_pow_53_from_its_neighbours() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let names = fill(&db);
    let cases: &[(&str, &[&str])] = &[
        ("= 9007199254740993", &["b"]),
        ("= 9007199254740992", &["a", "c"]),
        ("= 9007199254740992.0", &["a", "c"]),
        ("!= 9007199254740993", &["a", "c"]),
        ("!= 9007199254740992", &["b"]),
        ("< 9007199254740993", &["a", "c"]),
        (">= 9007199254740993", &["b"]),
        ("> 9007199254740992.0", &["b"]),
        ("<= 9007199254740992.5", &["a", "c"]),
        ("in [9007199254740993, 1]", &["b"]),
        ("in [9007199254740992.0]", &["a", "c"]),
        ("in [9007199254740994, 9007199254740991]", &[]),
    ];
    for (test, want) in cases {
        let want: BTreeSet<&str> = want.iter().copied().collect();
        for name in ["account_id", "acct"] {
            let query = format!("traits.{name} {test}");
            assert_eq!(matching(&db, &names, &query), want, "{query}");
        }
        let query = format!("traits.account_id {test}");
        let explain = db.query(&query).unwrap().explain();
        assert!(explain.contains("value bitmaps of traits.account_id"), "{query}: {explain}");
    }
    db.define_segment("b_only", "traits.acct = 9007199254740993").unwrap();
    let members: BTreeSet<u32> = db.segment_members("b_only", 0, 10).unwrap().into_iter().map(|p| p.0).collect();
    assert_eq!(members, BTreeSet::from([names[1].0]));
    for (query, want) in [
        ("count(purchase where order_id = 9007199254740993) = 1", vec!["b"]),
        ("count(purchase where order_id < 9007199254740993) = 1", vec!["a", "c"]),
        ("count(purchase where order_id in [9007199254740992.0]) = 1", vec!["a", "c"]),
    ] {
        assert_eq!(matching(&db, &names, query), want.into_iter().collect(), "{query}");
    }
}

#[test]
fn rollup_filters_compare_integer_properties_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let p53 = Literal::Num(P as f64);
    db.declare_rollup(RollupDef::new("at", "purchase", Aggregate::Count).filter("order_id", FilterOp::Eq, p53.clone()))
        .unwrap();
    db.declare_rollup(RollupDef::new("past", "purchase", Aggregate::Count).filter("order_id", FilterOp::Gt, p53))
        .unwrap();
    let names = fill(&db);
    for ((p, name), (at, past)) in names.iter().zip([(1, 0), (0, 1), (1, 0)]) {
        let profile = profiledb::ProfileId(*p);
        assert_eq!(db.rollup(profile, "at", Window::All).unwrap(), RollupValue::Count(at), "{name} = 2^53");
        assert_eq!(db.rollup(profile, "past", Window::All).unwrap(), RollupValue::Count(past), "{name} > 2^53");
    }
}

#[test]
fn schema_allowed_values_compare_integers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for refused in [PropertyValue::Int(P), PropertyValue::Float(P as f64), PropertyValue::Int(P + 2)] {
        let before = db.raw_dump().unwrap();
        let err = db.track(&event("refund", "user_id:r", refused.clone())).expect_err("not an allowed order id");
        assert!(err.to_string().contains("order_id"), "{err}");
        assert_eq!(db.raw_dump().unwrap(), before, "a refused refund of {refused} wrote something");
    }
    db.track(&event("refund", "user_id:r", P + 1)).unwrap();
}

#[test]
fn a_sum_merge_past_i64_is_refused_naming_the_trait_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.update(&id("user_id:d"), Update::new().set("credits", i64::MAX)).unwrap();
    db.update(&id("email:d@x.com"), Update::new().set("credits", 1)).unwrap();
    let before = db.raw_dump().unwrap();
    // The email's profile gives way (the call applies to the user id's).
    let r = db.identify(&[id("user_id:d"), id("email:d@x.com")], Update::new()).unwrap();
    assert!(
        matches!(&r.ignored[..], [(_, profiledb::Ignored::MergeRefused { reason, .. })] if reason.contains("credits")),
        "{r:?}"
    );
    assert_eq!(db.raw_dump().unwrap(), before, "a refused merge wrote something");
    let d = db.resolve(&id("user_id:d")).unwrap().unwrap();
    let err = db.merge_profiles(d, db.resolve(&id("email:d@x.com")).unwrap().unwrap(), profiledb::Cause::Api);
    assert!(err.expect_err("an overflowing sum").to_string().contains("credits"));
    assert_eq!(db.raw_dump().unwrap(), before, "a refused merge wrote something");
    db.update(&id("email:e@x.com"), Update::new().set("credits", P + 1)).unwrap();
    db.update(&id("user_id:e"), Update::new().set("credits", 1)).unwrap();
    db.identify(&[id("user_id:e"), id("email:e@x.com")], Update::new()).unwrap();
    let merged = db.get(&id("user_id:e")).unwrap().expect("the merged profile");
    assert_eq!(merged.traits.get("credits"), Some(&TraitValue::Int(P + 2)));
}
