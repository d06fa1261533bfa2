//! [`StagedRollups`]: the rollup contributions a write operation has
//! staged (as merge operands in its batch), kept folded in memory so that
//! evaluations inside the same operation see them.

use std::collections::BTreeMap;

use foldhash::HashMap;

use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;

/// One series of one profile: the staged all-time and per-day statistics.
#[derive(Debug, Default)]
struct StagedSeries {
    all: Acc,
    days: BTreeMap<i64, Acc>,
}

/// Staged contributions by (profile, series). Only statistics are kept
/// (no value frequencies): evaluations read counts, sums, extremes, times
/// and days.
#[derive(Debug, Default)]
pub(crate) struct StagedRollups {
    map: HashMap<(ProfileId, u32), StagedSeries>,
}

impl StagedRollups {
    /// Adds the contribution `acc` of an event on `day` to `p`'s `series`.
    pub fn add(&mut self, p: ProfileId, series: u32, day: i64, acc: &Acc) {
        let s = self.map.entry((p, series)).or_default();
        s.all.fold_stats(acc);
        // A day bucket's active days are its own day: not kept.
        s.days.entry(day).or_default().fold_counts(acc);
    }

    /// The staged all-time statistics of `p`'s `series`, if any.
    pub fn all_time(&self, p: ProfileId, series: u32) -> Option<&Acc> {
        self.map.get(&(p, series)).map(|s| &s.all)
    }

    /// The staged day statistics with `from <= day <= to`, ascending
    /// (none when `from > to`).
    pub fn days(&self, p: ProfileId, series: u32, from: i64, to: i64) -> impl Iterator<Item = (i64, &Acc)> {
        self.map
            .get(&(p, series))
            .filter(|_| from <= to)
            .into_iter()
            .flat_map(move |s| s.days.range(from..=to).map(|(d, a)| (*d, a)))
    }
}
