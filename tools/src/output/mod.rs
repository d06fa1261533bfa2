//! Output: readable tables by default, JSON with `--json`. Commands build
//! both forms from library values with [`json`] and [`text`], and hand them
//! to [`Out::emit`]; nothing else writes to standard output.

pub mod data;
pub mod json;
pub mod progress;
pub mod stream;
pub mod table;
pub mod text;

use std::io::Write;

use serde_json::Value;

use crate::error::CliError;

/// Where and how a command prints its result.
#[derive(Clone, Copy, Debug)]
pub struct Out {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Out {
    /// Prints `json` (pretty) with `--json`, else the text `text` builds.
    pub fn emit(&self, json: &Value, text: impl FnOnce() -> String) -> Result<(), CliError> {
        if self.json {
            let s = serde_json::to_string_pretty(json).map_err(|e| CliError::Io {
                what: "encoding the output as JSON".into(),
                source: std::io::Error::other(e),
            })?;
            print(&s)
        } else {
            print(&text())
        }
    }
}

/// Writes `s` and a final newline to standard output.
pub fn print(s: &str) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    out.write_all(s.as_bytes()).map_err(stdout_error)?;
    if !s.ends_with('\n') {
        out.write_all(b"\n").map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}

/// Maps a failed write to standard output: a closed pipe ends the command
/// quietly, anything else is an I/O error.
pub fn stdout_error(e: std::io::Error) -> CliError {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        CliError::BrokenPipe
    } else {
        CliError::Io { what: "writing to standard output".into(), source: e }
    }
}

/// Escapes bytes as RocksDB's `ldb` does: printable ASCII as is, every
/// other byte (and the backslash) as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("\\x{b:02X}"));
        }
    }
    s
}

/// Hex-encodes bytes as `ldb --hex` does: `0x` and upper-case digits.
pub fn hex_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + bytes.len() * 2);
    s.push_str("0x");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s
}

/// A count for people, as `demo` and `stats` print counts: `12345` → `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count for people: `1.5 MiB`.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_ldb() {
        assert_eq!(escape_bytes(b"email\x00a@x.com"), "email\\x00a@x.com");
        assert_eq!(escape_bytes(b"a\\b\xff"), "a\\x5Cb\\xFF");
        assert_eq!(hex_bytes(&[0, 0xab]), "0x00AB");
    }

    #[test]
    fn groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
