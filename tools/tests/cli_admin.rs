//! Admin commands on damaged, unreadable or special databases: read
//! commands report damage instead of answering from what is left, and
//! `init`, `stats`, `backup`, `retain` and `dump` say and do exactly what
//! they document.

mod common;

use std::path::Path;

use common::{copy_dir, TestDb};

/// The table files of a database directory.
fn table_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    files.sort();
    files
}

/// The table files holding the identifier (the identity column families
/// and the history), but not the others: the database still opens as a
/// secondary, which would skip the damaged files and read them as empty.
fn identifier_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let needle = b"ann@example.com";
    let files: Vec<_> = table_files(dir)
        .into_iter()
        .filter(|f| std::fs::read(f).unwrap().windows(needle.len()).any(|w| w == needle))
        .collect();
    assert!(!files.is_empty() && files.len() < table_files(dir).len(), "{files:?}");
    files
}

/// A compacted database (its data in table files) and an intact copy of it
/// at `copy`, for the test to damage.
fn compacted_copy(name: &str) -> (TestDb, TestDb) {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:ann@example.com", "plan", "pro"]).ok();
    db.run(&["compact"]).ok();
    let copy = TestDb::empty();
    copy_dir(&db.path(), &copy.path());
    assert!(!table_files(&copy.path()).is_empty(), "{name}: compact wrote table files");
    (db, copy)
}

/// Every read of the damaged copy fails (runtime error, not "not found"),
/// naming the damaged file; the intact original still reads.
#[track_caller]
fn reads_report_the_damage(db: &TestDb, copy: &TestDb, needles: &[&str]) {
    db.get("email:ann@example.com");
    for args in [&["get", "email:ann@example.com"][..], &["stats"], &["identities", "email:ann@example.com"]] {
        let r = copy.run(args).code(1).err_has(needles);
        assert!(r.stdout.is_empty(), "{args:?} printed an answer from a damaged database: {}", r.stdout);
    }
}

#[test]
fn a_missing_table_file_is_reported_not_read_as_empty() {
    let (db, copy) = compacted_copy("missing");
    for f in identifier_files(&copy.path()) {
        std::fs::remove_file(f).unwrap();
    }
    reads_report_the_damage(&db, &copy, &["damaged", "missing", ".sst"]);
}

#[test]
fn a_truncated_table_file_is_reported_not_read_as_empty() {
    let (db, copy) = compacted_copy("truncated");
    for f in identifier_files(&copy.path()) {
        let len = std::fs::metadata(&f).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(&f).unwrap().set_len(len / 2).unwrap();
    }
    reads_report_the_damage(&db, &copy, &["Corruption", ".sst"]);
}

/// A read-only open used to race the writer's flushes: it read the
/// MANIFEST, the writer flushed and deleted a log, and the read missed the
/// writes in it (`get` answered "not found" for a stored profile). Reads
/// beside an application that keeps flushing and compacting see a whole
/// state, and `check` passes on it.
#[test]
fn reads_keep_working_beside_a_writer_that_keeps_replacing_its_files() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:ann@example.com", "plan", "pro"]).ok();
    let app = profiledb::ProfileDb::open(db.path()).unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // Flushes and compactions replace the MANIFEST, logs and table files.
            let bo: profiledb::Identifier = "email:bo@example.com".parse().unwrap();
            let mut last = std::time::Instant::now();
            let mut n = 0_i64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                app.update(&bo, profiledb::Update::new().set("n", n)).unwrap();
                if last.elapsed() >= std::time::Duration::from_millis(200) {
                    app.compact().unwrap();
                    last = std::time::Instant::now();
                } else if n % 8 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                n += 1;
            }
        });
        // Stops the writer however the reads end (a failed assertion too).
        struct Stop<'a>(&'a std::sync::atomic::AtomicBool);
        impl Drop for Stop<'_> {
            fn drop(&mut self) {
                self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
        let _stop = Stop(&stop);
        let mut read = 0;
        for _ in 0..10 {
            let got = db.run(&["--json", "get", "email:ann@example.com"]);
            if got.code == 1 && got.stderr.contains("replaced files during each of") {
                // Refused, not wrong: the writer compacted through every attempt.
                continue;
            }
            let got: serde_json::Value = serde_json::from_str(&got.ok().stdout).unwrap();
            assert_eq!(got["traits"]["plan"], serde_json::json!("pro"));
            let check = db.run(&["check"]);
            assert!(check.code == 0 || check.stderr.contains("replaced files during each of"), "{check:?}");
            read += 1;
        }
        assert!(read >= 3, "only {read} of 10 reads found a moment between the writer's compactions");
    });
}

#[test]
fn a_path_that_cannot_be_looked_at_is_reported_with_its_reason_not_as_no_database() {
    let db = TestDb::empty();
    // A symlink loop: Path::exists() says false, but the path is not missing.
    std::os::unix::fs::symlink(db.beside("loop"), db.beside("loop")).unwrap();
    let looped = db.beside("loop").join("db");
    for args in [&["stats"][..], &["get", "email:a@x.com"], &["init"]] {
        let mut c = common::profiledb();
        c.arg("--db").arg(&looped).args(args);
        let r = common::run_cmd(c, None).code(1).err_has(&["cannot access", "loop", "symbolic links"]);
        assert!(!r.stderr.contains("no database"), "{}", r.stderr);
    }
}

#[test]
fn permission_denied_is_reported_as_such() {
    let db = TestDb::init();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(db.path(), std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::read_dir(db.path()).is_ok() {
        // Running as root: permissions do not apply (the symlink-loop test
        // above covers the same path).
        std::fs::set_permissions(db.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let r = db.run(&["stats"]);
    std::fs::set_permissions(db.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let r = r.code(1).err_has(&["cannot access", "ermission denied"]);
    assert!(!r.stderr.contains("no database"), "{}", r.stderr);
}

#[test]
fn init_on_an_existing_database_reports_its_stored_format_version() {
    let db = common::fixture_copy(1);
    let r = db.json(&["init"]);
    assert_eq!(r["created"], serde_json::json!(false));
    assert_eq!(r["format_version"], serde_json::json!(1), "{r}");
    assert_eq!(r["build_format_version"], serde_json::json!(profiledb::FORMAT_VERSION), "{r}");
    assert_eq!(r["upgrade_on_write"], serde_json::json!(true), "{r}");
    let text = db.run(&["init"]).ok().stdout;
    assert!(text.contains("format version 1") && text.contains("upgrade"), "{text}");
    // init itself upgraded nothing.
    assert_eq!(db.json(&["stats"])["format_version"], serde_json::json!(1));
    let current = TestDb::init();
    let r = current.json(&["init"]);
    assert_eq!(r["format_version"], serde_json::json!(profiledb::FORMAT_VERSION));
    assert_eq!(r["upgrade_on_write"], serde_json::json!(false), "{r}");
}

#[test]
fn backup_refuses_a_destination_inside_the_database_directory() {
    let db = TestDb::init();
    for inside in [db.path().join("backup"), db.path().join("a").join("b"), db.path().join("sub").join("..").join("x")]
    {
        db.run(&["backup", common::s(&inside)]).code(2).err_has(&["inside the database directory"]);
        assert!(!inside.exists() && !db.path().join("a").exists() && !db.path().join("sub").exists());
    }
    db.run(&["backup", common::s(&db.path())]).code(2);
    assert_eq!(db.json(&["check"])["clean"], serde_json::json!(true));
}

#[test]
fn backup_never_upgrades_an_older_format_and_says_how_to_copy_it() {
    let db = common::fixture_copy(1);
    let dest = db.beside("backup");
    db.run(&["backup", common::s(&dest)]).code(1).err_has(&["format version 1", "copy the directory"]);
    assert!(!dest.exists());
    assert_eq!(db.json(&["stats"])["format_version"], serde_json::json!(1), "the source was not upgraded");
}

/// The peak resident memory, in KiB, of `profiledb --db DB args...`
/// (measured by /usr/bin/time), or `None` where that tool is missing.
fn peak_kib(db: &TestDb, args: &[&str]) -> Option<u64> {
    if !Path::new("/usr/bin/time").exists() {
        return None;
    }
    let mut c = std::process::Command::new("/usr/bin/time");
    c.args(["-f", "peak %M"]).arg(env!("CARGO_BIN_EXE_profiledb")).arg("--db").arg(db.path()).args(args);
    c.env_remove("PROFILEDB_PATH");
    let r = common::run_cmd(c, None).ok();
    let line = r.stderr.lines().find_map(|l| l.strip_prefix("peak "))?;
    Some(line.trim().parse().expect("a number of KiB"))
}

#[test]
fn dump_with_a_limit_streams_instead_of_reading_the_whole_family() {
    let db = TestDb::init();
    {
        let app = profiledb::ProfileDb::open(db.path()).unwrap();
        // 80 MB of trait values that do not compress away.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for n in 0..1_300 {
            let blob: String = (0..60_000)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from(b'a' + (state % 26) as u8)
                })
                .collect();
            let id: profiledb::Identifier = format!("email:p{n}@example.com").parse().unwrap();
            app.update(&id, profiledb::Update::new().set("blob", blob.as_str())).unwrap();
        }
    }
    let (Some(small), Some(large)) = (
        peak_kib(&db, &["dump", "--cf", "meta", "--limit", "1"]),
        peak_kib(&db, &["dump", "--cf", "profile", "--limit", "1"]),
    ) else {
        return;
    };
    assert!(large < small + 30_000, "dump --limit 1 of an 80 MB family peaked at {large} KiB, of meta at {small} KiB");
}

#[test]
fn stats_counts_the_write_ahead_log_and_the_whole_directory() {
    let db = TestDb::init();
    for n in 1..=3 {
        db.run(&["trait", "set", &format!("user_id:{n}"), "plan", "pro"]).ok();
    }
    let files_in = |dir: &Path| -> (u64, u64) {
        let (mut wal, mut all) = (0, 0);
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let len = e.metadata().unwrap().len();
            all += len;
            if e.path().extension().is_some_and(|x| x == "log") {
                wal += len;
            }
        }
        (wal, all)
    };
    let st = db.json(&["stats"]);
    let (wal, all) = files_in(&db.path());
    assert!(wal > 0, "the writes are in the write-ahead log");
    assert_eq!(st["files"]["wal_bytes"], serde_json::json!(wal), "{st}");
    assert_eq!(st["files"]["directory_bytes"], serde_json::json!(all), "{st}");
    let text = db.run(&["stats"]).ok().stdout;
    assert!(text.contains("write-ahead log") && text.contains("directory total"), "{text}");
}
