//! [`Registry`]: the series and declared rollups, kept in memory and
//! persisted in the `rollup_def` column family.

use std::collections::BTreeMap;

use foldhash::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::keys;
use crate::rollup::def::{Filter, RollupDef, SeriesDef};
use crate::schema;
use crate::storage::View;

/// A declared rollup as stored: its definition and the series it reads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupRecord {
    /// The definition.
    pub def: RollupDef,
    /// The series id.
    pub series: u32,
}

/// Every series and declared rollup.
#[derive(Clone, Debug, Default)]
pub(crate) struct Registry {
    /// Series by id (ids are dense, in creation order).
    pub series: Vec<SeriesDef>,
    /// Series ids by event name.
    pub by_event: HashMap<String, Vec<u32>>,
    /// Declared rollups by name.
    pub rollups: BTreeMap<String, RollupRecord>,
    /// The declared rollup whose backfill is running (or was cut short:
    /// the next writable open finishes it), and how far it got. Its series
    /// is written by every event, but hidden from lookups (segments,
    /// queries, reads) until the backfill ends.
    pub building: Option<Building>,
}

/// A rollup being backfilled ([`crate::db::rollup_build`]).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Building {
    /// The rollup and its series.
    pub record: RollupRecord,
    /// Profiles below this id have been backfilled.
    pub watermark: u32,
    /// Profiles from this id on were created after the backfill began:
    /// every event of theirs reached the series as it was written.
    pub first_new: u32,
}

impl Building {
    /// Whether `p`'s buckets of the series may still lack events stored
    /// before the backfill began (the backfill has not reached it yet).
    pub fn pending(&self, p: crate::profile::id::ProfileId) -> bool {
        p.0 >= self.watermark && p.0 < self.first_new
    }
}

impl Registry {
    /// Loads the registry from the store.
    pub fn load(view: &View<'_>) -> Result<Registry> {
        let mut r = Registry::default();
        for kv in view.prefix(schema::SERIES.name, &[keys::rollup_def::SERIES])? {
            let (k, v) = kv?;
            r.add_series(schema::SERIES.decode(&k, &v)?);
        }
        for kv in view.prefix(schema::ROLLUP_DEFS.name, &[keys::rollup_def::ROLLUP])? {
            let (k, v) = kv?;
            let rec = schema::ROLLUP_DEFS.decode(&k, &v)?;
            r.rollups.insert(rec.def.name.clone(), rec);
        }
        if let Some(series) = schema::META_U32.get(view, keys::meta::ROLLUP_BACKFILL)? {
            // Not declared until its backfill ends.
            let name = r.rollups.values().find(|rec| rec.series == series).map(|rec| rec.def.name.clone());
            if let Some(record) = name.and_then(|n| r.rollups.remove(&n)) {
                r.building = Some(Building { record, watermark: 0, first_new: 0 });
            }
        }
        Ok(r)
    }

    /// Adds a series (id = current length).
    pub fn add_series(&mut self, s: SeriesDef) -> u32 {
        let id = self.series.len() as u32;
        self.by_event.entry(s.event.clone()).or_default().push(id);
        self.series.push(s);
        id
    }

    /// The id of an existing series equal to `s` (not one being backfilled).
    pub fn find_series(&self, s: &SeriesDef) -> Option<u32> {
        self.visible(&s.event).find(|id| self.series.get(*id as usize) == Some(s))
    }

    /// The series of `event` that lookups may answer from: every one but a
    /// series being backfilled (its buckets are not complete yet).
    fn visible(&self, event: &str) -> impl Iterator<Item = u32> + '_ {
        let hidden = self.building.as_ref().map(|b| b.record.series);
        self.by_event.get(event).into_iter().flatten().copied().filter(move |id| Some(*id) != hidden)
    }

    /// The id of a series of `event` without a filter accumulating
    /// `property` (`None`: the automatic series).
    pub fn plain_series(&self, event: &str, property: Option<&str>) -> Option<u32> {
        self.series_where(event, property, <[Filter]>::is_empty)
    }

    /// The series of `event` accumulating `property` whose filter `same`
    /// accepts.
    pub fn series_where(&self, event: &str, property: Option<&str>, same: impl Fn(&[Filter]) -> bool) -> Option<u32> {
        self.visible(event).find(|id| {
            self.series.get(*id as usize).is_some_and(|s| s.property.as_deref() == property && same(&s.filter))
        })
    }

    /// The automatic series of an event name (no filter, no property).
    pub fn auto_series(&self, event: &str) -> Option<u32> {
        self.find_series(&SeriesDef { event: event.to_owned(), filter: Vec::new(), property: None })
    }
}
