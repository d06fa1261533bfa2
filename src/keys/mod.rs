//! Key layouts. Every key is big-endian and memcomparable, so RocksDB's
//! byte order is the order the database iterates in. The layouts are
//! documented byte by byte in `storage-format/README.md`.

use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;

/// Column family names. `default` is unused.
pub mod cf {
    /// Database metadata: format version, counters.
    pub const META: &str = "meta";
    /// Identifier → the profile it links to.
    pub const IDENTITY: &str = "identity";
    /// Profile id ‖ identifier → marker (the reverse of `identity`).
    pub const PROFILE_IDENTIFIERS: &str = "profile_identifiers";
    /// Profile id → current state.
    pub const PROFILE: &str = "profile";
    /// Profile id ‖ version → delta.
    pub const DELTA: &str = "delta";
    /// Profile id ‖ version → full snapshot at that version.
    pub const SNAPSHOT: &str = "snapshot";
    /// Alias links between merged profiles.
    pub const ALIAS: &str = "alias";

    /// Every column family this version creates, in creation order.
    pub const ALL: &[&str] = &[META, IDENTITY, PROFILE_IDENTIFIERS, PROFILE, DELTA, SNAPSHOT, ALIAS];
}

/// Keys in the `meta` column family.
pub mod meta {
    /// The format version (`u32`).
    pub const FORMAT_VERSION: &[u8] = b"format_version";
    /// The next profile id to allocate (`u32`).
    pub const NEXT_PROFILE_ID: &[u8] = b"next_profile_id";
}

/// The separator between an identifier's kind and value. Kinds never
/// contain it, so `kind ‖ 0x00 ‖ value` parses uniquely and sorts by kind
/// then value.
pub const KIND_SEPARATOR: u8 = 0x00;

/// `kind ‖ 0x00 ‖ value`: the `identity` key of an identifier.
pub fn identifier(id: &Identifier) -> Vec<u8> {
    let mut k = Vec::with_capacity(id.kind().len() + 1 + id.value().len());
    push_identifier(&mut k, id);
    k
}

fn push_identifier(k: &mut Vec<u8>, id: &Identifier) {
    k.extend_from_slice(id.kind().as_bytes());
    k.push(KIND_SEPARATOR);
    k.extend_from_slice(id.value().as_bytes());
}

/// Parses `kind ‖ 0x00 ‖ value`.
pub fn parse_identifier(k: &[u8]) -> Option<Identifier> {
    let sep = k.iter().position(|b| *b == KIND_SEPARATOR)?;
    let kind = std::str::from_utf8(&k[..sep]).ok()?;
    let value = std::str::from_utf8(&k[sep + 1..]).ok()?;
    Some(Identifier::from_stored(kind.to_owned(), value.to_owned()))
}

/// `id` as 4 bytes big-endian: the `profile` key.
pub fn profile(id: ProfileId) -> [u8; 4] {
    id.0.to_be_bytes()
}

/// Parses a 4-byte profile id (or the first 4 bytes of a longer key).
pub fn parse_profile(k: &[u8]) -> Option<ProfileId> {
    let b: [u8; 4] = k.get(..4)?.try_into().ok()?;
    Some(ProfileId(u32::from_be_bytes(b)))
}

/// `id ‖ version` (4 + 8 bytes big-endian): `delta` and `snapshot` keys.
pub fn versioned(id: ProfileId, version: u64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&id.0.to_be_bytes());
    k[4..].copy_from_slice(&version.to_be_bytes());
    k
}

/// `id ‖ kind ‖ 0x00 ‖ value`: a `profile_identifiers` key.
pub fn profile_identifier(id: ProfileId, ident: &Identifier) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + ident.kind().len() + 1 + ident.value().len());
    k.extend_from_slice(&id.0.to_be_bytes());
    push_identifier(&mut k, ident);
    k
}

/// Parses `id ‖ kind ‖ 0x00 ‖ value`.
pub fn parse_profile_identifier(k: &[u8]) -> Option<(ProfileId, Identifier)> {
    Some((parse_profile(k)?, parse_identifier(k.get(4..)?)?))
}

/// Alias keys: `0x01 ‖ loser` → survivor, and `0x02 ‖ survivor ‖ loser` →
/// marker (the reverse index that keeps every alias one hop from its
/// survivor when the survivor itself merges).
pub mod alias {
    use crate::profile::id::ProfileId;

    /// Prefix of `loser → survivor` entries.
    pub const FORWARD: u8 = 0x01;
    /// Prefix of `survivor ‖ loser` entries.
    pub const REVERSE: u8 = 0x02;

    /// `0x01 ‖ loser`.
    pub fn forward(loser: ProfileId) -> [u8; 5] {
        let mut k = [FORWARD, 0, 0, 0, 0];
        k[1..].copy_from_slice(&loser.0.to_be_bytes());
        k
    }

    /// `0x02 ‖ survivor ‖ loser`.
    pub fn reverse(survivor: ProfileId, loser: ProfileId) -> [u8; 9] {
        let mut k = [REVERSE, 0, 0, 0, 0, 0, 0, 0, 0];
        k[1..5].copy_from_slice(&survivor.0.to_be_bytes());
        k[5..].copy_from_slice(&loser.0.to_be_bytes());
        k
    }

    /// `0x02 ‖ survivor`: the prefix of a survivor's reverse entries.
    pub fn reverse_prefix(survivor: ProfileId) -> [u8; 5] {
        let mut k = [REVERSE, 0, 0, 0, 0];
        k[1..].copy_from_slice(&survivor.0.to_be_bytes());
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifier_keys_round_trip_and_sort_by_kind_then_value() {
        let a = Identifier::new("email", "a@x.com").unwrap();
        let b = Identifier::new("email", "b@x.com").unwrap();
        let c = Identifier::new("emailx", "a").unwrap();
        assert_eq!(parse_identifier(&identifier(&a)), Some(a.clone()));
        assert!(identifier(&a) < identifier(&b));
        assert!(identifier(&b) < identifier(&c), "kind terminator sorts before longer kinds");
    }

    #[test]
    fn versioned_keys_sort_numerically() {
        assert!(versioned(ProfileId(1), 255) < versioned(ProfileId(1), 256));
        assert!(versioned(ProfileId(1), u64::MAX) < versioned(ProfileId(2), 0));
    }

    #[test]
    fn profile_identifier_keys_round_trip() {
        let id = Identifier::new("user_id", "u-1").unwrap();
        let k = profile_identifier(ProfileId(3), &id);
        assert_eq!(parse_profile_identifier(&k), Some((ProfileId(3), id)));
        assert!(k.starts_with(&profile(ProfileId(3))));
    }
}
