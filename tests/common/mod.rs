//! Helpers shared by the integration tests.

// Each test target compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::Path;

/// Every file directly in `dir` that contains one of `needles` byte for
/// byte, as "PATH contains NEEDLE" lines (the erase and anonymize scans).
pub fn files_containing(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        for n in needles {
            if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                hits.push(format!("{} contains {n:?}", path.display()));
            }
        }
    }
    hits
}
