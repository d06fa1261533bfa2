//! Stitching: resolving an operation's identifiers to one profile,
//! attaching unseen ones and merging profiles they link — under the
//! identity rules.

use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::kinds::KindCounts;
use crate::identity::link::IdentityLink;
use crate::identity::merge::merge_into;
use crate::identity::rules::OnExceed;
use crate::profile::delta::{Cause, Change};
use crate::profile::id::ProfileId;
use crate::profile::traits::Traits;
use crate::txn::{NewDelta, Txn};
use smallvec::SmallVec;

/// Why an identifier of an operation was not linked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// Its value is on the blocklist, or it is a phone number too short to
    /// be one person's ([`IdentityRules::blocks`](crate::IdentityRules::blocks)).
    Blocked,
    /// Linking it would exceed its kind's limit; it stays on `own_profile`.
    Refused {
        /// The limit that refused it.
        max: usize,
        /// The profile it is on (created for it when it was new).
        own_profile: ProfileId,
    },
    /// It resolves to another profile whose merge would break a limit of
    /// `kind`; a higher-priority identifier decided the target.
    GaveWay {
        /// The kind whose limit the merge would break.
        kind: String,
        /// The profile it stays on.
        stays_on: ProfileId,
    },
    /// It resolves to another profile whose merge a merge rule refuses (a
    /// union list or the trait count past its limit, an integer sum past
    /// `i64`; see [`MergeRules`](crate::MergeRules)); a higher-priority
    /// identifier decided the target, and the operation applies there.
    MergeRefused {
        /// What the merge rule refused, naming the trait.
        reason: String,
        /// The profile it stays on.
        stays_on: ProfileId,
    },
    /// It was detached by `remove_identifier` and is not stitched.
    Detached {
        /// The profile it stays on.
        stays_on: ProfileId,
    },
}

/// The outcome of stitching one operation's identifiers.
#[derive(Debug)]
pub(crate) struct Stitched {
    /// The profile the operation applies to.
    pub target: ProfileId,
    /// Whether `target` is new (no record yet).
    pub created: bool,
    /// Profiles merged into `target`.
    pub merged: Vec<ProfileId>,
    /// Identifiers newly linked to `target` (already staged).
    pub linked: Vec<Identifier>,
    /// Identifiers evicted from `target` by a limit (already staged).
    pub unlinked: Vec<Identifier>,
    /// Identifiers not linked, with the reason.
    pub ignored: Vec<(Identifier, Ignored)>,
}

struct Seen<'i> {
    ident: &'i Identifier,
    link: crate::txn::Resolved,
}

/// Resolves `identifiers` for a write, staging links and merges in `txn`.
pub(crate) fn stitch(txn: &mut Txn<'_>, identifiers: &[Identifier], cause: &Cause) -> Result<Stitched> {
    let rules = &txn.core.config.identity_rules;
    rules.check_normalized(identifiers)?;
    // By reference: an identifier is copied only into the result.
    // Inline: an event carries a few identifiers, and an allocation per
    // list was a visible part of a batched event's writer time.
    let mut ids: SmallVec<[&Identifier; 4]> = identifiers.iter().collect();
    rules.sort_by_priority(&mut ids);
    ids.dedup();

    let mut ignored = Vec::new();
    let mut seen: SmallVec<[Seen; 4]> = SmallVec::new();
    let mut unseen: SmallVec<[&Identifier; 4]> = SmallVec::new();
    for ident in ids {
        if rules.blocks_normalized(ident) {
            ignored.push((ident.clone(), Ignored::Blocked));
        } else if let Some(link) = txn.resolve_noting_absent(ident)? {
            seen.push(Seen { ident, link });
        } else {
            unseen.push(ident);
        }
    }
    // The base profile: the highest-priority stitchable identifier's —
    // unless unseen identifiers outrank it and would be refused there: the
    // operation is theirs (see `leading_unseen`), and the group starts empty.
    let anchor = seen.iter().find(|s| !s.link.detached).or(seen.first());
    let (leaders, leading) = leading_unseen(txn, &unseen, anchor.map(|s| s.ident));
    let base = if leaders.is_empty() { anchor.map(|s| s.link.profile) } else { None };
    let mut group: SmallVec<[ProfileId; 4]> = base.into_iter().collect();
    // Identifier counts per kind are only needed when the operation links
    // something new; the common case (every identifier already on one
    // profile) skips reading them.
    let needs_counts = !unseen.is_empty() || seen.iter().any(|s| Some(s.link.profile) != base);
    let mut counts = match base {
        Some(b) if needs_counts => txn.kind_counts(b)?,
        _ => leading,
    };
    // The traits of the group folded by the merge rules (read when a second
    // profile would join).
    let mut folded: Option<Traits> = None;
    for s in &seen {
        let q = s.link.profile;
        if group.contains(&q) {
            continue;
        }
        if s.link.detached {
            ignored.push((s.ident.clone(), Ignored::Detached { stays_on: q }));
            continue;
        }
        let theirs = txn.kind_counts(q)?;
        if let Some(kind) = first_exceeded(txn, &counts, &theirs) {
            ignored.push((s.ident.clone(), Ignored::GaveWay { kind, stays_on: q }));
            continue;
        }
        // The merge rules' limits, checked before anything is staged: a
        // refused fold leaves q apart and the operation applies to the
        // others, as a kind limit does.
        if let Some(reason) = fold_in(txn, &mut folded, &group, q)? {
            ignored.push((s.ident.clone(), Ignored::MergeRefused { reason, stays_on: q }));
            continue;
        }
        if group.len() + 1 > rules.max_profiles_per_merge {
            return Err(Error::invalid(format!(
                "identifiers {} link more than {} profiles; the merge cap refuses this operation",
                identifiers.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                rules.max_profiles_per_merge
            )));
        }
        counts.add_all(&theirs);
        group.push(q);
    }

    let (target, created) = match group.iter().min() {
        Some(t) => (*t, false),
        None => (txn.allocate_id()?, true),
    };
    let mut merged: Vec<ProfileId> = group.iter().copied().filter(|p| *p != target).collect();
    merged.sort_unstable();
    for loser in &merged {
        merge_into(txn, target, *loser, cause)?;
    }

    let mut linked = Vec::new();
    // Kinds that evict their oldest never keep a merge from happening: past
    // the limit, the union's oldest identifiers of the kind are unlinked, as
    // for an unseen identifier (below).
    let mut unlinked = evict_past_limits(txn, &group, target, &mut counts)?;
    for ident in unseen {
        let kind = ident.kind().to_owned();
        let have = counts.get(&kind);
        // A leader is counted already, within its limit.
        let counted = leaders.contains(&ident);
        let mut evicted = false;
        if let Some(limit) = txn.core.config.identity_rules.limit_of(&kind).filter(|_| !counted) {
            if have + 1 > limit.max {
                match limit.on_exceed {
                    OnExceed::Refuse => {
                        let own = own_profile(txn, ident, cause)?;
                        ignored.push((ident.clone(), Ignored::Refused { max: limit.max, own_profile: own }));
                        continue;
                    }
                    OnExceed::EvictOldest => {
                        if let Some(victim) = oldest_of_kind(txn, &group, target, &kind, &linked)? {
                            txn.delete_link(&victim)?;
                            unlinked.push(victim);
                            evicted = true;
                        } else {
                            // limit 0: nothing can be linked
                            let own = own_profile(txn, ident, cause)?;
                            ignored.push((ident.clone(), Ignored::Refused { max: limit.max, own_profile: own }));
                            continue;
                        }
                    }
                }
            }
        }
        if !evicted && !counted {
            counts.add(&kind, 1);
        }
        let link =
            IdentityLink { profile: target, origin: target, linked_at: txn.now, cause: cause.clone(), detached: false };
        txn.put_link(ident, link)?;
        linked.push(ident.clone());
    }
    Ok(Stitched { target, created, merged, linked, unlinked, ignored })
}

/// The unseen identifiers that lead an operation, and their counts by
/// kind: those ranked above `anchor` (the identifier that would otherwise
/// decide the target) whose kind refuses links past its limit, as many of
/// each kind as the limit allows. The highest-priority identifier decides
/// the target even when it is new: a call carrying a new `user_id` and an
/// email of another person's profile (one that has a `user_id`) is about
/// the new user — attaching the call to the email's profile would refuse
/// the `user_id` there and write the new user's traits onto the other
/// person. With leaders, the seen identifiers' profiles join the group only
/// where the limits allow, and give way otherwise. Kinds that evict their
/// oldest identifier never refuse, so they never lead: a new device of a
/// known profile rotates into it.
fn leading_unseen<'i>(
    txn: &Txn<'_>,
    unseen: &[&'i Identifier],
    anchor: Option<&Identifier>,
) -> (Vec<&'i Identifier>, KindCounts) {
    let rules = &txn.core.config.identity_rules;
    let (mut leaders, mut counts) = (Vec::new(), KindCounts::default());
    let Some(anchor) = anchor else { return (leaders, counts) };
    let above = rules.rank(anchor.kind());
    for ident in unseen.iter().take_while(|i| rules.rank(i.kind()) < above) {
        let kind = ident.kind();
        let refuses = rules.limit_of(kind).filter(|l| l.on_exceed == OnExceed::Refuse);
        if refuses.is_some_and(|l| counts.get(kind) < l.max) {
            counts.add(kind, 1);
            leaders.push(*ident);
        }
    }
    (leaders, counts)
}

/// The first kind (in priority order) that refuses links past its limit
/// and whose limit the union would exceed. Kinds that evict their oldest
/// are not checked: a merge past their limit evicts
/// ([`evict_past_limits`]).
fn first_exceeded(txn: &Txn<'_>, ours: &KindCounts, theirs: &KindCounts) -> Option<String> {
    let rules = &txn.core.config.identity_rules;
    let mut kinds: Vec<&str> = theirs.iter().map(|(k, _)| k).collect();
    kinds.sort_by_key(|k| (rules.rank(k), *k));
    kinds.into_iter().find_map(|k| {
        let limit = rules.limit_of(k).filter(|l| l.on_exceed == OnExceed::Refuse)?;
        (ours.get(k) + theirs.get(k) > limit.max).then(|| k.to_owned())
    })
}

/// Folds the traits of `q` into those of `group` (`folded`, read on first
/// use) by the merge rules; the reason when a limit of theirs refuses it
/// (a union list or the trait count past its limit, an integer sum past
/// `i64`), leaving `folded` as it was. Joining an empty group folds
/// nothing (`folded` stays unread until a second profile would join).
fn fold_in(txn: &Txn<'_>, folded: &mut Option<Traits>, group: &[ProfileId], q: ProfileId) -> Result<Option<String>> {
    let traits_of = |p: ProfileId| -> Result<Traits> {
        let rec = txn.profile(p)?.ok_or_else(|| Error::no_profile(p))?;
        Ok(rec.profile.traits.clone())
    };
    let Some((first, rest)) = group.split_first() else {
        return Ok(None);
    };
    let rules = &txn.core.config.merge_rules;
    let acc = match folded.take() {
        Some(t) => t,
        None => {
            let mut acc = traits_of(*first)?;
            for p in rest {
                acc = rules.fold(&acc, &traits_of(*p)?)?;
            }
            acc
        }
    };
    match rules.fold(&acc, &traits_of(q)?) {
        Ok(t) => {
            *folded = Some(t);
            Ok(None)
        }
        Err(e) => {
            let reason = format!("merging profile {q} would break a merge rule: {e}");
            *folded = Some(acc);
            Ok(Some(reason))
        }
    }
}

/// Unlinks, for every kind that evicts its oldest and that `target` (the
/// group merged) holds more of than its limit, the oldest identifiers of
/// the kind until it is within the limit; adjusts `counts`. Returns them.
fn evict_past_limits(
    txn: &mut Txn<'_>,
    group: &[ProfileId],
    target: ProfileId,
    counts: &mut KindCounts,
) -> Result<Vec<Identifier>> {
    let mut evicted = Vec::new();
    if group.len() < 2 {
        return Ok(evicted);
    }
    let rules = &txn.core.config.identity_rules;
    let mut over: Vec<(String, usize)> = counts
        .iter()
        .filter_map(|(k, n)| {
            let limit = rules.limit_of(k).filter(|l| l.on_exceed == OnExceed::EvictOldest)?;
            (n > limit.max).then(|| (k.to_owned(), n - limit.max))
        })
        .collect();
    over.sort_by_key(|(k, _)| (rules.rank(k), k.clone()));
    for (kind, excess) in over {
        for _ in 0..excess {
            let Some(victim) = oldest_of_kind(txn, group, target, &kind, &[])? else { break };
            txn.delete_link(&victim)?;
            counts.add(&kind, -1);
            evicted.push(victim);
        }
    }
    Ok(evicted)
}

/// The oldest-linked identifier of `kind` on `target` (or on the profiles
/// merged into it, whose identifiers are staged to it), excluding ones
/// linked by this operation. Identifiers linked at the same instant (by
/// one call) are told apart by their text, the smallest going first, so
/// the choice does not depend on the order they are listed in.
fn oldest_of_kind(
    txn: &Txn<'_>,
    group: &[ProfileId],
    target: ProfileId,
    kind: &str,
    fresh: &[Identifier],
) -> Result<Option<Identifier>> {
    let mut best: Option<(crate::clock::Timestamp, Identifier)> = None;
    let mut candidates = Vec::new();
    for p in group {
        candidates.extend(txn.identifiers_of(*p)?);
    }
    candidates.retain(|i| i.kind() == kind && !fresh.contains(i));
    for ident in candidates {
        if let Some(link) = txn.link(&ident)? {
            if link.profile == target && best.as_ref().is_none_or(|(t, b)| (link.linked_at, &ident) < (*t, b)) {
                best = Some((link.linked_at, ident));
            }
        }
    }
    Ok(best.map(|(_, i)| i))
}

/// Puts a refused identifier on a new profile of its own.
fn own_profile(txn: &mut Txn<'_>, ident: &Identifier, cause: &Cause) -> Result<ProfileId> {
    let id = txn.allocate_id()?;
    let link = IdentityLink { profile: id, origin: id, linked_at: txn.now, cause: cause.clone(), detached: false };
    txn.put_link(ident, link)?;
    let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
    d.via = vec![ident.clone()];
    d.linked = vec![ident.clone()];
    txn.record_delta(id, None, Traits::new(), d);
    Ok(id)
}

/// An explicit (admin) merge of `loser` into `survivor` under the identity
/// rules: refused with an error naming the kind and its limit, writing
/// nothing, when together they hold more identifiers of a kind that refuses
/// past its limit than it allows (two `user_id`s: remove one first);
/// past the limit of a kind that evicts its oldest, the oldest are unlinked
/// as in a stitching merge (recorded in a delta of the survivor).
pub(crate) fn merge_within_limits(
    txn: &mut Txn<'_>,
    survivor: ProfileId,
    loser: ProfileId,
    cause: &Cause,
) -> Result<()> {
    let mut counts = txn.kind_counts(survivor)?;
    let theirs = txn.kind_counts(loser)?;
    if let Some(kind) = first_exceeded(txn, &counts, &theirs) {
        let max = txn.core.config.identity_rules.limit_of(&kind).map_or(0, |l| l.max);
        return Err(Error::invalid(format!(
            "merging profile {loser} into profile {survivor} is refused: together they hold {} {kind} identifiers, \
             and the identity rules allow at most {max} per profile (remove_identifier one of them first)",
            counts.get(&kind) + theirs.get(&kind)
        )));
    }
    merge_into(txn, survivor, loser, cause)?;
    counts.add_all(&theirs);
    let evicted = evict_past_limits(txn, &[survivor, loser], survivor, &mut counts)?;
    if !evicted.is_empty() {
        let p = txn.profile(survivor)?.ok_or_else(|| Error::no_profile(survivor))?;
        let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
        d.unlinked = evicted;
        txn.record_delta(survivor, Some(&p), p.profile.traits.clone(), d);
    }
    Ok(())
}
