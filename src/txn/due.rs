//! Due wake-ups of a profile processed by the write about to change it.
//!
//! A wake-up is due once its instant is past; `tick()` processes it at
//! that instant, but a write may reach the profile first (the tick runs
//! late: a coarse interval, downtime). The write would then re-evaluate
//! the segment at its own time and replace the wake-up, and the change
//! due in between would never be recorded. So the first time an operation
//! stages anything about a profile (a record, a link, an event, a rollup,
//! a membership, a wake-up, a feed record) it processes that profile's
//! due wake-ups first, with the tick's code ([`crate::db::tick::apply`]),
//! in due order: each is evaluated at its due instant over what is
//! committed — nothing of the operation is staged for the profile yet —
//! and its changes are staged (history rows and feed records at that
//! instant, the next wake-up filed) ahead of the operation's own. The
//! result is what a tick run at the operation's time just before it
//! would have written for that profile; the tick finds those wake-ups
//! gone when the batch commits.
//!
//! The common case costs one probe of the profile's cached wake-ups (see
//! [`WakeupCache::due_by`](crate::segment::wakeups::WakeupCache::due_by)),
//! none for a profile the operation creates, and nothing when no segment
//! depends on time.
//!
//! Operations that do not maintain segments (`skip_segments`: the tick
//! itself, backfills, erasure, definitions) process nothing: a profile
//! they stage is only marked, so an erasure never records a change of the
//! person it erases.

use crate::error::Result;
use crate::profile::id::ProfileId;

use super::Txn;

impl Txn<'_> {
    /// Processes `p`'s due wake-ups, once per operation, unless the
    /// operation skips segment maintenance: called by every method that
    /// stages something about `p`, before it does. An evaluation that
    /// fails voids the operation: [`maintain_segments`](Txn::maintain_segments)
    /// (and so [`commit`](Txn::commit)) returns its error.
    pub(crate) fn settle(&mut self, p: ProfileId) {
        if !self.settled.insert(p) || self.skip_segments || self.settle_failed.is_some() {
            return;
        }
        if let Err(e) = self.apply_due(p) {
            self.settle_failed = Some((p, e));
        }
    }

    /// Applies `p`'s wake-ups due at the operation's time, as a tick would.
    fn apply_due(&mut self, p: ProfileId) -> Result<()> {
        // A profile this operation creates has filed nothing yet.
        if p.0 >= self.writer.next_profile_id {
            return Ok(());
        }
        let mut due: smallvec::SmallVec<[crate::db::tick::Wakeup; 4]> = {
            // The writer's segments (during a backfill, those being built).
            let guard = self.core.segments.read_recursive();
            let state = guard.for_writer();
            if state.timed.is_empty() {
                return Ok(());
            }
            let found = self.core.wakeups.due_by(&self.view, p, &state.timed, self.now.0)?;
            found.into_iter().map(|(at, seg)| (at, seg, p)).collect()
        };
        if due.is_empty() {
            return Ok(());
        }
        // The tick's order: by due instant, then segment.
        due.sort_unstable();
        crate::db::tick::apply(self, &due).map_err(|(_, e)| e)
    }
}
