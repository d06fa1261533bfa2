//! [`Registry`]: the series and declared rollups, kept in memory and
//! persisted in the `rollup_def` column family.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::keys;
use crate::rollup::def::{RollupDef, SeriesDef};
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
    /// Declared rollups by name (add with [`Registry::insert_rollup`]).
    pub rollups: BTreeMap<String, RollupRecord>,
    /// Series read by a most-frequent or unique rollup: only these keep
    /// value frequencies in their accumulators.
    value_series: HashSet<u32>,
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
            r.insert_rollup(schema::ROLLUP_DEFS.decode(&k, &v)?);
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

    /// Records a declared rollup.
    pub fn insert_rollup(&mut self, rec: RollupRecord) {
        if rec.def.aggregate.needs_values() {
            self.value_series.insert(rec.series);
        }
        self.rollups.insert(rec.def.name.clone(), rec);
    }

    /// The id of an existing series equal to `s`.
    pub fn find_series(&self, s: &SeriesDef) -> Option<u32> {
        self.by_event.get(&s.event)?.iter().copied().find(|id| self.series.get(*id as usize) == Some(s))
    }

    /// The id of an existing series equal to `s` that a rollup reading
    /// value frequencies can use: one that keeps them (a series created
    /// for numeric rollups only has incomplete frequencies).
    pub fn find_series_for(&self, s: &SeriesDef, needs_values: bool) -> Option<u32> {
        if !needs_values {
            return self.find_series(s);
        }
        self.by_event
            .get(&s.event)?
            .iter()
            .copied()
            .find(|id| self.series.get(*id as usize) == Some(s) && self.value_series.contains(id))
    }

    /// The id of a series of `event` without a filter accumulating
    /// `property` (`None`: the automatic series).
    pub fn plain_series(&self, event: &str, property: Option<&str>) -> Option<u32> {
        self.by_event.get(event)?.iter().copied().find(|id| {
            self.series.get(*id as usize).is_some_and(|s| s.filter.is_empty() && s.property.as_deref() == property)
        })
    }

    /// Whether series `id` keeps value frequencies.
    pub fn keeps_values(&self, id: u32) -> bool {
        self.value_series.contains(&id)
    }

    /// The automatic series of an event name (no filter, no property).
    pub fn auto_series(&self, event: &str) -> Option<u32> {
        self.find_series(&SeriesDef { event: event.to_owned(), filter: Vec::new(), property: None })
    }
}
