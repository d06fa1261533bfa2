//! One step of an as-of read decided by seeking in the logs rather than
//! by decoding an id's whole story (`as_of::Story`).
//!
//! An id's own log says where its merges fall: a merge comes right after
//! the own version it took away, and is undone by the split that is its
//! next own version (or never, for an alias: after its latest version).
//! Own versions and each log's deltas are timed in order, so the version
//! `v` current at `t` is found by bisection, and only the merge after `v`
//! can be the latest step at or before `t`: earlier merges were undone by
//! splits at or before `v`, later ones are timed no earlier than their own
//! version, after `t`. That merge is timed no earlier than version `v`
//! (and, when a split undoes it, no later than the split), so it is found
//! by seeking each log it can be recorded in (the lineage's root and its
//! aliases, as the story looks) to that time and reading forward in time
//! order until it turns up. A read costs a logarithmic number of point
//! reads per log plus the deltas written between the id's version and its
//! merge, instead of a decode of every log.
//!
//! Whenever a merge is not found where it should be (retention folded it,
//! an erase deleted it) or the id's own log does not start at version 1
//! (for an alias: a time before its first retained delta, or no delta
//! left), the step is left to the story ([`hop`] returns `None`), which answers
//! those cases.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::graph::{aliases_of, survivor_of};
use crate::keys;
use crate::profile::delta::{Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::ProfileRecord;
use crate::schema;
use crate::storage::View;

/// What one step of following an id decided.
pub(super) enum Hop {
    /// It had merged into this profile by the time.
    Merged(ProfileId),
    /// Its own history answers, from this record, at this version (`None`:
    /// it did not exist yet).
    Own { rec: ProfileRecord, version: Option<u64> },
}

/// Where `id` (whose live record is `live`, if any) was at time `t`, when
/// seeking decides it; `None` when its story must.
pub(super) fn hop(view: &View<'_>, id: ProfileId, live: Option<ProfileRecord>, t: Timestamp) -> Result<Option<Hop>> {
    // The version current at `t` and the delta after it.
    let (v, next, alias) = match live {
        Some(rec) => {
            let v = match history::version_at(view, &rec, t) {
                Ok(v) => v.unwrap_or(0),
                // Before its history floor (for a read of which profile it
                // was part of): a merge recorded elsewhere may still answer.
                Err(Error::HistoryTruncated { .. }) => return Ok(None),
                Err(e) => return Err(e),
            };
            // Version 1 is never a split.
            let next = if v > 0 && v < rec.profile.version { Some(history::delta(view, id, v + 1)?) } else { None };
            let split = next.as_ref().and_then(split_from);
            let Some(from) = split else {
                // No merge of it is undone after `v`: its own log answers.
                return Ok(Some(Hop::Own { rec, version: Some(v).filter(|v| *v > 0) }));
            };
            if rec.history_floor > 0 {
                return Ok(None);
            }
            (v, next.map(|d| (d.at, from)), None)
        }
        None => {
            let Some(survivor) = survivor_of(view, id)? else { return Ok(None) };
            // Retention may have folded its log (from the start): before its
            // first retained delta, the story decides.
            let Some(first) = first_retained(view, id)? else { return Ok(None) };
            let (after, next) = first_where(view, id, first, |d| d.at > t)?;
            if after == first && first > 1 {
                return Ok(None);
            }
            let next = match next {
                Some(d) => match split_from(&d) {
                    Some(from) => Some((d.at, from)),
                    None => return own_alias(view, id, survivor, t, after),
                },
                None => None,
            };
            (after - 1, next, Some(survivor))
        }
    };
    // A merge follows version `v`: undone by the split `next`, or the
    // alias's last.
    let own_at = if v == 0 { Timestamp(i64::MIN) } else { history::delta(view, id, v)?.at };
    let (root, until) = match (next, alias) {
        (Some((at, from)), _) => (from, Some(at)),
        (None, Some(survivor)) => (survivor, None),
        (None, None) => return Ok(None),
    };
    let Some((into, merge)) = find_merge(view, id, v, root, own_at, until)? else { return Ok(None) };
    if merge.at <= t {
        return Ok(Some(Hop::Merged(into)));
    }
    match alias {
        // Live: its own record answers.
        None => {
            let rec = schema::PROFILES.get(view, &keys::profile(id))?.ok_or_else(|| Error::no_profile(id))?;
            Ok(Some(Hop::Own { rec, version: Some(v).filter(|v| *v > 0) }))
        }
        Some(_) if next.is_none() => own_from_merge(view, id, &merge, t).map(Some),
        Some(survivor) => own_alias(view, id, survivor, t, v + 1),
    }
}

/// The own answer for an alias at `t`, before its last merge: the record
/// its last merge kept (found after its latest version, at or after
/// `from`), at the version current at `t`.
fn own_alias(view: &View<'_>, id: ProfileId, survivor: ProfileId, t: Timestamp, from: u64) -> Result<Option<Hop>> {
    let (after, _) = first_where(view, id, from, |_| false)?;
    let n = after - 1;
    let last_at = history::delta(view, id, n)?.at;
    let Some((_, merge)) = find_merge(view, id, n, survivor, last_at, None)? else { return Ok(None) };
    own_from_merge(view, id, &merge, t).map(Some)
}

/// [`Hop::Own`] from the record the merge delta `merge` kept of `id`.
fn own_from_merge(view: &View<'_>, id: ProfileId, merge: &Delta, t: Timestamp) -> Result<Hop> {
    let rec = super::as_of::merged_record(id, merge)?;
    let version = history::version_at(view, &rec, t)?;
    Ok(Hop::Own { rec, version })
}

/// The profile a split delta took its profile from.
fn split_from(d: &Delta) -> Option<ProfileId> {
    match d.change {
        Change::SplitFrom { survivor, .. } => Some(survivor),
        _ => None,
    }
}

/// The first version of `id` whose delta is retained, if any.
fn first_retained(view: &View<'_>, id: ProfileId) -> Result<Option<u64>> {
    match view.prefix(schema::DELTAS.name, &keys::profile(id))?.next() {
        Some(kv) => {
            let (k, v) = kv?;
            Ok(Some(schema::DELTAS.decode(&k, &v)?.version))
        }
        None => Ok(None),
    }
}

/// The delta of `id` at `version`, if retained.
fn get(view: &View<'_>, id: ProfileId, version: u64) -> Result<Option<Delta>> {
    #[cfg(test)]
    DELTAS_READ.with(|n| n.set(n.get() + 1));
    schema::DELTAS.get(view, &keys::versioned(id, version))
}

/// The first version from `lo` on (whose delta must be retained, as every
/// one after it up to the log's end) whose delta is missing or satisfies
/// `pred`, which must hold of every later one too, with that delta: found
/// by galloping, then bisection.
fn first_where(view: &View<'_>, id: ProfileId, lo: u64, pred: impl Fn(&Delta) -> bool) -> Result<(u64, Option<Delta>)> {
    let fails = |v: u64| -> Result<std::result::Result<(), Option<Delta>>> {
        Ok(match get(view, id, v)? {
            Some(d) if !pred(&d) => Ok(()),
            other => Err(other),
        })
    };
    // Every version below `ok_until` fails `pred`.
    let (mut ok_until, mut step) = (lo, 1u64);
    let (mut hi, mut at_hi) = loop {
        let probe = ok_until.saturating_add(step - 1);
        match fails(probe)? {
            Ok(()) if probe < u64::MAX => (ok_until, step) = (probe + 1, step.saturating_mul(2)),
            Ok(()) => return Ok((u64::MAX, None)),
            Err(d) => break (probe, d),
        }
    };
    while ok_until < hi {
        let mid = ok_until + (hi - ok_until) / 2;
        match fails(mid)? {
            Ok(()) => ok_until = mid + 1,
            Err(d) => (hi, at_hi) = (mid, d),
        }
    }
    Ok((hi, at_hi))
}

/// The delta recording the merge of `id` that took its own version
/// `version` away, with the profile it merged into: looked for in the
/// logs of the root `of` reaches now and of that root's aliases, from
/// `from` on in time order up to `until` (`None`: to their ends).
///
/// First by following the chain from the root: the merge is recorded in
/// the log of the profile `id` merged into, which is the root or merged
/// on into it later, through merges timed no earlier than it — so the
/// logs searched are the root's and those of the profiles found merging
/// into a searched log from `from` on. That costs a logarithmic number of
/// point reads per log on the chain plus the deltas read before the merge
/// turns up, however many ids merged into the root. Only when the chain is
/// broken (a merge on it folded by retention, or timed after `until`) are
/// the logs of every alias of the root searched.
fn find_merge(
    view: &View<'_>,
    id: ProfileId,
    version: u64,
    of: ProfileId,
    from: Timestamp,
    until: Option<Timestamp>,
) -> Result<Option<(ProfileId, Delta)>> {
    let root = survivor_of(view, of)?.unwrap_or(of);
    let target = Target { id, version, from, until };
    if let Some(found) = Search::new(view, target).run(&[root], true)? {
        return Ok(Some(found));
    }
    let mut logs = vec![root];
    logs.extend(aliases_of(view, root)?);
    Search::new(view, target).run(&logs, false)
}

/// What [`find_merge`] looks for, and in which span of time.
#[derive(Clone, Copy)]
struct Target {
    id: ProfileId,
    version: u64,
    from: Timestamp,
    until: Option<Timestamp>,
}

impl Target {
    fn is(&self, d: &Delta) -> bool {
        matches!(&d.change, Change::Merge { loser, loser_state, .. } if *loser == self.id && loser_state.version == self.version)
    }
}

type Scan<'v> = Box<dyn Iterator<Item = Result<(Box<[u8]>, Box<[u8]>)>> + 'v>;

/// A search of several logs in time order, from `target.from` on.
struct Search<'a, 'v> {
    view: &'a View<'v>,
    target: Target,
    logs: Vec<ProfileId>,
    scans: Vec<Scan<'a>>,
    heads: Vec<Option<Delta>>,
    order: BinaryHeap<Reverse<(Timestamp, usize)>>,
}

impl<'a, 'v> Search<'a, 'v> {
    fn new(view: &'a View<'v>, target: Target) -> Self {
        Search { view, target, logs: Vec::new(), scans: Vec::new(), heads: Vec::new(), order: BinaryHeap::new() }
    }

    /// Adds the log of `c` (not the target's own, nor one already added),
    /// positioned at its first delta at or after `target.from`.
    fn add(&mut self, c: ProfileId) -> Result<()> {
        if c == self.target.id || self.logs.contains(&c) {
            return Ok(());
        }
        let view = self.view;
        let from = self.target.from;
        let head = match first_retained(view, c)? {
            Some(first) => first_where(view, c, first, |d| d.at >= from)?.1,
            None => None,
        };
        let resume = head.as_ref().map_or(u64::MAX, |d| d.version.saturating_add(1));
        let scan = view.range(schema::DELTAS.name, &keys::versioned(c, resume), Some(&keys::versioned(c, u64::MAX)))?;
        if let Some(d) = &head {
            self.order.push(Reverse((d.at, self.logs.len())));
        }
        self.logs.push(c);
        self.scans.push(Box::new(scan));
        self.heads.push(head);
        Ok(())
    }

    /// Reads the logs `start` (and, when `follow`, the logs of the
    /// profiles merging into a log read) forward in time order up to
    /// `target.until`, until the target merge turns up.
    fn run(mut self, start: &[ProfileId], follow: bool) -> Result<Option<(ProfileId, Delta)>> {
        for c in start {
            self.add(*c)?;
        }
        while let Some(Reverse((at, i))) = self.order.pop() {
            if self.target.until.is_some_and(|u| at > u) {
                break;
            }
            let Some(d) = self.heads.get_mut(i).and_then(Option::take) else { continue };
            #[cfg(test)]
            DELTAS_READ.with(|n| n.set(n.get() + 1));
            if self.target.is(&d) {
                return Ok(self.logs.get(i).map(|c| (*c, d)));
            }
            if let Some(kv) = self.scans.get_mut(i).and_then(Iterator::next) {
                let (k, v) = kv?;
                let next = schema::DELTAS.decode(&k, &v)?;
                self.order.push(Reverse((next.at, i)));
                if let Some(h) = self.heads.get_mut(i) {
                    *h = Some(next);
                }
            }
            if follow {
                if let Change::Merge { loser, .. } = d.change {
                    self.add(loser)?;
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
thread_local! {
    /// Deltas that seeking steps on this thread read (point reads and the
    /// deltas merge searches read forward).
    pub(super) static DELTAS_READ: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}
