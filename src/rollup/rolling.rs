//! Rolling windows: a series over the exact span `(now - d, now]`, to the
//! millisecond. Whole days inside it come from the day buckets (with their
//! value frequencies), the parts of the first and last day inside it from
//! the timeline — so a rolling window needs timelines kept at least as far
//! back as it reaches.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::def::SeriesDef;
use crate::rollup::store::{read_days, read_timeline};
use crate::storage::View;

/// Where the timeline is kept from, for the check of a rolling window.
pub(crate) struct Timelines {
    /// Whether timelines are stored at all (`timeline_retention` > 0).
    pub kept: bool,
    /// Events before this time may have been deleted by retention.
    pub floor_ms: i64,
}

/// The fold of the series' events with `now - span < time <= now`.
pub(crate) fn rolling(
    view: &View<'_>,
    p: ProfileId,
    series: (u32, &SeriesDef),
    span: i64,
    now: Timestamp,
    timelines: &Timelines,
) -> Result<Acc> {
    let (lo, hi) = (now.0.saturating_sub(span.max(1)).saturating_add(1), now.0.saturating_add(1));
    // The edge days are read from `lo` on: events before it are not needed.
    if !timelines.kept || lo < timelines.floor_ms {
        return Err(Error::invalid(format!(
            "a rolling window of {span} ms reads the timeline from {}, which {}: use a window of whole days \
             (`Nd`, Window::days: read from the buckets) or keep timelines longer",
            Timestamp(lo).to_rfc3339(),
            if timelines.kept {
                "retention has already cut"
            } else {
                "this database does not keep (timeline_retention 0)"
            }
        )));
    }
    let (id, def) = series;
    let day_of = |t: i64| Timestamp(t).day();
    let start_of = |day: i64| day.saturating_mul(Timestamp::DAY);
    let (d0, d1) = (day_of(lo), day_of(hi - 1));
    // Days wholly inside [lo, hi): from their buckets.
    let full_from = if start_of(d0) == lo { d0 } else { d0 + 1 };
    let full_to = if start_of(d1 + 1) == hi { d1 } else { d1 - 1 };
    let mut acc = Acc::default();
    let mut buckets = Vec::new();
    read_days(view, p, id, full_from, full_to, &mut buckets)?;
    for (_, b) in &buckets {
        acc.fold(b);
    }
    // The partial days at the edges: from the timeline.
    let mut edges = Vec::new();
    if full_from > full_to {
        edges.push((lo, hi));
    } else {
        edges.push((lo, start_of(full_from)));
        edges.push((start_of(full_to + 1), hi));
    }
    let mut events = Vec::new();
    for (from, to) in edges {
        read_timeline(view, p, &def.event, Timestamp(from), Timestamp(to), &mut events)?;
    }
    for e in events.iter().filter(|e| def.matches(e)) {
        acc.fold(&Acc::of_event(e, def.property.as_deref()));
    }
    Ok(acc)
}
