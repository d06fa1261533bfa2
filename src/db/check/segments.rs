//! Segments: definitions, bitmap chunks, every stored membership against
//! a fresh evaluation, wake-ups, membership history and the change feed.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use roaring::RoaringBitmap;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::Event;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::profile::state::Profile;
use crate::rollup::range::BucketSource;
use crate::rollup::Acc;
use crate::schema;
use crate::segment::context::{ProfileCtx, ReadSource, Source};
use crate::segment::{dependencies, evaluate, PropertyFilter, SegmentDef};
use std::sync::Arc;

use super::{inv, Checker};

/// A stored segment as the check sees it.
struct Seg {
    def: SegmentDef,
    time_dependent: bool,
    members: RoaringBitmap,
}

/// Committed state read through the check's snapshot, with memberships
/// from the stored bitmaps (not the in-memory ones the check verifies).
struct SnapshotSource<'v, 'a> {
    read: ReadSource<'v, 'a>,
    members: HashMap<String, RoaringBitmap>,
}

impl BucketSource for SnapshotSource<'_, '_> {
    fn all_time(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        self.read.all_time(p, series, days)
    }
    fn days(&self, p: ProfileId, series: u32, from_day: i64, to_day: i64) -> Result<Vec<(i64, Acc)>> {
        self.read.days(p, series, from_day, to_day)
    }
    fn events(&self, p: ProfileId, name: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        BucketSource::events(&self.read, p, name, from, to)
    }
    fn retired(&self, p: ProfileId, series: u32, days: bool) -> Result<Acc> {
        self.read.retired(p, series, days)
    }
    fn timeline_floor(&self, p: ProfileId) -> i64 {
        self.read.timeline_floor(p)
    }
    fn bucket_floor_day(&self) -> i64 {
        self.read.bucket_floor_day()
    }
}

impl Source for SnapshotSource<'_, '_> {
    fn profile(&self, p: ProfileId) -> Result<Option<Arc<Profile>>> {
        self.read.profile(p)
    }
    fn identifiers(&self, p: ProfileId) -> Result<Vec<Identifier>> {
        self.read.identifiers(p)
    }
    fn member(&self, segment: &str, p: ProfileId) -> bool {
        self.members.get(segment).is_some_and(|m| m.contains(p.0))
    }
    fn series(&self, event: &str, property: Option<&str>, filter: &[PropertyFilter]) -> Option<u32> {
        self.read.series(event, property, filter)
    }
    fn timeline_kept(&self) -> bool {
        self.read.timeline_kept()
    }
}

impl Checker<'_> {
    /// Checks `segment_def`, `segment`, `wakeup`, `membership` and `feed`.
    pub(super) fn segments(&mut self) -> Result<()> {
        let mut segs = self.segment_defs()?;
        self.chunks(&mut segs)?;
        let wakeups = self.wakeups(&segs)?;
        self.evaluations(&segs, &wakeups)?;
        self.membership_history(&segs)?;
        self.feed()
    }

    fn segment_defs(&mut self) -> Result<BTreeMap<u32, Seg>> {
        let next = match self.view.get(schema::META_U32.name, keys::meta::NEXT_SEGMENT_ID)? {
            Some(b) => self.decode(schema::META_U32, keys::meta::NEXT_SEGMENT_ID, &b),
            None => Some(0),
        };
        let mut out: BTreeMap<u32, Seg> = BTreeMap::new();
        let view = self.view;
        for kv in view.range(schema::SEGMENT_DEFS.name, &[], None)? {
            let (k, v) = kv?;
            let Some(def) = self.decode(schema::SEGMENT_DEFS, &k, &v) else { continue };
            self.report.segments += 1;
            if *k != *def.name.as_bytes() {
                let d = format!("segment stored under {:?} is named {:?}", String::from_utf8_lossy(&k), def.name);
                self.violation(inv::SEGMENT_DEFS, d);
            }
            if next.is_some_and(|n| def.id >= n) {
                self.violation(
                    inv::SEGMENT_DEFS,
                    format!("segment {:?} has id {} ≥ next_segment_id", def.name, def.id),
                );
            }
            if let Some(other) = out.get(&def.id) {
                let d = format!("segments {:?} and {:?} share id {}", other.def.name, def.name, def.id);
                self.violation(inv::SEGMENT_DEFS, d);
                continue;
            }
            if self.unfinished == Some(def.id) {
                self.report.backfill_pending = Some(def.name.clone());
            }
            let time_dependent = dependencies(&def.expr).time_dependent;
            out.insert(def.id, Seg { def, time_dependent, members: RoaringBitmap::new() });
        }
        Ok(out)
    }

    fn chunks(&mut self, segs: &mut BTreeMap<u32, Seg>) -> Result<()> {
        let view = self.view;
        for kv in view.range(schema::SEGMENT_CHUNKS.name, &[], None)? {
            let (k, v) = kv?;
            let (Some(seg), Some(hi)) = (
                k.get(..4).filter(|_| k.len() == 6).and_then(|b| b.try_into().ok()).map(u32::from_be_bytes),
                k.get(4..6).and_then(|b| b.try_into().ok()).map(u16::from_be_bytes),
            ) else {
                self.bad_key(schema::SEGMENT_CHUNKS.name, &k, "segment ‖ chunk (6 bytes)");
                continue;
            };
            let Some(chunk) = self.decode(schema::SEGMENT_CHUNKS, &k, &v) else { continue };
            let lo = u32::from(hi) << 16;
            let outside = chunk.0.iter().find(|p| *p < lo || *p > lo | 0xffff);
            if let Some(p) = outside {
                self.violation(inv::SEGMENT_CHUNK, format!("chunk {hi} of segment {seg} holds profile {p}"));
            }
            if chunk.0.is_empty() {
                self.violation(inv::SEGMENT_CHUNK, format!("chunk {hi} of segment {seg} is stored empty"));
            }
            match segs.get_mut(&seg) {
                Some(s) => s.members |= chunk.0,
                None => {
                    self.violation(inv::SEGMENT_CHUNK, format!("chunk {hi} belongs to segment id {seg}, not defined"))
                }
            }
        }
        for s in segs.values() {
            let in_memory = self.memory.get(&s.def.id);
            if in_memory.is_none() && self.unfinished == Some(s.def.id) {
                // Not loaded by this handle (read-only, secondary): nothing to compare.
            } else if in_memory.is_none_or(|m| *m.bits() != s.members) {
                let n = in_memory.map_or(0, |m| m.len());
                let d = format!("segment {:?}: {n} members in memory, {} stored", s.def.name, s.members.len());
                self.violation(inv::SEGMENT_MEMORY, d);
            } else if in_memory.is_some_and(|m| !m.consistent()) {
                let d = format!("segment {:?}: its flat blocks differ from its bitmap", s.def.name);
                self.violation(inv::SEGMENT_MEMORY, d);
            }
            let dead = &s.members - &self.live;
            if let Some(p) = dead.min() {
                let d = format!("segment {:?} holds {} non-live profiles, e.g. {p}", s.def.name, dead.len());
                self.violation(inv::SEGMENT_CHUNK, d);
            }
        }
        Ok(())
    }

    /// Scans `wakeup`; returns the due time of each (segment, profile).
    fn wakeups(&mut self, segs: &BTreeMap<u32, Seg>) -> Result<HashMap<(u32, u32), i64>> {
        let mut forward = BTreeSet::new();
        let mut index = HashMap::new();
        let view = self.view;
        for kv in view.range(schema::WAKEUP_INDEX.name, &[], None)? {
            let (k, v) = kv?;
            if let Some((due, seg, p)) = keys::segment::parse_wakeup(&k) {
                forward.insert((due, seg, p.0));
                continue;
            }
            let parsed = keys::segment::parse_wakeup_index(&k).map(|(s, p)| (s, p.0));
            let Some((seg, p)) = parsed else {
                self.bad_key(
                    schema::WAKEUP_INDEX.name,
                    &k,
                    "0x01 ‖ due ‖ segment ‖ profile or 0x02 ‖ segment ‖ profile",
                );
                continue;
            };
            if let Some(due) = self.decode(schema::WAKEUP_INDEX, &k, &v) {
                index.insert((seg, p), due as i64);
            }
        }
        for &(due, seg, p) in &forward {
            if index.get(&(seg, p)) != Some(&due) {
                self.violation(inv::WAKEUP, format!("wake-up of segment {seg} for {p} at {due} is not in the index"));
            }
        }
        for (&(seg, p), &due) in &index {
            if !forward.contains(&(due, seg, p)) {
                self.violation(inv::WAKEUP, format!("index names a wake-up of segment {seg} for {p} at {due}, absent"));
            }
            if !self.is_live(ProfileId(p)) {
                self.violation(inv::WAKEUP, format!("wake-up of segment {seg} for {p}, not a live profile"));
            }
            if !segs.get(&seg).is_some_and(|s| s.time_dependent) {
                let d = format!("wake-up for {p} names segment {seg}, not a defined time-dependent segment");
                self.violation(inv::WAKEUP, d);
            }
        }
        Ok(index)
    }

    /// Evaluates every segment for every live profile from scratch.
    fn evaluations(&mut self, segs: &BTreeMap<u32, Seg>, wakeups: &HashMap<(u32, u32), i64>) -> Result<()> {
        if segs.is_empty() {
            return Ok(());
        }
        let src = SnapshotSource {
            read: ReadSource { core: self.core, view: self.view, bitmaps: None },
            members: segs.values().map(|s| (s.def.name.clone(), s.members.clone())).collect(),
        };
        let live = self.live.clone();
        for p in &live {
            let ctx = ProfileCtx::new(&src, ProfileId(p), self.now)?;
            let mut found = Vec::new();
            // A backfill in progress has evaluated only some profiles.
            for s in segs.values().filter(|s| self.unfinished != Some(s.def.id)) {
                self.report.evaluations += 1;
                let value = evaluate(&s.def.expr, &ctx).value;
                if let Some(e) = ctx.take_error() {
                    found.push(format!("segment {:?}, profile {p}: cannot be evaluated now: {e}", s.def.name));
                    continue;
                }
                let stored = s.members.contains(p);
                let due = s.time_dependent && wakeups.get(&(s.def.id, p)).is_some_and(|d| *d <= self.now.0);
                if value != stored && !due {
                    let mut d =
                        format!("segment {:?}, profile {p}: stored {stored}, evaluating now gives {value}", s.def.name);
                    if let Some(at) = changed_after(self.view, s.def.id, p, self.now.0) {
                        d.push_str(&format!(
                            " (the membership last changed at {at} ms, after now ({} ms): the clock was set back past \
                             it, and evaluating at that later time explains the difference; a tick once the clock \
                             passes it, or redefining the segment, settles it)",
                            self.now.0
                        ));
                    }
                    found.push(d);
                }
            }
            ctx.finish()?;
            for d in found {
                self.violation(inv::SEGMENT_EVAL, d);
            }
        }
        Ok(())
    }

    /// The last membership-history entry of each (segment, profile) must
    /// equal its membership; every member must have one.
    fn membership_history(&mut self, segs: &BTreeMap<u32, Seg>) -> Result<()> {
        let mut last: BTreeMap<(u32, u32), bool> = BTreeMap::new();
        let view = self.view;
        for kv in view.range(schema::MEMBERSHIP.name, &[], None)? {
            let (k, v) = kv?;
            let ids = (k.len() == 16).then(|| (keys::parse_profile(&k[..4]), keys::parse_profile(&k[4..8])));
            let Some((Some(seg), Some(p))) = ids else {
                self.bad_key(schema::MEMBERSHIP.name, &k, "segment ‖ profile ‖ time (16 bytes)");
                continue;
            };
            if let Some(entered) = self.decode(schema::MEMBERSHIP, &k, &v) {
                last.insert((seg.0, p.0), entered); // keys sort by time: the last one wins
            }
        }
        for (&(seg, p), &entered) in &last {
            let Some(s) = segs.get(&seg) else {
                self.violation(inv::MEMBERSHIP, format!("membership history of segment id {seg}, not defined"));
                continue;
            };
            if s.members.contains(p) != entered {
                let d = format!("segment {:?}, profile {p}: history says {entered}, bitmap the opposite", s.def.name);
                self.violation(inv::MEMBERSHIP, d);
            }
        }
        for s in segs.values() {
            if let Some(p) = s.members.iter().find(|p| !last.contains_key(&(s.def.id, *p))) {
                self.violation(inv::MEMBERSHIP, format!("segment {:?}: member {p} has no history entry", s.def.name));
            }
        }
        Ok(())
    }

    fn feed(&mut self) -> Result<()> {
        let next = self.meta_u64(keys::meta::NEXT_FEED_SEQ)?.unwrap_or(0);
        let view = self.view;
        for kv in view.range(schema::FEED.name, &[], None)? {
            let (k, v) = kv?;
            let seq = k.get(..8).filter(|_| k.len() == 8).and_then(|b| b.try_into().ok()).map(u64::from_be_bytes);
            let Some(seq) = seq else {
                self.bad_key(schema::FEED.name, &k, "a sequence number (8 bytes)");
                continue;
            };
            let Some(rec) = self.decode(schema::FEED, &k, &v) else { continue };
            if rec.seq != seq || seq >= next {
                let d = format!("feed record stored at {seq} says {}; next_feed_seq is {next}", rec.seq);
                self.violation(inv::FEED, d);
            }
        }
        Ok(())
    }
}

/// When the membership of `p` in segment `seg` last changed, if that is
/// after `now` (a clock set back since): from its history's last entry.
/// A read error leaves the note out; the scan reports it.
fn changed_after(view: &crate::storage::View<'_>, seg: u32, p: u32, now: i64) -> Option<i64> {
    let floor = keys::segment::membership(seg, ProfileId(p), i64::MIN);
    let at = keys::segment::membership(seg, ProfileId(p), i64::MAX);
    let (k, _) = view.last_at_or_before(schema::MEMBERSHIP.name, &floor, &at).ok()??;
    let t = keys::i64_from_ordered_bytes(k.get(8..16)?.try_into().ok()?);
    (t > now).then_some(t)
}
