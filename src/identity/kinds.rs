//! [`KindCounts`]: how many identifiers of each kind a profile has — kept
//! in its record (format 5) so the identity rules' per-kind limits are
//! checked without listing the profile's identifiers.

use compact_str::CompactString;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::identity::identifier::Identifier;

/// Identifier counts by kind, sorted by kind; kinds with no identifier are
/// absent. Stored in [`ProfileRecord`](crate::profile::state::ProfileRecord)
/// as bincode `Vec<(String, u32)>` (kinds are held inline, and the first
/// two counts inside the value itself: a clone of a cached record's counts
/// follows no pointer — one cache miss less per identify at 1M profiles).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KindCounts(SmallVec<[(CompactString, u32); 2]>);

impl KindCounts {
    /// Counts `identifiers` by kind.
    pub fn of<'a>(identifiers: impl IntoIterator<Item = &'a Identifier>) -> Self {
        let mut c = KindCounts::default();
        for i in identifiers {
            c.add(i.kind(), 1);
        }
        c
    }

    /// The number of identifiers of `kind`.
    pub fn get(&self, kind: &str) -> usize {
        self.position(kind).map_or(0, |i| self.0[i].1 as usize)
    }

    /// Adds `n` (negative: removes) identifiers of `kind`. A count never
    /// goes below zero; a kind whose count reaches zero is dropped.
    pub fn add(&mut self, kind: &str, n: i64) {
        match self.position(kind) {
            Ok(i) => {
                let next = (i64::from(self.0[i].1) + n).clamp(0, i64::from(u32::MAX)) as u32;
                if next == 0 {
                    self.0.remove(i);
                } else {
                    self.0[i].1 = next;
                }
            }
            Err(i) if n > 0 => self.0.insert(i, (CompactString::from(kind), n.min(i64::from(u32::MAX)) as u32)),
            Err(_) => {}
        }
    }

    /// Adds every count of `other`.
    pub fn add_all(&mut self, other: &KindCounts) {
        for (k, n) in other.iter() {
            self.add(k, n as i64);
        }
    }

    /// The kinds and their counts, sorted by kind.
    pub fn iter(&self) -> impl Iterator<Item = (&str, usize)> + '_ {
        self.0.iter().map(|(k, n)| (k.as_str(), *n as usize))
    }

    /// The number of identifiers of every kind.
    pub fn total(&self) -> usize {
        self.0.iter().map(|(_, n)| *n as usize).sum()
    }

    fn position(&self, kind: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(kind))
    }
}

/// Staged changes of identifier counts, by kind (an operation's links moved
/// on and off one profile).
#[derive(Clone, Debug, Default)]
pub(crate) struct KindDelta(Vec<(CompactString, i64)>);

impl KindDelta {
    /// Records `n` more (negative: fewer) identifiers of `kind`.
    pub fn add(&mut self, kind: &str, n: i64) {
        match self.0.iter_mut().find(|(k, _)| k == kind) {
            Some((_, m)) => *m += n,
            None => self.0.push((CompactString::from(kind), n)),
        }
    }

    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|(_, n)| *n == 0)
    }

    /// Applies this change to `counts`.
    pub fn apply_to(&self, counts: &mut KindCounts) {
        for (k, n) in &self.0 {
            counts.add(k, *n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Identifier {
        s.parse().unwrap()
    }

    #[test]
    fn counts_stay_sorted_and_drop_kinds_that_reach_zero() {
        let mut c = KindCounts::of(&[id("email:a@x.com"), id("user_id:1"), id("email:b@x.com")]);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![("email", 2), ("user_id", 1)]);
        c.add("device_id", 3);
        assert_eq!(c.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec!["device_id", "email", "user_id"]);
        c.add("user_id", -1);
        assert_eq!(c.get("user_id"), 0);
        assert_eq!(c.iter().count(), 2);
        c.add("phone", -2);
        assert_eq!(c.get("phone"), 0, "a count never goes below zero");
        assert_eq!(c.total(), 5);
    }

    #[test]
    fn serializes_as_the_string_vector_did() {
        let c = KindCounts::of(&[id("email:a@x.com"), id("a_kind_name_longer_than_24_bytes:1"), id("email:b@x.com")]);
        let plain: Vec<(String, u32)> = c.iter().map(|(k, n)| (k.to_owned(), n as u32)).collect();
        let cfg = bincode::config::standard();
        let ours = bincode::serde::encode_to_vec(&c, cfg).unwrap();
        assert_eq!(ours, bincode::serde::encode_to_vec(&plain, cfg).unwrap(), "the stored layout changed");
        let (back, _): (KindCounts, usize) = bincode::serde::decode_from_slice(&ours, cfg).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn a_delta_applies_gains_and_losses() {
        let base = KindCounts::of(&[id("email:a@x.com"), id("user_id:1")]);
        let mut d = KindDelta::default();
        d.add("email", 1);
        d.add("user_id", -1);
        d.add("email", 1);
        assert!(!d.is_empty());
        let mut c = base.clone();
        d.apply_to(&mut c);
        assert_eq!(c.iter().collect::<Vec<_>>(), vec![("email", 3)]);
        let mut none = KindDelta::default();
        none.add("email", 1);
        none.add("email", -1);
        assert!(none.is_empty());
    }
}
