//! Segments: define, drop, read membership, query, tick, change feed.

use crate::clock::Timestamp;
use crate::core::WriterState;
use crate::error::{Error, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::context::{ProfileCtx, ReadSource};
use crate::segment::count::count;
use crate::segment::maintain::reevaluate_only;
use crate::segment::query::{flat_plan, is_bitmap, plan, QueryResult};
use crate::segment::retained::retained_only;
use crate::segment::{
    check, dependencies, evaluate, find_cycle, parse_with_catalog, Dependencies, Expr, FeedRecord, SegmentDef,
};
use crate::txn::Txn;

use super::ProfileDb;

pub use crate::subscription::FeedReceiver;

/// A defined segment and its size.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentInfo {
    /// The name.
    pub name: String,
    /// The expression.
    pub text: String,
    /// Current number of members.
    pub members: u64,
    /// When it was (re)defined.
    pub defined_at: Timestamp,
    /// Its conditions that see only the events timeline retention keeps
    /// (read from the timeline: an all-time condition no rollup series
    /// answers, or a `seq`), each described in a sentence; the others see
    /// every event ever recorded (see README, Retention).
    pub retained_only: Vec<String>,
}

/// A difference between a stored bitmap and a fresh evaluation.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentMismatch {
    /// The segment.
    pub segment: String,
    /// The profile.
    pub profile: ProfileId,
    /// Whether the bitmap holds it.
    pub stored: bool,
}

/// What a [`tick`](ProfileDb::tick) did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Wake-ups processed.
    pub processed: u64,
    /// Profiles whose events older than the timeline retention this
    /// tick's retention step deleted.
    pub timelines_trimmed: u64,
    /// Day buckets this tick's retention step folded into the all-time
    /// values.
    pub buckets_folded: u64,
    /// Change-feed records older than `feed_retention` this tick's
    /// retention step deleted (the feed floor rose past them).
    pub feed_records_deleted: u64,
    /// Membership-history rows older than `membership_history_retention`
    /// this tick's retention step deleted.
    pub membership_rows_deleted: u64,
    /// Profiles whose due wake-up or retention step could not be
    /// processed (left for the next tick; the others were processed).
    pub failures: Vec<super::ProfileFailure>,
}

/// Profiles a segment backfill re-evaluates per commit (and per hold of
/// the writer lock: writes go on between batches). Smaller under
/// `cfg(test)`, so the unit tests' small databases span several batches.
#[cfg(not(test))]
pub(crate) const BACKFILL_BATCH: usize = 500;
/// See the non-test value.
#[cfg(test)]
pub(crate) const BACKFILL_BATCH: usize = 50;

fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::invalid(format!(
            "segment name {name:?}: 1 to 64 of a-z, 0-9 and _, starting with a letter"
        )));
    }
    if crate::segment::RESERVED.contains(&name) {
        // `in all` would read the word, not the name (only `in "all"` would).
        return Err(Error::invalid(format!(
            "segment name {name:?} is a word of the expression language; choose another"
        )));
    }
    Ok(())
}

impl ProfileDb {
    /// Defines (or redefines) a segment and backfills its membership over
    /// every profile; returns the number of members. Unknown segment
    /// names, type errors and cycles are errors, and nothing is written.
    ///
    /// **Cost and blocking.** The backfill re-evaluates every live profile
    /// (seconds per million events read: the review measured 1.3 s for
    /// `sum(purchase.amount) >= 100` over 50,000 profiles / 1M events, and
    /// 15.9 s for a two-condition expression over 100,000 / 2M). It commits
    /// 500 profiles at a time and takes the writer lock per batch only, so
    /// writes (`track`, `update`, `identify`, `ingest_batch`, `erase`, a
    /// tick, …) go on between its batches — each waits at most for one
    /// batch — and keep the segment being built exact for the profiles
    /// they touch or create. Readers see the segment as it was (absent, or
    /// its previous definition with the members it had when the
    /// redefinition began, less profiles merged away or erased since)
    /// until the backfill completes, then complete; other segments stay
    /// exact meanwhile. Definitions and [`drop_segment`](Self::drop_segment)
    /// run one at a time: a second one waits for this one's backfill (so
    /// does [`check_segments`](Self::check_segments)). If the process dies
    /// during the backfill, the next writable open finishes it.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// db.update(&"user_id:1".parse()?, Update::new().set("plan", "pro"))?;
    /// assert_eq!(db.define_segment("pro", r#"traits.plan = "pro""#)?, 1);
    /// db.update(&"user_id:2".parse()?, Update::new().set("plan", "pro"))?;
    /// assert_eq!(db.segment_count("pro")?, 2); // exact after every write
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn define_segment(&self, name: &str, text: &str) -> Result<u64> {
        self.define_segment_with_progress(name, text, &mut |_, _| {})
    }

    /// As [`define_segment`](Self::define_segment), from an expression built
    /// with [`Cond`](crate::segment::Cond) (stored as its printed text).
    ///
    /// ```
    /// use profiledb::segment::Cond;
    /// use profiledb::ProfileDb;
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// db.define_segment_expr("mailable", &Cond::consent("marketing_email").and(Cond::has("email")))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn define_segment_expr(&self, name: &str, expr: &crate::segment::Expr) -> Result<u64> {
        self.define_segment(name, &expr.to_string())
    }

    /// As [`define_segment`](Self::define_segment), calling `progress(done, total)` after each batch of
    /// the backfill (without the writer lock: a write from the callback, or one it waits for on another
    /// thread, goes through).
    /// Another definition, `drop_segment`, `check` or `check_segments`
    /// called from the callback is refused ([`Error::InvalidInput`](crate::Error::InvalidInput)):
    /// they wait for this definition to end, which waits for the callback.
    pub fn define_segment_with_progress(
        &self,
        name: &str,
        text: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<u64> {
        self.writable("define_segment")?;
        validate_name(name)?;
        // One definition or drop at a time, for the whole backfill (taken
        // before the writer lock, as everywhere).
        let _definitions = self.core.definitions.hold("define_segment")?;
        self.finish_pending_segment()?;
        let mut writer = self.core.writer.lock();
        let (id, defs) = {
            let state = self.core.segments.read();
            let id = state.get(name).map_or(state.next_id, |s| s.def.id);
            let defs: std::collections::BTreeMap<String, crate::segment::Expr> =
                state.segments.iter().map(|s| (s.def.name.clone(), s.def.expr.clone())).collect();
            (id, defs)
        };
        let mut catalog: std::collections::BTreeSet<String> = defs.keys().cloned().collect();
        catalog.insert(name.to_owned());
        let expr = parse_with_catalog(text, &catalog)?;
        check(&expr, &catalog)?;
        let deps = dependencies(&expr);
        for purpose in &deps.consents {
            self.core.config.privacy.check_purpose(purpose)?;
        }
        if let Some(events) = events_without_timelines(&self.core.config, &deps) {
            return Err(Error::invalid(format!("segment {name:?} {events}; open it with a timeline retention")));
        }
        if let Some(why) = self.window_unanswerable(&expr, true) {
            return Err(Error::invalid(format!("segment {name:?}: {why}")));
        }
        let mut all = defs;
        all.insert(name.to_owned(), expr.clone());
        if let Some(cycle) = find_cycle(&all) {
            return Err(Error::invalid(format!("segments would read each other in a cycle: {}", cycle.join(" -> "))));
        }
        let def =
            SegmentDef { id, name: name.to_owned(), text: text.to_owned(), expr, defined_at: self.core.clock.now() };
        // The backfill reads other segments' memberships at now: their due
        // wake-ups are processed first (as a tick would; a failed one stays
        // due and the next tick reports it).
        self.process_wakeups_locked(&mut writer, &mut TickReport::default())?;
        self.commit_definition(&mut writer, def)?;
        // The backfill takes the writer lock per batch: writes go on
        // between its batches, maintaining the segment being built.
        drop(writer);
        self.backfill(id, progress)?;
        self.segment_count(name)
    }

    /// Commits a segment's definition with a pending-backfill marker (so a
    /// crash before [`backfill`](Self::backfill) ends is finished at the
    /// next open), then gives it to the writer with its current members;
    /// readers keep the segments as they were until the backfill ends
    /// ([`SegmentState::finish_building`](crate::segment::state::SegmentState::finish_building)).
    pub(crate) fn commit_definition(&self, writer: &mut WriterState, def: SegmentDef) -> Result<()> {
        let id = def.id;
        let mut txn = Txn::new(&self.core, writer);
        txn.skip_segments = true;
        let redefined = self.core.segments.read().get(&def.name).is_some();
        if redefined {
            // The old definition's wake-ups go; the backfill files the new
            // definition's (a segment that no longer depends on time has none).
            stage_wakeup_removal(&mut txn, id)?;
        }
        schema::SEGMENT_DEFS.put(&mut txn.batch, def.name.as_bytes(), &def);
        let next = self.core.segments.read().next_id.max(id + 1);
        schema::META_U32.put(&mut txn.batch, keys::meta::NEXT_SEGMENT_ID, &next);
        schema::META_U32.put(&mut txn.batch, keys::meta::SEGMENT_BACKFILL, &id);
        txn.commit()?;
        if redefined {
            // Its wake-ups were deleted without filing: forget every cached one.
            self.core.wakeups.clear();
        }
        let mut state = self.core.segments.write();
        let members = state.get(&def.name).map(|s| s.members.clone()).unwrap_or_default();
        state.next_id = state.next_id.max(id + 1);
        state.begin_building(def, members);
        Ok(())
    }

    /// Re-evaluates segment `id` for every profile live when it starts,
    /// in batches of [`BACKFILL_BATCH`], then clears the pending-backfill
    /// marker and publishes the segments built to readers
    /// ([`SegmentState::finish_building`](crate::segment::state::SegmentState::finish_building);
    /// not when it stops early: see `finish_pending_segment`). Idempotent.
    ///
    /// The writer lock is taken per batch and released between batches
    /// (`progress` is called without it), so writes go on meanwhile: they
    /// maintain the segment being built (the writer's segments,
    /// [`for_writer`](crate::segment::state::SegmentState::for_writer)) for
    /// the profiles they touch, including the profiles they create. A
    /// profile that merged away or was erased since the backfill started
    /// is skipped (its write left every segment). The caller holds
    /// [`Core::definitions`](crate::core::Core::definitions) so no other
    /// definition or drop interleaves.
    fn backfill(&self, id: u32, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        // Stopped early (an error, or a panic out of `progress`): readers
        // keep the segments as they were, writes keep maintaining the one
        // being built, and the next definition, drop or open finishes it
        // (`finish_pending_segment`).
        self.backfill_batches(id, progress)?;
        // Readers see the new definition, complete, from here. Under the
        // writer lock: no commit is between its write and the publication
        // of its memberships.
        let _writer = self.core.writer.lock();
        self.core.segments.write().finish_building();
        Ok(())
    }

    /// The batches of [`backfill`](Self::backfill), and the marker's removal.
    fn backfill_batches(&self, id: u32, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let (live, expr, timed) = {
            let _writer = self.core.writer.lock();
            let guard = self.core.segments.read();
            let state = guard.for_writer();
            let seg = state.segments.iter().find(|s| s.def.id == id);
            let (expr, timed) = (seg.map(|s| s.def.expr.clone()), seg.is_some_and(|s| s.deps.time_dependent));
            (guard.live.iter().map(ProfileId).collect::<Vec<_>>(), expr, timed)
        };
        let total = live.len() as u64;
        for (n, chunk) in live.chunks(BACKFILL_BATCH).enumerate() {
            let mut writer = self.core.writer.lock();
            // Still live under the lock: a profile merged away or erased
            // between batches left every segment in that write.
            let chunk: Vec<ProfileId> = {
                let state = self.core.segments.read();
                chunk.iter().copied().filter(|p| state.live.contains(p.0)).collect()
            };
            let mut txn = Txn::new(&self.core, &mut writer);
            txn.skip_segments = true;
            // The rollups the evaluations will read, through one iterator
            // rather than one made and dropped per profile and series.
            if let Some(expr) = &expr {
                let series = crate::segment::context::series_read(&txn, expr);
                if !series.is_empty() {
                    self.core.rollup_cache.preload(&txn.view, &chunk, &series, txn.now.day())?;
                }
            }
            // And the wake-ups its evaluations replace, from one scan.
            if timed {
                self.core.wakeups.preload(&txn.view, id, &chunk)?;
            }
            for p in &chunk {
                reevaluate_only(&mut txn, *p, Some(&[id]))?;
            }
            txn.commit()?;
            drop(writer);
            progress(((n + 1) * BACKFILL_BATCH).min(live.len()) as u64, total);
        }
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        txn.skip_segments = true;
        schema::META_U32.delete(&mut txn.batch, keys::meta::SEGMENT_BACKFILL);
        txn.commit()
    }

    /// Finishes a segment backfill that a crash interrupted (run at open).
    pub(crate) fn resume_backfill(&self) -> Result<()> {
        let _definitions = self.core.definitions.hold("resume_backfill")?;
        self.finish_pending_segment()
    }

    /// Runs again the backfill of a segment definition that stopped early:
    /// a crash (at open), an error or a panic out of a progress callback
    /// on this handle (before the next definition or drop). Called with
    /// the definitions lock held.
    fn finish_pending_segment(&self) -> Result<()> {
        let pending = schema::META_U32.get(&self.core.store.latest(), keys::meta::SEGMENT_BACKFILL)?;
        let Some(id) = pending else { return Ok(()) };
        self.backfill(id, &mut |_, _| {})
    }

    /// Drops a segment: its definition, bitmap, wake-ups and membership
    /// history. Refused while another segment reads it.
    ///
    /// Every member gets an `Exited` change-feed record, in the same batch
    /// (as a redefinition writes one for each profile it no longer
    /// matches), so a consumer mirroring the feed removes them; a later
    /// definition of the name then reads as their `Entered` records.
    pub fn drop_segment(&self, name: &str) -> Result<()> {
        self.writable("drop_segment")?;
        // Not while a definition's backfill runs (its segment is not
        // dropped under it): after it.
        let _definitions = self.core.definitions.hold("drop_segment")?;
        self.finish_pending_segment()?;
        let mut writer = self.core.writer.lock();
        let (id, members) = {
            let state = self.core.segments.read();
            let seg = state.named(name)?;
            if let Some(reader) = state.segments.iter().find(|s| s.deps.segments.contains(name)) {
                return Err(Error::invalid(format!(
                    "segment {:?} reads {name:?}; drop or redefine it first",
                    reader.def.name
                )));
            }
            (seg.def.id, seg.members.iter().map(ProfileId).collect::<Vec<_>>())
        };
        let mut txn = Txn::new(&self.core, &mut writer);
        txn.skip_segments = true;
        for p in members {
            txn.push_feed(crate::segment::FeedKind::Exited, Some(name.to_owned()), p);
        }
        schema::SEGMENT_DEFS.delete(&mut txn.batch, name.as_bytes());
        txn.batch.delete_range(schema::SEGMENT_CHUNKS.name, keys::segment::chunk(id, 0), (id + 1).to_be_bytes());
        txn.batch.delete_range(schema::MEMBERSHIP.name, id.to_be_bytes(), (id + 1).to_be_bytes());
        stage_wakeup_removal(&mut txn, id)?;
        txn.commit()?;
        // Its wake-ups were deleted without filing: forget every cached one.
        self.core.wakeups.clear();
        self.core.segments.write().remove(name);
        Ok(())
    }

    /// Every segment with its size.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let state = self.core.segments.read();
        let reg = self.core.rollups.read();
        state
            .segments
            .iter()
            .map(|s| SegmentInfo {
                name: s.def.name.clone(),
                text: s.def.text.clone(),
                members: s.members.len(),
                defined_at: s.def.defined_at,
                retained_only: retained_only(&s.def.expr, &reg),
            })
            .collect()
    }

    /// The segment bitmaps (under their read lock) and a snapshot holding
    /// exactly the commits they hold: taken again while a commit is
    /// between its RocksDB write and its bitmaps' update.
    pub(super) fn bitmaps_and_snapshot(
        &self,
    ) -> (parking_lot::RwLockReadGuard<'_, crate::segment::state::SegmentState>, crate::storage::View<'_>) {
        self.core.commits.settled(|| {
            let state = self.core.segments.read();
            (state, self.core.store.snapshot())
        })
    }

    /// Number of members of a segment.
    pub fn segment_count(&self, name: &str) -> Result<u64> {
        let state = self.core.segments.read();
        Ok(state.named(name)?.members.len())
    }

    /// Whether a profile (or the survivor it merged into) is a member.
    pub fn in_segment(&self, name: &str, profile: ProfileId) -> Result<bool> {
        let state = self.core.segments.read();
        let seg = state.named(name)?;
        if seg.members.contains(profile.0) {
            return Ok(true);
        }
        if state.live.contains(profile.0) {
            return Ok(false);
        }
        drop(state);
        let live = self.resolve_id(profile)?;
        let state = self.core.segments.read();
        Ok(live.is_some_and(|p| state.get(name).is_some_and(|s| s.members.contains(p.0))))
    }

    /// A page of a segment's members, ascending by id.
    pub fn segment_members(&self, name: &str, offset: u64, limit: usize) -> Result<Vec<ProfileId>> {
        let state = self.core.segments.read();
        let seg = state.named(name)?;
        Ok(seg.members.iter().skip(offset as usize).take(limit).map(ProfileId).collect())
    }

    /// The segments a profile belongs to, sorted by name except that a
    /// segment defined over other segments comes after those.
    pub fn segments_of(&self, profile: ProfileId) -> Result<Vec<String>> {
        let live = self.resolve_id(profile)?.ok_or_else(|| Error::no_profile(profile))?;
        let state = self.core.segments.read();
        Ok(state.segments.iter().filter(|s| s.members.contains(live.0)).map(|s| s.def.name.clone()).collect())
    }

    /// Evaluates a query (the segment language) with bitmap algebra over
    /// segment bitmaps; other conditions are evaluated per candidate
    /// profile, which [`QueryResult::explain`] says.
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let bob: Identifier = "email:bob@example.com".parse()?;
    /// let a = db.update(&ann, Update::new().set("plan", "pro"))?.profile;
    /// db.update(&bob, Update::new().set("plan", "free"))?;
    /// let pro = db.query(r#"traits.plan = "pro""#)?;
    /// assert_eq!((pro.count(), pro.members(0, 10)), (1, vec![a]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query(&self, text: &str) -> Result<QueryResult> {
        let (expr, deps) = self.parse_query(text)?;
        self.run_query(&expr, &deps)
    }

    /// Evaluates a parsed query.
    fn run_query(&self, expr: &Expr, deps: &Dependencies) -> Result<QueryResult> {
        let now = self.core.clock.now();
        let mut lines = Vec::new();
        let (state, view) = self.bitmaps_and_snapshot();
        if is_bitmap(expr, &state) {
            let src = ReadSource { core: &self.core, view: &view, bitmaps: Some(&state) };
            // Dense segments: combined over their flat blocks, kept as blocks.
            if let Some(set) = crate::segment::count::members(expr, &state) {
                let lines = flat_plan(expr, &state, set.len());
                return Ok(QueryResult::flat(set, lines));
            }
            // Pure bitmap algebra: microseconds, evaluated in place.
            let members = plan(expr, &state, &src, now, &state.live, 0, &mut lines)?;
            return Ok(QueryResult::new(members, lines));
        }
        // Per-profile conditions can take long: evaluate them over a copy
        // of the bitmaps the query reads, with the lock released.
        let copy = state.query_copy(deps);
        drop(state);
        let src = ReadSource { core: &self.core, view: &view, bitmaps: Some(&copy) };
        let members = plan(expr, &copy, &src, now, &copy.live, 0, &mut lines)?;
        let notes = retained_only(expr, &self.core.rollups.read());
        lines.extend(notes.into_iter().map(|n| format!("note: {n}")));
        Ok(QueryResult::new(members, lines))
    }

    /// The number of profiles matching a query: the same answer as
    /// `query(text)?.count()`, but a combination of segments (`in a and in
    /// b and not in c`, with `or` and parentheses) is counted chunk by
    /// chunk over the segments' flat bitsets without building the result
    /// (about 10× faster on dense segments); other queries, and segments
    /// too sparse for that to pay, are evaluated as [`query`](Self::query)
    /// does.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// db.define_segment("pro", r#"traits.plan = "pro""#)?;
    /// db.define_segment("de", r#"traits.country = "DE""#)?;
    /// let update = profiledb::Update::new().set("plan", "pro").set("country", "FR");
    /// db.update(&profiledb::Identifier::new("email", "a@example.com")?, update)?;
    /// assert_eq!(db.query_count("in pro and not in de")?, 1);
    /// assert_eq!(db.query_count("in pro and in de")?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn query_count(&self, text: &str) -> Result<u64> {
        let (expr, deps) = self.parse_query(text)?;
        if let Some(n) = count(&expr, &self.core.segments.read()) {
            return Ok(n);
        }
        Ok(self.run_query(&expr, &deps)?.count())
    }

    /// Parses and checks a query against the defined segments.
    fn parse_query(&self, text: &str) -> Result<(Expr, Dependencies)> {
        let catalog: std::collections::BTreeSet<String> =
            self.core.segments.read().segments.iter().map(|s| s.def.name.clone()).collect();
        let expr = parse_with_catalog(text, &catalog)?;
        check(&expr, &catalog)?;
        let deps = dependencies(&expr);
        for purpose in &deps.consents {
            self.core.config.privacy.check_purpose(purpose)?;
        }
        if let Some(events) = events_without_timelines(&self.core.config, &deps) {
            return Err(Error::invalid(format!("the query {events}; open it with a timeline retention")));
        }
        // A window longer than the bucket retention only is answered
        // exactly from the timeline (as stored segments reading one are):
        // a query reads it once, so it is not refused for that.
        if let Some(why) = self.window_unanswerable(&expr, false) {
            return Err(Error::invalid(format!("query: {why}")));
        }
        Ok((expr, deps))
    }

    /// Why `expr`'s windows cannot be answered under this handle's
    /// retention or past the timeline floor, if they cannot. With
    /// `buckets`, a window longer than the bucket retention is refused too:
    /// it is answered from the timeline rather than the day buckets, which
    /// a definition would pay on every write.
    fn window_unanswerable(&self, expr: &Expr, buckets: bool) -> Option<String> {
        use super::window_limits::{window_before_floor, window_beyond_retention, window_beyond_timeline};
        let config = &self.core.config;
        let beyond = if buckets { window_beyond_retention(config, expr) } else { window_beyond_timeline(config, expr) };
        beyond.or_else(|| window_before_floor(expr, self.core.clock.now(), self.core.retention.timeline_ms()))
    }

    /// Change-feed records with `seq >= from` (`from` itself included),
    /// in `seq` order, at most `limit` (none for 0). Sequence numbers start
    /// at 0; an erase deletes the erased person's records, so there may be
    /// gaps. To resume after the record `last`, read `feed(last + 1, …)`;
    /// to follow on live, see [`subscribe`](Self::subscribe).
    ///
    /// Records older than [`feed_retention`](crate::Builder::feed_retention)
    /// (default 30 days) are deleted by retention passes: a `from` before
    /// the oldest one kept fails with [`Error::FeedTruncated`](crate::Error::FeedTruncated)
    /// (its records are gone; re-sync the consumer from a segment export)
    /// instead of skipping them.
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::segment::FeedKind;
    /// use profiledb::{Identifier, ProfileDb};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// db.define_segment("buyers", "count(purchase) >= 1")?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.track(&Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]))?;
    /// let records = db.feed(0, 100)?;
    /// let last = records.last().expect("ann entered buyers");
    /// assert_eq!((&last.kind, last.segment.as_deref()), (&FeedKind::Entered, Some("buyers")));
    /// assert!(db.feed(last.seq + 1, 100)?.is_empty()); // nothing newer yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn feed(&self, from: u64, limit: usize) -> Result<Vec<FeedRecord>> {
        self.check_feed_floor(from)?;
        let view = self.core.store.latest();
        let mut out = Vec::new();
        for kv in view.range(schema::FEED.name, &from.to_be_bytes(), None)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv?;
            out.push(schema::FEED.decode(&k, &v)?);
        }
        // Checked again after the read: retention deleting records
        // meanwhile has raised the floor by then.
        self.check_feed_floor(from)?;
        Ok(out)
    }

    /// A live subscription to the change feed: every record committed
    /// from now on arrives on the channel, in `seq` order (sent after its
    /// commit is visible to every read).
    ///
    /// The channel is **unbounded**: records a receiver does not take stay
    /// queued in memory, so a receiver that is never drained (or drained
    /// slower than writes produce records) grows without limit. Drop the
    /// receiver (and every clone of it) to unsubscribe: its channel is
    /// freed at the next commit with feed records or the next `subscribe`,
    /// whichever comes first. A consumer
    /// that falls behind can drop it and catch up from storage with
    /// [`feed`](Self::feed), which keeps every record.
    ///
    /// The receiver is a [`FeedReceiver`], which dereferences to a
    /// `crossbeam_channel::Receiver` (no `crossbeam` dependency is needed
    /// to store it).
    ///
    /// **From a cursor to live, without gaps**: subscribe *first*, then
    /// read the stored records from the cursor on with `feed` (which
    /// includes its `from`: resume at `last + 1`) until it returns none,
    /// then take records from the channel, skipping those whose `seq` is
    /// not above the last one processed — a record committed between the
    /// subscription and the end of the catch-up arrives both ways.
    ///
    /// ```
    /// use profiledb::{FeedReceiver, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// db.define_segment("pro", r#"traits.plan = "pro""#)?;
    /// db.update(&"user_id:1".parse()?, Update::new().set("plan", "pro"))?;
    ///
    /// // The last record the consumer processed (`None`: nothing yet).
    /// let mut last: Option<u64> = None;
    /// // 1. Subscribe first: nothing committed from here on is missed.
    /// let live: FeedReceiver = db.subscribe();
    /// // 2. Catch up from storage (`feed(from, _)` includes `from`).
    /// let mut processed = Vec::new();
    /// loop {
    ///     let page = db.feed(last.map_or(0, |s| s + 1), 1_000)?;
    ///     let Some(end) = page.last() else { break };
    ///     last = Some(end.seq);
    ///     processed.extend(page);
    /// }
    /// // A write during the catch-up: its record is stored and sent.
    /// db.update(&"user_id:2".parse()?, Update::new().set("plan", "pro"))?;
    /// // 3. Live: skip what the catch-up already processed.
    /// while let Ok(record) = live.try_recv() {
    ///     if last.is_some_and(|l| record.seq <= l) {
    ///         continue;
    ///     }
    ///     last = Some(record.seq);
    ///     processed.push(record);
    /// }
    /// let seqs: Vec<u64> = processed.iter().map(|r| r.seq).collect();
    /// assert_eq!(seqs, [0, 1], "each record once, in order");
    /// drop(live); // unsubscribes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscribe(&self) -> FeedReceiver {
        crate::subscription::subscribe(&self.core.subscribers)
    }

    /// Whether a profile was a member of a segment at time `t`, from the
    /// recorded enter/exit history.
    ///
    /// An id that merged away answers as [`get_as_of_time`](Self::get_as_of_time)
    /// reads it: from its own rows while it was a profile of its own then
    /// (before its merge, or split off again by an unmerge), else from the
    /// rows of the profile it had merged into — through every merge of a
    /// chain. Where retention folded away the merge that may decide it, the
    /// answer is [`Error::HistoryTruncated`] (see `get_as_of_time`). A `t`
    /// before the floor of [`membership_history_retention`](crate::Builder::membership_history_retention)
    /// (default 365 days) is [`Error::MembershipBeforeRetention`]; from the
    /// floor on, answers are exact.
    pub fn was_member(&self, profile: ProfileId, name: &str, t: Timestamp) -> Result<bool> {
        let id = {
            let state = self.core.segments.read();
            state.named(name)?.def.id
        };
        self.check_membership_floor(name, t)?;
        let view = self.core.store.snapshot();
        let live = super::as_of::part_of_at(&view, profile, t)?;
        let floor = keys::segment::membership(id, live, i64::MIN);
        let row = view.last_at_or_before(schema::MEMBERSHIP.name, &floor, &keys::segment::membership(id, live, t.0))?;
        // After the read: a retention pass that deleted rows it needed
        // has raised the floor by then.
        self.check_membership_floor(name, t)?;
        match row {
            Some((k, v)) => schema::MEMBERSHIP.decode(&k, &v),
            None => Ok(false),
        }
    }

    /// Re-evaluates every segment for every live profile at the clock's
    /// now and reports each difference from the stored bitmaps (run
    /// [`tick`](Self::tick) first so due wake-ups are applied); also
    /// reports every difference of the trait-value bitmaps and the live
    /// set from a scan of the profiles
    /// ([`check_trait_indexes`](Self::check_trait_indexes)).
    ///
    /// Waits for a segment definition running meanwhile to finish its
    /// backfill (until then, readers see the segment's previous
    /// definition with the members it had, which a fresh evaluation would
    /// not match).
    pub fn check_segments(&self) -> Result<Vec<SegmentMismatch>> {
        let definitions = self.core.definitions.hold("check_segments")?;
        let now = self.core.clock.now();
        // A copy of the bitmaps with the snapshot they agree with: the
        // evaluation below holds no lock (writers go on meanwhile).
        let (state, view) = {
            let (state, view) = self.bitmaps_and_snapshot();
            (state.segments_copy(), view)
        };
        drop(definitions);
        let src = ReadSource { core: &self.core, view: &view, bitmaps: Some(&state) };
        let mut out = Vec::new();
        for seg in &state.segments {
            for p in &state.live {
                let ctx = ProfileCtx::new(&src, ProfileId(p), now)?;
                let value = evaluate(&seg.def.expr, &ctx).value;
                let failed = |e| crate::segment::maintain::evaluation_failed(&seg.def.name, ProfileId(p), e);
                ctx.finish().map_err(failed)?;
                let stored = seg.members.contains(p);
                if value != stored {
                    out.push(SegmentMismatch { segment: seg.def.name.clone(), profile: ProfileId(p), stored });
                }
            }
            for p in seg.members.iter() {
                if !state.live.contains(p) {
                    out.push(SegmentMismatch { segment: seg.def.name.clone(), profile: ProfileId(p), stored: true });
                }
            }
        }
        // Trait-value bitmaps and the live set, against a scan of the profiles.
        for m in self.check_trait_indexes()? {
            let segment = match &m.value {
                _ if m.name == super::LIVE_SET => m.name.clone(),
                Some(v) => format!("index traits.{} = {v:?}", m.name),
                None => format!("index traits.{} (values past the cap)", m.name),
            };
            out.push(SegmentMismatch { segment, profile: m.profile, stored: m.stored });
        }
        Ok(out)
    }
}

/// Stages the deletion of every wake-up of segment `id` (both the due-time
/// entries and the per-profile index), for a drop or a redefinition.
fn stage_wakeup_removal(txn: &mut Txn<'_>, id: u32) -> Result<()> {
    let mut index = vec![0x02];
    index.extend_from_slice(&id.to_be_bytes());
    let mut pending = Vec::new();
    for kv in txn.view.prefix(schema::WAKEUP_INDEX.name, &index)? {
        let (k, v) = kv?;
        let due = schema::WAKEUP_INDEX.decode(&k, &v)? as i64;
        let p = crate::segment::wakeups::indexed_profile(&k)?;
        pending.push((due, p, k));
    }
    for (due, p, k) in pending {
        txn.batch.delete(schema::WAKEUP_INDEX.name, keys::segment::wakeup(due, id, p));
        txn.batch.delete(schema::WAKEUP_INDEX.name, &k);
    }
    Ok(())
}

/// Why an expression reading `deps` cannot be answered under `config`, if
/// it cannot: it reads events while the database keeps no timelines
/// (`timeline_retention(0)`). Windows and sequences are answered from the
/// timeline (whole days from rollup buckets, the partial days at a
/// window's edges from the stored events), so without it every event
/// condition would silently read as "no events".
pub(crate) fn events_without_timelines(config: &super::config::Config, deps: &Dependencies) -> Option<String> {
    if config.timeline_retention_ms > 0 || deps.events.is_empty() {
        return None;
    }
    let events: Vec<&str> = deps.events.iter().map(String::as_str).collect();
    Some(format!(
        "reads events ({}), but this database keeps no timelines (timeline_retention is 0) and event conditions \
         are answered from stored events",
        events.join(", ")
    ))
}
