//! Declaring a rollup: its series, and the backfill that folds the stored
//! timelines into it — in batches of profiles, each under the writer lock
//! once, so writes go on between them.
//!
//! From the declaration's first commit on, every event of the series'
//! name reaches the series as it is written (the write path does not know
//! a backfill runs). A profile the backfill has not reached yet may hold
//! such contributions beside events stored before: the backfill deletes
//! the profile's buckets of the series and folds its whole timeline,
//! which holds both. A profile it has passed, or one created after it
//! began, is complete and stays so. Only a merge can join the two: a
//! merged-away profile not reached yet brings the fold of its timeline
//! instead of its buckets ([`pending_loser`]). Until the backfill ends
//! the series is hidden from every lookup (segments, queries, reads:
//! [`Registry::find_series`]) and the rollup is not declared; timeline
//! retention waits (a trimmed event would be lost to the fold).
//!
//! A crash between batches leaves meta `rollup_backfill` naming the
//! series: the next writable open backfills it again from the start (a
//! profile's fold replaces what its buckets held, so a batch done twice
//! changes nothing).
//!
//! A rewrite of a timeline's values would reach a profile not reached yet
//! (its fold would lose them): `anonymize` holds the definitions lock and
//! finishes a backfill first, as a declaration does.
//!
//! [`Registry::find_series`]: crate::rollup::registry::Registry::find_series

use std::collections::BTreeMap;

use crate::codec::ValueCodec;
use crate::error::{Error, NotFoundKind, Result};
use crate::event::Event;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::def::SeriesDef;
use crate::rollup::registry::{Building, RollupRecord};
use crate::rollup::{Acc, RollupDef};
use crate::schema;
use crate::txn::Txn;

use super::ProfileDb;

/// Profiles a rollup backfill folds per commit (and per hold of the
/// writer lock). Smaller under `cfg(test)`, so the unit tests' small
/// databases span several batches.
#[cfg(not(test))]
const BATCH: usize = 2_000;
/// See the non-test value.
#[cfg(test)]
const BATCH: usize = 16;
/// Stored events a batch folds at most (it ends after the profile that
/// reaches this): a write waits for one batch, about 40 ms at the ~4 µs
/// an event costs (BENCHMARKS.md, twenty-sixth session).
#[cfg(not(test))]
const BATCH_EVENTS: usize = 10_000;
/// See the non-test value: the unit tests' batches are cut by profiles.
#[cfg(test)]
const BATCH_EVENTS: usize = usize::MAX;

impl ProfileDb {
    /// Declares a rollup and backfills it from the stored timelines.
    /// Declaring the same definition again is a no-op; a different
    /// definition under an existing name is an error.
    ///
    /// **Cost and blocking.** A rollup over a new series (an event name,
    /// filter and property no declared rollup uses yet) folds every stored
    /// event of the series' name, profile by profile, in batches of up to
    /// 2,000 profiles or 10,000 stored events; the writer lock is taken
    /// once per batch, so writes go on between batches (a write waits for
    /// one batch at most: about 40–200 ms; events written meanwhile reach
    /// the rollup too).
    /// The rollup is declared, and readable, when the backfill ends; until
    /// then [`rollup`](Self::rollup) says it does not exist, and other
    /// definitions (rollups, segments) wait. Timeline retention waits too.
    /// A crash during the backfill leaves the rollup undeclared; the next
    /// writable open finishes it before returning.
    ///
    /// ```
    /// use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
    /// use profiledb::event::{Event, EventKind};
    /// let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// let ann: profiledb::Identifier = "user_id:ann".parse()?;
    /// db.track(&Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]).with_property("amount", 30))?;
    /// // Declared after the event: the backfill folds it in.
    /// db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())))?;
    /// let p = db.resolve(&ann)?.expect("linked");
    /// assert_eq!(db.rollup(p, "spend", Window::All)?, RollupValue::Number(Some(30.0)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn declare_rollup(&self, def: RollupDef) -> Result<()> {
        self.declare_rollup_with_progress(def, &mut |_, _| {})
    }

    /// As [`declare_rollup`](Self::declare_rollup), calling
    /// `progress(done, total)` (profiles) after each batch of the
    /// backfill, without the writer lock (the callback may write).
    /// Another definition, `drop_segment`, `check`, `check_segments` or
    /// `anonymize` called from the callback is refused ([`Error::InvalidInput`](crate::Error::InvalidInput)):
    /// they wait for this definition to end, which waits for the callback.
    pub fn declare_rollup_with_progress(&self, def: RollupDef, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        self.writable("declare_rollup")?;
        def.validate()?;
        let _definitions = self.core.definitions.hold("declare_rollup")?;
        // One an error or a panic stopped on this handle ends first.
        self.finish_pending_rollup()?;
        let mut writer = self.core.writer.lock();
        if let Some(existing) = self.core.rollups.read().rollups.get(&def.name) {
            if existing.def == def {
                return Ok(());
            }
            return Err(Error::invalid(format!("rollup {:?} already exists with another definition", def.name)));
        }
        let series = def.series();
        // Profiles created from here on get every event of theirs.
        let first_new = writer.next_profile_id;
        let mut txn = Txn::new(&self.core, &mut writer);
        txn.skip_segments = true;
        let existing = self.core.rollups.read().find_series(&series);
        if let Some(id) = existing {
            // Its series exists, complete: declared at once.
            let rec = RollupRecord { def, series: id };
            schema::ROLLUP_DEFS.put(&mut txn.batch, keys::rollup_def::rollup(&rec.def.name), &rec);
            txn.commit()?;
            self.core.rollups.write().rollups.insert(rec.def.name.clone(), rec);
            return Ok(());
        }
        let id = txn.add_series(series.clone());
        let record = RollupRecord { def, series: id };
        schema::SERIES.put(&mut txn.batch, keys::rollup_def::series(id), &series);
        schema::ROLLUP_DEFS.put(&mut txn.batch, keys::rollup_def::rollup(&record.def.name), &record);
        if self.core.config.timeline_retention_ms == 0 {
            // No timelines: writes from here on keep no event a later batch
            // could fold, so the events stored earlier (timelines were on
            // then) are folded in this one commit, and it is declared.
            fold_stored(&mut txn, id, &series)?;
            txn.commit()?;
            self.core.rollups.write().rollups.insert(record.def.name.clone(), record);
            return Ok(());
        }
        schema::META_U32.put(&mut txn.batch, keys::meta::ROLLUP_BACKFILL, &id);
        // Hidden before the commit registers the series: no lookup finds it
        // before its backfill ends.
        self.core.rollups.write().building = Some(Building { record, watermark: 0, first_new });
        if let Err(e) = txn.commit() {
            self.core.rollups.write().building = None;
            return Err(e);
        }
        drop(writer);
        self.backfill_rollup(progress)
    }

    /// Finishes a rollup backfill a crash cut short (run at a writable
    /// open, before anything else writes).
    pub(crate) fn resume_rollup_backfill(&self) -> Result<()> {
        let _definitions = self.core.definitions.hold("resume_rollup_backfill")?;
        self.finish_pending_rollup()
    }

    /// Runs again, from the start, the backfill of a rollup that stopped
    /// early: a crash (at open), an error or a panic out of a progress
    /// callback on this handle (before the next declaration or
    /// anonymize). Every
    /// profile may lack events stored before; its timeline has them (the
    /// backfill began with timelines on, and retention waited). Called
    /// with the definitions lock held.
    pub(super) fn finish_pending_rollup(&self) -> Result<()> {
        {
            let writer = self.core.writer.lock();
            let mut reg = self.core.rollups.write();
            let Some(b) = reg.building.as_mut() else { return Ok(()) };
            (b.watermark, b.first_new) = (0, writer.next_profile_id);
        }
        self.backfill_rollup(&mut |_, _| {})
    }

    /// Folds the timelines of the profiles the running backfill has not
    /// reached into its series, a batch per commit, then declares the
    /// rollup. Called with the definitions lock held.
    fn backfill_rollup(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
        let Some(Building { record, first_new, .. }) = self.core.rollups.read().building.clone() else {
            return Ok(());
        };
        let series = self.core.rollups.read().series.get(record.series as usize).cloned();
        let series =
            series.ok_or_else(|| Error::not_found(NotFoundKind::Rollup, format!("rollup series {}", record.series)))?;
        let profiles: Vec<u32> = self.core.segments.read().live.range(..first_new).collect();
        let (mut done, total) = (0, profiles.len());
        while done < total {
            let mut writer = self.core.writer.lock();
            let mut txn = Txn::new(&self.core, &mut writer);
            txn.skip_segments = true;
            let (start, mut folded) = (done, 0);
            while done < total && done - start < BATCH && folded < BATCH_EVENTS {
                let p = profiles[done];
                done += 1;
                // Merged away or erased since: nothing of it is left.
                if self.core.segments.read().live.contains(p) {
                    folded += refold(&mut txn, ProfileId(p), record.series, &series)?;
                }
            }
            txn.commit()?;
            if let Some(b) = self.core.rollups.write().building.as_mut() {
                b.watermark = profiles[done - 1].saturating_add(1);
            }
            drop(writer);
            progress(done as u64, total as u64);
        }
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        txn.skip_segments = true;
        schema::META_U32.delete(&mut txn.batch, keys::meta::ROLLUP_BACKFILL);
        txn.commit()?;
        let mut reg = self.core.rollups.write();
        reg.building = None;
        reg.rollups.insert(record.def.name.clone(), record);
        Ok(())
    }
}

/// Replaces `p`'s buckets of `series` (id `id`) with the fold of its
/// stored timeline: day buckets, no retired accumulator (retention folds
/// the old days again at its next pass). Returns how many events it read.
fn refold(txn: &mut Txn<'_>, p: ProfileId, id: u32, series: &SeriesDef) -> Result<usize> {
    txn.rollups_rewritten(p);
    let (start, end) = (keys::rollup::key(p, id, [0; 8]), keys::rollup::key(p, id, [0xff; 8]));
    let mut stale = Vec::new();
    for kv in txn.view.range(schema::ROLLUPS.name, &start, Some(&end))? {
        stale.push(kv?.0);
    }
    for k in stale {
        txn.batch.delete(schema::ROLLUPS.name, k);
    }
    txn.batch.delete(schema::ROLLUPS.name, end);
    let mut events = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &keys::profile(p))? {
        let (k, v) = kv?;
        events.push(schema::EVENTS.decode(&k, &v)?);
    }
    stage_fold(txn, id, series, events.iter().map(|e| (p, e)));
    Ok(events.len())
}

/// Stages the fold of every stored event of `series` (id `id`) on its
/// profile's day buckets: one scan of the timelines.
fn fold_stored(txn: &mut Txn<'_>, id: u32, series: &SeriesDef) -> Result<()> {
    let mut events = Vec::new();
    for kv in txn.view.range(schema::EVENTS.name, &[], None)? {
        let (k, v) = kv?;
        let Some(p) = keys::parse_profile(&k) else { continue };
        events.push((p, schema::EVENTS.decode(&k, &v)?));
    }
    stage_fold(txn, id, series, events.iter().map(|(p, e)| (*p, e)));
    Ok(())
}

/// Stages the fold of the events of `series` among `events` (each with
/// the profile whose buckets it goes to) on day buckets of series `id`,
/// one merge operand per profile and day.
fn stage_fold<'e>(
    txn: &mut Txn<'_>,
    id: u32,
    series: &SeriesDef,
    events: impl Iterator<Item = (ProfileId, &'e Event)>,
) {
    let mut days: BTreeMap<(ProfileId, i64), Acc> = BTreeMap::new();
    for (p, e) in events.filter(|(_, e)| series.matches(e)) {
        days.entry((p, e.timestamp.day())).or_default().fold(&Acc::of_event(e, series.property.as_deref()));
    }
    for ((p, day), acc) in days {
        txn.batch.merge(schema::ROLLUPS.name, keys::rollup::day(p, id, day), acc.encode_value());
    }
}

/// During a rollup backfill, a merge of `loser` (stored events `events`)
/// into `survivor`: when the backfill has not reached the loser, its
/// buckets of the series may lack its older events, so the fold of its
/// timeline goes to the survivor instead of them. Returns the series
/// whose buckets the merge must not move, if any.
pub(crate) fn pending_loser(txn: &mut Txn<'_>, survivor: ProfileId, loser: ProfileId, events: &[Event]) -> Option<u32> {
    let (id, series) = {
        let reg = txn.core.rollups.read();
        let b = reg.building.as_ref().filter(|b| b.pending(loser))?;
        (b.record.series, reg.series.get(b.record.series as usize)?.clone())
    };
    stage_fold(txn, id, &series, events.iter().map(|e| (survivor, e)));
    Some(id)
}
