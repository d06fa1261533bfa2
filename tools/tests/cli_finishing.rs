//! Ctrl-C during `erase` (and the other commands best finished rather
//! than cut short) does not leave the admin guessing: the first SIGINT
//! prints at once that the command goes on and what a second one would
//! leave; the command finishes and reports.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

use common::{profiledb, TestDb};

/// Runs `profiledb --db DB ARGS` with the test hook that makes it wait,
/// once its signal handlers are in place, for a signal; sends SIGINT then
/// and returns (exit code, stdout, stderr).
fn interrupted(db: &TestDb, args: &[&str]) -> (Option<i32>, String, String) {
    let mut child = profiledb()
        .arg("--db")
        .arg(db.path())
        .args(args)
        .env("PROFILEDB_TEST_AWAIT_SIGNAL", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "it ended before awaiting a signal: {seen}");
        seen.push_str(&line);
        if line.contains("test: awaiting a signal") {
            break;
        }
    }
    let killed = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned(), seen + &rest)
}

#[test]
fn sigint_during_an_erase_says_what_goes_on_and_the_erase_finishes() {
    let db = TestDb::init();
    for i in 0..3 {
        db.run(&["trait", "set", &format!("user_id:u{i}"), "plan", "pro"]).ok();
    }
    let list = db.file("ids.txt", "user_id:u0\nuser_id:u1\n");
    let (code, stdout, stderr) = interrupted(&db, &["erase", "--from-file", common::s(&list), "--yes"]);
    assert_eq!(code, Some(0), "stdout: {stdout}\nstderr: {stderr}");
    assert!(stderr.contains("SIGINT: received; the erase goes on to its end"), "{stderr}");
    assert!(
        stderr.contains("purge is left pending") && stderr.contains("`profiledb compact` completes it"),
        "{stderr}"
    );
    assert!(stderr.contains("the command finished"), "{stderr}");
    assert!(stdout.contains("erased 2 people"), "{stdout}");
    let stats = db.json(&["stats"]);
    assert_eq!(stats["purge_pending"], serde_json::json!(false), "{stats}");
    assert_eq!(stats["profiles"], serde_json::json!(1), "{stats}");
}

#[test]
fn sigint_during_a_single_erase_and_a_retain_is_reported_too() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:u1", "plan", "pro"]).ok();
    db.run(&["trait", "set", "user_id:u2", "plan", "pro"]).ok();
    let (code, stdout, stderr) = interrupted(&db, &["erase", "user_id:u1", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("erased profile"), "{stdout}");
    assert!(stderr.contains("SIGINT: received; the erase goes on") && stderr.contains("the command finished"));
    let (code, stdout, stderr) = interrupted(&db, &["retain", "--before", "2026-01-01", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("folded the history"), "{stdout}");
    assert!(stderr.contains("SIGINT: received; retain goes on to its end") && stderr.contains("running the same"));
}
