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
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Help and --version exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE));
        }
    };
    match commands::run(cli) {
        Ok(()) | Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
