//! Removing an identifier from a profile so it is not stitched back, and
//! explicitly re-linking it.

use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::link::IdentityLink;
use crate::identity::merge::merge_into;
use crate::profile::delta::{Cause, Change};
use crate::profile::id::ProfileId;
use crate::profile::traits::Traits;
use crate::txn::{NewDelta, Txn};

/// Detaches `ident` from `profile` onto a new profile of its own, marked
/// detached: later operations carrying it reach that profile and never
/// stitch it into another, until [`relink`]. An identifier already
/// detached and alone on its profile stays there (a retried removal
/// writes nothing and returns that profile).
pub(crate) fn remove_identifier(
    txn: &mut Txn<'_>,
    profile: ProfileId,
    ident: &Identifier,
    cause: &Cause,
) -> Result<ProfileId> {
    let p = txn.profile(profile)?.ok_or_else(|| Error::no_profile(profile))?;
    let detached = match txn.link(ident)? {
        Some(l) if l.profile == profile => l.detached,
        _ => return Err(Error::invalid(format!("identifier {ident} is not linked to profile {profile}"))),
    };
    let alone = txn.kind_counts(profile)?.total() <= 1;
    if detached && alone {
        // Removed before, and nothing linked to its profile since: a retry
        // finds it where the first removal put it, and writes nothing.
        return Ok(profile);
    }
    if alone {
        return Err(Error::invalid(format!(
            "{ident} is the last identifier of profile {profile}; erase the profile instead of removing it"
        )));
    }
    let own = txn.allocate_id()?;
    let link = IdentityLink { profile: own, origin: own, linked_at: txn.now, cause: cause.clone(), detached: true };
    txn.put_link(ident, link)?;
    let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
    d.linked = vec![ident.clone()];
    txn.record_delta(own, None, Traits::new(), d);
    let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
    d.unlinked = vec![ident.clone()];
    txn.record_delta(profile, Some(&p), p.profile.traits.clone(), d);
    Ok(own)
}

/// Links `ident` to `profile` explicitly, clearing a detached mark and
/// moving it from whatever profile holds it (identity limits do not apply
/// to an explicit admin link). When `ident` is the last identifier of the
/// profile it comes from, that profile merges into `profile` first (its
/// traits, consent, events, rollups and segments, as in a stitching
/// merge), rather than staying live with no identifier to reach it.
pub(crate) fn relink(txn: &mut Txn<'_>, profile: ProfileId, ident: &Identifier, cause: &Cause) -> Result<()> {
    if txn.profile(profile)?.is_none() {
        return Err(Error::no_profile(profile));
    }
    let old = txn.link(ident)?;
    if let Some(old) = &old {
        if old.profile != profile {
            if let Some(q) = txn.profile(old.profile)? {
                if txn.kind_counts(old.profile)?.total() <= 1 {
                    // Its last identifier: the profile goes with it.
                    merge_into(txn, profile, old.profile, cause)?;
                } else {
                    let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
                    d.unlinked = vec![ident.clone()];
                    txn.record_delta(old.profile, Some(&q), q.profile.traits.clone(), d);
                }
            }
        } else if !old.detached {
            return Ok(());
        }
    }
    let p = txn.profile(profile)?.ok_or_else(|| Error::no_profile(profile))?;
    let link = IdentityLink {
        profile,
        origin: old.as_ref().map_or(profile, |l| l.origin),
        linked_at: txn.now,
        cause: cause.clone(),
        detached: false,
    };
    txn.put_link(ident, link)?;
    let mut d = NewDelta::new(Change::Update(Vec::new()), cause.clone());
    d.linked = vec![ident.clone()];
    txn.record_delta(profile, Some(&p), p.profile.traits.clone(), d);
    Ok(())
}
