//! The optional background thread that calls [`ProfileDb::tick`] every
//! interval (`Builder::tick_interval`).
//!
//! The thread holds only a weak reference to the database, so it never
//! keeps it open: it stops when the last handle clone drops, and that drop
//! joins it (no thread outlives the database). A tick that fails — or
//! panics — is counted, kept as the last error in [`TickerStatus`] and
//! passed to the `on_tick_error` hook; the thread goes on ticking. So is
//! each profile a tick that succeeded could not process
//! ([`TickReport::failures`]), counted apart.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, RecvTimeoutError, Sender};
use parking_lot::Mutex;

use crate::core::Core;
use crate::error::{Error, Result};

use super::{ProfileDb, TickReport};

/// What the background tick thread has done so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TickerStatus {
    /// Ticks run (successful or not).
    pub runs: u64,
    /// Wake-ups processed by the successful ones.
    pub processed: u64,
    /// Ticks that failed or panicked.
    pub errors: u64,
    /// Profiles that otherwise successful ticks could not process (a due
    /// wake-up or a retention step whose segment evaluation failed; each
    /// is retried by the next tick).
    pub profile_failures: u64,
    /// The message of the latest failure (of a tick or a profile), if any.
    pub last_error: Option<String>,
}

/// A callback told the message of every failed background tick.
#[derive(Clone)]
pub struct TickErrorHook(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for TickErrorHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TickErrorHook(..)")
    }
}

/// The running thread; dropping it stops and joins the thread.
pub(crate) struct Ticker {
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
    status: Arc<Mutex<TickerStatus>>,
}

impl Ticker {
    /// Starts a thread that ticks the database behind `core` every
    /// `interval` until this `Ticker` drops or the database closes.
    pub fn start(core: Weak<Core>, interval: Duration, hook: Option<TickErrorHook>) -> Result<Ticker> {
        let (stop, stopped) = bounded::<()>(1);
        let status = Arc::new(Mutex::new(TickerStatus::default()));
        let shared = status.clone();
        let tick = move || {
            let core = core.upgrade()?;
            let db = ProfileDb { ticker: None, core };
            Some(match catch_unwind(AssertUnwindSafe(|| db.tick())) {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(panic) => Err(format!("tick panicked: {}", panic_message(panic.as_ref()))),
            })
        };
        let handle = std::thread::Builder::new()
            .name("profiledb-tick".into())
            .spawn(move || run(&stopped, interval, &shared, hook.as_ref(), tick))
            .map_err(|e| Error::Io { path: "<spawning the profiledb-tick thread>".into(), source: e })?;
        Ok(Ticker { stop: Some(stop), handle: Some(handle), status })
    }

    /// A copy of the status.
    pub fn status(&self) -> TickerStatus {
        self.status.lock().clone()
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        // Disconnecting the channel wakes the thread and tells it to stop.
        drop(self.stop.take());
        if let Some(handle) = self.handle.take() {
            // The thread may hold the last handle itself (mid-tick) and so
            // run this drop: it cannot join itself, and exits right after.
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

/// The thread's loop: wait `interval` (or a stop), tick, record.
/// `tick` returns `None` once the database is gone.
fn run(
    stop: &Receiver<()>,
    interval: Duration,
    status: &Mutex<TickerStatus>,
    hook: Option<&TickErrorHook>,
    mut tick: impl FnMut() -> Option<std::result::Result<TickReport, String>>,
) {
    loop {
        match stop.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(result) = tick() else { return };
        let mut s = status.lock();
        s.runs += 1;
        let messages: Vec<String> = match result {
            Ok(report) => {
                s.processed += report.processed;
                s.profile_failures += report.failures.len() as u64;
                report.failures.iter().map(ToString::to_string).collect()
            }
            Err(message) => {
                s.errors += 1;
                vec![message]
            }
        };
        if let Some(last) = messages.last() {
            s.last_error = Some(last.clone());
        }
        drop(s);
        for message in &messages {
            if let Some(hook) = hook {
                // A panicking hook must not kill the thread either.
                let _ = catch_unwind(AssertUnwindSafe(|| (hook.0)(message)));
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic payload".to_owned())
}

impl ProfileDb {
    /// What the background tick thread (`Builder::tick_interval`) has
    /// done, or `None` when none runs.
    pub fn ticker_status(&self) -> Option<TickerStatus> {
        self.ticker.as_ref().map(|t| t.status())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_and_panics_are_recorded_and_reported_and_the_loop_goes_on() {
        let (stop, stopped) = bounded::<()>(1);
        let status = Mutex::new(TickerStatus::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let hook = TickErrorHook(Arc::new(move |m: &str| sink.lock().push(m.to_owned())));
        let mut n = 0;
        let tick = || {
            n += 1;
            match n {
                1 => Some(Err("disk on fire".to_owned())),
                2 => Some(Ok(TickReport { processed: 3, ..TickReport::default() })),
                3 => Some(Err(format!("tick panicked: {}", panic_message(&"boom")))),
                _ => None, // the database is gone: the loop ends
            }
        };
        run(&stopped, Duration::from_millis(1), &status, Some(&hook), tick);
        drop(stop);
        let s = status.lock().clone();
        assert_eq!((s.runs, s.processed, s.errors), (3, 3, 2));
        assert_eq!(s.last_error.as_deref(), Some("tick panicked: boom"));
        assert_eq!(*seen.lock(), vec!["disk on fire".to_owned(), "tick panicked: boom".to_owned()]);
    }

    #[test]
    fn profiles_a_successful_tick_could_not_process_are_counted_and_reported() {
        let (stop, stopped) = bounded::<()>(1);
        let status = Mutex::new(TickerStatus::default());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let hook = TickErrorHook(Arc::new(move |m: &str| sink.lock().push(m.to_owned())));
        let failure = super::super::ProfileFailure::new(crate::ProfileId(7), "wake-up", &Error::invalid("boom"));
        let mut ticks = vec![TickReport { processed: 2, failures: vec![failure], ..TickReport::default() }].into_iter();
        run(&stopped, Duration::from_millis(1), &status, Some(&hook), || ticks.next().map(Ok));
        drop(stop);
        let s = status.lock().clone();
        assert_eq!((s.runs, s.processed, s.errors, s.profile_failures), (1, 2, 0, 1));
        let seen = seen.lock().clone();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].contains("wake-up of profile 7") && seen[0].contains("boom"), "{seen:?}");
        assert_eq!(s.last_error.as_deref(), Some(seen[0].as_str()));
    }

    #[test]
    fn a_stop_ends_the_loop_without_ticking() {
        let (stop, stopped) = bounded::<()>(1);
        drop(stop);
        let status = Mutex::new(TickerStatus::default());
        let mut ticked = false;
        run(&stopped, Duration::from_secs(3600), &status, None, || {
            ticked = true;
            None
        });
        assert!(!ticked);
    }
}
