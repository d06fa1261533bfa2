//! An import that stopped before the end of its input — on SIGINT or
//! SIGTERM, or on an error of the database or the machine (a full disk) —
//! says how many lines it committed and from which line to resume.

use std::fmt;

use super::interrupt::Signal;
use crate::error::CliError;

/// Why an import stopped early.
#[derive(Debug)]
pub enum Cause {
    /// A termination signal.
    Signal(Signal),
    /// An error that is not bad input (storage, I/O).
    Error(CliError),
}

/// How an import that stopped early left the database.
#[derive(Debug)]
pub struct ImportStop {
    /// Why it stopped.
    pub cause: Cause,
    /// The input's name (`stdin` for `-`).
    pub source: String,
    /// Lines written or acknowledged (duplicates, dropped) and committed.
    pub committed: u64,
    /// Lines rejected as bad input (nothing of them written).
    pub rejected: u64,
    /// The first input line not known to be committed or rejected.
    pub resume_at: u64,
    /// Lines being written when the error struck: some of them may have
    /// been committed (a batch commits in parts when it holds refused
    /// events).
    pub uncertain: Option<(u64, u64)>,
    /// Why syncing the committed lines to disk failed, if it did.
    pub sync_failed: Option<String>,
    /// The input is CSV: resuming needs its header row.
    pub csv: bool,
}

impl ImportStop {
    /// The exit code: 128 + the signal's number, or the error's.
    pub fn exit_code(&self) -> u8 {
        match &self.cause {
            Cause::Signal(s) => s.exit_code(),
            Cause::Error(e) => e.exit_code(),
        }
    }

    /// How to go on from `resume_at`.
    fn resume_hint(&self) -> String {
        let n = self.resume_at;
        let how = if self.source == "stdin" {
            format!("send the input again from its line {n}")
        } else if self.csv {
            format!("(head -n 1 {f}; tail -n +{n} {f}) | profiledb import - --csv --map ...", f = self.source)
        } else {
            format!("tail -n +{n} {} | profiledb import - ...", self.source)
        };
        format!(
            "to resume, import from line {n} ({how}), or import the whole input again: events already imported are \
             skipped as duplicates of their message id within the dedup horizon (7d by default, --dedup-horizon), \
             profile lines set the same traits again, but events without a message id are applied a second time"
        )
    }
}

impl fmt::Display for ImportStop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Signal(s) => write!(f, "interrupted by {}: ", s.name())?,
            Cause::Error(e) => write!(f, "{e}; the import stopped there: ")?,
        }
        let lines = if self.committed == 1 { "line was" } else { "lines were" };
        write!(f, "{} {lines} committed", self.committed)?;
        if self.rejected > 0 {
            write!(f, " and {} rejected", self.rejected)?;
        }
        if self.resume_at > 1 {
            write!(f, " before line {}", self.resume_at)?;
        }
        match (&self.sync_failed, self.committed) {
            (_, 0) => {}
            (None, _) => f.write_str(" (synced to disk)")?,
            (Some(why), _) => write!(f, " (but syncing them to disk failed: {why})")?,
        }
        if let Some((from, to)) = self.uncertain {
            write!(f, "; lines {from}-{to}, being written, may be partly committed")?;
        }
        write!(f, "; {}", self.resume_hint())
    }
}
