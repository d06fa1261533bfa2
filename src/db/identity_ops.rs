//! Identity administration: explicit merge, unmerge, identifier removal
//! and re-linking.

use crate::error::{Error, Result};
use crate::identity::detach;
use crate::identity::identifier::Identifier;
use crate::identity::stitch::merge_within_limits;
use crate::identity::unmerge::{unmerge, UnmergeReceipt};
use crate::profile::delta::Cause;
use crate::profile::id::ProfileId;
use crate::txn::Txn;

use super::ProfileDb;

impl ProfileDb {
    /// Merges two profiles explicitly (an admin action): the higher id
    /// merges into the lower. Returns the survivor.
    ///
    /// The identity rules' per-kind limits apply as in stitching: when the
    /// two together hold more identifiers of a kind that refuses past its
    /// limit (by default `user_id` 1, `email` 5, `phone` 5), the merge is
    /// refused with [`Error::InvalidInput`] naming the kind and the limit,
    /// and nothing is written — two people's accounts are not merged by a
    /// support tool that thought them duplicates; remove the extra
    /// identifier first if they are one person. Past the limit of a kind
    /// that evicts its oldest (`device_id`, `anonymous_id`), the oldest are
    /// unlinked (recorded in the survivor's history). A merge rule's limit
    /// (a union list past 1,000 values, more than 10,000 traits, an integer
    /// sum past `i64`) refuses it with an error too.
    pub fn merge_profiles(&self, a: ProfileId, b: ProfileId, cause: Cause) -> Result<ProfileId> {
        self.writable("merge_profiles")?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let live = |txn: &Txn<'_>, id: ProfileId| -> Result<ProfileId> {
            if txn.profile(id)?.is_some() {
                return Ok(id);
            }
            txn.alias_of(id)?.ok_or_else(|| Error::no_profile(id))
        };
        let (a, b) = (live(&txn, a)?, live(&txn, b)?);
        if a == b {
            return Ok(a);
        }
        let (survivor, loser) = (a.min(b), a.max(b));
        merge_within_limits(&mut txn, survivor, loser, &cause)?;
        txn.commit()?;
        Ok(survivor)
    }

    /// Splits the profile `identifier` came from back off `profile`,
    /// reconstructed from the delta log; records the split in both
    /// histories. See the README's merge rules for what goes where.
    pub fn unmerge(&self, profile: ProfileId, identifier: &Identifier) -> Result<UnmergeReceipt> {
        self.writable("unmerge")?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let live = self.resolve_id(profile)?.ok_or_else(|| Error::no_profile(profile))?;
        let r = unmerge(&mut txn, live, identifier, &Cause::Api)?;
        txn.commit()?;
        Ok(r)
    }

    /// Detaches `identifier` from `profile` onto a profile of its own, so
    /// later operations carrying it do not stitch it back. Returns the
    /// profile it now lives on. Removing it again while it is alone on
    /// that profile (a retry) writes nothing and returns the same profile;
    /// the last identifier of any other profile is refused (erase the
    /// profile instead).
    pub fn remove_identifier(&self, profile: ProfileId, identifier: &Identifier) -> Result<ProfileId> {
        self.writable("remove_identifier")?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let live = self.resolve_id(profile)?.ok_or_else(|| Error::no_profile(profile))?;
        let own = detach::remove_identifier(&mut txn, live, identifier, &Cause::Api)?;
        txn.commit()?;
        Ok(own)
    }

    /// Links `identifier` to `profile` explicitly, even if it was removed
    /// (detached) or lives on another profile. When it is the last
    /// identifier of the profile it lives on, that profile merges into
    /// `profile` in the same batch (its traits, consent, events, rollups and
    /// segments, by the merge rules; for a detached identifier,
    /// `unmerge(profile, identifier)` splits it off again) instead of staying live with no identifier. An erased
    /// person's identifier is always refused ([`Error::Suppressed`]).
    ///
    /// The identity rules' per-kind limits and blocklist do not apply: an
    /// explicit link is an operator's decision about one identifier (say,
    /// moving a second `user_id` onto a profile during an account
    /// migration), and refusing it would leave no way to make it. Use it
    /// with care: a profile past a kind's limit makes later stitching
    /// treat it as full (identifiers of that kind from elsewhere give way
    /// to it). [`merge_profiles`](Self::merge_profiles) does apply them.
    pub fn link_identifier(&self, profile: ProfileId, identifier: &Identifier) -> Result<()> {
        self.writable("link_identifier")?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let live = self.resolve_id(profile)?.ok_or_else(|| Error::no_profile(profile))?;
        if super::privacy::first_suppressed(&txn, std::slice::from_ref(identifier))?.is_some() {
            return Err(Error::Suppressed { position: 0, kind: identifier.kind().to_owned() });
        }
        detach::relink(&mut txn, live, identifier, &Cause::Api)?;
        txn.commit()
    }
}
