//! [`ProfileView`]: a profile with its rollups and segments.

use std::sync::Arc;

use crate::error::Result;
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::profile::state::Profile;
use crate::rollup::RollupValue;

use super::ProfileDb;

/// Everything the database knows about one person: the profile (traits,
/// consent, versions), the all-time value of every declared rollup and of
/// the count, first and last time of every event name it has events of (as
/// [`ProfileDb::rollups_of`] lists them), and the segments it is in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProfileView {
    /// The profile.
    pub profile: Arc<Profile>,
    /// Rollup values over all time, by name: `<event>.count`,
    /// `<event>.first` and `<event>.last` for each event name it has
    /// (sorted by event name), then the declared rollups (sorted by name).
    /// [`ProfileDb::rollup`] reads any of these names over other windows.
    pub rollups: Vec<(String, RollupValue)>,
    /// Names of the segments it is a member of, sorted by name, except that
    /// a segment defined over other segments comes after those (the order
    /// segments are evaluated in; not the order they were defined in).
    pub segments: Vec<String>,
}

impl ProfileDb {
    /// The profile `identifier` reaches with its rollups and segments
    /// (`None`: no profile has the identifier). The three parts are read
    /// one after the other: a write landing in between shows in the later
    /// parts only. Rollups over other windows: [`rollup`](Self::rollup).
    ///
    /// ```
    /// use profiledb::event::{Event, EventKind};
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// db.track(&Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]))?;
    /// db.define_segment("buyers", "count(purchase) >= 1")?;
    /// let view = db.get_full(&ann)?.expect("ann has a profile");
    /// assert_eq!(view.profile.traits.get("plan"), Some(&"pro".into()));
    /// assert!(view.rollups.iter().any(|(name, v)| name == "purchase.count" && v.as_f64() == Some(1.0)));
    /// assert_eq!(view.segments, ["buyers"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_full(&self, identifier: &Identifier) -> Result<Option<ProfileView>> {
        match self.resolve(identifier)? {
            Some(p) => self.get_full_by_id(p),
            None => Ok(None),
        }
    }

    /// As [`get_full`](Self::get_full), by id (an id that merged away
    /// reaches its survivor).
    pub fn get_full_by_id(&self, id: ProfileId) -> Result<Option<ProfileView>> {
        let Some(profile) = self.get_by_id(id)? else { return Ok(None) };
        let rollups = self.rollups_of(profile.id)?;
        let segments = self.segments_of(profile.id)?;
        Ok(Some(ProfileView { profile, rollups, segments }))
    }
}
