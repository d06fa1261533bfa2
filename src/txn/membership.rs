//! Segment memberships, wake-ups and feed records staged by an operation.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;

use super::Txn;

impl Txn<'_> {
    /// Whether `p` is a member of segment `id`, staged changes included.
    pub fn is_member(&self, id: u32, p: ProfileId) -> bool {
        // Recursive: segment maintenance holds a read guard meanwhile.
        self.staged_member(id, p).unwrap_or_else(|| self.core.segments.read_recursive().for_writer().contains(id, p))
    }

    /// As [`Txn::is_member`], for a segment at hand.
    pub fn is_member_of(&self, segment: &crate::segment::state::Compiled, p: ProfileId) -> bool {
        self.staged_member(segment.def.id, p).unwrap_or_else(|| segment.members.contains(p.0))
    }

    /// The membership of `p` in segment `id` this operation staged, if any.
    fn staged_member(&self, id: u32, p: ProfileId) -> Option<bool> {
        self.members.get(&(id, p)).copied()
    }

    /// As [`Txn::is_member`], by segment name.
    pub fn is_member_by_name(&self, name: &str, p: ProfileId) -> bool {
        let id = self.core.segments.read_recursive().for_writer().get(name).map(|s| s.def.id);
        id.is_some_and(|id| self.is_member(id, p))
    }

    /// Stages a membership change with its feed record and history row.
    pub fn set_member(&mut self, id: u32, name: &str, p: ProfileId, member: bool) {
        self.set_member_at(id, name, p, member, self.now);
    }

    /// As [`Txn::set_member`], recorded at the instant `at` (the due
    /// instant of a wake-up processed late): its history row and its feed
    /// record's `at`.
    pub fn set_member_at(&mut self, id: u32, name: &str, p: ProfileId, member: bool, at: Timestamp) {
        self.settle(p);
        self.members.insert((id, p), member);
        let kind = if member { crate::segment::FeedKind::Entered } else { crate::segment::FeedKind::Exited };
        self.push_feed_at(kind, Some(name.to_owned()), p, at);
        schema::MEMBERSHIP.put(&mut self.batch, keys::segment::membership(id, p, at.0), &member);
    }

    /// Stages `p`'s removal from segment `id` with no feed record and no
    /// history row (erasure: both are deleted, not added to).
    pub fn unset_member_unrecorded(&mut self, id: u32, p: ProfileId) {
        self.settle(p);
        self.members.insert((id, p), false);
    }

    /// Whether this operation staged a contribution to `p`'s rollup
    /// `series` (an event it records for `p` that the series holds).
    pub fn staged_in_series(&self, p: ProfileId, series: u32) -> bool {
        self.staged_rollups.all_time(p, series, false).is_some()
    }

    /// The wake-up of segment `seg` for `p`, staged ones included.
    pub fn wakeup_of(&self, seg: u32, p: ProfileId) -> Result<Option<i64>> {
        match self.wakeups.get(&(seg, p)) {
            Some(due) => Ok(*due),
            None => self.core.wakeups.due(&self.view, seg, p),
        }
    }

    /// Records that the batch files (or clears, with `None`) the wake-up
    /// of segment `seg` for `p`.
    pub fn stage_wakeup(&mut self, seg: u32, p: ProfileId, due: Option<i64>) {
        self.settle(p);
        self.wakeups.insert((seg, p), due);
    }

    /// Stages a feed record.
    pub fn push_feed(&mut self, kind: crate::segment::FeedKind, segment: Option<String>, p: ProfileId) {
        self.push_feed_at(kind, segment, p, self.now);
    }

    /// Stages a feed record of something that happened at `at` (its
    /// sequence number is still the next one, so `at` may be earlier than
    /// an earlier record's).
    fn push_feed_at(&mut self, kind: crate::segment::FeedKind, segment: Option<String>, p: ProfileId, at: Timestamp) {
        self.settle(p);
        let seq = self.next_feed;
        self.next_feed += 1;
        let rec = crate::segment::FeedRecord { seq, at, kind, segment, profile: p };
        schema::FEED.put(&mut self.batch, seq.to_be_bytes(), &rec);
        self.feed.push(rec);
    }
}
