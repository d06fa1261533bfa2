//! Ctrl-C (SIGINT) or SIGTERM during a command that is best finished
//! rather than cut short: `erase`, `anonymize`, `retain`, `retention run`.
//!
//! The first signal does not stop it: a notice on stderr says at once that
//! it goes on to its end, and what stopping now (a second signal, which
//! exits at once with 130 / 143) would leave and how to complete that.
//! When the command ends, a last line says the signal arrived and the
//! command finished anyway (its output says what was done).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::import::interrupt;
use crate::error::CliError;

/// How often the notice thread looks for a signal.
const POLL: Duration = Duration::from_millis(20);

/// What the erase notice says a second signal would leave.
pub const ERASE: &str = "the erase goes on to its end (its commit, then the purge that removes the bytes from the \
files) and reports what it did. A second Ctrl-C stops it at once: before its commit nothing is erased; after it, the \
erase stands and its purge is left pending (`profiledb stats` then shows \"purge PENDING\"; `profiledb compact` \
completes it)";

/// What the anonymize notice says.
pub const ANONYMIZE: &str = "anonymize goes on to its end (its commit, then the purge that removes the old bytes from \
the files) and reports what it did. A second Ctrl-C stops it at once: before its commit nothing is changed; after it, \
the anonymization stands and its purge is left pending (`profiledb stats` then shows \"purge PENDING\"; `profiledb \
compact` completes it)";

/// What the retain notice says.
pub const RETAIN: &str = "retain goes on to its end and reports what it folded. A second Ctrl-C stops it at once: \
the profiles folded so far stay folded, the others keep their history; running the same `retain` again completes it";

/// What the retention notice says.
pub const RETENTION: &str = "the retention pass goes on to its end and reports what it trimmed. A second Ctrl-C \
stops it at once: the profiles trimmed so far stay trimmed; running it again (or `tick`) completes it";

/// A command running to its end through a first signal.
pub struct Finishing {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Installs the handlers and the notice (`notice`: what going on and
/// stopping now mean for this command).
pub fn on_signal(notice: &'static str) -> Result<Finishing, CliError> {
    interrupt::install()?;
    let done = Arc::new(AtomicBool::new(false));
    let thread = {
        let done = done.clone();
        std::thread::spawn(move || loop {
            // The signal first: one that came before the work ended is
            // always noticed (`finish` joins this thread).
            if let Some(sig) = interrupt::received() {
                eprintln!("{}: received; {notice}", sig.name());
                return;
            }
            if done.load(Ordering::SeqCst) {
                return;
            }
            std::thread::sleep(POLL);
        })
    };
    await_signal_for_test();
    Ok(Finishing { done, thread: Some(thread) })
}

/// Test hook: with `PROFILEDB_TEST_AWAIT_SIGNAL` set, says on stderr that
/// the handlers are in place and waits (up to 30 s) for a signal, so a
/// test can interrupt the command at a known point however fast it is.
fn await_signal_for_test() {
    if std::env::var_os("PROFILEDB_TEST_AWAIT_SIGNAL").is_none() {
        return;
    }
    eprintln!("test: awaiting a signal");
    let started = std::time::Instant::now();
    while interrupt::received().is_none() && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(POLL);
    }
}

impl Finishing {
    /// The command's work is over: says so if a signal came meanwhile.
    pub fn finish(mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            // The thread only prints; a panic there changes nothing here.
            let _ = t.join();
        }
        if let Some(sig) = interrupt::received() {
            eprintln!("{}: it arrived while the command ran; the command finished (see its report)", sig.name());
        }
    }
}

impl Drop for Finishing {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}
