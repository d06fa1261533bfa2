//! As-of reads across merges: which profile an id was part of at a past
//! time, and the record whose history answers for it then.
//!
//! An id's story is a sequence of merges into other profiles (each
//! recorded as `Change::Merge` in the log of the profile it merged into)
//! and unmerges splitting it off again (each recorded as
//! `Change::SplitFrom` in its own log). At time `t` it was merged iff the
//! latest of those at or before `t` is a merge; then the profile it had
//! merged into answers (which may itself have been merged at `t`).
//!
//! Retention folds the log of a live profile, and with it the merges
//! recorded there. A story missing a merge (a split with no merge before
//! it, an alias whose last event is not a merge) answers with the profile
//! the id reaches now from the time it had surely joined it on, and with
//! [`Error::HistoryTruncated`] before.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::graph::{aliases_of, survivor_of};
use crate::profile::delta::{Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::ProfileRecord;
use crate::schema;
use crate::storage::View;

/// The most merges followed for one read (a consistent database forms no
/// cycle at any instant; this bounds a damaged one).
const MAX_HOPS: usize = 64;

/// The record whose history holds the state of the profile `id` was part
/// of at time `t`.
pub(super) fn record_at(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<ProfileRecord> {
    let (id, story) = follow(view, id, t)?;
    if let Some(r) = schema::PROFILES.get(view, &crate::keys::profile(id))? {
        return Ok(r);
    }
    story.last_merge_record(id)
}

/// The profile that answered for `id` at time `t`: `id` itself when it
/// was a profile of its own then, else the profile it had merged into —
/// through every merge of a chain.
pub(super) fn part_of_at(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<ProfileId> {
    follow(view, id, t).map(|(id, _)| id)
}

/// [`part_of_at`], with the story of the profile it answers with.
fn follow(view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<(ProfileId, Story)> {
    let mut id = id;
    for _ in 0..MAX_HOPS {
        let story = Story::of(view, id)?;
        if let Some(into) = story.merged_at(t) {
            id = into;
            continue;
        }
        if !story.may_miss_merge_at(t) {
            return Ok((id, story));
        }
        // A merge that may have ended its own profile by `t` was folded
        // away by retention with the log that recorded it.
        let into = story.after_folded_merges(view, id, t)?;
        id = into;
    }
    Err(Error::invalid(format!("profile {id}: more than {MAX_HOPS} merges to follow at {}", t.to_rfc3339())))
}

/// The merges of one id and the unmerges that split it off again.
struct Story {
    /// (time, the profile it merged into, the merge delta).
    merges: Vec<(Timestamp, ProfileId, Delta)>,
    /// Times it was split off again, ascending.
    splits: Vec<Timestamp>,
    /// The live profile it is an alias of now, if it is one.
    survivor: Option<ProfileId>,
    /// Times before which a merge of it may be missing from `merges`
    /// (folded away by retention with the log that recorded it): the
    /// latest split with no recorded merge since the split before it, or
    /// the end of time when it is an alias whose last recorded event is
    /// not a merge.
    unrecorded_until: Option<Timestamp>,
    /// The latest merge recorded where its merges may be of another id
    /// whose own log retention had folded.
    others_merged_until: Option<Timestamp>,
}

impl Story {
    fn of(view: &View<'_>, id: ProfileId) -> Result<Story> {
        let own = history::deltas(view, id)?;
        let mut splits: Vec<Timestamp> =
            own.iter().filter(|d| matches!(d.change, Change::SplitFrom { .. })).map(|d| d.at).collect();
        splits.sort_unstable();
        let survivor = survivor_of(view, id)?;
        // Where its merges can be recorded: the profile it is an alias of now
        // and the ids merged into that one, and the profiles it was split
        // from (and theirs).
        let mut roots: Vec<ProfileId> = own
            .iter()
            .filter_map(|d| match d.change {
                Change::SplitFrom { survivor, .. } => Some(survivor),
                _ => None,
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
        let mut merges = Vec::new();
        let mut others_merged_until = None;
        for c in candidates {
            for d in history::deltas(view, c)? {
                match d.change {
                    Change::Merge { loser, .. } if loser == id => merges.push((d.at, c, d)),
                    // Only a log folded while live could have held its
                    // missing merge; that profile merged on later.
                    Change::Merge { loser_history_floor, .. } if loser_history_floor > 0 => {
                        others_merged_until = others_merged_until.max(Some(d.at));
                    }
                    _ => {}
                }
            }
        }
        merges.sort_by_key(|(at, _, _)| *at);
        let mut story = Story { merges, splits, survivor, unrecorded_until: None, others_merged_until };
        story.unrecorded_until = story.find_unrecorded_merges();
        Ok(story)
    }

    /// See [`Story::unrecorded_until`]: every split follows a merge, and an
    /// alias's last event is a merge; one not found was folded away.
    fn find_unrecorded_merges(&self) -> Option<Timestamp> {
        let mut until = None;
        let mut previous = None;
        for &split in &self.splits {
            let recorded = self.merges.iter().any(|(at, _, _)| previous.is_none_or(|p| *at >= p) && *at <= split);
            if !recorded {
                until = Some(split);
            }
            previous = Some(split);
        }
        if self.ends_unrecorded() {
            until = Some(Timestamp(i64::MAX));
        }
        until
    }

    /// Whether a merge that may have ended its own profile by `t` is
    /// missing from the story (when [`merged_at`](Self::merged_at) finds none).
    fn may_miss_merge_at(&self, t: Timestamp) -> bool {
        self.unrecorded_until.is_some_and(|u| t < u)
    }

    /// The profile the id had merged into at `t`, if it was merged then.
    fn merged_at(&self, t: Timestamp) -> Option<ProfileId> {
        let merge = self.merges.iter().rev().find(|(at, _, _)| *at <= t)?;
        // Split off again after that merge (and by `t`): its own profile.
        let split_since = self.splits.iter().any(|s| *s >= merge.0 && *s <= t);
        (!split_since).then_some(merge.1)
    }

    /// Whether it is an alias whose last merge is missing (folded away).
    fn ends_unrecorded(&self) -> bool {
        self.survivor.is_some() && self.merged_at(Timestamp(i64::MAX)).is_none()
    }

    /// The profile that answers for the id at `t` when a merge missing from
    /// its story may decide it: the survivor it reaches now, once `t` is
    /// past that survivor's history floor and every recorded merge of a
    /// profile of its lineage whose log was folded. The missing merge came
    /// before one of those (before the floor of the folded log that held
    /// it, whose profile was live then, so merged on later), so by `t` the
    /// id had joined the survivor, whichever profile it merged into first.
    /// Earlier times, and gaps of an id that is not an alias, are
    /// [`Error::HistoryTruncated`].
    fn after_folded_merges(&self, view: &View<'_>, id: ProfileId, t: Timestamp) -> Result<ProfileId> {
        let (Some(survivor), true) = (self.survivor, self.ends_unrecorded()) else {
            let floor = schema::PROFILES.get(view, &crate::keys::profile(id))?.map_or(0, |r| r.history_floor);
            return Err(Error::HistoryTruncated { profile: id.0, requested: 0, floor });
        };
        let rec = schema::PROFILES
            .get(view, &crate::keys::profile(survivor))?
            .ok_or_else(|| Error::NotFound(format!("profile {survivor}")))?;
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
        let Some((_, _, merge)) = self.merges.into_iter().last() else {
            return Err(Error::NotFound(format!("profile {id}")));
        };
        match merge.change {
            Change::Merge { loser_state, loser_history_floor, loser_last_snapshot, .. } => Ok(ProfileRecord {
                profile: Arc::new(loser_state),
                history_floor: loser_history_floor,
                last_snapshot: loser_last_snapshot,
                kinds: None,
            }),
            _ => Err(Error::NotFound(format!("the merge of profile {id}"))),
        }
    }
}
