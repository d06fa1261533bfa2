//! Column families a database lacks (an older format opened read-only or
//! as a secondary, which cannot create them) read as empty; writing to one
//! is an error naming it.

use std::path::Path;

use super::{Store, StoreOptions};
use crate::error::Error;

const OLD: &str = "old";
const NEW: &str = "new";
const HASHED_NEW: &str = "hashed_new";

/// Options declaring `cfs`, read-only or as a secondary when asked.
fn options(cfs: &'static [&'static str], read_only: bool, secondary: Option<&Path>) -> StoreOptions {
    StoreOptions {
        read_only,
        secondary_dir: secondary.map(Path::to_owned),
        prefixes: vec![(NEW, 4)],
        hashed_memtables: vec![HASHED_NEW],
        ..StoreOptions::for_test(cfs)
    }
}

/// A database with the family `OLD` only, holding one key.
fn old_database(dir: &Path) {
    let store = Store::open(dir, &options(&[OLD], false, None)).expect("create");
    let mut b = store.batch();
    b.put(OLD, [0, 0, 0, 1], vec![7]);
    store.commit(b).expect("commit");
}

const ALL: &[&str] = &[OLD, NEW, HASHED_NEW];

fn assert_reads_as_empty(store: &Store) {
    assert!(store.is_absent(NEW) && store.is_absent(HASHED_NEW) && !store.is_absent(OLD));
    for view in [store.latest(), store.snapshot()] {
        assert_eq!(view.get(OLD, &[0, 0, 0, 1]).expect("get"), Some(vec![7]));
        for cf in [NEW, HASHED_NEW] {
            assert_eq!(view.get(cf, &[0, 0, 0, 1]).expect("get"), None, "{cf}");
            assert_eq!(view.range(cf, &[], None).expect("range").count(), 0, "{cf}");
            assert_eq!(view.range(cf, &[0, 0, 0, 1], Some(&[0, 0, 0, 2])).expect("range").count(), 0, "{cf}");
            assert_eq!(view.prefix(cf, &[0, 0, 0, 1]).expect("prefix").count(), 0, "{cf}");
            assert!(view.dump(&[cf]).expect("dump").is_empty(), "{cf}");
        }
        assert_eq!(view.last_at_or_before(NEW, &[], &[0xff]).expect("reverse"), None);
    }
    assert_eq!(store.size_parts(NEW).expect("size"), (0, 0));
    store.compact_range(NEW, None, None).expect("nothing to compact");
}

#[test]
fn a_read_only_open_reads_families_the_database_lacks_as_empty() {
    let dir = tempfile::tempdir().expect("tempdir");
    old_database(dir.path());
    let store = Store::open(dir.path(), &options(ALL, true, None)).expect("read-only open of an older database");
    assert_reads_as_empty(&store);
    // Writes are refused before any family is looked at…
    let mut b = store.batch();
    b.put(NEW, [1], vec![1]);
    assert!(matches!(store.commit(b), Err(Error::ReadOnly(_))));
    // …and a batch naming an absent family carries an error naming it.
    let mut b = store.batch();
    b.put(NEW, [1], vec![1]);
    let err = b.into_rocksdb().err().expect("an absent family");
    assert!(matches!(err, Error::Storage { op: "write", cf: NEW, .. }), "{err}");
    assert!(err.to_string().contains("open it writable to upgrade it"), "{err}");
}

#[test]
fn a_writable_open_creates_the_families_and_a_family_never_declared_is_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    old_database(dir.path());
    let store = Store::open(dir.path(), &options(ALL, false, None)).expect("writable open");
    assert!(!store.is_absent(NEW));
    drop(store);
    let store = Store::open(dir.path(), &options(ALL, true, None)).expect("read-only open");
    assert!(!store.is_absent(NEW) && !store.is_absent(HASHED_NEW));
    let err = store.latest().get("undeclared", &[1]).expect_err("not a declared family");
    assert!(matches!(err, Error::Storage { op: "cf_handle", cf: "undeclared", .. }), "{err}");
}

#[test]
fn a_secondary_reads_absent_families_as_empty_until_a_writer_creates_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let private = tempfile::tempdir().expect("tempdir");
    old_database(dir.path());
    let secondary = Store::open(dir.path(), &options(ALL, false, Some(&private.path().join("s"))))
        .expect("secondary open of an older database");
    assert_reads_as_empty(&secondary);
    secondary.catch_up().expect("nothing changed");
    // A writer opens the database, creating the newer families.
    let writer = Store::open(dir.path(), &options(ALL, false, None)).expect("writable open");
    let mut b = writer.batch();
    b.put(NEW, [0, 0, 0, 1], vec![1]);
    writer.commit(b).expect("commit");
    writer.compact_range(NEW, None, None).expect("flush: a MANIFEST edit naming the new family");
    let err = secondary.catch_up().expect_err("the secondary cannot see the new families");
    assert!(matches!(err, Error::Storage { op: "catch_up", .. }), "{err}");
    assert!(err.to_string().contains("reopen"), "{err}");
}
