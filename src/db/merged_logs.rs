//! History retention of the own logs of merged-away ids.
//!
//! A merged-away id keeps its own log (deltas and snapshots under its id):
//! an as-of read of it before its merge replays that log from the record
//! its merge delta kept (`Change::Merge { loser_state, loser_history_floor,
//! .. }`), and an unmerge restores it from that delta. `retain_history`
//! treats such a log as a live profile's, with the merge delta in the
//! place of the profile's record:
//!
//! - while a log records its merge, at or before the horizon,
//!   the deltas before the horizon are folded into a snapshot and the merge delta's `loser_history_floor`
//!   and `loser_last_snapshot` are rewritten in place to say so (an as-of
//!   read before the new floor is [`Error::HistoryTruncated`](crate::Error),
//!   as for a live profile; an unmerge restores the folded record);
//! - once no log records its merge any more (retention folded the log
//!   that did), no read or unmerge can reach its log: reads of it answer
//!   from the profile it reaches now, or `HistoryTruncated`, without it
//!   (`as_of`: a missing last merge), and unmerge needs the merge. The log
//!   is deleted, with its values.
//!
//! Only logs that nothing else reads are touched: a log recording a merge
//! of another id, an unmerge or a split is kept as it is, as is one whose
//! id has more than one merge recorded; a log is deleted only if nothing
//! in it is from the horizon on.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::identity::graph::aliases_of;
use crate::keys;
use crate::profile::delta::{Change, Delta};
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::storage::View;
use crate::txn::Txn;

use super::ProfileDb;

/// What retention did to the logs of the ids merged into one profile.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct MergedLogs {
    /// Logs folded before the horizon (their merge delta rewritten).
    pub folded: u64,
    /// Logs deleted (no merge of theirs recorded any more).
    pub dropped: u64,
}

impl ProfileDb {
    /// Folds before `horizon` the own logs of the ids merged into the live
    /// profile `root` whose merge is still recorded, and deletes those
    /// whose merge no log records any more and that hold nothing from
    /// `horizon` on — in one commit.
    ///
    /// Reads the logs of `root` and of every id merged into it (under the
    /// writer lock): where the merge of an id is recorded is known only
    /// from them.
    pub(super) fn retain_merged_logs_of(&self, root: ProfileId, horizon: Timestamp) -> Result<MergedLogs> {
        let mut done = MergedLogs::default();
        #[cfg(test)]
        if KEEP_MERGED_LOGS.with(std::cell::Cell::get) {
            return Ok(done);
        }
        let mut writer = self.core.writer.lock();
        let mut txn = Txn::new(&self.core, &mut writer);
        if txn.profile(root)?.is_none() {
            return Ok(done);
        }
        let aliases = aliases_of(&txn.view, root)?;
        if aliases.is_empty() {
            return Ok(done);
        }
        let mut merges = BTreeMap::new();
        scan(&txn.view, root, &mut merges)?;
        let mut alone = Vec::new();
        for a in &aliases {
            if let Some(last) = scan(&txn.view, *a, &mut merges)? {
                alone.push((*a, last));
            }
        }
        for (a, last) in alone {
            match merges.get(&a).map(Vec::as_slice) {
                None | Some([]) if last.at < horizon => {
                    // Versions are counted from 1 and never reach u64::MAX.
                    txn.batch.delete_range(schema::DELTAS.name, keys::versioned(a, 0), keys::versioned(a, u64::MAX));
                    txn.batch.delete_range(schema::SNAPSHOTS.name, keys::versioned(a, 0), keys::versioned(a, u64::MAX));
                    done.dropped += 1;
                }
                // Only a merge at or before the horizon: a folded log's merge
                // counts as one whose log may have held another id's
                // missing merge (`as_of`: `others_merged_until`), which
                // makes reads of those ids before it `HistoryTruncated`;
                // from the horizon on, no read retention keeps changes.
                Some([(log, merge)]) if merge.at <= horizon => {
                    let Change::Merge { loser_state, .. } = &merge.change else { continue };
                    if loser_state.version != last.version || crate::privacy::redact::is_redacted_merge(&merge.change) {
                        continue;
                    }
                    let rec = super::as_of::merged_record(a, merge)?;
                    let Some(next) = history::fold_before(&txn.view, &mut txn.batch, &rec, horizon)? else { continue };
                    let mut merge = merge.clone();
                    if let Change::Merge { loser_history_floor, loser_last_snapshot, .. } = &mut merge.change {
                        (*loser_history_floor, *loser_last_snapshot) = (next.history_floor, next.last_snapshot);
                    }
                    schema::DELTAS.put(&mut txn.batch, keys::versioned(*log, merge.version), &merge);
                    done.folded += 1;
                }
                _ => {}
            }
        }
        if done.folded + done.dropped > 0 {
            txn.skip_segments = true;
            txn.commit()?;
        }
        Ok(done)
    }
}

/// The last entry of a log: its version and time.
#[derive(Clone, Copy)]
struct Last {
    version: u64,
    at: Timestamp,
}

#[cfg(test)]
thread_local! {
    /// Set: `retain_history` on this thread keeps every merged-away id's
    /// log (what the reads after dropping them are checked against).
    pub(super) static KEEP_MERGED_LOGS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Reads the log of `id`, adding the merges it records (by loser, with
/// the log) to `merges`; its last entry (the latest snapshot when no delta
/// is left) when nothing else reads it (no merge, unmerge or split in it),
/// else `None`.
fn scan(
    view: &View<'_>,
    id: ProfileId,
    merges: &mut BTreeMap<ProfileId, Vec<(ProfileId, Delta)>>,
) -> Result<Option<Last>> {
    let mut last = None;
    let mut alone = true;
    for kv in view.prefix(schema::DELTAS.name, &keys::profile(id))? {
        let (k, v) = kv?;
        let d = schema::DELTAS.decode(&k, &v)?;
        last = Some(Last { version: d.version, at: d.at });
        match d.change {
            Change::Merge { loser, .. } => {
                merges.entry(loser).or_default().push((id, d));
                alone = false;
            }
            Change::Unmerge { .. } | Change::SplitFrom { .. } => alone = false,
            Change::Update(_) | Change::Consent(_) => {}
        }
    }
    if last.is_none() {
        // Only snapshots left (its deltas were folded).
        for kv in view.prefix(schema::SNAPSHOTS.name, &keys::profile(id))? {
            let (k, v) = kv?;
            let snap = schema::SNAPSHOTS.decode(&k, &v)?;
            last = Some(Last { version: snap.version, at: snap.updated_at });
        }
    }
    Ok(last.filter(|_| alone))
}
