//! What a database directory holds on disk, by kind of file: the table
//! files RocksDB reports per column family are only part of it; the
//! write-ahead log, until it is flushed, can be most of it.

use std::path::Path;

use crate::error::CliError;
use crate::output::human_bytes;

/// Bytes of the files in a database directory, by kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirUsage {
    /// Table files (`*.sst`).
    pub tables: u64,
    /// Write-ahead log files (`*.log`).
    pub wal: u64,
    /// Everything else: MANIFEST, OPTIONS, RocksDB's info logs (`LOG*`),
    /// CURRENT, IDENTITY, LOCK, and any other file.
    pub other: u64,
}

impl DirUsage {
    /// Every file of the directory (and of its subdirectories).
    pub fn total(&self) -> u64 {
        self.tables + self.wal + self.other
    }

    /// The readable section of `stats`.
    pub fn text(&self, dir: &Path) -> String {
        let rows = [
            ("table files (*.sst)", self.tables),
            ("write-ahead log (*.log)", self.wal),
            ("other (MANIFEST, OPTIONS, info logs LOG*)", self.other),
            ("directory total", self.total()),
        ];
        let mut out = format!("FILES IN {}", dir.display());
        for (label, bytes) in rows {
            out.push_str(&format!("\n  {label:<44}{}", human_bytes(bytes)));
        }
        out
    }

    /// Adds up the files under `dir` (subdirectories included; symlinks
    /// are not followed).
    pub fn of(dir: &Path) -> Result<DirUsage, CliError> {
        let mut usage = DirUsage::default();
        usage.add(dir)?;
        Ok(usage)
    }

    fn add(&mut self, dir: &Path) -> Result<(), CliError> {
        let io = |p: &Path| {
            let what = format!("reading {}", p.display());
            move |source| CliError::Io { what, source }
        };
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let entry = entry.map_err(io(dir))?;
            let path = entry.path();
            // A file deleted by a running writer since the listing is no longer there to count.
            let meta = match entry.metadata() {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(io(&path)(e)),
            };
            if meta.is_dir() {
                self.add(&path)?;
                continue;
            }
            let bytes = meta.len();
            match path.extension().and_then(|x| x.to_str()) {
                Some("sst") => self.tables += bytes,
                Some("log") => self.wal += bytes,
                _ => self.other += bytes,
            }
        }
        Ok(())
    }
}
