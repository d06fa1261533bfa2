//! [`StagedRollups`]: the rollup contributions a write operation has
//! staged (as merge operands in its batch), kept folded in memory so that
//! evaluations inside the same operation see them.

use foldhash::HashMap;
use smallvec::SmallVec;

use crate::profile::id::ProfileId;
use crate::rollup::acc::{day_bit, Acc};
use crate::rollup::contribution::Contribution;

/// One series of one profile: the staged all-time and per-day statistics,
/// without active days (they are the days with a staged bucket) or value
/// frequencies.
#[derive(Debug, Default)]
struct StagedSeries {
    all: Acc,
    /// Ascending by day (an operation stages few days per series: the
    /// first is held inline, no allocation per staged series).
    days: SmallVec<[(i64, Acc); 1]>,
}

impl StagedSeries {
    /// The bucket of `day`, created empty if new.
    fn day(&mut self, day: i64) -> &mut Acc {
        let at = self.days.partition_point(|(d, _)| *d < day);
        if self.days.get(at).is_none_or(|(d, _)| *d != day) {
            self.days.insert(at, (day, Acc::default()));
        }
        &mut self.days[at].1
    }
}

/// Staged contributions by (profile, series). Only statistics are kept
/// (no value frequencies): evaluations read counts, sums, extremes, times
/// and days.
#[derive(Debug, Default)]
pub(crate) struct StagedRollups {
    map: HashMap<(ProfileId, u32), StagedSeries>,
}

impl StagedRollups {
    /// Makes room for `pairs` more (profile, series) pairs.
    pub fn reserve(&mut self, pairs: usize) {
        self.map.reserve(pairs);
    }

    /// Adds the day accumulator `acc` of `day` to `p`'s `series`.
    pub fn add(&mut self, p: ProfileId, series: u32, day: i64, acc: &Acc) {
        let s = self.map.entry((p, series)).or_default();
        s.all.fold_counts(acc);
        s.day(day).fold_counts(acc);
    }

    /// Adds one event's contribution to `p`'s `series`.
    pub fn add_event(&mut self, p: ProfileId, series: u32, c: &Contribution) {
        let s = self.map.entry((p, series)).or_default();
        s.all.fold_contribution_counts(c);
        s.day(c.day()).fold_contribution_counts(c);
    }

    /// The staged all-time statistics of `p`'s `series`, if any (with
    /// active days when `days` asks).
    pub fn all_time(&self, p: ProfileId, series: u32, days: bool) -> Option<Acc> {
        let s = self.map.get(&(p, series))?;
        let mut out = s.all.summary(false);
        if days {
            out.days.extend(s.days.iter().filter(|(_, a)| a.count > 0).map(|(d, _)| day_bit(*d)));
        }
        Some(out)
    }

    /// The staged day statistics with `from <= day <= to`, ascending
    /// (none when `from > to`).
    pub fn days(&self, p: ProfileId, series: u32, from: i64, to: i64) -> impl Iterator<Item = (i64, &Acc)> {
        self.map.get(&(p, series)).filter(|_| from <= to).into_iter().flat_map(move |s| {
            let start = s.days.partition_point(|(d, _)| *d < from);
            let end = s.days.partition_point(|(d, _)| *d <= to);
            s.days.get(start..end.max(start)).unwrap_or_default().iter().map(|(d, a)| (*d, a))
        })
    }
}
