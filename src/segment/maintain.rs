//! Keeping segment membership exact: re-evaluation of one profile inside
//! a write operation, and the wake-ups that make time-relative conditions
//! flip on time.

use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::context::ProfileCtx;
use crate::segment::evaluate;
use crate::txn::Txn;

/// Re-evaluates every segment for a live profile, staging membership
/// changes, feed records and wake-ups. Segments are visited in dependency
/// order, so a segment reading another sees its new membership.
pub(crate) fn reevaluate(txn: &mut Txn<'_>, p: ProfileId) -> Result<()> {
    reevaluate_only(txn, p, None)
}

/// As [`reevaluate`], restricted to the segments with these ids (and the
/// segments that read them), e.g. for a due wake-up.
pub(crate) fn reevaluate_only(txn: &mut Txn<'_>, p: ProfileId, only: Option<&[u32]>) -> Result<()> {
    let plan: Vec<(u32, String, crate::segment::Expr, bool, Vec<String>)> = {
        let state = txn.core.segments.read();
        state
            .segments
            .iter()
            .map(|s| {
                (
                    s.def.id,
                    s.def.name.clone(),
                    s.def.expr.clone(),
                    s.deps.time_dependent,
                    s.deps.segments.iter().cloned().collect(),
                )
            })
            .collect()
    };
    if plan.is_empty() {
        return Ok(());
    }
    let now = txn.now;
    let mut changed: Vec<String> = Vec::new();
    for (id, name, expr, timed, reads) in plan {
        let selected = only.is_none_or(|ids| ids.contains(&id)) || reads.iter().any(|r| changed.contains(r));
        if !selected {
            continue;
        }
        let ctx = ProfileCtx::new(&*txn, p, now)?;
        let eval = evaluate(&expr, &ctx);
        ctx.finish()?;
        if eval.value != txn.is_member(id, p) {
            txn.set_member(id, &name, p, eval.value);
            changed.push(name);
        }
        if timed {
            file_wakeup(txn, id, p, eval.next_change.map(|t| t.0))?;
        }
    }
    Ok(())
}

/// Files (or clears, with `None`) the wake-up of segment `id` for `p`.
pub(crate) fn file_wakeup(txn: &mut Txn<'_>, id: u32, p: ProfileId, due: Option<i64>) -> Result<()> {
    let index = keys::segment::wakeup_index(id, p);
    let old = schema::WAKEUP_INDEX.get(&txn.view, &index)?;
    if old.map(|o| o as i64) == due {
        return Ok(());
    }
    if let Some(o) = old {
        txn.batch.delete(schema::WAKEUP_INDEX.name, keys::segment::wakeup(o as i64, id, p));
    }
    match due {
        Some(t) => {
            txn.batch.put(schema::WAKEUP_INDEX.name, keys::segment::wakeup(t, id, p), vec![crate::codec::tags::MARKER]);
            schema::WAKEUP_INDEX.put(&mut txn.batch, index, &(t as u64));
        }
        None => schema::WAKEUP_INDEX.delete(&mut txn.batch, index),
    }
    Ok(())
}

/// Removes a profile that merged away from every segment (feed records
/// say so) and clears its wake-ups.
pub(crate) fn remove_everywhere(txn: &mut Txn<'_>, p: ProfileId) -> Result<()> {
    let segs: Vec<(u32, String, bool)> = {
        let state = txn.core.segments.read();
        state.segments.iter().map(|s| (s.def.id, s.def.name.clone(), s.deps.time_dependent)).collect()
    };
    for (id, name, timed) in segs {
        if txn.is_member(id, p) {
            txn.set_member(id, &name, p, false);
        }
        if timed {
            file_wakeup(txn, id, p, None)?;
        }
    }
    Ok(())
}
