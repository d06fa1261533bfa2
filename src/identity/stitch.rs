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

/// Why an identifier of an operation was not linked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// Its value is on the blocklist.
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
    rules.check_identifiers(identifiers)?;
    // By reference: an identifier is copied only into the result.
    let mut ids: Vec<&Identifier> = identifiers.iter().collect();
    rules.sort_by_priority(&mut ids);
    ids.dedup();

    let mut ignored = Vec::new();
    let mut seen = Vec::new();
    let mut unseen = Vec::new();
    for ident in ids {
        if rules.is_blocked(ident.value()) {
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
    let mut group: Vec<ProfileId> = base.into_iter().collect();
    // Identifier counts per kind are only needed when the operation links
    // something new; the common case (every identifier already on one
    // profile) skips reading them.
    let needs_counts = !unseen.is_empty() || seen.iter().any(|s| Some(s.link.profile) != base);
    let mut counts = match base {
        Some(b) if needs_counts => txn.kind_counts(b)?,
        _ => leading,
    };
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
    let mut unlinked = Vec::new();
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

/// The first kind (in priority order) whose limit the union would exceed.
fn first_exceeded(txn: &Txn<'_>, ours: &KindCounts, theirs: &KindCounts) -> Option<String> {
    let rules = &txn.core.config.identity_rules;
    let mut kinds: Vec<&str> = theirs.iter().map(|(k, _)| k).collect();
    kinds.sort_by_key(|k| (rules.rank(k), *k));
    kinds.into_iter().find_map(|k| {
        let limit = rules.limit_of(k)?;
        (ours.get(k) + theirs.get(k) > limit.max).then(|| k.to_owned())
    })
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
