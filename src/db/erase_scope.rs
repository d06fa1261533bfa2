//! Which keys erase's sweeps (`erase_refs`, `erase_values`,
//! `erase_rollups`) read: every key of their column families
//! ([`Scope::All`], a scan) or only given keys ([`Scope::Only`]: the
//! [`candidates`] a scan of a snapshot found, with the keys written since
//! — see `erase_phases`).
//!
//! Both run the same per-entry tests (`dedup_of`, `feed_of`,
//! `scrub_event`, `rollup_may_hold` and `forgotten`, `value_holder`,
//! `delta_reference`)
//! and the same staging, so a sweep over the candidates does what a scan
//! of everything would: an entry that no test picked in the snapshot and
//! that nothing wrote since is unchanged, and the tests read nothing but
//! the entry and the erased people (which the caller checks are unchanged
//! too).

use std::collections::{BTreeSet, HashSet};

use crate::error::Result;
use crate::identity::identifier::Identifier;
use crate::privacy::redact::Erased;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::storage::{Keys, View};

use super::erase_refs::{dedup_of, delta_reference, feed_of, scrub_event, Needles};
use super::erase_rollups::{forgotten, rollup_may_hold};
use super::erase_values::{value_holder, VALUE_FAMILIES};

/// The keys a sweep reads.
pub(crate) enum Scope {
    /// Every key of the column family, scanned in the view.
    All,
    /// Only these keys, by column family, each read in the view (a key no
    /// longer there is skipped).
    Only(Keys),
}

impl Scope {
    /// Calls `f` with every key of `cf` in the scope and its value in
    /// `view`, in key order.
    pub(crate) fn each(
        &self,
        view: &View<'_>,
        cf: &'static str,
        mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Scope::All => {
                for kv in view.range(cf, &[], None)? {
                    let (k, v) = kv?;
                    f(&k, &v)?;
                }
            }
            Scope::Only(keys) => {
                for k in keys.get(cf).into_iter().flatten() {
                    if let Some(v) = view.get(cf, k)? {
                        f(k, &v)?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Whose sweeps a scan looks for: what [`candidates`] picks.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sweeps {
    /// Erase's: the people's dedup entries and feed records, and the
    /// identifiers' values wherever other profiles hold them
    /// (`scrub_references` with `values`).
    Erase,
    /// Anonymize's: the people's dedup entries, and what names the people
    /// in other profiles' events, rollups and deltas (`scrub_references`
    /// without `values`). Its feed records stay, and so do values.
    Anonymize,
}

/// Whether a sweep would change an entry (its key and value).
type EntryTest<'a> = dyn FnMut(&[u8], &[u8]) -> Result<bool> + 'a;

/// The keys an erase of `gone` (the erased profiles and their merged-away
/// ids) with `identifiers` may change outside the people's own ranges,
/// found by a scan of `view` (a snapshot, read without the writer lock):
/// the dedup entries and feed records of `gone`, the events and rollup
/// accumulators of other profiles holding an identifier's value, the
/// records, deltas and snapshots holding one, and the deltas that name
/// the people or record a merge. For [`Sweeps::Anonymize`], what its
/// sweeps change: the dedup entries of `gone`, the events, rollup
/// accumulators and deltas that name the people, and the deltas that
/// record a merge. Collected, not staged.
pub(crate) fn candidates(
    view: &View<'_>,
    gone: &BTreeSet<ProfileId>,
    identifiers: &[Identifier],
    sweeps: Sweeps,
) -> Result<Keys> {
    let values = sweeps == Sweeps::Erase;
    let idents: HashSet<Identifier> = identifiers.iter().cloned().collect();
    let erased = Erased { profiles: gone, identifiers: &idents };
    let needles = Needles::of(&idents)?;
    let mut keys = Keys::new();
    let mut pick = |cf: &'static str, test: &mut EntryTest<'_>| -> Result<()> {
        let mut found = BTreeSet::new();
        Scope::All.each(view, cf, |k, v| {
            if test(k, v)? {
                found.insert(k.to_vec());
            }
            Ok(())
        })?;
        keys.entry(cf).or_default().extend(found);
        Ok(())
    };
    pick(schema::DEDUP.name, &mut |k, v| Ok(dedup_of(k, v, gone)?.is_some()))?;
    if values {
        pick(schema::FEED.name, &mut |k, v| Ok(feed_of(k, v, gone)?.is_some()))?;
    }
    if !idents.is_empty() {
        // Decoded here, without the lock: only what the sweeps would
        // rewrite is picked (a short value's bytes are in many events).
        pick(schema::EVENTS.name, &mut |k, v| Ok(scrub_event(k, v, &erased, values, &needles)?.is_some()))?;
        pick(schema::ROLLUPS.name, &mut |k, v| {
            // Whether the bucket is one the timelines cover is decided
            // under the lock (retention may move the floors meanwhile).
            Ok(rollup_may_hold(k, v, &erased, &needles).is_some() && forgotten(k, v, &erased)?.is_some())
        })?;
    }
    if !values {
        // Anonymize reads only `delta`'s references (`scrub_histories`).
        pick(schema::DELTAS.name, &mut |k, v| Ok(delta_reference(k, v, &erased)?.is_some()))?;
        return Ok(keys);
    }
    for cf in VALUE_FAMILIES {
        pick(cf, &mut |k, v| {
            // `delta` once, for both sweeps that read it.
            let reference = cf == schema::DELTAS.name && delta_reference(k, v, &erased)?.is_some();
            Ok(reference || (!needles.is_empty() && value_holder(cf, k, v, &erased, &needles)?.is_some()))
        })?;
    }
    Ok(keys)
}

/// `a` with the keys of `b` added.
pub(crate) fn union(mut a: Keys, b: Keys) -> Keys {
    for (cf, keys) in b {
        a.entry(cf).or_default().extend(keys);
    }
    a
}
