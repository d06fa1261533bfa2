//! `profiledb`: the command-line tool for admins and developers.
//!
//! Layout: `cli` (clap definitions), `commands/` (what each command does),
//! `open` (how each kind of command opens the database), `parse` (turning
//! arguments into library values), `output/` (tables and JSON), `error`
//! (errors and exit codes).

#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::dbg_macro)]

mod cli;
mod commands;
mod error;
mod open;
mod output;
mod parse;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

/// The CLI is an application, so it picks the allocator (the library never
/// does): imports allocate per event, and mimalloc made them about a
/// quarter faster than glibc's malloc (BENCHMARKS.md, 2026-12-05).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    match empty_path_variable() {
        Some(EmptyPath::Unused) => {
            // clap would refuse the empty value even beside --db; --db wins.
            // (No other thread runs yet.)
            std::env::remove_var("PROFILEDB_PATH");
        }
        Some(EmptyPath::Needed) => {
            let message = "PROFILEDB_PATH is set but empty: set it to the database directory, unset it (the default \
                           is ./profiledb-data), or pass --db PATH";
            if json_asked() {
                report_json(message, "", error::EXIT_USAGE);
            } else {
                let _ = writeln!(std::io::stderr(), "error: {message}");
            }
            return ExitCode::from(error::EXIT_USAGE);
        }
        None => {}
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version exit 0; usage errors exit 2.
            let code = u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE);
            if code != 0 && json_asked() {
                let text = e.render().to_string();
                let first = text.lines().next().unwrap_or_default();
                report_json(first.strip_prefix("error: ").unwrap_or(first), &text, code);
            } else {
                let _ = e.print();
            }
            return ExitCode::from(code);
        }
    };
    let json = cli.json;
    match commands::run(cli) {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            let code = e.exit_code();
            if json {
                report_json(&e.to_string(), "", code);
            } else {
                let _ = writeln!(std::io::stderr(), "error: {e}");
            }
            ExitCode::from(code)
        }
    }
}

/// `PROFILEDB_PATH` set but empty.
enum EmptyPath {
    /// `--db` is given: the variable does not matter.
    Unused,
    /// No `--db`: the path would come from it.
    Needed,
}

/// Whether `PROFILEDB_PATH` is set but empty (clap would report a `--db`
/// usage error although none was given), and whether `--db` is given.
fn empty_path_variable() -> Option<EmptyPath> {
    if !std::env::var_os("PROFILEDB_PATH").is_some_and(|v| v.is_empty()) {
        return None;
    }
    let db_given = std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--db" || a.to_string_lossy().starts_with("--db="));
    Some(if db_given { EmptyPath::Unused } else { EmptyPath::Needed })
}

/// Whether `--json` is among the arguments (for an error clap finds before
/// it has parsed them all).
fn json_asked() -> bool {
    std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json")
}

/// An error as one JSON object on stderr, for `--json`: `{"error": MESSAGE,
/// "exit": CODE}`, plus `"usage"` (clap's full text) for a usage error.
fn report_json(message: &str, usage: &str, code: u8) {
    let mut v = serde_json::json!({"error": message, "exit": code});
    if !usage.is_empty() {
        v["usage"] = serde_json::Value::String(usage.trim_end().to_owned());
    }
    let _ = writeln!(std::io::stderr(), "{v}");
}
