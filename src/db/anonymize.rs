//! Anonymize: replace a person's personal values by rules and cut every
//! link back to them, keeping what analytics needs.
//!
//! What "analytics-only retention" keeps and removes (see the README):
//! - kept: the profile id and its record, rollup accumulators, event
//!   names and times on the timeline, segment membership and its history,
//!   the change feed;
//! - rewritten: traits and event properties, by [`AnonymizeRules`]; the
//!   value sets of rollup accumulators (most frequent, unique values) of a
//!   property whose rule is not `Keep` are replaced by keyed hashes, so
//!   counts and frequencies survive but the values do not;
//! - removed: every identifier (suppressed as an erase does, so later
//!   events cannot re-identify the profile), consent, message ids and their
//!   dedup entries, identify traits on stored events, and the whole delta
//!   and snapshot history (of the profile and of the profiles merged into
//!   it) — replaced by one snapshot of the anonymized state at a new
//!   version, which becomes the history floor; then the files are
//!   compacted so the old values leave the disk.
//!
//! Segment membership is re-evaluated from the anonymized state right
//! after the anonymizing batch commits: memberships that depend only on
//! kept values stay.

use std::sync::Arc;

use crate::error::{Error, NotFoundKind, Result};
use crate::event::property::PropertyValue;
use crate::identity::graph::aliases_of;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::privacy::anonymize::{apply, Outcome};
use crate::privacy::suppression::hash_text;
use crate::privacy::{AnonymizeRules, AuditAction, ValueRule};
use crate::profile::id::ProfileId;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::{TraitEntry, Traits};
use crate::schema;
use crate::segment::context::to_trait_value;
use crate::storage::prefix_end;
use crate::txn::Txn;

use super::erase_scope::{Scope, Sweeps};
use super::privacy::{forget_message_id, mark_purge_pending, suppression_secret, unlink_and_suppress};
use super::ProfileDb;

/// What an anonymize did (counts only: no values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnonymizeReport {
    /// The anonymized profile (still live, with no identifiers).
    pub profile: ProfileId,
    /// Identifiers removed and suppressed.
    pub identifiers: u64,
    /// Traits kept as they were.
    pub traits_kept: u64,
    /// Traits removed.
    pub traits_dropped: u64,
    /// Traits replaced by a keyed hash.
    pub traits_hashed: u64,
    /// Traits replaced by a coarser value.
    pub traits_generalized: u64,
    /// Stored events rewritten.
    pub events_scrubbed: u64,
    /// Rollup accumulators whose value sets were hashed.
    pub rollups_scrubbed: u64,
    /// History entries (deltas and snapshots) removed.
    pub history_removed: u64,
    /// Dedup entries (message ids) removed.
    pub dedup_removed: u64,
    /// Other profiles' stored deltas, snapshots, events and rollup
    /// accumulators rewritten to drop the person's identifiers (and their
    /// values) and, where it had merged into one of them and was split off
    /// again, its traits (as erase does).
    pub references_redacted: u64,
}

impl ProfileDb {
    /// Anonymizes the person `identifier` reaches for analytics-only
    /// retention: traits and event properties are replaced by `rules`
    /// (or the builder's [`anonymize_rules`](crate::Builder::anonymize_rules)),
    /// identifiers removed and suppressed, consent and the history folded
    /// away; rollups and segment membership stay. One batch, then the
    /// files are compacted (a failed compaction, or one a read that began
    /// before the anonymize held up, is [`Error::PurgePending`], as for
    /// [`erase`](Self::erase)).
    /// Audit-logged without personal data. An unknown identifier is
    /// [`Error::NotFound`] and changes nothing.
    ///
    /// Rollups keep the fold of the original values, so a rollup backfill
    /// ([`declare_rollup`](Self::declare_rollup)) running on another
    /// thread ends first (this waits for it; so it does for a segment
    /// definition's backfill), and one an error or a panic stopped on this
    /// handle is finished first. Called from a progress callback while
    /// a rollup's backfill is unfinished it is refused
    /// ([`Error::InvalidInput`]) and changes nothing (from a segment
    /// definition's, with no rollup backfill pending, it runs).
    ///
    /// **Cost and blocking.** Besides the person's own ranges, anonymize
    /// scans the whole `dedup`, `event`, `rollup` and `delta` column
    /// families (the person's dedup entries, and what names the person in
    /// other profiles' events, rollups and histories). As
    /// [`erase`](Self::erase) does, with the same phases, it scans a
    /// snapshot **without the writer lock** and holds the lock briefly
    /// before the scan and after it, to re-read the keys the scan found
    /// and those written meanwhile and commit; when the person changed
    /// during the scan (a merge, unmerge, new link or an erase), it scans
    /// again under the lock. The compaction runs without the lock.
    pub fn anonymize(
        &self,
        identifier: &Identifier,
        rules: Option<&AnonymizeRules>,
        request_id: Option<&str>,
    ) -> Result<AnonymizeReport> {
        self.writable("anonymize")?;
        let rules = rules.unwrap_or(&self.core.config.privacy.anonymize);
        rules.validate()?;
        // Rollups keep the fold of the values scrubbed here; a rollup
        // backfill not past the profile yet would fold the scrubbed
        // timeline. So it ends first (a running one, on another thread: we
        // wait; one stopped early on this handle: finished here), and none
        // starts until this commit.
        let definitions = self.core.definitions.hold_unless_nested();
        match definitions {
            Some(_) => self.finish_pending_rollup()?,
            // From a definition's progress callback: no other starts before
            // it returns; a segment's may go on, a rollup's may not.
            None if self.core.rollups.read().building.is_some() => return Err(Error::invalid(
                "anonymize was called from a progress callback while a rollup declaration's backfill is unfinished \
                     (it would fold the scrubbed values, which rollups keep): call it after the definition returns \
                     (or from another thread, where it waits)",
            )),
            None => {}
        }
        let report = self.in_phases(std::slice::from_ref(identifier), Sweeps::Anonymize, |txn, people, scope| {
            self.anonymize_resolved(txn, people.first_profile(), scope, identifier, rules, request_id)
        })?;
        drop(definitions);
        self.purge_files().map_err(|e| super::privacy::purge_failed("anonymize", e))?;
        Ok(report)
    }

    /// Anonymizes profile `p` (`identifier` reached it, resolved in `txn`;
    /// `None`: nobody), reading the keys of `scope` outside its own ranges
    /// (see `erase_phases`), and commits. Segments are re-evaluated at
    /// commit, in the same batch: the scrubbed timeline is staged for the
    /// transaction's reads.
    fn anonymize_resolved(
        &self,
        mut txn: Txn<'_>,
        p: Option<ProfileId>,
        scope: &Scope,
        identifier: &Identifier,
        rules: &AnonymizeRules,
        request_id: Option<&str>,
    ) -> Result<AnonymizeReport> {
        let missing =
            || Error::not_found(NotFoundKind::Identifier, format!("identifier {identifier} (nothing to anonymize)"));
        let p = p.ok_or_else(missing)?;
        let rec = txn.profile(p)?.ok_or_else(missing)?;
        let secret = suppression_secret(&mut txn)?;
        let hash = |s: &str| hash_text(&secret, s);
        let mut report = AnonymizeReport { profile: p, ..AnonymizeReport::default() };
        let traits = anonymize_traits(&rec.profile.traits, rules, &hash, &mut report);
        let unlinked = unlink_and_suppress(&mut txn, &secret, p)?;
        report.identifiers = unlinked.len() as u64;
        let ids: std::collections::BTreeSet<ProfileId> = std::iter::once(p).chain(aliases_of(&txn.view, p)?).collect();
        // Every dedup entry of the profile and its aliases (events never on
        // a timeline — aliases, timelines off, trimmed — included).
        report.dedup_removed = super::erase_refs::forget_dedup(&mut txn, &ids, scope)?.values().sum();
        // What the person left in other profiles' histories and events
        // (a refused stitch's `via`, a merge window of a survivor it was
        // split off from), redacted as erase redacts it.
        let mut swept = super::erase_refs::Swept::default();
        super::erase_refs::scrub_references(&mut txn, &ids, &unlinked, false, &mut swept, scope)?;
        report.references_redacted = swept.total();
        for &x in &ids {
            let scrubbed = scrub_events(&mut txn, x, rules, &hash)?;
            report.events_scrubbed += scrubbed.len() as u64;
            if x == p {
                txn.replace_events(p, scrubbed);
            }
            report.rollups_scrubbed += scrub_rollups(&mut txn, x, rules, &hash)?;
            let prefix = keys::profile(x);
            let end = prefix_end(&prefix).unwrap_or_else(|| vec![0xff; 5]);
            for cf in [schema::DELTAS.name, schema::SNAPSHOTS.name] {
                report.history_removed += txn.view.prefix(cf, &prefix)?.count() as u64;
                txn.batch.delete_range(cf, prefix, &end);
            }
        }
        // The anonymized state, as the only history left (staged after the
        // range deletes, so it survives them).
        let version = rec.profile.version + 1;
        let profile = Profile {
            id: p,
            version,
            created_at: rec.profile.created_at,
            updated_at: txn.time_for(Some(&rec)),
            traits,
            consent: Default::default(),
        };
        schema::SNAPSHOTS.put(&mut txn.batch, keys::versioned(p, version), &profile);
        let kinds = rec.kinds.clone();
        txn.put_profile(ProfileRecord {
            profile: Arc::new(profile),
            history_floor: version,
            last_snapshot: version,
            kinds,
        });
        let entries = report.identifiers
            + report.references_redacted
            + report.events_scrubbed
            + report.rollups_scrubbed
            + report.history_removed
            + report.dedup_removed;
        self.audit(&mut txn, AuditAction::Anonymize, request_id, p, entries)?;
        mark_purge_pending(&mut txn);
        txn.commit()?;
        self.note_purge_commit();
        self.publish_secret(secret);
        Ok(report)
    }
}

fn anonymize_traits(
    traits: &Traits,
    rules: &AnonymizeRules,
    hash: &dyn Fn(&str) -> String,
    report: &mut AnonymizeReport,
) -> Traits {
    let mut out = Traits::new();
    for (name, entry) in traits.iter() {
        let (value, outcome) = apply(rules.rule_for(name), &entry.value, hash);
        match outcome {
            Outcome::Kept => report.traits_kept += 1,
            Outcome::Dropped => report.traits_dropped += 1,
            Outcome::Hashed => report.traits_hashed += 1,
            Outcome::Generalized => report.traits_generalized += 1,
        }
        if let Some(value) = value {
            out.insert_entry(name, TraitEntry { value, updated_at: entry.updated_at });
        }
    }
    out
}

/// Rewrites every stored event of `x` in place: no message id (its dedup
/// entry is deleted), identifiers, identify traits or previous id, and the
/// properties by `rules`. Returns the rewritten events, in timeline order.
fn scrub_events(
    txn: &mut Txn<'_>,
    x: ProfileId,
    rules: &AnonymizeRules,
    hash: &dyn Fn(&str) -> String,
) -> Result<Vec<crate::event::Event>> {
    let mut rewritten = Vec::new();
    for kv in txn.view.prefix(schema::EVENTS.name, &keys::profile(x))? {
        let (k, v) = kv?;
        rewritten.push((k.to_vec(), schema::EVENTS.decode(&k, &v)?));
    }
    let mut out = Vec::with_capacity(rewritten.len());
    for (k, mut event) in rewritten {
        forget_message_id(txn, &event);
        event.message_id = None;
        event.identifiers.clear();
        event.traits.clear();
        event.previous_id = None;
        event.properties = event
            .properties
            .iter()
            .filter_map(|(name, value)| anonymize_property(name, value, rules, hash).map(|v| (name.to_owned(), v)))
            .collect();
        schema::EVENTS.put(&mut txn.batch, k, &event);
        out.push(event);
    }
    Ok(out)
}

/// The anonymized value of the event property at dotted `path` (`None`:
/// dropped). Traits are stored flattened (`address.city`), event
/// properties as nested objects: an object with a rule for a name below it
/// is anonymized member by member (a member takes its own rule, else its
/// nearest dotted parent's), so a property is treated as the trait of the
/// same dotted name would be; an object left with no member is dropped.
/// Any other value takes the rule of its path.
fn anonymize_property(
    path: &str,
    value: &PropertyValue,
    rules: &AnonymizeRules,
    hash: &dyn Fn(&str) -> String,
) -> Option<PropertyValue> {
    if let PropertyValue::Object(members) = value {
        if rules.has_rules_below(path) {
            let kept: std::collections::BTreeMap<String, PropertyValue> = members
                .iter()
                .filter_map(|(name, v)| {
                    anonymize_property(&format!("{path}.{name}"), v, rules, hash).map(|v| (name.clone(), v))
                })
                .collect();
            return (!kept.is_empty()).then_some(PropertyValue::Object(kept));
        }
    }
    match rules.rule_for(path) {
        ValueRule::Keep => Some(value.clone()),
        rule => apply(rule, &to_trait_value(value), hash).0.map(|v| PropertyValue::from_trait_value(&v)),
    }
}

/// Replaces the value sets of `x`'s rollup accumulators by keyed hashes
/// where the series' property is not kept. Each accumulator is read merged
/// and written back whole (replacing its merge operands). Returns how many
/// were rewritten.
fn scrub_rollups(
    txn: &mut Txn<'_>,
    x: ProfileId,
    rules: &AnonymizeRules,
    hash: &dyn Fn(&str) -> String,
) -> Result<u64> {
    let properties: Vec<Option<String>> = txn.core.rollups.read().series.iter().map(|s| s.property.clone()).collect();
    let mut rewritten = Vec::new();
    for kv in txn.view.prefix(schema::ROLLUPS.name, &keys::profile(x))? {
        let (k, v) = kv?;
        let Some((_, series, _)) = keys::rollup::parse(&k) else { continue };
        let Some(Some(property)) = properties.get(series as usize) else { continue };
        if *rules.rule_for(property) == ValueRule::Keep {
            continue;
        }
        let mut acc = schema::ROLLUPS.decode(&k, &v)?;
        if acc.values.is_empty() {
            continue;
        }
        let mut hashed = std::collections::BTreeMap::new();
        for (value, n) in std::mem::take(&mut acc.values) {
            *hashed.entry(hash(&value)).or_insert(0) += n;
        }
        acc.values = hashed;
        rewritten.push((k.to_vec(), acc));
    }
    let n = rewritten.len() as u64;
    txn.rollups_rewritten(x);
    for (k, acc) in rewritten {
        schema::ROLLUPS.put(&mut txn.batch, k, &acc);
    }
    Ok(n)
}
