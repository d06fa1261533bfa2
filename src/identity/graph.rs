//! Reading a profile's identifiers and its place in the alias graph.

use crate::error::Result;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::storage::View;

/// The identifiers linked to `id`, in key order (kind, then value).
pub(crate) fn identifiers_of(view: &View<'_>, id: ProfileId) -> Result<Vec<Identifier>> {
    let mut out = Vec::new();
    for kv in view.prefix(schema::PROFILE_IDENTIFIERS.name, &keys::profile(id))? {
        let (k, _) = kv?;
        let (_, ident) = keys::parse_profile_identifier(&k).ok_or_else(|| {
            crate::storage::corrupt_key(schema::PROFILE_IDENTIFIERS.name, &k, "expected profile ‖ kind ‖ 0x00 ‖ value")
        })?;
        out.push(ident);
    }
    Ok(out)
}

/// The live profile `id` merged into, when `id` is an alias.
pub(crate) fn survivor_of(view: &View<'_>, id: ProfileId) -> Result<Option<ProfileId>> {
    Ok(schema::ALIAS_FORWARD.get(view, &keys::alias::forward(id))?.map(ProfileId))
}

/// The ids merged into `survivor` (its aliases), ascending.
pub(crate) fn aliases_of(view: &View<'_>, survivor: ProfileId) -> Result<Vec<ProfileId>> {
    let mut out = Vec::new();
    for kv in view.prefix(schema::ALIAS_REVERSE.name, &keys::alias::reverse_prefix(survivor))? {
        let (k, _) = kv?;
        let loser = k.get(5..).and_then(keys::parse_profile).ok_or_else(|| {
            crate::storage::corrupt_key(schema::ALIAS_REVERSE.name, &k, "expected 0x02 ‖ survivor ‖ loser")
        })?;
        out.push(loser);
    }
    Ok(out)
}
