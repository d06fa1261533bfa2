//! Rollup reads: one rollup of a profile over a window (declared, or an
//! event name's automatic `<event>.count|first|last`), and every rollup
//! of a profile over all time.

use crate::clock::Timestamp;
use crate::error::{Error, NotFoundKind, Result};
use crate::profile::id::ProfileId;
use crate::rollup::retention::check_window;
use crate::rollup::{Acc, Aggregate, RollupValue, Window};

use super::ProfileDb;

impl ProfileDb {
    /// A rollup's value for a profile over a window, by name: a declared
    /// rollup's, or an event name's automatic one — `<event>.count`,
    /// `<event>.first` and `<event>.last`, the names
    /// [`rollups_of`](Self::rollups_of) lists (an event name may hold dots:
    /// the suffix is after the last one; a declared name never holds a dot,
    /// and would win). An event name no stored event has is
    /// [`Error::NotFound`] (a typo, most likely); one this profile has no
    /// event of is a count of 0 and no time. An id that merged away
    /// answers for its survivor; an id that never was a profile is
    /// [`Error::NotFound`] of kind
    /// [`Profile`](crate::NotFoundKind::Profile), whatever the name. A
    /// window reaching before the bucket-retention horizon is
    /// [`Error::WindowBeforeRetention`]; [`Window::All`] always answers.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
    /// use profiledb::{Identifier, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let mut buy = Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]);
    /// buy.properties.insert("amount", 30);
    /// db.track(&buy)?;
    /// db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())))?;
    /// let p = db.resolve(&ann)?.expect("ann has a profile");
    /// assert_eq!(db.rollup(p, "spend", Window::days(7))?, RollupValue::Number(Some(30.0)));
    /// assert_eq!(db.rollup(p, "purchase.count", Window::All)?, RollupValue::Count(1));
    /// assert_eq!(db.rollup(p, "purchase.last", Window::All)?, RollupValue::Time(Some(buy.timestamp)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rollup(&self, profile: ProfileId, name: &str, window: Window) -> Result<RollupValue> {
        let Some((series, aggregate)) = self.rollup_named(name) else {
            // An unknown profile is what is reported first.
            self.resolved_snapshot(profile)?;
            return Err(unknown_rollup(name));
        };
        let now = self.core.clock.now();
        let acc = self.window_acc(profile, series, window, now)?;
        Ok(RollupValue::of(&aggregate, &acc, window.day_range(now)))
    }

    /// The series and aggregate of the rollup `name`: a declared one, else
    /// an automatic `<event>.count|first|last` of an event name with a series.
    fn rollup_named(&self, name: &str) -> Option<(u32, Aggregate)> {
        let reg = self.core.rollups.read();
        if let Some(rec) = reg.rollups.get(name) {
            return Some((rec.series, rec.def.aggregate.clone()));
        }
        let (event, aggregate) = auto_rollup_name(name)?;
        Some((reg.auto_series(event)?, aggregate))
    }

    /// The fold of `series` for the live profile `profile` reaches over
    /// `window` at `now`: resolved and read in one snapshot (the rollup
    /// cache answers when it holds that state or a later one).
    fn window_acc(&self, profile: ProfileId, series: u32, window: Window, now: Timestamp) -> Result<Acc> {
        check_window(window, now, self.core.retention.bucket_day())?;
        let (view, since, p) = self.resolved_snapshot(profile)?;
        let Window::Rolling(span) = window else {
            return self.core.rollup_cache.window((&view, &self.core.commits, since), p, series, window, now);
        };
        let def = self.core.rollups.read().series.get(series as usize).cloned();
        let def = def.ok_or_else(|| Error::not_found(NotFoundKind::Rollup, format!("rollup series {series}")))?;
        let timelines = crate::rollup::rolling::Timelines {
            kept: self.core.config.timeline_retention_ms > 0,
            floor_ms: self.core.retention.timeline_ms(),
        };
        crate::rollup::rolling::rolling(&view, p, (series, &def), span, now, &timelines)
    }

    /// The automatic rollup of an event name over a window: its count,
    /// first and last time, in one accumulator.
    pub fn event_stats(&self, profile: ProfileId, event: &str, window: Window) -> Result<Acc> {
        let Some(series) = self.core.rollups.read().auto_series(event) else { return Ok(Acc::default()) };
        self.window_acc(profile, series, window, self.core.clock.now())
    }

    /// Every declared rollup of a profile, all time, by name; before them,
    /// for every event name the profile has events of (sorted by name), its
    /// automatic `<event>.count`, `<event>.first` and `<event>.last`. Every
    /// name listed is one [`rollup`](Self::rollup) reads over any window.
    /// One scan of the profile's rollup keys: the cost follows the series
    /// the profile has, not the event names of the whole database.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::rollup::RollupValue;
    /// use profiledb::{Identifier, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let login = Event::new(EventKind::Track, "login", db.now(), vec![ann.clone()]);
    /// db.track(&login)?;
    /// let p = db.resolve(&ann)?.expect("ann has a profile");
    /// let t = RollupValue::Time(Some(login.timestamp));
    /// assert_eq!(
    ///     db.rollups_of(p)?,
    ///     [("login.count".to_owned(), RollupValue::Count(1)), ("login.first".into(), t.clone()), ("login.last".into(), t)]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn rollups_of(&self, profile: ProfileId) -> Result<Vec<(String, RollupValue)>> {
        // The declared rollups before the snapshot: one declared meanwhile
        // could be read before its backfill committed.
        let declared: Vec<(String, u32, Aggregate)> = {
            let reg = self.core.rollups.read();
            reg.rollups.iter().map(|(name, rec)| (name.clone(), rec.series, rec.def.aggregate.clone())).collect()
        };
        let (view, _, live) = self.resolved_snapshot(profile)?;
        let present = crate::rollup::store::read_profile_all_time(&view, live)?;
        let mut events: Vec<(String, &Acc)> = {
            let reg = self.core.rollups.read();
            let auto = |id: u32| {
                let s = reg.series.get(id as usize)?;
                let plain = s.filter.is_empty() && s.property.is_none();
                (plain && reg.auto_series(&s.event) == Some(id)).then(|| s.event.clone())
            };
            present.iter().filter(|(_, acc)| acc.count > 0).filter_map(|(id, acc)| Some((auto(*id)?, acc))).collect()
        };
        events.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(3 * events.len() + declared.len());
        for (e, acc) in events {
            for (suffix, aggregate) in AUTO_ROLLUPS {
                out.push((format!("{e}.{suffix}"), RollupValue::of(&aggregate, acc, None)));
            }
        }
        let none = Acc::default();
        for (name, series, aggregate) in declared {
            out.push((name, RollupValue::of(&aggregate, present.get(&series).unwrap_or(&none), None)));
        }
        Ok(out)
    }
}

/// The automatic rollups of every event name: `<event>.<suffix>`.
const AUTO_ROLLUPS: [(&str, Aggregate); 3] =
    [("count", Aggregate::Count), ("first", Aggregate::First), ("last", Aggregate::Last)];

/// The event name and aggregate of an automatic rollup's name
/// (`purchase.count`; the suffix is after the last dot).
fn auto_rollup_name(name: &str) -> Option<(&str, Aggregate)> {
    let (event, suffix) = name.rsplit_once('.')?;
    AUTO_ROLLUPS.into_iter().find(|(s, _)| *s == suffix).map(|(_, aggregate)| (event, aggregate))
}

/// The error for a rollup name that is neither declared nor automatic.
fn unknown_rollup(name: &str) -> Error {
    let what = match auto_rollup_name(name) {
        Some((event, _)) => {
            format!("rollup {name:?} (no declared rollup has that name, and no stored event is named {event:?})")
        }
        None => format!("rollup {name:?}"),
    };
    Error::not_found(NotFoundKind::Rollup, what)
}
