//! Queries: a segment expression evaluated with bitmap algebra over
//! segment bitmaps, trait-value bitmaps of indexed traits and the live
//! set, falling back to per-profile evaluation for conditions that have
//! no bitmap.

use roaring::RoaringBitmap;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::profile::id::ProfileId;
use crate::segment::context::{ProfileCtx, Source};
use crate::segment::flat_set::FlatSet;
use crate::segment::index::MAX_INDEXED_VALUES;
use crate::segment::state::SegmentState;
use crate::segment::{evaluate, Expr, TraitCond};

/// Evaluates `expr` to the bitmap of matching live profiles within
/// `candidates`, appending a line per plan step to `plan`.
pub(crate) fn plan(
    expr: &Expr,
    state: &SegmentState,
    src: &dyn Source,
    now: Timestamp,
    candidates: &RoaringBitmap,
    depth: usize,
    out: &mut Vec<String>,
) -> Result<RoaringBitmap> {
    let pad = "  ".repeat(depth);
    Ok(match expr {
        Expr::InSegment(name) => {
            let m = match state.get(name) {
                // Members are live profiles (a profile leaves every segment
                // when it merges away or is erased; `check` verifies it), so
                // within every live profile the bitmap is its own answer.
                Some(s) if std::ptr::eq(candidates, &state.live) => s.members.bits().clone(),
                Some(s) => s.members.bits() & candidates,
                None => RoaringBitmap::new(),
            };
            let size = state.get(name).map_or(0, |s| s.members.len());
            let step =
                (!std::ptr::eq(candidates, &state.live)).then(|| format!("{} of them among the candidates", m.len()));
            out.push(segment_line(&pad, name, size, step));
            m
        }
        Expr::Trait(cond) if state.indexes.by_name.contains_key(&cond.name) => {
            indexed_trait(expr, cond, state, src, now, candidates, &pad, out)?
        }
        Expr::And(items) => {
            out.push(format!("{pad}and: intersect (bitmaps first, scans only over their result)"));
            // Segment bitmaps first, smallest first, then `not in` segments,
            // other bitmaps, and scans last: each step narrows the next.
            let mut order: Vec<&Expr> = items.iter().collect();
            order.sort_by_key(|e| match e {
                Expr::InSegment(name) => (0, state.get(name).map_or(0, |s| s.members.len())),
                Expr::Not(inner) if matches!(**inner, Expr::InSegment(_)) => (1, 0),
                e if is_bitmap(e, state) => (2, 0),
                _ => (3, 0),
            });
            let mut acc: Option<RoaringBitmap> = None;
            for e in order {
                match (acc.as_mut(), e, segment_of(e, state)) {
                    // Later segment steps narrow the result in place.
                    (Some(a), Expr::InSegment(name), found) => {
                        let size = found.map_or(0, |(_, m)| m.len());
                        match found {
                            Some((_, m)) => *a &= m,
                            None => a.clear(),
                        }
                        let step = format!("{} candidates left", a.len());
                        out.push(segment_line(&format!("{pad}  "), name, size, Some(step)));
                    }
                    (Some(a), Expr::Not(_), Some((name, m))) => {
                        let before = a.len();
                        *a -= m;
                        out.push(format!("{pad}  not: candidates minus"));
                        let step = format!("removes {} candidates", before - a.len());
                        out.push(segment_line(&format!("{pad}    "), name, m.len(), Some(step)));
                    }
                    _ => {
                        let within = acc.as_ref().unwrap_or(candidates);
                        acc = Some(plan(e, state, src, now, within, depth + 1, out)?);
                    }
                }
            }
            acc.unwrap_or_else(|| candidates.clone())
        }
        Expr::Or(items) => {
            out.push(format!("{pad}or: union"));
            let mut acc = RoaringBitmap::new();
            for e in items {
                acc |= plan(e, state, src, now, candidates, depth + 1, out)?;
            }
            acc
        }
        Expr::Not(inner) => {
            out.push(format!("{pad}not: candidates minus"));
            if let Some((name, m)) = segment_of(expr, state) {
                let rest = candidates - m;
                let step = format!("removes {} candidates", candidates.len() - rest.len());
                out.push(segment_line(&format!("{pad}  "), name, m.len(), Some(step)));
                return Ok(rest);
            }
            let m = plan(inner, state, src, now, candidates, depth + 1, out)?;
            candidates - m
        }
        leaf => {
            let m = scan(leaf, src, now, candidates)?;
            out.push(format!(
                "{pad}scan `{leaf}`: not indexed, evaluated per profile over {} candidates, {} match",
                candidates.len(),
                m.len()
            ));
            m
        }
    })
}

/// The name and members of the segment `e` reads, when `e` is `in name`
/// or `not in name` and the segment exists.
fn segment_of<'e, 's>(e: &'e Expr, state: &'s SegmentState) -> Option<(&'e str, &'s RoaringBitmap)> {
    let name = match e {
        Expr::InSegment(name) => name,
        Expr::Not(inner) => match &**inner {
            Expr::InSegment(name) => name,
            _ => return None,
        },
        _ => return None,
    };
    state.get(name).map(|s| (name.as_str(), s.members.bits()))
}

/// The plan of a combination of segments evaluated over flat blocks: one
/// line for the whole, then a line per segment read.
pub(crate) fn flat_plan(expr: &Expr, state: &SegmentState, members: u64) -> Vec<String> {
    fn leaves<'e>(e: &'e Expr, out: &mut Vec<&'e str>) {
        match e {
            Expr::InSegment(name) if !out.contains(&name.as_str()) => out.push(name),
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|i| leaves(i, out)),
            Expr::Not(inner) => leaves(inner, out),
            _ => {}
        }
    }
    let mut names = Vec::new();
    leaves(expr, &mut names);
    let mut out = vec![format!(
        "segment algebra chunk by chunk (65,536 ids at a time: flat bitsets where a segment has more than 4,096 \
         members in the chunk, member by member where it has fewer): {members} members"
    )];
    for name in names {
        out.push(segment_line("  ", name, state.get(name).map_or(0, |s| s.members.len()), None));
    }
    out
}

/// The explain line of a segment read: the segment's size, then what this
/// step did with it (`step`) — counts within the step's candidates, not
/// the segment's size.
fn segment_line(pad: &str, name: &str, members: u64, step: Option<String>) -> String {
    match step {
        None => format!("{pad}segment {name}: bitmap, {members} members"),
        Some(step) => format!("{pad}segment {name}: bitmap, {members} members; {step}"),
    }
}

/// The profiles within `candidates` for which `leaf` holds, evaluated one
/// by one.
fn scan(leaf: &Expr, src: &dyn Source, now: Timestamp, candidates: &RoaringBitmap) -> Result<RoaringBitmap> {
    let mut m = RoaringBitmap::new();
    for id in candidates {
        let ctx = ProfileCtx::new(src, ProfileId(id), now)?;
        let hit = evaluate(leaf, &ctx).value;
        ctx.finish()?;
        if hit {
            m.insert(id);
        }
    }
    Ok(m)
}

/// A trait condition on an indexed trait: the union of the value bitmaps
/// whose value passes (plus the profiles without the trait when an unset
/// trait passes), and a per-profile evaluation of only the profiles whose
/// value has no bitmap (past the distinct-value cap).
#[expect(clippy::too_many_arguments, reason = "the arguments of `plan`, passed through")]
fn indexed_trait(
    leaf: &Expr,
    cond: &TraitCond,
    state: &SegmentState,
    src: &dyn Source,
    now: Timestamp,
    candidates: &RoaringBitmap,
    pad: &str,
    out: &mut Vec<String>,
) -> Result<RoaringBitmap> {
    let Some(ix) = state.indexes.by_name.get(&cond.name) else { return scan(leaf, src, now, candidates) };
    let (mut m, passed) = ix.matching(&cond.test, now, candidates);
    let unindexed = &ix.other & candidates;
    let mut line = format!(
        "{pad}index `{leaf}`: bitmap, value bitmaps of traits.{} ({passed} of {} values pass), {} match",
        cond.name,
        ix.values.len(),
        m.len()
    );
    if !unindexed.is_empty() {
        let extra = scan(leaf, src, now, &unindexed)?;
        line.push_str(&format!(
            "; plus {} profiles with values past the {MAX_INDEXED_VALUES}-value cap evaluated per profile, {} match",
            unindexed.len(),
            extra.len()
        ));
        m |= extra;
    }
    out.push(line);
    Ok(m)
}

/// Whether `e` is answered by bitmap algebra alone (no per-profile scan).
pub(crate) fn is_bitmap(e: &Expr, state: &SegmentState) -> bool {
    match e {
        Expr::InSegment(_) => true,
        // Values past the distinct-value cap are evaluated per profile.
        Expr::Trait(cond) => state.indexes.by_name.get(&cond.name).is_some_and(|ix| ix.other.is_empty()),
        Expr::And(items) | Expr::Or(items) => items.iter().all(|i| is_bitmap(i, state)),
        Expr::Not(inner) => is_bitmap(inner, state),
        _ => false,
    }
}

/// The result of a query.
#[derive(Clone, Debug)]
pub struct QueryResult {
    members: ResultSet,
    plan: Vec<String>,
}

/// The matching profiles: a roaring bitmap, or for a combination of dense
/// segments the combined flat blocks (see [`FlatSet`]).
#[derive(Clone, Debug)]
enum ResultSet {
    Bitmap(RoaringBitmap),
    Flat(FlatSet),
}

impl QueryResult {
    pub(crate) fn new(members: RoaringBitmap, plan: Vec<String>) -> Self {
        QueryResult { members: ResultSet::Bitmap(members), plan }
    }

    pub(crate) fn flat(members: FlatSet, plan: Vec<String>) -> Self {
        QueryResult { members: ResultSet::Flat(members), plan }
    }

    /// Number of matching profiles.
    pub fn count(&self) -> u64 {
        match &self.members {
            ResultSet::Bitmap(b) => b.len(),
            ResultSet::Flat(f) => f.len(),
        }
    }

    /// Whether a profile matches.
    pub fn contains(&self, p: ProfileId) -> bool {
        match &self.members {
            ResultSet::Bitmap(b) => b.contains(p.0),
            ResultSet::Flat(f) => f.contains(p.0),
        }
    }

    /// A page of matching profile ids, ascending.
    pub fn members(&self, offset: u64, limit: usize) -> Vec<ProfileId> {
        match &self.members {
            ResultSet::Bitmap(b) => b.iter().skip(offset as usize).take(limit).map(ProfileId).collect(),
            ResultSet::Flat(f) => f.members(offset, limit).into_iter().map(ProfileId).collect(),
        }
    }

    /// How the query was evaluated, one step per line.
    pub fn explain(&self) -> String {
        self.plan.join("\n")
    }
}
