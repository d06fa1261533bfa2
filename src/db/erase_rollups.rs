//! What erase (and anonymize) remove from OTHER profiles' rollup
//! accumulators: the erased identifiers' values that their events brought
//! into value sets (`MostFrequent`, `Unique`: every series with a property
//! keeps its value frequencies) and, for a numeric property equal to an
//! erased identifier's value (a `user_id` of digits), into counts of
//! numbers, sums and extremes. [`erase_refs::scrub_events`] removes those
//! properties from the stored events; this makes the buckets agree.
//!
//! Two cases, by whether the timelines still hold every event of a bucket:
//!
//! - a **day bucket the timelines fully cover** (timelines on, the day on
//!   or after both retention floors — what `check` recomputes) holding an
//!   event the scrub rewrote is recomputed from the day's stored events as
//!   scrubbed and written with a `Put` (which replaces its merge chain):
//!   exact, whatever the aggregate — a filtered series whose filter read a
//!   removed property included;
//! - **any other bucket** (the retired accumulator, a day whose events
//!   timeline retention deleted, every bucket when timelines are off) has
//!   nothing to be recomputed from: the value is taken out of it as stored
//!   ([`forget_values`]), found by a scan of the `rollup` family that
//!   decodes only the values holding an erased identifier's bytes.
//!
//! [`erase_refs::scrub_events`]: super::erase_refs::scrub_events

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::property::PropertyValue;
use crate::event::Event;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::redact::{is_identifier_value, Erased};
use crate::profile::id::ProfileId;
use crate::rollup::contribution::Contribution;
use crate::rollup::retention::NO_FLOOR;
use crate::rollup::Acc;
use crate::schema;
use crate::txn::Txn;

use super::erase_refs::Needles;
use super::erase_scope::Scope;
use super::erase_values::strip_property;

/// A stored event of another profile that the scrub rewrote.
pub(crate) struct Rewritten {
    /// Its `event` key.
    pub key: Vec<u8>,
    /// As stored before.
    pub before: Event,
    /// As it is written back.
    pub after: Event,
}

/// Removes the erased identifiers' values from the rollup accumulators of
/// every profile but the erased ones (see the module documentation):
/// recomputes the covered day buckets of the events in `rewritten`, takes
/// the values out of the others. Stages `Put`s (or a delete, for a bucket
/// no event reaches any more) and drops the cached rollups of the profiles
/// it rewrote. Returns how many buckets it rewrote. Reads the `rollup`
/// keys of `scope`.
pub(crate) fn scrub_rollups(
    txn: &mut Txn<'_>,
    erased: &Erased<'_>,
    rewritten: &[Rewritten],
    scope: &Scope,
) -> Result<u64> {
    if erased.identifiers.is_empty() {
        return Ok(0);
    }
    let covered_from = covered_from(txn);
    // Buckets to write: `None` deletes.
    let mut out: BTreeMap<[u8; 16], Option<Acc>> = BTreeMap::new();
    recompute_covered(txn, rewritten, covered_from, &mut out)?;
    let needles = Needles::of(erased.identifiers)?;
    scope.each(&txn.view, schema::ROLLUPS.name, |k, v| {
        let Some(bucket) = rollup_may_hold(k, v, erased, &needles) else { return Ok(()) };
        // A covered day bucket holds what its stored events say: recomputed
        // above when the scrub rewrote one of them.
        if keys::rollup::bucket_day(bucket).is_some_and(|d| d >= covered_from) {
            return Ok(());
        }
        if let Some(acc) = forgotten(k, v, erased)? {
            let mut key = [0u8; 16];
            key.copy_from_slice(k);
            out.insert(key, Some(acc));
        }
        Ok(())
    })?;
    let mut profiles = BTreeSet::new();
    for (k, acc) in &out {
        match acc {
            Some(acc) => schema::ROLLUPS.put(&mut txn.batch, k, acc),
            None => schema::ROLLUPS.delete(&mut txn.batch, k),
        }
        profiles.extend(keys::parse_profile(k));
    }
    for p in profiles {
        txn.rollups_rewritten(p);
    }
    Ok(out.len() as u64)
}

/// The bucket of accumulator `k`, when it may hold an erased identifier's
/// value: its bytes hold one, and it is not an erased profile's (those
/// are deleted whole).
pub(crate) fn rollup_may_hold(k: &[u8], v: &[u8], erased: &Erased<'_>, needles: &Needles) -> Option<[u8; 8]> {
    if !needles.found_in(v) {
        return None;
    }
    let (p, _, bucket) = keys::rollup::parse(k)?;
    (!erased.profiles.contains(&p)).then_some(bucket)
}

/// Accumulator `k` without the erased identifiers' values
/// ([`forget_values`]), if that changes it.
pub(crate) fn forgotten(k: &[u8], v: &[u8], erased: &Erased<'_>) -> Result<Option<Acc>> {
    let mut acc = schema::ROLLUPS.decode(k, v)?;
    Ok(forget_values(&mut acc, erased.identifiers).then_some(acc))
}

/// The first day whose events the timelines all still hold (as `check`
/// computes it): on or after both retention floors; never, with timelines
/// off.
fn covered_from(txn: &Txn<'_>) -> i64 {
    if txn.core.config.timeline_retention_ms <= 0 {
        return i64::MAX;
    }
    let floors = &txn.core.retention;
    let t = match floors.timeline_ms() {
        NO_FLOOR => NO_FLOOR,
        t => t.div_euclid(Timestamp::DAY) + i64::from(t.rem_euclid(Timestamp::DAY) != 0),
    };
    t.max(floors.bucket_day())
}

/// Recomputes, from the day's stored events with the rewritten ones as
/// rewritten, every covered day bucket to which a rewritten event
/// contributed differently (its value, its number, or whether it passes
/// the series' filter), into `out`.
fn recompute_covered(
    txn: &Txn<'_>,
    rewritten: &[Rewritten],
    covered_from: i64,
    out: &mut BTreeMap<[u8; 16], Option<Acc>>,
) -> Result<()> {
    let series = txn.core.rollups.read().series.clone();
    let mut days: BTreeMap<(ProfileId, i64), BTreeSet<u32>> = BTreeMap::new();
    for r in rewritten {
        let Some(p) = keys::parse_profile(&r.key) else { continue };
        let day = r.before.timestamp.day();
        if day < covered_from {
            continue;
        }
        for (id, s) in series.iter().enumerate() {
            if s.event != r.before.name {
                continue;
            }
            let of = |e: &Event| s.matches(e).then(|| Contribution::of_event(e, s.property.as_deref(), true));
            if of(&r.before) != of(&r.after) {
                days.entry((p, day)).or_default().insert(id as u32);
            }
        }
    }
    let after: HashMap<&[u8], &Event> = rewritten.iter().map(|r| (r.key.as_slice(), &r.after)).collect();
    for ((p, day), ids) in days {
        let mut accs: Vec<(u32, Acc)> = ids.into_iter().map(|id| (id, Acc::default())).collect();
        let from = keys::event_from(p, day.saturating_mul(Timestamp::DAY));
        let to = keys::event_from(p, day.saturating_add(1).saturating_mul(Timestamp::DAY));
        for kv in txn.view.range(schema::EVENTS.name, &from, Some(&to))? {
            let (k, v) = kv?;
            let stored;
            let e = match after.get(&*k) {
                Some(e) => *e,
                None => {
                    stored = schema::EVENTS.decode(&k, &v)?;
                    &stored
                }
            };
            for (id, acc) in &mut accs {
                // Ids come from enumerating `series`.
                let Some(s) = series.get(*id as usize) else { continue };
                if s.matches(e) {
                    acc.fold(&Acc::of_event(e, s.property.as_deref()));
                }
            }
        }
        for (id, acc) in accs {
            out.insert(keys::rollup::day(p, id, day), (acc.count > 0).then_some(acc));
        }
    }
    Ok(())
}

/// What the scrub does to the events behind value key `k`: `None` keeps
/// them as they are; `Some(None)` removes the property (its value is an
/// erased identifier's); `Some(Some(new))`, a list or object losing such
/// members, gives them the key `new`.
fn scrubbed_key(k: &str, idents: &HashSet<Identifier>) -> Option<Option<String>> {
    if is_identifier_value(k, idents) {
        return Some(None);
    }
    if !(k.starts_with('[') || k.starts_with('{')) {
        return None;
    }
    let v = PropertyValue::from_json(&serde_json::from_str::<serde_json::Value>(k).ok()?);
    // Integers too, as in an event that named the person.
    let new = strip_property(&v, idents, true)?;
    (new != v).then(|| Some(new.value_key().into_owned()))
}

/// The number a value key stands for, when it is written as one (a JSON
/// number: what an integer or float property's key is).
fn key_number(k: &str) -> Option<f64> {
    let numeric = |b: u8| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E');
    if k.is_empty() || !k.bytes().all(numeric) {
        return None;
    }
    k.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// Takes the erased identifiers' values out of a stored accumulator, as
/// the scrub takes them out of its events: returns whether it changed.
///
/// - The value set loses every value that is an erased identifier's
///   (exactly: a kept value's count is exact); a list or object value
///   loses such members (its count moves to the scrubbed value's key).
/// - The events stay counted (count, first, last and active days do not
///   change): only their property went.
/// - A removed value written as an integer was a number when the set did
///   not overflow and holds as many number-like values as the accumulator
///   counted numbers (then every such value is one): the count of numbers
///   and the sum lose it, and min and max are recomputed from the numbers
///   left — all exact. Otherwise (an overflowed set, or text values that
///   look like numbers) it is taken as numbers when there are that many,
///   and min and max are those of the number-like values kept: a best
///   effort, without the removed number.
/// - An overflowed set stays marked overflowed, one value short of the
///   bound: the value that the removed one kept out is not known.
pub(crate) fn forget_values(acc: &mut Acc, idents: &HashSet<Identifier>) -> bool {
    let number_like = |values: &BTreeMap<String, u64>| -> u64 {
        values.iter().filter(|(k, _)| key_number(k).is_some()).map(|(_, n)| *n).sum()
    };
    let exact = !acc.overflow && number_like(&acc.values) == acc.numeric;
    let mut removed: Vec<(f64, u64)> = Vec::new();
    let mut moved: Vec<(String, u64)> = Vec::new();
    let mut changed = false;
    for (k, n) in std::mem::take(&mut acc.values) {
        match scrubbed_key(&k, idents) {
            None => {
                acc.values.insert(k, n);
            }
            Some(new) => {
                changed = true;
                match new {
                    Some(new) => moved.push((new, n)),
                    None => removed.extend(key_number(&k).filter(|x| x.fract() == 0.0).map(|x| (x, n))),
                }
            }
        }
    }
    for (k, n) in moved {
        *acc.values.entry(k).or_default() += n;
    }
    let numbers: u64 = removed.iter().map(|(_, n)| *n).sum();
    if numbers == 0 || numbers > acc.numeric {
        return changed;
    }
    acc.numeric -= numbers;
    for (x, n) in removed {
        for _ in 0..n {
            acc.sum.add(-x);
        }
    }
    if acc.numeric == 0 {
        (acc.sum, acc.min, acc.max) = (Default::default(), None, None);
        return true;
    }
    let left = acc.values.keys().filter_map(|k| key_number(k));
    let (min, max) = left.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), x| {
        (Some(lo.map_or(x, |l| l.min(x))), Some(hi.map_or(x, |h| h.max(x))))
    });
    if exact || min.is_some() {
        (acc.min, acc.max) = (min, max);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::MAX_UNIQUE_VALUES;

    fn idents() -> HashSet<Identifier> {
        ["email:zed@example.com", "user_id:4242"].iter().map(|s| s.parse().unwrap()).collect()
    }

    fn acc(values: &[(&str, u64)], numbers: &[f64]) -> Acc {
        let mut a = Acc { count: values.iter().map(|(_, n)| n).sum(), ..Acc::default() };
        for (k, n) in values {
            a.values.insert((*k).to_owned(), *n);
        }
        for x in numbers {
            a.numeric += 1;
            a.sum.add(*x);
            a.min = Some(a.min.map_or(*x, |m| m.min(*x)));
            a.max = Some(a.max.map_or(*x, |m| m.max(*x)));
        }
        a
    }

    #[test]
    fn text_values_and_list_members_go_and_the_events_stay_counted() {
        let mut a =
            acc(&[("zed@example.com", 3), ("o@example.com", 1), (r#"["o@example.com","zed@example.com"]"#, 2)], &[]);
        assert!(forget_values(&mut a, &idents()));
        assert_eq!(a.count, 6);
        let keys: Vec<(&str, u64)> = a.values.iter().map(|(k, n)| (k.as_str(), *n)).collect();
        assert_eq!(keys, [(r#"["o@example.com"]"#, 2), ("o@example.com", 1)]);
        let mut b = a.clone();
        assert!(!forget_values(&mut b, &idents()), "nothing left to remove");
        assert_eq!(a, b);
    }

    #[test]
    fn a_removed_number_leaves_the_sum_and_the_extremes() {
        let mut a = acc(&[("4242", 2), ("7", 1), ("5", 1)], &[4242.0, 4242.0, 7.0, 5.0]);
        assert!(forget_values(&mut a, &idents()));
        assert_eq!((a.numeric, a.sum.value(), a.min, a.max), (2, 12.0, Some(5.0), Some(7.0)));
        let mut only = acc(&[("4242", 1)], &[4242.0]);
        assert!(forget_values(&mut only, &idents()));
        assert_eq!((only.numeric, only.sum.is_empty(), only.min, only.max), (0, true, None, None));
        assert_eq!(only.count, 1);
    }

    #[test]
    fn an_overflowed_set_loses_the_value_and_stays_marked() {
        let mut a = Acc { overflow: true, count: MAX_UNIQUE_VALUES as u64, ..Acc::default() };
        for i in 0..MAX_UNIQUE_VALUES - 1 {
            a.values.insert(format!("a{i:04}@example.com"), 1);
        }
        a.values.insert("zed@example.com".into(), 1);
        assert!(forget_values(&mut a, &idents()));
        assert!(a.overflow);
        assert_eq!(a.values.len(), MAX_UNIQUE_VALUES - 1);
        assert!(!a.values.contains_key("zed@example.com"));
    }
}
