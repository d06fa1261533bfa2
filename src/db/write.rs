//! The write path: identify/update → stitch → apply → one batch.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::stitch::{stitch, Ignored};
use crate::profile::delta::Change;
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::operator::Update;
use crate::txn::{NewDelta, Txn};
use crate::{keys, schema};

use super::ProfileDb;

/// What a write did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct WriteReceipt {
    /// The profile written to.
    pub profile: ProfileId,
    /// Its version after the write.
    pub version: u64,
    /// Whether the profile was created by this write.
    pub created: bool,
    /// Profiles merged into it by this write.
    pub merged: Vec<ProfileId>,
    /// Identifiers newly linked to it.
    pub linked: Vec<Identifier>,
    /// Identifiers evicted from it by an identity rule.
    pub unlinked: Vec<Identifier>,
    /// Identifiers of the call that were not linked, and why.
    pub ignored: Vec<(Identifier, Ignored)>,
    /// The write carried an erased identifier and was dropped under
    /// [`SuppressionPolicy::Drop`](crate::privacy::SuppressionPolicy::Drop):
    /// nothing was stored, and `profile` is [`ProfileId::NONE`].
    pub dropped: bool,
}

impl WriteReceipt {
    /// The receipt of a write to the profile stitching chose.
    pub(crate) fn stitched(s: crate::identity::stitch::Stitched, version: u64) -> Self {
        WriteReceipt {
            profile: s.target,
            version,
            created: s.created,
            merged: s.merged,
            linked: s.linked,
            unlinked: s.unlinked,
            ignored: s.ignored,
            dropped: false,
        }
    }

    /// The receipt of a write dropped by the suppression policy.
    pub(crate) fn dropped() -> Self {
        WriteReceipt {
            profile: ProfileId::NONE,
            version: 0,
            created: false,
            merged: Vec::new(),
            linked: Vec::new(),
            unlinked: Vec::new(),
            ignored: Vec::new(),
            dropped: true,
        }
    }
}

/// What a retention pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Profiles whose history was folded.
    pub profiles_folded: u64,
    /// Merged-away ids whose own log was folded (their merge is still
    /// recorded: reads before it replay the log).
    pub merged_logs_folded: u64,
    /// Merged-away ids whose own log was deleted: no log records their
    /// merge any more (folded before the horizon), so no read or unmerge
    /// could reach it.
    pub merged_logs_dropped: u64,
}

impl ProfileDb {
    /// Applies `update` to the profile `identifier` reaches, creating the
    /// profile when the identifier is new. One call is one delta, committed
    /// in one batch; an invalid update writes nothing.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let r = db.update(&ann, Update::new().set("plan", "pro").increment("logins", 1))?;
    /// assert!(r.created);
    /// db.update(&ann, Update::new().increment("logins", 1))?;
    /// let p = db.get(&ann)?.expect("ann has a profile");
    /// assert_eq!((p.version, p.traits.get("logins")), (2, Some(&2.into())));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn update(&self, identifier: &Identifier, update: Update) -> Result<WriteReceipt> {
        self.stitch_update("update", std::slice::from_ref(identifier), update)
    }

    /// Resolves every identifier, links unseen ones to the resolved profile,
    /// merges profiles the identifiers link (into the lowest id, under the
    /// identity rules), and applies `update` — all in one batch. An
    /// identifier of an erased person is refused or dropped (see
    /// [`SuppressionPolicy`](crate::privacy::SuppressionPolicy)).
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let anon: Identifier = "anonymous_id:a-1".parse()?;
    /// let email: Identifier = "email:ann@example.com".parse()?;
    /// let visitor = db.update(&anon, Update::new().increment("page_views", 3))?.profile;
    /// let customer = db.update(&email, Update::new().set("plan", "pro"))?.profile;
    /// // Logging in links both: the newer profile merges into the older one.
    /// let r = db.identify(&[anon.clone(), email.clone()], Update::new())?;
    /// assert_eq!(r.profile, visitor.min(customer));
    /// assert_eq!(db.get(&anon)?.unwrap().id, db.get(&email)?.unwrap().id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identify(&self, identifiers: &[Identifier], update: Update) -> Result<WriteReceipt> {
        self.stitch_update("identify", identifiers, update)
    }

    /// [`identify`](Self::identify), for the public operation `op`.
    fn stitch_update(&self, op: &'static str, identifiers: &[Identifier], update: Update) -> Result<WriteReceipt> {
        self.writable(op)?;
        update.validate()?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        if super::privacy::screen(&txn, identifiers)? {
            return Ok(WriteReceipt::dropped());
        }
        let cause = update.cause_or_api();
        let s = stitch(&mut txn, identifiers, &cause)?;
        let version = txn.record_update(&s, update, &cause, identifiers)?;
        txn.commit()?;
        Ok(WriteReceipt::stitched(s, version))
    }

    /// Applies `update` to the live profile `id` (an alias reaches its
    /// survivor). Fails with [`Error::NotFound`] when there is none.
    pub fn update_by_id(&self, id: ProfileId, update: Update) -> Result<WriteReceipt> {
        self.writable("update_by_id")?;
        update.validate()?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let live = match txn.profile(id)? {
            Some(_) => id,
            None => txn.alias_of(id)?.ok_or_else(|| Error::no_profile(id))?,
        };
        let prev = txn.profile(live)?.ok_or_else(|| Error::no_profile(live))?;
        // No operator, no delta: as `update` by identifier (a version is a change).
        let version = if update.is_empty() {
            prev.profile.version
        } else {
            let traits = update.apply(&prev.profile.traits, txn.time_for(Some(&prev)))?;
            let cause = update.cause_or_api();
            let d = NewDelta::new(Change::Update(update.into_ops()), cause);
            txn.record_delta(live, Some(&prev), traits, d).profile.version
        };
        txn.commit()?;
        Ok(WriteReceipt {
            profile: live,
            version,
            created: false,
            merged: Vec::new(),
            linked: Vec::new(),
            unlinked: Vec::new(),
            ignored: Vec::new(),
            dropped: false,
        })
    }

    /// Folds every delta written before `horizon` into a snapshot, for every
    /// profile. Afterwards an as-of read before the horizon fails with
    /// [`Error::HistoryTruncated`] rather than answering wrongly.
    ///
    /// The own log of an id merged into a profile at or before `horizon`
    /// is folded too while a log records its merge (reads before its merge
    /// replay it, an unmerge restores it;
    /// [`RetentionReport::merged_logs_folded`]; an id merged after
    /// `horizon` keeps its log until a later horizon reaches its merge);
    /// once that
    /// merge is folded, so that nothing can reach the log, the log is
    /// deleted if it holds nothing from `horizon` on
    /// ([`RetentionReport::merged_logs_dropped`]). A merged-away log that
    /// records another id's merge, an unmerge or a split is kept as it is.
    pub fn retain_history(&self, horizon: Timestamp) -> Result<RetentionReport> {
        self.retain_history_with_progress(horizon, &mut |_, _| {})
    }

    /// As [`retain_history`](Self::retain_history), calling `progress` with
    /// `(profiles done, profiles in all)` after each profile (a pass over
    /// a large database takes minutes; each profile is its own commit, so
    /// an interrupted pass leaves the profiles before it folded).
    pub fn retain_history_with_progress(
        &self,
        horizon: Timestamp,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<RetentionReport> {
        self.writable("retain_history")?;
        let mut report = RetentionReport::default();
        let ids: Vec<ProfileId> = {
            let view = self.core.store.latest();
            let mut ids = Vec::new();
            for kv in view.range(schema::PROFILES.name, &[], None)? {
                let (k, _) = kv?;
                ids.push(keys::parse_profile(&k).ok_or_else(|| {
                    crate::storage::corrupt_key(schema::PROFILES.name, &k, "expected a 4-byte profile id")
                })?);
            }
            ids
        };
        let total = ids.len() as u64;
        for (done, id) in (1..).zip(ids) {
            // The writer lock is let go before `progress` runs.
            report.profiles_folded += u64::from(self.fold_history_of(id, horizon)?);
            let merged = self.retain_merged_logs_of(id, horizon)?;
            report.merged_logs_folded += merged.folded;
            report.merged_logs_dropped += merged.dropped;
            progress(done, total);
        }
        Ok(report)
    }

    /// Folds profile `id`'s deltas before `horizon` into a snapshot, in
    /// one commit; whether there was anything to fold.
    fn fold_history_of(&self, id: ProfileId, horizon: Timestamp) -> Result<bool> {
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let Some(rec) = txn.profile(id)? else { return Ok(false) };
        txn.skip_segments = true;
        let Some(next) = history::fold_before(&txn.view, &mut txn.batch, &rec, horizon)? else { return Ok(false) };
        txn.put_profile(next);
        txn.commit()?;
        Ok(true)
    }

    pub(crate) fn writable(&self, op: &'static str) -> Result<()> {
        if self.core.store.is_read_only() {
            Err(Error::ReadOnly(op))
        } else {
            Ok(())
        }
    }
}
