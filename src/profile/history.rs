//! Reading history back: the delta log, reconstruction as of a version or
//! a time, and retention (folding old deltas into a snapshot).

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::{Error, NotFoundKind, Result};
use crate::keys;
use crate::profile::consent::Consents;
use crate::profile::delta::Delta;
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::schema;
use crate::storage::{Batch, View};

/// Every retained delta of a profile, oldest first.
pub(crate) fn deltas(view: &View<'_>, id: ProfileId) -> Result<Vec<Delta>> {
    let mut out = Vec::new();
    for kv in view.prefix(schema::DELTAS.name, &keys::profile(id))? {
        let (k, v) = kv?;
        out.push(schema::DELTAS.decode(&k, &v)?);
    }
    Ok(out)
}

/// The profile exactly as it was at `version`.
///
/// Starts from the newest snapshot at or before `version` (or from empty
/// traits before version 1) and replays at most `snapshot_every` deltas.
pub(crate) fn as_of_version(view: &View<'_>, rec: &ProfileRecord, version: u64) -> Result<Profile> {
    let id = rec.profile.id;
    if version == 0 || version > rec.profile.version {
        return Err(Error::not_found(
            NotFoundKind::Version,
            format!("version {version} of profile {id} (versions 1..={} exist)", rec.profile.version),
        ));
    }
    if version < rec.history_floor {
        return Err(Error::HistoryTruncated { profile: id.0, requested: version, floor: rec.history_floor });
    }
    if version == rec.profile.version {
        return Ok((*rec.profile).clone());
    }
    let floor_key = keys::versioned(id, 0);
    let (mut traits, mut consent, start, mut updated_at) =
        match view.last_at_or_before(schema::SNAPSHOTS.name, &floor_key, &keys::versioned(id, version))? {
            Some((k, v)) => {
                let snap = schema::SNAPSHOTS.decode(&k, &v)?;
                (snap.traits, snap.consent, snap.version, snap.updated_at)
            }
            None if rec.history_floor > 0 => {
                return Err(corrupt_history(id, version, "the retention snapshot is missing"));
            }
            None => (Traits::new(), Consents::new(), 0, rec.profile.created_at),
        };
    let from = keys::versioned(id, start + 1);
    let to = keys::versioned(id, version + 1);
    let mut expected = start + 1;
    for kv in view.range(schema::DELTAS.name, &from, Some(&to))? {
        let (k, v) = kv?;
        let delta = schema::DELTAS.decode(&k, &v)?;
        if delta.version != expected {
            return Err(corrupt_history(id, version, &format!("delta {expected} is missing")));
        }
        (traits, consent) =
            delta.replay(&traits, &consent).map_err(|e| corrupt_history(id, version, &e.to_string()))?;
        updated_at = delta.at;
        expected += 1;
    }
    if expected != version + 1 {
        return Err(corrupt_history(id, version, &format!("delta {expected} is missing")));
    }
    Ok(Profile { id, version, created_at: rec.profile.created_at, updated_at, traits, consent })
}

fn corrupt_history(id: ProfileId, version: u64, reason: &str) -> Error {
    Error::Corrupt {
        cf: schema::DELTAS.name,
        what: "history",
        key_hex: crate::error::hex_prefix(&keys::versioned(id, version)),
        reason: reason.to_owned(),
    }
}

/// The version current at time `t`: `Ok(None)` if the profile did not exist yet.
///
/// Delta times never decrease with the version (each is timed no earlier
/// than the one before), so the last delta at or before `t` is found by
/// bisection: a logarithmic number of point reads.
pub(crate) fn version_at(view: &View<'_>, rec: &ProfileRecord, t: Timestamp) -> Result<Option<u64>> {
    let id = rec.profile.id;
    if t < rec.profile.created_at {
        return Ok(None);
    }
    if let Some(floor_at) = floor_time(view, rec)? {
        if t < floor_at {
            return Err(Error::HistoryTruncated { profile: id.0, requested: 0, floor: rec.history_floor });
        }
    }
    // The first version after the floor whose delta is later than `t`.
    let (mut lo, mut hi) = (rec.history_floor + 1, rec.profile.version + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if delta(view, id, mid)?.at <= t {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(Some(lo - 1).filter(|v| *v > 0))
}

/// The delta of `id` at `version`, which must be retained.
pub(crate) fn delta(view: &View<'_>, id: ProfileId, version: u64) -> Result<Delta> {
    schema::DELTAS
        .get(view, &keys::versioned(id, version))?
        .ok_or_else(|| corrupt_history(id, version, &format!("delta {version} is missing")))
}

/// The time of the history floor of `rec` (the state retention folded its
/// older deltas into): `None` when nothing was folded.
pub(crate) fn floor_time(view: &View<'_>, rec: &ProfileRecord) -> Result<Option<Timestamp>> {
    if rec.history_floor == 0 {
        return Ok(None);
    }
    let id = rec.profile.id;
    let floor = schema::SNAPSHOTS
        .get(view, &keys::versioned(id, rec.history_floor))?
        .ok_or_else(|| corrupt_history(id, rec.history_floor, "the retention snapshot is missing"))?;
    Ok(Some(floor.updated_at))
}

/// Folds the deltas of `rec` written before `horizon` into a snapshot:
/// stages the snapshot at the newest such version, deletes those deltas
/// and older snapshots, and returns the new record (or `None` when nothing
/// is old enough).
pub(crate) fn fold_before(
    view: &View<'_>,
    batch: &mut Batch,
    rec: &ProfileRecord,
    horizon: Timestamp,
) -> Result<Option<ProfileRecord>> {
    let id = rec.profile.id;
    let mut newest_old = None;
    for kv in view.prefix(schema::DELTAS.name, &keys::profile(id))? {
        let (k, v) = kv?;
        let delta = schema::DELTAS.decode(&k, &v)?;
        if delta.at >= horizon {
            break;
        }
        newest_old = Some(delta.version);
    }
    let Some(floor) = newest_old else { return Ok(None) };
    if floor <= rec.history_floor {
        return Ok(None);
    }
    let snap = as_of_version(view, rec, floor)?;
    schema::SNAPSHOTS.put(batch, keys::versioned(id, floor), &snap);
    batch.delete_range(schema::DELTAS.name, keys::versioned(id, 0), keys::versioned(id, floor + 1));
    batch.delete_range(schema::SNAPSHOTS.name, keys::versioned(id, 0), keys::versioned(id, floor));
    let mut next = rec.clone();
    next.history_floor = floor;
    next.last_snapshot = next.last_snapshot.max(floor);
    next.profile = Arc::clone(&rec.profile);
    Ok(Some(next))
}
