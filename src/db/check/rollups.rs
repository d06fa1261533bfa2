//! Rollups and timelines: series definitions, ownership of buckets and
//! events, all-time = retired ⊕ day buckets (where an older format's
//! all-time bucket is still there), and day buckets equal to a
//! recomputation from the stored events where the timelines cover them.

use std::collections::{BTreeMap, HashMap};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::rollup::def::SeriesDef;
use crate::rollup::retention::NO_FLOOR;
use crate::rollup::Acc;
use crate::schema;

use super::{inv, Checker};

/// What one (profile, series) holds in the `rollup` column family.
#[derive(Default)]
struct Stored {
    all_time: Option<Acc>,
    retired: Acc,
    /// Day buckets, by day.
    days: BTreeMap<i64, Acc>,
}

/// What the timelines say about one (profile, series).
#[derive(Default)]
struct Expected {
    /// Fold of the events of each fully covered day.
    days: BTreeMap<i64, Acc>,
    /// Number of events on days the timelines no longer fully cover.
    earlier: u64,
    /// Some event was scrubbed by `anonymize` (it has no identifiers, which
    /// ingest never stores): its dropped or hashed properties no longer
    /// give the bucket's sums and value sets, only its counts and times.
    scrubbed: bool,
    /// Scrubbed events of the series' name on each fully covered day that
    /// a filtered series may or may not hold: the filter read properties
    /// that `anonymize` dropped, hashed or generalized, so only bounds are
    /// left (the bucket counts at least the events that still pass, at
    /// most those plus these).
    undecided: BTreeMap<i64, u64>,
}

impl Checker<'_> {
    /// Checks `rollup_def`, `event` and `rollup`.
    pub(super) fn rollups(&mut self) -> Result<()> {
        let series = self.series_defs()?;
        // Days on or after this one are fully covered by the timelines.
        let timeline_floor = self.floor(keys::meta::TIMELINE_FLOOR)?;
        let bucket_floor = self.floor(keys::meta::ROLLUP_FLOOR_DAY)?;
        let covered_from = if self.timelines {
            let t = if timeline_floor == NO_FLOOR { NO_FLOOR } else { ceil_day(timeline_floor) };
            t.max(bucket_floor)
        } else {
            i64::MAX
        };
        let mut expected = self.events(&series, covered_from)?;
        if !self.timelines {
            expected.clear(); // nothing to recompute from
        }
        let mut stored = self.buckets(series.len())?;
        // A rollup whose backfill has not finished: its series' buckets
        // are partly folded (reported, not compared).
        if let Some(s) = schema::META_U32.get(self.view, keys::meta::ROLLUP_BACKFILL)? {
            stored.retain(|(_, series), _| *series != s);
            expected.retain(|(_, series), _| *series != s);
            let name = self.core.rollups.read().building.as_ref().map(|b| b.record.def.name.clone());
            self.report.rollup_backfill_pending = Some(name.unwrap_or_else(|| format!("of series {s}")));
        }
        self.compare(stored, expected, covered_from);
        Ok(())
    }

    /// Reads the series and declared rollups; series by id (`None`: undecodable).
    fn series_defs(&mut self) -> Result<Vec<Option<SeriesDef>>> {
        let view = self.view;
        let mut series = Vec::new();
        for kv in view.prefix(schema::SERIES.name, &[keys::rollup_def::SERIES])? {
            let (k, v) = kv?;
            let id = k.get(1..5).filter(|_| k.len() == 5).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes);
            let Some(id) = id else {
                self.bad_key(schema::SERIES.name, &k, "0x01 ‖ series id");
                continue;
            };
            if id as usize != series.len() {
                self.violation(
                    inv::ROLLUP_DEFS,
                    format!("series {id} follows series {}: ids are not dense", series.len()),
                );
            }
            series.push(self.decode(schema::SERIES, &k, &v));
        }
        for kv in view.prefix(schema::ROLLUP_DEFS.name, &[keys::rollup_def::ROLLUP])? {
            let (k, v) = kv?;
            let Some(rec) = self.decode(schema::ROLLUP_DEFS, &k, &v) else { continue };
            if k[1..] != *rec.def.name.as_bytes() {
                let d =
                    format!("rollup stored under {:?} is named {:?}", String::from_utf8_lossy(&k[1..]), rec.def.name);
                self.violation(inv::ROLLUP_DEFS, d);
            }
            match series.get(rec.series as usize) {
                Some(Some(s)) if *s == rec.def.series() => {}
                Some(None) => {}
                _ => {
                    let d = format!("rollup {:?} names series {}, which is not its series", rec.def.name, rec.series);
                    self.violation(inv::ROLLUP_DEFS, d);
                }
            }
        }
        Ok(series)
    }

    /// Scans the timelines: ownership, and the fold of every series per day.
    fn events(
        &mut self,
        series: &[Option<SeriesDef>],
        covered_from: i64,
    ) -> Result<BTreeMap<(ProfileId, u32), Expected>> {
        let next_seq = self.meta_u64(keys::meta::NEXT_EVENT_SEQ)?.unwrap_or(0);
        let mut by_event: HashMap<&str, Vec<(u32, &SeriesDef)>> = HashMap::new();
        for (id, s) in series.iter().enumerate() {
            if let Some(s) = s {
                by_event.entry(s.event.as_str()).or_default().push((id as u32, s));
            }
        }
        let mut out: BTreeMap<(ProfileId, u32), Expected> = BTreeMap::new();
        let view = self.view;
        for kv in view.range(schema::EVENTS.name, &[], None)? {
            let (k, v) = kv?;
            self.report.events += 1;
            let (Some(p), Some(at), Some(seq)) = (keys::parse_profile(&k), be_i64(&k, 4), be_u64(&k, 12)) else {
                self.bad_key(schema::EVENTS.name, &k, "profile ‖ time ‖ sequence (20 bytes)");
                continue;
            };
            if !self.is_live(p) {
                self.violation(inv::EVENT_OWNER, format!("an event at {at} is stored under {p}, not a live profile"));
            }
            if seq >= next_seq {
                let d = format!("event {p} ‖ {at} ‖ {seq}: sequence not below next_event_seq {next_seq}");
                self.violation(inv::EVENT_OWNER, d);
            }
            let Some(event) = self.decode(schema::EVENTS, &k, &v) else { continue };
            if event.timestamp.0 != at {
                let d = format!("event {p} ‖ {seq} stored at time {at} says {}", event.timestamp.0);
                self.violation(inv::EVENT_OWNER, d);
            }
            let day = event.timestamp.day();
            let scrubbed = event.identifiers.is_empty();
            for (id, s) in by_event.get(event.name.as_str()).into_iter().flatten() {
                if !s.matches(&event) {
                    if scrubbed && !s.filter.is_empty() && day >= covered_from {
                        *out.entry((p, *id)).or_default().undecided.entry(day).or_default() += 1;
                    }
                    continue;
                }
                let e = out.entry((p, *id)).or_default();
                e.scrubbed |= scrubbed;
                if day >= covered_from {
                    e.days.entry(day).or_default().fold(&Acc::of_event(&event, s.property.as_deref()));
                } else {
                    e.earlier += 1;
                }
            }
        }
        Ok(out)
    }

    /// Scans `rollup`: ownership and decoding, grouped by (profile, series).
    fn buckets(&mut self, series: usize) -> Result<BTreeMap<(ProfileId, u32), Stored>> {
        let mut out: BTreeMap<(ProfileId, u32), Stored> = BTreeMap::new();
        let view = self.view;
        for kv in view.range(schema::ROLLUPS.name, &[], None)? {
            let (k, v) = kv?;
            let Some((p, s, bucket)) = keys::rollup::parse(&k) else {
                self.report.rollup_buckets += 1;
                self.bad_key(schema::ROLLUPS.name, &k, "profile ‖ series ‖ bucket (16 bytes)");
                continue;
            };
            // Day and retired buckets: an all-time key of format 7 or older
            // (read-only) is checked but not counted, so a read-only handle
            // reports what the upgraded database does.
            if bucket != keys::rollup::ALL_TIME {
                self.report.rollup_buckets += 1;
            }
            if !self.is_live(p) || s as usize >= series {
                let d = format!("rollup bucket of profile {p}, series {s}: no such live profile or series");
                self.violation(inv::ROLLUP_OWNER, d);
            }
            let Some(acc) = self.decode(schema::ROLLUPS, &k, &v) else { continue };
            let entry = out.entry((p, s)).or_default();
            match keys::rollup::bucket_day(bucket) {
                Some(day) => {
                    entry.days.insert(day, acc);
                }
                None if bucket == keys::rollup::ALL_TIME => entry.all_time = Some(acc),
                None => entry.retired = acc,
            }
        }
        Ok(out)
    }

    /// Compares the stored buckets with each other and with the timelines.
    fn compare(
        &mut self,
        stored: BTreeMap<(ProfileId, u32), Stored>,
        mut expected: BTreeMap<(ProfileId, u32), Expected>,
        covered_from: i64,
    ) {
        for ((p, s), st) in stored {
            let mut total = st.retired.clone();
            let mut before = st.retired.count;
            for (day, acc) in &st.days {
                total.fold(acc);
                if *day < covered_from {
                    before += acc.count;
                }
            }
            // Format 8 keeps no all-time bucket (it is this fold); one left
            // by an older format (read-only) must still equal it.
            if let Some(diff) = st.all_time.as_ref().and_then(|all| acc_diff(all, &total)) {
                let d = format!("profile {p}, series {s}: all-time vs retired ⊕ days: {diff}");
                self.violation(inv::ROLLUP_TOTALS, d);
            }
            if covered_from == i64::MAX {
                continue;
            }
            let mut exp = expected.remove(&(p, s)).unwrap_or_default();
            if exp.earlier > before {
                let d = format!(
                    "profile {p}, series {s}: {} stored events before day {covered_from}, the buckets count {before}",
                    exp.earlier
                );
                self.violation(inv::ROLLUP_EVENTS, d);
            }
            for (day, acc) in st.days.range(covered_from..) {
                self.report.buckets_recomputed += 1;
                let want = exp.days.remove(day).unwrap_or_default();
                let diff = match exp.undecided.get(day) {
                    Some(&maybe) => bounds_diff(acc, &want, maybe),
                    None if exp.scrubbed => stats_diff(acc, &want),
                    None => acc_diff(acc, &want),
                };
                if let Some(diff) = diff {
                    let d = format!("profile {p}, series {s}, day {day}: bucket vs its events: {diff}");
                    self.violation(inv::ROLLUP_EVENTS, d);
                }
            }
            for (day, acc) in exp.days {
                let d = format!("profile {p}, series {s}, day {day}: {} events but no bucket", acc.count);
                self.violation(inv::ROLLUP_EVENTS, d);
            }
        }
        for ((p, s), exp) in expected {
            if let Some((day, acc)) = exp.days.iter().next() {
                let d = format!("profile {p}, series {s}, day {day}: {} events but no bucket", acc.count);
                self.violation(inv::ROLLUP_EVENTS, d);
            } else if exp.earlier > 0 {
                let d = format!("profile {p}, series {s}: {} stored events but no bucket", exp.earlier);
                self.violation(inv::ROLLUP_EVENTS, d);
            }
        }
    }
}

/// The first day starting at or after `t`.
fn ceil_day(t: i64) -> i64 {
    t.div_euclid(Timestamp::DAY) + i64::from(t.rem_euclid(Timestamp::DAY) != 0)
}

fn be_u64(k: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(k.get(at..at + 8).filter(|_| k.len() == 20)?.try_into().ok()?))
}

fn be_i64(k: &[u8], at: usize) -> Option<i64> {
    Some(keys::i64_from_ordered_bytes(k.get(at..at + 8).filter(|_| k.len() == 20)?.try_into().ok()?))
}

/// How a bucket of a filtered series departs from what scrubbed events
/// still say: it must count at least the events that pass the filter and
/// at most those plus the `maybe` ones whose filtered properties are gone.
fn bounds_diff(a: &Acc, certain: &Acc, maybe: u64) -> Option<String> {
    let most = certain.count.saturating_add(maybe);
    (a.count < certain.count || a.count > most)
        .then(|| format!("count {} outside {}..={most} (events of anonymized profiles)", a.count, certain.count))
}

/// How two accumulators differ in what survives `anonymize`: counts,
/// times and active days (`None`: equal).
fn stats_diff(a: &Acc, b: &Acc) -> Option<String> {
    if (a.count, a.first, a.last) != (b.count, b.first, b.last) {
        return Some(format!("count/first/last {:?} ≠ {:?}", (a.count, a.first, a.last), (b.count, b.first, b.last)));
    }
    (a.days != b.days).then(|| format!("active days {} ≠ {}", a.days.len(), b.days.len()))
}

/// How two accumulators differ (`None`: equal). Sums (their correctly
/// rounded exact values) are compared with a relative tolerance: since
/// format 10 sums are exact and equal in any fold order, but a format-9
/// bucket (tag `0x19`) holds a sum rounded in the order it was folded,
/// which a recomputation from the timeline need not match to the bit; value
/// frequencies only when neither side overflowed its bound (before
/// 2026-12-05 the values kept past it depended on the fold order).
pub(super) fn acc_diff(a: &Acc, b: &Acc) -> Option<String> {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + x.abs().max(y.abs()));
    let diff = |what: &str, x: &dyn std::fmt::Debug, y: &dyn std::fmt::Debug| Some(format!("{what} {x:?} ≠ {y:?}"));
    if a.count != b.count {
        return diff("count", &a.count, &b.count);
    }
    let (sa, sb) = (a.sum.value(), b.sum.value());
    if a.numeric != b.numeric || !close(sa, sb) {
        return diff("numeric/sum", &(a.numeric, sa), &(b.numeric, sb));
    }
    if (a.min, a.max) != (b.min, b.max) {
        return diff("min/max", &(a.min, a.max), &(b.min, b.max));
    }
    if (a.first, a.last) != (b.first, b.last) {
        return diff("first/last", &(a.first, a.last), &(b.first, b.last));
    }
    if a.days != b.days {
        return diff("active days", &a.days.len(), &b.days.len());
    }
    if !a.overflow && !b.overflow && a.values != b.values {
        return diff("values", &a.values.len(), &b.values.len());
    }
    None
}

/// How the cached rollup accumulators differ from the stored ones,
/// compared with no commit in flight (under the writer lock).
pub(super) fn rollup_cache_diffs(core: &crate::core::Core) -> Result<Vec<String>> {
    let _writer = core.writer.lock();
    let view = core.store.snapshot();
    let mut out = Vec::new();
    for ((p, series), cached) in core.rollup_cache.entries() {
        // As stored, bitmaps and all (the cache keeps day buckets without theirs).
        let (stored_all, stored_days) = crate::rollup::store::read_series(&view, p, series, cached.from)?;
        let all = acc_diff(&cached.all(), &stored_all).map(|d| format!("all time: {d}"));
        let cached_days = cached.buckets();
        let days = (cached_days.len() != stored_days.len())
            .then(|| format!("{} days cached, {} stored", cached_days.len(), stored_days.len()))
            .or_else(|| {
                cached_days.iter().zip(&stored_days).find_map(|((d, a), (e, b))| {
                    if d != e {
                        return Some(format!("day {d} cached, {e} stored"));
                    }
                    acc_diff(a, b).map(|x| format!("day {d}: {x}"))
                })
            });
        if let Some(d) = all.or(days) {
            out.push(format!("profile {p}, series {series}: cached ≠ stored: {d}"));
        }
    }
    Ok(out)
}
