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
/// before the merge, replaying every other later update and later merges
/// — except merges undone since, which are left out with the updates
/// their unmerge gave back (see [`Replay::run`]). An operator that no
/// longer applies to a split state is skipped.
pub(crate) fn unmerge(
    txn: &mut Txn<'_>,
    survivor: ProfileId,
    ident: &Identifier,
    cause: &Cause,
) -> Result<UnmergeReceipt> {
    let p = txn.profile(survivor)?.ok_or_else(|| Error::no_profile(survivor))?;
    let link = match txn.link(ident)? {
        Some(l) if l.profile == survivor => l,
        _ => return Err(Error::invalid(format!("identifier {ident} is not linked to profile {survivor}"))),
    };
    if link.origin == survivor {
        return Err(Error::invalid(format!(
            "identifier {ident} is native to profile {survivor}: it did not arrive by a merge (to detach it, remove it: remove_identifier, `profiledb identifier remove`)"
        )));
    }
    // The latest direct merge into the survivor whose loser holds the
    // identifier's origin (itself, or a profile that merged into it first).
    let log = history::deltas(&txn.view, survivor)?;
    let Merges { active, undone } = Merges::of(&log);
    let mut found = None;
    for (i, loser) in active.into_iter().rev() {
        // A profile that is live again was split off by other means; never
        // overwrite it from a stale merge state.
        // An erased loser (its state redacted) is never restored.
        if txn.profile(loser)?.is_some() || crate::privacy::redact::is_redacted_merge(&log[i].change) {
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
    let all = txn.identifiers_of(survivor)?;
    for i in &all {
        if let Some(l) = txn.link(i)? {
            if subtree.contains(&l.origin) {
                back.push(i.clone());
            }
        }
    }
    if back.len() == all.len() {
        // Its own identifiers were all removed since the merge: the split
        // would leave it live with no identifier to reach it.
        return Err(Error::invalid(format!(
            "unmerging {ident} would move every identifier of profile {survivor} to profile {origin}, leaving \
             {survivor} unreachable; link an identifier to it first, or erase it"
        )));
    }

    let replay = Replay { survivor, log: &log, at, undone: &undone, back: &back };
    let start = replay.start();
    let before = history::as_of_version(&txn.view, &p, log[start].version - 1)?;
    let p_start = Split { traits: before.traits, consent: before.consent };
    let o_start = Split { traits: loser_state.traits.clone(), consent: loser_state.consent.clone() };
    let (p_state, o_state) = replay.run(txn, start, p_start, o_start)?;

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
    // Both sides of the split at one time, after both logs' latest delta
    // (so after the merge it undoes, when the clock stepped back).
    let at = Some(txn.time_for(Some(&p)).max(loser_state.updated_at));
    txn.push_feed(crate::segment::FeedKind::Split { from: survivor }, None, origin);
    let change = Change::SplitFrom { survivor, result: o_state.traits.clone(), consent: o_state.consent.clone() };
    let mut d = NewDelta::new(change, cause.clone());
    d.linked = back.clone();
    d.not_before = at;
    txn.record_state(origin, Some(&restored_prev), o_state.traits, o_state.consent, d);
    let change =
        Change::Unmerge { split_off: origin, result: p_state.traits.clone(), consent: p_state.consent.clone() };
    let mut d = NewDelta::new(change, cause.clone());
    d.unlinked = back.clone();
    d.not_before = at;
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

/// The merges of a survivor's log: those still in effect, and those an
/// unmerge undid.
struct Merges {
    /// (index in the log, loser) of each merge still in effect, in order.
    active: Vec<(usize, ProfileId)>,
    /// (index of the merge, index of the unmerge that undid it).
    undone: Vec<(usize, usize)>,
}

impl Merges {
    /// An unmerge undoes the latest merge of the profile it split off.
    fn of(log: &[Delta]) -> Merges {
        let mut active: Vec<(usize, ProfileId)> = Vec::new();
        let mut undone = Vec::new();
        for (i, d) in log.iter().enumerate() {
            match &d.change {
                Change::Merge { loser, .. } => active.push((i, *loser)),
                Change::Unmerge { split_off, .. } => {
                    if let Some(pos) = active.iter().rposition(|(_, l)| l == split_off) {
                        undone.push((active.remove(pos).0, i));
                    }
                }
                _ => {}
            }
        }
        Merges { active, undone }
    }
}

/// Whether the update or consent change `d` came only through `ids`: it
/// goes to the profile those identifiers are split off to.
fn came_only_through(d: &Delta, ids: &[Identifier]) -> bool {
    !d.via.is_empty() && d.via.iter().all(|v| ids.contains(v))
}

/// One side of a split: traits and consent.
struct Split {
    traits: Traits,
    consent: Consents,
}

/// Rebuilding both sides of a split from the survivor's log.
struct Replay<'l> {
    survivor: ProfileId,
    /// The survivor's retained log.
    log: &'l [Delta],
    /// The merge being undone.
    at: usize,
    /// Merges undone by a later unmerge, with that unmerge (`Merges::undone`).
    undone: &'l [(usize, usize)],
    /// The identifiers going back to the split-off profile.
    back: &'l [Identifier],
}

impl Replay<'_> {
    /// Where the survivor's replay starts: before the merge being undone,
    /// or before an earlier merge that an unmerge after that point undid
    /// (the state there still holds that merge's loser, which the replay
    /// leaves out).
    fn start(&self) -> usize {
        let mut start = self.at;
        while let Some(m) = self.undone.iter().filter(|(m, u)| *m < start && *u > start).map(|(m, _)| *m).min() {
            start = m;
        }
        start
    }

    /// Replays the survivor's log from `start` onto the two split states:
    /// the merge being undone is left out (its loser's state is `o`'s
    /// start); an update or consent change after it that came only through
    /// the split-off identifiers goes to the restored profile; every other
    /// update and merge to the survivor. A merge that a later unmerge undid
    /// is left out with that unmerge and with the updates between them that
    /// the unmerge gave to the profile it split off — rather than taking
    /// the survivor's state that unmerge recorded, which still holds what
    /// is split off now when that merge came after this one. Likewise a
    /// split of the survivor itself off a profile it had merged into
    /// replays the updates that split gave it ([`given_at_split`]) rather
    /// than taking the state it recorded. An operator that no longer
    /// applies to a split state is skipped.
    fn run(&self, txn: &Txn<'_>, start: usize, mut p: Split, mut o: Split) -> Result<(Split, Split)> {
        let rules = &txn.core.config.merge_rules;
        for (k, d) in self.log.iter().enumerate().skip(start) {
            if k == self.at || self.undone.iter().any(|(m, u)| *m == k || *u == k) {
                continue;
            }
            match &d.change {
                Change::Update(_) | Change::Consent(_) => self.apply(k, d, &mut p, &mut o),
                Change::Merge { loser_state, .. } => {
                    p.traits = rules.fold(&p.traits, &loser_state.traits)?;
                    p.consent = merge_consents(&p.consent, &loser_state.consent);
                }
                Change::SplitFrom { result, consent, .. } => match given_at_split(txn, self.survivor, d, MAX_SPLITS)? {
                    Some(given) => {
                        for g in &given {
                            self.apply(k, g, &mut p, &mut o);
                        }
                    }
                    // The profile it split from has its history folded (or
                    // gone): only the state recorded then is known.
                    None => p = Split { traits: result.clone(), consent: consent.clone() },
                },
                // An unmerge whose merge history retention folded: only the
                // state recorded then is known.
                Change::Unmerge { result, consent, .. } => {
                    p = Split { traits: result.clone(), consent: consent.clone() };
                }
            }
        }
        Ok((p, o))
    }

    /// Applies the update or consent change `d`, met at index `k` of the
    /// log, to the side it belongs to (or to neither, when a later unmerge
    /// gave it to the profile it split off).
    fn apply(&self, k: usize, d: &Delta, p: &mut Split, o: &mut Split) {
        let split_since =
            self.undone.iter().any(|(m, u)| *m < k && k < *u && came_only_through(d, &self.log[*u].unlinked));
        if split_since {
            return;
        }
        let side = if k > self.at && came_only_through(d, self.back) { o } else { p };
        match &d.change {
            Change::Update(ops) => {
                for op in ops {
                    let mut next = side.traits.clone();
                    if op.apply(&mut next, d.at).is_ok() {
                        side.traits = next;
                    }
                }
            }
            Change::Consent(ops) => {
                for op in ops {
                    op.apply(&mut side.consent, d.at);
                }
            }
            _ => {}
        }
    }
}

/// How many splits deep [`given_at_split`] follows (each goes further back
/// in time, so this only bounds a damaged history).
const MAX_SPLITS: usize = 64;

/// The updates and consent changes that the unmerge recorded as `split`
/// (a `Change::SplitFrom` in `restored`'s log) gave to `restored`: those of
/// the log of the profile it was split from, between its merge and that
/// unmerge, that came only through the identifiers it took back — with,
/// in turn, those that splits in that stretch gave to that profile.
/// `None` when that merge and unmerge are no longer in its history.
fn given_at_split(txn: &Txn<'_>, restored: ProfileId, split: &Delta, depth: usize) -> Result<Option<Vec<Delta>>> {
    let Change::SplitFrom { survivor, .. } = &split.change else { return Ok(None) };
    if depth == 0 {
        return Ok(None);
    }
    let log = history::deltas(&txn.view, *survivor)?;
    // The merge the split undid: the restored profile's state at it is the
    // version before the split.
    let undone = Merges::of(&log).undone;
    let found = undone.into_iter().find(|(m, _)| {
        matches!(&log[*m].change, Change::Merge { loser, loser_state, .. }
            if *loser == restored && loser_state.version + 1 == split.version)
    });
    let Some((m, u)) = found else { return Ok(None) };
    let back = &log[u].unlinked;
    let mut given = Vec::new();
    for d in &log[m + 1..u] {
        match &d.change {
            Change::Update(_) | Change::Consent(_) if came_only_through(d, back) => given.push(d.clone()),
            Change::SplitFrom { .. } => {
                let theirs = given_at_split(txn, *survivor, d, depth - 1)?.unwrap_or_default();
                given.extend(theirs.into_iter().filter(|g| came_only_through(g, back)));
            }
            _ => {}
        }
    }
    Ok(Some(given))
}
