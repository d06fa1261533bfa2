//! Segments: the expression language, evaluation, bitmap indexes and queries.
//!
//! A segment is an [`Expr`]: text such as
//!
//! ```text
//! traits.plan = "pro" and count(page_view where page = "/pricing", 7d) >= 3
//! seq(add_to_cart, not purchase, 24h) and consent(marketing_email)
//! last(purchase) < now - 30d or traits.trial_ends < now + 3d
//! ```
//!
//! parsed by [`parse`] (grammar in the `parser` module docs), or built
//! with [`Cond`]. [`check`](fn@check) validates a tree before it is stored,
//! [`dependencies`] says what it reads, [`find_cycle`] finds segments
//! that read each other, and [`evaluate`] computes membership for one
//! profile through an [`EvalContext`], with the next instant it could
//! change by itself ([`Evaluation::next_change`]).
//!
//! | condition | meaning |
//! |---|---|
//! | `traits.x = v`, `!= < <= > >=` | compare a trait with a value or `now ± d` |
//! | `traits.x in [a, b]` | equals one of (a list trait: shares one) |
//! | `traits.x contains "s"` | list holds the element / string holds the substring |
//! | `traits.x starts_with "s"` | string prefix |
//! | `traits.x exists`, `traits.x is null` | set (even to null) / set to null |
//! | `count(e where p = v, 7d) >= 3` | events in the window `(now - 7d, now]` |
//! | `sum/min/max/avg(e.p, w)` | over numeric property values |
//! | `distinct(e.p, w)` | number of different property values |
//! | `active_days(e, w)` | number of UTC days with an event |
//! | `first(e) > now - 7d`, `last(e) < now - 30d` | time of the earliest / latest event |
//! | `seq(a, b, 1h)` | some `b` within 1h after the latest `a` |
//! | `seq(a, not b, 24h)` | 24h passed since the latest `a` with no `b` in them |
//! | `has email` | holds an identifier of that kind |
//! | `in high_value`, `segment(high_value)` | member of another segment |
//! | `consent(marketing_email)` | consent granted and not expired |
//!
//! Durations: `ms s m h d w`. A window is a duration or `all` (default).

mod ast;
pub(crate) mod bitmap_codec;
mod builder;
mod check;
mod compare;
pub(crate) mod context;
pub(crate) mod count;
mod def;
mod display;
mod eval;
pub(crate) mod event_reads;
pub(crate) mod flat_set;
pub(crate) mod index;
mod lexer;
pub(crate) mod maintain;
pub(crate) mod members;
mod parser;
pub(crate) use parser::RESERVED;
pub(crate) mod query;
pub(crate) mod retained;
pub(crate) mod state;
pub mod testing;
pub(crate) mod wakeups;

#[cfg(test)]
mod strategies;
#[cfg(test)]
mod tests_check;
#[cfg(test)]
mod tests_eval;
#[cfg(test)]
mod tests_memo;
#[cfg(test)]
mod tests_parse;

pub use ast::{
    CmpOp, Duration, EventSelector, Expr, FilterTest, Literal, Metric, Operand, PropertyFilter, RollupCond, SeqCond,
    TraitCond, TraitTest, Window, MAX_DEPTH, MAX_DURATION_MS, MAX_EXPR_BYTES,
};
pub use builder::{now, Cond, RelTime, Rollup, Seq, TraitRef};
pub use check::{check, dependencies, find_cycle, Catalog, Dependencies, MAX_NAME_BYTES};
pub use def::{FeedKind, FeedRecord, SegmentDef};
pub use eval::{default_aggregate, default_any_event, evaluate, AggValue, Aggregate, EvalContext, Evaluation};
pub use index::MAX_INDEXED_VALUES;
pub use parser::{parse, parse_with_catalog};
pub use query::QueryResult;
