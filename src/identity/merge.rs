//! Merging one live profile into another inside a write operation.

use crate::codec::Marker;
use crate::error::{Error, NotFoundKind, Result};
use crate::identity::graph::aliases_of;
use crate::keys;
use crate::profile::consent::merge_consents;
use crate::profile::delta::{Cause, Change};
use crate::profile::id::ProfileId;
use crate::schema;
use crate::txn::{NewDelta, Txn};

/// Merges `loser` into `survivor` (both live): traits fold by the merge
/// rules, consent by the most restrictive state per purpose, every identifier of the loser moves to the survivor (keeping its
/// origin for unmerge), the loser and its own aliases become aliases of
/// the survivor (one hop: chains are compressed as they form), the loser's
/// record is removed (its history stays, for unmerge), and the survivor's
/// log records the merge with both sides' states — timed no earlier than
/// either profile's latest delta.
pub(crate) fn merge_into(txn: &mut Txn<'_>, survivor: ProfileId, loser: ProfileId, cause: &Cause) -> Result<()> {
    // What moves below is read from storage: the loser's timeline, rollups
    // and aliases. Ones this operation staged for it (an earlier event of a
    // shared ingest batch wrote it, or merged a profile into it) would be
    // left behind under a dead id; `ingest_batch` redoes such an event in a
    // batch of its own.
    if txn.touched(loser) {
        return Err(Error::Conflict("merge of a profile written earlier in the same batch"));
    }
    let missing = |id: ProfileId| Error::not_found(NotFoundKind::Profile, format!("profile {id} (merge)"));
    let s = txn.profile(survivor)?.ok_or_else(|| missing(survivor))?;
    let l = txn.profile(loser)?.ok_or_else(|| missing(loser))?;
    // Past a limit the merge is refused (nothing written), not folded lossily.
    let result = txn
        .core
        .config
        .merge_rules
        .fold(&s.profile.traits, &l.profile.traits)
        .map_err(|e| Error::invalid(format!("merging profile {loser} into profile {survivor} is refused: {e}")))?;
    let consent = merge_consents(&s.profile.consent, &l.profile.consent);

    let moved = txn.identifiers_of(loser)?;
    for ident in &moved {
        if let Some(mut link) = txn.link(ident)? {
            link.profile = survivor;
            txn.put_link(ident, link)?;
        }
    }

    let mut retired = aliases_of(&txn.view, loser)?;
    for old in &retired {
        schema::ALIAS_REVERSE.delete(&mut txn.batch, keys::alias::reverse(loser, *old));
    }
    retired.push(loser);
    for old in retired {
        schema::ALIAS_FORWARD.put(&mut txn.batch, keys::alias::forward(old), &survivor.0);
        schema::ALIAS_REVERSE.put(&mut txn.batch, keys::alias::reverse(survivor, old), &Marker);
    }

    crate::rollup::store::move_profile_data(txn, survivor, loser)?;
    crate::segment::maintain::remove_everywhere(txn, loser)?;
    txn.push_feed(crate::segment::FeedKind::Merged { into: survivor }, None, loser);
    txn.note_merge(loser, survivor);
    txn.delete_profile(loser);
    let change = Change::Merge {
        loser,
        loser_state: (*l.profile).clone(),
        loser_history_floor: l.history_floor,
        loser_last_snapshot: l.last_snapshot,
        result: result.clone(),
        consent: consent.clone(),
    };
    let mut d = NewDelta::new(change, cause.clone());
    d.linked = moved;
    // After the loser's own history too, when the clock stepped back.
    d.not_before = Some(l.profile.updated_at);
    txn.record_state(survivor, Some(&s), result, consent, d);
    Ok(())
}
