//! A writable open changes only databases profiledb wrote: another
//! program's RocksDB database is refused and left exactly as it was (data
//! without a format version: `db::format`'s tests).

use crate::error::Error;
use crate::ProfileDb;

/// The column families of the database at `dir`, sorted.
fn families(dir: &std::path::Path) -> Vec<String> {
    let mut cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), dir).expect("list families");
    cfs.sort();
    cfs
}

#[test]
fn another_programs_rocksdb_database_is_refused_and_left_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = rocksdb::DB::open_default(dir.path()).expect("a plain RocksDB database");
        db.put(b"hello", b"world").expect("put");
    }
    let before = families(dir.path());
    let err = ProfileDb::open(dir.path()).expect_err("a foreign database");
    assert!(matches!(err, Error::ForeignDatabase { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&dir.path().display().to_string()) && msg.contains("default"), "{msg}");
    assert_eq!(families(dir.path()), before, "no column family was added");
    let db = rocksdb::DB::open_default(dir.path()).expect("still opens as it was");
    assert_eq!(db.get(b"hello").expect("get").as_deref(), Some(&b"world"[..]));
}

#[test]
fn a_path_below_a_file_is_an_io_error_not_a_missing_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").expect("write");
    let err = ProfileDb::builder(file.join("db"))
        .access_mode(crate::AccessMode::ReadOnly)
        .open()
        .expect_err("no database below a file");
    assert!(matches!(err, Error::Io { .. }), "{err}");
}
