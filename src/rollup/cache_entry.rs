//! [`Entry`]: what the rollup cache keeps of one (profile, series) pair —
//! its committed all-time accumulator and its day buckets from a day on,
//! in [`Compact`] form.
//!
//! No active-days bitmap is kept per bucket or folded per event: a bucket's
//! active day is its own once it counts an event, and the all-time days are
//! the buckets' days plus the few that have no bucket here (days before
//! the entry's first, or whose bucket retention folded away), kept apart.
//! Folding an event touches no bitmap; reading the all-time days (only
//! all-time active-days conditions do) rebuilds them.

use roaring::RoaringBitmap;

use crate::rollup::acc::{day_bit, Acc};
use crate::rollup::compact::Compact;
use crate::rollup::contribution::Contribution;

/// One (profile, series) pair: its committed all-time accumulator and its
/// day buckets with `day >= from`.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The first day whose bucket is here (when it exists).
    pub from: i64,
    /// The all-time accumulator, without its active days.
    all: Compact,
    /// The all-time active days that have no bucket here.
    other_days: RoaringBitmap,
    /// The day buckets, ascending, each without its active day (see
    /// [`day_bit`]); room for one more (today's, when it comes).
    days: Vec<(i64, Compact)>,
}

impl Entry {
    /// The entry of the stored all-time accumulator `all` and the stored
    /// buckets `days` with `day >= from`.
    pub fn new(mut all: Acc, from: i64, days: Vec<(i64, Acc)>) -> Entry {
        let mut other_days = std::mem::take(&mut all.days);
        let mut buckets = Vec::with_capacity(days.len() + 1);
        for (d, a) in days {
            if a.count > 0 {
                other_days.remove(day_bit(d));
            }
            buckets.push((d, Compact::of(a)));
        }
        Entry { from, all: Compact::of(all), other_days, days: buckets }
    }

    /// The all-time accumulator, as stored.
    pub fn all(&self) -> Acc {
        let mut acc = self.all.to_acc();
        acc.days = self.all_days();
        acc
    }

    /// What [`Acc::summary`] of the all-time accumulator reads: no value
    /// frequencies; the active days only when `days` asks.
    pub fn all_time(&self, days: bool) -> Acc {
        let mut acc = self.all.summary();
        if days {
            acc.days = self.all_days();
        }
        acc
    }

    fn all_days(&self) -> RoaringBitmap {
        let mut days = self.other_days.clone();
        days.extend(self.days.iter().filter(|(_, a)| a.count() > 0).map(|(d, _)| day_bit(*d)));
        days
    }

    /// The buckets with `from <= day <= to`.
    fn range(&self, from: i64, to: i64) -> &[(i64, Compact)] {
        let start = self.days.partition_point(|(d, _)| *d < from);
        let end = self.days.partition_point(|(d, _)| *d <= to);
        self.days.get(start..end.max(start)).unwrap_or_default()
    }

    /// The day buckets as stored, ascending (for `check`).
    pub fn buckets(&self) -> Vec<(i64, Acc)> {
        let restored = |(d, a): &(i64, Compact)| {
            let mut acc = a.to_acc();
            if acc.count > 0 {
                acc.days.insert(day_bit(*d));
            }
            (*d, acc)
        };
        self.days.iter().map(restored).collect()
    }

    /// The fold of the buckets with `from <= day <= to`, when the entry
    /// holds that range.
    pub fn window(&self, from: i64, to: i64) -> Option<Acc> {
        (from >= self.from).then(|| {
            let mut acc = Acc::default();
            for (d, a) in self.range(from, to) {
                a.fold_into(&mut acc);
                if a.count() > 0 {
                    acc.days.insert(day_bit(*d));
                }
            }
            acc
        })
    }

    /// Appends the buckets with `from <= day <= to` (as summaries: no
    /// values, no days) to `out`, when the entry holds that range.
    pub fn copy_days(&self, from: i64, to: i64, out: &mut Vec<(i64, Acc)>) -> bool {
        let held = from >= self.from;
        if held {
            out.extend(self.range(from, to).iter().map(|(d, a)| (*d, a.summary())));
        }
        held
    }

    /// Folds one event's contribution in.
    pub fn fold(&mut self, c: &Contribution) {
        self.all.update(|a| a.fold_contribution(c, false));
        let day = c.day();
        if day < self.from {
            self.other_days.insert(day_bit(day));
            return;
        }
        let at = self.days.partition_point(|(d, _)| *d < day);
        if self.days.get(at).is_none_or(|(d, _)| *d != day) {
            self.days.insert(at, (day, Compact::default()));
        }
        if let Some((_, bucket)) = self.days.get_mut(at) {
            bucket.update(|a| a.fold_contribution(c, false));
        }
    }

    /// A word read from the entry's inline part and its latest bucket (see
    /// [`RollupCache::touch`](crate::rollup::cache::RollupCache::touch)).
    pub fn reach(&self) -> u64 {
        self.all.count() ^ self.days.last().map_or(0, |(_, a)| a.count())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    const DAY: i64 = Timestamp::DAY;

    fn at(day: i64, number: f64, key: &str) -> Contribution {
        Contribution { time: day * DAY + 5, number: Some(number), key: Some(key.to_owned()) }
    }

    /// An entry loaded from what `stored` folds to (buckets from `from`),
    /// and the plain accumulators it stands for.
    fn loaded(stored: &[Contribution], from: i64) -> (Entry, Acc, Vec<(i64, Acc)>) {
        let mut all = Acc::default();
        let mut days: Vec<(i64, Acc)> = Vec::new();
        for c in stored {
            all.fold_contribution(c, true);
            match days.iter_mut().find(|(d, _)| *d == c.day()) {
                Some((_, a)) => a.fold_contribution(c, true),
                None => {
                    let mut a = Acc::default();
                    a.fold_contribution(c, true);
                    days.push((c.day(), a));
                }
            }
        }
        days.sort_by_key(|(d, _)| *d);
        let held = days.iter().filter(|(d, _)| *d >= from).cloned().collect();
        (Entry::new(all.clone(), from, held), all, days)
    }

    #[test]
    fn it_reads_back_the_stored_accumulators_as_events_fold_in() {
        let stored = [at(10, 1.0, "a"), at(3, 2.0, "b"), at(12, 3.0, "a"), at(12, 4.0, "c")];
        let (mut entry, mut all, mut days) = loaded(&stored, 10);
        assert_eq!(entry.all(), all);
        assert_eq!(entry.buckets(), days[1..].to_vec());
        // A late event before the entry's first day, one on a held day, one on a new day.
        for c in [at(1, 5.0, "d"), at(10, 6.0, "a"), at(15, 7.0, "e")] {
            entry.fold(&c);
            all.fold_contribution(&c, true);
            match days.iter_mut().find(|(d, _)| *d == c.day()) {
                Some((_, a)) => a.fold_contribution(&c, true),
                None => {
                    let mut a = Acc::default();
                    a.fold_contribution(&c, true);
                    days.push((c.day(), a));
                    days.sort_by_key(|(d, _)| *d);
                }
            }
        }
        assert_eq!(entry.all(), all, "all time, active days from buckets and the days before them");
        assert_eq!(all.days.len(), 5);
        assert_eq!(entry.all_time(true), all.summary(true));
        assert_eq!(entry.all_time(false), all.summary(false));
        let held: Vec<(i64, Acc)> = days.iter().filter(|(d, _)| *d >= 10).cloned().collect();
        assert_eq!(entry.buckets(), held);
        // A window folds the buckets it covers, days and values included.
        let mut window = Acc::default();
        held.iter().filter(|(d, _)| *d <= 12).for_each(|(_, a)| window.fold(a));
        assert_eq!(entry.window(10, 12), Some(window));
        assert_eq!(entry.window(9, 12), None, "before the entry's first day");
        let mut copied = Vec::new();
        assert!(entry.copy_days(12, 20, &mut copied));
        let summaries: Vec<(i64, Acc)> = held[1..].iter().map(|(d, a)| (*d, a.summary(false))).collect();
        assert_eq!(copied, summaries);
    }

    #[test]
    fn a_day_whose_bucket_is_gone_stays_an_active_day() {
        // Stored: all time knows days 10 and 11, but only day 11 has a
        // bucket (retention folded day 10's away).
        let (_, all, days) = loaded(&[at(10, 1.0, "a"), at(11, 2.0, "a")], 0);
        let entry = Entry::new(all.clone(), 0, days[1..].to_vec());
        assert_eq!(entry.all(), all);
        assert_eq!(entry.all_time(true).days.len(), 2);
    }
}
