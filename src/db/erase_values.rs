//! What erase removes from every other profile that holds an erased
//! identifier's *value* without naming the person: a trait such as
//! `referred_by = zed@example.com`, an element of a list trait, an event
//! property such as `invitee_email` (the events are [`strip_property`]'d by
//! `erase_refs::scrub_events`).
//!
//! A value "is" an erased identifier when it is a string that, read as
//! that identifier's kind, normalizes to it ([`is_identifier_value`]): a
//! trait or property string, a list element, a member of a nested
//! property object. Numbers are kept (`age = 42` is not `user_id:42`),
//! but a string equal to an erased identifier's value goes wherever it
//! is, whatever it meant there. Trait values go from the profile record, every delta (a `Set`
//! or `SetOnce` of the value is dropped, a list loses the element) and
//! every snapshot; the log is replayed without them ([`clean_log`]), so
//! as-of reads never return the value and the live state is the replay's
//! end. The record is restaged, so the commit moves the profile out of
//! the trait index bitmap of the value (deleting the bitmap's keys when it
//! empties) and the caller re-evaluates its segments.
//!
//! Nothing indexes these values: [`scrub_values`] searches the bytes of
//! every `profile` record, delta and snapshot for the identifiers'
//! normalized values and decodes only the logs that hold one — a value
//! written with another case or spacing than the normalized identifier is
//! not found. The logs `erase_refs::scrub_histories` redacts for naming
//! the person are read through [`clean_log`] too, so both rewrites compose.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::error::{Error, Result};
use crate::event::property::PropertyValue;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::redact::{is_identifier_value, Erased, State};
use crate::profile::delta::{Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::operator::TraitOp;
use crate::profile::state::Profile;
use crate::profile::traits::Traits;
use crate::profile::value::TraitValue;
use crate::schema;
use crate::txn::Txn;

use super::erase_refs::{Needles, Swept};
use super::erase_scope::Scope;

/// `value` without the erased identifiers' values: `None` when it is such
/// a string; a list without those elements; anything else unchanged (a
/// number is kept: `age = 42` is not `user_id:42`).
fn strip_value(value: &TraitValue, idents: &HashSet<Identifier>) -> Option<TraitValue> {
    match value {
        TraitValue::Str(s) if is_identifier_value(s, idents) => None,
        TraitValue::List(l) if l.iter().any(|s| is_identifier_value(s, idents)) => {
            Some(TraitValue::List(l.iter().filter(|s| !is_identifier_value(s, idents)).cloned().collect()))
        }
        other => Some(other.clone()),
    }
}

/// `traits` without the erased identifiers' values (a trait holding one
/// is removed; a list keeps its other elements and its write time).
pub(crate) fn strip_traits(traits: &Traits, idents: &HashSet<Identifier>) -> Traits {
    let mut out = Traits::new();
    for (name, entry) in traits.iter() {
        if let Some(value) = strip_value(&entry.value, idents) {
            let mut e = entry.clone();
            e.value = value;
            out.insert_entry(name, e);
        }
    }
    out
}

/// `ops` without the erased identifiers' values: a `Set`/`SetOnce` of one
/// is dropped, list operands lose those elements (an `AddToSet` or
/// `RemoveFromSet` left with none is dropped).
pub(crate) fn strip_ops(ops: &[TraitOp], idents: &HashSet<Identifier>) -> Vec<TraitOp> {
    let strip_list = |values: &[String]| -> Vec<String> {
        values.iter().filter(|s| !is_identifier_value(s, idents)).cloned().collect()
    };
    ops.iter()
        .filter_map(|op| match op {
            TraitOp::Set { name, value } => {
                strip_value(value, idents).map(|value| TraitOp::Set { name: name.clone(), value })
            }
            TraitOp::SetOnce { name, value } => {
                strip_value(value, idents).map(|value| TraitOp::SetOnce { name: name.clone(), value })
            }
            TraitOp::AddToSet { name, values } => {
                let values = strip_list(values);
                (!values.is_empty()).then(|| TraitOp::AddToSet { name: name.clone(), values })
            }
            TraitOp::RemoveFromSet { name, values } => {
                let values = strip_list(values);
                (!values.is_empty()).then(|| TraitOp::RemoveFromSet { name: name.clone(), values })
            }
            TraitOp::Unset { .. } | TraitOp::Increment { .. } => Some(op.clone()),
        })
        .collect()
}

/// A property `value` without the erased identifiers' values: `None` for
/// such a string (with `numbers`, an integer too: an event that named the
/// person); lists and objects without those members; anything else
/// unchanged.
pub(crate) fn strip_property(
    value: &PropertyValue,
    idents: &HashSet<Identifier>,
    numbers: bool,
) -> Option<PropertyValue> {
    match value {
        PropertyValue::Str(s) if is_identifier_value(s, idents) => None,
        PropertyValue::Int(n) if numbers && is_identifier_value(&n.to_string(), idents) => None,
        PropertyValue::List(l) => {
            Some(PropertyValue::List(l.iter().filter_map(|v| strip_property(v, idents, numbers)).collect()))
        }
        PropertyValue::Object(m) => Some(PropertyValue::Object(
            m.iter().filter_map(|(k, v)| strip_property(v, idents, numbers).map(|v| (k.clone(), v))).collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Applies `ops` to `traits` at `at`, skipping an operator that no longer
/// applies once an earlier value is gone; returns the traits and the
/// operators kept.
fn apply_kept(ops: Vec<TraitOp>, traits: &Traits, at: crate::clock::Timestamp) -> (Traits, Vec<TraitOp>) {
    let mut all = traits.clone();
    if ops.iter().all(|op| op.apply(&mut all, at).is_ok()) {
        return (all, ops);
    }
    let mut traits = traits.clone();
    let mut kept = Vec::with_capacity(ops.len());
    for op in ops {
        let mut next = traits.clone();
        if op.apply(&mut next, at).is_ok() {
            traits = next;
            kept.push(op);
        }
    }
    (traits, kept)
}

/// A log without the erased identifiers' values.
pub(crate) struct CleanLog {
    /// The state at the history floor.
    pub base: State,
    /// Every delta, in order (equal to the stored one where nothing changed).
    pub deltas: Vec<Delta>,
    /// The state after each delta.
    pub states: Vec<State>,
}

/// `deltas` (a log from the state `base` at its floor) without the erased
/// identifiers' values: operators stripped ([`strip_ops`]) and the log
/// replayed from the stripped base; the states a merge, unmerge or split
/// recorded (and a merge's loser state) are stripped ([`strip_traits`]).
/// Every delta of the result replays onto the state before it.
pub(crate) fn clean_log(base: State, deltas: Vec<Delta>, idents: &HashSet<Identifier>) -> CleanLog {
    let base = (strip_traits(&base.0, idents), base.1);
    let mut states: Vec<State> = Vec::with_capacity(deltas.len());
    let mut out = Vec::with_capacity(deltas.len());
    for mut d in deltas {
        let cur = states.last().unwrap_or(&base);
        let next = match &mut d.change {
            Change::Update(ops) => {
                let (traits, kept) = apply_kept(strip_ops(ops, idents), &cur.0, d.at);
                *ops = kept;
                (traits, cur.1.clone())
            }
            Change::Consent(ops) => {
                let mut consent = cur.1.clone();
                for op in ops.iter() {
                    op.apply(&mut consent, d.at);
                }
                (cur.0.clone(), consent)
            }
            Change::Merge { loser_state, result, consent, .. } => {
                loser_state.traits = strip_traits(&loser_state.traits, idents);
                *result = strip_traits(result, idents);
                (result.clone(), consent.clone())
            }
            Change::Unmerge { result, consent, .. } | Change::SplitFrom { result, consent, .. } => {
                *result = strip_traits(result, idents);
                (result.clone(), consent.clone())
            }
        };
        states.push(next);
        out.push(d);
    }
    CleanLog { base, deltas: out, states }
}

/// The state at `floor` of `x`'s log: empty at 0, else its snapshot there.
pub(crate) fn floor_state(snapshot: Option<Profile>, x: ProfileId, floor: u64) -> Result<State> {
    if floor == 0 {
        return Ok(Default::default());
    }
    let snap = snapshot.ok_or_else(|| Error::Corrupt {
        cf: schema::SNAPSHOTS.name,
        what: "history",
        key_hex: crate::error::hex_prefix(&keys::versioned(x, floor)),
        reason: "erase: the snapshot at the history floor is missing".into(),
    })?;
    Ok((snap.traits, snap.consent))
}

/// Removes the erased identifiers' values from every profile other than
/// the erased ones: their records, deltas and snapshots (see the module
/// documentation). Reads the `profile`, `delta` and `snapshot` keys of
/// `scope` (bytes only; decodes the logs that hold a value). Counted in
/// `swept`; a live record restaged sets `swept.records_changed`.
pub(crate) fn scrub_values(txn: &mut Txn<'_>, erased: &Erased<'_>, swept: &mut Swept, scope: &Scope) -> Result<()> {
    let needles = Needles::of(erased.identifiers)?;
    if needles.is_empty() {
        return Ok(());
    }
    let mut holders = BTreeSet::new();
    for cf in VALUE_FAMILIES {
        scope.each(&txn.view, cf, |k, v| {
            if keys::parse_profile(k).is_some_and(|x| holders.contains(&x)) {
                return Ok(());
            }
            holders.extend(value_holder(cf, k, v, erased, &needles)?);
            Ok(())
        })?;
    }
    for x in holders {
        scrub_log(txn, x, erased.identifiers, swept)?;
    }
    Ok(())
}

/// The column families whose values [`scrub_values`] searches.
pub(crate) const VALUE_FAMILIES: [&str; 3] = [schema::PROFILES.name, schema::DELTAS.name, schema::SNAPSHOTS.name];

/// The profile entry `k` of `cf` (one of [`VALUE_FAMILIES`]) belongs to,
/// if it is not an erased one and holds an erased identifier's value.
/// A short value (`user_id:42`) is in many entries' bytes: an entry whose
/// bytes hold one is decoded and its values compared.
pub(crate) fn value_holder(
    cf: &str,
    k: &[u8],
    v: &[u8],
    erased: &Erased<'_>,
    needles: &Needles,
) -> Result<Option<ProfileId>> {
    let Some(x) = keys::parse_profile(k) else { return Ok(None) };
    if erased.profiles.contains(&x) || !needles.found_in(v) {
        return Ok(None);
    }
    let idents = erased.identifiers;
    let holds = match cf {
        c if c == schema::PROFILES.name => traits_hold(&schema::PROFILES.decode(k, v)?.profile.traits, idents),
        c if c == schema::DELTAS.name => delta_holds(&schema::DELTAS.decode(k, v)?, idents),
        _ => traits_hold(&schema::SNAPSHOTS.decode(k, v)?.traits, idents),
    };
    Ok(holds.then_some(x))
}

/// Whether `traits` hold an erased identifier's value.
fn traits_hold(traits: &Traits, idents: &HashSet<Identifier>) -> bool {
    traits.iter().any(|(_, e)| strip_value(&e.value, idents).as_ref() != Some(&e.value))
}

/// Whether `d` writes or records an erased identifier's value.
fn delta_holds(d: &Delta, idents: &HashSet<Identifier>) -> bool {
    match &d.change {
        Change::Update(ops) => strip_ops(ops, idents) != *ops,
        Change::Consent(_) => false,
        Change::Merge { loser_state, result, .. } => {
            traits_hold(&loser_state.traits, idents) || traits_hold(result, idents)
        }
        Change::Unmerge { result, .. } | Change::SplitFrom { result, .. } => traits_hold(result, idents),
    }
}

/// Rewrites `x`'s deltas, snapshots and record without the values.
fn scrub_log(txn: &mut Txn<'_>, x: ProfileId, idents: &HashSet<Identifier>, swept: &mut Swept) -> Result<()> {
    let deltas = history::deltas(&txn.view, x)?;
    let mut snaps: BTreeMap<u64, Profile> = BTreeMap::new();
    for kv in txn.view.prefix(schema::SNAPSHOTS.name, &keys::profile(x))? {
        let (k, v) = kv?;
        let s = schema::SNAPSHOTS.decode(&k, &v)?;
        snaps.insert(s.version, s);
    }
    let floor = deltas.first().map(|d| d.version - 1);
    let clean = match floor {
        Some(floor) => {
            let base = floor_state(snaps.get(&floor).cloned(), x, floor)?;
            Some((floor, clean_log(base, deltas.clone(), idents)))
        }
        None => None,
    };
    // The state at each version the log holds.
    let mut at: BTreeMap<u64, &State> = BTreeMap::new();
    if let Some((floor, c)) = &clean {
        at.insert(*floor, &c.base);
        for (d, s) in c.deltas.iter().zip(&c.states) {
            at.insert(d.version, s);
        }
        for (old, new) in deltas.iter().zip(&c.deltas) {
            if old != new {
                schema::DELTAS.put(&mut txn.batch, keys::versioned(x, new.version), new);
                swept.deltas += 1;
            }
        }
    }
    for (v, mut snap) in snaps {
        let traits = match at.get(&v) {
            Some(s) => s.0.clone(),
            None => strip_traits(&snap.traits, idents),
        };
        if traits != snap.traits {
            snap.traits = traits;
            schema::SNAPSHOTS.put(&mut txn.batch, keys::versioned(x, v), &snap);
            swept.snapshots += 1;
        }
    }
    let Some(rec) = txn.profile(x)? else { return Ok(()) };
    let traits = match at.get(&rec.profile.version) {
        Some(s) => s.0.clone(),
        None => strip_traits(&rec.profile.traits, idents),
    };
    if traits != rec.profile.traits {
        let mut next = (*rec).clone();
        let mut p = (*next.profile).clone();
        p.traits = traits;
        next.profile = std::sync::Arc::new(p);
        txn.put_profile(next);
        swept.records_changed = true;
    }
    Ok(())
}
