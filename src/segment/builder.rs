//! A Rust builder for expressions, equivalent to the text syntax (see
//! [`Cond`]).
//!
//! `a.and(b).and(c)` builds the same tree as `a and b and c`;
//! `a.and(b.and(c))` the same as `a and (b and c)`.

use crate::clock::Timestamp;

use super::ast::{
    CmpOp, Duration, EventSelector, Expr, FilterTest, Literal, Metric, Operand, PropertyFilter, RollupCond, SeqCond,
    TraitCond, TraitTest, Window,
};

/// Entry points of the builder: one function per kind of condition.
///
/// ```
/// use profiledb::segment::{parse, Cond, Duration};
/// let built = Cond::trait_("plan").eq("pro").and(
///     Cond::count("page_view").where_eq("page", "/pricing").window(Duration::days(7)).ge(3),
/// );
/// let parsed = parse(r#"traits.plan = "pro" and count(page_view where page = "/pricing", 7d) >= 3"#)?;
/// assert_eq!(built, parsed);
/// # Ok::<(), profiledb::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Cond;

/// `now`, for comparisons with relative times: `now().minus(Duration::days(30))`.
pub fn now() -> RelTime {
    RelTime(Duration::ZERO)
}

/// A time relative to the evaluation instant; see [`now`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RelTime(Duration);

impl RelTime {
    /// `now + d`.
    pub fn plus(self, d: Duration) -> Self {
        RelTime(Duration::millis(self.0.as_millis().saturating_add(d.as_millis())))
    }
    /// `now - d`.
    pub fn minus(self, d: Duration) -> Self {
        RelTime(Duration::millis(self.0.as_millis().saturating_sub(d.as_millis())))
    }
}

macro_rules! literal_from {
    ($($t:ty => $body:expr),* $(,)?) => {$(
        impl From<$t> for Literal {
            fn from(v: $t) -> Self {
                let f: fn($t) -> Literal = $body;
                f(v)
            }
        }
        impl From<$t> for Operand {
            fn from(v: $t) -> Self {
                Operand::Lit(Literal::from(v))
            }
        }
    )*};
}

literal_from! {
    &str => |s| Literal::Str(s.to_owned()),
    String => Literal::Str,
    i64 => Literal::Int,
    i32 => |i| Literal::Int(i64::from(i)),
    u32 => |i| Literal::Int(i64::from(i)),
    f64 => Literal::Float,
    bool => Literal::Bool,
    Timestamp => Literal::Time,
}

impl From<Literal> for Operand {
    fn from(l: Literal) -> Self {
        Operand::Lit(l)
    }
}

impl From<RelTime> for Operand {
    fn from(r: RelTime) -> Self {
        Operand::Now(r.0)
    }
}

impl Cond {
    /// `traits.<name> …`.
    pub fn trait_(name: impl Into<String>) -> TraitRef {
        TraitRef { name: name.into() }
    }
    /// `count(event …)`.
    pub fn count(event: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Count, event)
    }
    /// `sum(event.property …)`.
    pub fn sum(event: impl Into<String>, property: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Sum(property.into()), event)
    }
    /// `min(event.property …)`.
    pub fn min(event: impl Into<String>, property: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Min(property.into()), event)
    }
    /// `max(event.property …)`.
    pub fn max(event: impl Into<String>, property: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Max(property.into()), event)
    }
    /// `avg(event.property …)`.
    pub fn avg(event: impl Into<String>, property: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Avg(property.into()), event)
    }
    /// `distinct(event.property …)`.
    pub fn distinct(event: impl Into<String>, property: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Distinct(property.into()), event)
    }
    /// `active_days(event …)`.
    pub fn active_days(event: impl Into<String>) -> Rollup {
        Rollup::new(Metric::ActiveDays, event)
    }
    /// `first(event …)`.
    pub fn first(event: impl Into<String>) -> Rollup {
        Rollup::new(Metric::First, event)
    }
    /// `last(event …)`.
    pub fn last(event: impl Into<String>) -> Rollup {
        Rollup::new(Metric::Last, event)
    }
    /// `seq(event …, …)`: continue with [`Seq::followed_by`] or
    /// [`Seq::not_followed_by`], then [`Seq::within`].
    pub fn seq(event: impl Into<String>) -> Seq {
        Seq { first: EventSelector::new(event), then: None }
    }
    /// `has <kind>`.
    pub fn has(kind: impl Into<String>) -> Expr {
        Expr::Has(kind.into())
    }
    /// `in <segment>`.
    pub fn in_segment(name: impl Into<String>) -> Expr {
        Expr::InSegment(name.into())
    }
    /// `consent(<purpose>)`.
    pub fn consent(purpose: impl Into<String>) -> Expr {
        Expr::Consent(purpose.into())
    }
    /// `not <e>`.
    pub fn not(e: Expr) -> Expr {
        Expr::Not(Box::new(e))
    }
}

impl Expr {
    /// `self and other` (extends `self` if it already is an `and`).
    pub fn and(self, other: Expr) -> Expr {
        match self {
            Expr::And(mut items) => {
                items.push(other);
                Expr::And(items)
            }
            e => Expr::And(vec![e, other]),
        }
    }

    /// `self or other` (extends `self` if it already is an `or`).
    pub fn or(self, other: Expr) -> Expr {
        match self {
            Expr::Or(mut items) => {
                items.push(other);
                Expr::Or(items)
            }
            e => Expr::Or(vec![e, other]),
        }
    }
}

impl std::ops::Not for Expr {
    type Output = Expr;
    fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }
}

/// `traits.<name>`, waiting for its test.
#[derive(Clone, Debug)]
pub struct TraitRef {
    name: String,
}

impl TraitRef {
    fn test(self, test: TraitTest) -> Expr {
        Expr::Trait(TraitCond { name: self.name, test })
    }
    fn cmp(self, op: CmpOp, v: impl Into<Operand>) -> Expr {
        self.test(TraitTest::Cmp(op, v.into()))
    }
    /// `= v`.
    pub fn eq(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Eq, v)
    }
    /// `!= v`.
    pub fn ne(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Ne, v)
    }
    /// `< v`.
    pub fn lt(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Lt, v)
    }
    /// `<= v`.
    pub fn le(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Le, v)
    }
    /// `> v`.
    pub fn gt(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Gt, v)
    }
    /// `>= v`.
    pub fn ge(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Ge, v)
    }
    /// `in [values]`.
    pub fn is_in<L: Into<Literal>>(self, values: impl IntoIterator<Item = L>) -> Expr {
        self.test(TraitTest::In(values.into_iter().map(Into::into).collect()))
    }
    /// `contains s`.
    pub fn contains(self, s: impl Into<Literal>) -> Expr {
        self.test(TraitTest::Contains(s.into()))
    }
    /// `starts_with s`.
    pub fn starts_with(self, s: impl Into<Literal>) -> Expr {
        self.test(TraitTest::StartsWith(s.into()))
    }
    /// `exists`.
    pub fn exists(self) -> Expr {
        self.test(TraitTest::Exists)
    }
    /// `is null`.
    pub fn is_null(self) -> Expr {
        self.test(TraitTest::IsNull)
    }
}

/// Adds `where` filters to the builder's current event selector.
macro_rules! filter_methods {
    () => {
        /// `where property = v` (further filters are joined with `and`).
        pub fn where_eq(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Eq, v.into()))
        }
        /// `where property != v`.
        pub fn where_ne(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Ne, v.into()))
        }
        /// `where property < v`.
        pub fn where_lt(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Lt, v.into()))
        }
        /// `where property <= v`.
        pub fn where_le(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Le, v.into()))
        }
        /// `where property > v`.
        pub fn where_gt(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Gt, v.into()))
        }
        /// `where property >= v`.
        pub fn where_ge(self, property: impl Into<String>, v: impl Into<Literal>) -> Self {
            self.filter(property, FilterTest::Cmp(CmpOp::Ge, v.into()))
        }
        /// `where property in [values]`.
        pub fn where_in<L: Into<Literal>>(
            self,
            property: impl Into<String>,
            values: impl IntoIterator<Item = L>,
        ) -> Self {
            self.filter(property, FilterTest::In(values.into_iter().map(Into::into).collect()))
        }
    };
}

/// A rollup waiting for its filters, window and comparison.
#[derive(Clone, Debug)]
pub struct Rollup {
    metric: Metric,
    events: EventSelector,
    window: Window,
}

impl Rollup {
    fn new(metric: Metric, event: impl Into<String>) -> Self {
        Rollup { metric, events: EventSelector::new(event), window: Window::All }
    }

    fn filter(mut self, property: impl Into<String>, test: FilterTest) -> Self {
        self.events.filter.push(PropertyFilter { property: property.into(), test });
        self
    }

    filter_methods!();

    /// Looks at the last `d` only (`, 7d`).
    pub fn window(mut self, d: Duration) -> Self {
        self.window = Window::Last(d);
        self
    }

    /// Looks at every event (`, all`; the default).
    pub fn all_time(mut self) -> Self {
        self.window = Window::All;
        self
    }

    fn cmp(self, op: CmpOp, v: impl Into<Operand>) -> Expr {
        Expr::Rollup(RollupCond {
            metric: self.metric,
            events: self.events,
            window: self.window,
            op,
            operand: v.into(),
        })
    }
    /// `= v`.
    pub fn eq(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Eq, v)
    }
    /// `!= v`.
    pub fn ne(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Ne, v)
    }
    /// `< v`.
    pub fn lt(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Lt, v)
    }
    /// `<= v`.
    pub fn le(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Le, v)
    }
    /// `> v`.
    pub fn gt(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Gt, v)
    }
    /// `>= v`.
    pub fn ge(self, v: impl Into<Operand>) -> Expr {
        self.cmp(CmpOp::Ge, v)
    }
}

/// A `seq(…)` under construction. Filters apply to the latest event
/// named: the first before `followed_by`/`not_followed_by`, the second
/// after.
#[derive(Clone, Debug)]
pub struct Seq {
    first: EventSelector,
    then: Option<(EventSelector, bool)>,
}

impl Seq {
    fn filter(mut self, property: impl Into<String>, test: FilterTest) -> Self {
        let f = PropertyFilter { property: property.into(), test };
        match &mut self.then {
            Some((sel, _)) => sel.filter.push(f),
            None => self.first.filter.push(f),
        }
        self
    }

    filter_methods!();

    /// `seq(first, event, …)`: some `event` follows the latest first event.
    pub fn followed_by(mut self, event: impl Into<String>) -> Self {
        self.then = Some((EventSelector::new(event), false));
        self
    }

    /// `seq(first, not event, …)`: no `event` follows the latest first
    /// event within the duration (and the duration has passed). An `event`
    /// stamped at the same millisecond as the trigger follows it, whatever
    /// the ingest order (see [`SeqCond`](super::SeqCond)).
    pub fn not_followed_by(mut self, event: impl Into<String>) -> Self {
        self.then = Some((EventSelector::new(event), true));
        self
    }

    /// Finishes with the duration. Without a follow-up event the
    /// condition has an empty one, which [`check`](fn@super::check) refuses.
    pub fn within(self, d: Duration) -> Expr {
        let (then, negated) = self.then.unwrap_or_else(|| (EventSelector::new(""), false));
        Expr::Seq(SeqCond { first: self.first, then, negated, within: d })
    }
}
