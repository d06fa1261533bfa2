//! Retention of the change feed and of the membership history: both grow
//! with every membership change (a record and a row each), so they are
//! trimmed by the same bounded steps as timelines (`tick`,
//! `enforce_retention`).
//!
//! - **Feed** (`feed_retention`): the feed is keyed by sequence number, in
//!   commit order, so retention deletes a prefix: from the feed floor
//!   (`meta/feed_floor_seq`) on, records whose `at` is before now −
//!   retention, stopping at the first one that is not (a record processed
//!   late may carry an earlier `at`: it is kept until those before it go).
//!   [`ProfileDb::feed`] refuses a cursor before the floor
//!   ([`Error::FeedTruncated`](crate::Error::FeedTruncated)).
//! - **Membership history** (`membership_history_retention`): a pass over
//!   the `membership` family, a bounded number of keys per step, that
//!   deletes the rows of each (segment, profile) before the floor
//!   (`meta/membership_floor`, now − retention when the pass started)
//!   except the last one before it — what the membership was from then on
//!   (dropped too when it says "not a member" and the profile is no longer
//!   live: no row answers the same). So `was_member` is exact at every
//!   time from the floor on and refused before it. A pass starts when the
//!   floor can rise by a day or more (a tick), or at all
//!   (`enforce_retention`).
//!
//! Each floor is published before the batch that deletes below it
//! commits, and readers check it after they read: a read that saw rows
//! deleted also sees the raised floor.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::rollup::retention::{stage_floor, NO_FLOOR};
use crate::schema;
use crate::txn::Txn;

use super::ProfileDb;

/// Membership-history keys one step reads per unit of budget.
const KEYS_PER_BUDGET: usize = 8;

/// What one step of feed and membership-history retention did.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HistoryPass {
    /// Feed records deleted.
    pub feed_deleted: u64,
    /// Membership-history rows deleted.
    pub membership_deleted: u64,
    /// Whether nothing is left to do at the current floors.
    pub complete: bool,
}

impl ProfileDb {
    /// One bounded step of feed and membership-history retention: up to
    /// `budget` feed records, and about `budget` × 8 membership keys. A
    /// membership pass starts when the floor can rise by `min_rise_ms`
    /// (or, for 0, at all).
    pub(crate) fn history_retention_step(&self, budget: usize, min_rise_ms: i64) -> Result<HistoryPass> {
        let cfg = &self.core.config;
        if cfg.feed_retention_ms == 0 && cfg.membership_retention_ms == 0 {
            return Ok(HistoryPass { complete: true, ..HistoryPass::default() });
        }
        let mut writer = self.core.writer.lock();
        let now = self.core.clock.now().0;
        let floors = &self.core.retention;
        let mut txn = Txn::new(&self.core, &mut writer);
        let mut pass = HistoryPass::default();
        let mut raised = false;

        // The feed: a prefix of records older than the cut.
        let mut feed_done = true;
        let mut feed_floor = floors.feed_seq();
        if cfg.feed_retention_ms > 0 {
            let cut = now.saturating_sub(cfg.feed_retention_ms);
            feed_done = false;
            let mut seen = 0;
            for kv in txn.view.range(schema::FEED.name, &feed_floor.to_be_bytes(), None)? {
                let (k, v) = kv?;
                let rec = schema::FEED.decode(&k, &v)?;
                if rec.at.0 >= cut {
                    feed_done = true;
                    break;
                }
                if seen >= budget {
                    break;
                }
                if !raised {
                    self.check_clock_jump(now)?;
                    raised = true;
                }
                txn.batch.delete(schema::FEED.name, &k);
                feed_floor = rec.seq.saturating_add(1);
                pass.feed_deleted += 1;
                seen += 1;
            }
            feed_done |= seen < budget;
            if pass.feed_deleted > 0 {
                stage_floor(&mut txn.batch, keys::meta::FEED_FLOOR, feed_floor.min(i64::MAX as u64) as i64);
            }
        }

        // The membership history: start a pass, or go on with one.
        let mut cursor = floors.membership_cursor.lock().clone();
        let mut floor = floors.membership_ms();
        if cursor.is_none() && cfg.membership_retention_ms > 0 {
            let cut = now.saturating_sub(cfg.membership_retention_ms);
            if cut > 0 && (floor == NO_FLOOR || cut > floor.saturating_add(min_rise_ms)) {
                if !raised {
                    self.check_clock_jump(now)?;
                    raised = true;
                }
                floor = cut;
                stage_floor(&mut txn.batch, keys::meta::MEMBERSHIP_FLOOR, floor);
                cursor = Some(Vec::new());
            }
        }
        let mut next_cursor = None;
        if let Some(from) = &cursor {
            let (deleted, next) = self.trim_membership(&mut txn, from, floor, budget * KEYS_PER_BUDGET)?;
            pass.membership_deleted = deleted;
            next_cursor = next;
        }
        if !raised && pass.feed_deleted == 0 && pass.membership_deleted == 0 {
            // Nothing to write (a pass going on over rows it keeps).
            drop(txn);
            *floors.membership_cursor.lock() = next_cursor.clone();
            pass.complete = feed_done && next_cursor.is_none();
            return Ok(pass);
        }
        let clock = self.next_retention_clock(now);
        if raised {
            Self::stage_retention_clock(&mut txn.batch, clock);
        }
        // Published before the commit: a reader that sees the deletions
        // sees the floors (see the module docs).
        floors.publish_history(feed_floor, floor);
        txn.commit()?;
        if raised {
            self.publish_retention_clock(clock);
        }
        *floors.membership_cursor.lock() = next_cursor.clone();
        pass.complete = feed_done && next_cursor.is_none();
        Ok(pass)
    }

    /// Stages the deletion of the membership rows before `floor` from the
    /// (segment ‖ profile) group at `from` on, whole groups, until about
    /// `max_keys` keys were read. Returns how many rows it deletes and the
    /// group to go on from (`None`: the end of the family).
    fn trim_membership(
        &self,
        txn: &mut Txn<'_>,
        from: &[u8],
        floor: i64,
        max_keys: usize,
    ) -> Result<(u64, Option<Vec<u8>>)> {
        // Read-locked for the scan (the writer lock is held: no commit
        // changes the live set meanwhile).
        let segments = self.core.segments.read();
        let live = &segments.live;
        let mut deleted = 0;
        let mut read = 0;
        // The current group and its last row before the floor (key, member).
        let mut group: Option<[u8; 8]> = None;
        let mut last_before: Option<(Vec<u8>, bool)> = None;
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        let finish = |group: Option<[u8; 8]>, last: Option<(Vec<u8>, bool)>, doomed: &mut Vec<Vec<u8>>| {
            // A lone "not a member" row of a profile that is gone answers
            // as no row does.
            if let (Some(g), Some((k, false))) = (group, last) {
                if keys::parse_profile(&g[4..]).is_some_and(|p| !live.contains(p.0)) {
                    doomed.push(k);
                }
            }
        };
        let mut next = None;
        for kv in txn.view.range(schema::MEMBERSHIP.name, from, None)? {
            let (k, v) = kv?;
            let Some(g) = k.get(..8).and_then(|g| <[u8; 8]>::try_from(g).ok()) else { continue };
            if group != Some(g) {
                finish(group, last_before.take(), &mut doomed);
                if read >= max_keys {
                    next = Some(g.to_vec());
                    group = None;
                    break;
                }
                group = Some(g);
            }
            read += 1;
            let at = k.get(8..16).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(keys::i64_from_ordered_bytes);
            if at.is_some_and(|at| at < floor) {
                let member = schema::MEMBERSHIP.decode(&k, &v)?;
                if let Some((prev, _)) = last_before.replace((k.to_vec(), member)) {
                    doomed.push(prev);
                }
            }
        }
        finish(group, last_before.take(), &mut doomed);
        for k in doomed {
            txn.batch.delete(schema::MEMBERSHIP.name, &k);
            deleted += 1;
        }
        Ok((deleted, next))
    }

    /// Fails when `t` is before the membership-history floor.
    pub(crate) fn check_membership_floor(&self, segment: &str, t: Timestamp) -> Result<()> {
        let floor = self.core.retention.membership_ms();
        if floor != NO_FLOOR && t.0 < floor {
            return Err(crate::Error::MembershipBeforeRetention {
                segment: segment.to_owned(),
                requested: t,
                floor: Timestamp(floor),
            });
        }
        Ok(())
    }

    /// Fails when a feed cursor `from` is before the feed floor.
    pub(crate) fn check_feed_floor(&self, from: u64) -> Result<()> {
        let oldest = self.core.retention.feed_seq();
        if from < oldest {
            return Err(crate::Error::FeedTruncated { from, oldest });
        }
        Ok(())
    }
}
