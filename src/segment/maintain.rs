//! Keeping segment membership exact: re-evaluation of one profile inside
//! a write operation, and the wake-ups that make time-relative conditions
//! flip on time.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::context::ProfileCtx;
use crate::segment::state::Compiled;
use crate::segment::{evaluate, PropertyFilter};
use crate::txn::Txn;
use smallvec::SmallVec;

/// What one write operation changed about one profile, as segment
/// maintenance needs it. Trait changes are not listed: they are found by
/// comparing the profile's committed and staged traits.
#[derive(Clone, Debug, Default)]
pub(crate) struct ProfileChanges {
    /// Anything may have changed (a merge into it): every segment is
    /// re-evaluated.
    pub all: bool,
    /// Its identifiers changed (linked, moved or removed).
    pub identifiers: bool,
    /// Names of the events recorded for it (rollups and timeline): inline,
    /// no allocation for a name or two.
    pub events: smallvec::SmallVec<[compact_str::CompactString; 2]>,
}

/// Re-evaluates, for a live profile written by this operation, the
/// segments that read something the operation changed: a trait whose
/// value differs from the committed one, an event recorded that one of
/// its selectors selects (see [`EventReads`](crate::segment::event_reads::EventReads)),
/// its identifiers, a segment whose membership changes in this pass, or a
/// consent record that differs; every segment for a new profile or a merge survivor. Segments
/// are visited in dependency order, so a segment reading another sees its
/// new membership. A skipped segment's value and filed wake-up stay valid:
/// nothing it reads changed.
pub(crate) fn reevaluate_changed(txn: &mut Txn<'_>, p: ProfileId) -> Result<()> {
    let before = crate::txn::load_profile(txn.core, &txn.view, p)?;
    let after = txn.profile(p)?;
    let (Some(before), Some(after)) = (before, after) else { return run(txn, p, &|_, _| true) };
    let changes = txn.changes_of(p).cloned().unwrap_or_default();
    if changes.all {
        return run(txn, p, &|_, _| true);
    }
    let (old, new) = (&before.profile, &after.profile);
    let same_state = Arc::ptr_eq(old, new);
    run(txn, p, &|txn: &Txn<'_>, s: &Compiled| {
        let deps = &s.deps;
        (!same_state
            && (deps.traits.iter().any(|t| old.traits.get(t) != new.traits.get(t))
                || deps.consents.iter().any(|c| old.consent.get(c) != new.consent.get(c))))
            || changes.events.iter().any(|e| s.event_reads.changed_by(e, |filter| recorded_passing(txn, p, e, filter)))
            || (changes.identifiers && !deps.identifier_kinds.is_empty())
    })
}

/// Whether this operation may have recorded for `p` an event named
/// `event` that passes `filter`: unless a rollup series holds exactly
/// those events and the operation staged nothing in it for `p` (every
/// recorded event is staged in each series that holds it).
fn recorded_passing(txn: &Txn<'_>, p: ProfileId, event: &str, filter: &[PropertyFilter]) -> bool {
    let series = crate::segment::context::filtered_series(&txn.core.rollups.read(), event, None, filter);
    series.is_none_or(|s| txn.staged_in_series(p, s))
}

/// Re-evaluates the segments with these ids (every segment with `None`),
/// and the segments that read them, for a live profile — e.g. for a due
/// wake-up or a backfill.
pub(crate) fn reevaluate_only(txn: &mut Txn<'_>, p: ProfileId, only: Option<&[u32]>) -> Result<()> {
    let now = txn.now;
    reevaluate_at(txn, p, only, now)
}

/// As [`reevaluate_only`], evaluated at the instant `at` (at or before the
/// operation's time): the membership changes are recorded at `at` (history
/// rows and feed records), and the segments that read them are evaluated
/// at `at` too. For a due wake-up, evaluated at its due instant.
pub(crate) fn reevaluate_at(txn: &mut Txn<'_>, p: ProfileId, only: Option<&[u32]>, at: Timestamp) -> Result<()> {
    run_filtered(txn, p, at, &|_, s: &Compiled| only.is_none_or(|ids| ids.contains(&s.def.id)))
}

fn run(txn: &mut Txn<'_>, p: ProfileId, select: &dyn Fn(&Txn<'_>, &Compiled) -> bool) -> Result<()> {
    let now = txn.now;
    run_filtered(txn, p, now, select)
}

/// What evaluating one segment asks to stage.
struct Outcome<'s> {
    id: u32,
    name: &'s str,
    /// The new membership, when it changed.
    flip: Option<bool>,
    /// The wake-up to file (`Some(None)`: clear it), for time-dependent segments.
    wake: Option<Option<i64>>,
}

/// Evaluates, in dependency order, every segment `select` picks or that
/// reads a segment whose membership this pass changed, at the instant
/// `at`; then stages the membership changes (at `at`), their feed records
/// and the wake-ups.
fn run_filtered(
    txn: &mut Txn<'_>,
    p: ProfileId,
    at: Timestamp,
    select: &dyn Fn(&Txn<'_>, &Compiled) -> bool,
) -> Result<()> {
    let core = txn.core;
    // Recursive: evaluation reads membership through the same lock. Only
    // the writer (this thread) ever takes it for writing.
    let guard = core.segments.read_recursive();
    // During a backfill: the segments being built (see `SegmentState`).
    let state = guard.for_writer();
    if state.segments.is_empty() {
        return Ok(());
    }
    // On the stack: a pass runs per profile a write touched (two heap
    // allocations per event otherwise).
    let mut outcomes: SmallVec<[Outcome<'_>; 8]> = SmallVec::new();
    {
        let ctx = ProfileCtx::new(&*txn, p, at)?;
        let mut changed: SmallVec<[&str; 8]> = SmallVec::new();
        for s in &state.segments {
            let picked = select(txn, s) || s.deps.segments.iter().any(|r| changed.contains(&r.as_str()));
            if !picked {
                continue;
            }
            let eval = evaluate(&s.def.expr, &ctx);
            if let Some(e) = ctx.take_error() {
                return Err(evaluation_failed(&s.def.name, p, e));
            }
            // Its membership before this pass (no earlier segment of the
            // pass set it): staged in the operation, else committed — read
            // from the segment at hand, not looked up by name.
            let flip = (eval.value != txn.is_member_of(s, p)).then_some(eval.value);
            if let Some(member) = flip {
                ctx.set_member(&s.def.name, member);
                changed.push(&s.def.name);
            }
            let wake = s.deps.time_dependent.then(|| eval.next_change.map(|t| t.0));
            if flip.is_some() || wake.is_some() {
                outcomes.push(Outcome { id: s.def.id, name: &s.def.name, flip, wake });
            }
        }
        ctx.finish()?;
    }
    for o in outcomes {
        if let Some(member) = o.flip {
            txn.set_member_at(o.id, o.name, p, member, at);
        }
        if let Some(due) = o.wake {
            advance_wakeup(txn, o.id, p, due)?;
        }
    }
    Ok(())
}

/// `e`, met while evaluating `segment` for `p`, naming both.
pub(crate) fn evaluation_failed(segment: &str, p: ProfileId, e: crate::Error) -> crate::Error {
    crate::Error::SegmentEvaluation { segment: segment.to_owned(), profile: p.0, source: Box::new(e) }
}

/// Files the wake-up an evaluation of segment `id` for `p` computed
/// (`None`: its result cannot change with time alone), unless a pending
/// wake-up (due after now) is at or before it. Waking early is harmless —
/// the evaluation then finds nothing changed and files the next instant —
/// while moving a pending wake-up later on every event that pushes it
/// back (each purchase of `count(purchase, 30d) >= 3`) cost three writes.
/// So a stored wake-up is at or before the next instant the result could
/// change, never after it. A due one (at or before now) is replaced: the
/// operation processed it before it staged anything about `p` (see
/// [`Txn::settle`]).
pub(crate) fn advance_wakeup(txn: &mut Txn<'_>, id: u32, p: ProfileId, due: Option<i64>) -> Result<()> {
    let old = txn.wakeup_of(id, p)?;
    if old.is_some_and(|o| o > txn.now.0 && due.is_none_or(|t| o <= t)) {
        return Ok(());
    }
    replace_wakeup(txn, id, p, old, due);
    Ok(())
}

/// Files (or clears, with `None`) the wake-up of segment `id` for `p`.
pub(crate) fn file_wakeup(txn: &mut Txn<'_>, id: u32, p: ProfileId, due: Option<i64>) -> Result<()> {
    let old = txn.wakeup_of(id, p)?;
    replace_wakeup(txn, id, p, old, due);
    Ok(())
}

/// Stages `due` (`None`: none) in place of the wake-up `old` of segment
/// `id` for `p`.
fn replace_wakeup(txn: &mut Txn<'_>, id: u32, p: ProfileId, old: Option<i64>, due: Option<i64>) {
    let index = keys::segment::wakeup_index(id, p);
    if old == due {
        return;
    }
    if let Some(o) = old {
        txn.batch.delete(schema::WAKEUP_INDEX.name, keys::segment::wakeup(o, id, p));
    }
    txn.stage_wakeup(id, p, due);
    match due {
        Some(t) => {
            txn.batch.put(schema::WAKEUP_INDEX.name, keys::segment::wakeup(t, id, p), vec![crate::codec::tags::MARKER]);
            schema::WAKEUP_INDEX.put(&mut txn.batch, index, &(t as u64));
        }
        None => schema::WAKEUP_INDEX.delete(&mut txn.batch, index),
    }
}

/// Removes a profile that merged away from every segment (feed records
/// say so) and clears its wake-ups.
pub(crate) fn remove_everywhere(txn: &mut Txn<'_>, p: ProfileId) -> Result<()> {
    leave_everywhere(txn, p, true)
}

/// Removes an erased profile from every segment and clears its wake-ups,
/// recording nothing: no `Exited` feed record and no membership-history
/// row (erase deletes both; its one `Erased` feed record tells consumers
/// the profile left every segment it was in).
pub(crate) fn remove_everywhere_unrecorded(txn: &mut Txn<'_>, p: ProfileId) -> Result<()> {
    leave_everywhere(txn, p, false)
}

fn leave_everywhere(txn: &mut Txn<'_>, p: ProfileId, record: bool) -> Result<()> {
    let segs: Vec<(u32, String, bool)> = {
        // During a backfill: the segments being built, the new one included.
        let guard = txn.core.segments.read();
        let state = guard.for_writer();
        state.segments.iter().map(|s| (s.def.id, s.def.name.clone(), s.deps.time_dependent)).collect()
    };
    for (id, name, timed) in segs {
        if txn.is_member(id, p) {
            if record {
                txn.set_member(id, &name, p, false);
            } else {
                txn.unset_member_unrecorded(id, p);
            }
        }
        if timed {
            file_wakeup(txn, id, p, None)?;
        }
    }
    Ok(())
}
