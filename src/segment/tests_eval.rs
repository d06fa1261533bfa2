//! Evaluation tests, including the `next_change` property test.

use proptest::prelude::*;

use crate::clock::Timestamp;
use crate::profile::value::TraitValue;

use super::ast::*;
use super::strategies::{self, BASE};
use super::testing::VecContext;
use super::*;

const D: i64 = Timestamp::DAY;
const H: i64 = 3_600_000;
const NOW: Timestamp = Timestamp(100 * D);

fn at(offset_ms: i64) -> Timestamp {
    Timestamp(NOW.0 + offset_ms)
}

fn eval(text: &str, ctx: &VecContext) -> Evaluation {
    evaluate(&parse(text).unwrap_or_else(|e| panic!("{e}")), ctx)
}

/// Evaluates at `now`, then checks the value just before and at the
/// reported change.
fn flips_exactly(text: &str, ctx: &VecContext, value: bool, change: Option<Timestamp>) {
    let r = eval(text, ctx);
    assert_eq!(r, Evaluation { value, next_change: change }, "{text}");
    if let Some(t) = change {
        assert_eq!(eval(text, &ctx.at(Timestamp(t.0 - 1))).value, value, "{text} just before the change");
        assert_eq!(eval(text, &ctx.at(t)).value, !value, "{text} at the change");
    }
}

#[test]
fn trait_comparisons() {
    let ctx = VecContext::new(NOW)
        .with_trait("plan", "pro")
        .with_trait("age", 30)
        .with_trait("score", 2.5)
        .with_trait("vip", true)
        .with_trait("tags", vec!["beta".to_owned()])
        .with_trait("email", "ann@x.com")
        .with_trait("gone", TraitValue::Null)
        .with_trait("country", "DE");
    for (text, want) in [
        (r#"traits.plan = "pro""#, true),
        (r#"traits.plan != "pro""#, false),
        (r#"traits.missing != "pro""#, true),
        (r#"traits.missing = "pro""#, false),
        ("traits.age >= 30 and traits.age < 31 and traits.age > 29.5", true),
        ("traits.score <= 2.5 and traits.score = 2.5", true),
        ("traits.vip = true", true),
        ("traits.vip != false", true),
        (r#"traits.country in ["FR", "DE"]"#, true),
        (r#"traits.tags in ["x", "beta"]"#, true),
        (r#"traits.tags contains "beta""#, true),
        (r#"traits.email contains "@x.""#, true),
        (r#"traits.email starts_with "ann""#, true),
        (r#"traits.email starts_with "bob""#, false),
        ("traits.plan exists and traits.gone exists and not traits.missing exists", true),
        ("traits.gone is null and not traits.plan is null and not traits.missing is null", true),
        (r#"traits.age = "30""#, false),
        (r#"traits.plan < "q""#, true),
    ] {
        assert_eq!(eval(text, &ctx), Evaluation { value: want, next_change: None }, "{text}");
    }
}

#[test]
fn relative_times_on_traits_flip_at_their_threshold() {
    let ends = at(10 * D);
    let ctx = VecContext::new(NOW).with_trait("trial_ends", ends);
    // trial_ends < now + 3d  <=>  now > trial_ends - 3d
    flips_exactly("traits.trial_ends < now + 3d", &ctx, false, Some(Timestamp(ends.0 - 3 * D + 1)));
    flips_exactly("traits.trial_ends <= now + 3d", &ctx, false, Some(Timestamp(ends.0 - 3 * D)));
    flips_exactly("traits.trial_ends > now + 3d", &ctx, true, Some(Timestamp(ends.0 - 3 * D)));
    flips_exactly("traits.trial_ends >= now + 3d", &ctx, true, Some(Timestamp(ends.0 - 3 * D + 1)));
    flips_exactly("traits.trial_ends = now + 3d", &ctx, false, Some(Timestamp(ends.0 - 3 * D)));
    flips_exactly("traits.trial_ends > now + 30d", &ctx, false, None);
    // A string holding RFC 3339 works the same.
    let ctx = VecContext::new(NOW).with_trait("seen", at(-2 * D).to_rfc3339());
    flips_exactly("traits.seen > now - 7d", &ctx, true, Some(at(5 * D)));
    flips_exactly(r#"traits.seen < t"2000-01-01T00:00:00Z""#, &ctx, true, None);
}

#[test]
fn last_and_first_against_relative_times() {
    let ctx = VecContext::new(NOW).with_event("purchase", at(-10 * D), &[]).with_event("signup", at(-2 * D), &[]);
    flips_exactly("last(purchase) < now - 30d", &ctx, false, Some(at(20 * D + 1)));
    flips_exactly("first(signup) > now - 7d", &ctx, true, Some(at(5 * D)));
    // No purchase at all: last(...) has no value, so nothing compares.
    flips_exactly("last(refund) < now - 30d", &ctx, false, None);
    flips_exactly("not last(refund) > now - 30d", &ctx, true, None);
    // A window bounds first/last too: the purchase leaves the 14d window.
    flips_exactly("last(purchase, 14d) > now - 20d", &ctx, true, Some(at(4 * D)));
}

#[test]
fn sliding_windows_flip_when_the_oldest_event_leaves() {
    let ctx = VecContext::new(NOW)
        .with_event("page_view", at(-6 * D), &[("page", "/pricing".into())])
        .with_event("page_view", at(-2 * D), &[("page", "/pricing".into())])
        .with_event("page_view", at(-D), &[("page", "/pricing".into())])
        .with_event("page_view", at(-H), &[("page", "/home".into())])
        .with_event("page_view", at(-9 * D), &[("page", "/pricing".into())]);
    flips_exactly(r#"count(page_view where page = "/pricing", 7d) >= 3"#, &ctx, true, Some(at(D)));
    assert!(eval(r#"count(page_view where page = "/pricing", all) = 4"#, &ctx).value);
    assert!(eval(r#"count(page_view where page != "/pricing", 7d) = 1"#, &ctx).value);
    assert!(eval(r#"count(page_view where page in ["/home", "/x"]) = 1"#, &ctx).value);
    assert!(eval("distinct(page_view.page, 30d) = 2 and active_days(page_view, 7d) = 3", &ctx).value);
    // An event exactly `window` old has left: the window is (now - 7d, now].
    let edge = VecContext::new(NOW).with_event("x", at(-7 * D), &[]);
    assert!(eval("count(x, 7d) = 0", &edge).value);
    assert!(eval("count(x, 7d) = 1", &edge.at(at(-1))).value);
    flips_exactly("count(x, 7d) = 1", &edge.at(at(-1)), true, Some(NOW));
}

#[test]
fn numeric_rollups() {
    let ctx = VecContext::new(NOW)
        .with_event("purchase", at(-20 * D), &[("amount", 100.into()), ("currency", "EUR".into())])
        .with_event("purchase", at(-5 * D), &[("amount", 450.5.into()), ("currency", "USD".into())])
        .with_event("purchase", at(-D), &[("amount", 50.into()), ("currency", "EUR".into())])
        .with_event("purchase", at(-D), &[("currency", "EUR".into())])
        .with_event("purchase", at(-40 * D), &[("amount", 1000.into())]);
    for (text, want) in [
        ("sum(purchase.amount, 30d) > 500", true),
        ("sum(purchase.amount, 30d) = 600.5", true),
        ("sum(purchase.amount where currency = \"EUR\", 30d) = 150", true),
        ("min(purchase.amount, 30d) = 50 and max(purchase.amount, 30d) = 450.5", true),
        ("avg(purchase.amount, 7d) = 250.25", true),
        ("max(purchase.amount) = 1000", true),
        ("distinct(purchase.currency, 30d) = 2", true),
        ("sum(refund.amount, 30d) = 0", true),
        ("avg(refund.amount, 30d) >= 0 or avg(refund.amount, 30d) < 0", false),
        ("count(purchase where amount > 60) = 3", true),
        ("count(purchase where amount >= 50 and amount <= 100) = 2", true),
    ] {
        assert_eq!(eval(text, &ctx).value, want, "{text}");
    }
    flips_exactly("sum(purchase.amount, 30d) > 550", &ctx, true, Some(at(10 * D)));
}

#[test]
fn numbers_past_2_pow_53_compare_exactly() {
    let ctx =
        VecContext::new(NOW).with_trait("big", (1i64 << 53) + 1).with_trait("f", 9_007_199_254_740_992.0).with_event(
            "purchase",
            at(-D),
            &[("id", ((1i64 << 53) + 1).into()), ("amount", 9_007_199_254_740_992.0.into())],
        );
    for (text, want) in [
        ("traits.big = 9007199254740992", false),
        ("traits.big = 9007199254740992.0", false),
        ("traits.big > 9007199254740992.0", true),
        ("traits.big = 9007199254740993", true),
        ("traits.f = 9007199254740993", false),
        ("traits.f < 9007199254740993", true),
        ("traits.f >= 9007199254740993", false),
        ("traits.f in [9007199254740993, 9007199254740994]", false),
        ("traits.big in [9007199254740992.0]", false),
        ("count(purchase where id = 9007199254740992.0) = 0", true),
        ("count(purchase where id = 9007199254740993) = 1", true),
        ("count(purchase where amount < 9007199254740993) = 1", true),
        ("sum(purchase.amount) = 9007199254740993", false),
        ("sum(purchase.amount) < 9007199254740993", true),
    ] {
        assert_eq!(eval(text, &ctx).value, want, "{text}");
    }
}

#[test]
fn future_dated_events_count_when_they_come_due() {
    let ctx = VecContext::new(NOW).with_event("x", at(5 * H), &[]);
    flips_exactly("count(x) >= 1", &ctx, false, Some(at(5 * H)));
    assert_eq!(eval("seq(x, y, 1h)", &ctx), Evaluation { value: false, next_change: Some(at(5 * H)) });
}

#[test]
fn cart_abandonment() {
    let cart = at(-2 * H);
    let base = VecContext::new(NOW).with_event("add_to_cart", cart, &[("sku", "a".into())]);
    let q = "seq(add_to_cart, not purchase, 24h)";
    flips_exactly(q, &base, false, Some(Timestamp(cart.0 + 24 * H)));
    // Bought within the day: never abandoned.
    let bought = base.clone().with_event("purchase", at(-H), &[]);
    flips_exactly(q, &bought, false, None);
    // A purchase dated later than the deadline does not count.
    let late = base.clone().with_event("purchase", Timestamp(cart.0 + 25 * H), &[]);
    assert!(eval(q, &late.at(Timestamp(cart.0 + 24 * H))).value);
    // A purchase before the cart does not count either.
    let earlier = base.clone().with_event("purchase", at(-3 * H), &[]);
    assert!(eval(q, &earlier.at(Timestamp(cart.0 + 24 * H))).value);
    // Filters on either step.
    let other_sku = base.clone().with_event("purchase", at(-H), &[("sku", "b".into())]);
    let q_sku = r#"seq(add_to_cart, not purchase where sku = "a", 24h)"#;
    assert!(eval(q_sku, &other_sku.at(Timestamp(cart.0 + 24 * H))).value);
    // A new cart restarts the clock.
    let again = bought.with_event("add_to_cart", at(5 * H), &[]);
    assert_eq!(eval(q, &again), Evaluation { value: false, next_change: Some(at(5 * H)) });
    assert!(!eval(q, &again.at(at(5 * H))).value);
    assert!(eval(q, &again.at(at(29 * H))).value);
    // No cart at all.
    flips_exactly(q, &VecContext::new(NOW), false, None);
}

#[test]
fn positive_sequences() {
    let ctx = VecContext::new(NOW).with_event("a", at(-3 * H), &[]).with_event("b", at(-H), &[]);
    flips_exactly("seq(a, b, 1h)", &ctx, false, None);
    assert!(eval("seq(a, b, 2h)", &ctx).value);
    assert!(eval("seq(a, b, 1h)", &ctx.clone().with_event("b", at(-150 * 60_000), &[])).value);
    // A follow-up still to come (dated in the future, before the deadline).
    let pending = VecContext::new(NOW).with_event("a", at(-H), &[]).with_event("b", at(30 * 60_000), &[]);
    flips_exactly("seq(a, b, 2h)", &pending, false, Some(at(30 * 60_000)));
}

#[test]
fn identifiers_segments_and_consent() {
    let ctx = VecContext::new(NOW)
        .with_identifier_kind("email")
        .with_segment("vip")
        .with_consent("marketing_email", Some(at(2 * D)))
        .with_consent("sms", None)
        .with_consent("old", Some(at(-1)));
    flips_exactly("has email and in vip and not has phone and not in churned", &ctx, true, None);
    flips_exactly("consent(marketing_email)", &ctx, true, Some(at(2 * D)));
    flips_exactly("consent(sms) and not consent(old) and not consent(push)", &ctx, true, None);
}

#[test]
fn and_or_combine_next_changes_tightly() {
    let ctx = VecContext::new(NOW)
        .with_event("purchase", at(-10 * D), &[])
        .with_consent("c", Some(at(D)))
        .with_consent("late", Some(at(3 * D)));
    // false and-operand that never flips: the whole never flips.
    flips_exactly("has email and last(purchase) < now - 30d", &ctx, false, None);
    // true and: the first operand to flip decides.
    flips_exactly("consent(c) and consent(late)", &ctx, true, Some(at(D)));
    // true or: every true operand has to flip; the later one decides.
    assert_eq!(eval("consent(c) or consent(late)", &ctx).next_change, Some(at(3 * D)));
    assert_eq!(eval("consent(c) or has email", &ctx).next_change, Some(at(D)));
    // false or: the first operand to flip decides.
    flips_exactly("has email or last(purchase) < now - 30d", &ctx, false, Some(at(20 * D + 1)));
    flips_exactly("not (has email or last(purchase) < now - 30d)", &ctx, true, Some(at(20 * D + 1)));
}

/// Durations mentioned in `e` (windows, offsets, seq durations).
fn durations(e: &Expr, out: &mut Vec<i64>) {
    match e {
        Expr::And(v) | Expr::Or(v) => v.iter().for_each(|c| durations(c, out)),
        Expr::Not(c) => durations(c, out),
        Expr::Trait(TraitCond { test: TraitTest::Cmp(_, Operand::Now(d)), .. }) => out.push(d.as_millis()),
        Expr::Rollup(r) => {
            if let Window::Last(d) = r.window {
                out.push(d.as_millis());
            }
            if let Operand::Now(d) = r.operand {
                out.push(d.as_millis());
            }
        }
        Expr::Seq(s) => out.push(s.within.as_millis()),
        _ => {}
    }
}

/// Instants where something could happen: every event, trait and expiry
/// time shifted by every duration in the expression, and one either side.
fn probes(ctx: &VecContext, e: &Expr) -> Vec<Timestamp> {
    let mut base: Vec<i64> = ctx.events.iter().map(|ev| ev.time.0).collect();
    if let Some(t) = ctx.traits.get("t").and_then(super::compare::as_time) {
        base.push(t.0);
    }
    base.extend(ctx.consents.values().flatten().map(|t| t.0));
    let mut ds = vec![0];
    durations(e, &mut ds);
    let mut out = Vec::new();
    for b in base {
        for d in &ds {
            for shifted in [b + d, b - d] {
                out.extend([shifted - 1, shifted, shifted + 1].map(Timestamp));
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Walking forward through time from change to change, the value
    /// never changes before the reported next_change.
    #[test]
    fn value_holds_until_next_change(
        ctx in strategies::small_context(),
        e in strategies::small_expr(),
        fractions in prop::collection::vec(0.0f64..1.0, 6),
    ) {
        let known: std::collections::BTreeSet<String> = ["seg".to_owned()].into();
        prop_assert!(check(&e, &known).is_ok(), "{}", e);
        let interesting = probes(&ctx, &e);
        let mut t = BASE;
        for _ in 0..8 {
            let r = evaluate(&e, &ctx.at(t));
            let end = match r.next_change {
                Some(nc) => {
                    prop_assert!(nc > t, "{}: next_change {:?} not after {:?}", e, nc, t);
                    nc
                }
                None => Timestamp(t.0 + 120 * D),
            };
            let mut instants: Vec<Timestamp> = vec![t, Timestamp(end.0 - 1)];
            instants.extend(fractions.iter().map(|f| Timestamp(t.0 + ((end.0 - t.0) as f64 * f) as i64)));
            instants.extend(interesting.iter().copied().filter(|p| t <= *p && *p < end));
            for i in instants {
                let v = evaluate(&e, &ctx.at(i)).value;
                prop_assert_eq!(v, r.value, "{} evaluated at {:?}: next_change {:?} from {:?}", e, i, r.next_change, t);
            }
            match r.next_change {
                Some(nc) => t = nc,
                None => break,
            }
        }
    }
}

/// A store that only knows event times to the day, answering the
/// "when" questions with the start of the day (earlier: conservative).
struct DayBucketed(VecContext);

fn day_start(t: Timestamp) -> Timestamp {
    Timestamp(t.day() * D)
}

impl EvalContext for DayBucketed {
    fn now(&self) -> Timestamp {
        self.0.now
    }
    fn trait_value(&self, name: &str) -> Option<TraitValue> {
        self.0.trait_value(name)
    }
    fn has_identifier_kind(&self, kind: &str) -> bool {
        self.0.has_identifier_kind(kind)
    }
    fn in_segment(&self, name: &str) -> bool {
        self.0.in_segment(name)
    }
    fn consent(&self, purpose: &str) -> Option<Option<Timestamp>> {
        self.0.consent(purpose)
    }
    fn event_times(&self, event: &str, filter: &[PropertyFilter], from: Timestamp, to: Timestamp) -> Vec<Timestamp> {
        self.0.event_times(event, filter, from, to)
    }
    fn property_values(
        &self,
        event: &str,
        property: &str,
        filter: &[PropertyFilter],
        from: Timestamp,
        to: Timestamp,
    ) -> Vec<(Timestamp, TraitValue)> {
        self.0.property_values(event, property, filter, from, to)
    }
    fn aggregate(&self, metric: &Metric, events: &EventSelector, from: Timestamp, to: Timestamp) -> Aggregate {
        let exact = default_aggregate(self, metric, events, from, to);
        Aggregate { earliest: exact.earliest.map(day_start), ..exact }
    }
    fn next_event_after(&self, events: &EventSelector, after: Timestamp) -> Option<Timestamp> {
        self.0.next_event_after(events, after).map(day_start)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Conservative (earlier) answers from a bucketed store keep the value
    /// and only bring next_change forward, never past now.
    #[test]
    fn conservative_contexts_only_bring_next_change_forward(
        ctx in strategies::small_context(),
        e in strategies::small_expr(),
    ) {
        let exact = evaluate(&e, &ctx);
        let bucketed = evaluate(&e, &DayBucketed(ctx.clone()));
        prop_assert_eq!(bucketed.value, exact.value, "{}", e);
        if let Some(b) = bucketed.next_change {
            prop_assert!(b > ctx.now, "{}", e);
        }
        if let Some(x) = exact.next_change {
            prop_assert!(bucketed.next_change.is_some_and(|b| b <= x), "{}: {:?} vs {:?}", e, bucketed, exact);
        }
    }
}
