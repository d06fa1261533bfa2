//! Consent: recording changes, reading the current states, and exporting
//! a segment for a purpose that requires consent.

use crate::error::{Error, NotFoundKind, Result};
use crate::identity::identifier::Identifier;
use crate::identity::stitch::stitch;
use crate::privacy::{ConsentChange, ConsentOp, ConsentRecord, ConsentStatus};
use crate::profile::consent::MAX_CONSENT_OPS;
use crate::profile::delta::{Cause, Change};
use crate::profile::id::ProfileId;
use crate::profile::traits::Traits;
use crate::txn::{NewDelta, Txn};

use super::write::WriteReceipt;
use super::ProfileDb;

/// One purpose's consent as it stands now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentInfo {
    /// The purpose.
    pub purpose: String,
    /// Its status now: an expired grant is [`ConsentStatus::Expired`].
    pub status: ConsentStatus,
    /// The recorded state, source, time and expiry.
    pub record: ConsentRecord,
}

/// Whether [`ProfileDb::export_segment`] enforces the export purpose's
/// required consents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentCheck {
    /// Leave out members without every required consent (the normal case).
    Enforce,
    /// Include every member: the caller has another legal basis and says
    /// so explicitly. The result still counts who lacked consent.
    Override,
}

/// The result of [`ProfileDb::export_segment`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentExport {
    /// The members exported, ascending by id.
    pub members: Vec<ProfileId>,
    /// Members left out for lack of a required consent (0 with
    /// [`ConsentCheck::Override`]).
    pub left_out: u64,
    /// Members included although they lack a required consent (only with
    /// [`ConsentCheck::Override`]).
    pub overridden: u64,
}

impl ProfileDb {
    /// Records a consent change for `purpose` on the profile `identifier`
    /// reaches (creating it when the identifier is new), as one delta
    /// ([`Change::Consent`]) in its history.
    ///
    /// ```
    /// use profiledb::privacy::{ConsentChange, ConsentStatus};
    /// use profiledb::{Identifier, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.set_consent(&ann, "marketing_email", ConsentChange::granted("signup_form"))?;
    /// let consent = db.consent(&ann)?.expect("ann exists");
    /// assert_eq!(consent[0].status, ConsentStatus::Granted);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// Errors, with nothing written: a malformed purpose, or in strict mode
    /// one not configured ([`Error::UnknownPurpose`]); an empty or too long
    /// source; an expiry on a refusal, or one not after now.
    pub fn set_consent(&self, identifier: &Identifier, purpose: &str, change: ConsentChange) -> Result<WriteReceipt> {
        let op = ConsentOp { purpose: purpose.to_owned(), change };
        self.change_consent(std::slice::from_ref(identifier), vec![op], Cause::Api)
    }

    /// Records several consent changes, for the profile `identifiers`
    /// resolve to (stitched as by [`identify`](Self::identify)), as one delta.
    pub fn change_consent(
        &self,
        identifiers: &[Identifier],
        ops: Vec<ConsentOp>,
        cause: Cause,
    ) -> Result<WriteReceipt> {
        self.writable("change_consent")?;
        if ops.is_empty() || ops.len() > MAX_CONSENT_OPS {
            return Err(Error::invalid(format!(
                "a consent change carries 1–{MAX_CONSENT_OPS} purposes, got {}",
                ops.len()
            )));
        }
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        for op in &ops {
            op.validate(txn.now)?;
            self.core.config.privacy.check_purpose(&op.purpose)?;
        }
        if super::privacy::screen(&txn, identifiers)? {
            return Ok(WriteReceipt::dropped());
        }
        let s = stitch(&mut txn, identifiers, &cause)?;
        let prev = txn.profile(s.target)?;
        let at = txn.time_for(prev.as_deref());
        let (traits, mut consent) = match &prev {
            Some(p) => (p.profile.traits.clone(), p.profile.consent.clone()),
            None => (Traits::new(), Default::default()),
        };
        for op in &ops {
            op.apply(&mut consent, at);
        }
        let mut d = NewDelta::new(Change::Consent(ops), cause);
        d.via = identifiers.to_vec();
        d.linked = s.linked.clone();
        d.unlinked = s.unlinked.clone();
        let version = txn.record_state(s.target, prev.as_deref(), traits, consent, d).profile.version;
        txn.commit()?;
        Ok(WriteReceipt::stitched(s, version))
    }

    /// The consent of the person `identifier` reaches, by purpose, with
    /// each purpose's status now (`None`: no such person). A purpose never
    /// recorded is absent, which counts as not granted.
    pub fn consent(&self, identifier: &Identifier) -> Result<Option<Vec<ConsentInfo>>> {
        let now = self.core.clock.now();
        Ok(self.get(identifier)?.map(|p| {
            p.consent
                .iter()
                .map(|(purpose, record)| ConsentInfo {
                    purpose: purpose.clone(),
                    status: record.status_at(now),
                    record: record.clone(),
                })
                .collect()
        }))
    }

    /// The members of `segment` to export for `purpose` (an export purpose
    /// configured with [`Builder::export_purpose`](crate::Builder::export_purpose)):
    /// with [`ConsentCheck::Enforce`], members without every consent the
    /// purpose requires, granted and unexpired now, are left out and
    /// counted. An unknown export purpose is [`Error::UnknownExportPurpose`];
    /// an unknown segment is [`Error::NotFound`].
    pub fn export_segment(&self, segment: &str, purpose: &str, check: ConsentCheck) -> Result<SegmentExport> {
        let required = self.core.config.privacy.export_requires(purpose)?.to_vec();
        let members: Vec<u32> = {
            let state = self.core.segments.read();
            let seg = state
                .get(segment)
                .ok_or_else(|| Error::not_found(NotFoundKind::Segment, format!("segment {segment:?}")))?;
            seg.members.iter().collect()
        };
        let now = self.core.clock.now();
        let mut out = SegmentExport { members: Vec::with_capacity(members.len()), left_out: 0, overridden: 0 };
        let view = self.core.store.latest();
        for p in members {
            let Some(rec) = self.live_record(&view, ProfileId(p))? else { continue };
            let profile = &rec.profile;
            let allowed = required.iter().all(|r| profile.consent.get(r).is_some_and(|c| c.status_at(now).allows()));
            match (allowed, check) {
                (true, _) => out.members.push(profile.id),
                (false, ConsentCheck::Enforce) => out.left_out += 1,
                (false, ConsentCheck::Override) => {
                    out.overridden += 1;
                    out.members.push(profile.id);
                }
            }
        }
        Ok(out)
    }
}
