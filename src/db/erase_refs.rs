//! What erase removes outside the erased profile's own key ranges: the
//! references other profiles hold (their histories, snapshots and stored
//! events), and the person's entries in the column families keyed by
//! something else than the profile (dedup entries, feed records).
//!
//! Nothing indexes these references, so each is found by a scan, linear
//! in the column family, read once per erase call — for every person of
//! an `erase_many` list together. Erase scans a snapshot without the
//! writer lock, then each sweep here reads only the keys that scan found
//! and those written since, under the lock ([`Scope::Only`], see
//! `erase_phases`); anonymize (and erase's fallback) scans the current
//! state under the lock ([`Scope::All`]). Per column family:
//!
//! - `delta`: every delta of every profile is decoded once (to find the
//!   logs that name an erased identifier or merged an erased profile, and
//!   the merges that chain them); only the logs found are then re-read and
//!   rewritten (see [`crate::privacy::redact`]);
//! - `snapshot`: only the snapshots of the logs found;
//! - `event`: every stored event's bytes are searched for the erased
//!   identifiers' values; only those that hold one are decoded;
//! - `rollup`: every accumulator's bytes likewise (see
//!   [`super::erase_rollups`]);
//! - `profile`, `delta`, `snapshot` (erase only): every entry's bytes are
//!   searched for those values too; only the logs that hold one are
//!   decoded and cleaned of them ([`erase_values`]);
//! - `dedup`, `feed`: every entry is decoded (small values).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use aho_corasick::AhoCorasick;

use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::redact::{writes_identifier, Erased, Log, Redactor};
use crate::profile::delta::Change;
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::schema;
use crate::txn::Txn;

use super::erase_rollups::Rewritten;
use super::erase_scope::Scope;
use super::erase_values;

/// Counts of what the sweep rewrote or removed (for the audit record).
#[derive(Default)]
pub(crate) struct Swept {
    /// Other profiles' deltas rewritten.
    pub deltas: u64,
    /// Other profiles' snapshots rewritten (or folded into a raised floor).
    pub snapshots: u64,
    /// Other profiles' stored events rewritten.
    pub events: u64,
    /// Other profiles' rollup accumulators rewritten (or deleted).
    pub rollups: u64,
    /// Dedup entries deleted.
    pub dedup: u64,
    /// Feed records deleted.
    pub feed: u64,
    /// Live profiles whose record had to be restaged with a new state
    /// (their segments need re-evaluation).
    pub records_changed: bool,
}

impl Swept {
    pub(crate) fn total(&self) -> u64 {
        self.deltas + self.snapshots + self.events + self.rollups + self.dedup + self.feed
    }
}

/// How many entries a sweep deleted, per profile of `gone`.
pub(crate) type Deleted = BTreeMap<ProfileId, u64>;

/// Deletes every dedup entry whose profile is one of `gone` (the entries of
/// events never stored on a timeline — aliases, timelines off, trimmed by
/// retention — included), among the dedup entries of `scope`.
pub(crate) fn forget_dedup(txn: &mut Txn<'_>, gone: &BTreeSet<ProfileId>, scope: &Scope) -> Result<Deleted> {
    let mut doomed = Vec::new();
    scope.each(&txn.view, schema::DEDUP.name, |k, v| {
        if let Some(p) = dedup_of(k, v, gone)? {
            doomed.push((k.to_vec(), p));
        }
        Ok(())
    })?;
    Ok(delete_all(txn, schema::DEDUP.name, doomed))
}

/// The profile of dedup entry `k`, if it is one of `gone`.
pub(crate) fn dedup_of(k: &[u8], v: &[u8], gone: &BTreeSet<ProfileId>) -> Result<Option<ProfileId>> {
    let p = ProfileId(schema::DEDUP.decode(k, v)?.profile);
    Ok(gone.contains(&p).then_some(p))
}

/// Deletes every feed record of one of `gone` (entered, exited, merged),
/// among the feed records of `scope`.
pub(crate) fn forget_feed(txn: &mut Txn<'_>, gone: &BTreeSet<ProfileId>, scope: &Scope) -> Result<Deleted> {
    let mut doomed = Vec::new();
    scope.each(&txn.view, schema::FEED.name, |k, v| {
        if let Some(p) = feed_of(k, v, gone)? {
            doomed.push((k.to_vec(), p));
        }
        Ok(())
    })?;
    Ok(delete_all(txn, schema::FEED.name, doomed))
}

/// The profile of feed record `k`, if it is one of `gone`.
pub(crate) fn feed_of(k: &[u8], v: &[u8], gone: &BTreeSet<ProfileId>) -> Result<Option<ProfileId>> {
    let p = schema::FEED.decode(k, v)?.profile;
    Ok(gone.contains(&p).then_some(p))
}

/// Stages the deletion of `doomed` keys of `cf`, counted per profile.
fn delete_all(txn: &mut Txn<'_>, cf: &'static str, doomed: Vec<(Vec<u8>, ProfileId)>) -> Deleted {
    let mut counts = Deleted::new();
    for (k, p) in doomed {
        txn.batch.delete(cf, &k);
        *counts.entry(p).or_default() += 1;
    }
    counts
}

/// Redacts what the erased people — the profiles `gone` (each one's
/// profile and merged-away ids) with `identifiers` — left in other
/// profiles' stored events, rollup accumulators and histories (erase, for
/// every person of its list at once, and anonymize): [`scrub_events`],
/// [`scrub_rollups`](super::erase_rollups::scrub_rollups), then
/// [`scrub_histories`], counted in `swept`. With `values` (erase), the
/// identifiers' values go from every other profile's traits, history and
/// event properties too, named or not ([`erase_values`]). Each reads the
/// keys of `scope` of its column families.
pub(crate) fn scrub_references(
    txn: &mut Txn<'_>,
    gone: &BTreeSet<ProfileId>,
    identifiers: &[Identifier],
    values: bool,
    swept: &mut Swept,
    scope: &Scope,
) -> Result<()> {
    let identifiers = identifier_set(identifiers);
    let erased = Erased { profiles: gone, identifiers: &identifiers };
    let rewritten = scrub_events(txn, &erased, values, scope)?;
    swept.events = rewritten.len() as u64;
    swept.rollups = super::erase_rollups::scrub_rollups(txn, &erased, &rewritten, scope)?;
    if values {
        erase_values::scrub_values(txn, &erased, swept, scope)?;
    }
    scrub_histories(txn, erased, values, swept, scope)
}

/// Removes the erased identifiers from the stored events of every other
/// profile (`identifiers`, `previous_id`) and, in an event that named one
/// (with `values`: in every event), the trait operators and properties
/// that hold an erased identifier's value (a Segment identify's
/// `traits.email` is both). Reads the `event` keys of `scope`. Returns the
/// events it rewrote, as they were and as staged.
pub(crate) fn scrub_events(
    txn: &mut Txn<'_>,
    erased: &Erased<'_>,
    values: bool,
    scope: &Scope,
) -> Result<Vec<Rewritten>> {
    if erased.identifiers.is_empty() {
        return Ok(Vec::new());
    }
    let needles = Needles::of(erased.identifiers)?;
    let mut rewritten = Vec::new();
    scope.each(&txn.view, schema::EVENTS.name, |k, v| {
        rewritten.extend(scrub_event(k, v, erased, values, &needles)?);
        Ok(())
    })?;
    for r in &rewritten {
        schema::EVENTS.put(&mut txn.batch, &r.key, &r.after);
    }
    Ok(rewritten)
}

/// Stored event `k` without the erased identifiers (see [`scrub_events`]),
/// if that changes it.
pub(crate) fn scrub_event(
    k: &[u8],
    v: &[u8],
    erased: &Erased<'_>,
    values: bool,
    needles: &Needles,
) -> Result<Option<Rewritten>> {
    if !event_may_hold(k, v, erased, needles) {
        return Ok(None);
    }
    let original = schema::EVENTS.decode(k, v)?;
    let mut e = original.clone();
    let before = (e.identifiers.len(), e.previous_id.is_some());
    e.identifiers.retain(|i| !erased.identifiers.contains(i));
    if e.previous_id.as_ref().is_some_and(|i| erased.identifiers.contains(i)) {
        e.previous_id = None;
    }
    let named = (e.identifiers.len(), e.previous_id.is_some()) != before;
    if !(named || values) {
        return Ok(None);
    }
    let old = (e.traits.clone(), e.properties.clone());
    if named {
        e.traits.retain(|op| !writes_identifier(op, erased.identifiers));
    }
    if values {
        e.traits = erase_values::strip_ops(&e.traits, erased.identifiers);
    }
    e.properties = std::mem::take(&mut e.properties)
        .iter()
        .filter_map(|(name, value)| {
            erase_values::strip_property(value, erased.identifiers, named).map(|v| (name.to_owned(), v))
        })
        .collect();
    let changed = named || old != (e.traits.clone(), e.properties.clone());
    Ok(changed.then(|| Rewritten { key: k.to_vec(), before: original, after: e }))
}

/// Whether stored event `k` may hold an erased identifier (then it is
/// decoded): another profile's event (the erased profiles' own are
/// deleted whole) whose bytes hold one's value.
fn event_may_hold(k: &[u8], v: &[u8], erased: &Erased<'_>, needles: &Needles) -> bool {
    keys::parse_profile(k).is_some_and(|x| !erased.profiles.contains(&x)) && needles.found_in(v)
}

/// The erased identifiers' values (none empty), searched for in stored
/// bytes all at once: one Aho–Corasick pass over each value, whatever the
/// number of people an `erase_many` list erases (a window-by-window
/// comparison per value made the scans grow with the list). A value that
/// is not ASCII is also searched for in its decomposed form (NFD): a trait
/// or property string written that way, or an identifier a format 14 build
/// stored in an event or a delta before values were NFC, is the same
/// identifier once decoded and normalized.
pub(crate) struct Needles(Option<AhoCorasick>);

impl Needles {
    /// The needles of `idents`' values.
    pub(crate) fn of(idents: &HashSet<Identifier>) -> Result<Self> {
        use unicode_normalization::UnicodeNormalization;
        let mut values: Vec<Vec<u8>> = Vec::with_capacity(idents.len());
        for v in idents.iter().map(Identifier::value).filter(|v| !v.is_empty()) {
            values.push(v.as_bytes().to_vec());
            if !v.is_ascii() {
                let nfd: String = v.nfd().collect();
                if nfd != v {
                    values.push(nfd.into_bytes());
                }
            }
        }
        if values.is_empty() {
            return Ok(Needles(None));
        }
        let searcher = AhoCorasick::new(values)
            .map_err(|e| Error::invalid(format!("erase: cannot search for {} identifier values: {e}", idents.len())))?;
        Ok(Needles(Some(searcher)))
    }

    /// Whether there is nothing to search for.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `haystack` holds one of the values.
    pub(crate) fn found_in(&self, haystack: &[u8]) -> bool {
        self.0.as_ref().is_some_and(|a| a.is_match(haystack))
    }
}

/// Redacts the erased person out of every other profile's history (the
/// rules are in [`crate::privacy::redact`]) and stages the rewritten
/// deltas, snapshots and, where a floor moved, records.
pub(crate) fn scrub_histories(
    txn: &mut Txn<'_>,
    erased: Erased<'_>,
    values: bool,
    swept: &mut Swept,
    scope: &Scope,
) -> Result<()> {
    // 1. One pass over `delta`: the logs that name the erased person, and
    //    every merge (loser → the logs that merged it).
    let mut direct = BTreeSet::new();
    let mut merged_into: BTreeMap<ProfileId, BTreeSet<ProfileId>> = BTreeMap::new();
    scope.each(&txn.view, schema::DELTAS.name, |k, v| {
        if let Some(r) = delta_reference(k, v, &erased)? {
            if r.direct {
                direct.insert(r.profile);
            }
            if let Some(loser) = r.loser {
                merged_into.entry(loser).or_default().insert(r.profile);
            }
        }
        Ok(())
    })?;
    // 2. Logs that merged one of those (their loser state may hold the
    //    erased person), transitively.
    let mut affected = direct.clone();
    let mut queue: Vec<ProfileId> = direct.into_iter().collect();
    while let Some(x) = queue.pop() {
        for s in merged_into.get(&x).into_iter().flatten() {
            if affected.insert(*s) {
                queue.push(*s);
            }
        }
    }
    if affected.is_empty() {
        return Ok(());
    }
    // 3. Redact them together.
    let rules = &txn.core.config.merge_rules;
    let mut redactor = Redactor::new(erased, rules);
    let mut records: BTreeMap<ProfileId, std::sync::Arc<ProfileRecord>> = BTreeMap::new();
    for &x in &affected {
        let deltas = history::deltas(&txn.view, x)?;
        let Some(first) = deltas.first().map(|d| d.version) else { continue };
        let rec = txn.profile(x)?;
        let floor = first - 1;
        let snap = if floor == 0 { None } else { schema::SNAPSHOTS.get(&txn.view, &keys::versioned(x, floor))? };
        let mut base = erase_values::floor_state(snap, x, floor)?;
        let mut deltas = deltas;
        if values {
            // Redacted as `erase_values` cleaned it (staged already).
            let clean = erase_values::clean_log(base, deltas, redactor.erased().identifiers);
            (base, deltas) = (clean.base, clean.deltas);
        }
        redactor.add(x, Log::new(rec.is_some(), (floor, base), deltas, redactor.erased()));
        if let Some(rec) = rec {
            records.insert(x, rec);
        }
    }
    let results = redactor.run()?;
    // 4. Stage what changed.
    for (x, r) in results {
        for d in &r.deltas {
            schema::DELTAS.put(&mut txn.batch, keys::versioned(x, d.version), d);
        }
        swept.deltas += r.deltas.len() as u64;
        let mut snaps = Vec::new();
        for kv in txn.view.prefix(schema::SNAPSHOTS.name, &keys::profile(x))? {
            let (k, v) = kv?;
            let mut snap = schema::SNAPSHOTS.decode(&k, &v)?;
            if let Some((traits, consent)) = r.states.get(&snap.version) {
                if snap.traits != *traits || snap.consent != *consent {
                    (snap.traits, snap.consent) = (traits.clone(), consent.clone());
                    snaps.push(snap);
                }
            }
        }
        for s in &snaps {
            schema::SNAPSHOTS.put(&mut txn.batch, keys::versioned(x, s.version), s);
        }
        swept.snapshots += snaps.len() as u64;
        let Some(rec) = records.get(&x) else { continue };
        let mut next = (**rec).clone();
        if let Some((floor, (traits, consent), at)) = r.raised_floor {
            let snap =
                Profile { id: x, version: floor, created_at: rec.profile.created_at, updated_at: at, traits, consent };
            txn.batch.delete_range(schema::DELTAS.name, keys::versioned(x, 0), keys::versioned(x, floor + 1));
            txn.batch.delete_range(schema::SNAPSHOTS.name, keys::versioned(x, 0), keys::versioned(x, floor));
            schema::SNAPSHOTS.put(&mut txn.batch, keys::versioned(x, floor), &snap);
            swept.snapshots += 1;
            next.history_floor = floor;
            next.last_snapshot = next.last_snapshot.max(floor);
        }
        // The last window closed before the record's version, so the
        // redacted replay ends in the stored state; restage it if not.
        if let Some((_, (traits, consent))) = r.states.last_key_value() {
            if *traits != next.profile.traits || *consent != next.profile.consent {
                let mut p = (*next.profile).clone();
                (p.traits, p.consent) = (traits.clone(), consent.clone());
                next.profile = std::sync::Arc::new(p);
                swept.records_changed = true;
            }
        }
        if next != **rec {
            txn.put_profile(next);
        }
    }
    Ok(())
}

/// What a delta of another profile than the erased ones says of them.
pub(crate) struct DeltaReference {
    /// The profile whose log holds the delta.
    pub profile: ProfileId,
    /// The delta names an erased identifier, merged an erased profile, or
    /// split one off: the log is redacted.
    pub direct: bool,
    /// The delta is a merge of this loser (the log is redacted if the
    /// loser's is).
    pub loser: Option<ProfileId>,
}

/// What delta `k` says of the erased people, if anything (see
/// [`DeltaReference`]): `None` for a delta of an erased profile (its log
/// is deleted whole) or one that neither names them nor merges anyone.
pub(crate) fn delta_reference(k: &[u8], v: &[u8], erased: &Erased<'_>) -> Result<Option<DeltaReference>> {
    let Some(x) = keys::parse_profile(k) else { return Ok(None) };
    if erased.profiles.contains(&x) {
        return Ok(None);
    }
    let d = schema::DELTAS.decode(k, v)?;
    let names = |l: &[Identifier]| l.iter().any(|i| erased.identifiers.contains(i));
    let mut r =
        DeltaReference { profile: x, direct: names(&d.via) || names(&d.linked) || names(&d.unlinked), loser: None };
    match &d.change {
        Change::Merge { loser, .. } => {
            r.direct |= erased.profiles.contains(loser);
            r.loser = Some(*loser);
        }
        Change::Unmerge { split_off, .. } if erased.profiles.contains(split_off) => r.direct = true,
        _ => {}
    }
    Ok((r.direct || r.loser.is_some()).then_some(r))
}

/// The identifiers of `idents` as a set.
pub(crate) fn identifier_set(idents: &[Identifier]) -> HashSet<Identifier> {
    idents.iter().cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needles_find_any_of_the_values_and_nothing_else() {
        let idents: HashSet<Identifier> =
            ["email:ann@example.com", "user_id:42"].iter().map(|s| s.parse().unwrap()).collect();
        let n = Needles::of(&idents).unwrap();
        assert!(!n.is_empty());
        assert!(n.found_in(b"\x04referred_by\x00ann@example.com\x01"));
        assert!(n.found_in(b"order 1421"), "bytes, not values: a short id is found inside others");
        assert!(!n.found_in(b"ann@example.org 41"));
        assert!(!n.found_in(b""));
        assert!(Needles::of(&HashSet::new()).unwrap().is_empty());
        assert!(!Needles::of(&HashSet::new()).unwrap().found_in(b"anything"));
    }

    #[test]
    fn needles_find_the_decomposed_spelling_of_a_value() {
        let idents: HashSet<Identifier> = ["email:jos\u{e9}@example.com"].iter().map(|s| s.parse().unwrap()).collect();
        let n = Needles::of(&idents).unwrap();
        assert!(n.found_in("x jos\u{e9}@example.com".as_bytes()));
        assert!(n.found_in("x jose\u{301}@example.com".as_bytes()), "the NFD bytes");
        assert!(!n.found_in("jose@example.com".as_bytes()));
    }
}
