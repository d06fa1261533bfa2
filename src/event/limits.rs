//! [`EventLimits`]: the bounds every parsed event is checked against, and
//! "now" for the future-timestamp check.

use crate::clock::Timestamp;

/// Default for [`EventLimits::max_future_skew_ms`]: one day.
pub const DEFAULT_MAX_FUTURE_SKEW_MS: i64 = Timestamp::DAY;
/// Default for [`EventLimits::max_json_depth`].
pub const DEFAULT_MAX_JSON_DEPTH: usize = 32;
/// Default for [`EventLimits::max_line_bytes`]: 1 MiB.
pub const DEFAULT_MAX_LINE_BYTES: usize = 1024 * 1024;
/// Default for [`EventLimits::max_properties`].
pub const DEFAULT_MAX_PROPERTIES: usize = 256;
/// The smallest number read as epoch milliseconds
/// ([`EpochUnit::Milliseconds`]): 1973-03-03T09:46:40Z. A smaller
/// non-negative number is almost surely epoch *seconds* (it would be a 1970
/// date as milliseconds), so it is refused rather than read as 1970.
pub const MIN_PLAUSIBLE_EPOCH_MS: i64 = 100_000_000_000;

/// How a number given as a timestamp (an event's `timestamp`, a CSV
/// `:time` cell) is read. RFC 3339 strings are unaffected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum EpochUnit {
    /// Epoch milliseconds (the default). A number below
    /// [`MIN_PLAUSIBLE_EPOCH_MS`] (0 up to early 1973) is refused as
    /// probably seconds.
    #[default]
    Milliseconds,
    /// Epoch seconds (multiplied by 1000).
    Seconds,
}

impl EpochUnit {
    /// Reads an integer timestamp `n` in this unit as a [`Timestamp`], or
    /// says why it is refused: a millisecond value that looks like seconds
    /// (with how to fix it), or a seconds value out of range. The result
    /// still goes through the 1970 and future-skew checks.
    pub fn read(self, n: i64) -> std::result::Result<Timestamp, String> {
        match self {
            EpochUnit::Seconds => {
                n.checked_mul(1000).map(Timestamp).ok_or_else(|| format!("{n} is out of range as epoch seconds"))
            }
            EpochUnit::Milliseconds if (0..MIN_PLAUSIBLE_EPOCH_MS).contains(&n) => {
                let as_seconds = n.checked_mul(1000).map_or_else(|| n.to_string(), |ms| Timestamp(ms).to_string());
                Err(format!(
                    "{n} looks like epoch seconds ({as_seconds}), not milliseconds ({}, before 1973): \
                     read numbers as seconds (`--epoch-unit s` on the CLI, `Builder::epoch_unit` in the \
                     library), or give milliseconds ({n}000) or an RFC 3339 string",
                    Timestamp(n)
                ))
            }
            EpochUnit::Milliseconds => Ok(Timestamp(n)),
        }
    }

    /// The unit's name as the CLI spells it: `ms` or `s`.
    pub fn as_str(self) -> &'static str {
        match self {
            EpochUnit::Milliseconds => "ms",
            EpochUnit::Seconds => "s",
        }
    }
}

/// The deepest nesting accepted whatever [`EventLimits::max_json_depth`]
/// says: serde_json's own recursion limit.
pub const HARD_MAX_JSON_DEPTH: usize = 128;

/// Bounds on incoming events.
///
/// There is no `Default`: "now" must come from the database's clock so
/// tests stay deterministic. Override single fields with struct update
/// syntax:
///
/// ```
/// use profiledb::event::EventLimits;
/// use profiledb::Timestamp;
/// let limits = EventLimits { max_json_depth: 8, ..EventLimits::new(Timestamp(1_714_564_800_000)) };
/// assert_eq!(limits.max_properties, 256);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLimits {
    /// The current time; events more than `max_future_skew_ms` after it
    /// are refused.
    pub now: Timestamp,
    /// How far in the future (milliseconds after `now`) a timestamp may be.
    /// Default one day.
    pub max_future_skew_ms: i64,
    /// The deepest JSON nesting accepted; the top-level object is depth 1.
    /// Default 32, and never more than [`HARD_MAX_JSON_DEPTH`].
    pub max_json_depth: usize,
    /// The longest line accepted, in bytes. Default 1 MiB.
    pub max_line_bytes: usize,
    /// The most properties (object keys at every nesting level) and the
    /// most traits (after flattening) one event may carry. Default 256.
    pub max_properties: usize,
    /// The timestamp given to events that have none. Default `None`: such
    /// events are refused rather than silently stamped with arrival time.
    pub default_timestamp: Option<Timestamp>,
    /// How numeric timestamps are read. Default [`EpochUnit::Milliseconds`],
    /// refusing values that look like seconds.
    pub epoch_unit: EpochUnit,
}

impl EventLimits {
    /// The default limits, with `now` as the current time.
    pub fn new(now: Timestamp) -> Self {
        EventLimits {
            now,
            max_future_skew_ms: DEFAULT_MAX_FUTURE_SKEW_MS,
            max_json_depth: DEFAULT_MAX_JSON_DEPTH,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            max_properties: DEFAULT_MAX_PROPERTIES,
            default_timestamp: None,
            epoch_unit: EpochUnit::Milliseconds,
        }
    }

    /// The nesting limit actually applied.
    pub(crate) fn depth_limit(&self) -> usize {
        self.max_json_depth.min(HARD_MAX_JSON_DEPTH)
    }

    /// The latest timestamp accepted.
    pub(crate) fn latest(&self) -> Timestamp {
        Timestamp(self.now.0.saturating_add(self.max_future_skew_ms.max(0)))
    }

    /// Why an event timestamp is refused, if it is: before 1970, or more
    /// than the skew after now (parsed lines and events built in code).
    pub(crate) fn check_time(&self, ts: Timestamp) -> std::result::Result<(), String> {
        if ts.0 < 0 {
            return Err(format!("{} ms is before 1970-01-01T00:00:00Z", ts.0));
        }
        if ts > self.latest() {
            return Err(format!(
                "{ts} is more than {} ms after now ({}); raise max_future_skew (`--max-future-skew` on the CLI) to accept it",
                self.max_future_skew_ms, self.now
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_bounds() {
        let l = EventLimits::new(Timestamp(10));
        assert_eq!(l.max_future_skew_ms, Timestamp::DAY);
        assert_eq!(l.max_json_depth, 32);
        assert_eq!(l.max_line_bytes, 1 << 20);
        assert_eq!(l.max_properties, 256);
        assert_eq!(l.default_timestamp, None);
        assert_eq!(l.latest(), Timestamp(10 + Timestamp::DAY));
        let wide = EventLimits { max_json_depth: 10_000, now: Timestamp(i64::MAX), ..l };
        assert_eq!(wide.depth_limit(), HARD_MAX_JSON_DEPTH);
        assert_eq!(wide.latest(), Timestamp(i64::MAX));
    }

    #[test]
    fn epoch_seconds_are_refused_as_milliseconds_and_read_as_seconds_when_asked() {
        let err = EpochUnit::Milliseconds.read(1_762_000_000).unwrap_err();
        assert!(err.contains("looks like epoch seconds (2025-11-01T12:26:40.000Z)"), "{err}");
        assert!(err.contains("1762000000000") && err.contains("--epoch-unit s"), "{err}");
        assert!(EpochUnit::Milliseconds.read(0).is_err());
        assert_eq!(EpochUnit::Milliseconds.read(MIN_PLAUSIBLE_EPOCH_MS), Ok(Timestamp(MIN_PLAUSIBLE_EPOCH_MS)));
        assert_eq!(EpochUnit::Milliseconds.read(-5), Ok(Timestamp(-5)), "left to the 1970 check");
        assert_eq!(EpochUnit::Seconds.read(1_762_000_000), Ok(Timestamp(1_762_000_000_000)));
        assert!(EpochUnit::Seconds.read(i64::MAX).unwrap_err().contains("out of range"));
    }

    #[test]
    fn a_time_just_before_1970_is_refused() {
        let l = EventLimits::new(Timestamp(10));
        let just_before = Timestamp::parse("1969-12-31T23:59:59.9999Z").unwrap();
        assert!(l.check_time(just_before).unwrap_err().contains("before 1970"));
        assert_eq!(l.check_time(Timestamp::parse("1970-01-01T00:00:00.0001Z").unwrap()), Ok(()));
    }
}
