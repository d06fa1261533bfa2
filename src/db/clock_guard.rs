//! The clock guard of retention: a clock that jumps far ahead (bad NTP, a
//! VM restored with a wrong hardware clock) must not delete data that is
//! still inside its retention.
//!
//! Every retention step that raises a floor records its clock in
//! `meta/retention_clock` (same batch); the clock at open also counts as
//! seen (in memory only, never written: what is recorded depends on the
//! operations alone). A later step whose clock is more than
//! `max_clock_jump` ahead of the later of the two raises nothing and
//! deletes nothing: it fails with [`Error::ClockJump`]. The hold ends by
//! itself when the clock comes back within range (a clock that ran ahead
//! and was corrected: nothing was lost), or when the application confirms
//! the clock with [`ProfileDb::accept_clock`] (the process really was
//! suspended that long, or its clock was meant to move: a replay of
//! history). Writes and reads are not held: only retention (and the
//! tick's wake-ups) is.
//!
//! So the guard watches the clock while a handle is open. A database
//! closed for longer than `max_clock_jump` follows the clock it is
//! reopened with — a legitimate pause, far more common than a clock
//! already wrong when the process starts, which it cannot tell apart and
//! does not catch. The recorded clock never goes back (a step on a clock
//! set back records the later time it had seen; only `accept_clock` sets
//! it lower).

use std::sync::atomic::Ordering;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::keys;
use crate::rollup::retention::{stage_floor, NO_FLOOR};
use crate::storage::Batch;
use crate::txn::Txn;

use super::ProfileDb;

/// The default `max_clock_jump`: 7 days. A pause up to a week (a long
/// weekend's outage, a maintenance window) is followed on its own; a
/// clock error of up to a week costs at most the oldest week of each
/// retention, and anything larger waits for confirmation.
pub const DEFAULT_MAX_CLOCK_JUMP_MS: i64 = 7 * Timestamp::DAY;

impl ProfileDb {
    /// Fails with [`Error::ClockJump`] when a retention step at `now`
    /// would follow a clock jump larger than `max_clock_jump`.
    pub(crate) fn check_clock_jump(&self, now: i64) -> Result<()> {
        let max = self.core.config.max_clock_jump_ms;
        let floors = &self.core.retention;
        let last = floors.clock_ms.load(Ordering::Acquire).max(floors.clock_seed.load(Ordering::Acquire));
        if max == 0 || last == NO_FLOOR || now <= last.saturating_add(max) {
            return Ok(());
        }
        Err(Error::ClockJump {
            from: Timestamp(last),
            to: Timestamp(now),
            ahead_days: (now - last) as f64 / Timestamp::DAY as f64,
        })
    }

    /// Stages the retention clock `now`, in the batch of a step that
    /// raises a floor; [`published`](Self::publish_retention_clock) after
    /// its commit.
    pub(crate) fn stage_retention_clock(batch: &mut Batch, now: i64) {
        stage_floor(batch, keys::meta::RETENTION_CLOCK, now);
    }

    /// The retention clock a step at `now` records: it never goes back (a
    /// step on a clock set back records the later time it had seen).
    pub(crate) fn next_retention_clock(&self, now: i64) -> i64 {
        now.max(self.core.retention.clock_ms.load(Ordering::Acquire))
    }

    /// Publishes the retention clock a committed step recorded.
    pub(crate) fn publish_retention_clock(&self, now: i64) {
        self.core.retention.clock_ms.store(now, Ordering::Release);
    }

    /// Accepts the clock's now as right after [`Error::ClockJump`] held
    /// retention: records it as the last retention step's clock, so the
    /// next retention step ([`tick`](Self::tick),
    /// [`enforce_retention`](Self::enforce_retention)) raises the floors
    /// to now − retention and deletes what is older. Call it only once the
    /// clock is known to be right (the process was suspended longer than
    /// `max_clock_jump`, or a replay of history moved its clock to now):
    /// with a clock still ahead, that step deletes data inside its
    /// retention for good. A database reopened after a long pause needs no
    /// call: the clock at open counts as seen. Returns the time accepted.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use profiledb::{Error, ManualClock, ProfileDb, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let clock = Arc::new(ManualClock::new(Timestamp::parse("2025-06-01T00:00:00Z")?));
    /// let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open()?;
    /// db.tick()?;
    /// clock.advance(60 * Timestamp::DAY); // a VM suspended two months, say
    /// assert!(matches!(db.tick(), Err(Error::ClockJump { .. })));
    /// db.accept_clock()?; // the clock was checked: it is right
    /// db.tick()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn accept_clock(&self) -> Result<Timestamp> {
        self.writable("accept_clock")?;
        let mut writer = self.core.writer.lock();
        let now = self.core.clock.now();
        let mut txn = Txn::new(&self.core, &mut writer);
        Self::stage_retention_clock(&mut txn.batch, now.0);
        txn.commit()?;
        self.publish_retention_clock(now.0);
        Ok(now)
    }
}
