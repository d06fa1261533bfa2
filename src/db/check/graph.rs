//! The identity graph: `identity` and `profile_identifiers` are inverse
//! and point at live profiles; aliases point one hop at a live profile,
//! have their reverse entries, form no cycle, and have their merge in a
//! retained log.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::Result;
use crate::identity::kinds::KindCounts;
use crate::keys;
use crate::profile::delta::{Change, Delta};
use crate::profile::id::ProfileId;
use crate::schema;

use super::{inv, Checker};

impl Checker<'_> {
    /// Scans `alias`: one hop to a live profile, forward ⇔ reverse, no cycles.
    pub(super) fn aliases(&mut self) -> Result<()> {
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
        self.merges_recorded(&forward)
    }

    /// Every alias `l → s` of a live `s` has a `Change::Merge { loser: l }`
    /// in the retained log of the profile `l` merged into: `s` itself, or an
    /// alias of `s` (after `l` merged into `m` and `m` into `s`, the chain is
    /// compressed to `l → s` but the merge of `l` stays in `m`'s own log).
    /// Retention and anonymize fold logs (a documented horizon): when a log
    /// of `s` or of one of its aliases no longer starts at version 1, a
    /// merge that is not found may have been folded, and is not reported.
    /// Aliases of ids that are not live are reported by `alias_points_at_live`.
    fn merges_recorded(&mut self, forward: &BTreeMap<ProfileId, ProfileId>) -> Result<()> {
        let mut groups: BTreeMap<ProfileId, Vec<ProfileId>> = BTreeMap::new();
        for (&loser, &survivor) in forward.iter().filter(|(_, s)| self.is_live(**s)) {
            groups.entry(survivor).or_default().push(loser);
        }
        let view = self.view;
        for (survivor, losers) in groups {
            let mut recorded = BTreeSet::new();
            let mut folded = false;
            for x in std::iter::once(survivor).chain(losers.iter().copied()) {
                let mut first = true;
                for kv in view.prefix(schema::DELTAS.name, &keys::profile(x))? {
                    let (k, v) = kv?;
                    if std::mem::take(&mut first) {
                        folded |= *k != keys::versioned(x, 1);
                    }
                    // An undecodable delta is reported by the history scans.
                    if let Ok(Delta { change: Change::Merge { loser, .. }, .. }) = schema::DELTAS.decode(&k, &v) {
                        recorded.insert(loser);
                    }
                }
                folded |= first; // no log left at all
            }
            if folded {
                continue;
            }
            for loser in losers.into_iter().filter(|l| !recorded.contains(l)) {
                let d = format!(
                    "alias {loser} → {survivor}: no Change::Merge of {loser} in the log of {survivor} or of its aliases"
                );
                self.violation(inv::ALIAS_MERGE_RECORDED, d);
            }
        }
        Ok(())
    }

    /// Scans `identity`: each link points at a live profile and has its reverse entry.
    pub(super) fn identities(&mut self) -> Result<()> {
        let view = self.view;
        // The key the application holds, else the stored secret.
        let secret = crate::db::privacy::reading_secret(self.core, view)?;
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

    /// Scans `profile_identifiers`: each entry has a link pointing back, and
    /// each profile's entries agree with its record's identifier counts.
    pub(super) fn reverse_identities(&mut self) -> Result<()> {
        let view = self.view;
        let mut group: Option<(ProfileId, KindCounts)> = None;
        for kv in view.range(schema::PROFILE_IDENTIFIERS.name, &[], None)? {
            let (k, v) = kv?;
            let Some((id, ident)) = keys::parse_profile_identifier(&k) else {
                self.bad_key(schema::PROFILE_IDENTIFIERS.name, &k, "profile ‖ kind ‖ 0x00 ‖ value");
                continue;
            };
            match &mut group {
                Some((p, counts)) if *p == id => counts.add(ident.kind(), 1),
                _ => {
                    if let Some((p, counts)) = group.take() {
                        self.kind_counts(p, &counts)?;
                    }
                    group = Some((id, KindCounts::of([&ident])));
                }
            }
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
        if let Some((p, counts)) = group {
            self.kind_counts(p, &counts)?;
        }
        for p in std::mem::take(&mut self.counted) {
            let d = format!("profile {p}: its record counts identifiers but profile_identifiers lists none");
            self.violation(inv::KIND_COUNTS, d);
        }
        Ok(())
    }

    /// Compares the identifier counts of `p`'s record (when it has them)
    /// with `listed`, its entries in `profile_identifiers`.
    fn kind_counts(&mut self, p: ProfileId, listed: &KindCounts) -> Result<()> {
        self.counted.remove(p.0);
        let Some(bytes) = self.view.get(schema::PROFILES.name, &keys::profile(p))? else { return Ok(()) };
        // An undecodable record was reported by the profile scan.
        let Ok(rec) = schema::PROFILES.decode(&keys::profile(p), &bytes) else { return Ok(()) };
        if let Some(stored) = rec.kinds.filter(|k| **k != *listed) {
            let d =
                format!("profile {p}: its record counts identifiers {stored:?}, profile_identifiers lists {listed:?}");
            self.violation(inv::KIND_COUNTS, d);
        }
        Ok(())
    }
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
