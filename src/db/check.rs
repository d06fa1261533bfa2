//! [`ProfileDb::check`]: verifies the invariants that tie the column
//! families together, reading one consistent snapshot.
//!
//! A broken invariant is a [`Violation`] in the report, never an error or a
//! panic: a value that does not decode is reported with its key and the
//! check goes on. Only a storage failure (I/O, RocksDB corruption that
//! stops iteration) ends the check with `Err`.
//!
//! Covered today: `meta`, `identity`, `profile_identifiers`, `profile`,
//! `delta`, `snapshot` and `alias`. The column families of later
//! capabilities (rollups, events, segments) add their checks here.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use roaring::RoaringBitmap;

use crate::codec::ValueCodec;
use crate::error::{hex_prefix, Result};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::schema;
use crate::storage::{Cf, View};

use super::ProfileDb;

/// The names of the invariants, as reported in [`Violation::what`].
pub(crate) mod inv {
    /// Every key has its documented layout and every value decodes.
    pub const DECODES: &str = "decodes";
    /// `meta` holds the format version.
    pub const META: &str = "meta_present";
    /// Every identity link has its `profile_identifiers` entry.
    pub const IDENTITY_HAS_REVERSE: &str = "identity_has_reverse";
    /// Every `profile_identifiers` entry has an identity link pointing back.
    pub const REVERSE_HAS_IDENTITY: &str = "reverse_has_identity";
    /// Every identity link points at a live profile.
    pub const IDENTITY_LIVE: &str = "identity_points_at_live";
    /// No linked identifier belongs to an erased person (is suppressed).
    pub const NOT_SUPPRESSED: &str = "linked_identifier_not_suppressed";
    /// Every alias points straight (one hop) at a live profile.
    pub const ALIAS_LIVE: &str = "alias_points_at_live";
    /// Every forward alias has its reverse entry.
    pub const ALIAS_HAS_REVERSE: &str = "alias_has_reverse";
    /// Every reverse alias entry has the matching forward entry.
    pub const REVERSE_HAS_ALIAS: &str = "reverse_has_alias";
    /// No id is both live and an alias.
    pub const LIVE_NOT_ALIAS: &str = "live_is_not_alias";
    /// Following aliases never returns to where it started.
    pub const NO_ALIAS_CYCLE: &str = "no_alias_cycle";
    /// Every id in use is below `meta/next_profile_id`.
    pub const ID_ALLOCATED: &str = "id_allocated";
    /// A record's id, version, floor and snapshot version agree.
    pub const RECORD: &str = "record_consistent";
    /// Deltas run from the history floor + 1 to the version without gaps.
    pub const DELTAS_CONTIGUOUS: &str = "deltas_contiguous";
    /// A delta is never earlier than the previous one.
    pub const DELTA_TIMES: &str = "delta_times_ordered";
    /// Nothing older than the history floor is left behind.
    pub const BELOW_FLOOR: &str = "nothing_below_floor";
    /// The snapshots the record needs (floor, last snapshot) exist.
    pub const SNAPSHOT_PRESENT: &str = "snapshot_present";
    /// Every retained snapshot equals the replayed state at its version.
    pub const SNAPSHOT_MATCHES: &str = "snapshot_matches_replay";
    /// Replaying the log reproduces the stored current state exactly.
    pub const REPLAY: &str = "replay_matches_current";
}

/// What [`ProfileDb::check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckReport {
    /// Live profiles (entries of `profile`).
    pub profiles: u64,
    /// Linked identifiers (entries of `identity`).
    pub identifiers: u64,
    /// Merged-away ids (forward entries of `alias`).
    pub aliases: u64,
    /// Retained deltas, of live and merged-away profiles.
    pub deltas: u64,
    /// Every broken invariant, in the order found. Empty when the database
    /// is consistent.
    pub violations: Vec<Violation>,
}

/// One broken invariant.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Violation {
    /// Which invariant: `decodes`, `meta_present`, `identity_has_reverse`,
    /// `reverse_has_identity`, `identity_points_at_live`,
    /// `alias_points_at_live`, `alias_has_reverse`, `reverse_has_alias`,
    /// `live_is_not_alias`, `no_alias_cycle`, `id_allocated`,
    /// `record_consistent`, `deltas_contiguous`, `delta_times_ordered`,
    /// `nothing_below_floor`, `snapshot_present`, `snapshot_matches_replay`
    /// or `replay_matches_current`.
    pub what: String,
    /// Where and how: the ids, identifiers or keys involved.
    pub detail: String,
}

impl CheckReport {
    /// Whether no invariant is broken.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.what, self.detail)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} profiles, {} identifiers, {} aliases, {} deltas: ",
            self.profiles, self.identifiers, self.aliases, self.deltas
        )?;
        if self.is_clean() {
            return f.write_str("clean");
        }
        write!(f, "{} violations", self.violations.len())?;
        for v in &self.violations {
            write!(f, "\n  {v}")?;
        }
        Ok(())
    }
}

impl ProfileDb {
    /// Verifies every invariant of the database on one consistent snapshot
    /// (safe while the database is in use; it takes no lock).
    ///
    /// Checks that `identity` and `profile_identifiers` are exact inverses
    /// and point at live profiles; that every alias points one hop at a
    /// live profile, has its reverse entry, and that aliases form no cycle
    /// and never name a live id; that every id is below the id counter; and
    /// for every live profile that its deltas are contiguous from the
    /// history floor, that replaying them from the floor snapshot
    /// reproduces the stored state exactly, that every snapshot matches the
    /// replay and that the snapshots the record names exist. Every value
    /// read must decode. Reads the whole database: an admin operation.
    pub fn check(&self) -> Result<CheckReport> {
        let view = self.core.store.snapshot();
        let mut c = Checker { view: &view, report: CheckReport::default(), next_id: None, live: RoaringBitmap::new() };
        c.meta()?;
        c.profiles()?;
        c.aliases()?;
        c.identities()?;
        c.reverse_identities()?;
        c.orphan_history()?;
        Ok(c.report)
    }
}

struct Checker<'a> {
    view: &'a View<'a>,
    report: CheckReport,
    /// `meta/next_profile_id` (`None` when it did not decode: no bound checks).
    next_id: Option<u32>,
    live: RoaringBitmap,
}

impl Checker<'_> {
    fn violation(&mut self, what: &'static str, detail: impl Into<String>) {
        self.report.violations.push(Violation { what: what.to_owned(), detail: detail.into() });
    }

    /// Decodes a value, reporting (and returning `None` for) one that does not.
    fn decode<V: ValueCodec>(&mut self, cf: Cf<V>, key: &[u8], bytes: &[u8]) -> Option<V> {
        match cf.decode(key, bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                self.violation(inv::DECODES, e.to_string());
                None
            }
        }
    }

    fn bad_key(&mut self, cf: &str, key: &[u8], expected: &str) {
        self.violation(inv::DECODES, format!("{cf} key {} is not {expected}", hex_prefix(key)));
    }

    fn allocated(&mut self, id: ProfileId, role: &str) {
        if let Some(next) = self.next_id {
            if id.0 >= next {
                self.violation(inv::ID_ALLOCATED, format!("{role} {id} is not below next_profile_id {next}"));
            }
        }
    }

    fn is_live(&self, id: ProfileId) -> bool {
        self.live.contains(id.0)
    }

    fn meta(&mut self) -> Result<()> {
        let cf = schema::META_U32;
        match self.view.get(cf.name, keys::meta::FORMAT_VERSION)? {
            Some(b) => {
                self.decode(cf, keys::meta::FORMAT_VERSION, &b);
            }
            None => self.violation(inv::META, "meta/format_version is missing"),
        }
        self.next_id = match self.view.get(cf.name, keys::meta::NEXT_PROFILE_ID)? {
            Some(b) => self.decode(cf, keys::meta::NEXT_PROFILE_ID, &b),
            None => Some(0),
        };
        Ok(())
    }

    /// Scans `profile`: collects the live ids and checks each one's history.
    fn profiles(&mut self) -> Result<()> {
        let view = self.view;
        for kv in view.range(schema::PROFILES.name, &[], None)? {
            let (k, v) = kv?;
            let Some(id) = keys::parse_profile(&k).filter(|_| k.len() == 4) else {
                self.bad_key(schema::PROFILES.name, &k, "a 4-byte profile id");
                continue;
            };
            self.report.profiles += 1;
            self.live.insert(id.0);
            self.allocated(id, "live profile");
            if let Some(rec) = self.decode(schema::PROFILES, &k, &v) {
                self.history(id, &rec)?;
            }
        }
        Ok(())
    }

    /// Checks one live profile's record against its deltas and snapshots.
    fn history(&mut self, id: ProfileId, rec: &ProfileRecord) -> Result<()> {
        let p = &rec.profile;
        let (floor, version) = (rec.history_floor, p.version);
        if p.id != id || version == 0 || floor > version || rec.last_snapshot > version || rec.last_snapshot < floor {
            self.violation(
                inv::RECORD,
                format!(
                    "profile {id}: record says id {}, version {version}, history floor {floor}, last snapshot {}",
                    p.id, rec.last_snapshot
                ),
            );
            return Ok(());
        }
        let view = self.view;
        let snapshots = self.snapshots_of(id)?;
        for v in snapshots.keys().filter(|v| **v < floor) {
            self.violation(inv::BELOW_FLOOR, format!("profile {id}: snapshot {v} is below the history floor {floor}"));
        }
        for v in snapshots.keys().filter(|v| **v > version) {
            self.violation(inv::SNAPSHOT_MATCHES, format!("profile {id}: snapshot {v} is beyond version {version}"));
        }
        for v in [floor, rec.last_snapshot] {
            if v > 0 && !snapshots.contains_key(&v) {
                self.violation(inv::SNAPSHOT_PRESENT, format!("profile {id}: the snapshot at version {v} is missing"));
            }
        }
        // The state replay starts from: the floor snapshot, or nothing.
        let mut state = match snapshots.get(&floor) {
            Some(Some(s)) if floor > 0 => Some((s.traits.clone(), s.consent.clone(), s.updated_at)),
            _ if floor > 0 => None,
            _ => Some((Traits::new(), Default::default(), p.created_at)),
        };
        let mut expected = floor + 1;
        let mut prev_at = None;
        for kv in view.prefix(schema::DELTAS.name, &keys::profile(id))? {
            let (k, bytes) = kv?;
            let Some(kv_version) = delta_key_version(&k) else {
                self.bad_key(schema::DELTAS.name, &k, "profile ‖ version (12 bytes)");
                continue;
            };
            if kv_version <= floor {
                let d = format!("profile {id}: delta {kv_version} is at or below the history floor {floor}");
                self.violation(inv::BELOW_FLOOR, d);
                continue;
            }
            if kv_version != expected || kv_version > version {
                let d = if kv_version > version {
                    format!("profile {id}: delta {kv_version} is beyond the record's version {version}")
                } else {
                    format!("profile {id}: expected delta {expected}, found {kv_version}")
                };
                self.violation(inv::DELTAS_CONTIGUOUS, d);
                return Ok(());
            }
            expected += 1;
            let Some(delta) = self.decode(schema::DELTAS, &k, &bytes) else {
                state = None;
                continue;
            };
            if delta.version != kv_version {
                let d = format!("profile {id}: delta stored at version {kv_version} says version {}", delta.version);
                self.violation(inv::DELTAS_CONTIGUOUS, d);
            }
            if prev_at.is_some_and(|t| delta.at < t) {
                self.violation(
                    inv::DELTA_TIMES,
                    format!("profile {id}: delta {kv_version} is earlier than the one before"),
                );
            }
            prev_at = Some(delta.at);
            let Some((traits, consent, _)) = &state else { continue };
            match delta.replay(traits, consent) {
                Ok((next, next_consent)) => {
                    if let Some(Some(snap)) = snapshots.get(&kv_version) {
                        if snap.traits != next
                            || snap.consent != next_consent
                            || snap.updated_at != delta.at
                            || snap.id != id
                        {
                            let d = format!("profile {id}: snapshot {kv_version} differs from the replayed state");
                            self.violation(inv::SNAPSHOT_MATCHES, d);
                        }
                    }
                    state = Some((next, next_consent, delta.at));
                }
                Err(e) => {
                    self.violation(inv::REPLAY, format!("profile {id}: delta {kv_version} does not replay: {e}"));
                    state = None;
                }
            }
        }
        if expected <= version {
            let d = format!("profile {id}: deltas end at {}, the record is at version {version}", expected - 1);
            self.violation(inv::DELTAS_CONTIGUOUS, d);
            return Ok(());
        }
        if let Some((traits, consent, updated_at)) = state {
            if consent != p.consent {
                self.violation(
                    inv::REPLAY,
                    format!("profile {id} at version {version}: consent differs from the replay"),
                );
            } else if traits != p.traits || updated_at != p.updated_at {
                let d = format!("profile {id} at version {version}: {}", describe_diff(&traits, updated_at, p));
                self.violation(inv::REPLAY, d);
            }
        }
        Ok(())
    }

    /// A profile's snapshots by version (`None`: present but undecodable).
    fn snapshots_of(&mut self, id: ProfileId) -> Result<BTreeMap<u64, Option<Profile>>> {
        let mut out = BTreeMap::new();
        let view = self.view;
        for kv in view.prefix(schema::SNAPSHOTS.name, &keys::profile(id))? {
            let (k, v) = kv?;
            let Some(version) = delta_key_version(&k) else {
                self.bad_key(schema::SNAPSHOTS.name, &k, "profile ‖ version (12 bytes)");
                continue;
            };
            let snap = self.decode(schema::SNAPSHOTS, &k, &v);
            if let Some(s) = &snap {
                if s.version != version || s.id != id {
                    let d = format!("snapshot stored at {id} ‖ {version} says profile {} version {}", s.id, s.version);
                    self.violation(inv::SNAPSHOT_MATCHES, d);
                }
            }
            out.insert(version, snap);
        }
        Ok(out)
    }

    /// Scans `alias`: one hop to a live profile, forward ⇔ reverse, no cycles.
    fn aliases(&mut self) -> Result<()> {
        let mut forward = BTreeMap::new();
        let mut reverse = BTreeSet::new();
        let view = self.view;
        for kv in view.range(schema::ALIAS_FORWARD.name, &[], None)? {
            let (k, v) = kv?;
            match (k.first(), k.len()) {
                (Some(&keys::alias::FORWARD), 5) => {
                    if let (Some(loser), Some(s)) =
                        (keys::parse_profile(&k[1..]), self.decode(schema::ALIAS_FORWARD, &k, &v))
                    {
                        forward.insert(loser, ProfileId(s));
                    }
                }
                (Some(&keys::alias::REVERSE), 9) => {
                    if let (Some(s), Some(l)) = (keys::parse_profile(&k[1..]), keys::parse_profile(&k[5..])) {
                        if self.decode(schema::ALIAS_REVERSE, &k, &v).is_some() {
                            reverse.insert((s, l));
                        }
                    }
                }
                _ => self.bad_key(schema::ALIAS_FORWARD.name, &k, "0x01 ‖ loser or 0x02 ‖ survivor ‖ loser"),
            }
        }
        self.report.aliases = forward.len() as u64;
        for (&loser, &survivor) in &forward {
            self.allocated(loser, "alias");
            self.allocated(survivor, "alias target");
            if self.is_live(loser) {
                self.violation(inv::LIVE_NOT_ALIAS, format!("profile {loser} is live and an alias of {survivor}"));
            }
            if !self.is_live(survivor) {
                let hop = if forward.contains_key(&survivor) { " (itself an alias: more than one hop)" } else { "" };
                let d = format!("alias {loser} → {survivor}, which is not a live profile{hop}");
                self.violation(inv::ALIAS_LIVE, d);
            }
            if !reverse.contains(&(survivor, loser)) {
                self.violation(inv::ALIAS_HAS_REVERSE, format!("alias {loser} → {survivor} has no reverse entry"));
            }
        }
        for &(survivor, loser) in &reverse {
            match forward.get(&loser) {
                Some(s) if *s == survivor => {}
                found => {
                    let found = found.map_or("no alias".to_owned(), |s| format!("an alias of {s}"));
                    let d = format!("reverse entry {survivor} ‖ {loser}, but {loser} is {found}");
                    self.violation(inv::REVERSE_HAS_ALIAS, d);
                }
            }
        }
        for cycle in alias_cycles(&forward) {
            let ids: Vec<String> = cycle.iter().map(ToString::to_string).collect();
            self.violation(inv::NO_ALIAS_CYCLE, format!("aliases form a cycle: {}", ids.join(" → ")));
        }
        Ok(())
    }

    /// Scans `identity`: each link points at a live profile and has its reverse entry.
    fn identities(&mut self) -> Result<()> {
        let view = self.view;
        let secret = crate::privacy::suppression::load_secret(view)?;
        for kv in view.range(schema::IDENTITY.name, &[], None)? {
            let (k, v) = kv?;
            self.report.identifiers += 1;
            let Some(ident) = keys::parse_identifier(&k) else {
                self.bad_key(schema::IDENTITY.name, &k, "kind ‖ 0x00 ‖ value");
                continue;
            };
            let Some(link) = self.decode(schema::IDENTITY, &k, &v) else { continue };
            self.allocated(link.profile, "identity link of");
            self.allocated(link.origin, "identity origin of");
            if !self.is_live(link.profile) {
                let d = format!("{ident} → {}, which is not a live profile", link.profile);
                self.violation(inv::IDENTITY_LIVE, d);
            }
            let reverse = keys::profile_identifier(link.profile, &ident);
            if view.get(schema::PROFILE_IDENTIFIERS.name, &reverse)?.is_none() {
                let d = format!("{ident} → {} has no profile_identifiers entry", link.profile);
                self.violation(inv::IDENTITY_HAS_REVERSE, d);
            }
            if let Some(secret) = &secret {
                let key = crate::privacy::suppression::suppressed_key(secret, &ident);
                if view.get(schema::AUDIT.name, &key)?.is_some() {
                    self.violation(inv::NOT_SUPPRESSED, format!("{ident} is linked but was erased"));
                }
            }
        }
        Ok(())
    }

    /// Scans `profile_identifiers`: each entry has a link pointing back.
    fn reverse_identities(&mut self) -> Result<()> {
        let view = self.view;
        for kv in view.range(schema::PROFILE_IDENTIFIERS.name, &[], None)? {
            let (k, v) = kv?;
            let Some((id, ident)) = keys::parse_profile_identifier(&k) else {
                self.bad_key(schema::PROFILE_IDENTIFIERS.name, &k, "profile ‖ kind ‖ 0x00 ‖ value");
                continue;
            };
            self.decode(schema::PROFILE_IDENTIFIERS, &k, &v);
            let link = view.get(schema::IDENTITY.name, &keys::identifier(&ident))?;
            // An undecodable link was reported by the identity scan.
            let points_to = link.map(|b| schema::IDENTITY.decode(&k, &b).map(|l| l.profile));
            match points_to {
                Some(Ok(p)) if p == id => {}
                Some(Err(_)) => {}
                found => {
                    let found = match found {
                        Some(Ok(p)) => format!("links to {p}"),
                        _ => "has no identity link".to_owned(),
                    };
                    let d = format!("profile_identifiers lists {ident} under {id}, but it {found}");
                    self.violation(inv::REVERSE_HAS_IDENTITY, d);
                }
            }
        }
        Ok(())
    }

    /// Counts every delta and decodes the history of ids that are not live
    /// (merged away: an unmerge restores them from it).
    fn orphan_history(&mut self) -> Result<()> {
        let view = self.view;
        for cf in [schema::DELTAS.name, schema::SNAPSHOTS.name] {
            for kv in view.range(cf, &[], None)? {
                let (k, v) = kv?;
                if cf == schema::DELTAS.name {
                    self.report.deltas += 1;
                }
                let Some(id) = keys::parse_profile(&k).filter(|_| k.len() == 12) else {
                    self.bad_key(cf, &k, "profile ‖ version (12 bytes)");
                    continue;
                };
                if self.is_live(id) {
                    continue; // checked with its record
                }
                self.allocated(id, "history of profile");
                if cf == schema::DELTAS.name {
                    self.decode(schema::DELTAS, &k, &v);
                } else {
                    self.decode(schema::SNAPSHOTS, &k, &v);
                }
            }
        }
        Ok(())
    }
}

/// The version in a 12-byte `profile ‖ version` key.
fn delta_key_version(k: &[u8]) -> Option<u64> {
    let b: [u8; 8] = k.get(4..12).filter(|_| k.len() == 12)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// Every cycle of the alias map, each listed once from its smallest id.
fn alias_cycles(forward: &BTreeMap<ProfileId, ProfileId>) -> Vec<Vec<ProfileId>> {
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for &start in forward.keys() {
        let mut path = Vec::new();
        let mut at = start;
        while !done.contains(&at) {
            if let Some(i) = path.iter().position(|p| *p == at) {
                let mut cycle: Vec<ProfileId> = path[i..].to_vec();
                let min = cycle.iter().enumerate().min_by_key(|(_, p)| **p).map_or(0, |(i, _)| i);
                cycle.rotate_left(min);
                cycles.push(cycle);
                break;
            }
            path.push(at);
            match forward.get(&at) {
                Some(next) => at = *next,
                None => break,
            }
        }
        done.extend(path);
    }
    cycles
}

/// How a replayed state differs from the stored one (the first few traits).
fn describe_diff(replayed: &Traits, updated_at: crate::clock::Timestamp, stored: &Profile) -> String {
    let mut names: BTreeSet<&str> = replayed.iter().map(|(n, _)| n).collect();
    names.extend(stored.traits.iter().map(|(n, _)| n));
    let diffs: Vec<String> = names
        .into_iter()
        .filter(|n| replayed.entry(n) != stored.traits.entry(n))
        .take(5)
        .map(|n| format!("{n}: replayed {:?}, stored {:?}", replayed.entry(n), stored.traits.entry(n)))
        .collect();
    let mut out = format!("replaying the log does not reproduce the stored state ({})", diffs.join("; "));
    if updated_at != stored.updated_at {
        out.push_str(&format!("; updated_at replayed {}, stored {}", updated_at.0, stored.updated_at.0));
    }
    out
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod decoder_fuzz;
