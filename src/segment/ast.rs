//! The segment expression syntax tree.
//!
//! Every type here serializes with serde as plain tagged data (no
//! untagged/flattened enums, no `serde_json::Value`), so a compiled
//! expression stores with bincode. [`Expr`]'s `Display` (in `display.rs`)
//! prints canonical text that [`parse`](super::parse) turns back into an
//! equal tree.
//!
//! The order of enum variants and struct fields is part of the stored
//! encoding (bincode writes variant indexes): add new variants at the end
//! and bump the format version for anything else.
//!
//! Structural invariants (enforced by [`check`](fn@super::check), always true
//! for parsed trees): [`Expr::And`] and [`Expr::Or`] hold at least two
//! operands, names are non-empty, windows are positive, nesting is at most
//! [`MAX_DEPTH`] levels.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::numeric::Num;

/// The deepest nesting accepted: parentheses and `not`s in text, and
/// `and`/`or`/`not` levels in a tree.
pub const MAX_DEPTH: usize = 64;
/// The longest expression text accepted, in bytes.
pub const MAX_EXPR_BYTES: usize = 16 * 1024;
/// The longest duration accepted (windows, `now ± d`): 100,000 days.
pub const MAX_DURATION_MS: i64 = 100_000 * Timestamp::DAY;

/// A signed span of time in milliseconds (`7d`, `24h`, `500ms`).
///
/// Text units: `ms`, `s`, `m` (minutes), `h`, `d`, `w` (7 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Duration(i64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// `ms` milliseconds.
    pub const fn millis(ms: i64) -> Self {
        Duration(ms)
    }
    /// `s` seconds (saturating).
    pub const fn seconds(s: i64) -> Self {
        Duration(s.saturating_mul(1_000))
    }
    /// `m` minutes (saturating).
    pub const fn minutes(m: i64) -> Self {
        Duration(m.saturating_mul(60_000))
    }
    /// `h` hours (saturating).
    pub const fn hours(h: i64) -> Self {
        Duration(h.saturating_mul(3_600_000))
    }
    /// `d` days (saturating).
    pub const fn days(d: i64) -> Self {
        Duration(d.saturating_mul(Timestamp::DAY))
    }
    /// `w` weeks (saturating).
    pub const fn weeks(w: i64) -> Self {
        Duration(w.saturating_mul(7 * Timestamp::DAY))
    }
    /// The length in milliseconds.
    pub const fn as_millis(self) -> i64 {
        self.0
    }
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written in expressions.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether the operator orders values (`<`, `<=`, `>`, `>=`).
    pub fn is_ordering(self) -> bool {
        matches!(self, CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge)
    }
}

/// A constant in an expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// `"text"` (escapes: `\"`, `\\`, `\n`, `\r`, `\t`, `\u{…}`).
    Str(String),
    /// `42`, `-7`.
    Int(i64),
    /// `2.5`, `1e-3` (always finite).
    Float(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `t"2024-05-01T00:00:00Z"` (RFC 3339 or epoch milliseconds).
    Time(Timestamp),
}

impl Literal {
    /// The literal's type as named in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Literal::Str(_) => "a string",
            Literal::Int(_) => "an integer",
            Literal::Float(_) => "a number",
            Literal::Bool(_) => "a boolean",
            Literal::Time(_) => "a timestamp",
        }
    }

    /// Whether the literal is an integer or a float.
    pub fn is_number(&self) -> bool {
        matches!(self, Literal::Int(_) | Literal::Float(_))
    }

    /// The literal as a number, exactly (integers stay integers).
    pub(crate) fn as_number(&self) -> Option<Num> {
        match self {
            Literal::Int(i) => Some(Num::Int(*i)),
            Literal::Float(f) => Some(Num::Float(*f)),
            _ => None,
        }
    }
}

/// The right-hand side of a comparison: a constant or a time relative to
/// the evaluation instant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Operand {
    /// A constant.
    Lit(Literal),
    /// `now`, `now + 3d`, `now - 30d`: the evaluation instant plus a
    /// signed offset.
    Now(Duration),
}

/// A test applied to one trait.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraitTest {
    /// `= != < <= > >=` against a constant or a relative time.
    Cmp(CmpOp, Operand),
    /// `in [a, b, …]`: equals one of the values (a list trait: shares an
    /// element with them).
    In(Vec<Literal>),
    /// `contains "x"`: a list trait holds the element, or a string trait
    /// holds the substring.
    Contains(Literal),
    /// `starts_with "x"`: a string trait starts with the prefix.
    StartsWith(Literal),
    /// `exists`: the trait is set (to any value, null included).
    Exists,
    /// `is null`: the trait is set to null.
    IsNull,
}

/// `traits.<name> <test>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraitCond {
    /// The trait's dotted name (`plan`, `address.city`).
    pub name: String,
    /// What to test.
    pub test: TraitTest,
}

/// A test of one event property in a `where` clause.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FilterTest {
    /// `= != < <= > >=` against a constant.
    Cmp(CmpOp, Literal),
    /// `in [a, b, …]`.
    In(Vec<Literal>),
}

/// `prop = "x"` inside `where`: events match when their property passes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PropertyFilter {
    /// The property's (dotted) name.
    pub property: String,
    /// The test.
    pub test: FilterTest,
}

/// An event name with optional property filters (all must match):
/// `page_view where page = "/pricing" and referrer != "ads"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventSelector {
    /// The event name.
    pub event: String,
    /// Filters joined by `and`; empty means every event of that name.
    pub filter: Vec<PropertyFilter>,
}

impl EventSelector {
    /// Every event named `event`.
    pub fn new(event: impl Into<String>) -> Self {
        EventSelector { event: event.into(), filter: Vec::new() }
    }
}

/// What a rollup computes over the events in its window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Metric {
    /// `count(e)`: how many events.
    Count,
    /// `sum(e.prop)`: the sum of a numeric property (0 if none).
    Sum(String),
    /// `min(e.prop)`: the smallest numeric value.
    Min(String),
    /// `max(e.prop)`: the largest numeric value.
    Max(String),
    /// `avg(e.prop)`: the mean numeric value.
    Avg(String),
    /// `distinct(e.prop)`: how many different values the property took.
    Distinct(String),
    /// `active_days(e)`: on how many UTC days at least one event happened.
    ActiveDays,
    /// `first(e)`: the time of the earliest event.
    First,
    /// `last(e)`: the time of the latest event.
    Last,
}

impl Metric {
    /// The function name in expressions.
    pub fn function(&self) -> &'static str {
        match self {
            Metric::Count => "count",
            Metric::Sum(_) => "sum",
            Metric::Min(_) => "min",
            Metric::Max(_) => "max",
            Metric::Avg(_) => "avg",
            Metric::Distinct(_) => "distinct",
            Metric::ActiveDays => "active_days",
            Metric::First => "first",
            Metric::Last => "last",
        }
    }

    /// The property the metric reads, if any.
    pub fn property(&self) -> Option<&str> {
        match self {
            Metric::Sum(p) | Metric::Min(p) | Metric::Max(p) | Metric::Avg(p) | Metric::Distinct(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the metric yields a timestamp (`first`, `last`) rather than
    /// a number.
    pub fn yields_time(&self) -> bool {
        matches!(self, Metric::First | Metric::Last)
    }
}

/// Which events a rollup looks at, relative to the evaluation instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// `all`: every event up to now.
    All,
    /// `7d`: events at times in `(now - d, now]`.
    Last(Duration),
}

/// `count(page_view where page = "/pricing", 7d) >= 3`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupCond {
    /// What to compute.
    pub metric: Metric,
    /// Over which events.
    pub events: EventSelector,
    /// Over which time span (text default: `all`).
    pub window: Window,
    /// How to compare the result.
    pub op: CmpOp,
    /// What to compare it with: a number, or for `first`/`last` a time.
    pub operand: Operand,
}

/// `seq(a, b, 1h)` / `seq(a, not b, 24h)`: what followed the latest `a`.
///
/// With `ta` the time of the latest `first` event (at or before now):
/// - positive: some `then` event happened in `[ta, min(ta + within, now)]`;
/// - negated: `now >= ta + within` and no `then` event happened in
///   `[ta, ta + within]` (cart abandonment).
///
/// Without any `first` event the condition is false.
///
/// Events are ordered by their timestamp alone, to the millisecond, never
/// by ingest order: both intervals include `ta`, so a `then` event stamped
/// at the same instant as the trigger follows it, even when it was
/// ingested first (a purchase and a cart with the same clock value cancel
/// `seq(add_to_cart, not purchase, 24h)` and satisfy
/// `seq(add_to_cart, purchase, 24h)`). Several `first` events at one
/// instant are one trigger. An application that needs a strict order at
/// equal clock values must stamp the events apart (1 ms is enough).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeqCond {
    /// The triggering event.
    pub first: EventSelector,
    /// The event expected (or, negated, not expected) after it.
    pub then: EventSelector,
    /// `true` for `not b`: the follow-up must be absent.
    pub negated: bool,
    /// How long after the trigger the follow-up may come.
    pub within: Duration,
}

/// A segment expression.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    /// `a and b and …` (at least two operands).
    And(Vec<Expr>),
    /// `a or b or …` (at least two operands).
    Or(Vec<Expr>),
    /// `not a`.
    Not(Box<Expr>),
    /// `traits.plan = "pro"` and the other trait tests.
    Trait(TraitCond),
    /// `count(…) >= 3` and the other event rollups.
    Rollup(RollupCond),
    /// `seq(a, not b, 24h)`.
    Seq(SeqCond),
    /// `has email`: the profile holds an identifier of that kind.
    Has(String),
    /// `in high_value`: the profile is a member of another segment.
    InSegment(String),
    /// `consent(marketing_email)`: consent for the purpose is granted and
    /// not expired.
    Consent(String),
}

impl Expr {
    /// How deeply `and`/`or`/`not` nest (a single condition is 0).
    pub fn depth(&self) -> usize {
        match self {
            Expr::And(v) | Expr::Or(v) => 1 + v.iter().map(Expr::depth).max().unwrap_or(0),
            Expr::Not(e) => 1 + e.depth(),
            _ => 0,
        }
    }
}
