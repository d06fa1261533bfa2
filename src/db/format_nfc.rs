//! The upgrade from format 14 to 15: identifier values in Unicode NFC,
//! without invisible format characters.
//!
//! Format 14 stored an identifier's value trimmed (and lower-cased for an
//! email), so `jos\u{e9}@example.com` and `jose\u{301}@example.com` (the
//! NFD spelling macOS input produces), or `ann\u{200b}@example.com` (a
//! pasted zero-width space), were keys of their own. Format 15 keys every
//! identifier by the value [`Identifier::new`] gives it now. The step
//! re-keys the `identity` and `profile_identifiers` entries whose value
//! normalizes differently, in the batch that records version 15 (one
//! batch: a crash before its commit leaves format 14 as it was, and the
//! next writable open starts over).
//!
//! Only values holding a non-ASCII byte can change (ASCII is NFC and holds
//! no invisible character), so the step reads every `identity` key once and
//! decodes only those. For each normalized identifier, the stored spellings
//! that normalize to it (and the normalized key, when stored):
//!
//! - all on one profile: one key stays — the normalized one if stored,
//!   else the first legacy spelling's link under the normalized key; the
//!   others are deleted, and the profile's identifier counts
//!   (`ProfileRecord::kinds`) lose them;
//! - on different profiles: **the upgrade is refused**
//!   ([`Error::UpgradeRefused`]), naming every such identifier and its
//!   profiles, and nothing is written. Merging them would join people
//!   without anyone deciding it; keeping one would lose the other's
//!   mapping. The way out: with the build that wrote the database (format
//!   14), merge the profiles if they are one person (`merge_profiles`,
//!   `profiledb merge`), else erase the spelling that is wrong; then open
//!   it with this build again;
//! - a stored value that is no identifier any more (an email whose local
//!   part was nothing but invisible characters): refused the same way (its
//!   history would not decode under the new rules); erase it with the
//!   format 14 build.
//!
//! Not rewritten: deltas (`via`, `linked`, `unlinked`) and events
//! (`identifiers`) keep the bytes a format 14 build wrote; an identifier
//! decoded from them is normalized as it is decoded (the serde path of
//! [`Identifier`]), so they read as the re-keyed identifiers. Suppression
//! hashes of identifiers erased before the upgrade stay hashes of the
//! spelling erased: a legacy NFD or zero-width spelling that was erased is
//! no longer suppressed when it comes back (now the NFC spelling, whose
//! hash is another).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::link::IdentityLink;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::storage::{Batch, Store};

/// At most this many refused identifiers are named in the error (then a
/// count of the rest).
const NAMED: usize = 20;

/// The legacy spellings of one normalized identifier: the identifier,
/// whether its normalized key is stored (and where it points), and each
/// spelling with its link.
struct Group {
    normalized: Identifier,
    stored: Option<IdentityLink>,
    spellings: Vec<(Identifier, IdentityLink)>,
}

/// Adds to `b` the re-keying of every stored identifier whose value
/// format 15 normalizes differently, or refuses (writing nothing) when
/// two profiles hold spellings of one identifier. `path` names the
/// database in the error.
pub(crate) fn rekey(store: &Store, b: &mut Batch, path: &Path) -> Result<()> {
    let view = store.snapshot();
    let mut groups: BTreeMap<Vec<u8>, Group> = BTreeMap::new();
    let mut refused: Vec<String> = Vec::new();
    for kv in view.range(keys::cf::IDENTITY, &[], None)? {
        let (k, _) = kv?;
        if k.is_ascii() {
            continue;
        }
        let stored = keys::parse_identifier(&k)
            .ok_or_else(|| crate::storage::corrupt_key(keys::cf::IDENTITY, &k, "not kind ‖ 0x00 ‖ UTF-8 value"))?;
        let link = schema::IDENTITY
            .get(&view, &k)?
            .ok_or_else(|| crate::storage::corrupt_key(keys::cf::IDENTITY, &k, "listed but not readable"))?;
        match Identifier::new(stored.kind(), stored.value()) {
            Ok(normalized) if normalized == stored => {}
            Ok(normalized) => {
                let key = keys::identifier(&normalized);
                if !groups.contains_key(&key) {
                    let at = schema::IDENTITY.get(&view, &key)?;
                    groups.insert(key.clone(), Group { normalized, stored: at, spellings: Vec::new() });
                }
                if let Some(g) = groups.get_mut(&key) {
                    g.spellings.push((stored, link));
                }
            }
            Err(e) => refused.push(format!(
                "{} of profile {} is no valid identifier now ({e})",
                shown(&stored),
                link.profile.0
            )),
        }
    }
    let mut dropped: BTreeMap<ProfileId, Vec<String>> = BTreeMap::new();
    for (key, g) in &groups {
        let profiles: BTreeSet<u32> =
            g.spellings.iter().map(|(_, l)| l.profile.0).chain(g.stored.iter().map(|l| l.profile.0)).collect();
        if profiles.len() > 1 {
            let mut held: Vec<String> =
                g.spellings.iter().map(|(s, l)| format!("{} → profile {}", shown(s), l.profile.0)).collect();
            if let Some(l) = &g.stored {
                held.insert(0, format!("{} → profile {}", shown(&g.normalized), l.profile.0));
            }
            refused.push(format!("{} is stored as {}", shown(&g.normalized), held.join(", ")));
            continue;
        }
        for (i, (spelling, link)) in g.spellings.iter().enumerate() {
            b.delete(keys::cf::IDENTITY, keys::identifier(spelling));
            schema::PROFILE_IDENTIFIERS.delete(b, keys::profile_identifier(link.profile, spelling));
            if i == 0 && g.stored.is_none() {
                schema::IDENTITY.put(b, key, link);
                schema::PROFILE_IDENTIFIERS.put(
                    b,
                    keys::profile_identifier(link.profile, &g.normalized),
                    &crate::codec::Marker,
                );
            } else {
                dropped.entry(link.profile).or_default().push(spelling.kind().to_owned());
            }
        }
    }
    if !refused.is_empty() {
        let more = refused.len().saturating_sub(NAMED);
        refused.truncate(NAMED);
        let mut detail = format!(
            "format 15 compares identifiers in Unicode NFC without invisible characters, and {}",
            refused.join("; ")
        );
        if more > 0 {
            detail.push_str(&format!("; and {more} more"));
        }
        detail.push_str(
            ". Merging would join people nobody decided are one, dropping a spelling would lose its mapping: with \
             the build that wrote the database (format 14), merge the profiles that are one person \
             (`merge_profiles`, `profiledb merge`) or erase the wrong spelling, then open it with this build again",
        );
        return Err(Error::UpgradeRefused { path: path.to_owned(), from: 14, to: 15, detail });
    }
    for (profile, kinds) in dropped {
        let Some(mut rec) = schema::PROFILES.get(&view, &keys::profile(profile))? else { continue };
        if let Some(counts) = rec.kinds.as_mut() {
            let counts = Arc::make_mut(counts);
            for kind in &kinds {
                counts.add(kind, -1);
            }
            schema::PROFILES.put(b, keys::profile(profile), &rec);
        }
    }
    Ok(())
}

/// An identifier for a message: `kind:value` with its invisible and
/// non-ASCII characters escaped, so the spellings can be told apart.
fn shown(id: &Identifier) -> String {
    let mut s = format!("{}:", id.kind());
    for c in id.value().chars() {
        if c.is_ascii_graphic() {
            s.push(c);
        } else {
            s.push_str(&c.escape_unicode().to_string());
        }
    }
    s
}
