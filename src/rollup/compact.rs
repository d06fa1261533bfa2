//! [`Compact`]: an accumulator without its active-days bitmap, as the
//! rollup cache holds its buckets — the statistics in 80 bytes inline (a
//! sum of up to two partials included), the value frequencies (only
//! series that keep values have any) behind one pointer.
//!
//! An [`Acc`] is 160 bytes: options of 16 bytes each and two collections
//! (the active days, the value frequencies) that are empty in a cached day
//! bucket (a bucket's active day is its own) and in most series. A cached
//! entry keeps tens of buckets, and on a large database every read of them
//! misses the CPU caches: the bytes a bucket takes are the lines a window
//! read loads. Everything folds through [`Acc`] (converted on the stack,
//! no allocation for a sum of up to two partials), so the arithmetic stays
//! in one place.

use std::collections::BTreeMap;

use crate::rollup::acc::Acc;
use crate::rollup::exact_sum::ExactSum;

/// What [`Acc::fold_counts`] folds: counts, sum, extremes and times, with
/// the options' presence in one byte.
#[derive(Clone, Debug, Default)]
struct Stats {
    count: u64,
    numeric: u64,
    sum: ExactSum,
    min: f64,
    max: f64,
    first: i64,
    last: i64,
    /// Which of `min`, `max`, `first` and `last` are present.
    present: u8,
}

const MIN: u8 = 1;
const MAX: u8 = 2;
const FIRST: u8 = 4;
const LAST: u8 = 8;

impl Stats {
    /// The statistics of `a`, its sum moved out.
    fn take(a: &mut Acc) -> Stats {
        let flag = |present: bool, bit: u8| if present { bit } else { 0 };
        Stats {
            count: a.count,
            numeric: a.numeric,
            sum: std::mem::take(&mut a.sum),
            min: a.min.unwrap_or_default(),
            max: a.max.unwrap_or_default(),
            first: a.first.unwrap_or_default(),
            last: a.last.unwrap_or_default(),
            present: flag(a.min.is_some(), MIN)
                | flag(a.max.is_some(), MAX)
                | flag(a.first.is_some(), FIRST)
                | flag(a.last.is_some(), LAST),
        }
    }

    /// The statistics as an accumulator (no days, no values).
    fn acc(&self) -> Acc {
        self.clone().into_acc()
    }

    /// [`acc`](Self::acc), the sum moved rather than copied.
    fn into_acc(self) -> Acc {
        let has = |bit: u8| self.present & bit != 0;
        Acc {
            count: self.count,
            numeric: self.numeric,
            sum: self.sum,
            min: has(MIN).then_some(self.min),
            max: has(MAX).then_some(self.max),
            first: has(FIRST).then_some(self.first),
            last: has(LAST).then_some(self.last),
            ..Acc::default()
        }
    }
}

/// Value frequencies and whether they overflowed.
type Values = (BTreeMap<String, u64>, bool);

/// An accumulator without its active days (see the module docs).
#[derive(Clone, Debug, Default)]
pub(crate) struct Compact {
    stats: Stats,
    /// `None` while there are none and no overflow.
    values: Option<Box<Values>>,
}

impl Compact {
    /// `acc` without its active days.
    pub fn of(mut acc: Acc) -> Compact {
        let stats = Stats::take(&mut acc);
        let values = (!acc.values.is_empty() || acc.overflow).then(|| Box::new((acc.values, acc.overflow)));
        Compact { stats, values }
    }

    /// The number of events.
    pub fn count(&self) -> u64 {
        self.stats.count
    }

    /// The accumulator, without active days.
    pub fn to_acc(&self) -> Acc {
        let mut acc = self.stats.acc();
        if let Some(v) = &self.values {
            (acc.values, acc.overflow) = (v.0.clone(), v.1);
        }
        acc
    }

    /// [`Acc::summary`]`(false)` of the accumulator: no values.
    pub fn summary(&self) -> Acc {
        self.stats.acc()
    }

    /// Folds the accumulator into `acc`, as `acc.fold(&self.to_acc())`
    /// does, without copying the values.
    pub fn fold_into(&self, acc: &mut Acc) {
        acc.fold_counts(&self.stats.acc());
        if let Some(v) = &self.values {
            acc.fold_value_counts(&v.0, v.1);
        }
    }

    /// Changes the accumulator through `f`; active days `f` adds are
    /// dropped. The value map moves in and out of its box in place.
    pub fn update(&mut self, f: impl FnOnce(&mut Acc)) {
        let mut acc = std::mem::take(&mut self.stats).into_acc();
        if let Some(v) = &mut self.values {
            (acc.values, acc.overflow) = (std::mem::take(&mut v.0), v.1);
        }
        f(&mut acc);
        self.stats = Stats::take(&mut acc);
        match &mut self.values {
            Some(v) => **v = (acc.values, acc.overflow),
            None if !acc.values.is_empty() || acc.overflow => self.values = Some(Box::new((acc.values, acc.overflow))),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rollup::contribution::Contribution;

    /// `acc` without its active days (what a [`Compact`] keeps).
    fn dayless(acc: &Acc) -> Acc {
        Acc { days: Default::default(), ..acc.clone() }
    }

    fn contribution(time: i64, number: Option<i8>, key: Option<u8>) -> Contribution {
        Contribution { time, number: number.map(f64::from), key: key.map(|k| format!("v{k}")) }
    }

    fn contributions() -> impl Strategy<Value = Vec<Contribution>> {
        let one = (-5_000_000_000i64..5_000_000_000, any::<Option<i8>>(), proptest::option::of(0u8..20));
        proptest::collection::vec(one.prop_map(|(t, n, k)| contribution(t, n, k)), 0..30)
    }

    #[test]
    fn it_is_statistics_and_a_pointer() {
        assert_eq!(std::mem::size_of::<ExactSum>(), 24, "two partials inline");
        assert_eq!(std::mem::size_of::<Stats>(), 80);
        assert_eq!(std::mem::size_of::<Compact>(), 88);
    }

    proptest! {
        /// Folding events into a compact accumulator, reading it back,
        /// summarizing it and folding it elsewhere all agree with the
        /// plain accumulator's, days aside; a field the conversion lost
        /// (an extreme, a time, the overflow) makes them differ.
        #[test]
        fn it_folds_and_reads_back_as_the_accumulator_does(cs in contributions(), split in 0usize..30) {
            let (mut plain, mut compact) = (Acc::default(), Compact::default());
            for c in &cs {
                plain.fold_contribution(c, true);
                compact.update(|a| a.fold_contribution(c, true));
            }
            prop_assert_eq!(compact.to_acc(), dayless(&plain));
            prop_assert_eq!(compact.count(), plain.count);
            prop_assert_eq!(compact.summary(), plain.summary(false));
            prop_assert_eq!(Compact::of(plain.clone()).to_acc(), dayless(&plain));
            // Folded into another accumulator, as a bucket into a window.
            let (head, _) = cs.split_at(split.min(cs.len()));
            let mut into = Acc::default();
            head.iter().for_each(|c| into.fold_contribution(c, false));
            let mut expected = into.clone();
            expected.fold(&dayless(&plain));
            compact.fold_into(&mut into);
            prop_assert_eq!(into, expected);
        }
    }

    #[test]
    fn an_overflowed_value_set_stays_overflowed() {
        let mut compact = Compact::default();
        for i in 0..(crate::rollup::MAX_UNIQUE_VALUES + 3) {
            compact.update(|a| a.fold_contribution(&contribution(0, None, None), false));
            compact.update(|a| a.fold_value_counts(&BTreeMap::from([(format!("k{i:05}"), 1)]), false));
        }
        let acc = compact.to_acc();
        assert!(acc.overflow);
        assert_eq!(acc.values.len(), crate::rollup::MAX_UNIQUE_VALUES);
        assert_eq!(Compact::of(acc.clone()).to_acc(), acc);
        let empty_overflowed = Acc { overflow: true, ..Acc::default() };
        assert_eq!(Compact::of(empty_overflowed.clone()).to_acc(), empty_overflowed);
    }
}
