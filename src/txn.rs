//! [`Txn`]: one write operation in progress — reads that see its own
//! pending writes, one RocksDB batch, and the cache updates to publish
//! once the batch commits.

use foldhash::{HashMap, HashMapExt};
use std::borrow::Cow;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::core::{CachedRecord, Core, WriterState};
use crate::error::{Error, Result};
use crate::identity::cache_key::CacheKey;
use crate::identity::identifier::Identifier;
use crate::identity::kinds::{KindCounts, KindDelta};
use crate::identity::link::IdentityLink;
use crate::keys;
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::rollup::contribution::Contribution;
use crate::rollup::staged::StagedRollups;
use crate::rollup::SeriesDef;
use crate::schema;
use crate::segment::bitmap_codec::stage_chunk;
use crate::segment::maintain::ProfileChanges;
use crate::storage::{Batch, View};

mod due;
mod membership;
mod staged_reads;

/// The parts of a delta that the operation decides (version and time are
/// assigned by [`Txn::record_delta`]).
pub(crate) struct NewDelta {
    pub change: Change,
    pub cause: Cause,
    pub via: Vec<Identifier>,
    pub linked: Vec<Identifier>,
    pub unlinked: Vec<Identifier>,
    /// The earliest time it may be written at, besides the profile's own
    /// previous delta: a merge or unmerge is timed after the latest delta
    /// of the other profile too (see [`Txn::time_for`]).
    pub not_before: Option<Timestamp>,
}

impl NewDelta {
    /// A delta with no identifier bookkeeping.
    pub fn new(change: Change, cause: Cause) -> Self {
        NewDelta { change, cause, via: Vec::new(), linked: Vec::new(), unlinked: Vec::new(), not_before: None }
    }
}

/// One write operation. Built under the writer lock; nothing is visible to
/// readers until [`Txn::commit`], and dropping it discards everything.
pub(crate) struct Txn<'a> {
    pub core: &'a Core,
    writer: &'a mut WriterState,
    pub view: View<'a>,
    pub batch: Batch,
    /// The operation's time (the database clock, read once).
    pub now: Timestamp,
    next_id: u32,
    next_seq: u64,
    new_series: Vec<SeriesDef>,
    /// Staged records (written to the batch at commit, with their
    /// identifier counts brought up to date); `None`: deleted.
    profiles: HashMap<ProfileId, Option<Arc<ProfileRecord>>>,
    links: HashMap<Identifier, Option<IdentityLink>>,
    /// Identifiers this operation found unlinked in storage (so staging
    /// their first link does not look them up again).
    known_absent: foldhash::HashSet<Identifier>,
    /// How the staged links change each profile's identifier counts.
    kind_deltas: HashMap<ProfileId, KindDelta>,
    /// Events staged for each profile's timeline in this operation:
    /// borrowed from the caller (ingest), or owned (a timeline an unmerge
    /// or anonymization rebuilt).
    staged_events: HashMap<ProfileId, smallvec::SmallVec<[Cow<'a, crate::event::Event>; 1]>>,
    /// Profiles merged in this operation: loser → survivor.
    merged: Vec<(ProfileId, ProfileId)>,
    /// Staged segment membership: (segment id, profile) → member.
    members: std::collections::BTreeMap<(u32, ProfileId), bool>,
    /// Staged feed records (sequence numbers assigned at commit).
    feed: Vec<crate::segment::FeedRecord>,
    next_feed: u64,
    /// Set by operations that change no segment input (history retention).
    pub skip_segments: bool,
    /// Timeline retention staged in this operation: each profile's events
    /// before the time are being deleted (segment evaluation skips them).
    pub trimmed: HashMap<ProfileId, i64>,
    /// What this operation changed per profile (segment maintenance
    /// re-evaluates only the segments that read it).
    changes: HashMap<ProfileId, ProfileChanges>,
    /// Rollup contributions staged in the batch, for evaluations.
    staged_rollups: StagedRollups,
    /// The same contributions, whole, for the rollup cache after commit.
    rollup_log: Vec<(ProfileId, u32, Contribution)>,
    /// Profiles whose rollups this operation rewrote other than by
    /// contributions (merges, anonymization): their cache entries go.
    rollups_rewritten: Vec<ProfileId>,
    /// Profiles whose stored timeline and rollups this operation's reads
    /// ignore: an unmerge rebuilt them, staged in full.
    replaced: Vec<ProfileId>,
    /// Profiles whose stored timeline this operation's reads ignore: it
    /// is rewritten, staged in full (unmerges, anonymization).
    events_replaced: Vec<ProfileId>,
    /// Set by operations that rewrite rollups wholesale (retention,
    /// declarations, erasure): the whole rollup cache goes.
    pub rollups_reset: bool,
    /// Wake-ups filed in this operation: (segment, profile) → due.
    wakeups: HashMap<(u32, ProfileId), Option<i64>>,
    /// Profiles whose due wake-ups this operation processed (or, skipping
    /// segment maintenance, left alone) before staging anything about them.
    settled: foldhash::HashSet<ProfileId>,
    /// The first processing of due wake-ups that failed, with its profile.
    settle_failed: Option<(ProfileId, Error)>,
    /// An identifier's committed resolution read ahead of its event (see
    /// [`Txn::resolved_ahead`]).
    resolved_ahead: Option<(&'a Identifier, Resolved)>,
}

/// Where an identifier resolves: what stitching reads of its link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The live profile it resolves to.
    pub profile: ProfileId,
    /// The link is detached (never stitched into another profile).
    pub detached: bool,
}

impl Resolved {
    /// What `link` resolves to.
    pub fn of(link: &IdentityLink) -> Self {
        Resolved { profile: link.profile, detached: link.detached }
    }
}

impl<'a> Txn<'a> {
    /// Starts an operation; `writer` proves the writer lock is held.
    pub fn new(core: &'a Core, writer: &'a mut WriterState) -> Self {
        let next_id = writer.next_profile_id;
        let next_seq = writer.next_event_seq;
        let next_feed = writer.next_feed_seq;
        Txn {
            core,
            writer,
            view: core.store.latest(),
            batch: core.store.batch(),
            now: core.clock.now(),
            next_id,
            next_seq,
            new_series: Vec::new(),
            profiles: HashMap::new(),
            links: HashMap::new(),
            known_absent: foldhash::HashSet::default(),
            kind_deltas: HashMap::new(),
            staged_events: HashMap::new(),
            merged: Vec::new(),
            members: std::collections::BTreeMap::new(),
            feed: Vec::new(),
            next_feed,
            skip_segments: false,
            trimmed: HashMap::new(),
            changes: HashMap::new(),
            staged_rollups: StagedRollups::default(),
            rollup_log: Vec::new(),
            rollups_rewritten: Vec::new(),
            replaced: Vec::new(),
            events_replaced: Vec::new(),
            rollups_reset: false,
            wakeups: HashMap::new(),
            settled: foldhash::HashSet::default(),
            settle_failed: None,
            resolved_ahead: None,
        }
    }

    /// The current record of a live profile (`None`: no such live profile).
    pub fn profile(&self, id: ProfileId) -> Result<Option<Arc<ProfileRecord>>> {
        if let Some(p) = self.profiles.get(&id) {
            return Ok(p.clone());
        }
        load_profile(self.core, &self.view, id)
    }

    /// Where `ident` is linked, if anywhere.
    pub fn link(&self, ident: &Identifier) -> Result<Option<IdentityLink>> {
        if let Some(l) = self.links.get(ident) {
            return Ok(l.clone());
        }
        if self.known_absent.contains(ident) {
            return Ok(None);
        }
        load_link(self.core, &self.view, ident)
    }

    /// Where `ident` resolves: its profile, and whether the link is
    /// detached — what stitching reads of a link, without copying the
    /// link (its cause holds strings). An identifier found unlinked in
    /// storage is remembered (staging its first link then reads nothing).
    pub fn resolve_noting_absent(&mut self, ident: &Identifier) -> Result<Option<Resolved>> {
        if let Some(l) = self.links.get(ident) {
            return Ok(l.as_ref().map(Resolved::of));
        }
        if self.known_absent.contains(ident) {
            return Ok(None);
        }
        if let Some((_, r)) = self.resolved_ahead.take_if(|(hinted, _)| *hinted == ident) {
            return Ok(Some(r));
        }
        let found = map_link(self.core, &self.view, ident, Resolved::of)?;
        if found.is_none() {
            self.known_absent.insert(ident.clone());
        }
        Ok(found)
    }

    /// Hands the next [`resolve_noting_absent`](Self::resolve_noting_absent)
    /// of `ident` what the identity cache held for it when the operation
    /// started (`None`: nothing to hand over). Valid because the cache
    /// holds committed links and only this operation's commit changes
    /// them; the links it staged since are looked up first.
    pub fn resolved_ahead(&mut self, ahead: Option<(&'a Identifier, Resolved)>) {
        self.resolved_ahead = ahead;
    }

    /// The survivor an id was merged into, if it is an alias.
    pub fn alias_of(&self, id: ProfileId) -> Result<Option<ProfileId>> {
        crate::identity::graph::survivor_of(&self.view, id)
    }

    /// Allocates a fresh profile id (consumed only if the operation commits).
    pub fn allocate_id(&mut self) -> Result<ProfileId> {
        let id = self.next_id;
        self.next_id = id.checked_add(1).ok_or_else(|| Error::invalid("all 2^32 profile ids are used"))?;
        Ok(ProfileId(id))
    }

    /// Allocates a timeline sequence number.
    pub fn next_event_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// Stages a new series; returns its id.
    pub fn add_series(&mut self, s: SeriesDef) -> u32 {
        let id = self.core.rollups.read().series.len() + self.new_series.len();
        self.new_series.push(s);
        id as u32
    }

    /// As [`Registry::plain_series`](crate::rollup::registry::Registry::plain_series),
    /// staged series included.
    pub fn plain_series(&self, event: &str, property: Option<&str>) -> Option<u32> {
        let reg = self.core.rollups.read();
        reg.plain_series(event, property).or_else(|| {
            let i = self
                .new_series
                .iter()
                .position(|s| s.event == event && s.filter.is_empty() && s.property.as_deref() == property)?;
            Some((reg.series.len() + i) as u32)
        })
    }

    /// The series staged by this operation (ids follow the committed ones).
    pub fn staged_series(&self) -> &[SeriesDef] {
        &self.new_series
    }

    /// The identifiers linked to `p`, staged links included.
    pub fn identifiers_of(&self, p: ProfileId) -> Result<Vec<Identifier>> {
        let mut out = Vec::new();
        for i in crate::identity::graph::identifiers_of(&self.view, p)? {
            if self.link(&i)?.is_some_and(|l| l.profile == p) {
                out.push(i);
            }
        }
        for (i, l) in &self.links {
            if l.as_ref().is_some_and(|l| l.profile == p) && !out.contains(i) {
                out.push(i.clone());
            }
        }
        Ok(out)
    }

    /// How many identifiers of each kind are linked to `p`, staged links
    /// included: its record's counts (listed from `profile_identifiers`
    /// for a record written before format 5) plus this operation's changes.
    pub fn kind_counts(&self, p: ProfileId) -> Result<KindCounts> {
        self.counts_of(p, self.profile(p)?.as_deref())
    }

    /// As [`kind_counts`](Self::kind_counts), given `p`'s record as staged or
    /// stored (a staged record carries the counts it was built from: this
    /// operation's changes are applied here, and written at commit).
    fn counts_of(&self, p: ProfileId, rec: Option<&ProfileRecord>) -> Result<KindCounts> {
        let mut counts = match rec.and_then(|r| r.kinds.as_deref()) {
            Some(k) => k.clone(),
            None => KindCounts::of(&crate::identity::graph::identifiers_of(&self.view, p)?),
        };
        if let Some(d) = self.kind_deltas.get(&p) {
            d.apply_to(&mut counts);
        }
        Ok(counts)
    }

    /// Records that `event` is staged on `p`'s timeline.
    pub fn stage_event(&mut self, p: ProfileId, event: &'a crate::event::Event) {
        self.settle(p);
        self.staged_events.entry(p).or_default().push(Cow::Borrowed(event));
    }

    /// Marks `p` as having rollup or timeline writes for events named
    /// `name` staged.
    pub fn note_event(&mut self, p: ProfileId, name: &str) {
        self.settle(p);
        self.staged_events.entry(p).or_default();
        let events = &mut self.changes.entry(p).or_default().events;
        if !events.iter().any(|e| e == name) {
            events.push(name.into());
        }
    }

    /// Marks `p` as having its timeline changed wholesale (retention
    /// trimmed it): every segment is re-evaluated for it at commit.
    pub fn mark_touched(&mut self, p: ProfileId) {
        self.settle(p);
        self.staged_events.entry(p).or_default();
        self.changes.entry(p).or_default().all = true;
    }

    /// Sizes what an operation stages per event for `events` events (a
    /// batch's), so that its maps do not grow by rehashing as it goes: an
    /// event stages one profile's timeline and changes and about two
    /// rollup contributions.
    pub fn reserve_events(&mut self, events: usize) {
        self.staged_events.reserve(events);
        self.settled.reserve(events);
        self.changes.reserve(events);
        self.staged_rollups.reserve(2 * events);
        self.rollup_log.reserve(2 * events);
    }

    /// Records a rollup contribution staged in the batch.
    pub fn stage_rollup(&mut self, p: ProfileId, series: u32, c: Contribution) {
        self.settle(p);
        self.staged_rollups.add_event(p, series, &c);
        self.rollup_log.push((p, series, c));
    }

    /// Records that `p`'s rollups were rewritten in the batch other than
    /// by [`stage_rollup`](Self::stage_rollup) (its cached ones go).
    pub fn rollups_rewritten(&mut self, p: ProfileId) {
        self.settle(p);
        self.rollups_rewritten.push(p);
    }

    /// What this operation changed about `p` so far.
    pub fn changes_of(&self, p: ProfileId) -> Option<&ProfileChanges> {
        self.changes.get(&p)
    }

    /// Whether events or rollups were staged for `p` in this operation,
    /// or a merge into it was (which moves the loser's timeline, rollups
    /// and aliases to it in the batch, out of sight of a later merge's
    /// reads of storage).
    pub fn touched(&self, p: ProfileId) -> bool {
        self.staged_events.contains_key(&p)
    }

    /// Records a merge staged in this operation; the survivor counts as
    /// [`touched`](Self::touched) from now on.
    pub fn note_merge(&mut self, loser: ProfileId, survivor: ProfileId) {
        self.settle(loser);
        self.settle(survivor);
        self.merged.push((loser, survivor));
        self.staged_events.entry(survivor).or_default();
        self.changes.entry(survivor).or_default().all = true;
    }

    /// Stages a profile's new record (its identifier counts as they were
    /// before this operation: commit applies the operation's changes).
    pub fn put_profile(&mut self, record: ProfileRecord) -> Arc<ProfileRecord> {
        let id = record.profile.id;
        self.settle(id);
        let rec = Arc::new(record);
        self.profiles.insert(id, Some(rec.clone()));
        rec
    }

    /// Stages the removal of a profile's record (it merged away or was erased).
    pub fn delete_profile(&mut self, id: ProfileId) {
        self.settle(id);
        self.profiles.insert(id, None);
    }

    /// Stages an identifier's link (and its reverse index entry; the old
    /// reverse entry, if the link moved, is removed).
    pub fn put_link(&mut self, ident: &Identifier, link: IdentityLink) -> Result<()> {
        let old = self.link(ident)?.map(|l| l.profile);
        old.into_iter().chain([link.profile]).for_each(|p| self.settle(p));
        if old != Some(link.profile) {
            if let Some(old) = old {
                schema::PROFILE_IDENTIFIERS.delete(&mut self.batch, keys::profile_identifier(old, ident));
                self.changes.entry(old).or_default().identifiers = true;
                self.kind_deltas.entry(old).or_default().add(ident.kind(), -1);
            }
            self.kind_deltas.entry(link.profile).or_default().add(ident.kind(), 1);
        }
        self.changes.entry(link.profile).or_default().identifiers = true;
        schema::IDENTITY.put(&mut self.batch, keys::identifier(ident), &link);
        schema::PROFILE_IDENTIFIERS.put(
            &mut self.batch,
            keys::profile_identifier(link.profile, ident),
            &crate::codec::Marker,
        );
        self.links.insert(ident.clone(), Some(link));
        Ok(())
    }

    /// Stages the removal of an identifier's link.
    pub fn delete_link(&mut self, ident: &Identifier) -> Result<()> {
        if let Some(old) = self.link(ident)? {
            self.settle(old.profile);
            schema::PROFILE_IDENTIFIERS.delete(&mut self.batch, keys::profile_identifier(old.profile, ident));
            self.changes.entry(old.profile).or_default().identifiers = true;
            self.kind_deltas.entry(old.profile).or_default().add(ident.kind(), -1);
        }
        schema::IDENTITY.delete(&mut self.batch, keys::identifier(ident));
        self.links.insert(ident.clone(), None);
        Ok(())
    }

    /// The time a delta on a profile whose record is `prev` is written at:
    /// the operation's time, but never earlier than the profile's previous
    /// delta (a clock stepping back cannot reorder history). Operators are
    /// applied at this time too, so replay reproduces the state exactly.
    /// A merge or unmerge is also never earlier than the other profile's
    /// latest delta ([`NewDelta::not_before`]), so the two logs it is
    /// recorded in stay in order with each other.
    pub fn time_for(&self, prev: Option<&ProfileRecord>) -> Timestamp {
        prev.map_or(self.now, |p| self.now.max(p.profile.updated_at))
    }

    /// Applies a call's trait `update` to the profile stitching chose, as
    /// one delta naming the identifiers it came `via` and the links it
    /// made — or no delta when nothing changed (an existing profile, no
    /// operators, no link). Returns the profile's version after it.
    pub fn record_update(
        &mut self,
        s: &crate::identity::stitch::Stitched,
        update: crate::profile::operator::Update,
        cause: &Cause,
        via: &[Identifier],
    ) -> Result<u64> {
        let prev = self.profile(s.target)?;
        let changed = prev.is_none() || !update.is_empty() || !s.linked.is_empty() || !s.unlinked.is_empty();
        if !changed {
            return Ok(prev.map_or(0, |p| p.profile.version));
        }
        let base = prev.as_ref().map(|p| &p.profile.traits);
        let traits = match base {
            // Nothing to apply: the traits as they are (no operator to run).
            Some(base) if update.is_empty() => base.clone(),
            _ => update.apply(base.unwrap_or(&Traits::new()), self.time_for(prev.as_deref()))?,
        };
        let mut d = NewDelta::new(Change::Update(update.into_ops()), cause.clone());
        d.via = via.to_vec();
        d.linked = s.linked.clone();
        d.unlinked = s.unlinked.clone();
        Ok(self.record_delta(s.target, prev.as_deref(), traits, d).profile.version)
    }

    /// Appends a delta to a profile's history and stages the resulting
    /// record (and a snapshot when one is due). `prev` is `None` for a new
    /// profile, whose first delta is version 1.
    pub fn record_delta(
        &mut self,
        id: ProfileId,
        prev: Option<&ProfileRecord>,
        traits: Traits,
        d: NewDelta,
    ) -> Arc<ProfileRecord> {
        let consent = prev.map(|p| p.profile.consent.clone()).unwrap_or_default();
        self.record_state(id, prev, traits, consent, d)
    }

    /// As [`Txn::record_delta`], with the profile's consent after the delta.
    pub fn record_state(
        &mut self,
        id: ProfileId,
        prev: Option<&ProfileRecord>,
        traits: Traits,
        consent: crate::profile::consent::Consents,
        d: NewDelta,
    ) -> Arc<ProfileRecord> {
        let at = d.not_before.map_or(self.time_for(prev), |t| self.time_for(prev).max(t));
        let (version, created_at, floor, last_snapshot, kinds) = match prev {
            Some(p) => (p.profile.version + 1, p.profile.created_at, p.history_floor, p.last_snapshot, p.kinds.clone()),
            None => (1, self.now, 0, 0, Some(Arc::new(KindCounts::default()))),
        };
        let delta =
            Delta { version, at, cause: d.cause, via: d.via, linked: d.linked, unlinked: d.unlinked, change: d.change };
        schema::DELTAS.put(&mut self.batch, keys::versioned(id, version), &delta);
        let profile = Profile { id, version, created_at, updated_at: at, traits, consent };
        let snapshot_due = version - last_snapshot >= self.core.config.snapshot_every;
        if snapshot_due {
            schema::SNAPSHOTS.put(&mut self.batch, keys::versioned(id, version), &profile);
        }
        let record = ProfileRecord {
            profile: Arc::new(profile),
            history_floor: floor,
            last_snapshot: if snapshot_due { version } else { last_snapshot },
            kinds,
        };
        self.put_profile(record)
    }

    /// Re-evaluates the segments of every profile this operation wrote, in
    /// id order — what [`commit`](Self::commit) does first unless
    /// `skip_segments` is set (it sets it). A failure names the profile
    /// whose evaluation failed; the operation is then void (drop it).
    pub fn maintain_segments(&mut self) -> std::result::Result<(), (ProfileId, Error)> {
        if let Some(failed) = self.settle_failed.take() {
            return Err(failed);
        }
        // The writer's segments: during a backfill, those being built.
        if !self.skip_segments && !self.core.segments.read().for_writer().segments.is_empty() {
            let mut touched: Vec<ProfileId> =
                self.profiles.iter().filter(|(_, r)| r.is_some()).map(|(p, _)| *p).collect();
            touched.extend(self.staged_events.keys().filter(|p| !self.profiles.contains_key(p)));
            touched.sort_unstable();
            touched.dedup();
            // The next profiles' caches are on their way while one is
            // evaluated (see `crate::db::prefetch`).
            for (i, &p) in touched.iter().enumerate() {
                crate::db::prefetch::ahead(i, |j| touched.get(j).copied(), |q, stage| self.core.prefetch(q, stage));
                // A batch touched the profile's cached rollups and wake-ups
                // while staging its event, many events ago: unless
                // prefetched, their lines are gone from the CPU caches
                // (after a single event, this touch finds them there).
                self.core.touch_cached(p);
                crate::segment::maintain::reevaluate_changed(self, p).map_err(|e| (p, e))?;
            }
        }
        self.skip_segments = true;
        Ok(())
    }

    /// Commits the batch, then publishes every staged state to the caches.
    ///
    /// Ordering, for readers (README, Concurrency and atomicity): the
    /// commit is in flight ([`CommitEpoch`](crate::commit_epoch::CommitEpoch))
    /// from before its RocksDB write until every in-memory state holds it;
    /// the profile and identity cache entries it changes are invalidated
    /// before the write (a reader that misses reads RocksDB, and cannot
    /// cache what it read before the write); feed subscribers are sent
    /// the commit's records last.
    pub fn commit(mut self) -> Result<()> {
        self.maintain_segments().map_err(|(_, e)| e)?;
        self.stage_chunks();
        self.stage_records()?;
        // Trait-index bitmaps and the persisted live set (also for merges, unmerges, erasure).
        let indexed = crate::segment::index::stage(self.core, &self.view, &mut self.batch, &self.profiles)?;
        let mut batch = self.batch;
        if self.next_id != self.writer.next_profile_id {
            schema::META_U32.put(&mut batch, keys::meta::NEXT_PROFILE_ID, &self.next_id);
        }
        if self.next_feed != self.writer.next_feed_seq {
            schema::META_U64.put(&mut batch, keys::meta::NEXT_FEED_SEQ, &self.next_feed);
        }
        // Taken over by the writer state once the batch is committed.
        let mut seq_reserved = self.writer.event_seq_reserved;
        if self.next_seq > seq_reserved {
            seq_reserved = self.next_seq.saturating_add(crate::core::EVENT_SEQ_BLOCK);
            schema::META_U64.put(&mut batch, keys::meta::NEXT_EVENT_SEQ, &seq_reserved);
        }
        let core: &Core = self.core;
        let in_flight = core.commits.begin();
        for id in self.profiles.keys() {
            core.profiles.invalidate(*id);
        }
        for ident in self.links.keys() {
            core.identities.invalidate(&CacheKey::of(ident));
        }
        if !batch.is_empty() {
            if let Err(e) = core.store.commit(batch) {
                // Nothing changed: end the invalidations (the entries stay out).
                for id in self.profiles.keys() {
                    core.profiles.publish(*id, None);
                }
                for ident in self.links.keys() {
                    core.identities.publish_without_evicting(CacheKey::of(ident), None);
                }
                return Err(e);
            }
        }
        // Compaction may drop message ids no duplicate check counts now.
        let cutoff = self.now.0.saturating_sub(core.config.dedup_horizon_ms);
        core.dedup_cutoff.store(cutoff, std::sync::atomic::Ordering::Relaxed);
        self.writer.next_profile_id = self.next_id;
        self.writer.next_event_seq = self.next_seq;
        self.writer.event_seq_reserved = seq_reserved;
        self.writer.next_feed_seq = self.next_feed;
        if let Some(touched) = &mut self.writer.index_touched {
            touched.extend(self.profiles.keys().map(|p| p.0));
        }
        {
            let mut state = core.segments.write();
            indexed.publish(&mut state.indexes);
            for (id, rec) in &self.profiles {
                match rec {
                    Some(_) => state.live.insert(id.0),
                    None => state.live.remove(id.0),
                };
            }
            state.set_members(&self.members);
        }
        if !self.new_series.is_empty() {
            let mut reg = core.rollups.write();
            for s in self.new_series {
                reg.add_series(s);
            }
        }
        let cache = &core.rollup_cache;
        if self.rollups_reset {
            cache.clear();
        } else {
            cache.apply(&self.rollup_log);
            for p in &self.rollups_rewritten {
                cache.forget(*p);
            }
        }
        core.wakeups.publish(self.wakeups);
        for (id, rec) in self.profiles {
            core.profiles.publish(id, rec.map(CachedRecord::from));
        }
        for (ident, link) in self.links {
            // A new identifier takes free room only: it evicts nothing.
            core.identities.publish_without_evicting(CacheKey::of(&ident), link);
        }
        drop(in_flight);
        // Last: a subscriber told of a record reads every state it came from.
        if !self.feed.is_empty() {
            core.publish_feed(&self.feed);
        }
        Ok(())
    }
}

impl Txn<'_> {
    /// Writes every staged record, its identifier counts brought up to
    /// date with this operation's links; a profile whose links changed but
    /// whose record was not staged gets its record rewritten with new counts.
    fn stage_records(&mut self) -> Result<()> {
        let mut ids: Vec<ProfileId> = self.kind_deltas.iter().filter(|(_, d)| !d.is_empty()).map(|(p, _)| *p).collect();
        ids.sort_unstable();
        for p in ids {
            let rec = match self.profiles.get(&p) {
                Some(staged) => staged.clone(),
                None => load_profile(self.core, &self.view, p)?,
            };
            // A deleted (merged away, erased) or unknown profile has no record to count in.
            if let Some(rec) = rec {
                let kinds = self.counts_of(p, Some(&rec))?;
                let updated = ProfileRecord { kinds: Some(Arc::new(kinds)), ..(*rec).clone() };
                self.profiles.insert(p, Some(Arc::new(updated)));
            }
        }
        for (id, rec) in &self.profiles {
            match rec {
                Some(rec) => schema::PROFILES.put(&mut self.batch, keys::profile(*id), rec.as_ref()),
                None => schema::PROFILES.delete(&mut self.batch, keys::profile(*id)),
            }
        }
        Ok(())
    }

    /// Stages the changes to every segment chunk a staged membership
    /// change touches ([`stage_chunk`]: one key per 65,536 ids, and a
    /// write never rewrites a chunk).
    fn stage_chunks(&mut self) {
        if self.members.is_empty() {
            return;
        }
        let mut chunks: std::collections::BTreeMap<(u32, u16), std::collections::BTreeMap<u32, bool>> =
            Default::default();
        for ((seg, p), member) in &self.members {
            chunks.entry((*seg, (p.0 >> 16) as u16)).or_default().insert(p.0, *member);
        }
        let guard = self.core.segments.read();
        let state = guard.for_writer();
        for ((seg, hi), changes) in &chunks {
            let current = state.by_id.get(seg).map(|i| state.segments[*i].members.bits());
            stage_chunk(
                &mut self.batch,
                schema::SEGMENT_CHUNKS.name,
                &keys::segment::chunk(*seg, *hi),
                current,
                changes,
            );
        }
    }
}

/// Reads a live profile's record through the cache.
pub(crate) fn load_profile(core: &Core, view: &View<'_>, id: ProfileId) -> Result<Option<Arc<ProfileRecord>>> {
    map_profile(core, view, id, Arc::clone)
}

/// `f` of a live profile's record, read through the cache (a cached one
/// under the cache lock, without taking a reference to it).
pub(crate) fn map_profile<R>(
    core: &Core,
    view: &View<'_>,
    id: ProfileId,
    f: impl Fn(&Arc<ProfileRecord>) -> R,
) -> Result<Option<R>> {
    map_cached(core, view, id, |c| f(&c.record))
}

/// `f` of a live profile's cache entry (its record and its profile),
/// loading and caching the record on a miss.
pub(crate) fn map_cached<R>(
    core: &Core,
    view: &View<'_>,
    id: ProfileId,
    f: impl Fn(&CachedRecord) -> R,
) -> Result<Option<R>> {
    core.profiles.map_or_load(id, f, || {
        Ok(schema::PROFILES.get(view, &keys::profile(id))?.map(|r| CachedRecord::from(Arc::new(r))))
    })
}

/// Reads an identifier's link through the cache.
pub(crate) fn load_link(core: &Core, view: &View<'_>, ident: &Identifier) -> Result<Option<IdentityLink>> {
    map_link(core, view, ident, IdentityLink::clone)
}

/// `f` of an identifier's link, read through the cache (a cached one under
/// the cache lock, without copying it).
fn map_link<R>(
    core: &Core,
    view: &View<'_>,
    ident: &Identifier,
    f: impl FnOnce(&IdentityLink) -> R,
) -> Result<Option<R>> {
    core.identities.map_or_load(&CacheKey::of(ident), f, || schema::IDENTITY.get(view, &keys::identifier(ident)))
}
