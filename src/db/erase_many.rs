//! Erasing people: [`ProfileDb::erase_many`] and the one function both it
//! and [`ProfileDb::erase`] commit through — every person of the list in
//! one batch, the column families erase sweeps scanned once for all of
//! them (`erase_refs`), then one purge compaction.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::identity::graph::aliases_of;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::AuditAction;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::FeedKind;
use crate::storage::prefix_end;
use crate::txn::Txn;

use super::erase_refs::{self, Swept};
use super::erase_scope::Scope;
use super::privacy::{
    forget_message_id, is_suppressed_in, mark_purge_pending, purge_failed, suppression_secret, unlink_and_suppress,
    EraseReport,
};
use super::ProfileDb;

/// The most identifiers one [`ProfileDb::erase_many`] call takes: the whole
/// list is one write batch held in memory, staged while the call holds the
/// writer lock. Longer lists are refused ([`Error::InvalidInput`]); split
/// them into several calls (each scans once).
pub const MAX_ERASE_MANY: usize = 10_000;

/// Every column family whose keys start with a profile id.
const PER_PROFILE: &[&str] =
    &[keys::cf::PROFILE_IDENTIFIERS, keys::cf::DELTA, keys::cf::SNAPSHOT, keys::cf::ROLLUP, keys::cf::EVENT];

/// What [`ProfileDb::erase_many`] did with one identifier of its list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EraseOutcome {
    /// The identifier reached a person, now erased.
    Erased(EraseReport),
    /// No profile has the identifier, and it is not suppressed: nothing to
    /// erase.
    NotFound,
    /// The identifier is suppressed: its person was erased (or anonymized)
    /// before this call, so nothing is left to erase through it.
    Suppressed,
    /// The identifier reached the same person as the identifier at this
    /// (earlier, 0-based) position of the list — the same identifier
    /// listed twice included. The person was erased once, reported there.
    SamePersonAs(usize),
}

/// What [`ProfileDb::erase_many`] did: one outcome per identifier, in the
/// order of the list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EraseManyReport {
    /// The outcome of each identifier, at its position in the list.
    pub outcomes: Vec<EraseOutcome>,
}

impl EraseManyReport {
    /// How many people were erased.
    pub fn erased(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, EraseOutcome::Erased(_))).count()
    }

    /// How many identifiers reached no profile (unknown, or suppressed).
    pub fn not_found(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, EraseOutcome::NotFound | EraseOutcome::Suppressed)).count()
    }

    /// How many identifiers reached a person an earlier one reached.
    pub fn same_person(&self) -> usize {
        self.outcomes.iter().filter(|o| matches!(o, EraseOutcome::SamePersonAs(_))).count()
    }
}

/// One person of the list: the first identifier that reached it and its
/// profile; then what the erase removed.
struct Person {
    index: usize,
    profile: ProfileId,
    /// The profile and every id merged into it.
    gone: BTreeSet<ProfileId>,
    identifiers: Vec<Identifier>,
    aliases: u64,
    /// Entries removed under its own ids (and their dedup and feed entries).
    entries: u64,
}

impl ProfileDb {
    /// Erases the people a list of identifiers reaches, as
    /// [`erase`](Self::erase) erases one — what each person's profile and
    /// merged-away ids hold, and what other profiles hold of them — in
    /// **one batch**, then runs **one** purge compaction for all of them.
    ///
    /// Each identifier gets an [`EraseOutcome`] at its position in
    /// [`EraseManyReport::outcomes`]: `Erased` with the person's
    /// [`EraseReport`]; `NotFound` (no profile has it) or `Suppressed` (its
    /// person was erased or anonymized before) — reported, not an error;
    /// `SamePersonAs(i)` when an earlier identifier of the list reached the
    /// same person, which is erased once. Every erased person's identifiers
    /// are suppressed (see [`is_suppressed`](Self::is_suppressed)), their
    /// segment memberships removed with one `Erased` feed record each, and
    /// one audit record is written per erased person with `request_id`
    /// (its entry count: the person's own entries, dedup entries and feed
    /// records; the other profiles' deltas, snapshots and events the batch
    /// redacted are counted once, in the record of the list's first erased
    /// person). When no identifier reaches anyone, nothing is written and
    /// nothing compacted.
    ///
    /// An empty list, or one longer than [`MAX_ERASE_MANY`], is
    /// [`Error::InvalidInput`] and writes nothing. A read-only handle is
    /// [`Error::ReadOnly`]. If the purge compaction fails (a full disk), or a
    /// read that began before the commit is still open after the purge
    /// waited for it, this returns [`Error::PurgePending`], as `erase`
    /// does: every erasure of the
    /// list committed (calling again with the same list reports each as
    /// `Suppressed`; [`audit_log`](Self::audit_log) has their records), and
    /// the purge stays pending until [`compact`](Self::compact), the next
    /// erase, or a writable open runs it.
    ///
    /// # Cost and blocking
    ///
    /// One call costs about what one `erase` costs, whatever the length of
    /// the list: nothing indexes the references other profiles hold, so it
    /// scans — once per call, for every person of the list together —
    /// every delta (`delta`, decoded), every stored event, rollup
    /// accumulator, profile record, delta and snapshot (`event`, `rollup`,
    /// `profile`, `delta`, `snapshot`: searched for the identifiers'
    /// values), every dedup entry (`dedup`) and every feed record (`feed`)
    /// of the whole database, linear in their size. The scan reads a
    /// snapshot without the writer lock (writes go on; reads never wait);
    /// the lock is held briefly before it and, after it, while the keys it
    /// found and those written meanwhile are read again and the erasure
    /// committed (as [`erase`](Self::erase) does; a list whose people
    /// changed during the scan is scanned again under the lock). Then the
    /// purge compaction (without the lock) rewrites every column family.
    /// Erasing a day's requests in one call instead of one `erase` each
    /// divides the scanning and compaction by their number.
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use profiledb::{EraseOutcome, Identifier, ProfileDb, Update};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let (ann, ann_email): (Identifier, Identifier) = ("user_id:ann".parse()?, "email:ann@example.com".parse()?);
    /// db.identify(&[ann.clone(), ann_email.clone()], Update::new().set("name", "Ann"))?;
    /// let bob: Identifier = "user_id:bob".parse()?;
    /// db.update(&bob, Update::new().set("name", "Bob"))?;
    ///
    /// let unknown: Identifier = "user_id:nobody".parse()?;
    /// let report = db.erase_many(&[ann.clone(), bob.clone(), ann_email.clone(), unknown], Some("dsar-2026-05"))?;
    /// assert!(matches!(report.outcomes[0], EraseOutcome::Erased(_)));
    /// assert!(matches!(report.outcomes[1], EraseOutcome::Erased(_)));
    /// assert_eq!(report.outcomes[2], EraseOutcome::SamePersonAs(0));
    /// assert_eq!(report.outcomes[3], EraseOutcome::NotFound);
    /// assert_eq!((report.erased(), report.not_found(), report.same_person()), (2, 1, 1));
    /// assert!(db.is_suppressed(&ann_email)? && db.is_suppressed(&bob)?);
    /// assert_eq!(db.audit_log()?.len(), 2); // one record per erased person
    /// # Ok(())
    /// # }
    /// ```
    pub fn erase_many(&self, identifiers: &[Identifier], request_id: Option<&str>) -> Result<EraseManyReport> {
        if identifiers.is_empty() {
            return Err(Error::InvalidInput("erase_many: the list of identifiers is empty".into()));
        }
        if identifiers.len() > MAX_ERASE_MANY {
            return Err(Error::InvalidInput(format!(
                "erase_many: {} identifiers, more than the {MAX_ERASE_MANY} one call takes; split the list",
                identifiers.len()
            )));
        }
        let report = self.erase_many_committed(identifiers, request_id)?;
        if report.erased() > 0 {
            self.purge_files().map_err(|e| purge_failed("erase", e))?;
        }
        Ok(report)
    }

    /// Erases the people of `resolution` (resolved in `txn`), reading the
    /// keys of `scope` outside their own ranges (see `erase_phases`), and
    /// commits. Commits nothing when no identifier reaches anyone.
    pub(super) fn erase_resolved(
        &self,
        mut txn: Txn<'_>,
        resolution: Resolution,
        scope: &Scope,
        request_id: Option<&str>,
    ) -> Result<EraseManyReport> {
        let Resolution { mut outcomes, first_of, people } = resolution;
        if people.is_empty() {
            return Ok(EraseManyReport { outcomes });
        }
        txn.skip_segments = true;
        txn.rollups_reset = true;
        let secret = suppression_secret(&mut txn)?;
        // The writer's segments: during a backfill, the one being built too.
        let segment_ids: Vec<u32> = self.core.segments.read().for_writer().segments.iter().map(|s| s.def.id).collect();
        let mut erased = Vec::with_capacity(people.len());
        for Planned { profile: p, .. } in people {
            let identifiers = unlink_and_suppress(&mut txn, &secret, p)?;
            let aliases = aliases_of(&txn.view, p)?;
            let gone: BTreeSet<ProfileId> = std::iter::once(p).chain(aliases.iter().copied()).collect();
            let mut entries = identifiers.len() as u64;
            for &x in &gone {
                entries += delete_own(&mut txn, p, x, &segment_ids)?;
            }
            let index = first_of.get(&p).copied().unwrap_or_default();
            erased.push(Person { index, profile: p, gone, identifiers, aliases: aliases.len() as u64, entries });
        }
        // What the people left outside their own key ranges: one sweep of
        // each column family for all of them.
        let all_gone: BTreeSet<ProfileId> = erased.iter().flat_map(|e| e.gone.iter().copied()).collect();
        let all_identifiers: Vec<Identifier> = erased.iter().flat_map(|e| e.identifiers.iter().cloned()).collect();
        let dedup = erase_refs::forget_dedup(&mut txn, &all_gone, scope)?;
        let feed = erase_refs::forget_feed(&mut txn, &all_gone, scope)?;
        let mut swept = Swept::default();
        erase_refs::scrub_references(&mut txn, &all_gone, &all_identifiers, true, &mut swept, scope)?;
        // A restaged record changed state: re-evaluate its segments.
        txn.skip_segments = !swept.records_changed;
        let mut audit = Vec::with_capacity(erased.len());
        for (n, e) in erased.iter_mut().enumerate() {
            let count = |m: &BTreeMap<ProfileId, u64>| e.gone.iter().filter_map(|x| m.get(x)).sum::<u64>();
            e.entries += count(&dedup) + count(&feed);
            if n == 0 {
                e.entries += swept.total(); // the shared redaction, counted once
            }
            // Leaving its segments writes no exit record and no history
            // row: the one `Erased` record below says it left them all.
            crate::segment::maintain::remove_everywhere_unrecorded(&mut txn, e.profile)?;
            txn.push_feed(FeedKind::Erased, None, e.profile);
            txn.delete_profile(e.profile);
            audit.push((e.profile, e.entries));
        }
        self.audit_all(&mut txn, AuditAction::Erase, request_id, &audit)?;
        mark_purge_pending(&mut txn);
        txn.commit()?;
        self.note_purge_commit();
        self.publish_secret(secret);
        for e in erased {
            outcomes[e.index] = EraseOutcome::Erased(EraseReport {
                profile: e.profile,
                identifiers: e.identifiers.len() as u64,
                aliases: e.aliases,
            });
        }
        Ok(EraseManyReport { outcomes })
    }
}

/// What a list of identifiers reaches: each one's outcome so far (`NotFound`
/// for a person's first identifier, replaced once erased) and the people.
/// Two resolutions are equal when nothing an erase reads of the people
/// changed between them.
#[derive(PartialEq, Eq)]
pub(super) struct Resolution {
    outcomes: Vec<EraseOutcome>,
    /// The position of each person's first identifier.
    first_of: BTreeMap<ProfileId, usize>,
    people: Vec<Planned>,
}

/// A person a list reaches, as it was resolved.
#[derive(PartialEq, Eq)]
struct Planned {
    profile: ProfileId,
    /// The profile and every id merged into it.
    gone: BTreeSet<ProfileId>,
    identifiers: Vec<Identifier>,
}

impl Resolution {
    /// Resolves every identifier of the list (before anything is unlinked).
    pub(super) fn of(txn: &Txn<'_>, identifiers: &[Identifier]) -> Result<Self> {
        let mut outcomes = Vec::with_capacity(identifiers.len());
        let mut first_of: BTreeMap<ProfileId, usize> = BTreeMap::new();
        let mut people = Vec::new();
        for (i, ident) in identifiers.iter().enumerate() {
            outcomes.push(match txn.link(ident)?.map(|l| l.profile) {
                Some(p) => match first_of.get(&p) {
                    Some(&first) => EraseOutcome::SamePersonAs(first),
                    None => {
                        first_of.insert(p, i);
                        let gone = std::iter::once(p).chain(aliases_of(&txn.view, p)?).collect();
                        people.push(Planned { profile: p, gone, identifiers: txn.identifiers_of(p)? });
                        EraseOutcome::NotFound // replaced once erased
                    }
                },
                None if is_suppressed_in(txn, ident)? => EraseOutcome::Suppressed,
                None => EraseOutcome::NotFound,
            });
        }
        Ok(Resolution { outcomes, first_of, people })
    }

    /// Whether it reaches nobody.
    pub(super) fn is_empty(&self) -> bool {
        self.people.is_empty()
    }

    /// The profile of the first person it reaches (anonymize's one).
    pub(super) fn first_profile(&self) -> Option<ProfileId> {
        self.people.first().map(|p| p.profile)
    }

    /// Every profile id of every person (their profiles and merged-away ids).
    pub(super) fn gone(&self) -> BTreeSet<ProfileId> {
        self.people.iter().flat_map(|p| p.gone.iter().copied()).collect()
    }

    /// Every identifier of every person.
    pub(super) fn identifiers(&self) -> Vec<Identifier> {
        self.people.iter().flat_map(|p| p.identifiers.iter().cloned()).collect()
    }
}

/// Stages the deletion of what `x` (the erased profile `p` or one of its
/// merged-away ids) holds under its own id: its per-profile ranges, the
/// dedup entries of its stored events, its membership history, and (for an
/// alias) its alias entries. Returns how many per-profile entries it held.
fn delete_own(txn: &mut Txn<'_>, p: ProfileId, x: ProfileId, segment_ids: &[u32]) -> Result<u64> {
    let prefix = keys::profile(x);
    let end = prefix_end(&prefix).unwrap_or_else(|| vec![0xff; 5]);
    let mut events = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &prefix)? {
        let (k, v) = kv?;
        events.push(schema::EVENTS.decode(&k, &v)?);
    }
    for e in &events {
        forget_message_id(txn, e);
    }
    let mut entries = 0;
    for cf in PER_PROFILE {
        entries += txn.view.prefix(cf, &prefix)?.count() as u64;
        txn.batch.delete_range(cf, prefix, &end);
    }
    for s in segment_ids {
        let mut from = s.to_be_bytes().to_vec();
        from.extend_from_slice(&prefix);
        let mut to = s.to_be_bytes().to_vec();
        to.extend_from_slice(&end);
        txn.batch.delete_range(schema::MEMBERSHIP.name, from, to);
    }
    if x != p {
        txn.batch.delete(schema::ALIAS_FORWARD.name, keys::alias::forward(x));
        txn.batch.delete(schema::ALIAS_REVERSE.name, keys::alias::reverse(p, x));
    }
    Ok(entries)
}
