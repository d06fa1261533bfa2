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
    /// Series and rollup definitions.
    pub const ROLLUP_DEF: &str = "rollup_def";
    /// Profile id ‖ series ‖ day bucket → accumulator (merge operator).
    pub const ROLLUP: &str = "rollup";
    /// Profile id ‖ event time ‖ sequence → stored event (the timeline).
    pub const EVENT: &str = "event";
    /// Message id → when it was first seen (deduplication).
    pub const DEDUP: &str = "dedup";
    /// Segment name → definition.
    pub const SEGMENT_DEF: &str = "segment_def";
    /// Segment id ‖ chunk → the members in that 65,536-id chunk.
    pub const SEGMENT: &str = "segment";
    /// Due wake-ups for time-dependent segments, and their index.
    pub const WAKEUP: &str = "wakeup";
    /// Sequence → change record (entered, exited, merged).
    pub const FEED: &str = "feed";
    /// Segment ‖ profile ‖ time → entered/exited (membership history).
    pub const MEMBERSHIP: &str = "membership";
    /// Sequence → privacy audit record (erase, export, anonymize).
    pub const AUDIT: &str = "audit";
    /// Indexed traits: definitions and one bitmap per (trait, value) (v4).
    pub const TRAIT_INDEX: &str = "trait_index";

    /// Every column family this version creates, in creation order.
    pub const ALL: &[&str] = &[
        META,
        IDENTITY,
        PROFILE_IDENTIFIERS,
        PROFILE,
        DELTA,
        SNAPSHOT,
        ALIAS,
        ROLLUP_DEF,
        ROLLUP,
        EVENT,
        DEDUP,
        SEGMENT_DEF,
        SEGMENT,
        WAKEUP,
        FEED,
        MEMBERSHIP,
        AUDIT,
        TRAIT_INDEX,
    ];
}

/// Keys in the `meta` column family.
pub mod meta {
    /// The format version (`u32`).
    pub const FORMAT_VERSION: &[u8] = b"format_version";
    /// The next profile id to allocate (`u32`).
    pub const NEXT_PROFILE_ID: &[u8] = b"next_profile_id";
    /// The last computed RFM model.
    pub const RFM_MODEL: &[u8] = b"rfm_model";
    /// The next change-feed sequence number (`u64`).
    pub const NEXT_FEED_SEQ: &[u8] = b"next_feed_seq";
    /// The next audit sequence number (`u64`).
    pub const NEXT_AUDIT_SEQ: &[u8] = b"next_audit_seq";
    /// The next segment id (`u32`).
    pub const NEXT_SEGMENT_ID: &[u8] = b"next_segment_id";
    /// The next timeline sequence number (`u64`).
    pub const NEXT_EVENT_SEQ: &[u8] = b"next_event_seq";
    /// A segment (`u32` id) whose definition committed but whose backfill
    /// has not finished: the next open finishes it.
    pub const SEGMENT_BACKFILL: &[u8] = b"segment_backfill";
    /// The series (`u32` id) of a declared rollup whose backfill has not
    /// finished: the rollup stays hidden, and the next writable open
    /// finishes it (format 12).
    pub const ROLLUP_BACKFILL: &[u8] = b"rollup_backfill";
    /// When erase or anonymize last compacted the files (ms, `u64`); 0:
    /// one committed and its compaction has not finished — the next
    /// writable open runs it.
    pub const LAST_PURGE: &[u8] = b"last_purge";
    /// Timeline retention: events before this time (ms, `u64`) may be gone.
    pub const TIMELINE_FLOOR: &[u8] = b"timeline_floor";
    /// The timeline retention in milliseconds (format 11; absent: never
    /// recorded, 365 days).
    pub const TIMELINE_RETENTION: &[u8] = b"timeline_retention_ms";
    /// The rollup bucket retention in milliseconds (format 11; absent:
    /// never recorded, 0 = forever).
    pub const BUCKET_RETENTION: &[u8] = b"bucket_retention_ms";
    /// Bucket retention: day buckets before this day (`u64`) are folded
    /// into the retired accumulator; windows may not reach before it.
    pub const ROLLUP_FLOOR_DAY: &[u8] = b"rollup_floor_day";
    /// The change-feed retention in milliseconds (absent: never recorded,
    /// 30 days; 0: forever).
    pub const FEED_RETENTION: &[u8] = b"feed_retention_ms";
    /// The membership-history retention in milliseconds (absent: never
    /// recorded, 365 days; 0: forever).
    pub const MEMBERSHIP_RETENTION: &[u8] = b"membership_retention_ms";
    /// Feed retention: records with a lower sequence number (`u64`) were
    /// deleted; a `feed` cursor before it is refused.
    pub const FEED_FLOOR: &[u8] = b"feed_floor_seq";
    /// Membership-history retention: history before this time (ms, `u64`)
    /// may be gone; `was_member` before it is refused.
    pub const MEMBERSHIP_FLOOR: &[u8] = b"membership_floor";
    /// The clock (ms, `u64`) of the last retention step that raised a floor:
    /// a later step whose clock is further ahead than `max_clock_jump`
    /// raises nothing until the jump is accepted.
    pub const RETENTION_CLOCK: &[u8] = b"retention_clock";
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

/// Bytes of `profile`: history reads scan within one profile's deltas
/// (the `delta` column family's prefix extractor).
pub const DELTA_SCAN_PREFIX: usize = 4;

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

/// Flips the sign bit so signed big-endian integers sort numerically.
pub fn i64_ordered(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// Rollup keys: `profile ‖ series u32 ‖ bucket` where the bucket is the
/// day number through [`i64_ordered`], or `RETIRED` (formats 2–7 also had
/// `ALL_TIME`, all 0xff, sorting last).
pub mod rollup {
    use crate::profile::id::ProfileId;

    /// The bucket bytes of the all-time accumulator of formats 2–7 (format
    /// 8 folds the retired accumulator and the day buckets instead; the
    /// upgrade deletes these keys, and reads skip them on a read-only
    /// handle of an older database).
    pub const ALL_TIME: [u8; 8] = [0xff; 8];
    /// The bucket bytes of the retired accumulator: the day buckets that
    /// bucket retention folded (sorts after every day, before all time).
    pub const RETIRED: [u8; 8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe];

    /// Bytes of `profile`: window reads, and the moves of a merge, scan
    /// within one profile's keys (the column family's prefix extractor,
    /// and its hashed memtable's lists).
    pub const SCAN_PREFIX: usize = 4;

    /// `profile ‖ series ‖ bucket`.
    pub fn key(p: ProfileId, series: u32, bucket: [u8; 8]) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&p.0.to_be_bytes());
        k[4..8].copy_from_slice(&series.to_be_bytes());
        k[8..].copy_from_slice(&bucket);
        k
    }

    /// The key of a day bucket.
    pub fn day(p: ProfileId, series: u32, day: i64) -> [u8; 16] {
        key(p, series, super::i64_ordered(day))
    }

    /// The key of the all-time accumulator of formats 2–7 (the end of a
    /// series' buckets in scans).
    pub fn all_time(p: ProfileId, series: u32) -> [u8; 16] {
        key(p, series, ALL_TIME)
    }

    /// The key of the retired accumulator.
    pub fn retired(p: ProfileId, series: u32) -> [u8; 16] {
        key(p, series, RETIRED)
    }

    /// The day of a bucket, or `None` for the all-time and retired ones.
    pub fn bucket_day(bucket: [u8; 8]) -> Option<i64> {
        (bucket != ALL_TIME && bucket != RETIRED).then(|| super::i64_from_ordered_bytes(bucket))
    }

    /// Splits a rollup key into (profile, series, bucket bytes).
    pub fn parse(k: &[u8]) -> Option<(ProfileId, u32, [u8; 8])> {
        if k.len() != 16 {
            return None;
        }
        let p = super::parse_profile(k)?;
        let s = u32::from_be_bytes(k[4..8].try_into().ok()?);
        Some((p, s, k[8..].try_into().ok()?))
    }
}

/// Timeline keys: `profile ‖ time (i64_ordered) ‖ seq u64`.
pub fn event(p: ProfileId, at: i64, seq: u64) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[..4].copy_from_slice(&p.0.to_be_bytes());
    k[4..12].copy_from_slice(&i64_ordered(at));
    k[12..].copy_from_slice(&seq.to_be_bytes());
    k
}

/// Bytes of `profile`: listing a profile's identifiers scans within one
/// profile (the `profile_identifiers` column family's prefix extractor).
pub const PROFILE_IDENTIFIERS_SCAN_PREFIX: usize = 4;

/// Bytes of `profile`: timeline reads scan within one profile's events
/// (the `event` column family's prefix extractor).
pub const EVENT_SCAN_PREFIX: usize = 4;

/// `profile ‖ time`: the lower bound of a profile's events at or after `at`.
pub fn event_from(p: ProfileId, at: i64) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&p.0.to_be_bytes());
    k[4..].copy_from_slice(&i64_ordered(at));
    k
}

/// Rollup-definition keys: `0x01 ‖ series u32` → series, `0x02 ‖ name` → rollup.
pub mod rollup_def {
    /// Prefix of series entries.
    pub const SERIES: u8 = 0x01;
    /// Prefix of declared rollups.
    pub const ROLLUP: u8 = 0x02;

    /// `0x01 ‖ series`.
    pub fn series(id: u32) -> [u8; 5] {
        let mut k = [SERIES, 0, 0, 0, 0];
        k[1..].copy_from_slice(&id.to_be_bytes());
        k
    }

    /// `0x02 ‖ name`.
    pub fn rollup(name: &str) -> Vec<u8> {
        let mut k = vec![ROLLUP];
        k.extend_from_slice(name.as_bytes());
        k
    }
}

/// Segment keys.
pub mod segment {
    use crate::profile::id::ProfileId;

    /// `segment ‖ chunk`: the members with ids `chunk << 16 ..= chunk << 16 | 0xffff`.
    pub fn chunk(segment: u32, chunk: u16) -> [u8; 6] {
        let mut k = [0u8; 6];
        k[..4].copy_from_slice(&segment.to_be_bytes());
        k[4..].copy_from_slice(&chunk.to_be_bytes());
        k
    }

    /// `0x01 ‖ due ‖ segment ‖ profile`: a wake-up, in due order.
    pub fn wakeup(due: i64, segment: u32, p: ProfileId) -> [u8; 17] {
        let mut k = [0u8; 17];
        k[0] = 0x01;
        k[1..9].copy_from_slice(&super::i64_ordered(due));
        k[9..13].copy_from_slice(&segment.to_be_bytes());
        k[13..].copy_from_slice(&p.0.to_be_bytes());
        k
    }

    /// Parses a wake-up key into (due, segment, profile).
    pub fn parse_wakeup(k: &[u8]) -> Option<(i64, u32, ProfileId)> {
        if k.len() != 17 || k[0] != 0x01 {
            return None;
        }
        let due = super::i64_from_ordered_bytes(k[1..9].try_into().ok()?);
        let seg = u32::from_be_bytes(k[9..13].try_into().ok()?);
        Some((due, seg, ProfileId(u32::from_be_bytes(k[13..].try_into().ok()?))))
    }

    /// `0x02 ‖ segment ‖ profile`: the index of a pending wake-up (value: its due time).
    pub fn wakeup_index(segment: u32, p: ProfileId) -> [u8; 9] {
        let mut k = [0u8; 9];
        k[0] = 0x02;
        k[1..5].copy_from_slice(&segment.to_be_bytes());
        k[5..].copy_from_slice(&p.0.to_be_bytes());
        k
    }

    /// Splits a wake-up index key into (segment, profile).
    pub fn parse_wakeup_index(k: &[u8]) -> Option<(u32, ProfileId)> {
        if k.len() != 9 || k[0] != 0x02 {
            return None;
        }
        Some((u32::from_be_bytes(k[1..5].try_into().ok()?), super::parse_profile(&k[5..])?))
    }

    /// `segment ‖ profile ‖ at`: one membership change.
    pub fn membership(segment: u32, p: ProfileId, at: i64) -> [u8; 16] {
        let mut k = [0u8; 16];
        k[..4].copy_from_slice(&segment.to_be_bytes());
        k[4..8].copy_from_slice(&p.0.to_be_bytes());
        k[8..].copy_from_slice(&super::i64_ordered(at));
        k
    }
}

/// Trait-index keys (`trait_index` column family, format 4):
///
/// - `0x01 ‖ trait name` → the index id (`u32`): a definition;
/// - `0x02 ‖ index u32 ‖ value ‖ chunk u16` → the profiles whose trait
///   holds exactly that value, in one 65,536-id chunk;
/// - `0x03 ‖ index u32 ‖ chunk u16` → the profiles whose value has no
///   bitmap of its own (the index reached its distinct-value cap);
/// - `0x04 ‖ chunk u16` → the ids below `next_profile_id` that are not
///   live (merged away or erased), so opening needs no scan of `profile`.
///
/// `value` is [`encode_value`](trait_index::encode_value): a type byte, then the payload.
pub mod trait_index {
    use crate::clock::Timestamp;
    use crate::profile::value::TraitValue;

    /// Prefix of definitions.
    pub const DEF: u8 = 0x01;
    /// Prefix of value bitmaps.
    pub const VALUE: u8 = 0x02;
    /// Prefix of the "value without a bitmap" bitmaps.
    pub const OTHER: u8 = 0x03;
    /// Prefix of the gone-profile bitmap.
    pub const GONE: u8 = 0x04;

    /// `0x01 ‖ name`.
    pub fn def(name: &str) -> Vec<u8> {
        let mut k = vec![DEF];
        k.extend_from_slice(name.as_bytes());
        k
    }

    /// `0x02 ‖ index ‖ value ‖ chunk`.
    pub fn value(index: u32, value: &[u8], chunk: u16) -> Vec<u8> {
        let mut k = Vec::with_capacity(7 + value.len());
        k.push(VALUE);
        k.extend_from_slice(&index.to_be_bytes());
        k.extend_from_slice(value);
        k.extend_from_slice(&chunk.to_be_bytes());
        k
    }

    /// `0x03 ‖ index ‖ chunk`.
    pub fn other(index: u32, chunk: u16) -> [u8; 7] {
        let mut k = [OTHER, 0, 0, 0, 0, 0, 0];
        k[1..5].copy_from_slice(&index.to_be_bytes());
        k[5..].copy_from_slice(&chunk.to_be_bytes());
        k
    }

    /// `0x04 ‖ chunk`.
    pub fn gone(chunk: u16) -> [u8; 3] {
        let c = chunk.to_be_bytes();
        [GONE, c[0], c[1]]
    }

    /// `prefix ‖ index`: the start of an index's value (0x02) or other
    /// (0x03) entries; `prefix ‖ index + 1` ends them.
    pub fn index_prefix(prefix: u8, index: u32) -> [u8; 5] {
        let mut k = [prefix, 0, 0, 0, 0];
        k[1..].copy_from_slice(&index.to_be_bytes());
        k
    }

    /// Splits a value-bitmap key into (index, encoded value, chunk).
    pub fn parse_value(k: &[u8]) -> Option<(u32, &[u8], u16)> {
        if k.len() < 7 || k[0] != VALUE {
            return None;
        }
        let index = u32::from_be_bytes(k[1..5].try_into().ok()?);
        let (value, chunk) = k[5..].split_at(k.len() - 7);
        Some((index, value, u16::from_be_bytes(chunk.try_into().ok()?)))
    }

    /// Splits an other-bitmap key into (index, chunk).
    pub fn parse_other(k: &[u8]) -> Option<(u32, u16)> {
        if k.len() != 7 || k[0] != OTHER {
            return None;
        }
        Some((u32::from_be_bytes(k[1..5].try_into().ok()?), u16::from_be_bytes(k[5..].try_into().ok()?)))
    }

    /// The chunk of a gone-bitmap key.
    pub fn parse_gone(k: &[u8]) -> Option<u16> {
        match k {
            [GONE, a, b] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }

    /// A trait value as key bytes: `0x00` null; `0x01 ‖ 0/1` bool;
    /// `0x02 ‖ i64` integer and `0x05 ‖ i64` timestamp (sign bit flipped,
    /// big-endian); `0x03 ‖ f64 bits BE` float; `0x04 ‖ UTF-8` string;
    /// `0x06 ‖ (len u32 BE ‖ UTF-8)*` list.
    pub fn encode_value(v: &TraitValue) -> Vec<u8> {
        match v {
            TraitValue::Null => vec![0x00],
            TraitValue::Bool(b) => vec![0x01, u8::from(*b)],
            TraitValue::Int(i) => tagged(0x02, &super::i64_ordered(*i)),
            TraitValue::Float(f) => tagged(0x03, &f.to_bits().to_be_bytes()),
            TraitValue::Str(s) => tagged(0x04, s.as_bytes()),
            TraitValue::Time(t) => tagged(0x05, &super::i64_ordered(t.0)),
            TraitValue::List(items) => {
                let mut k = vec![0x06];
                for s in items {
                    k.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    k.extend_from_slice(s.as_bytes());
                }
                k
            }
        }
    }

    fn tagged(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + body.len());
        k.push(tag);
        k.extend_from_slice(body);
        k
    }

    /// Inverse of [`encode_value`] (`None`: not a valid encoding).
    pub fn decode_value(k: &[u8]) -> Option<TraitValue> {
        let (&tag, body) = k.split_first()?;
        let eight = || -> Option<[u8; 8]> { body.try_into().ok() };
        Some(match tag {
            0x00 if body.is_empty() => TraitValue::Null,
            0x01 => match body {
                [0] => TraitValue::Bool(false),
                [1] => TraitValue::Bool(true),
                _ => return None,
            },
            0x02 => TraitValue::Int(super::i64_from_ordered_bytes(eight()?)),
            0x03 => TraitValue::Float(f64::from_bits(u64::from_be_bytes(eight()?))),
            0x04 => TraitValue::Str(std::str::from_utf8(body).ok()?.into()),
            0x05 => TraitValue::Time(Timestamp(super::i64_from_ordered_bytes(eight()?))),
            0x06 => {
                let mut items = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let len = u32::from_be_bytes(rest.get(..4)?.try_into().ok()?) as usize;
                    let s = rest.get(4..4 + len)?;
                    items.push(std::str::from_utf8(s).ok()?.to_owned());
                    rest = &rest[4 + len..];
                }
                TraitValue::List(items)
            }
            _ => return None,
        })
    }
}

/// Inverse of [`i64_ordered`], for keys being parsed.
pub fn i64_from_ordered_bytes(b: [u8; 8]) -> i64 {
    (u64::from_be_bytes(b) ^ (1 << 63)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_i64_sorts_numerically() {
        let vals = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        for w in vals.windows(2) {
            assert!(i64_ordered(w[0]) < i64_ordered(w[1]));
        }
        for v in vals {
            assert_eq!(i64_from_ordered_bytes(i64_ordered(v)), v);
        }
        // Day numbers of real timestamps stay far below the all-time bucket.
        assert!(rollup::day(ProfileId(1), 2, i64::MAX / 86_400_000) < rollup::all_time(ProfileId(1), 2));
    }

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
    fn trait_index_keys_round_trip() {
        use crate::clock::Timestamp;
        use crate::profile::value::TraitValue;
        let values = [
            TraitValue::Null,
            TraitValue::Bool(true),
            TraitValue::Int(-3),
            TraitValue::Float(2.5),
            TraitValue::Str("DE".into()),
            TraitValue::Str(Default::default()),
            TraitValue::Time(Timestamp(1_700_000_000_000)),
            TraitValue::List(vec!["a".into(), String::new(), "b\0c".into()]),
            TraitValue::List(vec![]),
        ];
        for v in values {
            let enc = trait_index::encode_value(&v);
            assert_eq!(trait_index::decode_value(&enc), Some(v.clone()));
            let k = trait_index::value(7, &enc, 3);
            assert_eq!(trait_index::parse_value(&k), Some((7, enc.as_slice(), 3)));
        }
        assert_eq!(trait_index::decode_value(&[0x06, 0, 0, 0, 9, b'a']), None, "truncated list element");
        assert_eq!(trait_index::decode_value(&[0x02, 1]), None);
        assert_eq!(trait_index::decode_value(&[0x09]), None);
        assert_eq!(trait_index::parse_other(&trait_index::other(5, 9)), Some((5, 9)));
        assert_eq!(trait_index::parse_gone(&trait_index::gone(2)), Some(2));
        assert_eq!(trait_index::parse_value(&[0x02, 0, 0]), None);
    }

    #[test]
    fn profile_identifier_keys_round_trip() {
        let id = Identifier::new("user_id", "u-1").unwrap();
        let k = profile_identifier(ProfileId(3), &id);
        assert_eq!(parse_profile_identifier(&k), Some((ProfileId(3), id)));
        assert!(k.starts_with(&profile(ProfileId(3))));
    }
}
