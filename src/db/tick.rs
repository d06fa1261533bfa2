//! [`ProfileDb::tick`]: due wake-ups applied at their due instants.
//!
//! A wake-up is due at the instant a time-relative condition may change
//! (`last(purchase) < now - 30d` one millisecond past the 30 days). The
//! tick may run later than that (a coarse tick interval, downtime), so each
//! due wake-up is evaluated at its own due instant, not at the tick's
//! time: a flip is recorded (membership history and feed record `at`) when
//! it happened, the segments that read the flipped one are evaluated at
//! the same instant, and a next wake-up that is also past is followed in
//! order, up to [`MAX_STEPS`] per wake-up, before the last evaluation at
//! the tick's time.
//!
//! A write that reaches a profile with due wake-ups processes them first,
//! with [`apply`], over the profile as it was (see [`Txn::settle`]): a
//! tick finds none left of a profile written after their due instants.
//! What is left to a tick may still meet later state: an operation that
//! does not maintain segments first (an erasure re-evaluating the records
//! it scrubbed), a clock stepped back. Evaluating such a wake-up at its
//! due instant would read state written later and could record a change
//! before one already recorded; so the instant is never earlier than the
//! profile's latest delta, nor than the latest recorded membership change
//! of the segment or of a segment reading it.
//!
//! Nor is it earlier than retention lets the segment be answered: a
//! wake-up left due across a retention pass (run by `enforce_retention`
//! between ticks) is evaluated once its windows start at or after the
//! timeline floor and it is on or after the bucket floor. A tick itself
//! processes its due wake-ups before its retention step.
//!
//! One profile cannot hold the others up: a wake-up whose evaluation fails
//! voids only the batch it was in, which is redone without it; it stays
//! due (the next tick retries it) and is reported with its profile.

use foldhash::{HashMap, HashSet};

use crate::clock::Timestamp;
use crate::core::WriterState;
use crate::error::{Error, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::maintain::{file_wakeup, reevaluate_at};
use crate::storage::View;
use crate::txn::Txn;

use super::segments::TickReport;
use super::{ProfileDb, ProfileFailure};

/// How many past instants one wake-up follows, in order, before its
/// segment is evaluated at the tick's time.
pub(crate) const MAX_STEPS: usize = 64;

/// Due wake-ups read per batch.
const BATCH: usize = 1_000;

impl ProfileDb {
    /// Processes every wake-up due at the clock's now, in due order: each
    /// re-evaluates one time-dependent segment for one profile, so
    /// memberships that depend on time change on time without scanning
    /// every profile. Each tick then does a bounded step of retention
    /// (see [`enforce_retention`](Self::enforce_retention)).
    ///
    /// A wake-up is evaluated at its due instant, not at the tick's time:
    /// a tick that runs late (a coarse tick interval, downtime) records the
    /// membership change — history ([`was_member`](Self::was_member)) and
    /// the feed record's `at` — when it happened, and the segments reading
    /// that segment change at the same instant. Feed records keep
    /// increasing sequence numbers, so such a record's `at` can be earlier
    /// than its commit time and than earlier records' `at`. The instant is
    /// never earlier than the profile's latest delta (a write processes its
    /// profile's due wake-ups before it changes the profile: see the module
    /// docs), nor than retention lets the segment be answered at.
    ///
    /// A wake-up whose evaluation fails (the error names the segment and
    /// the profile) stays due and is reported in
    /// [`TickReport::failures`]; the other wake-ups are processed, and so
    /// is the retention step, whose own per-profile failures are reported
    /// there too. An error is returned only when nothing can be written,
    /// or when the clock jumped ahead of the last retention step's by more
    /// than [`max_clock_jump`](crate::Builder::max_clock_jump): the tick
    /// then processes no wake-up and runs no retention, and returns
    /// [`Error::ClockJump`](crate::Error::ClockJump) until the clock comes
    /// back within range or [`accept_clock`](Self::accept_clock) confirms it.
    ///
    /// A purge left pending because a read that began before its erase or
    /// anonymize was still open ([`Error::ReadStillOpen`](crate::Error::ReadStillOpen))
    /// is retried at the end of the tick, without waiting: if such a read
    /// is still open it stays pending ([`purge_pending`](Self::purge_pending));
    /// if its compaction fails, the tick returns
    /// [`Error::PurgePending`](crate::Error::PurgePending).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let clock = Arc::new(ManualClock::new(Timestamp::parse("2025-06-01T12:00:00Z")?));
    /// let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open()?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.track(&Event::new(EventKind::Track, "login", db.now(), vec![ann.clone()]))?;
    /// db.define_segment("active", "count(login, 3d) >= 1")?;
    /// let p = db.resolve(&ann)?.expect("ann has a profile");
    /// assert!(db.in_segment("active", p)?);
    /// clock.advance(4 * Timestamp::DAY);
    /// assert!(db.in_segment("active", p)?); // stored memberships move only on a tick (or a write)
    /// assert!(db.tick()?.processed >= 1);
    /// assert!(!db.in_segment("active", p)?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn tick(&self) -> Result<TickReport> {
        self.writable("tick")?;
        let mut report = TickReport::default();
        // A clock far ahead of the last retention step's: nothing that
        // follows time (memberships recorded at a wrong instant, data
        // deleted by retention) until it comes back or is accepted.
        if let Err(e) = self.check_clock_jump(self.core.clock.now().0) {
            self.retry_held_purge()?;
            return Err(e);
        }
        // Wake-ups first: each is evaluated at its due instant over what
        // was stored then, before this tick's retention step deletes it.
        self.process_wakeups(&mut report)?;
        let pass = match self.retention_step(super::retention::TICK_BUDGET) {
            Err(e @ Error::ClockJump { .. }) => {
                // Retention is held; the rest of the tick goes on.
                self.retry_held_purge()?;
                return Err(e);
            }
            r => r?,
        };
        report.timelines_trimmed += pass.timelines_trimmed;
        report.buckets_folded += pass.buckets_folded;
        report.feed_records_deleted += pass.feed_records_deleted;
        report.membership_rows_deleted += pass.membership_rows_deleted;
        report.failures.extend(pass.failures);
        // A purge a read held up (the read has likely ended since).
        self.retry_held_purge()?;
        Ok(report)
    }

    /// The wake-ups due now that no tick has processed yet (counted up to
    /// `cap`), and the instant the oldest fell due; `None` when none is.
    ///
    /// While any is, the stored memberships of time-dependent segments
    /// (and of the segments reading them) — what [`segment_count`],
    /// [`segment_members`] and [`in_segment`] answer — can still show a
    /// profile that left, or miss one that entered, at an instant now
    /// past; [`query`] evaluates at now and is not behind. A write
    /// processes its own profile's due wake-ups; [`tick`](Self::tick)
    /// processes them all.
    ///
    /// [`segment_count`]: Self::segment_count
    /// [`segment_members`]: Self::segment_members
    /// [`in_segment`]: Self::in_segment
    /// [`query`]: Self::query
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// assert_eq!(db.due_wakeups(1_000)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn due_wakeups(&self, cap: u64) -> Result<Option<DueWakeups>> {
        let view = self.core.store.snapshot();
        let mut due: Option<DueWakeups> = None;
        for w in due_at(&view, self.now().0)? {
            let (at, _, _) = w?;
            let d = due.get_or_insert(DueWakeups { count: 0, oldest: Timestamp(at) });
            d.count += 1;
            if d.count >= cap {
                break;
            }
        }
        Ok(due)
    }

    /// Every wake-up due now, in batches; a failed one is reported, left
    /// due and skipped for the rest of this tick. The writer lock is taken
    /// per batch.
    fn process_wakeups(&self, report: &mut TickReport) -> Result<()> {
        let mut failed: HashSet<Wakeup> = HashSet::default();
        let mut limit = BATCH;
        while self.wakeup_batch(&mut self.core.writer.lock(), &mut failed, &mut limit, report)? {}
        Ok(())
    }

    /// As [`process_wakeups`](Self::process_wakeups), under the writer
    /// lock the caller holds: before a segment's backfill, which reads the
    /// memberships of the segments it reads as they are at now.
    pub(crate) fn process_wakeups_locked(&self, writer: &mut WriterState, report: &mut TickReport) -> Result<()> {
        let mut failed: HashSet<Wakeup> = HashSet::default();
        let mut limit = BATCH;
        while self.wakeup_batch(writer, &mut failed, &mut limit, report)? {}
        Ok(())
    }

    /// Applies and commits one batch of at most `limit` due wake-ups not
    /// in `failed`; false when none was left. A failed one is reported and
    /// added to `failed`, and the batch redone without it.
    fn wakeup_batch(
        &self,
        writer: &mut WriterState,
        failed: &mut HashSet<Wakeup>,
        limit: &mut usize,
        report: &mut TickReport,
    ) -> Result<bool> {
        let mut txn = Txn::new(&self.core, writer);
        txn.skip_segments = true;
        let due = due_wakeups(&txn, failed, *limit)?;
        if due.is_empty() {
            return Ok(false);
        }
        match apply(&mut txn, &due) {
            Ok(()) => {
                txn.commit()?;
                report.processed += due.len() as u64;
                *limit = BATCH;
            }
            Err((i, e)) => {
                // Nothing of the batch is written: the wake-ups before
                // the failed one are redone alone, then the rest.
                report.failures.push(ProfileFailure::new(due[i].2, "wake-up", &e));
                failed.insert(due[i]);
                *limit = if i > 0 { i } else { BATCH };
            }
        }
        Ok(true)
    }
}

/// Wake-ups due and not yet processed ([`ProfileDb::due_wakeups`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DueWakeups {
    /// How many (up to the cap asked for).
    pub count: u64,
    /// When the oldest fell due.
    pub oldest: Timestamp,
}

/// A due wake-up: (due instant, segment, profile).
pub(crate) type Wakeup = (i64, u32, ProfileId);

/// Applies the due wake-ups in order, staged in `txn`; the position and
/// error of the first that fails. A tick applies every due wake-up; a
/// write, those of a profile it is about to write (see
/// [`Txn::settle`]).
pub(crate) fn apply(txn: &mut Txn<'_>, due: &[Wakeup]) -> std::result::Result<(), (usize, Error)> {
    // The latest instant each (segment, profile) was evaluated at in this batch.
    let mut latest: HashMap<(u32, ProfileId), i64> = HashMap::default();
    for (i, w) in due.iter().enumerate() {
        apply_one(txn, *w, &mut latest).map_err(|e| (i, e))?;
    }
    Ok(())
}

fn apply_one(txn: &mut Txn<'_>, (at, seg, p): Wakeup, latest: &mut HashMap<(u32, ProfileId), i64>) -> Result<()> {
    // This wake-up is consumed whatever the evaluation files next.
    txn.batch.delete(schema::WAKEUP_INDEX.name, keys::segment::wakeup(at, seg, p));
    let timed = {
        // The writer's segments (during a backfill, those being built).
        let guard = txn.core.segments.read();
        let state = guard.for_writer();
        state.by_id.get(&seg).and_then(|i| state.segments.get(*i)).is_some_and(|s| s.deps.time_dependent)
    };
    match txn.profile(p)? {
        Some(rec) if timed => {
            let ids = with_readers(txn, seg);
            let mut from = at.max(rec.profile.updated_at.0).max(earliest_answerable(txn, &ids));
            for id in &ids {
                let staged = latest.get(&(*id, p)).copied().unwrap_or(i64::MIN);
                from = from.max(staged).max(last_recorded(txn, *id, p)?);
            }
            let last = follow(txn, seg, p, from)?;
            for id in ids {
                latest.insert((id, p), last);
            }
        }
        _ => file_wakeup(txn, seg, p, None)?,
    }
    Ok(())
}

/// Up to `limit` wake-ups due at the operation's time, in due order,
/// without those in `skip`.
fn due_wakeups(txn: &Txn<'_>, skip: &HashSet<Wakeup>, limit: usize) -> Result<Vec<Wakeup>> {
    let mut due = Vec::new();
    for w in due_at(&txn.view, txn.now.0)? {
        let w = w?;
        if !skip.contains(&w) {
            due.push(w);
        }
        if due.len() >= limit {
            break;
        }
    }
    Ok(due)
}

/// The wake-ups stored in `view` that are due at `now`, in due order.
pub(super) fn due_at<'v>(view: &'v View<'_>, now: i64) -> Result<impl Iterator<Item = Result<Wakeup>> + 'v> {
    let end = keys::segment::wakeup(now, u32::MAX, ProfileId(u32::MAX));
    let keys = view.range(schema::WAKEUP_INDEX.name, &[0x01], Some(&end))?;
    Ok(keys.filter_map(|kv| kv.map(|(k, _)| keys::segment::parse_wakeup(&k)).transpose()))
}

/// The earliest instant at which the segments `ids` read nothing that
/// retention removed: their longest window must start at or after the
/// timeline floor (events before it may be deleted), and the instant must
/// be on or after the bucket floor (the buckets before it are folded, so
/// the events following an earlier instant could not be told apart). A
/// wake-up left due across a retention pass is evaluated there, not at
/// its due instant.
fn earliest_answerable(txn: &Txn<'_>, ids: &[u32]) -> i64 {
    let floors = &txn.core.retention;
    let bucket_start = floors.bucket_day().saturating_mul(Timestamp::DAY);
    let floor = floors.timeline_ms().max(bucket_start);
    if floor == i64::MIN {
        return i64::MIN;
    }
    let guard = txn.core.segments.read();
    let state = guard.for_writer();
    let reach = ids
        .iter()
        .filter_map(|id| state.by_id.get(id).and_then(|i| state.segments.get(*i)))
        .map(|s| super::window_limits::reach_ms(&s.def.expr))
        .max()
        .unwrap_or(0);
    floor.saturating_add(reach)
}

/// Evaluates segment `seg` for `p` at `from`, then at each next wake-up
/// that is also past, in order (at most [`MAX_STEPS`]; then at the
/// operation's time). The last evaluation files the next wake-up as usual.
/// Returns the last instant evaluated at.
fn follow(txn: &mut Txn<'_>, seg: u32, p: ProfileId, from: i64) -> Result<i64> {
    let now = txn.now.0;
    let mut at = from.min(now);
    for _ in 0..MAX_STEPS {
        reevaluate_at(txn, p, Some(&[seg]), Timestamp(at))?;
        match txn.wakeup_of(seg, p)? {
            Some(next) if next <= now && next > at => at = next,
            // Never left due: a wake-up not after the instant is settled at now.
            Some(next) if next <= now => break,
            _ => return Ok(at),
        }
    }
    if at < now {
        reevaluate_at(txn, p, Some(&[seg]), Timestamp(now))?;
    }
    Ok(now)
}

/// Segment `seg` and every segment reading it, directly or through others.
fn with_readers(txn: &Txn<'_>, seg: u32) -> Vec<u32> {
    let guard = txn.core.segments.read();
    let state = guard.for_writer();
    let mut names: Vec<&str> = Vec::new();
    let mut ids = Vec::new();
    // Dependency order: a reader comes after every segment it reads.
    for s in &state.segments {
        if s.def.id == seg || s.deps.segments.iter().any(|r| names.contains(&r.as_str())) {
            names.push(&s.def.name);
            ids.push(s.def.id);
        }
    }
    ids
}

/// The instant of the latest recorded membership change of `p` in segment
/// `id` (`i64::MIN`: none).
fn last_recorded(txn: &Txn<'_>, id: u32, p: ProfileId) -> Result<i64> {
    let floor = keys::segment::membership(id, p, i64::MIN);
    let top = keys::segment::membership(id, p, i64::MAX);
    let row = txn.view.last_at_or_before(schema::MEMBERSHIP.name, &floor, &top)?;
    let at = row.and_then(|(k, _)| k.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()));
    Ok(at.map_or(i64::MIN, keys::i64_from_ordered_bytes))
}
