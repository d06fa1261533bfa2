//! Unmerge: splitting a merged-in profile back off, reconstructed from the
//! delta log.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::codec::Marker;
use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::consent::{merge_consents, Consents};
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::ProfileRecord;
use crate::profile::traits::Traits;
use crate::schema;
use crate::txn::{NewDelta, Txn};

/// What an unmerge did.
#[derive(Clone, Debug, PartialEq)]
pub struct UnmergeReceipt {
    /// The profile restored as live (the identifier's origin).
    pub restored: ProfileId,
    /// The profile it was split from.
    pub from: ProfileId,
    /// The identifiers that moved back to the restored profile.
    pub identifiers: Vec<Identifier>,
    /// How many timeline events moved back with them (those that came only
    /// through them), both profiles' rollups rebuilt from their timelines;
    /// `None` when events and rollups stayed with `from` because its
    /// timeline no longer holds every event its rollups counted (timelines
    /// off or cut by retention, buckets folded).
    pub events: Option<usize>,
}

/// Splits the profile `ident` came from back off `survivor`. When that
/// profile had merged into an intermediate one before the intermediate
/// merged into `survivor`, the intermediate is split off (still holding
/// it); a second unmerge on the intermediate splits it further.
///
/// Rules (documented in the README): the restored profile starts from its
/// state at the merge and replays the survivor's later updates that came
/// only through its identifiers; the survivor is rebuilt from its state
/// before the merge, replaying every other later update and later merges.
/// An operator that no longer applies to a split state is skipped.
pub(crate) fn unmerge(
    txn: &mut Txn<'_>,
    survivor: ProfileId,
    ident: &Identifier,
    cause: &Cause,
) -> Result<UnmergeReceipt> {
    let p = txn.profile(survivor)?.ok_or_else(|| Error::NotFound(format!("profile {survivor}")))?;
    let link = match txn.link(ident)? {
        Some(l) if l.profile == survivor => l,
        _ => return Err(Error::invalid(format!("identifier {ident} is not linked to profile {survivor}"))),
    };
    if link.origin == survivor {
        return Err(Error::invalid(format!(
            "identifier {ident} is native to profile {survivor}: it did not arrive by a merge (use remove_identifier to detach it)"
        )));
    }
    // The latest direct merge into the survivor whose loser holds the
    // identifier's origin (itself, or a profile that merged into it first).
    let log = history::deltas(&txn.view, survivor)?;
    // Merges into the survivor still in effect: an unmerge undoes the
    // latest merge of the profile it split off.
    let mut active: Vec<(usize, ProfileId)> = Vec::new();
    for (i, d) in log.iter().enumerate() {
        match &d.change {
            Change::Merge { loser, .. } => active.push((i, *loser)),
            Change::Unmerge { split_off, .. } => {
                if let Some(pos) = active.iter().rposition(|(_, l)| l == split_off) {
                    active.remove(pos);
                }
            }
            _ => {}
        }
    }
    let mut found = None;
    for (i, loser) in active.into_iter().rev() {
        // A profile that is live again was split off by other means; never
        // overwrite it from a stale merge state.
        if txn.profile(loser)?.is_some() {
            continue;
        }
        let subtree = subtree_of(txn, loser)?;
        if subtree.contains(&link.origin) {
            found = Some((i, loser, subtree));
            break;
        }
    }
    let (at, origin, subtree) = found.ok_or_else(|| {
        Error::invalid(format!(
            "no merge into profile {survivor} that is still in effect brought {ident} (it was linked directly, its merge \
             was already undone, or that merge was folded by history retention)"
        ))
    })?;
    let Change::Merge { loser_state, loser_history_floor, loser_last_snapshot, .. } = &log[at].change else {
        return Err(Error::invalid("internal: merge delta changed shape"));
    };
    let mut back = Vec::new();
    for i in txn.identifiers_of(survivor)? {
        if let Some(l) = txn.link(&i)? {
            if subtree.contains(&l.origin) {
                back.push(i);
            }
        }
    }

    let before = history::as_of_version(&txn.view, &p, log[at].version - 1)?;
    let p_start = Split { traits: before.traits, consent: before.consent };
    let o_start = Split { traits: loser_state.traits.clone(), consent: loser_state.consent.clone() };
    let (p_state, o_state) = replay_split(txn, &log[at + 1..], p_start, o_start, &back);

    // Restore the origin as a live profile, then record the split on both.
    let restored_prev = ProfileRecord {
        profile: Arc::new(loser_state.clone()),
        history_floor: *loser_history_floor,
        last_snapshot: *loser_last_snapshot,
        // Counted from `profile_identifiers` at commit (the merge moved them all away).
        kinds: None,
    };
    for i in &back {
        if let Some(mut l) = txn.link(i)? {
            l.profile = origin;
            txn.put_link(i, l)?;
        }
    }
    for x in &subtree {
        schema::ALIAS_REVERSE.delete(&mut txn.batch, keys::alias::reverse(survivor, *x));
        if *x == origin {
            schema::ALIAS_FORWARD.delete(&mut txn.batch, keys::alias::forward(*x));
        } else {
            schema::ALIAS_FORWARD.put(&mut txn.batch, keys::alias::forward(*x), &origin.0);
            schema::ALIAS_REVERSE.put(&mut txn.batch, keys::alias::reverse(origin, *x), &Marker);
        }
    }
    let events = super::unmerge_data::split_events(txn, survivor, origin, &back)?;
    let change = Change::SplitFrom { survivor, result: o_state.traits.clone(), consent: o_state.consent.clone() };
    let mut d = NewDelta::new(change, cause.clone());
    d.linked = back.clone();
    txn.record_state(origin, Some(&restored_prev), o_state.traits, o_state.consent, d);
    let change =
        Change::Unmerge { split_off: origin, result: p_state.traits.clone(), consent: p_state.consent.clone() };
    let mut d = NewDelta::new(change, cause.clone());
    d.unlinked = back.clone();
    txn.record_state(survivor, Some(&p), p_state.traits, p_state.consent, d);
    Ok(UnmergeReceipt { restored: origin, from: survivor, identifiers: back, events })
}

/// `origin` and every profile merged into it (recursively) that is still
/// merged: a profile merged in and later split off again is not part of it.
fn subtree_of(txn: &Txn<'_>, origin: ProfileId) -> Result<BTreeSet<ProfileId>> {
    let mut seen = BTreeSet::from([origin]);
    let mut queue = vec![origin];
    while let Some(x) = queue.pop() {
        let mut members = Vec::new();
        for d in history::deltas(&txn.view, x)? {
            match d.change {
                Change::Merge { loser, .. } => members.push(loser),
                Change::Unmerge { split_off, .. } => members.retain(|m| *m != split_off),
                _ => {}
            }
        }
        for loser in members {
            if seen.insert(loser) {
                queue.push(loser);
            }
        }
    }
    Ok(seen)
}

/// One side of a split: traits and consent.
struct Split {
    traits: Traits,
    consent: Consents,
}

/// Replays the survivor's deltas after the merge onto the two split
/// states: an update or consent change that came only through the split-off
/// identifiers goes to the restored profile, everything else to the survivor.
fn replay_split(txn: &Txn<'_>, after: &[Delta], mut p: Split, mut o: Split, back: &[Identifier]) -> (Split, Split) {
    let rules = &txn.core.config.merge_rules;
    for d in after {
        let theirs = !d.via.is_empty() && d.via.iter().all(|v| back.contains(v));
        match &d.change {
            Change::Update(ops) => {
                let target = if theirs { &mut o.traits } else { &mut p.traits };
                for op in ops {
                    let mut next = target.clone();
                    if op.apply(&mut next, d.at).is_ok() {
                        *target = next;
                    }
                }
            }
            Change::Consent(ops) => {
                let target = if theirs { &mut o.consent } else { &mut p.consent };
                for op in ops {
                    op.apply(target, d.at);
                }
            }
            Change::Merge { loser_state, .. } => {
                p.traits = rules.fold(&p.traits, &loser_state.traits);
                p.consent = merge_consents(&p.consent, &loser_state.consent);
            }
            Change::Unmerge { result, consent, .. } | Change::SplitFrom { result, consent, .. } => {
                p = Split { traits: result.clone(), consent: consent.clone() };
            }
        }
    }
    (p, o)
}
