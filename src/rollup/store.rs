//! Rollup and timeline persistence inside a write operation, and reads.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::Event;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::def::SeriesDef;
use crate::rollup::window::Window;
use crate::schema;
use crate::storage::View;
use crate::txn::Txn;

/// Stages the rollup contributions of `event` to `profile`: for every
/// series it belongs to (creating the event name's automatic series when
/// new), a merge operand on its day bucket and on its all-time value.
pub(crate) fn record_event(txn: &mut Txn<'_>, profile: ProfileId, event: &Event) -> Result<()> {
    let auto = SeriesDef { event: event.name.clone(), filter: Vec::new(), property: None };
    if txn.series_id(&auto).is_none() {
        let id = txn.add_series(auto.clone());
        schema::SERIES.put(&mut txn.batch, keys::rollup_def::series(id), &auto);
    }
    txn.mark_touched(profile);
    let day = event.timestamp.day();
    for (id, series) in txn.series_for(&event.name) {
        if !series.matches(event) {
            continue;
        }
        let acc = Acc::of_event(event, series.property.as_deref());
        let bytes = crate::codec::ValueCodec::encode_value(&acc);
        txn.batch.merge(schema::ROLLUPS.name, keys::rollup::day(profile, id, day), bytes.clone());
        txn.batch.merge(schema::ROLLUPS.name, keys::rollup::all_time(profile, id), bytes);
    }
    Ok(())
}

/// Stages `event` in `profile`'s timeline under sequence number `seq`.
pub(crate) fn store_event(txn: &mut Txn<'_>, profile: ProfileId, event: &Event, seq: u64) {
    schema::EVENTS.put(&mut txn.batch, keys::event(profile, event.timestamp.0, seq), event);
    txn.stage_event(profile, event);
}

/// Folds the accumulators of one series over a window.
pub(crate) fn read_window(
    view: &View<'_>,
    profile: ProfileId,
    series: u32,
    window: Window,
    now: Timestamp,
) -> Result<Acc> {
    match window.day_range(now) {
        None => Ok(schema::ROLLUPS.get(view, &keys::rollup::all_time(profile, series))?.unwrap_or_default()),
        Some((from, to)) => {
            let mut acc = Acc::default();
            let start = keys::rollup::day(profile, series, from);
            let end = keys::rollup::day(profile, series, to.saturating_add(1));
            for kv in view.range(schema::ROLLUPS.name, &start, Some(&end))? {
                let (k, v) = kv?;
                acc.fold(&schema::ROLLUPS.decode(&k, &v)?);
            }
            Ok(acc)
        }
    }
}

/// Moves the loser's timeline and rollups to the survivor (bucket-wise
/// merge: each loser accumulator becomes a merge operand on the same
/// survivor key).
pub(crate) fn move_profile_data(txn: &mut Txn<'_>, survivor: ProfileId, loser: ProfileId) -> Result<()> {
    let prefix = keys::profile(loser);
    let mut moves = Vec::new();
    for kv in txn.view.prefix(schema::ROLLUPS.name, &prefix)? {
        let (k, v) = kv?;
        if let Some((_, series, bucket)) = keys::rollup::parse(&k) {
            moves.push((k, keys::rollup::key(survivor, series, bucket), v));
        }
    }
    for (old, new, v) in moves {
        txn.batch.delete(schema::ROLLUPS.name, &old);
        txn.batch.merge(schema::ROLLUPS.name, new, v.into_vec());
    }
    let mut events = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &prefix)? {
        let (k, v) = kv?;
        let mut new = k.to_vec();
        new[..4].copy_from_slice(&survivor.0.to_be_bytes());
        events.push((k, new, v));
    }
    for (old, new, v) in events {
        txn.batch.delete(schema::EVENTS.name, &old);
        txn.batch.put(schema::EVENTS.name, new, v.into_vec());
    }
    Ok(())
}

/// The merge operator of the `rollup` column family: folds accumulators.
/// Operands this build wrote always decode; one that does not (corruption)
/// is skipped rather than failing compaction, which would switch the whole
/// database to read-only.
pub(crate) fn merge_accumulators(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &mut dyn Iterator<Item = &[u8]>,
) -> Option<Vec<u8>> {
    use crate::codec::ValueCodec;
    let mut acc = existing.and_then(|b| Acc::decode_value(b).ok()).unwrap_or_default();
    for op in operands {
        if let Ok(a) = Acc::decode_value(op) {
            acc.fold(&a);
        }
    }
    Some(acc.encode_value())
}
