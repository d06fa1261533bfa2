//! Rollup and timeline persistence inside a write operation, and reads.

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::Event;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::acc::Acc;
use crate::rollup::cache::LAST_DAY;
use crate::rollup::contribution::Contribution;
use crate::rollup::def::SeriesDef;
use crate::rollup::window::Window;
use crate::schema;
use crate::storage::{Cursor, View};
use crate::txn::Txn;

/// Stages the rollup contributions of `event` to `profile`: for every
/// series it belongs to (creating the event name's automatic series when
/// new), a merge operand on its day bucket. The all-time value is the
/// fold of the retired accumulator and the day buckets ([`read_all_time`]):
/// no key of its own to write on every event (format 8).
pub(crate) fn record_event(txn: &mut Txn<'_>, profile: ProfileId, event: &Event) -> Result<()> {
    let core = txn.core;
    let mut contributions: Vec<(u32, Contribution)> = Vec::new();
    let mut has_auto = false;
    {
        let reg = core.rollups.read();
        let staged = txn.staged_series();
        let committed = reg
            .by_event
            .get(&event.name)
            .into_iter()
            .flatten()
            .filter_map(|id| reg.series.get(*id as usize).map(|s| (*id, s)));
        let base = reg.series.len() as u32;
        let fresh = staged.iter().enumerate().filter(|(_, s)| s.event == event.name).map(|(i, s)| (base + i as u32, s));
        for (id, series) in committed.chain(fresh) {
            has_auto |= series.filter.is_empty() && series.property.is_none();
            if series.matches(event) {
                contributions.push((id, Contribution::of_event(event, series.property.as_deref(), true)));
            }
        }
    }
    if !has_auto {
        let auto = SeriesDef { event: event.name.clone(), filter: Vec::new(), property: None };
        let id = txn.add_series(auto.clone());
        schema::SERIES.put(&mut txn.batch, keys::rollup_def::series(id), &auto);
        contributions.push((id, Contribution::of_event(event, None, true)));
    }
    txn.note_event(profile, &event.name);
    let day = event.timestamp.day();
    for (id, c) in contributions {
        txn.batch.merge(schema::ROLLUPS.name, keys::rollup::day(profile, id, day), c.encode());
        txn.stage_rollup(profile, id, c);
    }
    Ok(())
}

/// Stages `event` in `profile`'s timeline under sequence number `seq`.
pub(crate) fn store_event<'a>(txn: &mut Txn<'a>, profile: ProfileId, event: &'a Event, seq: u64) {
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
        None => read_all_time(view, profile, series),
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

/// The committed all-time accumulator of one series of one profile: its
/// retired accumulator folded with every day bucket.
pub(crate) fn read_all_time(view: &View<'_>, profile: ProfileId, series: u32) -> Result<Acc> {
    Ok(read_series(view, profile, series, LAST_DAY)?.0)
}

/// The committed all-time accumulator of every series `profile` has
/// buckets of, by series id: one scan of the profile's keys, each series
/// folded as [`read_all_time`] folds it (the all-time keys of formats 2–7
/// skipped).
pub(crate) fn read_profile_all_time(
    view: &View<'_>,
    profile: ProfileId,
) -> Result<std::collections::BTreeMap<u32, Acc>> {
    let mut out: std::collections::BTreeMap<u32, Acc> = std::collections::BTreeMap::new();
    for kv in view.prefix(schema::ROLLUPS.name, &profile.0.to_be_bytes())? {
        let (k, v) = kv?;
        let (_, series, bucket) = keys::rollup::parse(&k).ok_or_else(|| {
            crate::storage::corrupt_key(schema::ROLLUPS.name, &k, "expected profile ‖ series ‖ bucket")
        })?;
        if bucket == keys::rollup::ALL_TIME {
            continue;
        }
        out.entry(series).or_default().fold(&schema::ROLLUPS.decode(&k, &v)?);
    }
    Ok(out)
}

/// A series as stored: its all-time accumulator and its day buckets from
/// some day on, ascending.
pub(crate) type SeriesRead = (Acc, Vec<(i64, Acc)>);

/// One scan of a series' buckets: the all-time accumulator (the retired
/// one folded with every day bucket) and the day buckets with
/// `day >= from`, ascending. An all-time key left by format 7 or older (a
/// read-only handle on an older database) is skipped: it always equalled
/// this fold.
pub(crate) fn read_series(view: &View<'_>, profile: ProfileId, series: u32, from: i64) -> Result<SeriesRead> {
    let mut out = SeriesRead::default();
    let (start, end) = series_keys(profile, series);
    for kv in view.range(schema::ROLLUPS.name, &start, Some(&end))? {
        let (k, v) = kv?;
        fold_stored(&mut out, &k, &v, from)?;
    }
    Ok(out)
}

/// Every series of `wanted` of `profile`, each as [`read_series`] reads
/// it, through `cursor` (a backfill's loads: one iterator re-positioned
/// for each, rather than one made per series and profile).
pub(crate) fn read_profile_series(
    cursor: &mut Cursor<'_>,
    profile: ProfileId,
    wanted: &[u32],
    from: i64,
) -> Result<Vec<SeriesRead>> {
    let mut out = Vec::with_capacity(wanted.len());
    for &series in wanted {
        let mut read = SeriesRead::default();
        let (start, end) = series_keys(profile, series);
        cursor.scan(&start, &end, |k, v| fold_stored(&mut read, k, v, from))?;
        out.push(read);
    }
    Ok(out)
}

/// The bounds of a series' buckets in scans: from its first possible
/// bucket to the all-time key of formats 2–7 (excluded).
fn series_keys(profile: ProfileId, series: u32) -> ([u8; 16], [u8; 16]) {
    (keys::rollup::key(profile, series, [0; 8]), keys::rollup::all_time(profile, series))
}

/// Folds a stored bucket into a series' all-time accumulator, and keeps it
/// as a day bucket when it is one from day `from` on.
fn fold_stored((all, days): &mut SeriesRead, k: &[u8], v: &[u8], from: i64) -> Result<()> {
    let (_, _, bucket) = keys::rollup::parse(k)
        .ok_or_else(|| crate::storage::corrupt_key(schema::ROLLUPS.name, k, "expected profile ‖ series ‖ bucket"))?;
    let acc = schema::ROLLUPS.decode(k, v)?;
    all.fold(&acc);
    if let Some(day) = keys::rollup::bucket_day(bucket).filter(|d| *d >= from) {
        days.push((day, acc));
    }
    Ok(())
}

/// The committed retired accumulator of one series of one profile (the
/// day buckets bucket retention folded; empty if none).
pub(crate) fn read_retired(view: &View<'_>, profile: ProfileId, series: u32) -> Result<Acc> {
    Ok(schema::ROLLUPS.get(view, &keys::rollup::retired(profile, series))?.unwrap_or_default())
}

/// The committed day accumulators with `from <= day <= to`, ascending, appended to `out`.
pub(crate) fn read_days(
    view: &View<'_>,
    profile: ProfileId,
    series: u32,
    from: i64,
    to: i64,
    out: &mut Vec<(i64, Acc)>,
) -> Result<()> {
    if from > to {
        return Ok(());
    }
    let start = keys::rollup::day(profile, series, from);
    let end = keys::rollup::day(profile, series, to.saturating_add(1));
    for kv in view.range(schema::ROLLUPS.name, &start, Some(&end))? {
        let (k, v) = kv?;
        let day = k.get(8..16).and_then(|b| b.try_into().ok()).map(keys::i64_from_ordered_bytes);
        let day = day
            .ok_or_else(|| crate::storage::corrupt_key(schema::ROLLUPS.name, &k, "expected profile ‖ series ‖ day"))?;
        out.push((day, schema::ROLLUPS.decode(&k, &v)?));
    }
    Ok(())
}

/// The stored events of `profile` named `name` with `from <= time < to`,
/// in timeline order. Events of other names are skipped by their encoded
/// name, without decoding them.
pub(crate) fn read_timeline(
    view: &View<'_>,
    profile: ProfileId,
    name: &str,
    from: Timestamp,
    to: Timestamp,
    out: &mut Vec<Event>,
) -> Result<()> {
    if to <= from {
        return Ok(());
    }
    let start = keys::event_from(profile, from.0);
    let end = keys::event_from(profile, to.0);
    for kv in view.range(schema::EVENTS.name, &start, Some(&end))? {
        let (k, v) = kv?;
        if peek_name(&v).is_some_and(|n| n != name.as_bytes()) {
            continue;
        }
        let e = schema::EVENTS.decode(&k, &v)?;
        if e.name == name {
            out.push(e);
        }
    }
    Ok(())
}

/// The name of a stored event, read from its encoding without decoding
/// the rest: `tag ‖ bincode(message_id: Option<String>, kind, name, …)`.
/// `None` when the bytes do not have that shape (the caller then decodes
/// them fully, which reports any corruption).
fn peek_name(bytes: &[u8]) -> Option<&[u8]> {
    let (&tag, mut b) = bytes.split_first()?;
    if tag != crate::codec::tags::EVENT {
        return None;
    }
    match b.split_first()? {
        (0, rest) => b = rest,
        (1, rest) => {
            let (len, rest) = varint(rest)?;
            b = rest.get(len..)?;
        }
        _ => return None,
    }
    let (_kind, rest) = varint(b)?;
    let (len, rest) = varint(rest)?;
    rest.get(..len)
}

/// A bincode variable-length unsigned integer (little-endian after a
/// 251/252/253 marker), as a length.
fn varint(b: &[u8]) -> Option<(usize, &[u8])> {
    let (&first, rest) = b.split_first()?;
    let (n, rest) = match first {
        0..=250 => (u64::from(first), rest),
        251 => (u64::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?)), rest.get(2..)?),
        252 => (u64::from(u32::from_le_bytes(rest.get(..4)?.try_into().ok()?)), rest.get(4..)?),
        253 => (u64::from_le_bytes(rest.get(..8)?.try_into().ok()?), rest.get(8..)?),
        _ => return None,
    };
    Some((usize::try_from(n).ok()?, rest))
}

/// Moves the loser's timeline and rollups to the survivor (bucket-wise
/// merge: each loser accumulator becomes a merge operand on the same
/// survivor key). Reads the loser's stored data only: `merge_into` refuses
/// a loser with writes staged in the same batch.
pub(crate) fn move_profile_data(txn: &mut Txn<'_>, survivor: ProfileId, loser: ProfileId) -> Result<()> {
    txn.rollups_rewritten(survivor);
    txn.rollups_rewritten(loser);
    let prefix = keys::profile(loser);
    let mut events = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &prefix)? {
        let (k, v) = kv?;
        let mut new = k.to_vec();
        new[..4].copy_from_slice(&survivor.0.to_be_bytes());
        events.push((k, new, v));
    }
    // A rollup backfill that has not reached the loser: its timeline's
    // fold replaces its buckets of that series.
    let unreached = txn.core.rollups.read().building.as_ref().is_some_and(|b| b.pending(loser));
    let pending = match unreached {
        true => {
            let decoded: Vec<Event> =
                events.iter().map(|(k, _, v)| schema::EVENTS.decode(k, v)).collect::<Result<_>>()?;
            crate::db::rollup_build::pending_loser(txn, survivor, loser, &decoded)
        }
        false => None,
    };
    let mut moves = Vec::new();
    for kv in txn.view.prefix(schema::ROLLUPS.name, &prefix)? {
        let (k, v) = kv?;
        if let Some((_, series, bucket)) = keys::rollup::parse(&k) {
            let to = (pending != Some(series)).then(|| keys::rollup::key(survivor, series, bucket));
            moves.push((k, to, v));
        }
    }
    for (old, new, v) in moves {
        txn.batch.delete(schema::ROLLUPS.name, &old);
        if let Some(new) = new {
            txn.batch.merge(schema::ROLLUPS.name, new, v.into_vec());
        }
    }
    for (old, new, v) in events {
        txn.batch.delete(schema::EVENTS.name, &old);
        txn.batch.put(schema::EVENTS.name, new, v.into_vec());
    }
    Ok(())
}

/// The merge operator of the `rollup` column family: folds accumulators
/// (exactly, sums included: however RocksDB groups the operands, the value
/// is the same) and writes them under tag `0x1a`, whatever tag (`0x07`,
/// `0x19`, `0x1a`) they came in.
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::codec::ValueCodec;
    use crate::event::EventKind;
    use crate::rollup::exact_sum::ExactSum;
    use crate::Identifier;

    /// The merge operator's fold of `operands` onto `existing`, decoded.
    fn merged(existing: Option<&[u8]>, operands: &[Vec<u8>]) -> Vec<u8> {
        merge_accumulators(b"k", existing, &mut operands.iter().map(Vec::as_slice)).unwrap()
    }

    proptest! {
        /// RocksDB folds operands in groups that depend on flush and
        /// compaction timing, partial results folded again: every order
        /// and grouping stores the same sum, the exact one.
        #[test]
        fn merged_operands_give_one_sum_whatever_the_grouping(
            (amounts, shuffled) in prop::collection::vec(
                prop_oneof![
                    prop::sample::select(vec![0.01, 2.2, 5.01, 19.99, 0.1, 0.7, 1e16, -1e16, 3.0]),
                    (-1_000_000i64..1_000_000).prop_map(|c| c as f64 / 100.0),
                ],
                1..24,
            )
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            cuts in prop::collection::vec(any::<bool>(), 24),
        ) {
            let operand = |x: f64| Contribution { time: 5, number: Some(x), key: None }.encode();
            let in_order = merged(None, &amounts.iter().map(|x| operand(*x)).collect::<Vec<_>>());
            // The shuffled operands in runs (flushes), each run's result
            // folded onto the value so far (compactions).
            let mut stored: Option<Vec<u8>> = None;
            let mut run = Vec::new();
            for (i, x) in shuffled.iter().enumerate() {
                run.push(operand(*x));
                if cuts[i] || i + 1 == shuffled.len() {
                    let value = merged(None, &std::mem::take(&mut run));
                    stored = Some(merged(stored.as_deref(), &[value]));
                }
            }
            let want = amounts.iter().copied().collect::<ExactSum>().value();
            for bytes in [&in_order, &stored.unwrap_or_default()] {
                let acc = Acc::decode_value(bytes).unwrap();
                prop_assert_eq!(acc.sum.value().to_bits(), want.to_bits(), "{:?}", acc.sum);
                prop_assert_eq!(acc.numeric, amounts.len() as u64);
            }
        }
    }

    #[test]
    fn peeked_names_match_the_encoding() {
        let ids = vec![Identifier::new("user_id", "u").unwrap()];
        for (name, message_id) in [
            ("purchase", None),
            ("page_view", Some("m-1".to_owned())),
            (&*"n".repeat(300), Some("x".repeat(70_000))),
            ("é", Some(String::new())),
        ] {
            let mut e = Event::new(EventKind::Track, name, Timestamp(5), ids.clone());
            e.message_id = message_id;
            e.properties.insert("amount", 3);
            let bytes = e.encode_value();
            assert_eq!(peek_name(&bytes), Some(name.as_bytes()));
        }
        assert_eq!(peek_name(&[]), None);
        assert_eq!(peek_name(&[crate::codec::tags::EVENT, 7]), None);
        assert_eq!(peek_name(&[crate::codec::tags::ACC, 0, 0, 1, b'a']), None);
    }
}
