//! [`Acc`]: the accumulator stored per (profile, series, bucket), folded
//! by RocksDB's merge operator so ingest never reads before it writes.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::event::Event;
use crate::rollup::contribution::Contribution;
use crate::rollup::exact_sum::ExactSum;

/// The most distinct values a series keeps per bucket. Past it the bucket
/// keeps the 1,000 smallest values (in byte order), each with its exact
/// count, and is marked as overflowed: unique counts become lower bounds
/// and the most frequent value unknown. Keeping the smallest (not the
/// first to arrive) makes the fold order-independent: a value among the
/// smallest of all is among the smallest of every part, so it is never
/// dropped on the way and its count is exact whatever the order.
pub const MAX_UNIQUE_VALUES: usize = 1_000;

/// Everything a series knows about one bucket (or all time): count, sum,
/// extremes, first and last time, active days, and value frequencies.
/// Folding is associative and commutative, so late, out-of-order and
/// merged events give the same result in any order — the sum included: it
/// is kept exactly ([`ExactSum`]) and reported correctly rounded.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Acc {
    /// Number of events.
    pub count: u64,
    /// Number of events that carried a numeric value.
    pub numeric: u64,
    /// Sum of numeric values, kept exactly: [`ExactSum::value`] is the
    /// same `f64` whatever the order and grouping of the folds.
    pub sum: ExactSum,
    /// Smallest numeric value.
    pub min: Option<f64>,
    /// Largest numeric value.
    pub max: Option<f64>,
    /// Earliest event time (ms).
    pub first: Option<i64>,
    /// Latest event time (ms).
    pub last: Option<i64>,
    /// Days (since the epoch, offset by 2^31) with at least one event.
    pub days: RoaringBitmap,
    /// Value → number of events with it.
    pub values: BTreeMap<String, u64>,
    /// Whether `values` stopped accepting new values.
    pub overflow: bool,
}

/// Up to this many active days are folded day by day.
const SMALL_DAY_SET: u64 = 8;

/// Maps a day number to a bitmap index (days before 1970 are allowed).
fn day_index(t: Timestamp) -> u32 {
    day_bit(t.day())
}

/// The bit of `day` in [`Acc::days`]. A day bucket's `days` is exactly its
/// own day's bit once it holds an event (every event's contribution sets
/// the bit of its day).
pub(crate) fn day_bit(day: i64) -> u32 {
    let d = day.clamp(i64::from(i32::MIN), i64::from(i32::MAX));
    (d + (1i64 << 31)) as u32
}

impl Acc {
    /// The contribution of one event; `property` is the series' value path.
    pub fn of_event(event: &Event, property: Option<&str>) -> Acc {
        Acc::of_event_with(event, property, true)
    }

    /// As [`Acc::of_event`]; with `keep_values` false the value frequencies
    /// are left empty (for reads that need only the statistics, such as
    /// window evaluation from a partial day of the timeline).
    pub fn of_event_with(event: &Event, property: Option<&str>, keep_values: bool) -> Acc {
        Contribution::of_event(event, property, keep_values).to_acc()
    }

    /// Folds one event's contribution into `self` (its active day when
    /// `days` asks): the same as folding [`Contribution::to_acc`], without
    /// building it.
    pub(crate) fn fold_contribution(&mut self, c: &Contribution, days: bool) {
        self.fold_contribution_counts(c);
        if days {
            self.days.insert(day_bit(c.day()));
        }
        if let Some(k) = &c.key {
            self.add_value(k, 1);
        }
    }

    /// Folds one event's count, value, extremes and time into `self`, as
    /// [`fold_counts`](Self::fold_counts) of [`Contribution::to_acc`].
    pub(crate) fn fold_contribution_counts(&mut self, c: &Contribution) {
        self.count += 1;
        self.first = opt(self.first, Some(c.time), i64::min);
        self.last = opt(self.last, Some(c.time), i64::max);
        if let Some(x) = c.number {
            self.numeric += 1;
            self.sum.add(x);
            self.min = opt(self.min, Some(x), f64::min);
            self.max = opt(self.max, Some(x), f64::max);
        }
    }

    /// Folds `other` into `self`.
    pub fn fold(&mut self, other: &Acc) {
        self.fold_stats(other);
        self.fold_values(other);
    }

    /// Folds the value frequencies of `other` into `self`.
    fn fold_values(&mut self, other: &Acc) {
        self.fold_value_counts(&other.values, other.overflow);
    }

    /// Folds value frequencies (and whether they overflowed) into `self`,
    /// as [`fold`](Self::fold) folds an accumulator's.
    pub(crate) fn fold_value_counts(&mut self, values: &BTreeMap<String, u64>, overflow: bool) {
        for (k, n) in values {
            self.add_value(k, *n);
        }
        self.overflow |= overflow;
    }

    /// Counts `n` more events with value `k` (within the bound).
    fn add_value(&mut self, k: &str, n: u64) {
        if let Some(m) = self.values.get_mut(k) {
            *m += n;
            return;
        }
        if self.values.len() >= MAX_UNIQUE_VALUES {
            self.overflow = true;
            // Full: `k` goes in only in place of a larger value.
            if self.values.last_key_value().is_some_and(|(last, _)| last.as_str() < k) {
                return;
            }
            self.values.pop_last();
        }
        self.values.insert(k.to_owned(), n);
    }

    /// Folds everything but the value frequencies of `other` into `self`
    /// (reads that need only counts, sums, extremes, times and days).
    pub fn fold_stats(&mut self, other: &Acc) {
        self.fold_counts(other);
        // An event's or a day's contribution holds one day: inserted in
        // place (roaring's `|=` builds a new array container per fold).
        if other.days.len() <= SMALL_DAY_SET {
            for d in &other.days {
                self.days.insert(d);
            }
        } else {
            self.days |= &other.days;
        }
    }

    /// Folds the counts, sums, extremes and times of `other` into `self`:
    /// no active days, no value frequencies (the reads of every metric
    /// but active days, which copy no bitmap then).
    pub fn fold_counts(&mut self, other: &Acc) {
        self.count += other.count;
        self.numeric += other.numeric;
        self.sum.fold(&other.sum);
        self.min = opt(self.min, other.min, f64::min);
        self.max = opt(self.max, other.max, f64::max);
        self.first = opt(self.first, other.first, i64::min);
        self.last = opt(self.last, other.last, i64::max);
    }

    /// Folds what a read of `other` needs: [`fold_stats`](Self::fold_stats)
    /// when it asks for active `days`, else [`fold_counts`](Self::fold_counts).
    pub fn fold_summary(&mut self, other: &Acc, days: bool) {
        if days {
            self.fold_stats(other);
        } else {
            self.fold_counts(other);
        }
    }

    /// A copy of what [`fold_summary`](Self::fold_summary) reads: never the
    /// value frequencies, the active days only when `days` asks.
    pub fn summary(&self, days: bool) -> Acc {
        let mut out = Acc::default();
        out.fold_summary(self, days);
        out
    }

    /// Active days between two instants (inclusive days).
    pub fn active_days_between(&self, from: Timestamp, to: Timestamp) -> u64 {
        self.days.range_cardinality(day_index(from)..=day_index(to))
    }

    /// The most frequent value (ties: the smallest value).
    ///
    /// `None` also when the value set overflowed: the most frequent value
    /// may then be one that was not kept.
    pub fn most_frequent(&self) -> Option<&str> {
        if self.overflow {
            return None;
        }
        self.values.iter().max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0))).map(|(k, _)| k.as_str())
    }
}

fn opt<T: Copy>(a: Option<T>, b: Option<T>, f: impl Fn(T, T) -> T) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::EventKind;
    use crate::Identifier;

    fn ev(t: i64, amount: f64) -> Event {
        let mut e =
            Event::new(EventKind::Track, "purchase", Timestamp(t), vec![Identifier::new("user_id", "u").unwrap()]);
        e.properties.insert("amount", amount);
        e
    }

    #[test]
    fn folding_is_order_independent() {
        let events = [ev(5 * Timestamp::DAY, 10.0), ev(0, 2.5), ev(2 * Timestamp::DAY + 7, 7.0)];
        let mut a = Acc::default();
        for e in &events {
            a.fold(&Acc::of_event(e, Some("amount")));
        }
        let mut b = Acc::default();
        for e in events.iter().rev() {
            b.fold(&Acc::of_event(e, Some("amount")));
        }
        assert_eq!(a, b);
        assert_eq!((a.count, a.sum.value(), a.min, a.max), (3, 19.5, Some(2.5), Some(10.0)));
        assert_eq!((a.first, a.last), (Some(0), Some(5 * Timestamp::DAY)));
        assert_eq!(a.active_days_between(Timestamp(0), Timestamp(10 * Timestamp::DAY)), 3);
        assert_eq!(a.active_days_between(Timestamp(Timestamp::DAY), Timestamp(3 * Timestamp::DAY)), 1);
    }

    /// The review's events (arrival order: 0.01 and 2.2 yesterday, 5.01 the
    /// day before, 19.99 yesterday): folded as they came (the rollup
    /// cache), as day buckets in day order (a cold read) and as a merge
    /// operator groups them, one sum — plain `f64` addition gave
    /// 27.209999999999997 the first way and 27.21 the second.
    #[test]
    fn sums_do_not_depend_on_the_fold_order() {
        let day = |d: i64, x: f64| Acc::of_event(&ev(d * Timestamp::DAY, x), Some("amount"));
        let events = [day(1, 0.01), day(1, 2.2), day(0, 5.01), day(1, 19.99)];
        let mut arrival = Acc::default();
        events.iter().for_each(|a| arrival.fold(a));
        let mut yesterday = Acc::default();
        [&events[0], &events[1], &events[3]].into_iter().for_each(|a| yesterday.fold(a));
        let mut by_day = events[2].clone();
        by_day.fold(&yesterday);
        let mut grouped = Acc::default();
        for pair in [[&events[3], &events[0]], [&events[2], &events[1]]] {
            let mut part = pair[0].clone();
            part.fold(pair[1]);
            grouped.fold(&part);
        }
        for a in [&by_day, &grouped] {
            assert_eq!(a, &arrival);
            assert_eq!(a.sum.value().to_bits(), arrival.sum.value().to_bits(), "{:?} vs {:?}", a.sum, arrival.sum);
        }
        assert_eq!(arrival.sum.value(), 27.209999999999997, "the exact sum, correctly rounded");
    }

    #[test]
    fn numeric_only_contributions_skip_values_and_fold_the_same_stats() {
        let e = ev(3 * Timestamp::DAY, 4.5);
        let lean = Acc::of_event_with(&e, Some("amount"), false);
        let full = Acc::of_event(&e, Some("amount"));
        assert!(lean.values.is_empty());
        assert_eq!(full.values.len(), 1);
        let mut a = Acc::default();
        a.fold_stats(&full);
        assert_eq!(a, lean);
    }

    #[test]
    fn folding_contributions_is_folding_their_accumulators() {
        let (mut plain, mut full, mut with_days, mut counts) =
            (Acc::default(), Acc::default(), Acc::default(), Acc::default());
        for e in [ev(0, 1.0), ev(4 * Timestamp::DAY, 3.0), ev(4 * Timestamp::DAY + 1, 2.0)] {
            let c = Contribution::of_event(&e, Some("amount"), true);
            plain.fold_contribution(&c, false);
            with_days.fold_contribution(&c, true);
            counts.fold_contribution_counts(&c);
            full.fold(&c.to_acc());
        }
        assert_eq!(with_days, full);
        assert_eq!(counts, full.summary(false));
        assert!(plain.days.is_empty());
        assert_eq!(full.days.len(), 2);
        assert_eq!(plain.values.len(), 3);
        assert_eq!(Acc { days: full.days.clone(), ..plain }, full);
    }

    #[test]
    fn counts_are_the_stats_without_active_days() {
        let mut all = Acc::default();
        for e in [ev(0, 1.0), ev(4 * Timestamp::DAY, 3.0), ev(4 * Timestamp::DAY + 1, 2.0)] {
            all.fold(&Acc::of_event(&e, Some("amount")));
        }
        let (counts, stats) = (all.summary(false), all.summary(true));
        assert!(counts.days.is_empty() && counts.values.is_empty());
        assert_eq!(stats.days.len(), 2);
        assert_eq!(Acc { days: stats.days.clone(), ..counts.clone() }, stats);
        assert_eq!((counts.count, counts.sum.value(), counts.min, counts.max), (3, 6.0, Some(1.0), Some(3.0)));
        assert_eq!((counts.first, counts.last), (Some(0), Some(4 * Timestamp::DAY + 1)));
    }

    #[test]
    fn unique_values_are_bounded() {
        let mut a = Acc::default();
        for i in 0..(MAX_UNIQUE_VALUES + 5) {
            a.fold(&Acc::of_event(&ev(0, i as f64), Some("amount")));
        }
        assert_eq!(a.values.len(), MAX_UNIQUE_VALUES);
        assert!(a.overflow);
    }

    /// An accumulator of events whose `sku` values are `skus`.
    fn skus<'a>(skus: impl IntoIterator<Item = &'a str>) -> Vec<Acc> {
        skus.into_iter()
            .map(|v| {
                let mut e = ev(0, 1.0);
                e.properties.insert("sku", v);
                Acc::of_event(&e, Some("sku"))
            })
            .collect()
    }

    /// Past the bound, the kept values and their counts do not depend on
    /// the order (or grouping) of the folds, and the most frequent value
    /// is unknown rather than the most frequent of the values kept.
    #[test]
    fn an_overflowed_value_set_is_order_independent_and_exact_for_what_it_keeps() {
        let names: Vec<String> = (0..MAX_UNIQUE_VALUES + 200).map(|i| format!("v{i:05}")).collect();
        // "v00000" three times, then every value once; "zz" (sorting last) ten times at the end.
        let mut stream: Vec<&str> = vec!["v00000"; 3];
        stream.extend(names.iter().map(String::as_str));
        stream.extend(["zz"; 10]);
        let contributions = skus(stream);
        let fold = |order: &mut dyn Iterator<Item = &Acc>| {
            let mut a = Acc::default();
            order.for_each(|c| a.fold(c));
            a
        };
        let forward = fold(&mut contributions.iter());
        let backward = fold(&mut contributions.iter().rev());
        // Two halves folded apart, then together (as merge operands are).
        let (l, r) = contributions.split_at(contributions.len() / 2);
        let mut grouped = fold(&mut r.iter());
        grouped.fold(&fold(&mut l.iter()));
        for a in [&forward, &backward, &grouped] {
            assert!(a.overflow);
            assert_eq!(a.values.len(), MAX_UNIQUE_VALUES);
            assert_eq!(a.values.keys().next().map(String::as_str), Some("v00000"));
            assert_eq!(a.values.get("v00000"), Some(&4), "a kept value's count is exact");
            assert!(!a.values.contains_key("zz"), "the largest values give way");
            assert_eq!(a.most_frequent(), None, "\"zz\" (10 events) was not kept: the answer is unknown");
        }
        assert_eq!(forward.values, backward.values);
        assert_eq!(forward.values, grouped.values);
        let mut small = Acc::default();
        skus(["b", "a", "b"]).iter().for_each(|c| small.fold(c));
        assert_eq!(small.most_frequent(), Some("b"));
    }
}
