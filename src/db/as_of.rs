//! As-of reads across merges: which profile an id was part of at a past
//! time, and the record whose history answers for it then.
//!
//! An id's story is a sequence of steps: merges into other profiles (each
//! recorded as `Change::Merge` in the log of the profile it merged into)
//! and unmerges splitting it off again (each recorded as
//! `Change::SplitFrom` in its own log). Steps are ordered by time and,
//! within one millisecond, by where they fall in the id's own history (a
//! split is the own version it recorded; a merge comes right after the own
//! version it merged away at), so an unmerge and a re-merge in the same
//! millisecond keep their order. At time `t` the id was merged iff the
//! latest step at or before `t` is a merge; then the profile it had merged
//! into answers (which may itself have been merged at `t`).
//!
//! A merge can be missing from the story: retention folds the log of a
//! live profile, and with it the merges recorded there, and erase deletes
//! the erased profile's log. Every split follows a merge and an alias's
//! last step is a merge, so a missing one is seen; it came after the id's
//! own delta before that split (or its latest delta, for an alias): a
//! merge is timed no earlier than either profile's latest delta. Before
//! that delta the id's own history answers. From it on, an alias whose
//! last merge is missing answers with the profile it reaches now from the
//! time it had surely joined it on, and [`Error::HistoryTruncated`]
//! before (and at every time when no merge of it is recorded at all: no
//! record of its own state is left). Until a split whose merge is
//! missing, the answer is `HistoryTruncated` when retention folded the
//! merge away; when the profile it had merged into was erased (with its
//! log), the id's own history answers, as a survivor's versions of a
//! merge window read as its own state once the person merged in is erased.
//!
//! Most steps need no story: the id's own log, read by bisection, says
//! whether a merge can answer for `t`, and that merge is found by seeking
//! the logs it can be recorded in to its time (`as_of_seek`). A read then
//! costs a logarithmic number of point reads per log rather than a decode
//! of every log; the story decides only where a merge is missing.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::{Error, NotFoundKind, Result};
use crate::identity::graph::{aliases_of, survivor_of};
use crate::profile::delta::{Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::schema;
use crate::storage::View;

use super::as_of_seek::Hop;

/// The most merges followed for one read (a consistent database forms no
/// cycle at any instant; this bounds a damaged one).
const MAX_HOPS: usize = 64;

/// The profile `id` was part of at time `t`, as it was then (`None`: it
/// did not exist yet).
pub(super) fn profile_at(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<Option<Profile>> {
    read_at(view, id, t, true)
}

/// [`profile_at`] by every id's whole story, seeking nothing: what the
/// seeking reads are checked against.
#[cfg(test)]
pub(super) fn profile_at_by_story(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<Option<Profile>> {
    read_at(view, id, t, false)
}

/// [`profile_at`], seeking in the logs when `seek` (else by stories only).
fn read_at(view: &View<'_>, id: ProfileId, t: Timestamp, seek: bool) -> Result<Option<Profile>> {
    let (id, source) = follow(view, id, t, seek, true)?;
    let (rec, version) = match source {
        Source::Own { rec, version } => (rec, version),
        Source::Story(story) => {
            let rec = match schema::PROFILES.get(view, &crate::keys::profile(id))? {
                Some(r) => r,
                None => story.last_merge_record(id)?,
            };
            let version = history::version_at(view, &rec, t)?;
            (rec, version)
        }
    };
    version.map(|v| history::as_of_version(view, &rec, v)).transpose()
}

/// The profile that answered for `id` at time `t`: `id` itself when it
/// was a profile of its own then, else the profile it had merged into —
/// through every merge of a chain.
pub(super) fn part_of_at(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<ProfileId> {
    follow(view, id, t, true, false).map(|(id, _)| id)
}

#[cfg(test)]
thread_local! {
    /// Steps of seeking reads on this thread that their story decided.
    pub(super) static STORY_STEPS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// What decided that a profile answers for a time.
enum Source {
    /// A record found by seeking, with its version current then.
    Own { rec: ProfileRecord, version: Option<u64> },
    /// Its story.
    Story(Story),
}

/// [`part_of_at`], with what decided it: each step by seeking
/// (`as_of_seek`) when `seek` and seeking decides it, else by the story.
///
/// With `state` (a read of the profile's state, not only of which profile
/// it was part of), a time before the history floor of a live profile on
/// the way is [`Error::HistoryTruncated`] at once: its state then is
/// folded whichever profile it was part of. Without, that time is left to
/// the story (the profile it was part of may still be known).
fn follow(view: &View<'_>, id: ProfileId, t: Timestamp, seek: bool, state: bool) -> Result<(ProfileId, Source)> {
    let mut id = id;
    for _ in 0..MAX_HOPS {
        let live = schema::PROFILES.get(view, &crate::keys::profile(id))?;
        if let Some(rec) = live.as_ref().filter(|_| state) {
            before_floor(view, rec, t)?;
        }
        if seek {
            match super::as_of_seek::hop(view, id, live, t)? {
                Some(Hop::Merged(into)) => {
                    id = into;
                    continue;
                }
                Some(Hop::Own { rec, version }) => return Ok((id, Source::Own { rec, version })),
                None => {}
            }
            #[cfg(test)]
            STORY_STEPS.with(|n| n.set(n.get() + 1));
        }
        let story = Story::of(view, id)?;
        if let Some(into) = story.merged_at(t) {
            id = into;
            continue;
        }
        // A merge that may have ended its own profile by `t` is missing.
        match story.gap_at(t) {
            None => return Ok((id, Source::Story(story))),
            Some(Gap { split: Some((_, from)), .. }) => match folded_merge(view, from)? {
                Some(e) => return Err(e),
                None => return Ok((id, Source::Story(story))),
            },
            Some(Gap { split: None, .. }) => id = story.after_folded_merges(view, t)?,
        }
    }
    Err(Error::invalid(format!("profile {id}: more than {MAX_HOPS} merges to follow at {}", t.to_rfc3339())))
}

/// [`Error::HistoryTruncated`] when `t` falls before the history floor of
/// the live profile `rec` (and not before it was created): its state then
/// was folded away — its own, and any merged state whose merge a split
/// before the floor undid (that split was folded too, so whether it was
/// merged then is not reliably known). Decided from the floor snapshot
/// alone (one point read), before anything reads the profile's log.
fn before_floor(view: &View<'_>, rec: &ProfileRecord, t: Timestamp) -> Result<()> {
    if rec.history_floor == 0 || t < rec.profile.created_at {
        return Ok(());
    }
    match history::floor_time(view, rec)? {
        Some(floor_at) if t < floor_at => {
            Err(Error::HistoryTruncated { profile: rec.profile.id.0, requested: 0, floor: rec.history_floor })
        }
        _ => Ok(()),
    }
}

/// The answer for a time when an id may have been merged into `from` (the
/// profile a later split took it from), whose log no longer records that
/// merge: [`Error::HistoryTruncated`] when retention folded it away, `None`
/// when `from` was erased with its log — then the id's own history answers
/// (the erased person's state is gone, as from the versions of a survivor
/// it had merged into and was split off again).
fn folded_merge(view: &View<'_>, from: ProfileId) -> Result<Option<Error>> {
    if let Some(rec) = schema::PROFILES.get(view, &crate::keys::profile(from))? {
        return Ok(Some(Error::HistoryTruncated { profile: from.0, requested: 0, floor: rec.history_floor }));
    }
    // Merged on since (its folded log went with it), or neither live nor
    // an alias: erased.
    Ok(survivor_of(view, from)?.map(|_| Error::HistoryTruncated { profile: from.0, requested: 0, floor: 0 }))
}

/// A merge or split of one id.
enum Step {
    /// It merged into `into`: the delta recording it in `into`'s log.
    Merge { into: ProfileId, delta: Box<Delta> },
    /// It was split off `from` again.
    Split { from: ProfileId },
}

/// A [`Step`], placed in the id's story.
struct Placed {
    at: Timestamp,
    /// Where it falls in the id's own history, for steps in one
    /// millisecond: twice the version a split recorded; twice the version
    /// a merge took away, plus one.
    order: u64,
    step: Step,
}

/// A span of time in which a merge of the id is missing from its story.
#[derive(Clone, Copy)]
struct Gap {
    /// The time of its own delta before the missing merge (the start of
    /// time when that delta is not retained).
    from: Timestamp,
    /// The split that undid the missing merge and the profile it named;
    /// `None` for an alias whose last merge is missing.
    split: Option<(Timestamp, ProfileId)>,
}

/// The merges of one id and the unmerges that split it off again.
struct Story {
    /// Every recorded step, in order.
    steps: Vec<Placed>,
    /// The live profile it is an alias of now, if it is one.
    survivor: Option<ProfileId>,
    /// Where merges are missing from `steps`.
    gaps: Vec<Gap>,
    /// The latest merge recorded where its merges may be of another id
    /// whose own log retention had folded.
    others_merged_until: Option<Timestamp>,
}

impl Story {
    fn of(view: &View<'_>, id: ProfileId) -> Result<Story> {
        let own = history::deltas(view, id)?;
        let mut steps: Vec<Placed> = own
            .iter()
            .filter_map(|d| match d.change {
                Change::SplitFrom { survivor, .. } => {
                    Some(Placed { at: d.at, order: d.version.saturating_mul(2), step: Step::Split { from: survivor } })
                }
                _ => None,
            })
            .collect();
        let survivor = survivor_of(view, id)?;
        // Where its merges can be recorded: the profile it is an alias of now
        // and the ids merged into that one, and the profiles it was split
        // from (and theirs).
        let mut roots: Vec<ProfileId> = steps
            .iter()
            .filter_map(|s| match s.step {
                Step::Split { from } => Some(from),
                Step::Merge { .. } => None,
            })
            .collect();
        roots.extend(survivor);
        let mut candidates = BTreeSet::new();
        for r in roots {
            let root = survivor_of(view, r)?.unwrap_or(r);
            candidates.insert(root);
            candidates.extend(aliases_of(view, root)?);
        }
        candidates.remove(&id);
        let mut others_merged_until = None;
        for c in candidates {
            for d in history::deltas(view, c)? {
                match &d.change {
                    Change::Merge { loser, loser_state, .. } if *loser == id => {
                        let order = loser_state.version.saturating_mul(2).saturating_add(1);
                        steps.push(Placed { at: d.at, order, step: Step::Merge { into: c, delta: Box::new(d) } });
                    }
                    // Only a log folded while live could have held its
                    // missing merge; that profile merged on later.
                    Change::Merge { loser_history_floor, .. } if *loser_history_floor > 0 => {
                        others_merged_until = others_merged_until.max(Some(d.at));
                    }
                    _ => {}
                }
            }
        }
        steps.sort_by_key(|s| (s.at, s.order));
        // No merge of it comes before it was created (known while it is
        // live; its folded deltas may not say when that was).
        let born = schema::PROFILES.get(view, &crate::keys::profile(id))?.map(|rec| rec.profile.created_at);
        let gaps = find_gaps(&steps, &own, survivor.is_some(), born);
        Ok(Story { steps, survivor, gaps, others_merged_until })
    }

    /// The gap that `t` falls in, if any.
    fn gap_at(&self, t: Timestamp) -> Option<Gap> {
        self.gaps.iter().copied().find(|g| g.from <= t && g.split.is_none_or(|(until, _)| t < until))
    }

    /// The profile the id had merged into at `t`, if it was merged then
    /// (by the merges recorded).
    fn merged_at(&self, t: Timestamp) -> Option<ProfileId> {
        match self.steps.iter().rev().find(|s| s.at <= t)?.step {
            Step::Merge { into, .. } => Some(into),
            Step::Split { .. } => None,
        }
    }

    /// The profile that answers for an alias whose last merge is missing
    /// from its story, at a time `t` after its own latest delta: the
    /// survivor it reaches now, once `t` is past that survivor's history
    /// floor and every recorded merge of a profile of its lineage whose log
    /// was folded. The missing merge came before one of those (before the
    /// floor of the folded log that held it, whose profile was live then,
    /// so merged on later), so by `t` the id had joined the survivor,
    /// whichever profile it merged into first. Earlier times are
    /// [`Error::HistoryTruncated`].
    fn after_folded_merges(&self, view: &View<'_>, t: Timestamp) -> Result<ProfileId> {
        let Some(survivor) = self.survivor else {
            return Err(Error::invalid("internal: a missing last merge of a profile that is no alias"));
        };
        let rec =
            schema::PROFILES.get(view, &crate::keys::profile(survivor))?.ok_or_else(|| Error::no_profile(survivor))?;
        let safe_from = history::floor_time(view, &rec)?.max(self.others_merged_until);
        if safe_from.is_some_and(|from| t >= from) {
            Ok(survivor)
        } else {
            Err(Error::HistoryTruncated { profile: survivor.0, requested: 0, floor: rec.history_floor })
        }
    }

    /// The record of a merged-away id as it was at its latest merge (its
    /// own history stays stored under its id).
    fn last_merge_record(self, id: ProfileId) -> Result<ProfileRecord> {
        let last = self.steps.into_iter().rev().find_map(|s| match s.step {
            Step::Merge { delta, .. } => Some(delta),
            Step::Split { .. } => None,
        });
        let Some(merge) = last else {
            return Err(Error::no_profile(id));
        };
        merged_record(id, &merge)
    }
}

/// The record of `id` that the delta `merge`, its merge, kept.
pub(super) fn merged_record(id: ProfileId, merge: &Delta) -> Result<ProfileRecord> {
    match &merge.change {
        Change::Merge { loser_state, loser_history_floor, loser_last_snapshot, .. } => Ok(ProfileRecord {
            profile: Arc::new(loser_state.clone()),
            history_floor: *loser_history_floor,
            last_snapshot: *loser_last_snapshot,
            kinds: None,
        }),
        _ => Err(Error::not_found(NotFoundKind::Version, format!("the merge of profile {id}"))),
    }
}

/// Where merges are missing from `steps` (see [`Gap`]): every split
/// follows a merge since the split before it, and an alias's last step is
/// a merge. A missing merge came after the id's own delta before the split
/// (its latest, for an alias), whose time `own` gives.
fn find_gaps(steps: &[Placed], own: &[Delta], alias: bool, born: Option<Timestamp>) -> Vec<Gap> {
    let time_of = |d: Option<&Delta>| d.map_or(born.unwrap_or(Timestamp(i64::MIN)), |d| d.at);
    let mut gaps = Vec::new();
    let mut merged = false;
    for s in steps {
        match s.step {
            Step::Merge { .. } => merged = true,
            Step::Split { from } => {
                if !merged {
                    let before = (s.order / 2).saturating_sub(1);
                    let from_time = time_of(own.iter().find(|d| d.version == before));
                    gaps.push(Gap { from: from_time, split: Some((s.at, from)) });
                }
                merged = false;
            }
        }
    }
    if alias && !merged {
        // With no merge recorded at all, no record of its own state is left
        // to read its own history with.
        let any_merge = steps.iter().any(|s| matches!(s.step, Step::Merge { .. }));
        let from = if any_merge { time_of(own.last()) } else { Timestamp(i64::MIN) };
        gaps.push(Gap { from, split: None });
    }
    gaps
}
