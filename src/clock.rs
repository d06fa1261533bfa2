//! Time: the [`Timestamp`] type and the injectable [`Clock`].
//!
//! Everything that depends on "now" (delta timestamps, windows, expiry)
//! asks the database's clock, so tests can move time deterministically.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// One second in milliseconds.
    pub const SECOND: i64 = 1_000;
    /// One minute in milliseconds.
    pub const MINUTE: i64 = 60_000;
    /// One hour in milliseconds.
    pub const HOUR: i64 = 3_600_000;
    /// One day in milliseconds.
    pub const DAY: i64 = 86_400_000;
    /// The earliest instant RFC 3339 can write: 0000-01-01T00:00:00.000Z.
    pub const MIN_RFC3339: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest instant RFC 3339 can write: 9999-12-31T23:59:59.999Z.
    pub const MAX_RFC3339: Timestamp = Timestamp(253_402_300_799_999);

    /// Whether RFC 3339 can write this instant (years 0000 to 9999): stored
    /// times outside it would print as bare milliseconds.
    ///
    /// ```
    /// use profiledb::Timestamp;
    /// assert!(Timestamp::MAX_RFC3339.is_rfc3339());
    /// assert_eq!(Timestamp::MAX_RFC3339.to_rfc3339(), "9999-12-31T23:59:59.999Z");
    /// assert!(!Timestamp(i64::MAX).is_rfc3339());
    /// ```
    pub const fn is_rfc3339(self) -> bool {
        Self::MIN_RFC3339.0 <= self.0 && self.0 <= Self::MAX_RFC3339.0
    }

    /// The timestamp `ms` milliseconds after the epoch.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// The timestamp `ms` milliseconds later (earlier when negative),
    /// saturating at [`i64::MIN`] / [`i64::MAX`] milliseconds instead of
    /// overflowing: never panics, never wraps.
    ///
    /// ```
    /// use profiledb::Timestamp;
    /// let t = Timestamp::parse("2025-06-01T12:00:00Z")?;
    /// assert_eq!(t.plus_ms(3 * Timestamp::HOUR).to_rfc3339(), "2025-06-01T15:00:00.000Z");
    /// assert_eq!(t.minus_ms(30 * Timestamp::MINUTE).to_rfc3339(), "2025-06-01T11:30:00.000Z");
    /// assert_eq!(Timestamp(i64::MAX).plus_ms(1), Timestamp(i64::MAX));
    /// # Ok::<(), String>(())
    /// ```
    #[must_use]
    pub const fn plus_ms(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_add(ms))
    }

    /// The timestamp `ms` milliseconds earlier (later when negative),
    /// saturating as [`plus_ms`](Self::plus_ms) does.
    #[must_use]
    pub const fn minus_ms(self, ms: i64) -> Self {
        Timestamp(self.0.saturating_sub(ms))
    }

    /// The day number since the epoch (floor division, so negative times work).
    pub const fn day(self) -> i64 {
        self.0.div_euclid(Self::DAY)
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00Z`, with optional fraction and
    /// offset) or a plain integer of epoch milliseconds. Fractions finer
    /// than a millisecond round down (toward the past, also before 1970).
    pub fn parse(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Ok(ms) = t.parse::<i64>() {
            return Ok(Timestamp(ms));
        }
        let rfc3339 = |t: &str| time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339);
        let dt = rfc3339(t)
            .or_else(|e| {
                // ISO 8601's basic offset (`+0530`, Java's `Z` pattern): the
                // same instant as `+05:30`.
                let b = t.as_bytes();
                let basic = b.len() > 5
                    && matches!(b[b.len() - 5], b'+' | b'-')
                    && b[b.len() - 4..].iter().all(u8::is_ascii_digit)
                    && t.contains('T');
                if basic {
                    let (head, tail) = t.split_at(t.len() - 2);
                    rfc3339(&format!("{head}:{tail}")).map_err(|_| e)
                } else {
                    Err(e)
                }
            })
            .map_err(|e| format!("{s:?} is neither RFC 3339 nor epoch milliseconds ({e})"))?;
        // Floor, not truncation toward zero: a time less than 1 ms before
        // the epoch is -1 ms, not the epoch itself.
        let ms = dt.unix_timestamp_nanos().div_euclid(1_000_000);
        i64::try_from(ms).map(Timestamp).map_err(|_| format!("{s:?} is out of range"))
    }

    /// Formats as RFC 3339 in UTC with milliseconds.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1_000_000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(dt) => {
                let fmt = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
                );
                dt.format(&fmt).unwrap_or_else(|_| self.0.to_string())
            }
            Err(_) => self.0.to_string(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// `t + Duration`: the timestamp that much later, to the millisecond
/// (finer parts of the duration are dropped), saturating at
/// [`i64::MAX`] milliseconds: never panics.
///
/// ```
/// use std::time::Duration;
/// use profiledb::Timestamp;
/// let t = Timestamp::parse("2025-06-01T12:00:00Z")?;
/// assert_eq!(t + Duration::from_secs(90 * 60), t.plus_ms(90 * Timestamp::MINUTE));
/// assert_eq!(t - Duration::from_secs(24 * 3600), t.minus_ms(Timestamp::DAY));
/// assert_eq!(Timestamp(i64::MAX) + Duration::MAX, Timestamp(i64::MAX));
/// # Ok::<(), String>(())
/// ```
impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, d: std::time::Duration) -> Timestamp {
        self.plus_ms(duration_ms(d))
    }
}

/// `t - Duration`: the timestamp that much earlier, to the millisecond,
/// saturating at [`i64::MIN`] milliseconds: never panics.
impl std::ops::Sub<std::time::Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, d: std::time::Duration) -> Timestamp {
        self.minus_ms(duration_ms(d))
    }
}

/// `t += Duration`, as [`Add`](std::ops::Add): saturating.
impl std::ops::AddAssign<std::time::Duration> for Timestamp {
    fn add_assign(&mut self, d: std::time::Duration) {
        *self = *self + d;
    }
}

/// `t -= Duration`, as [`Sub`](std::ops::Sub): saturating.
impl std::ops::SubAssign<std::time::Duration> for Timestamp {
    fn sub_assign(&mut self, d: std::time::Duration) {
        *self = *self - d;
    }
}

/// A duration's whole milliseconds, [`i64::MAX`] when longer.
fn duration_ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A source of "now". Implementations must be cheap: the write path calls
/// [`Clock::now`] once per operation.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time.
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl SystemClock {
    /// The current wall-clock time (as [`Clock::now`], without the trait
    /// in scope).
    ///
    /// ```
    /// use profiledb::{SystemClock, Timestamp};
    /// assert!(SystemClock.now() > Timestamp::parse("2024-01-01T00:00:00Z")?);
    /// # Ok::<(), String>(())
    /// ```
    pub fn now(&self) -> Timestamp {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Timestamp(ms)
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        SystemClock::now(self)
    }
}

/// A clock that only moves when told to: for tests and simulations.
///
/// ```
/// use profiledb::{ManualClock, Timestamp};
/// let clock = ManualClock::new(Timestamp(1_000));
/// clock.advance(500);
/// assert_eq!(clock.now(), Timestamp(1_500)); // no `Clock` import needed
/// ```
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: Timestamp) -> Self {
        ManualClock(AtomicI64::new(start.0))
    }

    /// Sets the time.
    pub fn set(&self, t: Timestamp) {
        self.0.store(t.0, Ordering::SeqCst);
    }

    /// Moves the time forward by `ms` milliseconds.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }

    /// The time the clock shows (as [`Clock::now`], without the trait in
    /// scope).
    pub fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        ManualClock::now(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_and_millis() {
        assert_eq!(Timestamp::parse("1000"), Ok(Timestamp(1000)));
        assert_eq!(Timestamp::parse("1970-01-01T00:00:01Z"), Ok(Timestamp(1000)));
        assert_eq!(Timestamp::parse("1970-01-01T01:00:01.5+01:00"), Ok(Timestamp(1500)));
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn basic_iso_8601_offsets_are_the_same_instant() {
        let extended = Timestamp::parse("2026-11-01T10:00:00+05:30");
        assert_eq!(Timestamp::parse("2026-11-01T10:00:00+0530"), extended);
        assert_eq!(Timestamp::parse("2026-11-01T10:00:00.250-0800"), Timestamp::parse("2026-11-01T10:00:00.250-08:00"));
        assert!(Timestamp::parse("2026-11-01+0530").is_err(), "a date alone is still refused");
    }

    #[test]
    fn sub_millisecond_fractions_round_toward_the_past() {
        assert_eq!(Timestamp::parse("1969-12-31T23:59:59.9999Z"), Ok(Timestamp(-1)));
        assert_eq!(Timestamp::parse("1969-12-31T23:59:59.999Z"), Ok(Timestamp(-1)));
        assert_eq!(Timestamp::parse("1969-12-31T23:59:59.0001Z"), Ok(Timestamp(-1_000)));
        assert_eq!(Timestamp::parse("1970-01-01T00:00:00.0009Z"), Ok(Timestamp(0)));
        assert_eq!(Timestamp::parse("1970-01-01T00:00:01.2345Z"), Ok(Timestamp(1_234)));
    }

    #[test]
    fn formats_round_trip() {
        let t = Timestamp(1_714_564_800_123);
        assert_eq!(Timestamp::parse(&t.to_rfc3339()), Ok(t));
    }

    #[test]
    fn arithmetic_saturates_instead_of_overflowing() {
        use std::time::Duration;
        let t = Timestamp(10 * Timestamp::DAY);
        assert_eq!(t.plus_ms(Timestamp::HOUR), Timestamp(10 * Timestamp::DAY + 3_600_000));
        assert_eq!(t.minus_ms(-Timestamp::MINUTE), t.plus_ms(60_000));
        assert_eq!(Timestamp(i64::MIN).minus_ms(1), Timestamp(i64::MIN));
        assert_eq!(Timestamp(i64::MAX).plus_ms(i64::MAX), Timestamp(i64::MAX));
        assert_eq!(Timestamp(i64::MIN) - Duration::MAX, Timestamp(i64::MIN));
        assert_eq!(t + Duration::from_micros(1_999), t.plus_ms(1), "sub-millisecond parts are dropped");
        let mut u = t;
        u += Duration::from_secs(60);
        u -= Duration::from_millis(1);
        assert_eq!(u, t.plus_ms(59_999));
    }

    #[test]
    fn clocks_tell_the_time_without_the_trait_in_scope() {
        let manual = ManualClock::new(Timestamp(5));
        manual.advance(2);
        assert_eq!(manual.now(), Timestamp(7));
        assert_eq!(Clock::now(&manual), Timestamp(7));
        let dynamic: &dyn Clock = &manual;
        assert_eq!(dynamic.now(), Timestamp(7));
        assert!((Clock::now(&SystemClock).0 - SystemClock.now().0).abs() < 60_000);
    }

    #[test]
    fn day_floors_negative_times() {
        assert_eq!(Timestamp(-1).day(), -1);
        assert_eq!(Timestamp(Timestamp::DAY).day(), 1);
    }
}
