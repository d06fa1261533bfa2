//! Profile records and their history: each live profile's deltas are
//! contiguous from the history floor, replay reproduces the stored state,
//! and every snapshot matches the replay.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::schema;

use super::{inv, Checker};

impl Checker<'_> {
    /// Scans `profile`: collects the live ids and checks each one's history.
    pub(super) fn profiles(&mut self) -> Result<()> {
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
                if rec.kinds.as_ref().is_some_and(|k| k.total() > 0) {
                    self.counted.insert(id.0);
                }
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

    /// Counts every delta and decodes the history of ids that are not live
    /// (merged away: an unmerge restores them from it).
    pub(super) fn orphan_history(&mut self) -> Result<()> {
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
