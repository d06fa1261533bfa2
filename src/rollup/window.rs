//! Windows over day buckets, and the values rollups return.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::rollup::acc::Acc;
use crate::rollup::def::Aggregate;

/// A time window for reading a rollup.
///
/// Rollups are stored in UTC day buckets by event time, and windows cover
/// whole days: `Last(7 days)` is today and the 6 days before it. So a
/// window's value changes only when an event lands in it or at midnight
/// UTC, and late events are counted exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Window {
    /// Everything ever recorded (survives bucket retention).
    All,
    /// The last N days, today included (`Last(Timestamp::DAY)` is today).
    Last(i64),
    /// The days from the one holding `from` to the one holding `to`, inclusive.
    Between(Timestamp, Timestamp),
    /// The exact span `(now - ms, now]`, to the millisecond (`Rolling` of
    /// 24 hours at 00:05 UTC covers yesterday from 00:05 on): whole days
    /// from the buckets, the parts of the edge days from the timeline, so
    /// it needs timelines kept at least that far back (else an error).
    Rolling(i64),
}

impl Window {
    /// Last `n` days.
    pub fn days(n: i64) -> Self {
        Window::Last(n.saturating_mul(Timestamp::DAY))
    }

    /// The last `n` hours, exactly: [`Window::Rolling`].
    pub fn hours(n: i64) -> Self {
        Window::Rolling(n.saturating_mul(3_600_000))
    }

    /// The inclusive range of day numbers at `now` (for a rolling window,
    /// the days it touches), or `None` for all time.
    pub fn day_range(self, now: Timestamp) -> Option<(i64, i64)> {
        match self {
            Window::All => None,
            Window::Last(ms) => {
                // Whole days, rounded up; saturating: a window longer than
                // the time line reaches its start.
                let ms = ms.max(1);
                let days = ms / Timestamp::DAY + i64::from(ms % Timestamp::DAY != 0);
                let today = now.day();
                Some((today.saturating_sub(days).saturating_add(1), today))
            }
            Window::Between(a, b) => Some((a.day().min(b.day()), a.day().max(b.day()))),
            Window::Rolling(ms) => {
                Some((Timestamp(now.0.saturating_sub(ms.max(1)).saturating_add(1)).day(), now.day()))
            }
        }
    }
}

/// A rollup's value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum RollupValue {
    /// A count (events, active days).
    Count(u64),
    /// A number (sum, min, max, average); `None` when no event had one.
    Number(Option<f64>),
    /// A time (first, last); `None` when there was no event.
    Time(Option<Timestamp>),
    /// The most frequent value.
    MostFrequent {
        /// The value (ties: the smallest); `None` when no event had the
        /// property, or when `complete` is false.
        value: Option<String>,
        /// False when the window saw more distinct values than a bucket
        /// keeps ([`MAX_UNIQUE_VALUES`](crate::rollup::MAX_UNIQUE_VALUES)):
        /// the most frequent value is then unknown.
        complete: bool,
    },
    /// Distinct values and how many; `complete` is false past the bound.
    Unique {
        /// How many distinct values (a lower bound if not complete).
        count: u64,
        /// The values, sorted.
        values: Vec<String>,
        /// Whether every distinct value was kept.
        complete: bool,
    },
}

impl RollupValue {
    /// Computes `agg` from a folded accumulator over the window's days.
    pub fn of(agg: &Aggregate, acc: &Acc, days: Option<(i64, i64)>) -> RollupValue {
        match agg {
            Aggregate::Count => RollupValue::Count(acc.count),
            Aggregate::Sum(_) => RollupValue::Number((acc.numeric > 0).then(|| acc.sum.value())),
            Aggregate::Min(_) => RollupValue::Number(acc.min),
            Aggregate::Max(_) => RollupValue::Number(acc.max),
            Aggregate::Avg(_) => RollupValue::Number((acc.numeric > 0).then(|| acc.sum.value() / acc.numeric as f64)),
            Aggregate::First => RollupValue::Time(acc.first.map(Timestamp)),
            Aggregate::Last => RollupValue::Time(acc.last.map(Timestamp)),
            Aggregate::ActiveDays => RollupValue::Count(match days {
                Some((a, b)) => acc.active_days_between(Timestamp(a * Timestamp::DAY), Timestamp(b * Timestamp::DAY)),
                None => acc.days.len(),
            }),
            Aggregate::MostFrequent(_) => {
                RollupValue::MostFrequent { value: acc.most_frequent().map(str::to_owned), complete: !acc.overflow }
            }
            Aggregate::Unique(_) => RollupValue::Unique {
                count: acc.values.len() as u64,
                values: acc.values.keys().cloned().collect(),
                complete: !acc.overflow,
            },
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            RollupValue::Count(n) => json!(n),
            RollupValue::Number(x) => json!(x),
            RollupValue::Time(t) => json!(t.map(|t| t.to_rfc3339())),
            RollupValue::MostFrequent { value, complete } => json!({"value": value, "complete": complete}),
            RollupValue::Unique { count, values, complete } => {
                json!({"count": count, "values": values, "complete": complete})
            }
        }
    }

    /// The value as a number, for comparisons (times as epoch ms).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            RollupValue::Count(n) => Some(*n as f64),
            RollupValue::Number(x) => *x,
            RollupValue::Time(t) => t.map(|t| t.0 as f64),
            RollupValue::Unique { count, .. } => Some(*count as f64),
            RollupValue::MostFrequent { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_longer_than_the_time_line_reach_its_start() {
        let now = Timestamp(10 * Timestamp::DAY + 5_000);
        for w in [Window::days(i64::MAX / Timestamp::DAY), Window::days(i64::MAX), Window::Last(i64::MAX - 1)] {
            let (from, to) = w.day_range(now).unwrap();
            assert!(from <= 0 && to == 10, "{w:?}: {from}..{to}");
        }
    }

    #[test]
    fn windows_cover_whole_days() {
        let now = Timestamp(10 * Timestamp::DAY + 5_000);
        assert_eq!(Window::days(1).day_range(now), Some((10, 10)));
        assert_eq!(Window::days(7).day_range(now), Some((4, 10)));
        assert_eq!(Window::Last(36 * 3_600_000).day_range(now), Some((9, 10)));
        assert_eq!(Window::All.day_range(now), None);
        let b = Window::Between(Timestamp(3 * Timestamp::DAY + 1), Timestamp(Timestamp::DAY));
        assert_eq!(b.day_range(now), Some((1, 3)));
    }
}
