//! Refusing a writable open of a database another process holds, before
//! RocksDB touches the directory.
//!
//! RocksDB creates its info log — renaming the running writer's live `LOG`
//! to `LOG.old.<µs>` — before it tries to take `<dir>/LOCK`, so an open it
//! then refuses has already changed the directory (and a later writable
//! open may prune the file the running writer still logs to). RocksDB's
//! lock is a POSIX record lock (`fcntl`), which `F_GETLK` reports when
//! another process holds it: [`probe`] asks first and returns the same
//! [`Error::Locked`] a refused open returns.
//!
//! POSIX record locks belong to a process, and closing *any* descriptor of
//! the file releases all of them: the probe's own open and close of `LOCK`
//! would drop the lock of a handle this process already holds. So the
//! directories this process opens writable are registered (from before the
//! open until the store is dropped), and the probe skips them — RocksDB
//! refuses a second handle within one process without touching the
//! directory's lock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use crate::error::{Error, Result};

/// Writable handles (open or opening) of this process, by directory.
static OPEN_HERE: Mutex<BTreeMap<PathBuf, usize>> = Mutex::new(BTreeMap::new());

fn open_here() -> MutexGuard<'static, BTreeMap<PathBuf, usize>> {
    // A panic while holding it left the map consistent (each change is one step).
    OPEN_HERE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A writable handle of this process on a directory: registered until
/// dropped (declared after the database in the store, so after it closes).
#[derive(Debug)]
pub(crate) struct Registration(PathBuf);

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = open_here();
        if let Some(n) = open.get_mut(&self.0) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.0);
            }
        }
    }
}

/// Refuses (with [`Error::Locked`]) a writable open of `path` while another
/// process holds its `LOCK`; otherwise registers the handle about to open.
pub(crate) fn probe(path: &Path) -> Result<Registration> {
    let key = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut open = open_here();
    // Held under the registry's lock: no other thread of this process
    // takes `LOCK` between the probe and the registration.
    if !open.contains_key(&key) {
        refuse_if_held_elsewhere(path)?;
    }
    *open.entry(key.clone()).or_insert(0) += 1;
    Ok(Registration(key))
}

#[cfg(unix)]
fn refuse_if_held_elsewhere(path: &Path) -> Result<()> {
    use std::os::fd::AsRawFd;
    let lock = path.join("LOCK");
    // No LOCK file (a new database) or one we cannot read: RocksDB decides.
    let Ok(file) = std::fs::File::open(&lock) else { return Ok(()) };
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value.
    let mut query: libc::flock = unsafe { std::mem::zeroed() };
    query.l_type = libc::F_WRLCK as _;
    query.l_whence = libc::SEEK_SET as _;
    // l_start 0, l_len 0: the whole file, as RocksDB locks it.
    // SAFETY: the descriptor is open for the call's duration and `query`
    // is a valid, exclusively borrowed `flock`.
    let rc = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut query as *mut libc::flock) };
    if rc == -1 || i32::from(query.l_type) == libc::F_UNLCK {
        return Ok(());
    }
    Err(Error::Locked {
        path: path.to_owned(),
        detail: format!(
            "IO error: While lock file: {}: Resource temporarily unavailable (held by process {}; refused before \
             opening)",
            lock.display(),
            query.l_pid
        ),
    })
}

#[cfg(not(unix))]
fn refuse_if_held_elsewhere(_path: &Path) -> Result<()> {
    Ok(())
}
