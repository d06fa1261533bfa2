//! Failures an operator meets: a full disk during `erase`, `anonymize` and
//! `compact` is reported (exit 1), never acknowledged as success, and a
//! purge it left pending is shown by `stats` and finished by `compact`.
//!
//! The full disk is a small tmpfs mounted in a private mount namespace
//! (`unshare -m`, or `unshare -rm` without root), so nothing outside the
//! test sees it. Where namespaces are not allowed, the tests say so and
//! pass without running.

mod common;

use std::path::Path;

use common::full_disk::{on_a_full_disk, on_a_tmpfs};
use common::{profiledb, run_cmd, s, TestDb};
use serde_json::json;

const SECRET: &str = "SECRET-ZZ-9911";

/// The files of `dir` that hold `needle`.
fn files_holding(dir: &Path, needle: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.is_file() && std::fs::read(p).expect("read").windows(needle.len()).any(|w| w == needle.as_bytes())
        })
        .map(|p| p.display().to_string())
        .collect()
}

/// A demo database of 1,000 people plus one whose trait holds [`SECRET`],
/// compacted (the secret is in a table file).
fn with_a_secret() -> TestDb {
    let db = TestDb::empty();
    let mut c = profiledb();
    c.args(["demo", "--dir", s(&db.path()), "--profiles", "1000"]);
    run_cmd(c, None).ok();
    let event = json!({
        "message_id": "sec1", "type": "identify", "timestamp": "2026-11-05T10:00:00Z",
        "identifiers": {"email": "secretperson@zzz.com"}, "traits": {"ssn": SECRET},
    });
    db.run(&["track", &event.to_string()]).ok();
    db.run(&["compact"]).ok();
    assert!(!files_holding(&db.path(), SECRET).is_empty(), "precondition: the secret is in the files");
    db
}

#[test]
fn erase_on_a_full_disk_fails_leaves_the_purge_pending_and_compact_finishes_it() {
    let db = with_a_secret();
    let Some(run) = on_a_full_disk(&db, 600, &["erase", "email:secretperson@zzz.com", "--yes"]) else { return };
    run.code(1).err_has(&["erase committed", "compaction", "profiledb compact"]);
    assert!(!files_holding(&db.path(), SECRET).is_empty(), "the compaction did not run");
    assert_eq!(db.json(&["stats"])["purge_pending"], json!(true));
    assert!(db.run(&["stats"]).ok().stdout.contains("purge        PENDING"));
    assert_eq!(db.json(&["check"])["purge_pending"], json!(true));
    assert!(db.run(&["check"]).stdout.contains("purge pending: an erase or anonymize committed"));
    db.run(&["get", "email:secretperson@zzz.com"]).code(3);

    db.run(&["compact"]).ok();
    assert_eq!(files_holding(&db.path(), SECRET), Vec::<String>::new());
    assert_eq!(db.json(&["stats"])["purge_pending"], json!(false));
}

#[test]
fn anonymize_on_a_full_disk_fails_too() {
    let db = with_a_secret();
    let Some(run) = on_a_full_disk(&db, 600, &["anonymize", "email:secretperson@zzz.com", "--yes"]) else { return };
    run.code(1).err_has(&["anonymize committed", "profiledb compact"]);
    assert_eq!(db.json(&["stats"])["purge_pending"], json!(true));
    db.run(&["compact"]).ok();
    assert_eq!(files_holding(&db.path(), SECRET), Vec::<String>::new());
}

#[test]
fn compact_on_a_full_disk_fails() {
    let db = with_a_secret();
    let Some(run) = on_a_full_disk(&db, 600, &["compact"]) else { return };
    run.code(1).err_has(&["compaction failed", "free space"]);
}

#[test]
fn backup_from_a_read_only_mount_says_to_copy_the_directory() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    let dest = db.beside("bk");
    let Some(run) = on_a_tmpfs(&db, "ro", &["backup", s(&dest)]) else { return };
    run.code(1).err_has(&["Read-only file system", "cp -a"]);
    assert!(!dest.exists());
}

#[test]
fn backup_leaves_a_tmp_directory_and_what_a_symlink_points_to_alone() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    let precious = db.beside("bk.tmp");
    std::fs::create_dir(&precious).expect("mkdir");
    std::fs::write(precious.join("notes.txt"), "important").expect("write");
    let target = db.beside("target");
    std::fs::create_dir(&target).expect("mkdir");
    std::fs::write(target.join("keep.txt"), "keep").expect("write");
    std::os::unix::fs::symlink(&target, db.beside("bk2.tmp")).expect("symlink");

    db.run(&["backup", s(&db.beside("bk"))]).ok();
    db.run(&["backup", s(&db.beside("bk2"))]).ok();
    assert!(precious.join("notes.txt").is_file(), "bk.tmp untouched");
    assert!(target.join("keep.txt").is_file(), "the symlink's target untouched");
    let mut c = profiledb();
    c.arg("--json").arg("--db").arg(db.beside("bk2")).arg("stats");
    assert_eq!(run_cmd(c, None).ok().json()["profiles"], json!(1));

    // The staging directory's name, taken by something else: refused, left alone.
    let staging = db.beside("bk3.backup-partial");
    std::fs::create_dir(&staging).expect("mkdir");
    std::fs::write(staging.join("mine.txt"), "mine").expect("write");
    db.run(&["backup", s(&db.beside("bk3"))]).code(2).err_has(&["not a partial backup left by profiledb"]);
    assert!(staging.join("mine.txt").is_file());
}

#[test]
fn init_refuses_a_path_too_long_for_the_files_rocksdb_names_later() {
    let db = TestDb::empty();
    let mut p = db.dir.path().to_path_buf();
    while p.as_os_str().len() < 4_070 {
        p.push("a".repeat(200.min(4_070 - p.as_os_str().len()).max(1)));
    }
    let mut c = profiledb();
    c.arg("--db").arg(&p).arg("init");
    run_cmd(c, None).code(2).err_has(&["choose a shorter path"]);
    assert!(!p.exists(), "nothing was created");
}
