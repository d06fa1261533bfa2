//! [`MergeRules`]: how traits fold when two profiles merge.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::profile::traits::{TraitEntry, Traits};
use crate::profile::value::TraitValue;

/// How one trait folds when two profiles merge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MergeStrategy {
    /// The value written last (by its update time) wins; on a tie, the survivor's.
    LastWriteWins,
    /// The value written first wins; on a tie, the survivor's.
    FirstWriteWins,
    /// Numbers add up: two integers exactly, as an integer (a sum past
    /// `i64` refuses the merge with an error naming the trait); with a
    /// float on either side, as a float. If either side is not a number,
    /// or a float sum is not finite (past `f64::MAX`), last-write-wins.
    Sum,
    /// Lists unite (survivor's order first); otherwise last-write-wins.
    Union,
}

/// The merge strategy of every trait: a default and per-trait overrides.
///
/// ```
/// use profiledb::{MergeRules, MergeStrategy};
/// let rules = MergeRules::default().trait_strategy("lifetime_value", MergeStrategy::Sum);
/// assert_eq!(rules.strategy("lifetime_value"), MergeStrategy::Sum);
/// assert_eq!(rules.strategy("plan"), MergeStrategy::LastWriteWins);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct MergeRules {
    /// The strategy of traits without an override.
    pub default: MergeStrategy,
    /// Overrides by trait name.
    pub per_trait: BTreeMap<String, MergeStrategy>,
}

impl Default for MergeRules {
    fn default() -> Self {
        MergeRules { default: MergeStrategy::LastWriteWins, per_trait: BTreeMap::new() }
    }
}

impl MergeRules {
    /// Sets the strategy of one trait.
    pub fn trait_strategy(mut self, name: &str, s: MergeStrategy) -> Self {
        self.per_trait.insert(name.to_owned(), s);
        self
    }

    /// The strategy of a trait.
    pub fn strategy(&self, name: &str) -> MergeStrategy {
        self.per_trait.get(name).copied().unwrap_or(self.default)
    }

    /// Folds `loser` into `survivor`. A loser trait that would break the
    /// nesting rule against a survivor trait is dropped (the survivor's
    /// shape wins). A `Sum` of two integers past `i64`, or a result past a
    /// limit — more than
    /// [`MAX_TRAITS`](crate::profile::traits::MAX_TRAITS) traits, or a
    /// `Union` list longer than
    /// [`MAX_LIST_LEN`](crate::profile::value::MAX_LIST_LEN) — is an
    /// error naming the trait: nothing of either profile is dropped
    /// silently.
    pub fn fold(&self, survivor: &Traits, loser: &Traits) -> Result<Traits> {
        let mut out = survivor.clone();
        for (name, theirs) in loser.iter() {
            let merged = match out.entry(name) {
                None => theirs.clone(),
                Some(ours) => fold_entry(self.strategy(name), name, ours, theirs)?,
            };
            if out.entry(name).is_some() {
                out.insert_entry(name, merged);
            } else {
                match out.insert(name, merged.value, merged.updated_at) {
                    // A nesting conflict: the loser's trait is dropped.
                    Ok(()) | Err(Error::InvalidTraitName { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }
}

fn fold_entry(strategy: MergeStrategy, name: &str, ours: &TraitEntry, theirs: &TraitEntry) -> Result<TraitEntry> {
    let lww = || if theirs.updated_at > ours.updated_at { theirs.clone() } else { ours.clone() };
    let at = ours.updated_at.max(theirs.updated_at);
    Ok(match strategy {
        MergeStrategy::LastWriteWins => lww(),
        MergeStrategy::FirstWriteWins => {
            if theirs.updated_at < ours.updated_at {
                theirs.clone()
            } else {
                ours.clone()
            }
        }
        MergeStrategy::Sum => match (&ours.value, &theirs.value) {
            // Integers sum exactly; a sum past i64 is refused (a float
            // would round it).
            (TraitValue::Int(a), TraitValue::Int(b)) => match a.checked_add(*b) {
                Some(s) => TraitEntry { value: TraitValue::Int(s), updated_at: at },
                None => {
                    return Err(Error::InvalidTraitValue {
                        name: name.to_owned(),
                        reason: format!("the sum of the two profiles' integers {a} and {b} overflows a 64-bit integer"),
                    })
                }
            },
            // With a float on either side the sum is a float.
            (a, b) => match (a.as_f64(), b.as_f64()) {
                // A sum past f64::MAX is not a trait value: last write wins then.
                (Some(x), Some(y)) if (x + y).is_finite() => {
                    TraitEntry { value: TraitValue::Float(x + y), updated_at: at }
                }
                _ => lww(),
            },
        },
        MergeStrategy::Union => match (&ours.value, &theirs.value) {
            (TraitValue::List(a), TraitValue::List(b)) => {
                let mut l = a.clone();
                l.extend(b.iter().filter(|v| !a.contains(v)).cloned());
                let max = crate::profile::value::MAX_LIST_LEN;
                if l.len() > max {
                    return Err(Error::InvalidTraitValue {
                        name: name.to_owned(),
                        reason: format!(
                            "the union of the two profiles' lists holds {} values, more than {max}",
                            l.len()
                        ),
                    });
                }
                TraitEntry { value: TraitValue::List(l), updated_at: at }
            }
            _ => lww(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    fn traits(items: &[(&str, TraitValue, i64)]) -> Traits {
        let mut t = Traits::new();
        for (n, v, at) in items {
            t.insert(n, v.clone(), Timestamp(*at)).unwrap();
        }
        t
    }

    #[test]
    fn each_strategy_folds_as_documented() {
        let rules = MergeRules::default()
            .trait_strategy("first", MergeStrategy::FirstWriteWins)
            .trait_strategy("ltv", MergeStrategy::Sum)
            .trait_strategy("tags", MergeStrategy::Union);
        let s = traits(&[
            ("plan", "free".into(), 1),
            ("first", "s".into(), 5),
            ("ltv", 10.into(), 1),
            ("tags", vec!["a".to_string()].into(), 1),
        ]);
        let l = traits(&[
            ("plan", "pro".into(), 2),
            ("first", "l".into(), 3),
            ("ltv", 2.5.into(), 1),
            ("tags", vec!["b".to_string(), "a".to_string()].into(), 1),
            ("only_loser", true.into(), 1),
        ]);
        let m = rules.fold(&s, &l).unwrap();
        assert_eq!(m.get("plan"), Some(&"pro".into()));
        assert_eq!(m.get("first"), Some(&"l".into()));
        assert_eq!(m.get("ltv"), Some(&TraitValue::Float(12.5)));
        assert_eq!(m.get("tags"), Some(&TraitValue::List(vec!["a".into(), "b".into()])));
        assert_eq!(m.get("only_loser"), Some(&true.into()));
    }

    #[test]
    fn a_sum_past_the_largest_float_falls_back_to_last_write_wins() {
        let rules = MergeRules::default().trait_strategy("x", MergeStrategy::Sum);
        let s = traits(&[("x", f64::MAX.into(), 1)]);
        let l = traits(&[("x", f64::MAX.into(), 2)]);
        let m = rules.fold(&s, &l).unwrap();
        assert_eq!(m.get("x"), Some(&TraitValue::Float(f64::MAX)));
        assert_eq!(m.entry("x").map(|e| e.updated_at), Some(Timestamp(2)), "the later write wins");
    }

    #[test]
    fn an_integer_sum_past_i64_is_refused_naming_the_trait() {
        let rules = MergeRules::default().trait_strategy("x", MergeStrategy::Sum);
        let s = traits(&[("x", i64::MAX.into(), 1)]);
        let l = traits(&[("x", 1.into(), 2)]);
        let err = rules.fold(&s, &l).expect_err("an overflowing integer sum");
        assert!(matches!(&err, Error::InvalidTraitValue { name, .. } if name == "x"), "{err}");
        let big = traits(&[("x", ((1i64 << 53) + 1).into(), 1)]);
        let m = rules.fold(&big, &traits(&[("x", 1.into(), 2)])).unwrap();
        assert_eq!(m.get("x"), Some(&TraitValue::Int((1 << 53) + 2)), "integer sums stay exact");
    }

    #[test]
    fn ties_keep_the_survivor_and_nesting_conflicts_drop_the_loser() {
        let s = traits(&[("plan", "free".into(), 1), ("a", 1.into(), 1)]);
        let l = traits(&[("plan", "pro".into(), 1), ("a.b", 2.into(), 1)]);
        let m = MergeRules::default().fold(&s, &l).unwrap();
        assert_eq!(m.get("plan"), Some(&"free".into()));
        assert!(m.get("a.b").is_none());
    }
}
