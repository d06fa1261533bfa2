//! Proptest strategies: random valid expressions (any names and values)
//! and random profiles with expressions over a small shared vocabulary.

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::profile::value::TraitValue;

use super::ast::*;
use super::testing::VecContext;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;

fn cmp_op() -> impl Strategy<Value = CmpOp> {
    prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne), Just(CmpOp::Lt), Just(CmpOp::Le), Just(CmpOp::Gt), Just(CmpOp::Ge)]
}

/// Names of events, segments and consents: plain words, keywords, and
/// arbitrary text that must be quoted.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z_][a-z0-9_]{0,8}",
        1 => prop::sample::select(super::lexer::KEYWORDS).prop_map(str::to_owned),
        1 => "[ -~]{1,8}",
        1 => "\\PC{1,4}",
        1 => any::<String>().prop_filter("non-empty", |s| !s.is_empty() && s.len() <= 64),
    ]
}

fn property() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z]{1,5}(\\.[a-z_]{1,5}){0,2}", 1 => name()]
}

fn trait_name() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9_$-]{1,6}(\\.[a-zA-Z0-9_$-]{1,6}){0,2}", "\\p{L}{1,3}"]
}

fn kind() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,6}"
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        any::<String>().prop_map(Literal::Str),
        any::<i64>().prop_map(Literal::Int),
        prop_oneof![prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO, -1e6f64..1e6]
            .prop_map(Literal::Float),
        any::<bool>().prop_map(Literal::Bool),
        (-62_000_000_000_000i64..253_402_300_799_999).prop_map(|t| Literal::Time(Timestamp(t))),
    ]
}

fn duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1..MAX_DURATION_MS).prop_map(Duration::millis),
        (1..1000i64).prop_map(Duration::days),
        (1..100i64).prop_map(Duration::weeks),
        (1..100i64).prop_map(Duration::hours),
    ]
}

fn offset() -> impl Strategy<Value = Duration> {
    prop_oneof![Just(Duration::ZERO), duration(), duration().prop_map(|d| Duration::millis(-d.as_millis()))]
}

/// A comparison that passes check: no ordering of booleans.
fn fix_bool(op: CmpOp, lit: &Literal) -> CmpOp {
    if op.is_ordering() && matches!(lit, Literal::Bool(_)) {
        CmpOp::Eq
    } else {
        op
    }
}

fn filter() -> impl Strategy<Value = PropertyFilter> {
    let test = prop_oneof![
        (cmp_op(), literal()).prop_map(|(op, l)| FilterTest::Cmp(fix_bool(op, &l), l)),
        prop::collection::vec(literal(), 1..4).prop_map(FilterTest::In),
    ];
    (property(), test).prop_map(|(property, test)| PropertyFilter { property, test })
}

fn selector() -> impl Strategy<Value = EventSelector> {
    (name(), prop::collection::vec(filter(), 0..3)).prop_map(|(event, filter)| EventSelector { event, filter })
}

fn trait_cond() -> impl Strategy<Value = Expr> {
    let test = prop_oneof![
        (cmp_op(), literal()).prop_map(|(op, l)| TraitTest::Cmp(fix_bool(op, &l), Operand::Lit(l))),
        (cmp_op(), offset()).prop_map(|(op, d)| TraitTest::Cmp(op, Operand::Now(d))),
        prop::collection::vec(literal(), 1..4).prop_map(TraitTest::In),
        any::<String>().prop_map(|s| TraitTest::Contains(Literal::Str(s))),
        any::<String>().prop_map(|s| TraitTest::StartsWith(Literal::Str(s))),
        Just(TraitTest::Exists),
        Just(TraitTest::IsNull),
    ];
    (trait_name(), test).prop_map(|(name, test)| Expr::Trait(TraitCond { name, test }))
}

fn metric() -> impl Strategy<Value = Metric> {
    prop_oneof![
        Just(Metric::Count),
        property().prop_map(Metric::Sum),
        property().prop_map(Metric::Min),
        property().prop_map(Metric::Max),
        property().prop_map(Metric::Avg),
        property().prop_map(Metric::Distinct),
        Just(Metric::ActiveDays),
        Just(Metric::First),
        Just(Metric::Last),
    ]
}

fn rollup() -> impl Strategy<Value = Expr> {
    let window = prop_oneof![Just(Window::All), duration().prop_map(Window::Last)];
    let number = prop_oneof![any::<i64>().prop_map(Literal::Int), (-1e9f64..1e9).prop_map(Literal::Float)];
    let time = prop_oneof![
        offset().prop_map(Operand::Now),
        (0..4_000_000_000_000i64).prop_map(|t| Operand::Lit(Literal::Time(Timestamp(t))))
    ];
    (metric(), selector(), window, cmp_op(), number, time).prop_map(|(metric, events, window, op, n, t)| {
        let operand = if metric.yields_time() { t } else { Operand::Lit(n) };
        Expr::Rollup(RollupCond { metric, events, window, op, operand })
    })
}

fn seq() -> impl Strategy<Value = Expr> {
    (selector(), selector(), any::<bool>(), duration())
        .prop_map(|(first, then, negated, within)| Expr::Seq(SeqCond { first, then, negated, within }))
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        3 => trait_cond(),
        3 => rollup(),
        1 => seq(),
        1 => kind().prop_map(Expr::Has),
        1 => name().prop_map(Expr::InSegment),
        1 => kind().prop_map(Expr::Consent),
    ]
}

/// Any expression that passes `check` (with every segment known).
pub(crate) fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(5, 40, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

// ---- a small world for evaluation tests ----

/// The instant evaluation tests start at.
pub(crate) const BASE: Timestamp = Timestamp(1_000 * DAY);

fn near(spread_days: i64) -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        (-spread_days * 24..spread_days * 24).prop_map(|h| Timestamp(BASE.0 + h * HOUR)),
        (-spread_days * DAY..spread_days * DAY).prop_map(|ms| Timestamp(BASE.0 + ms)),
    ]
}

fn small_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (1..30i64).prop_map(Duration::days),
        (1..72i64).prop_map(Duration::hours),
        (1..DAY).prop_map(Duration::millis)
    ]
}

fn small_offset() -> impl Strategy<Value = Duration> {
    prop_oneof![Just(Duration::ZERO), small_duration(), small_duration().prop_map(|d| Duration::millis(-d.as_millis()))]
}

fn small_selector() -> impl Strategy<Value = EventSelector> {
    let filter = prop_oneof![
        (cmp_op(), 0..5i64)
            .prop_map(|(op, n)| PropertyFilter { property: "p".into(), test: FilterTest::Cmp(op, Literal::Int(n)) }),
        prop::sample::select(vec!["x", "y"])
            .prop_map(|k| PropertyFilter { property: "k".into(), test: FilterTest::In(vec![Literal::Str(k.into())]) }),
    ];
    (prop::sample::select(vec!["a", "b"]), prop::collection::vec(filter, 0..2))
        .prop_map(|(e, filter)| EventSelector { event: e.into(), filter })
}

fn small_leaf() -> impl Strategy<Value = Expr> {
    let time_operand = prop_oneof![
        3 => small_offset().prop_map(Operand::Now),
        1 => near(30).prop_map(|t| Operand::Lit(Literal::Time(t))),
    ];
    let trait_test = prop_oneof![
        (cmp_op(), time_operand.clone()).prop_map(|(op, o)| ("t", TraitTest::Cmp(op, o))),
        (cmp_op(), 0..5i64).prop_map(|(op, n)| ("n", TraitTest::Cmp(op, Operand::Lit(Literal::Int(n))))),
        Just(("tags", TraitTest::Contains(Literal::Str("vip".into())))),
        Just(("s", TraitTest::StartsWith(Literal::Str("ab".into())))),
        Just(("n", TraitTest::Exists)),
        Just(("n", TraitTest::IsNull)),
    ]
    .prop_map(|(name, test)| Expr::Trait(TraitCond { name: name.into(), test }));
    let metric = prop_oneof![
        Just(Metric::Count),
        Just(Metric::Sum("p".into())),
        Just(Metric::Min("p".into())),
        Just(Metric::Max("p".into())),
        Just(Metric::Avg("p".into())),
        Just(Metric::Distinct("k".into())),
        Just(Metric::ActiveDays),
        Just(Metric::First),
        Just(Metric::Last),
    ];
    let window = prop_oneof![1 => Just(Window::All), 3 => small_duration().prop_map(Window::Last)];
    let rollup = (metric, small_selector(), window, cmp_op(), 0..6i64, time_operand).prop_map(
        |(metric, events, window, op, n, t)| {
            let operand = if metric.yields_time() { t } else { Operand::Lit(Literal::Int(n)) };
            Expr::Rollup(RollupCond { metric, events, window, op, operand })
        },
    );
    let seq = (small_selector(), small_selector(), any::<bool>(), small_duration())
        .prop_map(|(first, then, negated, within)| Expr::Seq(SeqCond { first, then, negated, within }));
    prop_oneof![
        3 => trait_test,
        4 => rollup,
        2 => seq,
        1 => Just(Expr::Has("email".into())),
        1 => Just(Expr::InSegment("seg".into())),
        1 => Just(Expr::Consent("mkt".into())),
    ]
}

/// Expressions over the vocabulary of [`small_context`].
pub(crate) fn small_expr() -> impl Strategy<Value = Expr> {
    small_leaf().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::And),
            prop::collection::vec(inner.clone(), 2..4).prop_map(Expr::Or),
            inner.prop_map(|e| Expr::Not(Box::new(e))),
        ]
    })
}

/// A profile at [`BASE`] with events `a`/`b` (properties `p`: int, `k`:
/// "x"/"y") within 40 days either side, traits `t` (time), `n`, `s`,
/// `tags`, maybe `email`, `seg` and consent `mkt`.
pub(crate) fn small_context() -> impl Strategy<Value = VecContext> {
    let event = (prop::sample::select(vec!["a", "b"]), near(40), 0..5i64, prop::sample::select(vec!["x", "y"]));
    let t_trait = prop_oneof![
        near(30).prop_map(|t| Some(TraitValue::Time(t))),
        near(30).prop_map(|t| Some(TraitValue::from(t.to_rfc3339()))),
        Just(None),
    ];
    let n_trait =
        prop_oneof![(0..5i64).prop_map(|n| Some(TraitValue::Int(n))), Just(Some(TraitValue::Null)), Just(None)];
    let consent = prop_oneof![Just(None), Just(Some(None)), near(20).prop_map(|t| Some(Some(t)))];
    (prop::collection::vec(event, 0..10), t_trait, n_trait, consent, any::<(bool, bool, bool)>()).prop_map(
        |(events, t, n, consent, (email, seg, vip))| {
            let mut ctx = VecContext::new(BASE).with_trait("s", "abc");
            for (name, time, p, k) in events {
                ctx = ctx.with_event(name, time, &[("p", p.into()), ("k", k.into())]);
            }
            if let Some(t) = t {
                ctx = ctx.with_trait("t", t);
            }
            if let Some(n) = n {
                ctx = ctx.with_trait("n", n);
            }
            if let Some(expiry) = consent {
                ctx = ctx.with_consent("mkt", expiry);
            }
            if email {
                ctx = ctx.with_identifier_kind("email");
            }
            if seg {
                ctx = ctx.with_segment("seg");
            }
            let tags = if vip { vec!["vip".to_owned()] } else { vec!["new".to_owned()] };
            ctx.with_trait("tags", tags)
        },
    )
}
