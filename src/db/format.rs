//! The on-disk format version: recorded at creation, checked at open.

use std::path::Path;

use crate::error::{Error, Result};
use crate::keys;
use crate::schema;
use crate::storage::Store;

/// The format version this build writes.
pub const FORMAT_VERSION: u32 = 15;
/// The oldest format version this build opens.
pub const OLDEST_SUPPORTED_FORMAT_VERSION: u32 = 1;

/// Upgrades a database written by an older supported version, step by
/// step, recording the new version in the same batch as each step.
///
/// | from | to | what changes |
/// |------|----|--------------|
/// | 1 | 2 | new column families `rollup_def`, `rollup`, `event`, `dedup` (created empty at open); nothing to rewrite |
/// | 2 | 3 | new column families `segment_def`, `segment`, `wakeup`, `feed`, `membership` (created empty); nothing to rewrite |
/// | 3 | 4 | profiles carry consent: records, deltas and snapshots are written under new tags `0x13`–`0x15`; the old tags `0x01`–`0x03` stay readable (decoded with no consent) and are replaced as profiles change; new column families `audit` and `trait_index` (created empty); the ids that are not live are written to `trait_index` (one scan of `profile`); retention: meta `timeline_floor`, `rollup_floor_day` and the retired rollup bucket (absent = nothing retired) |
/// | 4 | 5 | profile records carry identifier counts by kind under the new tag `0x16`; `0x13` stays readable (no counts: listed from `profile_identifiers` until the profile's identifiers next change); nothing to rewrite |
/// | 5 | 6 | bitmap chunks (`segment`, `trait_index`) are changed by merge operands under the new tag `0x17` (the members a write added and removed), folded by the merge operator `profiledb.chunk.v1`; stored chunks stay as they are; nothing to rewrite |
/// | 6 | 7 | deltas under the new tag `0x18`: a consent change may carry the time it was given (`0x14` stays readable: no given time, applied as written); `next_event_seq` is raised a block of 4,096 at a time (still above every stored sequence number); nothing to rewrite |
/// | 7 | 8 | no all-time rollup key: all time is the retired accumulator folded with the day buckets (which it always equalled), so an event writes one rollup key per series instead of two; the all-time keys are deleted (one scan of `rollup`) |
/// | 8 | 9 | accumulators (rollup values and merge operands) under the new tag `0x19`, a hand-written layout holding only what they have (a one-event day bucket: 10 bytes instead of about 50); `0x07` stays readable (a stored value keeps it until a write to its key makes compaction fold it); nothing to rewrite |
/// | 9 | 10 | exact sums: accumulators under the new tag `0x1a`, the `0x19` layout with the sum as its exact expansion (a partial count, then the partials) rather than one rounded `f64`, so every fold order gives the same sum; `0x19` stays readable (its sum as one partial) and is rewritten when a write to its key makes compaction fold it; nothing to rewrite |
/// | 10 | 11 | the retention settings are stored: meta `timeline_retention_ms` and `bucket_retention_ms`, written by every writable open whose setting differs from the stored one (absent: never recorded — 365 days and forever), so an open that sets none (an admin tool's) applies the application's; nothing to rewrite |
/// | 11 | 12 | a rollup's backfill runs in batches, writes going on between them: meta `rollup_backfill` names the series of a declared rollup whose backfill has not finished (hidden from reads; the next writable open finishes it) — a format 11 build would read that rollup half-folded; nothing to rewrite |
/// | 12 | 13 | the suppression key may be held by the application (`Builder::secret_key`): meta `suppression_key_check` (16 bytes) stands for it, and no `suppression_secret` is stored — a format 12 build would create a stored secret at its first erase, different from the key, and suppress nothing erased before; nothing to rewrite |
/// | 13 | 14 | an unmerge writes a change-feed record of the new kind `Split` (variant 4) for the profile split off — a format 13 build would fail to decode it; nothing to rewrite |
/// | 14 | 15 | identifier values are in Unicode NFC without invisible format characters: the `identity` and `profile_identifiers` keys whose value normalizes differently are re-keyed in the batch recording 15 (one scan of `identity`; refused, writing nothing, when two profiles hold spellings of one identifier — `format_nfc`) |
fn upgrade(store: &Store, from: u32, path: &Path) -> Result<()> {
    if store.is_read_only() {
        // A read-only (or secondary) handle reads an older database as it
        // is, without upgrading it: the column families of later formats
        // are absent and read as empty (`Store::is_absent`), every older
        // value layout is still decoded, and the live set of formats 1–3 is
        // scanned at open (`SegmentState::load`). Every read is answered as
        // on the upgraded database (`tests/fixtures.rs`).
        return Ok(());
    }
    let mut v = from;
    while v < FORMAT_VERSION {
        let mut b = store.batch();
        // 1 → 2, 2 → 3 and 3 → 4: the new column families exist already
        // (created at open) and no existing layout changed; the old profile,
        // delta and snapshot tags of format 3 are still decoded (no consent).
        // 4 → 5: records of format 4 decode with no identifier counts.
        // 5 → 6: stored chunks are the base that chunk deltas apply to.
        // 6 → 7: deltas of format 6 decode with no given consent times.
        // 7 → 8: the all-time keys go (reads fold the buckets instead).
        // 8 → 9: accumulators of format 8 (tag 0x07) still decode.
        // 9 → 10: accumulators of format 9 (tag 0x19) still decode, each
        // sum as the one partial of an exact sum.
        // 10 → 11: the retention settings are recorded by the open
        // (`retention_settings::resolve`), right after this.
        // 11 → 12: no format 11 database holds meta `rollup_backfill`.
        // 12 → 13: no format 12 database holds meta `suppression_key_check`
        // (recorded by the open, right after this, when it holds a key).
        // 13 → 14: no format 13 database holds a `Split` feed record.
        // 14 → 15: identifier keys re-keyed to their NFC, invisible-free
        // values, in this batch (a crash before it leaves format 14).
        if v == 14 {
            super::format_nfc::rekey(store, &mut b, path)?;
        }
        if v == 3 {
            // 3 → 4: the live set is persisted as the ids that are gone.
            let view = store.latest();
            let next = schema::META_U32.get(&view, keys::meta::NEXT_PROFILE_ID)?.unwrap_or(0);
            let mut gone = roaring::RoaringBitmap::new();
            gone.insert_range(0..next);
            gone -= crate::segment::state::scan_live(&view)?;
            for (hi, part) in crate::segment::index::split_chunks(&gone) {
                let chunk = crate::segment::bitmap_codec::Chunk(part);
                schema::TRAIT_INDEX_CHUNKS.put(&mut b, keys::trait_index::gone(hi), &chunk);
            }
        }
        if v == 7 {
            delete_all_time_keys(store)?;
        }
        v += 1;
        schema::META_U32.put(&mut b, keys::meta::FORMAT_VERSION, &v);
        store.commit(b)?;
    }
    Ok(())
}

/// Format 7 → 8: deletes every all-time rollup key, committing every
/// [`PURGE_BATCH`] deletions (an interrupted upgrade leaves the version at
/// 7 and starts over at the next open: reads never used these keys).
fn delete_all_time_keys(store: &Store) -> Result<()> {
    let view = store.snapshot();
    let mut b = store.batch();
    let mut pending = 0;
    for kv in view.range(schema::ROLLUPS.name, &[], None)? {
        let (k, _) = kv?;
        if keys::rollup::parse(&k).is_some_and(|(_, _, bucket)| bucket == keys::rollup::ALL_TIME) {
            b.delete(schema::ROLLUPS.name, &k);
            pending += 1;
            if pending == PURGE_BATCH {
                store.commit(std::mem::replace(&mut b, store.batch()))?;
                pending = 0;
            }
        }
    }
    if pending > 0 {
        store.commit(b)?;
    }
    Ok(())
}

/// Deletions per batch when an upgrade deletes keys.
const PURGE_BATCH: usize = 100_000;

/// The column families each format version added (formats 5 to 7 added
/// none). A writable open creates the missing ones; a read-only or
/// secondary handle cannot, and reads those of later formats as empty.
pub(crate) const FAMILIES_ADDED: &[(u32, &[&str])] = &[
    (
        1,
        &[
            keys::cf::META,
            keys::cf::IDENTITY,
            keys::cf::PROFILE_IDENTIFIERS,
            keys::cf::PROFILE,
            keys::cf::DELTA,
            keys::cf::SNAPSHOT,
            keys::cf::ALIAS,
        ],
    ),
    (2, &[keys::cf::ROLLUP_DEF, keys::cf::ROLLUP, keys::cf::EVENT, keys::cf::DEDUP]),
    (3, &[keys::cf::SEGMENT_DEF, keys::cf::SEGMENT, keys::cf::WAKEUP, keys::cf::FEED, keys::cf::MEMBERSHIP]),
    (4, &[keys::cf::AUDIT, keys::cf::TRAIT_INDEX]),
];

/// On a read-only or secondary handle: every column family of format
/// `version` is there (only those of later formats may be absent), so no
/// family that holds data is read as empty.
fn check_families(store: &Store, path: &Path, version: u32) -> Result<()> {
    for (added, cfs) in FAMILIES_ADDED.iter().filter(|(v, _)| *v <= version) {
        if let Some(cf) = cfs.iter().copied().find(|cf| store.is_absent(cf)) {
            return Err(Error::Storage {
                op: "open",
                cf,
                detail: format!(
                    "the database at {} records format version {version} but lacks this column family, which \
                     format {added} added: a writer upgraded it while this handle was opening (open it again), \
                     or it is damaged",
                    path.display()
                ),
            });
        }
    }
    Ok(())
}

/// Checks the database's format version, recording it on a new database.
pub(crate) fn check_or_init(store: &Store, path: &Path) -> Result<()> {
    let found = schema::META_U32.get(&store.latest(), keys::meta::FORMAT_VERSION)?;
    if let Some(v) = found.filter(|v| (OLDEST_SUPPORTED_FORMAT_VERSION..=FORMAT_VERSION).contains(v)) {
        check_families(store, path, v)?;
    }
    match found {
        Some(v) if v == FORMAT_VERSION => Ok(()),
        Some(v) if (OLDEST_SUPPORTED_FORMAT_VERSION..FORMAT_VERSION).contains(&v) => upgrade(store, v, path),
        Some(v) => Err(Error::UnsupportedFormat {
            path: path.to_owned(),
            found: v,
            oldest_supported: OLDEST_SUPPORTED_FORMAT_VERSION,
            current: FORMAT_VERSION,
        }),
        None if store.is_read_only() => Err(Error::NotADatabase(path.to_owned())),
        // A database this open did not create, with data but no version:
        // not one profiledb wrote (a creation interrupted before its first
        // write left it empty, and is completed below).
        None if !store.created() && !store.holds_no_keys()? => Err(Error::ForeignDatabase {
            path: path.to_owned(),
            detail: "its data has no profiledb format version".to_owned(),
        }),
        None => {
            let mut b = store.batch();
            schema::META_U32.put(&mut b, keys::meta::FORMAT_VERSION, &FORMAT_VERSION);
            store.commit(b)
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::error::Error;
    use crate::keys;
    use crate::schema;
    use crate::ProfileDb;

    fn set_meta(dir: &std::path::Path, value: Vec<u8>) {
        let db = ProfileDb::open(dir).unwrap();
        let mut b = db.core.store.batch();
        b.put(keys::cf::META, keys::meta::FORMAT_VERSION, value);
        db.core.store.commit(b).unwrap();
    }

    #[test]
    fn a_newer_format_is_refused_naming_both_versions() {
        let dir = tempfile::tempdir().unwrap();
        set_meta(dir.path(), crate::codec::ValueCodec::encode_value(&99u32));
        let err = ProfileDb::open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::UnsupportedFormat { found: 99, current: super::FORMAT_VERSION, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("format version 99") && msg.contains(&format!("1..={}", super::FORMAT_VERSION)), "{msg}");
    }

    #[test]
    fn a_corrupt_format_tag_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        set_meta(dir.path(), vec![0x7f, 0, 0, 0, 1]);
        let err = ProfileDb::open(dir.path()).unwrap_err();
        assert!(matches!(err, Error::Corrupt { cf: "meta", .. }), "{err}");
        assert!(err.to_string().contains("expected tag 0x10"), "{err}");
    }

    #[test]
    fn the_families_added_by_each_format_are_every_family_in_creation_order() {
        let all: Vec<&str> = super::FAMILIES_ADDED.iter().flat_map(|(_, cfs)| cfs.iter().copied()).collect();
        assert_eq!(all, keys::cf::ALL);
        assert!(super::FAMILIES_ADDED.iter().all(|(v, _)| *v <= super::FORMAT_VERSION));
    }

    /// A database with the column families of format 1 only, recording
    /// format `version`.
    fn format_1_families(dir: &std::path::Path, version: u32) {
        let opts = crate::storage::StoreOptions::for_test(super::FAMILIES_ADDED[0].1);
        let store = crate::storage::Store::open(dir, &opts).unwrap();
        let mut b = store.batch();
        schema::META_U32.put(&mut b, keys::meta::FORMAT_VERSION, &version);
        store.commit(b).unwrap();
    }

    #[test]
    fn a_read_only_open_reads_the_families_a_format_predates_as_empty_and_upgrades_nothing() {
        let dir = tempfile::tempdir().unwrap();
        format_1_families(dir.path(), 1);
        for mode in [crate::AccessMode::ReadOnly, crate::AccessMode::Secondary] {
            let db = ProfileDb::builder(dir.path()).access_mode(mode).open().unwrap();
            assert!(db.core.store.is_absent(keys::cf::TRAIT_INDEX));
            assert!(db.segments().is_empty() && db.audit_log().unwrap().is_empty());
            assert_eq!(db.stored_format_version().unwrap(), 1);
        }
    }

    #[test]
    fn a_read_only_open_refuses_a_database_lacking_a_family_of_its_own_format() {
        let dir = tempfile::tempdir().unwrap();
        format_1_families(dir.path(), 4);
        for mode in [crate::AccessMode::ReadOnly, crate::AccessMode::Secondary] {
            let err = ProfileDb::builder(dir.path()).access_mode(mode).open().unwrap_err();
            assert!(matches!(err, Error::Storage { op: "open", cf: keys::cf::ROLLUP_DEF, .. }), "{err}");
            let msg = err.to_string();
            assert!(msg.contains("format version 4") && msg.contains("format 2 added"), "{msg}");
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
    }

    #[test]
    fn profiledb_families_holding_data_without_a_format_version_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = ProfileDb::open(dir.path()).expect("open");
            let mut b = db.core.store.batch();
            b.delete(keys::cf::META, keys::meta::FORMAT_VERSION);
            b.put(keys::cf::ALIAS, b"key", b"value".to_vec());
            db.core.store.commit(b).expect("commit");
        }
        let err = ProfileDb::open(dir.path()).expect_err("data without a version");
        assert!(matches!(err, Error::ForeignDatabase { .. }), "{err}");
        assert!(err.to_string().contains("no profiledb format version"), "{err}");
    }

    #[test]
    fn an_empty_database_left_by_an_interrupted_creation_is_completed() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = ProfileDb::open(dir.path()).expect("open");
            // What a creation interrupted before its first write leaves: the
            // families, and no key in any of them.
            let mut b = db.core.store.batch();
            let view = db.core.store.latest();
            for cf in keys::cf::ALL {
                for kv in view.range(cf, &[], None).expect("scan") {
                    b.delete(cf, &kv.expect("key").0);
                }
            }
            db.core.store.commit(b).expect("commit");
            assert!(db.core.store.holds_no_keys().expect("scan"));
        }
        let db = ProfileDb::open(dir.path()).expect("an empty database opens");
        assert_eq!(db.stored_format_version().expect("version"), super::FORMAT_VERSION);
    }

    #[test]
    fn a_new_database_records_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let db = ProfileDb::open(dir.path()).unwrap();
        let v = schema::META_U32.get(&db.core.store.latest(), keys::meta::FORMAT_VERSION).unwrap();
        assert_eq!(v, Some(super::FORMAT_VERSION));
    }
}
