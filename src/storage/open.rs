//! Opening a [`Store`]: options, column families, merge operators, and
//! the translation of RocksDB's open failures into clear errors.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::settle::{self, Mark};
use super::{storage_err, Inner, Store};
use crate::error::{Error, Result};

/// A merge function for a column family: given the key, the existing value
/// (`None` in a partial merge, which combines operands only, or when the
/// key has no value below its operands) and the operands (oldest first),
/// the merged value. It must never fail on values this build wrote; `None`
/// marks corruption.
pub(crate) type MergeFn =
    fn(key: &[u8], existing: Option<&[u8]>, operands: &mut dyn Iterator<Item = &[u8]>) -> Option<Vec<u8>>;

/// A column family's merge operator: its name, the full merge (a value, or
/// none, below the operands) and the partial merge (operands only; its
/// result is an operand again). An associative operator uses one function
/// for both.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MergeOperator {
    /// The column family.
    pub cf: &'static str,
    /// The name recorded in RocksDB's OPTIONS file.
    pub name: &'static str,
    /// Merges operands onto the stored value.
    pub full: MergeFn,
    /// Combines operands into one operand.
    pub partial: MergeFn,
    /// Fold a key's operands into a value once this many pile up in the
    /// memtable (0: never; each fold is a read of the key and a rewrite).
    pub max_successive: usize,
}

/// A column family whose values expire: compaction drops a pair whose
/// value's time is before the cutoff. The owner moves the cutoff as its
/// clock advances; a pair past it may stay until a compaction reaches its
/// file, so readers still check the time themselves.
#[derive(Clone, Debug)]
pub(crate) struct Expiring {
    /// The column family.
    pub cf: &'static str,
    /// The compaction filter's name (recorded in RocksDB's OPTIONS file).
    pub name: &'static str,
    /// Pairs whose value's time is before this are dropped.
    pub cutoff: Arc<AtomicI64>,
    /// A value's time; `None` (a value that does not decode) keeps the pair.
    pub time_of: fn(&[u8]) -> Option<i64>,
}

/// Keys of one column family whose values only grow (see
/// [`StoreOptions::counters`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Counters {
    /// The column family.
    pub cf: &'static str,
    /// The keys.
    pub keys: &'static [&'static [u8]],
}

/// How to open a [`Store`].
#[derive(Clone, Debug)]
pub(crate) struct StoreOptions {
    /// Create the directory and column families when missing.
    pub create_if_missing: bool,
    /// fsync the WAL on every commit.
    pub sync: bool,
    /// Shared block cache size in bytes.
    pub block_cache_bytes: usize,
    /// Memtable size of each column family, in bytes.
    pub write_buffer_bytes: usize,
    /// Open read-only (no writes, works beside a running writer as a
    /// point-in-time view).
    pub read_only: bool,
    /// Open as a secondary instance that can catch up with a live primary;
    /// its private files go in this directory.
    pub secondary_dir: Option<PathBuf>,
    /// Open with a missing or damaged write-ahead log, dropping everything
    /// from the damage on (point-in-time recovery), instead of failing with
    /// [`Error::WalDamaged`].
    pub salvage_wal: bool,
    /// The column families, in creation order.
    pub column_families: &'static [&'static str],
    /// Merge operators by column family.
    pub merge_operators: Vec<MergeOperator>,
    /// Column families whose keys start with a fixed-length prefix that
    /// short scans stay within, and its length: their SST filters and
    /// memtable bloom also index prefixes, and a [`View`] scan that stays
    /// within one prefix skips the files without it.
    ///
    /// [`View`]: super::View
    pub prefixes: Vec<(&'static str, usize)>,
    /// Column families whose memtable is a hash table of short sorted lists
    /// (RocksDB's hash-linked-list memtable), one per prefix — the whole key
    /// when the family has no entry in `prefixes`. A write hashes to its
    /// list instead of searching a skiplist of the whole memtable (a cache
    /// miss per level); in exchange a scan that crosses prefixes sorts the
    /// whole memtable first, and reverse scans are not supported, so these
    /// families are only ever read by point reads, scans within one prefix
    /// and rare whole-family scans (`check`, backfills, dumps).
    pub hashed_memtables: Vec<&'static str>,
    /// Column families written at random keys through a skiplist memtable
    /// (ordered scans across the family rule out a hashed one), each with
    /// a divisor: their memtable is `write_buffer_bytes` divided by it (at
    /// least 64 KiB). A skiplist insert at a random position costs a cache
    /// miss per level; a memtable that stays within the CPU caches keeps
    /// them hits. Four such memtables flush as one level-0 file, so a
    /// smaller memtable does not also make smaller files.
    pub small_memtables: Vec<(&'static str, usize)>,
    /// Column families written at random keys and read mostly through the
    /// library's caches: their level-0 compaction waits for
    /// [`LAZY_LEVEL0_FILES`] table files instead of RocksDB's 4. Random
    /// keys overlap the whole level below, so every level-0 compaction
    /// rewrites all of it; waiting for six times the files rewrites it a
    /// sixth as often. A read that misses the caches checks the filters of
    /// up to that many more files.
    pub lazy_level0: Vec<&'static str>,
    /// Column families written at random keys whose level-0 files each
    /// hold [`MERGED_MEMTABLES_PER_FLUSH`] full-size memtables: the writer's
    /// memtable stays `write_buffer_bytes`, the files — and the bytes level 0
    /// gathers before a `lazy_level0` compaction rewrites the base level
    /// under it — are four times larger, so that rewrite happens a quarter
    /// as often (at 1M profiles, RocksDB's background CPU per batched
    /// event 14.6 → 7.5 µs; BENCHMARKS.md, twenty-eighth session). In
    /// exchange up to six memtables per family (two before) wait in
    /// memory and in the WAL (a reopen replays them), and a read checks
    /// each of them.
    pub merged_flushes: Vec<&'static str>,
    /// Column families read by point lookups at random keys that are
    /// mostly absent (a message id not seen before): their tables keep a
    /// whole-file filter and index in memory, outside the block cache
    /// (about 10 bits a key), so a lookup's probe of each level is a hash
    /// and a memory read, not a block-cache lookup of a filter partition.
    pub memory_filters: Vec<&'static str>,
    /// Column families whose values expire (see [`Expiring`]).
    pub expiring: Vec<Expiring>,
    /// Column families compacted by RocksDB's universal (size-tiered)
    /// compaction instead of by levels: a family written at random keys
    /// that are read only by point lookups (mostly of absent keys, which
    /// the filters answer) rewrites each key a few times instead of once
    /// per level — every level-0 compaction of such a family rewrites the
    /// whole level below it. In exchange a lookup checks the filters of a
    /// few more sorted runs, and the space a compaction has not yet
    /// reclaimed may reach twice the live data.
    pub universal: Vec<&'static str>,
    /// Keys whose values only grow, in a rarely written column family: a
    /// secondary's catch-up after which one is gone or lower than before
    /// saw a state older than the one it had, and is retried (see
    /// `Store::catch_up`). Values of equal length compare as bytes (a type
    /// tag and a big-endian integer).
    pub counters: Option<Counters>,
    /// Rarely written column families a secondary reads by seeks instead of
    /// point lookups (see [`View::get`]).
    ///
    /// [`View::get`]: super::View::get
    pub seek_on_secondary: Vec<&'static str>,
    /// LZ4-compress table blocks (off: stored uncompressed).
    pub compression: bool,
    /// The size at which RocksDB's info log (`LOG`) rolls over to a new
    /// file; four old ones are kept.
    pub info_log_bytes: usize,
}

/// [`StoreOptions::info_log_bytes`] of a database: with four old files, at
/// most about 40 MiB of info log.
pub(crate) const INFO_LOG_BYTES: usize = 8 << 20;

/// Level-0 files that start a compaction in a `lazy_level0` family.
pub(crate) const LAZY_LEVEL0_FILES: i32 = 24;

/// Memtables a `small_memtables` family flushes as one level-0 file: its
/// memtables stay small for the writer, its files are not.
pub(crate) const SMALL_MEMTABLES_PER_FLUSH: i32 = 4;

/// Memtables a `merged_flushes` family flushes as one level-0 file.
pub(crate) const MERGED_MEMTABLES_PER_FLUSH: i32 = 4;

#[cfg(test)]
impl StoreOptions {
    /// A small writable store of `column_families`, created if missing,
    /// with no merge operators, prefixes, hashed memtables or compression
    /// (tests set the rest by struct update).
    pub(crate) fn for_test(column_families: &'static [&'static str]) -> Self {
        StoreOptions {
            create_if_missing: true,
            sync: false,
            block_cache_bytes: 1 << 20,
            write_buffer_bytes: 64 << 10,
            read_only: false,
            secondary_dir: None,
            salvage_wal: false,
            column_families,
            merge_operators: Vec::new(),
            prefixes: Vec::new(),
            hashed_memtables: Vec::new(),
            small_memtables: Vec::new(),
            lazy_level0: Vec::new(),
            merged_flushes: Vec::new(),
            memory_filters: Vec::new(),
            expiring: Vec::new(),
            universal: Vec::new(),
            counters: None,
            seek_on_secondary: Vec::new(),
            compression: false,
            info_log_bytes: INFO_LOG_BYTES,
        }
    }
}

/// The memtable size of a family in `small_memtables` with `divisor`.
fn small_write_buffer(write_buffer_bytes: usize, divisor: usize) -> usize {
    (write_buffer_bytes / divisor.max(1)).max(64 << 10)
}

/// Lists per hashed memtable: one per 32 bytes of memtable (262,144 at the
/// default 8 MiB, which holds a few tens of thousands of keys). The bucket
/// array, 8 bytes a list, counts toward the memtable's size: a quarter.
/// An insert into a list already holding a key reads its nodes (a cache
/// miss each: perf put a third of the insert there, 2026-12-06); with one
/// list per 128 bytes (before) update and identify at 1M profiles were
/// 4–7 % slower (BENCHMARKS.md, fourteenth session).
fn hash_buckets(write_buffer_bytes: usize) -> usize {
    (write_buffer_bytes / 32).max(64)
}

/// The first `N` bytes of a key, or all of a shorter one (RocksDB's capped
/// prefix: every key is in the domain, so a short key — only ever written
/// by a corruption test — cannot make the hashed memtable read past it).
fn capped<const N: usize>(key: &[u8]) -> &[u8] {
    &key[..key.len().min(N)]
}

/// The prefix extractor of `len` bytes.
fn prefix_extractor(len: usize) -> Option<rocksdb::SliceTransform> {
    let every_key: fn(&[u8]) -> bool = |_| true;
    (len == 4).then(|| rocksdb::SliceTransform::create("profiledb.capped.4", capped::<4>, Some(every_key)))
}

fn compression(opts: &StoreOptions) -> rocksdb::DBCompressionType {
    if opts.compression {
        rocksdb::DBCompressionType::Lz4
    } else {
        rocksdb::DBCompressionType::None
    }
}

/// The WAL size past which column families holding the oldest WAL file
/// are flushed (see `Store::open`).
const MAX_TOTAL_WAL_BYTES: u64 = 256 << 20;

/// How long a bottommost file waits before a compaction rewrites it only to
/// zero its keys' sequence numbers (RocksDB's default: at once). Readers
/// hold snapshots, so nearly every file a compaction writes to the
/// bottommost level keeps its sequence numbers and is marked: at once, the
/// whole level was rewritten a second time for nothing but those numbers —
/// after 5,000 trait updates at 100,000 profiles, 98 such rewrites of
/// `rollup` and `event` were 3.5 s of `settle`. A file is usually rewritten
/// by an ordinary compaction long before a week passes.
pub(super) const BOTTOMMOST_REWRITE_DELAY: &str = "bottommost_file_compaction_delay=604800";

fn cf_options(opts: &StoreOptions, cache: &rocksdb::Cache, cf: &'static str) -> Result<rocksdb::Options> {
    let mut o = rocksdb::Options::default()
        .get_options_from_string(BOTTOMMOST_REWRITE_DELAY)
        .map_err(storage_err("options", cf))?;
    let mut block = rocksdb::BlockBasedOptions::default();
    block.set_block_cache(cache);
    block.set_bloom_filter(10.0, false);
    // Partitioned indexes and filters: a lookup loads one 4 KiB partition,
    // not an SST file's whole filter (over 1 MiB for a 64 MiB file). With
    // whole filters, a database whose filters outgrow the block cache
    // re-reads and re-checksums a megabyte per point lookup (seen loading
    // 10M profiles: 8 TB read in 30 minutes, the load slowed eightfold).
    block.set_index_type(rocksdb::BlockBasedIndexType::TwoLevelIndexSearch);
    block.set_partition_filters(true);
    block.set_metadata_block_size(4096);
    block.set_cache_index_and_filter_blocks(true);
    block.set_cache_index_and_filter_blocks_with_high_priority(true);
    block.set_pin_top_level_index_and_filter(true);
    block.set_pin_l0_filter_and_index_blocks_in_cache(true);
    block.set_format_version(5);
    if opts.memory_filters.contains(&cf) {
        // Whole-file filters and indexes, held by each open table: a point
        // lookup of an absent key probes one filter per level without a
        // block-cache lookup per partition (see `memory_filters`).
        block.set_index_type(rocksdb::BlockBasedIndexType::BinarySearch);
        block.set_partition_filters(false);
        block.set_cache_index_and_filter_blocks(false);
    }
    o.set_block_based_table_factory(&block);
    o.set_compression_type(compression(opts));
    // Small memtables: every write searches a memtable skiplist whose
    // levels are a cache (and TLB) miss each once it outgrows the CPU
    // caches; RocksDB's 64 MiB default made a one-operator update spend a
    // third of its time there (BENCHMARKS.md, 2026-12-02 fourth session).
    if let Some((_, divisor)) = opts.small_memtables.iter().find(|(c, _)| *c == cf) {
        o.set_write_buffer_size(small_write_buffer(opts.write_buffer_bytes, *divisor));
        // Flushed four at a time: a level-0 file per memtable would be a
        // small file per memtable (and, random keys, a rewrite of the level
        // below per four of them).
        o.set_min_write_buffer_number_to_merge(SMALL_MEMTABLES_PER_FLUSH);
        o.set_max_write_buffer_number(SMALL_MEMTABLES_PER_FLUSH + 4);
    } else {
        o.set_write_buffer_size(opts.write_buffer_bytes);
    }
    if opts.merged_flushes.contains(&cf) {
        // Four immutable memtables, the one being written and one spare
        // while the four flush.
        o.set_min_write_buffer_number_to_merge(MERGED_MEMTABLES_PER_FLUSH);
        o.set_max_write_buffer_number(MERGED_MEMTABLES_PER_FLUSH + 2);
    }
    if opts.lazy_level0.contains(&cf) {
        // RocksDB's slowdown (20) and stop (36) must stay above the
        // trigger; their distance to it is kept.
        o.set_level_zero_file_num_compaction_trigger(LAZY_LEVEL0_FILES);
        o.set_level_zero_slowdown_writes_trigger(LAZY_LEVEL0_FILES + 16);
        o.set_level_zero_stop_writes_trigger(LAZY_LEVEL0_FILES + 32);
    }
    // A whole-key bloom filter over a skiplist memtable: point reads of
    // keys that are not there skip its skiplist. A hashed memtable finds a
    // key's list with one probe, about what the filter costs, and every
    // insert would also set the filter's bits (another cache miss): update
    // and identify at 1M profiles were 2–5 % faster without it there
    // (BENCHMARKS.md, fourteenth session).
    if !opts.hashed_memtables.contains(&cf) {
        o.set_memtable_prefix_bloom_ratio(0.02);
        o.set_memtable_whole_key_filtering(true);
    }
    if let Some((_, len)) = opts.prefixes.iter().find(|(c, _)| *c == cf) {
        // A scan within one prefix (a profile's buckets of one rollup over
        // a window) skips every SST file and memtable whose filter lacks
        // it, instead of seeking in each level: the filters keep whole
        // keys too, so point reads are filtered as before.
        let extractor = prefix_extractor(*len).ok_or_else(|| Error::Storage {
            op: "open",
            cf,
            detail: format!("no prefix extractor of {len} bytes (4 is supported: the profile id)"),
        })?;
        o.set_prefix_extractor(extractor);
    } else if opts.hashed_memtables.contains(&cf) {
        o.set_prefix_extractor(rocksdb::SliceTransform::create_noop());
    }
    if opts.hashed_memtables.contains(&cf) {
        o.set_memtable_factory(rocksdb::MemtableFactory::HashLinkList {
            bucket_count: hash_buckets(opts.write_buffer_bytes),
        });
    }
    if let Some(op) = opts.merge_operators.iter().find(|m| m.cf == cf) {
        o.set_max_successive_merges(op.max_successive);
        let (full, partial) = (op.full, op.partial);
        let full = move |key: &[u8], existing: Option<&[u8]>, ops: &rocksdb::MergeOperands| {
            full(key, existing, &mut ops.iter())
        };
        let partial = move |key: &[u8], existing: Option<&[u8]>, ops: &rocksdb::MergeOperands| {
            partial(key, existing, &mut ops.iter())
        };
        o.set_merge_operator(op.name, full, partial);
    }
    if opts.universal.contains(&cf) {
        o.set_compaction_style(rocksdb::DBCompactionStyle::Universal);
        o.set_universal_compaction_options(&rocksdb::UniversalCompactOptions::default());
    }
    if let Some(e) = opts.expiring.iter().find(|e| e.cf == cf) {
        let (cutoff, time_of) = (e.cutoff.clone(), e.time_of);
        o.set_compaction_filter(e.name, move |_level: u32, _key: &[u8], value: &[u8]| match time_of(value) {
            Some(t) if t < cutoff.load(Ordering::Relaxed) => rocksdb::CompactionDecision::Remove,
            _ => rocksdb::CompactionDecision::Keep,
        });
    }
    Ok(o)
}

impl Store {
    /// Opens (or creates) the database at `path`.
    pub fn open(path: &Path, opts: &StoreOptions) -> Result<Store> {
        // Access denied is an error of its own, not "no database here".
        let exists = path.join("CURRENT").try_exists().map_err(|source| Error::Io { path: path.to_owned(), source })?;
        if !exists && has_database_files(path) {
            // RocksDB would create a new, empty database over the old files
            // (and delete them as obsolete on the next open).
            return Err(Error::Storage {
                op: "open",
                cf: "*",
                detail: format!(
                    "{} holds database files (MANIFEST, SST or WAL) but no CURRENT file: the database is damaged; \
                     restore CURRENT (one line naming the newest MANIFEST-NNNNNN) or a backup. \
                     Refusing to create a new database over it",
                    path.display()
                ),
            });
        }
        if !exists && (!opts.create_if_missing || opts.read_only || opts.secondary_dir.is_some()) {
            return Err(Error::NotADatabase(path.to_owned()));
        }
        if !exists {
            std::fs::create_dir_all(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        }
        let read_only = opts.read_only || opts.secondary_dir.is_some();
        if exists && !read_only {
            refuse_foreign(path, opts)?;
        }
        let _registration = if read_only { None } else { Some(super::lock_probe::probe(path)?) };
        let cache = rocksdb::Cache::new_lru_cache(opts.block_cache_bytes);
        // The MANIFEST records the boundary keys of SST files; so that an
        // erased identifier cannot survive in an old MANIFEST after `purge`,
        // it is rewritten (compacted) on every version edit. The cost is one
        // small file write per flush or compaction.
        let mut db_opts = rocksdb::Options::default()
            .get_options_from_string("max_manifest_file_size=1;max_manifest_space_amp_pct=0")
            .map_err(storage_err("options", "*"))?;
        db_opts.set_compression_type(compression(opts));
        db_opts.create_if_missing(opts.create_if_missing);
        db_opts.create_missing_column_families(!read_only);
        db_opts.increase_parallelism(2);
        // RocksDB's info log (`LOG`) rolls only at an open unless it has a
        // size limit: a writer that runs for months grew it by about 13 MiB
        // a day even when idle (its statistics dump every ten minutes).
        // Rolled at `info_log_bytes`, the current file and four old ones.
        db_opts.set_keep_log_file_num(4);
        db_opts.set_max_log_file_size(opts.info_log_bytes);
        // A WAL file is deleted only once every column family has flushed
        // what it holds; without a cap, a rarely written family (segment
        // definitions, meta) keeps gigabytes of WAL alive, and a reopen
        // replays them. Past the cap, the stale families are flushed.
        db_opts.set_max_total_wal_size(MAX_TOTAL_WAL_BYTES);
        super::wal::verify_at_open(&mut db_opts, opts);
        // Hashed memtables take one writer at a time (the library has one).
        db_opts.set_allow_concurrent_memtable_write(opts.hashed_memtables.is_empty());
        // A read-only or secondary open cannot create column families: on a
        // database of an older format it opens those the database has, and
        // the newer ones are absent (read as empty; see `Store::is_absent`).
        let (present, absent): (Vec<&'static str>, Vec<&'static str>) = if read_only {
            let listed = list_families(path)?;
            opts.column_families.iter().partition(|cf| listed.iter().any(|l| l == *cf))
        } else {
            (opts.column_families.to_vec(), Vec::new())
        };
        if opts.secondary_dir.is_some() {
            db_opts.set_max_open_files(-1);
        }
        // RocksDB creates the secondary's directory on every attempt: it is
        // removed however the open ends (in `Inner` once it succeeds, after
        // the database closes; here when it fails).
        let mut secondary_dir = opts.secondary_dir.clone().map(RemoveOnDrop);
        let mut attempt = 0;
        let mut skipping = false;
        let db = loop {
            let cfs = present
                .iter()
                .map(|name| Ok(rocksdb::ColumnFamilyDescriptor::new(*name, cf_options(opts, &cache, name)?)))
                .collect::<Result<Vec<_>>>()?;
            let before = read_only.then(|| Mark::take(path));
            let opened = if let Some(secondary) = &opts.secondary_dir {
                rocksdb::DB::open_cf_descriptors_as_secondary(&db_opts, path, secondary, cfs)
            } else if opts.read_only {
                rocksdb::DB::open_cf_descriptors_read_only(&db_opts, path, cfs, false)
            } else {
                rocksdb::DB::open_cf_descriptors(&db_opts, path, cfs)
            };
            let during = before.map(|b| b.compare(&Mark::take(path))).unwrap_or_default();
            match opened {
                Ok(db) if during.whole_for(opts.secondary_dir.is_some()) => break db,
                // Not read-only: RocksDB 11.8 crashes in a read-only open
                // that skips damaged records.
                Err(e) if opts.salvage_wal && !read_only && !skipping && super::wal::past_the_damage(&e) => {
                    super::wal::skip_damaged_records(&mut db_opts);
                    skipping = true;
                    continue;
                }
                Err(e) if !settle::raced(&e, &during) => {
                    let probe = || {
                        let cfs = present
                            .iter()
                            .map(|name| {
                                Ok(rocksdb::ColumnFamilyDescriptor::new(*name, cf_options(opts, &cache, name)?))
                            })
                            .collect::<Result<Vec<_>>>()
                            .ok()?;
                        wal_probe(path, &db_opts, cfs)
                    };
                    return Err(open_error(path, e, opts, probe));
                }
                _ if attempt == settle::RETRIES => return Err(settle::unsettled("open", path)),
                _ => {}
            }
            std::thread::sleep(settle::wait(attempt));
            attempt += 1;
        };
        let mut write_opts = rocksdb::WriteOptions::default();
        write_opts.set_sync(opts.sync);
        let secondary = opts.secondary_dir.is_some();
        let _secondary_dir = secondary_dir.take();
        Ok(Store {
            inner: Arc::new(Inner {
                db,
                path: path.to_owned(),
                write_opts,
                read_only,
                secondary,
                prefixes: opts.prefixes.clone(),
                hashed: opts.hashed_memtables.clone(),
                counters: opts.counters,
                seek_on_secondary: opts.seek_on_secondary.clone(),
                families: opts.column_families,
                absent,
                created: !exists,
                watches: Default::default(),
                _secondary_dir,
                _registration,
            }),
        })
    }
}

/// The column families the database at `path` has (from its MANIFEST).
///
/// A running writer replaces the MANIFEST on every flush and compaction
/// (see `Store::open`): one named by CURRENT can be gone when it is read,
/// so a failed read is retried twice before it is reported.
pub(super) fn list_families(path: &Path) -> Result<Vec<String>> {
    let list = || rocksdb::DB::list_cf(&rocksdb::Options::default(), path);
    list().or_else(|_| list()).or_else(|_| list()).map_err(|e| Error::Storage {
        op: "list_column_families",
        cf: "*",
        detail: format!("{} at {}", e.into_string(), path.display()),
    })
}

/// Refuses a writable open of a RocksDB database that has none of
/// `opts.column_families`: another program's database, which the open
/// would change (creating the missing families) and mark as this build's.
fn refuse_foreign(path: &Path, opts: &StoreOptions) -> Result<()> {
    let listed = list_families(path)?;
    if listed.iter().any(|l| opts.column_families.contains(&l.as_str())) {
        return Ok(());
    }
    Err(Error::ForeignDatabase {
        path: path.to_owned(),
        detail: format!("it has none of profiledb's column families (it has: {})", listed.join(", ")),
    })
}

/// A directory removed when dropped (a secondary instance's private files).
pub(crate) struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        // Best effort: a leftover temp directory is harmless.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The damaged log a read-only open of `path` failed on, if that is why
/// it failed: a secondary instance (options `db_opts`, families `cfs`)
/// replays the logs as the read-only open did and names the file in its
/// diagnostic `LOG`, written in a temporary directory of its own
/// (removed again). See `wal::damaged_wal`.
fn wal_probe(path: &Path, db_opts: &rocksdb::Options, cfs: Vec<rocksdb::ColumnFamilyDescriptor>) -> Option<String> {
    static PROBES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = PROBES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = RemoveOnDrop(std::env::temp_dir().join(format!("profiledb-wal-probe-{}-{n}", std::process::id())));
    let mut probe_opts = db_opts.clone();
    probe_opts.set_max_open_files(-1);
    probe_opts.set_track_and_verify_wals_in_manifest(false);
    let opened = rocksdb::DB::open_cf_descriptors_as_secondary(&probe_opts, path, &dir.0, cfs);
    let file = opened.is_err().then(|| super::wal::named_in_log(&dir.0)).flatten();
    drop(opened);
    file
}

/// Whether `dir` holds files only a RocksDB database writes.
fn has_database_files(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(|e| e.ok()).any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        name.starts_with("MANIFEST-") || name.ends_with(".sst") || name.ends_with(".log")
    })
}

fn open_error(path: &Path, e: rocksdb::Error, opts: &StoreOptions, probe: impl FnOnce() -> Option<String>) -> Error {
    let detail = e.into_string();
    let lower = detail.to_lowercase();
    let log_dir = match (&opts.secondary_dir, opts.read_only) {
        (Some(dir), _) => Some(dir.as_path()),
        (None, true) => None,
        (None, false) => Some(path),
    };
    let damaged = if opts.salvage_wal { None } else { super::wal::damaged_wal(log_dir, &detail, probe) };
    if let Some(detail) = damaged {
        Error::WalDamaged { path: path.to_owned(), detail }
    } else if lower.contains("lock")
        && (lower.contains("resource temporarily unavailable")
            || lower.contains("lock hold")
            || lower.contains("no locks available"))
    {
        Error::Locked { path: path.to_owned(), detail }
    } else if lower.contains("column famil") && lower.contains("not") {
        Error::Storage { op: "open", cf: "*", detail: format!("{detail} (database written by another version?)") }
    } else {
        Error::Storage { op: "open", cf: "*", detail }
    }
}
