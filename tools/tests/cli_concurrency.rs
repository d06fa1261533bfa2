//! The CLI (another process) beside a writer in this process: a writing
//! command is refused clearly, read commands succeed (also while the
//! writer keeps flushing and compacting), and `check` finds the database
//! healthy.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::profiledb;
use profiledb::event::{Event, EventKind};
use profiledb::{Identifier, ProfileDb, Timestamp, Update};

fn user(i: u64) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

fn event(name: &str, at: i64, who: Identifier, msg: String) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(at), vec![who]);
    e.message_id = Some(msg);
    e
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

#[test]
fn a_writing_command_beside_a_writer_is_refused_clearly_and_a_read_sees_its_commits() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&user(1), Update::new().set("plan", "pro")).unwrap();
    let path = dir.path().to_str().unwrap();
    let out = profiledb().args(["--db", path, "trait", "set", "user_id:u1", "plan", "free"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "exit code; stderr: {stderr}");
    assert!(stderr.contains("already open"), "{stderr}");
    let out = profiledb().args(["--db", path, "get", "user_id:u1"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("pro"), "{stdout}");
}

/// The CLI's read commands (another process) beside a live writer in this
/// process that keeps flushing: every run succeeds, and `check` finds the
/// database healthy.
#[test]
fn cli_reads_from_another_process_beside_a_live_writer_succeed_and_check_clean() {
    {
        let dir = tempfile::tempdir().unwrap();
        // The system clock: the CLI process reads at its own now.
        let db = ProfileDb::builder(dir.path()).write_buffer_bytes(64 << 10).open().unwrap();
        db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
        db.define_segment("buyers", "count(buy) >= 2").unwrap();
        for i in 0..100 {
            db.update(&user(i), Update::new().set("plan", "free")).unwrap();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (db, stop) = (db.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut x = 3u64;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let r = xorshift(&mut x);
                    if r.is_multiple_of(2) {
                        let plan = if (r >> 8).is_multiple_of(2) { "pro" } else { "free" };
                        db.update(&user(r % 100), Update::new().set("plan", plan)).unwrap();
                    } else {
                        let e = event("buy", db.now().0 - 1_000, user(r % 100), format!("c{n}"));
                        db.track(&e).unwrap();
                    }
                    n += 1;
                    if n.is_multiple_of(64) {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
                n
            })
        };
        let path = dir.path().to_str().unwrap().to_owned();
        let mut failures = Vec::new();
        for round in 0..8 {
            for args in [vec!["check"], vec!["segment", "count", "pro"], vec!["stats"], vec!["feed", "--limit", "5"]] {
                let out = profiledb().arg("--db").arg(&path).args(&args).output().unwrap();
                if out.status.code() != Some(0) && failures.len() < 6 {
                    failures.push(format!(
                        "round {round} {args:?}: exit {:?}: {}{}",
                        out.status.code(),
                        String::from_utf8_lossy(&out.stdout).chars().take(600).collect::<String>(),
                        String::from_utf8_lossy(&out.stderr).chars().take(600).collect::<String>()
                    ));
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let writes = writer.join().unwrap();
        eprintln!("cli beside writer: {writes} writes");
        assert!(failures.is_empty(), "CLI reads beside a live writer failed: {failures:#?}");
    }
}
