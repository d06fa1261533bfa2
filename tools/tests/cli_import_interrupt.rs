//! An import stopped before the end of its input — by SIGINT or SIGTERM,
//! or by a full disk — commits and syncs what it read, says truly how many
//! lines that is and where to resume, and exits non-zero; importing the
//! file again completes it without duplicates.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::full_disk::on_a_full_disk;
use common::{profiledb, run_cmd, s, Run, TestDb};

/// Lines in the generated file: several seconds of import.
const LINES: u64 = 300_000;

/// One purchase per new user, each with its own message id: the database
/// holds one profile per committed line.
fn big_file(db: &TestDb) -> PathBuf {
    let mut text = String::with_capacity(LINES as usize * 140);
    for i in 0..LINES {
        text.push_str(&format!(
            "{{\"type\":\"track\",\"event\":\"purchase\",\"userId\":\"u{i}\",\"messageId\":\"m{i}\",\
             \"timestamp\":\"2026-11-01T00:00:00Z\",\"properties\":{{\"amount\":{}}}}}\n",
            i % 50
        ));
    }
    db.file("big.jsonl", &text)
}

/// Profiles in the database (read-only `stats`, which works beside a writer).
fn profiles(db: &Path) -> u64 {
    let mut c = profiledb();
    c.arg("--db").arg(db).args(["--json", "stats"]);
    let run = run_cmd(c, None);
    if run.code != 0 {
        return 0;
    }
    run.json()["profiles"].as_u64().unwrap_or(0)
}

/// Starts `import --json FILE`, sends `signal` once some lines committed,
/// and returns what it printed.
fn interrupted_import(db: &TestDb, file: &Path, signal: &str) -> Run {
    let mut child = profiledb()
        .arg("--db")
        .arg(db.path())
        .args(["--json", "import", s(file)])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn import");
    let started = Instant::now();
    while profiles(&db.path()) == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "the import never committed anything");
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status().expect("run kill");
    assert!(kill.success());
    let (mut stdout, mut stderr) = (String::new(), String::new());
    child.stdout.take().expect("stdout").read_to_string(&mut stdout).expect("read stdout");
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("read stderr");
    let status = child.wait().expect("wait for import");
    Run { code: status.code().unwrap_or(-1), stdout, stderr }
}

#[test]
fn sigint_stops_at_a_commit_boundary_reports_the_true_count_and_a_rerun_completes() {
    let db = TestDb::init();
    let file = big_file(&db);
    let run = interrupted_import(&db, &file, "INT").code(130);
    let v = run.json();
    assert_eq!(v["interrupted"], "SIGINT", "{v}");
    let committed = v["accepted"].as_u64().unwrap_or_default();
    assert!(committed > 0 && committed < LINES, "the import finished before the signal: {v}");
    assert_eq!(v["rejected"], 0);
    assert_eq!(v["events_applied"].as_u64(), Some(committed));
    assert_eq!(v["resume_at_line"].as_u64(), Some(committed + 1), "{v}");
    let said = format!("interrupted by SIGINT: {committed} lines were committed before line {}", committed + 1);
    let run = run.err_has(&[&said, "(synced to disk)", "to resume", "skipped as duplicates of their message id"]);
    assert!(run.stderr.contains(&format!("tail -n +{} {}", committed + 1, s(&file))), "{}", run.stderr);
    // The count is true: one profile per committed line, no more, no less.
    assert_eq!(profiles(&db.path()), committed);

    let again = db.json(&["import", s(&file)]);
    assert_eq!(again["duplicates"].as_u64(), Some(committed), "{again}");
    assert_eq!(again["events_applied"].as_u64(), Some(LINES - committed), "{again}");
    assert_eq!(profiles(&db.path()), LINES);
    assert_eq!(db.json(&["events", "user_id:u0"])["total"], 1, "no event twice");
}

#[test]
fn sigterm_exits_143_and_the_rest_of_the_file_resumes_from_the_line_it_names() {
    let db = TestDb::init();
    let file = big_file(&db);
    let run = interrupted_import(&db, &file, "TERM").code(143).err_has(&["interrupted by SIGTERM"]);
    let v = run.json();
    let committed = v["accepted"].as_u64().unwrap_or_default();
    let resume = v["resume_at_line"].as_u64().unwrap_or_default();
    assert_eq!(profiles(&db.path()), committed);
    // Resume with the lines from `resume_at_line` on, as the message says.
    let text = std::fs::read_to_string(&file).expect("read file");
    let rest: String = text.lines().skip(resume as usize - 1).map(|l| format!("{l}\n")).collect();
    let rest = db.file("rest.jsonl", &rest);
    let v = db.json(&["import", s(&rest)]);
    assert_eq!(v["duplicates"], 0, "{v}");
    assert_eq!(profiles(&db.path()), LINES);
}

#[test]
fn a_full_disk_stops_the_import_saying_how_many_lines_were_committed() {
    let db = TestDb::init();
    let file = big_file(&db);
    let Some(run) = on_a_full_disk(&db, 4000, &["import", s(&file)]) else { return };
    let run = run.code(1).err_has(&["the import stopped there: ", "lines were committed", "to resume"]);
    let after = run.stderr.split("the import stopped there: ").nth(1).unwrap_or_default();
    let committed: u64 = after.split(' ').next().and_then(|n| n.parse().ok()).expect("a count");
    assert!(committed > 0 && committed < LINES, "{}", run.stderr);
    let stored = profiles(&db.path());
    if run.stderr.contains("may be partly committed") {
        assert!(stored >= committed && stored <= committed + 1_024, "{stored} vs {}", run.stderr);
    } else {
        assert_eq!(stored, committed, "{}", run.stderr);
    }
    let v = db.json(&["import", s(&file)]);
    assert_eq!(v["duplicates"].as_u64(), Some(stored), "{v}");
    assert_eq!(profiles(&db.path()), LINES);
}
