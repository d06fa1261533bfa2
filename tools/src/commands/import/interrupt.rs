//! Stopping an import on SIGINT (Ctrl-C) or SIGTERM at a commit boundary.
//!
//! The first signal only sets a flag, which the import loop reads between
//! lines: it writes the lines it has read (their batch commits whole or
//! per event, as ever), syncs, prints what was committed and where to
//! resume, and exits 128 + the signal's number (130, 143). A second signal
//! while it winds down exits at once with that code: what was committed
//! stays (the commits are in the write-ahead log), but it is not synced.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

use crate::error::CliError;

/// The signal received (0: none).
static RECEIVED: AtomicUsize = AtomicUsize::new(0);
/// Set by the first signal: the next one exits at once.
static ARMED: AtomicBool = AtomicBool::new(false);

/// A termination signal that stopped an import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT (Ctrl-C).
    Int,
    /// SIGTERM (`kill`, a service manager).
    Term,
}

impl Signal {
    /// Its name (`SIGINT`).
    pub fn name(self) -> &'static str {
        match self {
            Signal::Int => "SIGINT",
            Signal::Term => "SIGTERM",
        }
    }

    /// The exit code of a process it stopped: 128 + its number, as shells
    /// report a process the signal killed.
    pub fn exit_code(self) -> u8 {
        match self {
            Signal::Int => 130,
            Signal::Term => 143,
        }
    }
}

/// Installs the handlers (for the rest of the process: the import is the
/// command's last step).
pub fn install() -> Result<(), CliError> {
    for sig in [SIGINT, SIGTERM] {
        let code = 128 + sig;
        // The shutdown goes first: it must see ARMED as the previous signal left it.
        flag::register_conditional_shutdown(sig, code, &ARMED)
            .and_then(|_| flag::register_usize(sig, &RECEIVED, usize::try_from(sig).unwrap_or(0)))
            .and_then(|_| flag::register(sig, &ARMED))
            .map_err(|e| CliError::Io { what: "installing the SIGINT/SIGTERM handlers".into(), source: e })?;
    }
    Ok(())
}

/// The signal received since [`install`], if any.
pub fn received() -> Option<Signal> {
    match i32::try_from(RECEIVED.load(Ordering::SeqCst)) {
        Ok(SIGINT) => Some(Signal::Int),
        Ok(SIGTERM) => Some(Signal::Term),
        _ => None,
    }
}
