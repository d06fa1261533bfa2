//! What a read-only look can tell about pending work: which profiles have
//! wake-ups due (what `check` tells apart from damage) and the feed's head.

use std::collections::BTreeSet;

use super::ProfileDb;
use crate::error::Result;
use crate::ProfileId;

impl ProfileDb {
    /// The profiles with a time-dependent membership change due now that
    /// no [`tick`](Self::tick) has processed (reading at most `cap` due
    /// wake-ups). Their stored memberships can differ from an evaluation
    /// at now — what [`check_segments`](Self::check_segments) reports —
    /// until a tick (or a write to the profile) processes them.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// assert!(db.due_wakeup_profiles(1_000)?.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn due_wakeup_profiles(&self, cap: usize) -> Result<BTreeSet<ProfileId>> {
        let view = self.core.store.snapshot();
        let mut out = BTreeSet::new();
        for w in super::tick::due_at(&view, self.now().0)?.take(cap) {
            let (_, _, profile) = w?;
            out.insert(profile);
        }
        Ok(out)
    }
}

impl ProfileDb {
    /// The change feed's head: the sequence number its next record will
    /// get (0 while it is empty). A [`feed`](Self::feed) cursor past it
    /// can never receive a record until the feed grows that far.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// let db = profiledb::ProfileDb::open(dir.path())?;
    /// assert_eq!(db.feed_head()?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn feed_head(&self) -> Result<u64> {
        let view = self.core.store.latest();
        Ok(crate::schema::META_U64.get(&view, crate::keys::meta::NEXT_FEED_SEQ)?.unwrap_or(0))
    }
}
