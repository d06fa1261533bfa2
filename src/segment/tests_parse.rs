//! Parser, canonical printing and builder tests.

use std::collections::BTreeSet;

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::error::Error;

use super::ast::*;
use super::strategies;
use super::*;

fn err(text: &str) -> (usize, String) {
    match parse(text) {
        Err(Error::InvalidExpression { position, message, expr }) => {
            assert_eq!(expr, text);
            (position, message)
        }
        other => panic!("expected an error for {text:?}, got {other:?}"),
    }
}

fn t(name: &str, op: CmpOp, v: impl Into<Operand>) -> Expr {
    Expr::Trait(TraitCond { name: name.into(), test: TraitTest::Cmp(op, v.into()) })
}

const EXAMPLES: &[&str] = &[
    r#"traits.plan = "pro""#,
    r#"traits.plan != "pro" and traits.age >= 18 and traits.score < 2.5"#,
    r#"traits.country in ["DE", "FR"]"#,
    r#"traits.tags contains "beta""#,
    r#"traits.email starts_with "ann""#,
    "traits.plan exists",
    "traits.plan is null",
    "traits.vip = true or traits.vip = false",
    r#"traits.signup > t"2024-05-01T00:00:00Z""#,
    "traits.trial_ends < now + 3d",
    "traits.seen > now - 30d",
    "traits.at <= now",
    r#"count(page_view where page = "/pricing", 7d) >= 3"#,
    "sum(purchase.amount, 30d) > 500",
    "min(purchase.amount, 30d) > 5 and max(purchase.amount, all) < 1000 and avg(purchase.amount) >= 20.5",
    "last(purchase) < now - 30d",
    "first(signup) > now - 7d",
    "active_days(app_open, 28d) >= 10",
    "distinct(page_view.page, 30d) >= 5",
    r#"count(purchase where amount > 10 and currency in ["EUR", "USD"], 90d) = 0"#,
    "seq(add_to_cart, not purchase, 24h)",
    "seq(a, b, 1h)",
    r#"seq(add_to_cart where sku = "x", not purchase where sku = "x", 2d)"#,
    "has email",
    "in high_value",
    "segment(high_value)",
    "consent(marketing_email)",
    "not (has email or in churned) and not not consent(x)",
    r#"count("Order Completed" where "product id" = 3, 500ms) > 0"#,
    r#"sum("Order Completed".revenue where "currency" != "EUR", 12w) >= -4.5e3"#,
    "traits.address.city = \"Berlin\" and traits.\"a-b$\" exists",
];

#[test]
fn examples_parse_and_print_canonically() {
    for text in EXAMPLES {
        let e = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let printed = e.to_string();
        assert_eq!(parse(&printed).unwrap(), e, "{text} printed as {printed}");
        check(&e, &AnySegment).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

struct AnySegment;
impl Catalog for AnySegment {
    fn segment_exists(&self, _: &str) -> bool {
        true
    }
}

#[test]
fn trees_have_the_documented_shape() {
    let e = parse(r#"count(page_view where page = "/pricing", 7d) >= 3"#).unwrap();
    let want = Expr::Rollup(RollupCond {
        metric: Metric::Count,
        events: EventSelector {
            event: "page_view".into(),
            filter: vec![PropertyFilter {
                property: "page".into(),
                test: FilterTest::Cmp(CmpOp::Eq, Literal::Str("/pricing".into())),
            }],
        },
        window: Window::Last(Duration::days(7)),
        op: CmpOp::Ge,
        operand: Operand::Lit(Literal::Int(3)),
    });
    assert_eq!(e, want);
    assert_eq!(parse("traits.x < now - 30d").unwrap(), t("x", CmpOp::Lt, Operand::Now(Duration::days(-30))));
    assert_eq!(parse("traits.x == -3").unwrap(), t("x", CmpOp::Eq, -3i64));
    assert_eq!(parse("traits.x = t\"1000\"").unwrap(), t("x", CmpOp::Eq, Timestamp(1000)));
    assert_eq!(parse("segment(a)").unwrap(), parse("in a").unwrap());
    assert_eq!(parse("count(a, all) > 1").unwrap(), parse("count(a) > 1").unwrap());
    let seq = parse("seq(add_to_cart, not purchase, 24h)").unwrap();
    assert_eq!(
        seq,
        Expr::Seq(SeqCond {
            first: EventSelector::new("add_to_cart"),
            then: EventSelector::new("purchase"),
            negated: true,
            within: Duration::hours(24),
        })
    );
    assert_eq!(seq.to_string(), "seq(add_to_cart, not purchase, 1d)");
    let p = parse("sum(purchase.product.price where product.cat = 1) > 0").unwrap();
    let Expr::Rollup(r) = p else { panic!() };
    assert_eq!(r.metric, Metric::Sum("product.price".into()));
    assert_eq!(r.events.filter[0].property, "product.cat");
}

#[test]
fn precedence_is_not_then_and_then_or() {
    let (a, b, c) = (Expr::Has("a".into()), Expr::Has("b".into()), Expr::Has("c".into()));
    let not_c = Expr::Not(Box::new(c.clone()));
    assert_eq!(
        parse("has a or has b and not has c").unwrap(),
        Expr::Or(vec![a.clone(), Expr::And(vec![b.clone(), not_c])])
    );
    assert_eq!(
        parse("(has a or has b) and has c").unwrap(),
        Expr::And(vec![Expr::Or(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(
        parse("(has a and has b) and has c").unwrap(),
        Expr::And(vec![Expr::And(vec![a.clone(), b.clone()]), c.clone()])
    );
    assert_eq!(parse("has a and has b and has c").unwrap(), Expr::And(vec![a.clone(), b.clone(), c.clone()]));
    assert_eq!(parse("((has a))").unwrap(), a);
    let not_and = parse("not (has a and has b)").unwrap();
    assert_eq!(not_and.to_string(), "not (has a and has b)");
    assert_eq!(parse("(has a and has b) and has c").unwrap().to_string(), "(has a and has b) and has c");
}

#[test]
fn errors_say_where_and_what_was_expected() {
    assert_eq!(err("traits.plan ("), (12, "expected a comparison operator after traits.plan, found \"(\"".to_owned()));
    let (pos, msg) = err(r#"count(page_view, 7d) > "abc""#);
    assert_eq!(pos, 23);
    assert_eq!(msg, "count(…) compares to a number, found a string");
    let (pos, msg) = err("traits.tags contains 3");
    assert_eq!((pos, msg.as_str()), (21, "contains needs a string, found an integer"));
    let (pos, msg) = err("last(purchase) < 5");
    assert_eq!(pos, 17);
    assert!(msg.contains("compares to a time"), "{msg}");
    assert_eq!(err("count(a, 0d) > 1"), (9, "the window must be positive".to_owned()));
    assert_eq!(err("seq(a, b, 0s)").0, 10);
    assert_eq!(err("traits.b < true").1, "booleans can only be compared with = or !=, not <");
    assert_eq!(err("count(a where x > true) > 1").0, 14);
    assert_eq!(err("count(a where x = 1 and y in []) > 1").0, 24);
    assert_eq!(
        err("count(a, 3min) > 1"),
        (10, "unknown duration unit \"min\": expected ms, s, m, h, d or w".to_owned())
    );
    assert!(err("").1.starts_with("expected a condition"));
    assert_eq!(err("has email has phone").1, "expected \"and\", \"or\" or the end of the expression, found \"has\"");
    assert_eq!(err("(has a").0, 6);
    assert!(err("(has a").1.contains("to close the \"(\" at position 0"));
    assert_eq!(err("traits.x = \"abc").0, 11);
    assert_eq!(
        err("count(a, 7d) >").1,
        "expected a value (string, number, true, false, t\"…\") or a time relative to now, found end of input"
    );
    assert_eq!(err("sum(purchase, 7d) > 1").0, 12);
    assert_eq!(err("count(a where) > 1").0, 13);
    assert_eq!(err("has and").1, "expected an identifier kind (such as email), found \"and\"");
    assert_eq!(
        err("has \"Email\"").1,
        "\"Email\" is not an identifier kind (1-64 of a-z, 0-9, _, starting with a letter)"
    );
    assert_eq!(
        err("traits.x = 99999999999999999999").1,
        "integer 99999999999999999999 is out of range (use a decimal point for large numbers)"
    );
    assert_eq!(err("traits.x = 1e999").1, "number 1e999 is out of range");
    assert_eq!(err("é traits.x").0, 0);
    assert_eq!(err("has a and ?").0, 10);
    assert!(err("traits.x = now + 3").1.contains("a duration"));
    assert_eq!(
        err("consent(Marketing)"),
        (8, "\"Marketing\": consent purpose must start with a lowercase letter a-z".to_owned())
    );
}

#[test]
fn errors_in_expressions_over_several_lines_point_into_their_line() {
    let one = parse(r#"count(x, 7d) >= "abc""#).unwrap_err().to_string();
    assert_eq!(one, "invalid expression at position 16: count(…) compares to a number, found a string\n  count(x, 7d) >= \"abc\"\n                  ^");
    let two = parse("traits.a = 1 and\n  count(x, 7d) >= \"abc\"").unwrap_err().to_string();
    assert_eq!(
        two,
        "invalid expression at line 2, column 19 (position 35): count(…) compares to a number, found a string\n    \
         count(x, 7d) >= \"abc\"\n                    ^"
    );
}

#[test]
fn unknown_segments_are_refused_with_a_catalog() {
    let known: BTreeSet<String> = ["vip".to_owned()].into();
    assert!(parse_with_catalog("in vip", &known).is_ok());
    match parse_with_catalog("has a or in ghost", &known) {
        Err(Error::InvalidExpression { position, message, .. }) => {
            assert_eq!(position, 12);
            assert_eq!(message, "unknown segment \"ghost\"");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn nesting_and_length_are_capped() {
    let ok = format!("{}has a{}", "(".repeat(64), ")".repeat(64));
    assert!(parse(&ok).is_ok());
    let deep = format!("{}has a{}", "(".repeat(65), ")".repeat(65));
    let (pos, msg) = err(&deep);
    assert_eq!(pos, 64);
    assert!(msg.contains("deeper than 64"), "{msg}");
    assert!(parse(&format!("{}has a", "not ".repeat(64))).is_ok());
    assert!(err(&format!("{}has a", "not ".repeat(65))).1.contains("deeper than 64"));
    // 10,000 levels must fail cleanly, not overflow the stack.
    let huge = format!("{}has a", "(".repeat(10_000));
    assert!(parse(&huge).is_err());
    // Alternating and/or inside parentheses deepens the tree faster than the text.
    let mut s = "has a".to_owned();
    for _ in 0..40 {
        s = format!("has b and (has c or {s})");
    }
    assert!(err(&s).1.contains("deeper than 64"));
    let long = format!("has a{}", " or has a".repeat(2000));
    match parse(&long) {
        Err(Error::InvalidExpression { message, expr, .. }) => {
            assert!(message.contains("limit is 16384"), "{message}");
            assert!(expr.chars().count() <= 81);
        }
        other => panic!("{other:?}"),
    }
    let max = format!("has a{}", " or has a".repeat(1800));
    assert!(max.len() <= MAX_EXPR_BYTES);
    assert!(parse(&max).is_ok());
}

#[test]
fn the_builder_matches_the_text() {
    let cases: Vec<(Expr, &str)> = vec![
        (
            Cond::trait_("plan")
                .eq("pro")
                .and(Cond::count("page_view").where_eq("page", "/pricing").window(Duration::days(7)).ge(3)),
            r#"traits.plan = "pro" and count(page_view where page = "/pricing", 7d) >= 3"#,
        ),
        (Cond::sum("purchase", "amount").window(Duration::days(30)).gt(500), "sum(purchase.amount, 30d) > 500"),
        (Cond::last("purchase").lt(now().minus(Duration::days(30))), "last(purchase) < now - 30d"),
        (Cond::first("signup").gt(now().minus(Duration::days(7))), "first(signup) > now - 7d"),
        (Cond::trait_("trial_ends").lt(now().plus(Duration::days(3))), "traits.trial_ends < now + 3d"),
        (Cond::active_days("app_open").window(Duration::days(28)).ge(10), "active_days(app_open, 28d) >= 10"),
        (Cond::distinct("page_view", "page").window(Duration::days(30)).ge(5), "distinct(page_view.page, 30d) >= 5"),
        (Cond::trait_("country").is_in(["DE", "FR"]), r#"traits.country in ["DE", "FR"]"#),
        (Cond::trait_("tags").contains("beta"), r#"traits.tags contains "beta""#),
        (Cond::trait_("email").starts_with("ann"), r#"traits.email starts_with "ann""#),
        (Cond::trait_("plan").exists().or(Cond::trait_("plan").is_null()), "traits.plan exists or traits.plan is null"),
        (
            Cond::seq("add_to_cart").not_followed_by("purchase").within(Duration::hours(24)),
            "seq(add_to_cart, not purchase, 24h)",
        ),
        (
            Cond::seq("a").where_eq("k", "x").followed_by("b").where_gt("p", 2.5).within(Duration::hours(1)),
            r#"seq(a where k = "x", b where p > 2.5, 1h)"#,
        ),
        (
            (!Cond::has("email").or(Cond::in_segment("vip"))).and(Cond::consent("marketing_email")),
            "not (has email or in vip) and consent(marketing_email)",
        ),
        (Cond::has("a").and(Cond::has("b")).and(Cond::has("c")), "has a and has b and has c"),
        (Cond::has("a").and(Cond::has("b").and(Cond::has("c"))), "has a and (has b and has c)"),
        (Cond::not(Cond::has("a")), "not has a"),
        (
            Cond::count("purchase").where_in("currency", ["EUR", "USD"]).where_ge("amount", 10).lt(2),
            r#"count(purchase where currency in ["EUR", "USD"] and amount >= 10) < 2"#,
        ),
        (Cond::trait_("signup").ge(Timestamp(0)), r#"traits.signup >= t"1970-01-01T00:00:00Z""#),
    ];
    for (built, text) in cases {
        assert_eq!(built, parse(text).unwrap(), "{text}");
    }
}

fn bincode_round_trip(e: &Expr) -> Expr {
    let config = bincode::config::standard();
    let bytes = bincode::serde::encode_to_vec(e, config).unwrap();
    bincode::serde::decode_from_slice(&bytes, config).unwrap().0
}

#[test]
fn trees_store_with_bincode() {
    for text in EXAMPLES {
        let e = parse(text).unwrap();
        assert_eq!(bincode_round_trip(&e), e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn printing_then_parsing_gives_the_same_tree(e in strategies::expr()) {
        let text = e.to_string();
        let back = parse(&text);
        prop_assert!(back.is_ok(), "{text}: {:?}", back);
        prop_assert_eq!(back.unwrap(), e.clone(), "{}", text);
        prop_assert!(check(&e, &AnySegment).is_ok(), "{}", text);
        prop_assert_eq!(bincode_round_trip(&e), e);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s);
    }

    #[test]
    fn token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "traits.x", "(", ")", "[", "]", ",", ".", "and", "or", "not", "in", "count", "seq", "sum", "last", "has",
        "consent", "segment", "where", "now", "+", "-", "7d", "3", "2.5", "\"s\"", "t\"0\"", "=", "<=", "!=",
        "contains", "exists", "is", "null", "all", "a", "b", "true", "\\", "\"", "t", "1e", "e5",
    ]), 0..40)) {
        let text = parts.join(" ");
        let _ = parse(&text);
        let _ = parse(&parts.concat());
    }
}

/// The excerpt under an error points at the position as the line is shown:
/// tabs print as one space; after a character that is not ASCII (wide on
/// screen) a `▶` in the line marks it; a long line is windowed around it.
#[test]
fn error_excerpts_point_at_the_position_as_printed() {
    let tab = parse("traits.plan = \"pro\"\tand oops").unwrap_err().to_string();
    assert!(tab.ends_with("\n  traits.plan = \"pro\" and oops\n                          ^"), "{tab}");
    let wide = parse("traits.country = \"日本日本日本\" and and").unwrap_err().to_string();
    assert!(wide.starts_with("invalid expression at position 30:"), "{wide}");
    assert!(wide.ends_with("\n  traits.country = \"日本日本日本\" and ▶and\n  (▶ marks the position)"), "{wide}");
    // Non-ASCII after the position does not matter.
    let after = parse("traits.x = 0x10 or traits.y = \"日本\"").unwrap_err().to_string();
    assert!(after.ends_with("\n  traits.x = 0x10 or traits.y = \"日本\"\n             ^"), "{after}");
    let deep = parse(&format!("{}has a", "not ".repeat(65))).unwrap_err().to_string();
    let lines: Vec<&str> = deep.lines().collect();
    assert_eq!(lines.len(), 3, "{deep}");
    assert!(lines[1].starts_with("  …") && lines[1].ends_with("has a"), "{deep}");
    assert!(lines[1].chars().count() <= 84, "{deep}");
    // The caret is under the 65th "not" (position 256).
    let caret = lines[2].chars().count() - 1;
    assert_eq!(lines[2].trim(), "^", "{deep}");
    assert_eq!(lines[1].chars().skip(caret).collect::<String>(), "not has a", "{deep}");
}

#[test]
fn hexadecimal_numbers_null_operands_and_bad_trait_names_say_what_and_where() {
    assert_eq!(
        err("traits.age > 0x10"),
        (13, "numbers are decimal: found 0x10, a hexadecimal number (write 16)".to_owned())
    );
    assert_eq!(err("traits.age > 0xzz").1, "numbers are decimal: found 0xzz, a hexadecimal number");
    let (pos, msg) = err("traits.plan = null");
    assert_eq!(pos, 14);
    assert!(msg.contains("traits.x is null") && msg.contains("not traits.x exists"), "{msg}");
    assert!(err("traits.plan != null").1.contains("is null"));
    let (pos, msg) = err("has email and traits.\"my trait\" = 1");
    assert_eq!(pos, 21, "{msg}");
    assert!(msg.starts_with("invalid trait name \"my trait\""), "{msg}");
}
