//! Running the built `profiledb` binary against temporary databases.

#![allow(dead_code)]

pub mod full_disk;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

/// The binary, with no `PROFILEDB_PATH` leaking in from the environment.
pub fn profiledb() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_profiledb"));
    c.env_remove("PROFILEDB_PATH");
    c.env_remove("PROFILEDB_KEY_FILE");
    c
}

/// What one run printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "expected success\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Asserts exit code `code` and returns self.
    #[track_caller]
    pub fn code(self, code: i32) -> Self {
        assert_eq!(self.code, code, "expected exit {code}\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// Asserts stderr contains every needle.
    #[track_caller]
    pub fn err_has(self, needles: &[&str]) -> Self {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}: {}", self.stderr);
        }
        assert!(!self.stderr.contains("panicked"), "panic: {}", self.stderr);
        self
    }

    /// Parses stdout as JSON.
    #[track_caller]
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// Runs a prepared command, feeding `stdin`.
pub fn run_cmd(mut c: Command, stdin: Option<&str>) -> Run {
    c.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn profiledb");
    if let Some(input) = stdin {
        child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for profiledb");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A database path in a fresh temporary directory.
pub struct TestDb {
    pub dir: tempfile::TempDir,
}

impl TestDb {
    /// A path with no database yet.
    pub fn empty() -> Self {
        TestDb { dir: tempfile::tempdir().expect("tempdir") }
    }

    /// A path with an initialized database.
    pub fn init() -> Self {
        let db = TestDb::empty();
        db.run(&["init"]).ok();
        db
    }

    /// The database directory.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    /// A path beside the database (for files, backups).
    pub fn beside(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `profiledb --db <path> args...`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, None)
    }

    /// Runs with standard input.
    pub fn run_stdin(&self, args: &[&str], stdin: Option<&str>) -> Run {
        let mut c = profiledb();
        c.arg("--db").arg(self.path()).args(args);
        run_cmd(c, stdin)
    }

    /// Runs with `--json`, asserts success, parses the output.
    #[track_caller]
    pub fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.run(&all).ok().json()
    }

    /// `get --json` of a profile.
    #[track_caller]
    pub fn get(&self, identifier: &str) -> Value {
        self.json(&["get", identifier])
    }

    /// Writes a file beside the database and returns its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.beside(name);
        std::fs::write(&p, text).expect("write file");
        p
    }
}

/// A path as `&str` for argument lists.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Copies the files of directory `from` into `to` (created when missing).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy");
    for entry in std::fs::read_dir(from).expect("read the directory to copy") {
        let entry = entry.expect("directory entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy a file");
    }
}

/// A copy of the library's fixture of format `version` at a test
/// database's path (the fixture itself must not be opened: an open writes).
pub fn fixture_copy(version: u32) -> TestDb {
    let db = TestDb::empty();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../tests/fixtures/v{version}"));
    copy_dir(&from, &db.path());
    db
}

/// A database with four people: user_id:1..3 in DE, user_id:4 in NO.
pub fn people_by_country() -> TestDb {
    let db = TestDb::init();
    for (id, country) in [("user_id:1", "DE"), ("user_id:2", "DE"), ("user_id:3", "DE"), ("user_id:4", "NO")] {
        db.run(&["trait", "set", id, "country", country]).ok();
    }
    db
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("the clock is after 1970");
    i64::try_from(since.as_millis()).expect("milliseconds fit in i64")
}

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
