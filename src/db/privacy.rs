//! Privacy operations: erase, suppression, export, the audit log, and
//! the helpers anonymize shares with erase.

use crate::error::{Error, NotFoundKind, Result};
use crate::identity::graph::aliases_of;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::key;
use crate::privacy::suppression::{load_secret, new_secret, suppressed_key, SECRET_KEY};
use crate::privacy::{AuditAction, AuditRecord, SuppressionPolicy};
use crate::profile::id::ProfileId;
use crate::schema;
use crate::txn::Txn;

use super::erase_many::EraseOutcome;
use super::ProfileDb;

/// What an erase removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EraseReport {
    /// The erased profile's internal id (retired, never reused).
    pub profile: ProfileId,
    /// Identifiers unlinked (and suppressed).
    pub identifiers: u64,
    /// Merged-away ids erased with it.
    pub aliases: u64,
}

/// Audit-log key prefix of records; suppression hashes use
/// [`SUPPRESSED_PREFIX`](crate::privacy::suppression::SUPPRESSED_PREFIX).
const AUDIT_RECORD: u8 = 0x01;

impl ProfileDb {
    /// Erases the person `identifier` reaches: the profile, every
    /// identifier and alias, traits, history, stored events, rollups,
    /// every dedup entry of the profile and its aliases, segment
    /// memberships and their history, its change-feed records (one
    /// `Erased` record stands for leaving every segment) — and what other
    /// profiles hold of it: the erased identifiers in their deltas and
    /// stored events, its state in their merge windows
    /// (`src/privacy/redact.rs`), and the identifiers' values wherever
    /// they hold one — a trait (`referred_by`; also in their history,
    /// snapshots and trait index), a list element, an event property, a
    /// rollup accumulator (found by scans, see `erase_refs`,
    /// `erase_values` and `erase_rollups`) — in
    /// one batch, then flushes and compacts the affected ranges so the
    /// bytes leave the files on disk. Erased identifiers are kept only as keyed hashes:
    /// later writes carrying them are refused or dropped, by the
    /// [`SuppressionPolicy`] (see [`is_suppressed`](Self::is_suppressed)).
    /// Erasing an unknown (or already erased) identifier is
    /// [`Error::NotFound`] and changes nothing.
    ///
    /// The batch marks the compaction pending: if the process dies after
    /// the batch committed, the next writable open runs it. If the
    /// compaction fails (a full disk), this returns
    /// [`Error::PurgePending`]: the erase committed, and the purge stays
    /// pending until [`compact`](Self::compact), the next erase or
    /// anonymize, or a writable open runs it successfully
    /// ([`purge_pending`](Self::purge_pending) says so).
    ///
    /// A compaction cannot remove what an open read still sees: a read
    /// that began before the erase committed (a `query`, `export_segment`,
    /// `check`, `dump_cf_each`, a history read — on another thread) keeps
    /// the erased versions alive while it runs. So the purge first waits,
    /// up to [`PURGE_READ_WAIT`](crate::PURGE_READ_WAIT) (5 s), for such
    /// reads to end (reads that began after the commit do not count); if
    /// one is still open, the erase returns [`Error::PurgePending`] whose
    /// source is [`Error::ReadStillOpen`], and the purge stays pending —
    /// retried also by the next [`tick`](Self::tick).
    ///
    /// **Cost and blocking.** Besides the person's own key ranges, erase
    /// scans the whole `profile`, `delta`, `snapshot`, `event`, `rollup`,
    /// `dedup` and `feed` column families (for references and values other
    /// profiles hold, dedup entries and feed records of the person), so it
    /// takes time proportional to the database, not to the person. It
    /// scans a snapshot **without the writer lock**: writes go on
    /// meanwhile (reads never wait). It holds the lock twice, briefly:
    /// before the scan, to resolve the person and start watching which
    /// keys the writes change; after it, to re-read the keys the scan found
    /// and those written since, and to commit the erasure — what a write
    /// made during the scan (an event that reached the person, another
    /// profile's trait holding the email) is erased too. When the person
    /// changed during the scan (a merge, unmerge or new link, or another
    /// erase of them), the erase scans again under the lock, as it did
    /// before (rare). At 20,000 profiles / 400,000 events, the lock was
    /// held 2–4 ms at the end and a concurrent `update` waited at most
    /// 6 ms, where it waited 0.34–0.70 s when the lock was held throughout
    /// the scan (README, *Operations that make writes wait*). The full compaction that follows runs without the writer
    /// lock too (writes go on; it costs I/O). See `src/db/erase_phases.rs`.
    ///
    /// ```
    /// use profiledb::{Error, Identifier, NotFoundKind, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// let report = db.erase(&ann, Some("ticket-42"))?;
    /// assert_eq!(report.identifiers, 1);
    /// assert!(db.get(&ann)?.is_none());
    /// let again = db.erase(&ann, None).unwrap_err();
    /// assert_eq!(again.not_found_kind(), Some(NotFoundKind::Identifier));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn erase(&self, identifier: &Identifier, request_id: Option<&str>) -> Result<EraseReport> {
        let report = self.erase_committed(identifier, request_id)?;
        self.purge_files().map_err(|e| purge_failed("erase", e))?;
        Ok(report)
    }

    /// [`erase`](Self::erase) up to its commit, the compaction left
    /// pending: [`erase_many_committed`](Self::erase_many_committed) of a
    /// list of one.
    pub(crate) fn erase_committed(&self, identifier: &Identifier, request_id: Option<&str>) -> Result<EraseReport> {
        let report = self.erase_many_committed(std::slice::from_ref(identifier), request_id)?;
        match report.outcomes.into_iter().next() {
            Some(EraseOutcome::Erased(r)) => Ok(r),
            _ => Err(Error::not_found(NotFoundKind::Identifier, format!("identifier {identifier} (nothing to erase)"))),
        }
    }

    /// Whether `identifier` belongs to an erased (or anonymized) person
    /// (checked against the keyed hashes kept by [`erase`](Self::erase)),
    /// with the secret they were made with: the key the application holds
    /// ([`Builder::secret_key`](crate::Builder::secret_key), or the one
    /// [`move_secret_out`](Self::move_secret_out) gave it), else the
    /// secret the database stores.
    ///
    /// A handle without the key of a database that holds it outside (a
    /// secondary opened before [`move_secret_out`](Self::move_secret_out)
    /// ran on the primary, then caught up) cannot tell: that is
    /// [`Error::SecretKey`], never a `false` it cannot know. (Opening such
    /// a database without its key is refused already.)
    pub fn is_suppressed(&self, identifier: &Identifier) -> Result<bool> {
        let view = self.core.store.latest();
        let Some(secret) = reading_secret(&self.core, &view)? else { return Ok(false) };
        Ok(view.get(schema::AUDIT.name, &suppressed_key(&secret, identifier))?.is_some())
    }

    /// Makes a (possibly new) committed secret visible to the write path.
    pub(crate) fn publish_secret(&self, secret: Vec<u8>) {
        let mut cached = self.core.suppression_secret.write();
        if cached.is_none() {
            *cached = Some(std::sync::Arc::new(secret));
        }
    }

    /// Everything stored about the person `identifier` reaches, as one JSON
    /// document: identifiers with their links, traits, history, consent
    /// and its history, events, rollups and segment memberships — and the
    /// own history of every id merged into the profile (kept for unmerge:
    /// what those ids had before the merge, `merged_histories`) and the
    /// membership history of the profile and those ids
    /// (`membership_history`). Exporting an unknown, erased or anonymized
    /// person (whose identifiers are gone) is [`Error::NotFound`].
    ///
    /// Every export is recorded in the audit log, so a read-only or
    /// secondary handle, which cannot write that record, refuses it with
    /// [`Error::ReadOnly`] before reading anything.
    pub fn export(&self, identifier: &Identifier, request_id: Option<&str>) -> Result<serde_json::Value> {
        self.writable("export (every export is recorded in the audit log)")?;
        let p = self
            .resolve(identifier)?
            .ok_or_else(|| Error::not_found(NotFoundKind::Identifier, format!("identifier {identifier}")))?;
        let profile = self.get_by_id(p)?.ok_or_else(|| Error::no_profile(p))?;
        let graph: Vec<serde_json::Value> = self
            .identity_graph(p)?
            .iter()
            .map(|i| {
                serde_json::json!({
                    "identifier": i.identifier.to_string(),
                    "linked_at": i.link.linked_at.to_rfc3339(),
                    "cause": i.link.cause.describe(),
                    "origin": i.link.origin.0,
                    "detached": i.link.detached,
                })
            })
            .collect();
        let deltas = self.history(p)?;
        let history: Vec<serde_json::Value> = deltas.iter().map(delta_json).collect();
        let consent_history = consent_history(&deltas);
        let events: Vec<serde_json::Value> = self
            .events(p, crate::Timestamp(i64::MIN), crate::Timestamp(i64::MAX))?
            .iter()
            .map(crate::event::to_native_json)
            .collect();
        let rollups: serde_json::Map<String, serde_json::Value> =
            self.rollups_of(p)?.into_iter().map(|(k, v)| (k, v.to_json())).collect();
        let (merged_histories, membership_history) = {
            let view = self.core.store.snapshot();
            let ids: Vec<ProfileId> = std::iter::once(p).chain(aliases_of(&view, p)?).collect();
            let mut merged = Vec::new();
            for x in ids.iter().skip(1) {
                let log = crate::profile::history::deltas(&view, *x)?;
                let log: Vec<serde_json::Value> = log.iter().map(delta_json).collect();
                merged.push(serde_json::json!({ "profile": x.0, "history": log }));
            }
            (merged, self.membership_rows(&view, &ids)?)
        };
        let doc = serde_json::json!({
            "profile": profile.to_json(),
            "identifiers": graph,
            "history": history,
            "merged_histories": merged_histories,
            "consent": profile.to_json()["consent"].clone(),
            "consent_history": consent_history,
            "events": events,
            "rollups": rollups,
            "segments": self.segments_of(p)?,
            "membership_history": membership_history,
        });
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        txn.skip_segments = true;
        let merged_len: usize = merged_histories_len(&doc);
        let n = (graph_len(&doc, "identifiers")
            + graph_len(&doc, "history")
            + merged_len
            + graph_len(&doc, "events")
            + graph_len(&doc, "membership_history")) as u64;
        self.audit(&mut txn, AuditAction::Export, request_id, p, n)?;
        txn.commit()?;
        Ok(doc)
    }

    /// The membership-history rows of `ids` in every defined segment, as
    /// JSON, by segment then profile then time.
    fn membership_rows(&self, view: &crate::storage::View<'_>, ids: &[ProfileId]) -> Result<Vec<serde_json::Value>> {
        let segments: Vec<(u32, String)> =
            self.core.segments.read().segments.iter().map(|s| (s.def.id, s.def.name.clone())).collect();
        let mut out = Vec::new();
        for (seg, name) in &segments {
            for x in ids {
                let mut prefix = seg.to_be_bytes().to_vec();
                prefix.extend_from_slice(&keys::profile(*x));
                for kv in view.prefix(schema::MEMBERSHIP.name, &prefix)? {
                    let (k, v) = kv?;
                    let entered = schema::MEMBERSHIP.decode(&k, &v)?;
                    let at = k.get(8..16).and_then(|b| b.try_into().ok()).map(keys::i64_from_ordered_bytes);
                    out.push(serde_json::json!({
                        "segment": name,
                        "profile": x.0,
                        "at": at.map(|t| crate::Timestamp(t).to_rfc3339()),
                        "entered": entered,
                    }));
                }
            }
        }
        Ok(out)
    }

    /// The privacy audit log: every erase, anonymize and export, oldest first.
    pub fn audit_log(&self) -> Result<Vec<AuditRecord>> {
        let view = self.core.store.latest();
        let mut out = Vec::new();
        for kv in view.prefix(schema::AUDIT.name, &[AUDIT_RECORD])? {
            let (k, v) = kv?;
            out.push(schema::AUDIT.decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Stages one audit record (of `entries` entries about `p`).
    pub(crate) fn audit(
        &self,
        txn: &mut Txn<'_>,
        action: AuditAction,
        request_id: Option<&str>,
        p: ProfileId,
        entries: u64,
    ) -> Result<()> {
        self.audit_all(txn, action, request_id, &[(p, entries)])
    }

    /// Stages one audit record per `(profile, entries)`, with consecutive
    /// sequence numbers (once per transaction: the next number is read
    /// from the committed state).
    pub(crate) fn audit_all(
        &self,
        txn: &mut Txn<'_>,
        action: AuditAction,
        request_id: Option<&str>,
        records: &[(ProfileId, u64)],
    ) -> Result<()> {
        let mut seq = schema::META_U64.get(&txn.view, keys::meta::NEXT_AUDIT_SEQ)?.unwrap_or(0);
        for &(p, entries) in records {
            let rec = AuditRecord {
                seq,
                at: txn.now,
                action,
                request_id: request_id.map(str::to_owned),
                profile: p.0,
                entries,
            };
            let mut k = vec![AUDIT_RECORD];
            k.extend_from_slice(&seq.to_be_bytes());
            schema::AUDIT.put(&mut txn.batch, k, &rec);
            seq += 1;
        }
        schema::META_U64.put(&mut txn.batch, keys::meta::NEXT_AUDIT_SEQ, &seq);
        Ok(())
    }
}

impl ProfileDb {
    /// Moves the suppression secret this database stores out of it: `keep`
    /// is given the 192 bytes to put where the application keeps its key
    /// (outside the database's backups); once it returns `Ok`, the stored
    /// secret is deleted, its check value recorded (format 13) and the
    /// files compacted so its bytes are gone from them. From then on every
    /// open must give the key ([`Builder::secret_key`](crate::Builder::secret_key));
    /// this handle goes on with it. Erased identifiers stay suppressed and
    /// `Hash` values keep their meaning: the secret is the same. Copies and
    /// backups taken before still carry it.
    ///
    /// A database with no stored secret (one that holds its key outside,
    /// or never erased or anonymized anyone) is [`Error::InvalidInput`];
    /// an error from `keep` is returned as it is. Both change nothing.
    pub fn move_secret_out(&self, keep: impl FnOnce(&[u8]) -> Result<()>) -> Result<()> {
        self.writable("move_secret_out")?;
        {
            let _writer = self.core.writer.lock();
            let Some(secret) = self.core.store.latest().get(keys::cf::META, SECRET_KEY)? else {
                return Err(Error::invalid(
                    "move_secret_out: this database stores no suppression secret (its key is held outside it \
                     already, or nothing was erased or anonymized: give it a key with Builder::secret_key)",
                ));
            };
            keep(&secret)?;
            let mut b = self.core.store.batch();
            b.delete(keys::cf::META, SECRET_KEY);
            b.put(keys::cf::META, key::CHECK_KEY, key::check_value(&secret));
            // The secret's bytes are in the files until the purge has run.
            schema::META_U64.put(&mut b, keys::meta::LAST_PURGE, &0);
            *self.core.held_key.write() = Some(key::HeldKey(std::sync::Arc::new(secret)));
            self.core.store.commit(b)?;
        }
        self.purge_files().map_err(|e| purge_failed("move_secret_out", e))
    }
}

/// The suppression secret: the key the application holds, or the
/// per-database secret, staged in `txn` on first use.
pub(crate) fn suppression_secret(txn: &mut Txn<'_>) -> Result<Vec<u8>> {
    if let Some(key) = &*txn.core.held_key.read() {
        // Held by the application: never stored.
        return Ok(key.0.to_vec());
    }
    if let Some(s) = load_secret(&txn.view)? {
        return Ok(s);
    }
    let s = new_secret()?;
    txn.batch.put(keys::cf::META, SECRET_KEY, s.clone());
    Ok(s)
}

/// The secret the suppression hashes of `view` were made with, to read
/// them: the key the application holds, else the stored secret; `None`
/// when there is neither (nothing was ever erased or anonymized). A
/// database whose key is held outside (it stores the key's check value)
/// read by a handle that has no key is [`Error::SecretKey`]: without the
/// key no hash can be looked up, and "not suppressed" would be a guess.
pub(crate) fn reading_secret(
    core: &crate::core::Core,
    view: &crate::storage::View<'_>,
) -> Result<Option<std::sync::Arc<Vec<u8>>>> {
    if let Some(held) = &*core.held_key.read() {
        return Ok(Some(held.0.clone()));
    }
    if let Some(stored) = load_secret(view)? {
        return Ok(Some(std::sync::Arc::new(stored)));
    }
    if view.get(keys::cf::META, key::CHECK_KEY)?.is_some() {
        return Err(Error::SecretKey {
            path: core.store.path().to_owned(),
            detail: "it is held outside the database and this handle was given none, so whether an identifier is \
                     suppressed cannot be told (open it with Builder::secret_key; the CLI's --key-file or \
                     PROFILEDB_KEY_FILE)"
                .to_owned(),
        });
    }
    Ok(None)
}

/// Unlinks every identifier of `p` and records each as a keyed hash, so
/// later writes carrying it are suppressed. Returns the identifiers.
pub(crate) fn unlink_and_suppress(txn: &mut Txn<'_>, secret: &[u8], p: ProfileId) -> Result<Vec<Identifier>> {
    let idents = txn.identifiers_of(p)?;
    for ident in &idents {
        txn.delete_link(ident)?;
        txn.batch.put(schema::AUDIT.name, suppressed_key(secret, ident), vec![crate::codec::tags::MARKER]);
    }
    Ok(idents)
}

/// Marks, in the batch that removes a person's data, that the files still
/// hold its bytes until [`ProfileDb::purge_files`] has run.
pub(crate) fn mark_purge_pending(txn: &mut Txn<'_>) {
    schema::META_U64.put(&mut txn.batch, keys::meta::LAST_PURGE, &0);
}

/// The error of a purge compaction that failed after `action` committed.
pub(crate) fn purge_failed(action: &'static str, e: Error) -> Error {
    match e {
        // Already says what is pending.
        e @ Error::PurgePending { .. } => e,
        e => Error::PurgePending { action, source: Box::new(e) },
    }
}

/// Stages the removal of an event's dedup entry (message ids may be personal).
pub(crate) fn forget_message_id(txn: &mut Txn<'_>, event: &crate::event::Event) {
    if let Some(m) = &event.message_id {
        txn.batch.delete(schema::DEDUP.name, m.as_bytes());
    }
}

/// The position of the first of `ids` that belongs to an erased person.
/// Linked identifiers are live, so only unlinked ones are looked up — and
/// none at all while nothing was ever erased.
pub(crate) fn first_suppressed(txn: &Txn<'_>, ids: &[Identifier]) -> Result<Option<usize>> {
    let Some(secret) = txn.core.suppression_secret.read().clone() else { return Ok(None) };
    for (i, ident) in ids.iter().enumerate() {
        if txn.link(ident)?.is_none() && txn.view.get(schema::AUDIT.name, &suppressed_key(&secret, ident))?.is_some() {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Whether `ident` belongs to an erased person, within `txn` (an unlinked
/// identifier with a suppression hash).
pub(crate) fn is_suppressed_in(txn: &Txn<'_>, ident: &Identifier) -> Result<bool> {
    Ok(first_suppressed(txn, std::slice::from_ref(ident))?.is_some())
}

/// What a write carrying `ids` must do under the suppression policy:
/// `Ok(false)` go on, `Ok(true)` drop it (acknowledge, store nothing),
/// `Err(Error::Suppressed)` under [`SuppressionPolicy::Reject`].
pub(crate) fn screen(txn: &Txn<'_>, ids: &[Identifier]) -> Result<bool> {
    match first_suppressed(txn, ids)? {
        None => Ok(false),
        Some(_) if txn.core.config.privacy.suppression == SuppressionPolicy::Drop => Ok(true),
        Some(position) => Err(Error::Suppressed { position, kind: ids[position].kind().to_owned() }),
    }
}

/// The consent changes of a history, as JSON, oldest first: each consent
/// delta's operations, and the consent a merge or split resulted in.
fn consent_history(deltas: &[crate::profile::delta::Delta]) -> Vec<serde_json::Value> {
    use crate::profile::delta::Change;
    let mut out = Vec::new();
    for d in deltas {
        let (kind, detail) = match &d.change {
            Change::Consent(ops) => ("change", ops.iter().map(|o| o.to_json()).collect::<Vec<_>>()),
            Change::Merge { consent, .. } | Change::Unmerge { consent, .. } | Change::SplitFrom { consent, .. } => {
                let states = consent
                    .iter()
                    .map(|(p, r)| {
                        let mut j = r.to_json();
                        j["purpose"] = serde_json::Value::String(p.clone());
                        j
                    })
                    .collect();
                ("merge_result", states)
            }
            Change::Update(_) => continue,
        };
        out.push(serde_json::json!({
            "version": d.version, "at": d.at.to_rfc3339(), "cause": d.cause.describe(), "kind": kind, "consent": detail,
        }));
    }
    out
}

fn delta_json(d: &crate::profile::delta::Delta) -> serde_json::Value {
    serde_json::to_value(d).unwrap_or(serde_json::Value::Null)
}

fn merged_histories_len(doc: &serde_json::Value) -> usize {
    let Some(merged) = doc.get("merged_histories").and_then(|v| v.as_array()) else { return 0 };
    merged.iter().map(|m| graph_len(m, "history")).sum()
}

fn graph_len(doc: &serde_json::Value, key: &str) -> usize {
    doc.get(key).and_then(|v| v.as_array()).map_or(0, Vec::len)
}
