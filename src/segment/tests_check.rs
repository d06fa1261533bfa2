//! Static check, dependency and cycle tests.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Error;

use super::ast::*;
use super::*;

fn catalog(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

/// The check error as (canonical text, position, message).
fn check_err(e: &Expr, known: &[&str]) -> (String, usize, String) {
    match check(e, &catalog(known)) {
        Err(Error::InvalidExpression { expr, position, message }) => (expr, position, message),
        other => panic!("expected a check error for {e}, got {other:?}"),
    }
}

#[test]
fn unknown_segments_are_reported_at_their_condition() {
    let e = Cond::has("email").and(Cond::in_segment("vip").or(Cond::in_segment("ghost")));
    let (text, pos, msg) = check_err(&e, &["vip"]);
    assert_eq!(text, "has email and (in vip or in ghost)");
    assert_eq!(pos, 25);
    assert_eq!(msg, "unknown segment \"ghost\"");
    assert!(check(&e, &catalog(&["vip", "ghost"])).is_ok());
}

#[test]
fn type_errors_are_caught_in_built_trees() {
    let cases: Vec<(Expr, &str)> = vec![
        (Cond::count("a").gt("abc"), "count(…) compares to a number, found a string"),
        (Cond::sum("a", "p").gt(now()), "sum(…) compares to a number, found a relative time"),
        (Cond::last("a").gt(5), "last(…) compares to a time (t\"…\" or now ± a duration), found an integer"),
        (Cond::trait_("x").contains(3), "contains needs a string, found an integer"),
        (Cond::trait_("x").starts_with(true), "starts_with needs a string, found a boolean"),
        (Cond::trait_("x").lt(false), "booleans can only be compared with = or !=, not <"),
        (Cond::trait_("x").eq(f64::NAN), "numbers must be finite, found NaN"),
        (Cond::trait_("x").is_in(Vec::<i64>::new()), "an in list needs at least one value"),
        (Cond::count("a").window(Duration::ZERO).gt(1), "the window must be positive"),
        (Cond::count("a").window(Duration::days(-1)).gt(1), "the window must be positive"),
        (Cond::count("a").window(Duration::days(100_001)).gt(1), "the window is too long (the limit is 100000d)"),
        (Cond::seq("a").followed_by("b").within(Duration::ZERO), "the seq duration must be positive"),
        (Cond::seq("a").within(Duration::hours(1)), "empty event name"),
        (Cond::count("").gt(1), "empty event name"),
        (Cond::sum("a", "").gt(1), "empty property name"),
        (Cond::count("a").where_gt("p", true).gt(1), "booleans can only be compared with = or !=, not >"),
        (Cond::trait_("a..b").exists(), "invalid trait name \"a..b\": empty segment between dots"),
        (Cond::has("Email"), "\"Email\" is not an identifier kind (1-64 of a-z, 0-9, _, starting with a letter)"),
        (Cond::consent(""), "empty consent purpose name"),
        (
            Cond::trait_("t").lt(now().minus(Duration::millis(i64::MAX))),
            "the offset from now is too long (the limit is 100000d)",
        ),
        (Expr::And(vec![Cond::has("a")]), "\"and\" needs at least two operands, found 1"),
        (Expr::Or(vec![]), "\"or\" needs at least two operands, found 0"),
    ];
    for (e, want) in cases {
        let (_, _, msg) = check_err(&e, &[]);
        assert_eq!(msg, want, "{e:?}");
    }
}

#[test]
fn positions_point_into_the_canonical_text() {
    let e = Cond::has("email").and(Cond::count("a").gt("abc"));
    let (text, pos, _) = check_err(&e, &[]);
    assert_eq!(text, "has email and count(a) > \"abc\"");
    assert_eq!(pos, 14);
    let e = Cond::in_segment("é").or(!Cond::trait_("x").contains(3));
    let (text, pos, _) = check_err(&e, &["é"]);
    assert_eq!(text, "in é or not traits.x contains 3");
    assert_eq!(pos, 12);
}

#[test]
fn deep_trees_are_refused_without_overflowing() {
    let mut e = Cond::has("a");
    for _ in 0..64 {
        e = !e;
    }
    assert!(check(&e, &catalog(&[])).is_ok());
    let mut deep = e.clone();
    for _ in 0..10_000 {
        deep = !deep;
    }
    let (_, _, msg) = check_err(&deep, &[]);
    assert!(msg.contains("deeper than 64"), "{msg}");
}

#[test]
fn long_built_trees_are_refused() {
    let big = Expr::Or((0..2000).map(|i| Cond::in_segment(format!("s{i}"))).collect());
    let names: Vec<String> = (0..2000).map(|i| format!("s{i}")).collect();
    let known: BTreeSet<String> = names.into_iter().collect();
    match check(&big, &known) {
        Err(Error::InvalidExpression { message, .. }) => assert!(message.contains("limit is 16384"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn dependencies_list_everything_read() {
    let e = parse(
        r#"traits.plan = "pro" and count(page_view where page = "/p", 7d) >= 3
           or (has email and not in vip and consent(mkt)) or seq(cart, not purchase, 1d)"#,
    )
    .unwrap();
    let d = dependencies(&e);
    let set = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(d.traits, set(&["plan"]));
    assert_eq!(d.events, set(&["cart", "page_view", "purchase"]));
    assert_eq!(d.identifier_kinds, set(&["email"]));
    assert_eq!(d.segments, set(&["vip"]));
    assert_eq!(d.consents, set(&["mkt"]));
    assert!(d.time_dependent);
    let static_only = dependencies(&parse("traits.a > t\"2024-01-01T00:00:00Z\" and has email and in x").unwrap());
    assert!(!static_only.time_dependent);
    assert!(dependencies(&parse("traits.a > now").unwrap()).time_dependent);
    assert!(dependencies(&parse("count(a) > 1").unwrap()).time_dependent);
}

#[test]
fn cycles_are_found() {
    let defs = |pairs: &[(&str, &str)]| -> BTreeMap<String, Expr> {
        pairs.iter().map(|(n, text)| ((*n).to_owned(), parse(text).unwrap())).collect()
    };
    assert_eq!(find_cycle(&defs(&[("a", "in b"), ("b", "has email or in outside")])), None);
    assert_eq!(find_cycle(&defs(&[("a", "in a")])), Some(vec!["a".to_owned(), "a".to_owned()]));
    let cycle = find_cycle(&defs(&[("a", "in b"), ("b", "in c and has x"), ("c", "not in a"), ("d", "in a")]));
    assert_eq!(cycle, Some(vec!["a".to_owned(), "b".to_owned(), "c".to_owned(), "a".to_owned()]));
    // Diamonds are not cycles.
    assert_eq!(find_cycle(&defs(&[("a", "in b or in c"), ("b", "in d"), ("c", "in d"), ("d", "has x")])), None);
    // A long chain does not overflow the stack.
    let mut chain: BTreeMap<String, Expr> =
        (0..20_000).map(|i| (format!("s{i}"), Cond::in_segment(format!("s{}", i + 1)))).collect();
    assert_eq!(find_cycle(&chain), None);
    chain.insert("s20000".into(), Cond::in_segment("s0"));
    assert_eq!(find_cycle(&chain).map(|c| c.len()), Some(20_002));
}
