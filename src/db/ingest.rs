//! Event ingest: `track`, `ingest_batch`, timelines and rollup reads.

use crate::clock::Timestamp;
use crate::core::WriterState;
use crate::error::{Error, NotFoundKind, Result};
use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::identity::stitch::stitch;
use crate::keys;
use crate::profile::delta::Change;
use crate::profile::id::ProfileId;
use crate::rollup::store::{read_window, record_event, store_event};
use crate::rollup::{Acc, Aggregate, RollupDef, Window};
use crate::schema;
use crate::txn::{NewDelta, Resolved, Txn};

pub use super::batch_report::{BatchReport, EventOutcome};
use super::dedup::Dedup;
use super::write::WriteReceipt;
use super::ProfileDb;

/// What ingesting one event did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum IngestOutcome {
    /// The event was applied.
    Applied(WriteReceipt),
    /// Its message id was seen within the dedup horizon: acknowledged,
    /// nothing changed.
    #[non_exhaustive]
    Duplicate {
        /// When the first copy was accepted.
        first_seen: Timestamp,
        /// The profile the first copy was applied to, as it was then: it
        /// may have merged into another since
        /// ([`resolve_id`](ProfileDb::resolve_id) gives the live one).
        profile: ProfileId,
    },
    /// It carried an erased identifier and the suppression policy is
    /// [`Drop`](crate::privacy::SuppressionPolicy::Drop): acknowledged,
    /// nothing stored.
    Dropped,
}

/// How many refused events a batch's 1,024 are redone without (in one
/// batch) before the rest of them commit one event per batch.
const MAX_REFUSALS: usize = 16;

impl ProfileDb {
    /// The checks every incoming event passes before anything is written:
    /// its invariants, its timestamp against `limits`, its schema.
    fn check_event(&self, e: &Event, limits: &crate::event::EventLimits) -> Result<()> {
        e.validate()?;
        e.check_time(limits)?;
        self.core.config.schemas.validate(e)
    }

    /// Ingests one event atomically: identity resolution and stitching,
    /// dedup by message id, trait updates (identify), rollups and the
    /// profile's timeline — one batch.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{Identifier, IngestOutcome, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let mut buy = Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]);
    /// buy.message_id = Some("m-1".into());
    /// assert!(matches!(db.track(&buy)?, IngestOutcome::Applied(r) if r.created));
    /// // The same message id again is acknowledged and changes nothing.
    /// assert!(matches!(db.track(&buy)?, IngestOutcome::Duplicate { .. }));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn track(&self, event: &Event) -> Result<IngestOutcome> {
        self.writable("track")?;
        self.check_event(event, &self.event_limits())?;
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        let mut dedup = Dedup::default();
        let outcome = apply_event(&mut txn, event, &mut dedup)?;
        dedup.write(&mut txn.batch, txn.now);
        txn.commit()?;
        Ok(outcome)
    }

    /// Ingests many events, sharing commits for throughput. Each event is
    /// still atomic: an invalid event is reported with its position and
    /// writes nothing, while the valid ones commit. With `strict`, any
    /// invalid event rejects the whole batch and nothing is written.
    ///
    /// With `strict`, the batch is applied as one RocksDB batch whatever its
    /// size, and an event refused while applying (a stitching rule, an
    /// erased identifier) rejects it too; so does an event that merges
    /// away a profile an earlier event of the batch wrote — an event on it,
    /// or a merge into it (an alias event's, say)
    /// ([`Error::StrictBatchSplit`]: split the batch before that event, or
    /// send it without `strict`).
    ///
    /// Otherwise up to 1,024 events commit as one batch. An event refused while
    /// applying (a stitching rule) is reported and left out, the events
    /// before it commit in one batch and the rest go on in the next; so
    /// does an event that merges away a profile an earlier event of the
    /// batch wrote (it starts the next batch). Past 16 refusals in one
    /// 1,024, the rest of it commits one event per batch.
    ///
    /// [`BatchReport::outcomes`] says what became of each event, in batch
    /// order: the profile it was applied to (or its first copy was, for a
    /// duplicate), dropped, rejected, or — a refused strict batch — not
    /// applied. A batch with a rejected event is still `Ok`, strict or not
    /// (a strict one then wrote nothing: `applied` is 0); check
    /// [`BatchReport::is_complete`], or use
    /// [`BatchReport::into_result`] to get [`Error::BatchRejected`]
    /// instead.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{Error, EventOutcome, Identifier, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let view = Event::new(EventKind::Track, "page_view", db.now(), vec![ann.clone()]);
    /// let nobody = Event::new(EventKind::Track, "page_view", db.now(), vec![]); // no identifier
    /// let report = db.ingest_batch(&[view.clone(), nobody.clone(), view.clone()], false)?;
    /// assert_eq!((report.applied, report.rejected.len(), report.rejected[0].0), (2, 1, 1));
    /// assert_eq!(report.outcomes[1], EventOutcome::Rejected { error: 0 });
    /// let strict = db.ingest_batch(&[view, nobody], true)?;
    /// assert_eq!((strict.applied, strict.rejected.len()), (0, 1)); // nothing written
    /// assert_eq!(strict.outcomes, [EventOutcome::NotApplied, EventOutcome::Rejected { error: 0 }]);
    /// assert!(matches!(strict.into_result(), Err(Error::BatchRejected { position: 1, .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn ingest_batch(&self, events: &[Event], strict: bool) -> Result<BatchReport> {
        self.writable("ingest_batch")?;
        let mut report = BatchReport::for_batch(events.len());
        let mut valid = Vec::with_capacity(events.len());
        let limits = self.event_limits();
        for (i, e) in events.iter().enumerate() {
            match self.check_event(e, &limits) {
                Ok(()) => valid.push((i, e)),
                Err(err) => report.rejected.push((i, err)),
            }
        }
        if strict && !report.rejected.is_empty() {
            return Ok(report.finish());
        }
        if strict {
            return self.commit_as_one(&valid, report);
        }
        for chunk in valid.chunks(1_024) {
            let mut writer = self.core.writer.lock();
            let (mut start, mut refusals) = (0, 0);
            while start < chunk.len() {
                // Past MAX_REFUSALS, one event per batch: redos stay linear.
                let end = if refusals < MAX_REFUSALS { chunk.len() } else { start + 1 };
                let Some((k, err)) = self.commit_events(&mut writer, &chunk[start..end], &mut report)? else {
                    start = end;
                    continue;
                };
                let conflict = matches!(err, Error::Conflict(_));
                // The events before the failed one applied: commit them (a
                // redo gives the same result), then go on from the failed
                // one — first in its batch after a conflict, else refused.
                if k > 0 {
                    if let Some((_, again)) = self.commit_events(&mut writer, &chunk[start..start + k], &mut report)? {
                        return Err(again);
                    }
                }
                start += k;
                if !(conflict && k > 0) {
                    report.rejected.push((chunk[start].0, err));
                    start += 1;
                    refusals += 1;
                }
            }
        }
        Ok(report.finish())
    }

    /// A strict batch: every event applied in one RocksDB batch, committed
    /// only if none is refused. An event that would merge away a profile an
    /// earlier event of the batch wrote cannot be part of that one batch
    /// (its merge does not see the staged writes), so it rejects the batch.
    fn commit_as_one(&self, valid: &[(usize, &Event)], mut report: BatchReport) -> Result<BatchReport> {
        let mut writer = self.core.writer.lock();
        if let Some((k, err)) = self.commit_events(&mut writer, valid, &mut report)? {
            let err = if matches!(err, Error::Conflict(_)) { Error::StrictBatchSplit } else { err };
            report.rejected.push((valid[k].0, err));
        }
        Ok(report.finish())
    }

    /// Applies `events` in one batch and commits it, counting outcomes in
    /// `report`; or, when one fails, writes nothing and returns its offset
    /// in `events` and the error.
    fn commit_events(
        &self,
        writer: &mut WriterState,
        events: &[(usize, &Event)],
        report: &mut BatchReport,
    ) -> Result<Option<(usize, Error)>> {
        let mut txn = Txn::new(&self.core, writer);
        txn.reserve_events(events.len());
        let mut dedup = match events {
            [_, _, ..] => Dedup::read_ahead(&txn.view, events.iter().map(|(_, e)| *e))?,
            _ => Dedup::default(),
        };
        let mut part = BatchReport::default();
        // The profiles the events' first identifiers resolve to now, when
        // cached: their caches are prefetched a few events ahead (see
        // `crate::db::prefetch`).
        let ahead: Vec<Option<Resolved>> = match events {
            [_, _, ..] => self.cached_resolutions(events),
            _ => Vec::new(),
        };
        for (k, &(i, e)) in events.iter().enumerate() {
            let resolved = |j: usize| ahead.get(j).copied().flatten();
            crate::db::prefetch::ahead(k, |j| resolved(j).map(|r| r.profile), |p, stage| self.core.prefetch(p, stage));
            // Stitching takes the first identifier's resolution from here
            // instead of a second cache lookup.
            txn.resolved_ahead(e.identifiers.first().zip(resolved(k)));
            let outcome = match apply_event(&mut txn, e, &mut dedup) {
                Ok(outcome) => outcome,
                Err(err) => {
                    // Nothing of this batch commits: its events are not
                    // applied (yet).
                    for &(j, _) in &events[..k] {
                        if let Some(slot) = report.outcomes.get_mut(j) {
                            *slot = EventOutcome::NotApplied;
                        }
                    }
                    return Ok(Some((k, err)));
                }
            };
            let (outcome, ignored) = EventOutcome::of(outcome);
            match &outcome {
                EventOutcome::Applied { created, merged, .. } => {
                    part.applied += 1;
                    part.created += u64::from(*created);
                    part.merged += merged.len() as u64;
                    part.ignored.extend(ignored.into_iter().map(|(id, why)| (i, id, why)));
                }
                EventOutcome::Duplicate { .. } => part.duplicates += 1,
                EventOutcome::Dropped => part.dropped += 1,
                EventOutcome::Rejected { .. } | EventOutcome::NotApplied => {}
            }
            // Set before the commit, reset above if the batch fails.
            if let Some(slot) = report.outcomes.get_mut(i) {
                *slot = outcome;
            }
        }
        dedup.write(&mut txn.batch, txn.now);
        txn.commit()?;
        report.applied += part.applied;
        report.duplicates += part.duplicates;
        report.dropped += part.dropped;
        report.created += part.created;
        report.merged += part.merged;
        report.ignored.append(&mut part.ignored);
        Ok(None)
    }

    /// Where each event's first identifier resolves, if the identity
    /// cache holds it (nothing is read from storage): one lookup in the
    /// cache for all of them.
    fn cached_resolutions(&self, events: &[(usize, &Event)]) -> Vec<Option<Resolved>> {
        use crate::identity::cache_key::CacheKey;
        let keys: Vec<CacheKey> = events.iter().filter_map(|(_, e)| e.identifiers.first()).map(CacheKey::of).collect();
        let mut found = self.core.identities.map_many(&keys, Resolved::of).into_iter();
        events.iter().map(|(_, e)| e.identifiers.first().and_then(|_| found.next().flatten())).collect()
    }

    /// Drops the declared rollup `name`: its name is free again (to be
    /// declared with another definition). Its series and their buckets
    /// stay, as the automatic series of every event name do: segment
    /// conditions may read the same events, and declaring the same
    /// definition again reuses them with no backfill.
    ///
    /// ```
    /// use profiledb::rollup::{Aggregate, RollupDef};
    /// let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amont".into())))?;
    /// db.drop_rollup("spend")?; // the misspelt property
    /// db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())))?;
    /// assert!(db.drop_rollup("nope").is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drop_rollup(&self, name: &str) -> Result<()> {
        self.writable("drop_rollup")?;
        let _writer = self.core.writer.lock();
        if !self.core.rollups.read().rollups.contains_key(name) {
            return Err(Error::not_found(NotFoundKind::Rollup, format!("rollup {name:?}")));
        }
        let mut batch = self.core.store.batch();
        schema::ROLLUP_DEFS.delete(&mut batch, keys::rollup_def::rollup(name));
        self.core.store.commit(batch)?;
        self.core.rollups.write().rollups.remove(name);
        Ok(())
    }

    /// Declared rollups, by name.
    pub fn rollup_defs(&self) -> Vec<RollupDef> {
        self.core.rollups.read().rollups.values().map(|r| r.def.clone()).collect()
    }
}

/// Applies one validated event inside `txn`. Nothing is staged when it
/// fails. `dedup` holds the message ids staged earlier in the same commit
/// (and the stored entries a batch read ahead).
fn apply_event<'a>(txn: &mut Txn<'a>, event: &'a Event, dedup: &mut Dedup<'a>) -> Result<IngestOutcome> {
    // Borrowed unless an alias's previous id joins them (no copy of a
    // track event's identifiers).
    let mut ids = std::borrow::Cow::Borrowed(event.identifiers.as_slice());
    if let Some(prev) = &event.previous_id {
        let mut with_prev = event.stitch_identifiers();
        if let Some(known) = previous_as_anonymous(txn, prev)? {
            if let Some(slot) = with_prev.iter_mut().rev().find(|i| *i == prev) {
                *slot = known;
            }
        }
        ids = std::borrow::Cow::Owned(with_prev);
    }
    if super::privacy::screen(txn, &ids)? {
        return Ok(IngestOutcome::Dropped);
    }
    let horizon = txn.core.config.dedup_horizon_ms;
    if let Some(m) = &event.message_id {
        if let Some((first_seen, profile)) = dedup.duplicate(&txn.view, m, txn.now, horizon)? {
            return Ok(IngestOutcome::Duplicate { first_seen, profile });
        }
    }
    // Stitching stages writes; validate the trait update first so a bad
    // update cannot leave half an event behind.
    // The operators alone: the cause goes to `record_update` beside them
    // (and is copied only into a delta), not a copy inside the update.
    let update = crate::profile::operator::Update::from_ops(event.traits.clone());
    update.validate()?;
    for op in &event.consent {
        op.validate(txn.now)?;
        txn.core.config.privacy.check_purpose(&op.purpose)?;
    }
    let cause = event.cause();
    // A merge of a profile written earlier in this shared batch (an event
    // on it, or a merge into it) fails with `Error::Conflict`: its staged
    // writes are not visible to the merge. The caller redoes it alone.
    let s = stitch(txn, &ids, &cause)?;
    // Loaded now, the misses overlap the staging below (a single event);
    // maintenance touches them again for a batch, whose commit comes long
    // after (see `Txn::maintain_segments`).
    txn.core.touch_cached(s.target);
    let mut version = txn.record_update(&s, update, &cause, &ids)?;
    if !event.consent.is_empty() {
        version = record_consent(txn, s.target, event, &ids, cause)?;
    }
    if event.kind != EventKind::Alias {
        record_event(txn, s.target, event)?;
        if txn.core.config.timeline_retention_ms > 0 {
            let seq = txn.next_event_seq();
            store_event(txn, s.target, event, seq);
        }
    }
    if let Some(m) = &event.message_id {
        dedup.stage(m, s.target);
    }
    Ok(IngestOutcome::Applied(WriteReceipt::stitched(s, version)))
}

/// An alias's previous id `user_id:X` that nothing is linked to, when
/// `anonymous_id:X` is linked — or was erased: that identifier. Segment-style
/// senders put either the old user id or the anonymous id in `previousId`,
/// which the parsers map to `user_id`; linking a never-seen `user_id:X`
/// would make a bogus identifier and leave the anonymous profile out of the
/// alias. An erased `anonymous_id:X` is read as itself so suppression
/// refuses it: read as `user_id:X`, the erased value would reach a profile
/// again under another kind.
fn previous_as_anonymous(txn: &Txn<'_>, prev: &Identifier) -> Result<Option<Identifier>> {
    if prev.kind() != "user_id" || txn.link(prev)?.is_some() {
        return Ok(None);
    }
    let Ok(anon) = Identifier::new("anonymous_id", prev.value()) else { return Ok(None) };
    let known = txn.link(&anon)?.is_some() || super::privacy::is_suppressed_in(txn, &anon)?;
    Ok(known.then_some(anon))
}

/// One profile's RFM accumulator: recency and frequency from the purchase
/// event's own series (complete: kept since the event's first occurrence),
/// the amount from the amount rollup (declared by the first `compute_rfm`,
/// backfilled from the timelines kept then).
fn rfm_acc(view: &crate::storage::View<'_>, p: ProfileId, (auto, amount): (u32, u32), now: Timestamp) -> Result<Acc> {
    let events = read_window(view, p, auto, Window::All, now)?;
    let mut acc = read_window(view, p, amount, Window::All, now)?;
    (acc.count, acc.first, acc.last) = (events.count, events.first, events.last);
    Ok(acc)
}

/// Records an event's consent changes as one delta on `p` (after its trait
/// update), given at the event's time unless a change says otherwise (so
/// a late event's consent does not replace a later statement); returns
/// the new version.
fn record_consent(
    txn: &mut Txn<'_>,
    p: ProfileId,
    event: &Event,
    via: &[crate::identity::identifier::Identifier],
    cause: crate::profile::delta::Cause,
) -> Result<u64> {
    let prev = txn.profile(p)?.ok_or_else(|| Error::no_profile(p))?;
    let at = txn.time_for(Some(&prev));
    let mut consent = prev.profile.consent.clone();
    let mut ops = event.consent.clone();
    for op in &mut ops {
        op.change.given_at = op.change.given_at.or(Some(event.timestamp));
        op.apply(&mut consent, at);
    }
    let mut d = NewDelta::new(Change::Consent(ops), cause);
    d.via = via.to_vec();
    Ok(txn.record_state(p, Some(&prev), prev.profile.traits.clone(), consent, d).profile.version)
}

impl ProfileDb {
    /// Computes RFM across every live profile from the purchase event and
    /// its amount property (declaring their rollup series, with backfill,
    /// if needed), stores the model, and returns it with the distribution
    /// of score codes.
    pub fn compute_rfm(&self, config: crate::rollup::RfmConfig) -> Result<crate::rollup::RfmReport> {
        use crate::rollup::RfmModel;
        if self.core.rollups.read().auto_series(&config.event).is_none() {
            // A misspelt name would declare a rollup that never counts.
            return Err(Error::not_found(
                NotFoundKind::Event,
                format!(
                    "events named {:?}: no event or declared rollup has named it yet (RFM reads that purchase \
                 event; check its name)",
                    config.event
                ),
            ));
        }
        let name = self.rfm_rollup_name(&config);
        self.declare_rollup(RollupDef::new(&name, &config.event, Aggregate::Sum(config.amount.clone())))?;
        let series = self.rfm_series(&config, &name)?;
        let now = self.core.clock.now();
        let view = self.core.store.snapshot();
        let mut accs = Vec::new();
        for kv in view.range(schema::PROFILES.name, &[], None)? {
            let (k, _) = kv?;
            let Some(p) = keys::parse_profile(&k) else { continue };
            accs.push(rfm_acc(&view, p, series, now)?);
        }
        let model = RfmModel::fit(config, now, &accs);
        let mut distribution = std::collections::BTreeMap::new();
        for a in &accs {
            if let Some(s) = model.score(a) {
                *distribution.entry(s.code()).or_insert(0) += 1;
            }
        }
        let mut b = self.core.store.batch();
        schema::RFM.put(&mut b, keys::meta::RFM_MODEL, &model);
        self.core.store.commit(b)?;
        Ok(crate::rollup::RfmReport { model, distribution })
    }

    /// A profile's RFM score now against the last computed model (`None` if
    /// it never purchased): its current frequency and monetary value against
    /// their cut points, and its last purchase placed against the recency
    /// cut points as the model placed every buyer (from its computation
    /// time), so a profile that has not purchased since keeps the score the
    /// model's distribution counted. The recency reported is from the
    /// clock's now. Fails if RFM was never computed.
    pub fn rfm(&self, profile: ProfileId) -> Result<Option<crate::rollup::RfmScore>> {
        let view = self.core.store.latest();
        let model = schema::RFM
            .get(&view, keys::meta::RFM_MODEL)?
            .ok_or_else(|| Error::not_found(NotFoundKind::RfmModel, "an RFM model (run compute_rfm first)"))?;
        let name = self.rfm_rollup_name(&model.config);
        let series = self.rfm_series(&model.config, &name)?;
        let live = self.resolve_id(profile)?.ok_or_else(|| Error::no_profile(profile))?;
        let now = self.core.clock.now();
        let acc = rfm_acc(&view, live, series, now)?;
        Ok(model.score_at(&acc, now))
    }

    /// The series RFM reads: the purchase event's own (every event name's
    /// count, first and last, kept since its first event) and the amount
    /// rollup `name`.
    fn rfm_series(&self, config: &crate::rollup::RfmConfig, name: &str) -> Result<(u32, u32)> {
        let reg = self.core.rollups.read();
        let amount = reg
            .rollups
            .get(name)
            .map(|r| r.series)
            .ok_or_else(|| Error::not_found(NotFoundKind::Rollup, format!("rollup {name:?}")))?;
        let auto = reg
            .auto_series(&config.event)
            .ok_or_else(|| Error::not_found(NotFoundKind::Event, format!("events named {:?}", config.event)))?;
        Ok((auto, amount))
    }

    /// The rollup RFM reads: the first of `rfm_<event>` (the name of every
    /// earlier version), `rfm_<event>_<amount>` and `rfm_<hash>` (of the
    /// event and amount names) that is free or already sums this amount of
    /// this event. Names are sanitized, so two events can share the first
    /// two (`Bad Event` and `bad_event`), and an RFM recomputed with another
    /// amount needs the second.
    fn rfm_rollup_name(&self, config: &crate::rollup::RfmConfig) -> String {
        let base = format!("rfm_{}", sanitize(&config.event));
        let mut with_amount = format!("{base}_{}", sanitize(&config.amount));
        // Rollup names are at most 64 bytes (sanitized: ASCII).
        with_amount.truncate(64);
        let sum = Aggregate::Sum(config.amount.clone());
        let reg = self.core.rollups.read();
        let fits = |name: &String| {
            reg.rollups
                .get(name)
                .is_none_or(|r| r.def.event == config.event && r.def.aggregate == sum && r.def.filter.is_empty())
        };
        [base, with_amount].into_iter().find(fits).unwrap_or_else(|| {
            let key = format!("{}\0{}", config.event, config.amount);
            format!("rfm_{:016x}", xxhash_rust::xxh3::xxh3_64(key.as_bytes()))
        })
    }
}

/// A rollup-name-safe form of an event name.
fn sanitize(event: &str) -> String {
    let s: String =
        event.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(48).collect();
    if s.is_empty() {
        "event".into()
    } else {
        s
    }
}
