//! A full disk under a live writable handle: the write fails clearly,
//! leaves no trace, and the same handle writes again once space returns
//! (RocksDB's error recovery), with nothing acknowledged lost.
//!
//! Runs on a 20 MiB tmpfs the test mounts itself (root, as in CI); where
//! mounting is not permitted it prints SKIPPED and passes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use profiledb::{Error, Identifier, ProfileDb, Retry, Update};

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

/// A tmpfs mounted on a fresh directory, unmounted (and the directory
/// removed) on drop.
struct Tmpfs {
    _parent: tempfile::TempDir,
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(bytes: u64) -> Option<Tmpfs> {
        let parent = tempfile::tempdir().ok()?;
        let dir = parent.path().join("tmpfs");
        std::fs::create_dir(&dir).ok()?;
        let out =
            Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"]).arg(&dir).output();
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount: {e}");
                return None;
            }
        };
        if !out.status.success() {
            eprintln!("SKIPPED: cannot mount a tmpfs here: {}", String::from_utf8_lossy(&out.stderr).trim());
            return None;
        }
        Some(Tmpfs { _parent: parent, dir })
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn a_full_disk_fails_writes_clearly_and_the_same_handle_writes_again_once_space_returns() {
    let Some(fs) = Tmpfs::mount(120 << 20) else { return };
    let dir = fs.path().join("db");
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![7u8; 100 << 20]).unwrap();
    let db = ProfileDb::builder(&dir).write_buffer_bytes(1 << 20).block_cache_bytes(1 << 20).open().unwrap();
    let big = "x".repeat(60_000);
    let mut acked = 0u32;
    let mut first_err = None;
    for i in 0..2000u32 {
        match db.update(&id(&format!("user_id:u{i}")), Update::new().set("blob", big.as_str()).set("i", i64::from(i))) {
            Ok(_) => acked = i + 1,
            Err(e) => {
                first_err = Some(e);
                break;
            }
        }
    }
    let err = first_err.expect("20 MiB cannot hold 2000 x 60 KB");
    eprintln!("after {acked} acknowledged writes: {err}");
    assert!(matches!(err, Error::Storage { .. }), "not a Storage error: {err:?}");
    assert!(err.to_string().contains("the disk is full"), "{err}");
    assert!(err.to_string().contains("write again by themselves"), "the message says what to do: {err}");
    assert_eq!(err.retry(), Retry::Later, "the handle writes again once space returns: {err}");
    // The failed write left no trace in what the handle reads.
    assert_eq!(db.get(&id(&format!("user_id:u{acked}"))).unwrap(), None);
    // Space returns (100 MiB: RocksDB resumes once a memtable flush fits,
    // 64 MiB): the same handle writes again, within RocksDB's 5 s poll.
    std::fs::remove_file(&filler).unwrap();
    let start = Instant::now();
    let mut attempts = Vec::new();
    let written = loop {
        match db.update(&id("user_id:after"), Update::new().set("i", 1)) {
            Ok(_) => break true,
            Err(e) => attempts.push(e.to_string()),
        }
        if start.elapsed() > Duration::from_secs(30) {
            break false;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    eprintln!("wrote again after {:?} ({} failed attempts): {:?}", start.elapsed(), attempts.len(), attempts.last());
    if !written {
        let log = std::fs::read_to_string(dir.join("LOG")).unwrap_or_default();
        for l in log.lines().filter(|l| l.contains("error_handler") || l.contains("sst_file_manager")) {
            eprintln!("LOG: {l}");
        }
    }
    assert!(written, "the handle stays unusable after space returned: {:?}", attempts.last());
    db.update(&id("user_id:after2"), Update::new().set("i", 2)).unwrap();
    drop(db);
    let db = ProfileDb::open(&dir).unwrap();
    for i in 0..acked {
        assert!(db.get(&id(&format!("user_id:u{i}"))).unwrap().is_some(), "acknowledged write {i} lost");
    }
    assert!(db.get(&id("user_id:after2")).unwrap().is_some());
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{:?}", report.violations);
}
