//! [`Txn`]: one write operation in progress — reads that see its own
//! pending writes, one RocksDB batch, and the cache updates to publish
//! once the batch commits.

use std::collections::HashMap;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::core::{Core, WriterState};
use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::link::IdentityLink;
use crate::keys;
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::rollup::SeriesDef;
use crate::schema;
use crate::storage::{Batch, View};

/// The parts of a delta that the operation decides (version and time are
/// assigned by [`Txn::record_delta`]).
pub(crate) struct NewDelta {
    pub change: Change,
    pub cause: Cause,
    pub via: Vec<Identifier>,
    pub linked: Vec<Identifier>,
    pub unlinked: Vec<Identifier>,
}

impl NewDelta {
    /// A delta with no identifier bookkeeping.
    pub fn new(change: Change, cause: Cause) -> Self {
        NewDelta { change, cause, via: Vec::new(), linked: Vec::new(), unlinked: Vec::new() }
    }
}

/// One write operation. Built under the writer lock; nothing is visible to
/// readers until [`Txn::commit`], and dropping it discards everything.
pub(crate) struct Txn<'a> {
    pub core: &'a Core,
    writer: &'a mut WriterState,
    pub view: View<'a>,
    pub batch: Batch,
    /// The operation's time (the database clock, read once).
    pub now: Timestamp,
    next_id: u32,
    next_seq: u64,
    new_series: Vec<SeriesDef>,
    profiles: HashMap<ProfileId, Option<Arc<ProfileRecord>>>,
    links: HashMap<Identifier, Option<IdentityLink>>,
}

impl<'a> Txn<'a> {
    /// Starts an operation; `writer` proves the writer lock is held.
    pub fn new(core: &'a Core, writer: &'a mut WriterState) -> Self {
        let next_id = writer.next_profile_id;
        let next_seq = writer.next_event_seq;
        Txn {
            core,
            writer,
            view: core.store.latest(),
            batch: core.store.batch(),
            now: core.clock.now(),
            next_id,
            next_seq,
            new_series: Vec::new(),
            profiles: HashMap::new(),
            links: HashMap::new(),
        }
    }

    /// The current record of a live profile (`None`: no such live profile).
    pub fn profile(&self, id: ProfileId) -> Result<Option<Arc<ProfileRecord>>> {
        if let Some(p) = self.profiles.get(&id) {
            return Ok(p.clone());
        }
        load_profile(self.core, &self.view, id)
    }

    /// Where `ident` is linked, if anywhere.
    pub fn link(&self, ident: &Identifier) -> Result<Option<IdentityLink>> {
        if let Some(l) = self.links.get(ident) {
            return Ok(l.clone());
        }
        load_link(self.core, &self.view, ident)
    }

    /// The survivor an id was merged into, if it is an alias.
    pub fn alias_of(&self, id: ProfileId) -> Result<Option<ProfileId>> {
        Ok(schema::ALIAS_FORWARD.get(&self.view, &keys::alias::forward(id))?.map(ProfileId))
    }

    /// Allocates a fresh profile id (consumed only if the operation commits).
    pub fn allocate_id(&mut self) -> Result<ProfileId> {
        let id = self.next_id;
        self.next_id = id.checked_add(1).ok_or_else(|| Error::invalid("all 2^32 profile ids are used"))?;
        Ok(ProfileId(id))
    }

    /// Allocates a timeline sequence number.
    pub fn next_event_seq(&mut self) -> u64 {
        let s = self.next_seq;
        self.next_seq += 1;
        s
    }

    /// The id of a series, committed or staged.
    pub fn series_id(&self, s: &SeriesDef) -> Option<u32> {
        let reg = self.core.rollups.read();
        reg.find_series(s)
            .or_else(|| self.new_series.iter().position(|n| n == s).map(|i| (reg.series.len() + i) as u32))
    }

    /// Stages a new series; returns its id.
    pub fn add_series(&mut self, s: SeriesDef) -> u32 {
        let id = self.core.rollups.read().series.len() + self.new_series.len();
        self.new_series.push(s);
        id as u32
    }

    /// Every series (committed or staged) of an event name, with its id.
    pub fn series_for(&self, event: &str) -> Vec<(u32, SeriesDef)> {
        let reg = self.core.rollups.read();
        let mut out: Vec<(u32, SeriesDef)> = reg
            .by_event
            .get(event)
            .map(|ids| ids.iter().filter_map(|id| reg.series.get(*id as usize).map(|s| (*id, s.clone()))).collect())
            .unwrap_or_default();
        let base = reg.series.len();
        for (i, s) in self.new_series.iter().enumerate() {
            if s.event == event {
                out.push(((base + i) as u32, s.clone()));
            }
        }
        out
    }

    /// Stages a profile's new record.
    pub fn put_profile(&mut self, record: ProfileRecord) -> Arc<ProfileRecord> {
        let id = record.profile.id;
        schema::PROFILES.put(&mut self.batch, keys::profile(id), &record);
        let rec = Arc::new(record);
        self.profiles.insert(id, Some(rec.clone()));
        rec
    }

    /// Stages the removal of a profile's record (it merged away or was erased).
    pub fn delete_profile(&mut self, id: ProfileId) {
        schema::PROFILES.delete(&mut self.batch, keys::profile(id));
        self.profiles.insert(id, None);
    }

    /// Stages an identifier's link (and its reverse index entry; the old
    /// reverse entry, if the link moved, is removed).
    pub fn put_link(&mut self, ident: &Identifier, link: IdentityLink) -> Result<()> {
        if let Some(old) = self.link(ident)? {
            if old.profile != link.profile {
                schema::PROFILE_IDENTIFIERS.delete(&mut self.batch, keys::profile_identifier(old.profile, ident));
            }
        }
        schema::IDENTITY.put(&mut self.batch, keys::identifier(ident), &link);
        schema::PROFILE_IDENTIFIERS.put(
            &mut self.batch,
            keys::profile_identifier(link.profile, ident),
            &crate::codec::Marker,
        );
        self.links.insert(ident.clone(), Some(link));
        Ok(())
    }

    /// Stages the removal of an identifier's link.
    pub fn delete_link(&mut self, ident: &Identifier) -> Result<()> {
        if let Some(old) = self.link(ident)? {
            schema::PROFILE_IDENTIFIERS.delete(&mut self.batch, keys::profile_identifier(old.profile, ident));
        }
        schema::IDENTITY.delete(&mut self.batch, keys::identifier(ident));
        self.links.insert(ident.clone(), None);
        Ok(())
    }

    /// The time a delta on a profile whose record is `prev` is written at:
    /// the operation's time, but never earlier than the profile's previous
    /// delta (a clock stepping back cannot reorder history). Operators are
    /// applied at this time too, so replay reproduces the state exactly.
    pub fn time_for(&self, prev: Option<&ProfileRecord>) -> Timestamp {
        prev.map_or(self.now, |p| self.now.max(p.profile.updated_at))
    }

    /// Appends a delta to a profile's history and stages the resulting
    /// record (and a snapshot when one is due). `prev` is `None` for a new
    /// profile, whose first delta is version 1.
    pub fn record_delta(
        &mut self,
        id: ProfileId,
        prev: Option<&ProfileRecord>,
        traits: Traits,
        d: NewDelta,
    ) -> Arc<ProfileRecord> {
        let at = self.time_for(prev);
        let (version, created_at, floor, last_snapshot) = match prev {
            Some(p) => (
                p.profile.version + 1,
                p.profile.created_at,
                p.history_floor,
                p.last_snapshot,
            ),
            None => (1, self.now, 0, 0),
        };
        let delta =
            Delta { version, at, cause: d.cause, via: d.via, linked: d.linked, unlinked: d.unlinked, change: d.change };
        schema::DELTAS.put(&mut self.batch, keys::versioned(id, version), &delta);
        let profile = Profile { id, version, created_at, updated_at: at, traits };
        let snapshot_due = version - last_snapshot >= self.core.config.snapshot_every;
        if snapshot_due {
            schema::SNAPSHOTS.put(&mut self.batch, keys::versioned(id, version), &profile);
        }
        let record = ProfileRecord {
            profile: Arc::new(profile),
            history_floor: floor,
            last_snapshot: if snapshot_due { version } else { last_snapshot },
        };
        self.put_profile(record)
    }

    /// Commits the batch, then publishes every staged state to the caches.
    pub fn commit(self) -> Result<()> {
        let mut batch = self.batch;
        if self.next_id != self.writer.next_profile_id {
            schema::META_U32.put(&mut batch, keys::meta::NEXT_PROFILE_ID, &self.next_id);
        }
        if self.next_seq != self.writer.next_event_seq {
            schema::META_U64.put(&mut batch, keys::meta::NEXT_EVENT_SEQ, &self.next_seq);
        }
        if !batch.is_empty() {
            self.core.store.commit(batch)?;
        }
        self.writer.next_profile_id = self.next_id;
        self.writer.next_event_seq = self.next_seq;
        if !self.new_series.is_empty() {
            let mut reg = self.core.rollups.write();
            for s in self.new_series {
                reg.add_series(s);
            }
        }
        for (id, rec) in self.profiles {
            self.core.profiles.publish(id, rec);
        }
        for (ident, link) in self.links {
            self.core.identities.publish(ident, link);
        }
        Ok(())
    }
}

/// Reads a live profile's record through the cache.
pub(crate) fn load_profile(core: &Core, view: &View<'_>, id: ProfileId) -> Result<Option<Arc<ProfileRecord>>> {
    core.profiles.get_or_load(&id, || Ok(schema::PROFILES.get(view, &keys::profile(id))?.map(Arc::new)))
}

/// Reads an identifier's link through the cache.
pub(crate) fn load_link(core: &Core, view: &View<'_>, ident: &Identifier) -> Result<Option<IdentityLink>> {
    core.identities.get_or_load(ident, || schema::IDENTITY.get(view, &keys::identifier(ident)))
}
