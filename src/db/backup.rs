//! [`ProfileDb::backup`]: a RocksDB checkpoint, staged in a directory of
//! its own.
//!
//! RocksDB stages a checkpoint of `DIR` in `DIR.tmp`, deleting whatever is
//! there first — through a symlink, the files of the directory it points
//! to. So the checkpoint is taken inside a staging directory this module
//! creates and marks (`DIR.backup-partial`, holding [`STAGING_MARKER`]),
//! then renamed to `DIR`: RocksDB's `.tmp` lies inside it, and nothing
//! outside it is ever deleted. A staging directory left by a killed backup
//! (it has the marker) is removed by the next backup to the same `DIR`;
//! anything else at that path is refused.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

use super::ProfileDb;

/// The file that marks a backup's staging directory as profiledb's.
pub const STAGING_MARKER: &str = "PROFILEDB-BACKUP-IN-PROGRESS";

/// The suffix of a backup's staging directory, beside it.
pub const STAGING_SUFFIX: &str = ".backup-partial";

impl ProfileDb {
    /// Writes a consistent, openable copy of the database into `dir`
    /// (which must not exist). Safe while the database is in use.
    ///
    /// The copy is made in `dir` + `.backup-partial` (a directory this
    /// creates, marked by a file named `PROFILEDB-BACKUP-IN-PROGRESS`) and renamed to
    /// `dir` once complete, so `dir` never holds a partial copy. A staging
    /// directory a killed backup left behind is removed first; a path of
    /// that name that is not one (no marker, a file, a symlink) is refused
    /// with [`Error::InvalidInput`] and left alone. Nothing else beside
    /// `dir` is touched (RocksDB's own `dir.tmp` staging lies inside the
    /// staging directory).
    pub fn backup(&self, dir: &Path) -> Result<()> {
        // A checkpoint through a read-only or secondary handle would miss
        // writes still only in the writer's WAL.
        self.writable("backup")?;
        if dir.symlink_metadata().is_ok() {
            return Err(Error::invalid(format!("backup directory {} already exists", dir.display())));
        }
        let staging = staging_dir(dir)?;
        clear_stale_staging(&staging)?;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir(&staging).map_err(io(&staging))?;
        let copied = (|| {
            std::fs::write(staging.join(STAGING_MARKER), b"a profiledb backup in progress\n").map_err(io(&staging))?;
            let copy = staging.join("copy");
            self.core.store.checkpoint(&copy)?;
            std::fs::rename(&copy, dir).map_err(io(dir))?;
            // The rename survives power loss once its directory is synced.
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::File::open(parent).and_then(|d| d.sync_all()).map_err(io(parent))?;
            }
            Ok(())
        })();
        // Only the marker (and, after a failure, what RocksDB left) remains.
        let _ = std::fs::remove_dir_all(&staging);
        copied
    }
}

/// `dir`'s staging directory: its name with [`STAGING_SUFFIX`], beside it.
fn staging_dir(dir: &Path) -> Result<PathBuf> {
    let Some(name) = dir.file_name() else {
        return Err(Error::invalid(format!("backup directory {} does not name a new directory", dir.display())));
    };
    let mut staged = name.to_os_string();
    staged.push(STAGING_SUFFIX);
    Ok(dir.with_file_name(staged))
}

/// Removes a staging directory a killed backup left (a directory, not a
/// symlink, holding the marker); refuses anything else at that path.
fn clear_stale_staging(staging: &Path) -> Result<()> {
    let meta = match staging.symlink_metadata() {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(Error::Io { path: staging.to_path_buf(), source }),
    };
    let marked = meta.is_dir() && staging.join(STAGING_MARKER).symlink_metadata().is_ok_and(|m| m.is_file());
    if !marked {
        return Err(Error::invalid(format!(
            "{} exists and is not a partial backup left by profiledb (no {STAGING_MARKER} file in it); a backup \
             stages its copy there, so move it away or choose another backup directory (nothing was done)",
            staging.display()
        )));
    }
    // `remove_dir_all` does not follow symlinks inside it.
    std::fs::remove_dir_all(staging).map_err(|source| Error::Io { path: staging.to_path_buf(), source })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::{STAGING_MARKER, STAGING_SUFFIX};
    use crate::{Identifier, ProfileDb, Update};

    fn db_with_one(dir: &Path) -> ProfileDb {
        let db = ProfileDb::open(dir.join("db")).expect("open");
        let ann = Identifier::new("email", "ann@example.com").expect("identifier");
        db.update(&ann, Update::new().set("plan", "pro")).expect("update");
        db
    }

    #[test]
    fn a_backup_never_deletes_a_tmp_directory_or_what_a_symlink_points_to() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db_with_one(dir.path());
        // What RocksDB's checkpoint would wipe: `DIR.tmp`, and through a symlink its target.
        let precious = dir.path().join("bk.tmp");
        std::fs::create_dir(&precious).expect("mkdir");
        std::fs::write(precious.join("notes.txt"), "important").expect("write");
        let target = dir.path().join("target");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("keep.txt"), "keep").expect("write");
        std::os::unix::fs::symlink(&target, dir.path().join("bk2.tmp")).expect("symlink");

        db.backup(&dir.path().join("bk")).expect("backup");
        db.backup(&dir.path().join("bk2")).expect("backup");
        assert!(precious.join("notes.txt").is_file(), "bk.tmp untouched");
        assert!(target.join("keep.txt").is_file(), "the symlink's target untouched");
        for bk in ["bk", "bk2"] {
            assert!(!dir.path().join(format!("{bk}{STAGING_SUFFIX}")).exists(), "staging removed");
            let copy = ProfileDb::open(dir.path().join(bk)).expect("open the backup");
            assert_eq!(copy.profile_count().expect("count"), 1);
        }
    }

    #[test]
    fn a_staging_path_profiledb_did_not_create_is_refused_and_a_stale_one_is_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = db_with_one(dir.path());
        let staging = dir.path().join(format!("bk{STAGING_SUFFIX}"));
        std::fs::create_dir(&staging).expect("mkdir");
        std::fs::write(staging.join("mine.txt"), "mine").expect("write");
        let err = db.backup(&dir.path().join("bk")).expect_err("refused");
        assert!(matches!(err, crate::Error::InvalidInput(_)) && err.to_string().contains("not a partial backup"));
        assert!(staging.join("mine.txt").is_file() && !dir.path().join("bk").exists());

        // A symlink to a marked directory is refused too.
        std::fs::write(staging.join(STAGING_MARKER), "").expect("write");
        let link = dir.path().join(format!("bk3{STAGING_SUFFIX}"));
        std::os::unix::fs::symlink(&staging, &link).expect("symlink");
        db.backup(&dir.path().join("bk3")).expect_err("a symlink is refused");
        assert!(staging.join("mine.txt").is_file());

        // What a killed backup left (it has the marker) is cleared.
        std::fs::remove_file(staging.join("mine.txt")).expect("rm");
        std::fs::write(staging.join("000001.sst"), "partial").expect("write");
        db.backup(&dir.path().join("bk")).expect("backup");
        assert!(!staging.exists());
        assert_eq!(ProfileDb::open(dir.path().join("bk")).expect("open").profile_count().expect("count"), 1);
    }
}
