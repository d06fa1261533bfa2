//! A secondary handle's private directory (under the system temp
//! directory) is removed once its last clone is dropped, and when its open
//! fails; a live secondary's directory stays while another is dropped.
//!
//! One test in this file: the checks count this process's directories.

use std::path::Path;

use profiledb::{AccessMode, Identifier, ProfileDb, Update};

/// This process's secondary directories.
fn secondary_dirs() -> Vec<String> {
    let prefix = format!("profiledb-secondary-{}-", std::process::id());
    let mut dirs: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .expect("list the temp directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    dirs.sort();
    dirs
}

fn secondary(dir: &Path) -> profiledb::Result<ProfileDb> {
    ProfileDb::builder(dir).access_mode(AccessMode::Secondary).open()
}

#[test]
fn secondary_directories_are_removed_when_the_handle_drops_or_the_open_fails() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let writer = ProfileDb::open(&dir).unwrap();
    let ann: Identifier = "email:ann@example.com".parse().unwrap();
    writer.update(&ann, Update::new().set("plan", "pro")).unwrap();
    for n in 0..100 {
        let other: Identifier = format!("user_id:u{n}").parse().unwrap();
        writer.update(&other, Update::new().set("n", n)).unwrap();
    }
    assert_eq!(secondary_dirs(), Vec::<String>::new());

    // Open and drop (the last of two clones): the directory goes.
    let first = secondary(&dir).unwrap();
    let clone = first.clone();
    let second = secondary(&dir).unwrap();
    let both = secondary_dirs();
    assert_eq!(both.len(), 2, "each secondary has its own directory: {both:?}");
    drop(first);
    assert_eq!(secondary_dirs(), both, "a clone still holds the first secondary");
    drop(clone);
    let left = secondary_dirs();
    assert_eq!(left.len(), 1, "the first secondary's directory is gone, the second's stays: {left:?}");
    // The live one still works.
    writer.update(&ann, Update::new().set("plan", "max")).unwrap();
    second.catch_up().unwrap();
    assert!(second.get(&ann).unwrap().is_some());
    drop(second);
    assert_eq!(secondary_dirs(), Vec::<String>::new());
    drop(writer);

    // A failed open leaves no directory either: the directory was removed
    // only with an open handle, so every open that failed after RocksDB
    // created it (one given up as unsettled beside a busy writer, a
    // damaged write-ahead log) left it behind.
    let log = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log") && std::fs::metadata(p).unwrap().len() > 100)
        .max()
        .expect("a log holds the writes");
    let mut bytes = std::fs::read(&log).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle..middle + 8].copy_from_slice(b"\xde\xad\xbe\xef\xde\xad\xbe\xef");
    std::fs::write(&log, bytes).unwrap();
    assert!(matches!(secondary(&dir), Err(profiledb::Error::WalDamaged { .. })));
    assert_eq!(secondary_dirs(), Vec::<String>::new(), "a failed secondary open left its directory");
}
