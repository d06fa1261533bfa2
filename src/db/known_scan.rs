//! [`KnownScan`]: the background thread that adds every identifier linked
//! before the database was opened to the filter of known identifiers
//! ([`KnownIdentifiers`](crate::identity::known::KnownIdentifiers)), then
//! marks it ready.
//!
//! It scans a snapshot taken after the filter was created: an identifier
//! linked later was added by the writer as it staged the link, so once the
//! scan ends every linked identifier is in the filter. Until then lookups
//! read RocksDB as they would without a filter, so opening is not slowed
//! (13 million identifiers take a few seconds to scan). A scan that fails
//! (an I/O error) leaves the filter not ready: lookups keep reading
//! RocksDB, and `check` reports nothing about it.
//!
//! The thread holds the database open while it scans; dropping the last
//! handle stops it (between two batches of keys) and joins it before the
//! database closes, so no thread outlives it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::core::Core;
use crate::error::{Error, Result};
use crate::schema;

/// Keys added between two looks at the stop flag.
const BATCH: usize = 4_096;

/// The running scan; dropping it stops and joins the thread.
pub(crate) struct KnownScan {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl KnownScan {
    /// Starts scanning `core`'s identifiers into its filter.
    pub fn start(core: Arc<Core>) -> Result<KnownScan> {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let handle = std::thread::Builder::new()
            .name("profiledb-known-ids".into())
            .spawn(move || {
                // An error leaves the filter not ready (see the module docs).
                let _ = scan(&core, &stopped);
            })
            .map_err(|e| Error::Io { path: "<spawning the profiledb-known-ids thread>".into(), source: e })?;
        Ok(KnownScan { stop, handle: Some(handle) })
    }
}

impl Drop for KnownScan {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Adds every stored identifier to the filter, then marks it ready
/// (unless told to stop first).
fn scan(core: &Core, stop: &AtomicBool) -> Result<()> {
    let view = core.store.snapshot();
    for (i, kv) in view.keys_uncached(schema::IDENTITY.name)?.enumerate() {
        if i % BATCH == 0 && stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        core.known.insert(&kv?);
    }
    core.known.set_ready();
    Ok(())
}
