//! The read path: lookups by identifier and id, identifiers, history.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::graph::{identifiers_of, survivor_of};
use crate::identity::identifier::Identifier;
use crate::identity::link::IdentityLink;
use crate::profile::delta::Delta;
use crate::profile::history;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::schema;
use crate::storage::View;
use crate::txn::{load_profile, map_cached};

use super::ProfileDb;

/// The profile an identifier's link points to, through the cache, without
/// cloning the link.
fn resolve_link(core: &crate::core::Core, view: &View<'_>, ident: &Identifier) -> Result<Option<ProfileId>> {
    let key = crate::identity::cache_key::CacheKey::of(ident);
    core.identities.map_or_load(&key, |l| l.profile, || schema::IDENTITY.get(view, &crate::keys::identifier(ident)))
}

/// One identifier of a profile, with how it was linked.
#[derive(Clone, Debug, PartialEq)]
pub struct IdentifierInfo {
    /// The identifier.
    pub identifier: Identifier,
    /// Its link: origin profile, time, cause, detached flag.
    pub link: IdentityLink,
}

impl ProfileDb {
    /// The live profile id `identifier` reaches, if any.
    pub fn resolve(&self, identifier: &Identifier) -> Result<Option<ProfileId>> {
        resolve_link(&self.core, &self.core.store.latest(), identifier)
    }

    /// The profile `identifier` reaches, if any.
    pub fn get(&self, identifier: &Identifier) -> Result<Option<Arc<Profile>>> {
        let view = self.core.store.latest();
        let Some(p) = resolve_link(&self.core, &view, identifier)? else { return Ok(None) };
        self.live_profile(&view, p)
    }

    /// The profile with id `id`; an id that merged away reaches its survivor.
    pub fn get_by_id(&self, id: ProfileId) -> Result<Option<Arc<Profile>>> {
        self.live_profile(&self.core.store.latest(), id)
    }

    /// The profile of the live record `id` reaches. A cached record gives
    /// its profile under the cache lock, without taking (and dropping) a
    /// reference to the record itself.
    fn live_profile(&self, view: &View<'_>, id: ProfileId) -> Result<Option<Arc<Profile>>> {
        let profile_of = |p| map_cached(&self.core, view, p, |c| c.profile.clone());
        if let Some(profile) = profile_of(id)? {
            return Ok(Some(profile));
        }
        match survivor_of(view, id)? {
            Some(survivor) => profile_of(survivor),
            None => Ok(None),
        }
    }

    /// The live id `id` resolves to: itself, its survivor, or `None`.
    pub fn resolve_id(&self, id: ProfileId) -> Result<Option<ProfileId>> {
        let view = self.core.store.latest();
        // A record stored under an id is that id's: finding one (a cache hit
        // reads nothing of it) answers.
        let live = |p| Ok::<_, Error>(map_cached(&self.core, &view, p, |_| ())?.map(|()| p));
        if let Some(p) = live(id)? {
            return Ok(Some(p));
        }
        match survivor_of(&view, id)? {
            Some(survivor) => live(survivor),
            None => Ok(None),
        }
    }

    /// A snapshot, the commit epoch before it was taken, and the live id
    /// `id` resolves to in it: for reads of a profile's data by id that
    /// must come from the state the resolution came from (a merge
    /// committing in between moves the data away).
    pub(crate) fn resolved_snapshot(&self, id: ProfileId) -> Result<(View<'_>, u64, ProfileId)> {
        let since = self.core.commits.current();
        let view = self.core.store.snapshot();
        let live = |p: ProfileId| -> Result<Option<ProfileId>> {
            let mut cached = false;
            self.core.profiles.inspect(p, |_| cached = true);
            // A hit answers for the snapshot only if no commit started since.
            if cached && self.core.commits.unchanged(since) {
                return Ok(Some(p));
            }
            Ok(view.get(schema::PROFILES.name, &crate::keys::profile(p))?.map(|_| p))
        };
        let live = match live(id)? {
            Some(p) => Some(p),
            None => survivor_of(&view, id)?.map(live).transpose()?.flatten(),
        };
        let live = live.ok_or_else(|| Error::no_profile(id))?;
        Ok((view, since, live))
    }

    pub(crate) fn live_record(&self, view: &View<'_>, id: ProfileId) -> Result<Option<Arc<ProfileRecord>>> {
        if let Some(rec) = load_profile(&self.core, view, id)? {
            return Ok(Some(rec));
        }
        match survivor_of(view, id)? {
            Some(survivor) => load_profile(&self.core, view, survivor),
            None => Ok(None),
        }
    }

    fn require(&self, view: &View<'_>, id: ProfileId) -> Result<Arc<ProfileRecord>> {
        self.live_record(view, id)?.ok_or_else(|| Error::no_profile(id))
    }

    /// The identifiers linked to the profile `id` reaches.
    pub fn identifiers(&self, id: ProfileId) -> Result<Vec<Identifier>> {
        self.identifiers_in(&self.core.store.snapshot(), id).map(|(_, identifiers)| identifiers)
    }

    /// The identifiers of a profile with their links: when, by which
    /// operation, from which original profile.
    pub fn identity_graph(&self, id: ProfileId) -> Result<Vec<IdentifierInfo>> {
        let view = self.core.store.snapshot();
        let mut out = Vec::new();
        for identifier in self.identifiers_in(&view, id)?.1 {
            if let Some(link) = schema::IDENTITY.get(&view, &crate::keys::identifier(&identifier))? {
                out.push(IdentifierInfo { identifier, link });
            }
        }
        Ok(out)
    }

    /// The live profile `id` reaches in `view` and its identifiers there:
    /// both from the one state, whatever commits meanwhile.
    pub(super) fn identifiers_in(&self, view: &View<'_>, id: ProfileId) -> Result<(ProfileId, Vec<Identifier>)> {
        let live = self.record_in(view, id)?.profile.id;
        Ok((live, identifiers_of(view, live)?))
    }

    /// The retained deltas of a profile, oldest first (an id that merged
    /// away reads its survivor's).
    ///
    /// ```
    /// use profiledb::{Identifier, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let p = db.update(&ann, Update::new().set("plan", "free"))?.profile;
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// let versions: Vec<u64> = db.history(p)?.iter().map(|d| d.version).collect();
    /// assert_eq!(versions, [1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn history(&self, id: ProfileId) -> Result<Vec<Delta>> {
        let rec = self.require(&self.core.store.latest(), id)?;
        history::deltas(&self.core.store.snapshot(), rec.profile.id)
    }

    /// The profile exactly as it was at `version`. For an id that merged
    /// away, versions count in the history of the profile it reaches (as
    /// [`history`](Self::history) lists it); its own past before the merge
    /// is read by time ([`get_as_of_time`](Self::get_as_of_time)).
    pub fn get_as_of_version(&self, id: ProfileId, version: u64) -> Result<Profile> {
        let view = self.core.store.snapshot();
        let rec = self.record_in(&view, id)?;
        history::as_of_version(&view, &rec, version)
    }

    /// The profile as it was at time `t` (`None`: it did not exist yet).
    ///
    /// For an id that merged away, a time when it was a profile of its own
    /// (before its merge, or after an unmerge split it off again) reads its
    /// own history; a time when it was merged reads the history of the
    /// profile it had merged into — through every merge of a chain. Where
    /// retention folded away a merge, the time from the id's last delta
    /// before it to the end of the merge is [`Error::HistoryTruncated`] —
    /// for the merge it is still in, up to the time it had surely joined
    /// the profile it reaches now, which answers from then on. Where the
    /// profile it had merged into was erased since, that time reads its own
    /// history.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use profiledb::{Clock, Identifier, ManualClock, ProfileDb, Timestamp, Update};
    /// let dir = tempfile::tempdir()?;
    /// let clock = Arc::new(ManualClock::new(Timestamp::parse("2025-06-01T12:00:00Z")?));
    /// let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open()?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let p = db.update(&ann, Update::new().set("plan", "free"))?.profile;
    /// let then = clock.now();
    /// clock.advance(Timestamp::DAY);
    /// db.update(&ann, Update::new().set("plan", "pro"))?;
    /// let old = db.get_as_of_time(p, then)?.expect("ann existed then");
    /// assert_eq!(old.traits.get("plan"), Some(&"free".into()));
    /// assert!(db.get_as_of_time(p, Timestamp(then.0 - 1))?.is_none()); // before her first write
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_as_of_time(&self, id: ProfileId, t: Timestamp) -> Result<Option<Profile>> {
        let view = self.core.store.snapshot();
        super::as_of::profile_at(&view, id, t)
    }

    /// A live record read from `view` itself (no cache: snapshots must not
    /// mix with newer cached states).
    fn record_in(&self, view: &View<'_>, id: ProfileId) -> Result<ProfileRecord> {
        let key = crate::keys::profile(id);
        if let Some(r) = schema::PROFILES.get(view, &key)? {
            return Ok(r);
        }
        let survivor = survivor_of(view, id)?.ok_or_else(|| Error::no_profile(id))?;
        schema::PROFILES.get(view, &crate::keys::profile(survivor))?.ok_or_else(|| Error::no_profile(survivor))
    }

    /// Number of live profiles (a scan; for admin use).
    pub fn profile_count(&self) -> Result<u64> {
        let view = self.core.store.latest();
        let mut n = 0;
        for kv in view.range(schema::PROFILES.name, &[], None)? {
            kv?;
            n += 1;
        }
        Ok(n)
    }
}
