//! As-of reads across merges: which profile an id was part of at a past
//! time, and the record whose history answers for it then.
//!
//! An id's story is a sequence of merges into other profiles (each
//! recorded as `Change::Merge` in the log of the profile it merged into)
//! and unmerges splitting it off again (each recorded as
//! `Change::SplitFrom` in its own log). At time `t` it was merged iff the
//! latest of those at or before `t` is a merge; then the profile it had
//! merged into answers (which may itself have been merged at `t`).

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
    let mut id = id;
    for _ in 0..MAX_HOPS {
        let story = Story::of(view, id)?;
        if let Some(into) = story.merged_at(t) {
            id = into;
            continue;
        }
        if let Some(r) = schema::PROFILES.get(view, &crate::keys::profile(id))? {
            return Ok(r);
        }
        return story.last_merge_record(id);
    }
    Err(Error::invalid(format!("profile {id}: more than {MAX_HOPS} merges to follow at {}", t.to_rfc3339())))
}

/// The merges of one id and the unmerges that split it off again.
struct Story {
    /// (time, the profile it merged into, the merge delta).
    merges: Vec<(Timestamp, ProfileId, Delta)>,
    /// Times it was split off again.
    splits: Vec<Timestamp>,
}

impl Story {
    fn of(view: &View<'_>, id: ProfileId) -> Result<Story> {
        let own = history::deltas(view, id)?;
        let splits: Vec<Timestamp> =
            own.iter().filter(|d| matches!(d.change, Change::SplitFrom { .. })).map(|d| d.at).collect();
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
        roots.extend(survivor_of(view, id)?);
        let mut candidates = BTreeSet::new();
        for r in roots {
            let root = survivor_of(view, r)?.unwrap_or(r);
            candidates.insert(root);
            candidates.extend(aliases_of(view, root)?);
        }
        candidates.remove(&id);
        let mut merges = Vec::new();
        for c in candidates {
            for d in history::deltas(view, c)? {
                if matches!(d.change, Change::Merge { loser, .. } if loser == id) {
                    merges.push((d.at, c, d));
                }
            }
        }
        merges.sort_by_key(|(at, _, _)| *at);
        Ok(Story { merges, splits })
    }

    /// The profile the id had merged into at `t`, if it was merged then.
    fn merged_at(&self, t: Timestamp) -> Option<ProfileId> {
        let merge = self.merges.iter().rev().find(|(at, _, _)| *at <= t)?;
        // Split off again after that merge (and by `t`): its own profile.
        let split_since = self.splits.iter().any(|s| *s >= merge.0 && *s <= t);
        (!split_since).then_some(merge.1)
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
