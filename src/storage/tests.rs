//! Scans of column families with prefix extractors and hashed memtables
//! agree with a plain ordered map, in the memtable and after a flush.

use std::collections::BTreeMap;

use super::{prefix_end, Store, StoreOptions};

const HASHED: &str = "hashed";
const WHOLE: &str = "whole";
const PLAIN: &str = "plain";

fn open(dir: &std::path::Path) -> Store {
    let opts = StoreOptions {
        prefixes: vec![(HASHED, 4), (PLAIN, 4)],
        hashed_memtables: vec![HASHED, WHOLE],
        ..StoreOptions::for_test(&[HASHED, WHOLE, PLAIN])
    };
    Store::open(dir, &opts).expect("open")
}

/// Keys of several profile prefixes, including keys shorter than the prefix
/// (only a corruption test writes those, but they must still read back).
fn keys() -> Vec<Vec<u8>> {
    let mut out = vec![vec![], vec![0], vec![1, 2], vec![0, 0, 0]];
    let mut x = 7u64;
    for _ in 0..600 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let p = (x % 9) as u32;
        let mut k = p.to_be_bytes().to_vec();
        k.extend_from_slice(&(x >> 40).to_be_bytes()[..(x % 6) as usize]);
        out.push(k);
    }
    out
}

fn collect(it: impl Iterator<Item = crate::error::Result<super::view::KeyValue>>) -> Vec<Vec<u8>> {
    it.map(|kv| kv.expect("scan").0.to_vec()).collect()
}

#[test]
fn scans_of_hashed_and_prefixed_families_match_an_ordered_map() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut model = BTreeMap::new();
    for (i, k) in keys().into_iter().enumerate() {
        let mut b = store.batch();
        for cf in [HASHED, WHOLE, PLAIN] {
            b.put(cf, &k, vec![i as u8]);
        }
        store.commit(b).expect("commit");
        model.insert(k, vec![i as u8]);
        if i == 300 {
            // Half the keys in table files, half in the memtable.
            for cf in [HASHED, WHOLE, PLAIN] {
                store.compact_range(cf, None, None).expect("flush");
            }
        }
    }
    let view = store.latest();
    for cf in [HASHED, WHOLE, PLAIN] {
        assert_eq!(collect(view.range(cf, &[], None).expect("scan")), model.keys().cloned().collect::<Vec<_>>());
        for k in model.keys() {
            assert_eq!(view.get(cf, k).expect("get"), model.get(k).cloned(), "{cf} {k:?}");
        }
        for p in 0..10u32 {
            let prefix = p.to_be_bytes();
            let want: Vec<Vec<u8>> = model.keys().filter(|k| k.starts_with(&prefix)).cloned().collect();
            assert_eq!(collect(view.prefix(cf, &prefix).expect("scan")), want, "{cf} prefix {p}");
            // A range inside the prefix, and one that crosses into the next.
            let (from, to) = ([&prefix[..], &[0x40]].concat(), [&prefix[..], &[0xc0]].concat());
            let want: Vec<Vec<u8>> = model.range(from.clone()..to.clone()).map(|(k, _)| k.clone()).collect();
            assert_eq!(collect(view.range(cf, &from, Some(&to)).expect("scan")), want, "{cf} range in {p}");
            let to = prefix_end(&prefix).map(|e| [&e[..], &[0x80]].concat()).expect("end");
            let want: Vec<Vec<u8>> = model.range(from.clone()..to.clone()).map(|(k, _)| k.clone()).collect();
            assert_eq!(collect(view.range(cf, &from, Some(&to)).expect("scan")), want, "{cf} range from {p}");
        }
        // One cursor, re-positioned forwards and backwards: each scan
        // within a prefix reads what the map holds there.
        let mut cursor = view.cursor(cf).expect("cursor").expect("present");
        for p in (0..10u32).chain((0..10).rev()) {
            let prefix = p.to_be_bytes();
            let (from, to) = ([&prefix[..], &[0x40]].concat(), [&prefix[..], &[0xc0]].concat());
            let want: Vec<Vec<u8>> = model.range(from.clone()..to.clone()).map(|(k, _)| k.clone()).collect();
            let mut got = Vec::new();
            cursor
                .scan(&from, &to, |k, v| {
                    got.push((k.to_vec(), v.to_vec()));
                    Ok(())
                })
                .expect("scan");
            assert_eq!(got.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), want, "{cf} cursor in {p}");
            assert!(got.iter().all(|(k, v)| model.get(k) == Some(v)), "{cf} cursor values in {p}");
        }
        let across = cursor.scan(&[0, 0, 0, 1], &[0, 0, 0, 2], |_, _| Ok(()));
        assert_eq!(across.is_err(), cf != WHOLE, "{cf}: a scan across prefixes is refused where prefixes apply");
    }
}

#[test]
fn reverse_scans_of_hashed_families_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut b = store.batch();
    b.put(HASHED, [0, 0, 0, 1, 5], vec![1]);
    b.put(PLAIN, [0, 0, 0, 1, 5], vec![1]);
    store.commit(b).expect("commit");
    let view = store.latest();
    let err = view.last_at_or_before(HASHED, &[0, 0, 0, 1], &[0, 0, 0, 1, 9]).expect_err("refused");
    assert!(err.to_string().contains("hashed memtable"), "{err}");
    let got = view.last_at_or_before(PLAIN, &[0, 0, 0, 1], &[0, 0, 0, 1, 9]).expect("plain");
    assert_eq!(got.map(|(k, _)| k.to_vec()), Some(vec![0, 0, 0, 1, 5]));
}

/// The count of `cf`'s level-0 files.
fn level0_files(store: &Store, cf: &'static str) -> u64 {
    let handle = store.cf(cf).unwrap().unwrap();
    store.inner.db.property_int_value_cf(handle, "rocksdb.num-files-at-level0").unwrap().unwrap_or(0)
}

/// A family in `small_memtables` flushes after an eighth of what the
/// others hold in their memtable, four memtables as one level-0 file.
#[test]
fn small_memtables_flush_an_eighth_as_much_four_at_a_time() {
    const SMALL: &str = "small";
    const LARGE: &str = "large";
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        write_buffer_bytes: 2 << 20,
        small_memtables: vec![(SMALL, 8)],
        ..StoreOptions::for_test(&[SMALL, LARGE])
    };
    let store = Store::open(dir.path(), &opts).unwrap();
    // About 1.4 MB into each: past four eighths of 2 MiB (with the
    // memtable's own overhead per entry), within 2 MiB.
    for chunk in 0..100u32 {
        let mut b = store.batch();
        for i in 0..100u32 {
            let key = (chunk * 100 + i).to_be_bytes();
            b.put(SMALL, key, vec![7; 100]);
            b.put(LARGE, key, vec![7; 100]);
        }
        store.commit(b).unwrap();
    }
    let sst = |cf: &'static str| {
        let handle = store.cf(cf).unwrap().unwrap();
        store.inner.db.property_int_value_cf(handle, "rocksdb.total-sst-files-size").unwrap().unwrap_or(0)
    };
    // Flushes run in the background: wait for the small family's.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while sst(SMALL) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(sst(SMALL) > 0, "the small memtables never flushed");
    assert_eq!(level0_files(&store, SMALL), 1, "four small memtables flush as one file");
    assert_eq!(sst(LARGE), 0, "the full-size memtable flushed");
}

/// A family in `merged_flushes` keeps full-size memtables and flushes four
/// of them as one level-0 file; the others flush each one.
#[test]
fn merged_flushes_write_four_memtables_as_one_file() {
    const MERGED: &str = "merged";
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        write_buffer_bytes: 1 << 20,
        merged_flushes: vec![MERGED],
        ..StoreOptions::for_test(&[MERGED, PLAIN])
    };
    let store = Store::open(dir.path(), &opts).unwrap();
    let property = |cf: &'static str, name: &str| {
        let handle = store.cf(cf).unwrap().unwrap();
        store.inner.db.property_int_value_cf(handle, name).unwrap().unwrap_or(0)
    };
    // About 1 MiB into each family per round (with the memtable's overhead
    // per entry): a memtable filled per round.
    let mut key = 0u32;
    let mut round = |store: &Store| {
        for _ in 0..90 {
            let mut b = store.batch();
            for _ in 0..100 {
                key += 1;
                b.put(MERGED, key.to_be_bytes(), vec![7; 100]);
                b.put(PLAIN, key.to_be_bytes(), vec![7; 100]);
            }
            store.commit(b).unwrap();
        }
    };
    let wait_for = |done: &dyn Fn() -> bool| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !done() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    for _ in 0..3 {
        round(&store);
    }
    // The plain family flushes a file per memtable (its level-0 files may
    // be compacted meanwhile: count its flushed bytes).
    wait_for(&|| property(PLAIN, "rocksdb.total-sst-files-size") > 0);
    assert!(property(PLAIN, "rocksdb.total-sst-files-size") > 0, "the plain family never flushed");
    assert_eq!(property(MERGED, "rocksdb.num-immutable-mem-table"), 3, "three memtables wait for a fourth");
    assert_eq!(property(MERGED, "rocksdb.total-sst-files-size"), 0, "a merged family flushed fewer than four");
    round(&store);
    wait_for(&|| property(MERGED, "rocksdb.total-sst-files-size") > 0);
    assert_eq!(level0_files(&store, MERGED), 1, "four memtables flush as one file");
    assert!(property(MERGED, "rocksdb.num-immutable-mem-table") <= 1);
}

/// A family in `lazy_level0` keeps its level-0 files until there are
/// [`LAZY_LEVEL0_FILES`](super::open::LAZY_LEVEL0_FILES) of them; the
/// others compact at RocksDB's 4.
#[test]
fn lazy_level0_families_wait_for_more_files() {
    const LAZY: &str = "lazy";
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { lazy_level0: vec![LAZY], ..StoreOptions::for_test(&[LAZY, PLAIN]) };
    let store = Store::open(dir.path(), &opts).unwrap();
    for round in 0..6u32 {
        let mut b = store.batch();
        for i in 0..100u32 {
            // Every round overlaps the others: no file moves down whole.
            let key = (i * 1_000 + round).to_be_bytes();
            b.put(LAZY, key, vec![1; 10]);
            b.put(PLAIN, key, vec![1; 10]);
        }
        store.commit(b).unwrap();
        // A flush of every family, then the compactions it starts.
        store.settle().unwrap();
    }
    assert_eq!(level0_files(&store, LAZY), 6);
    assert!(level0_files(&store, PLAIN) < 4, "{} level-0 files", level0_files(&store, PLAIN));
    const { assert!(super::open::LAZY_LEVEL0_FILES > 6) };
}

/// Every family delays compactions that would rewrite a bottommost file
/// only to zero its sequence numbers (RocksDB records the options it runs
/// with in the OPTIONS file).
#[test]
fn bottommost_files_are_not_rewritten_at_once_for_their_sequence_numbers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    drop(store);
    let options = std::fs::read_dir(dir.path())
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("OPTIONS-"))
        .map(|e| std::fs::read_to_string(e.path()).expect("read OPTIONS"))
        .max_by_key(String::len)
        .expect("an OPTIONS file");
    let delays: Vec<&str> =
        options.lines().filter(|l| l.trim().starts_with("bottommost_file_compaction_delay=")).collect();
    // The default family and the three of the test store.
    assert_eq!(delays.len(), 4, "{delays:?}");
    let ours = delays.iter().filter(|l| l.trim() == super::open::BOTTOMMOST_REWRITE_DELAY).count();
    assert_eq!(ours, 3, "{delays:?}");
}

#[test]
fn snapshots_older_than_a_commit_are_seen_until_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    let mut b = store.batch();
    b.put(PLAIN, b"k0k0", b"v".to_vec());
    store.commit(b).expect("commit");
    let before = store.snapshot();
    let mut b = store.batch();
    b.put(PLAIN, b"k1k1", b"v".to_vec());
    b.put(PLAIN, b"k2k2", b"v".to_vec());
    store.commit(b).expect("commit");
    let seq = store.latest_sequence();
    assert!(store.snapshot_older_than(seq).expect("property"), "the snapshot taken before the commit");
    let after = store.snapshot();
    drop(before);
    assert!(!store.snapshot_older_than(seq).expect("property"), "one taken after it does not count");
    drop(after);
    assert!(!store.snapshot_older_than(seq).expect("property"));
    assert!(!store.snapshot_older_than(u64::MAX).expect("property"), "no snapshot at all");
}

/// A family in `memory_filters` keeps its tables' filters and indexes in
/// the table readers (outside the block cache); the others keep them in
/// the block cache, partitioned.
#[test]
fn memory_filters_are_held_by_the_table_readers() {
    const HELD: &str = "held";
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { memory_filters: vec![HELD], ..StoreOptions::for_test(&[HELD, PLAIN]) };
    let store = Store::open(dir.path(), &opts).unwrap();
    for round in 0..20u32 {
        let mut b = store.batch();
        for k in 0..1_000u32 {
            let key = (round * 1_000 + k).wrapping_mul(2_654_435_761).to_be_bytes();
            b.put(HELD, key, vec![1u8; 8]);
            b.put(PLAIN, key, vec![1u8; 8]);
        }
        store.commit(b).unwrap();
    }
    for cf in [HELD, PLAIN] {
        store.compact_range(cf, None, None).unwrap();
    }
    let readers = |cf: &'static str| {
        let handle = store.cf(cf).unwrap().unwrap();
        store.inner.db.property_int_value_cf(handle, "rocksdb.estimate-table-readers-mem").unwrap().unwrap_or(0)
    };
    // 20,000 keys at 10 bits: a filter of about 25 KB.
    assert!(readers(HELD) > 20_000, "the held family's readers hold {} bytes", readers(HELD));
    assert!(readers(PLAIN) < readers(HELD) / 4, "plain {} vs held {}", readers(PLAIN), readers(HELD));
    let view = store.latest();
    let key = 7u32.wrapping_mul(2_654_435_761).to_be_bytes();
    assert_eq!(view.get(HELD, &key).unwrap(), Some(vec![1u8; 8]));
    assert_eq!(view.multi_get(HELD, &[&key[..], b"absent"]).unwrap(), vec![Some(vec![1u8; 8]), None]);
}

/// A family in `universal` is compacted size-tiered (RocksDB records the
/// style in its OPTIONS file); the others by levels.
#[test]
fn universal_families_are_compacted_size_tiered() {
    const TIERED: &str = "tiered";
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { universal: vec![TIERED], ..StoreOptions::for_test(&[TIERED, PLAIN]) };
    let store = Store::open(dir.path(), &opts).unwrap();
    let mut b = store.batch();
    b.put(TIERED, [1], vec![1]);
    store.commit(b).unwrap();
    drop(store);
    let options = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("OPTIONS-"))
        .max_by_key(|e| e.file_name())
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("an OPTIONS file");
    let style = |cf: &str| {
        let section = options.split(&format!("[CFOptions \"{cf}\"]")).nth(1).expect("the family's section");
        let section = section.split("\n[").next().unwrap_or_default();
        section.lines().find_map(|l| l.trim().strip_prefix("compaction_style=")).map(str::to_owned)
    };
    assert_eq!(style(TIERED).as_deref(), Some("kCompactionStyleUniversal"));
    assert_eq!(style(PLAIN).as_deref(), Some("kCompactionStyleLevel"));
    // Sorted runs written size-tiered open and compact by levels (a build
    // before the family was tiered) and back, reading every key.
    let store = Store::open(dir.path(), &opts).unwrap();
    let key = |i: u32| i.wrapping_mul(2_654_435_761).to_be_bytes();
    for round in 0..8u32 {
        let mut b = store.batch();
        for k in 0..500u32 {
            b.put(TIERED, key(round * 500 + k), vec![2]);
        }
        store.commit(b).unwrap();
        store.inner.db.flush_cf(store.cf(TIERED).unwrap().unwrap()).unwrap();
    }
    store.settle().unwrap();
    drop(store);
    for o in [StoreOptions::for_test(&[TIERED, PLAIN]), opts] {
        let store = Store::open(dir.path(), &o).unwrap();
        store.compact_range(TIERED, None, None).unwrap();
        let view = store.latest();
        assert_eq!(view.get(TIERED, &[1]).unwrap(), Some(vec![1]));
        assert!((0..4_000).all(|i| view.get(TIERED, &key(i)).unwrap() == Some(vec![2])));
    }
}

/// RocksDB's info log rolls at `info_log_bytes` while the store is open,
/// keeping four old files: it does not grow with the store's uptime.
#[test]
fn the_info_log_rolls_at_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions { info_log_bytes: 16 << 10, ..StoreOptions::for_test(&[PLAIN]) };
    let store = Store::open(dir.path(), &opts).unwrap();
    // Every flush writes a few lines to the info log.
    for round in 0..60u32 {
        let mut b = store.batch();
        b.put(PLAIN, round.to_be_bytes(), vec![1; 64]);
        store.commit(b).unwrap();
        store.inner.db.flush_cf(store.cf(PLAIN).unwrap().unwrap()).unwrap();
    }
    let logs: Vec<(String, u64)> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len()))
        .filter(|(name, _)| name.starts_with("LOG"))
        .collect();
    let old = logs.iter().filter(|(name, _)| name.starts_with("LOG.old")).count();
    assert!((1..=4).contains(&old), "old info logs: {logs:?}");
    let current = logs.iter().find(|(name, _)| name == "LOG").map(|(_, len)| *len).unwrap();
    assert!(current < 64 << 10, "the current info log is {current} bytes");
}
