//! Which conditions of an expression see only the events that timeline
//! retention keeps.
//!
//! An event condition over all time (no window) is answered from the
//! rollups — every event ever recorded, retention or not — when a series
//! holds exactly its events: an event name without a filter (every name has
//! a series for count, first, last and active days), or a filter that a
//! declared rollup has too (`property = "text"` filters), with a property
//! metric (`sum`, `min`, `max`, `avg`) only when a declared rollup
//! accumulates that property. Any other all-time condition (a filter no
//! declared rollup has, `distinct`) is read from the timeline, so once
//! timeline retention deleted events it counts only the ones kept; so does
//! `seq` (see `segment::eval`). A windowed condition is not listed: its
//! window is at most the timeline retention, so it sees every event in it
//! either way.

use crate::rollup::registry::Registry;

use super::ast::{Expr, Metric, RollupCond, Window};
use super::compare::same_events;

/// Each condition of `expr` that sees only the events timeline retention
/// keeps, described in a sentence, in the order they appear.
pub(crate) fn retained_only(expr: &Expr, reg: &Registry) -> Vec<String> {
    let mut out = Vec::new();
    walk(expr, reg, &mut out);
    out
}

fn walk(expr: &Expr, reg: &Registry, out: &mut Vec<String>) {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| walk(e, reg, out)),
        Expr::Not(inner) => walk(inner, reg, out),
        Expr::Rollup(r) if r.window == Window::All && !from_rollups(r, reg) => out.push(format!(
            "`{expr}` reads the timeline: it sees only the events timeline retention keeps (no declared rollup \
             holds exactly its events over all time)"
        )),
        Expr::Seq(_) => {
            out.push(format!("`{expr}` reads the timeline: a trigger timeline retention deleted no longer counts"))
        }
        _ => {}
    }
}

/// Whether a series answers `r` from its all-time accumulators.
fn from_rollups(r: &RollupCond, reg: &Registry) -> bool {
    if matches!(r.metric, Metric::Distinct(_)) {
        return false;
    }
    let property = r.metric.property();
    if r.events.filter.is_empty() && property.is_none() {
        return true; // every event name's automatic series
    }
    reg.series_where(&r.events.event, property, |f| same_events(&r.events.filter, f)).is_some()
}
