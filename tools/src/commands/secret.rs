//! `move-secret-out`: the stored suppression secret into a key file.

use std::io::Write;
use std::path::Path;

use profiledb::Error;
use serde_json::json;

use super::Ctx;
use crate::cli::MoveSecretOutArgs;
use crate::error::CliError;
use crate::open;

/// Writes the stored secret to `a.to` (a new file, owner-only, fsynced
/// with its directory entry), then has the library delete it from the
/// database. A file that exists is refused before anything is written.
pub fn move_out(ctx: &Ctx, a: &MoveSecretOutArgs) -> Result<(), CliError> {
    if a.to.symlink_metadata().is_ok() {
        return Err(CliError::Usage(format!("--to {}: the file exists; give a new path", a.to.display())));
    }
    let db = open::for_writing(&ctx.db)?;
    db.move_secret_out(|key| write_key(&a.to, key))?;
    let v = json!({"key_file": a.to.display().to_string(), "bytes": 192});
    ctx.out.emit(&v, || {
        format!(
            "the secret is now only in {} (192 bytes): give --key-file {} (or PROFILEDB_KEY_FILE) to every command",
            a.to.display(),
            a.to.display()
        )
    })
}

/// Creates `path` holding `key`, readable by its owner only, durably.
fn write_key(path: &Path, key: &[u8]) -> profiledb::Result<()> {
    let io = |source| Error::Io { path: path.to_owned(), source };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io)?;
    file.write_all(key).map_err(io)?;
    file.sync_all().map_err(io)?;
    // The directory entry too: the key must survive what the database's
    // deletion of the secret survives.
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| Error::Io { path: dir.to_owned(), source })
}
