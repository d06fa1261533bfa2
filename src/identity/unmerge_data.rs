//! The events and rollups of an unmerge: the survivor's timeline events
//! that came only through the identifiers moving back go to the restored
//! profile, and both profiles' rollups are rebuilt from their timelines.
//!
//! Rollup buckets fold events without recording which profile each came
//! from, so they can only be split by rebuilding them from the events.
//! That is exact only while the survivor's timeline still holds every
//! event its rollups counted — timelines on, none cut by retention, no
//! bucket folded into a retired accumulator — which is checked by
//! rebuilding the survivor's all-time accumulators from its timeline and
//! comparing their counts with the stored ones. When it does not hold,
//! events and rollups stay with the survivor (the README says so).

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::ValueCodec;
use crate::error::Result;
use crate::event::Event;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::def::SeriesDef;
use crate::schema;
use crate::txn::Txn;

/// Rebuilt accumulators: (series, day) → day bucket, and series → all time.
#[derive(Default)]
struct Rebuilt {
    days: BTreeMap<(u32, i64), Acc>,
}

impl Rebuilt {
    fn of<'e>(events: impl Iterator<Item = &'e Event>, series: &[SeriesDef]) -> Rebuilt {
        let mut r = Rebuilt::default();
        for e in events {
            for (id, s) in series.iter().enumerate().filter(|(_, s)| s.matches(e)) {
                let acc = Acc::of_event(e, s.property.as_deref());
                let id = id as u32;
                r.days.entry((id, e.timestamp.day())).or_default().fold(&acc);
            }
        }
        r
    }
}

/// Moves to `origin` the events of `survivor` whose identifiers are all
/// among `back`, and rebuilds both profiles' rollups, staged in `txn` (its
/// reads see the result). Returns how many events moved, or `None` when
/// the survivor's timeline does not hold every event its rollups counted
/// (then nothing is moved).
pub(crate) fn split_events(
    txn: &mut Txn<'_>,
    survivor: ProfileId,
    origin: ProfileId,
    back: &[Identifier],
) -> Result<Option<usize>> {
    if txn.core.config.timeline_retention_ms == 0 {
        return Ok(None);
    }
    let prefix = keys::profile(survivor);
    let mut stored: Vec<(Box<[u8]>, Acc)> = Vec::new();
    for kv in txn.view.prefix(schema::ROLLUPS.name, &prefix)? {
        let (k, v) = kv?;
        let acc = schema::ROLLUPS.decode(&k, &v)?;
        stored.push((k, acc));
    }
    let mut events: Vec<(Box<[u8]>, Event)> = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &prefix)? {
        let (k, v) = kv?;
        let e = schema::EVENTS.decode(&k, &v)?;
        events.push((k, e));
    }
    let (series, pending) = {
        let reg = txn.core.rollups.read();
        let building = reg.building.as_ref().filter(|b| b.pending(survivor)).map(|b| b.record.series);
        (reg.series.clone(), building)
    };
    // Complete: every stored accumulator is a day bucket whose count the
    // timeline reproduces (but for a rollup backfill's series that has not
    // reached the survivor: the rebuild below completes it).
    let whole = Rebuilt::of(events.iter().map(|(_, e)| e), &series);
    for (k, acc) in &stored {
        let Some((_, id, bucket)) = keys::rollup::parse(k) else { return Ok(None) };
        if pending == Some(id) {
            continue;
        }
        // Not a day: a retired accumulator (folded buckets).
        let Some(day) = keys::rollup::bucket_day(bucket) else { return Ok(None) };
        if whole.days.get(&(id, day)).map_or(0, |a| a.count) != acc.count {
            return Ok(None);
        }
    }
    let back: BTreeSet<&Identifier> = back.iter().collect();
    let (moved, kept): (Vec<_>, Vec<_>) = events
        .into_iter()
        .partition(|(_, e)| !e.identifiers.is_empty() && e.identifiers.iter().all(|i| back.contains(i)));
    if moved.is_empty() {
        return Ok(Some(0));
    }
    for (k, _) in &stored {
        txn.batch.delete(schema::ROLLUPS.name, k);
    }
    for (k, e) in &moved {
        txn.batch.delete(schema::EVENTS.name, k);
        let mut new = k.to_vec();
        new[..4].copy_from_slice(&origin.0.to_be_bytes());
        schema::EVENTS.put(&mut txn.batch, new, e);
    }
    let n = moved.len();
    for (p, part) in [(survivor, kept), (origin, moved)] {
        let events: Vec<Event> = part.into_iter().map(|(_, e)| e).collect();
        let rebuilt = Rebuilt::of(events.iter(), &series);
        for ((id, day), acc) in &rebuilt.days {
            txn.batch.put(schema::ROLLUPS.name, keys::rollup::day(p, *id, *day), acc.encode_value());
        }
        txn.replace_events_and_rollups(p, events, rebuilt.days);
    }
    Ok(Some(n))
}
