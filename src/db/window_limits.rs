//! Refusing, at definition and query time, event conditions whose window
//! reaches further back than retention keeps what answers them.
//!
//! A `Last(d)` window `(now - d, now]` is answered from the day buckets
//! (whole days) and the timeline (its first, partial day). Bucket retention
//! folds the buckets older than `rollup_bucket_retention` into all-time
//! values, and timeline retention deletes the events older than
//! `timeline_retention`: a window longer than either would read days that
//! are gone and answer wrongly, so it is refused — as the rollup read API
//! refuses such windows ([`Error::WindowBeforeRetention`](crate::Error)).
//! Windows of at most the retention never reach a folded bucket or a
//! deleted event: the floors are `now - retention` of a past pass — unless
//! a pass ran with a shorter retention than this handle's, which
//! [`window_before_floor`] refuses by the persisted timeline floor.
//!
//! `seq(a, [not] b, within)` has no window to refuse: it reads the events
//! the timeline holds (a trigger that retention deleted no longer counts;
//! see `segment::eval`), never a bucket below a floor.

use crate::clock::Timestamp;
use crate::segment::{Expr, RollupCond, Window};

use super::config::Config;

/// Why an expression cannot be answered under `config`'s retention, if it
/// cannot: the first windowed condition longer than the bucket or the
/// timeline retention, named with the retention it exceeds.
pub(crate) fn window_beyond_retention(config: &Config, expr: &Expr) -> Option<String> {
    beyond(config, expr, true)
}

/// As [`window_beyond_retention`], against the timeline retention only:
/// what a segment defined under a longer retention cannot outlive. A window
/// longer than the bucket retention alone is still answered exactly (from
/// the timeline, which holds every event of the window), so such a stored
/// segment keeps working when the bucket retention is shortened; once the
/// timeline does not hold the window either, no read can be exact.
pub(crate) fn window_beyond_timeline(config: &Config, expr: &Expr) -> Option<String> {
    beyond(config, expr, false)
}

fn beyond(config: &Config, expr: &Expr, buckets: bool) -> Option<String> {
    let r = longest_window(expr)?;
    let Window::Last(d) = r.window else { return None };
    let bucket_ms = if buckets { config.bucket_retention_ms } else { 0 };
    let limits = [
        (bucket_ms, "rollup_bucket_retention", "day buckets older than that are folded"),
        (config.timeline_retention_ms, "timeline_retention", "events older than that are deleted"),
    ];
    let (keep, option, what) = limits.into_iter().find(|(keep, ..)| *keep > 0 && d.as_millis() > *keep)?;
    let keep = crate::segment::Duration::millis(keep);
    Some(format!(
        "condition `{}` reads {d} back, but {option} is {keep} ({what}); use a window of at most {keep}",
        Expr::Rollup(r.clone())
    ))
}

/// Why an expression cannot be answered at `now` with the timeline floor
/// at `floor_ms`, if it cannot: its longest window starts before the floor,
/// so events it needs may be deleted (a pass with a shorter retention than
/// this handle's raised the floor that far).
pub(crate) fn window_before_floor(expr: &Expr, now: Timestamp, floor_ms: i64) -> Option<String> {
    let r = longest_window(expr)?;
    let start = now.0.saturating_add(1).saturating_sub(reach_ms(expr));
    (start < floor_ms).then(|| {
        format!(
            "condition `{}` reads events from {}, but timeline retention has deleted the events before {}; use a \
             shorter window",
            Expr::Rollup(r.clone()),
            Timestamp(start).to_rfc3339(),
            Timestamp(floor_ms).to_rfc3339()
        )
    })
}

/// How far back (ms) the longest `Last` window of `expr` reaches (0: none).
pub(crate) fn reach_ms(expr: &Expr) -> i64 {
    match longest_window(expr).map(|r| r.window) {
        Some(Window::Last(d)) => d.as_millis(),
        _ => 0,
    }
}

/// The rollup condition of `expr` with the longest `Last` window, if any.
fn longest_window(expr: &Expr) -> Option<&RollupCond> {
    let span = |r: &RollupCond| match r.window {
        Window::Last(d) => d.as_millis(),
        Window::All => i64::MIN,
    };
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().filter_map(longest_window).max_by_key(|r| span(r)),
        Expr::Not(inner) => longest_window(inner),
        Expr::Rollup(r) if matches!(r.window, Window::Last(_)) => Some(r),
        _ => None,
    }
}
