//! A truncated MANIFEST (ops review A4) either fails the open or reads
//! exactly what was written: never a profile whose newest delta is gone.
//!
//! The database is built as a CLI user builds it: writes, a compaction,
//! then three single writes, each in its own open and close. Each copy has
//! its MANIFEST cut at one of the lengths below its full size.

use std::collections::BTreeMap;
use std::path::Path;

use profiledb::{AccessMode, Identifier, ProfileDb, Update};

const PEOPLE: usize = 40;

fn id(n: usize) -> Identifier {
    format!("email:u{n}@x.com").parse().expect("valid identifier")
}

/// Every person's profile (version and traits) and history (versions).
fn contents(db: &ProfileDb) -> profiledb::Result<BTreeMap<usize, String>> {
    let mut out = BTreeMap::new();
    for n in 0..PEOPLE {
        let Some(p) = db.get(&id(n))? else { continue };
        let history: Vec<u64> = db.history(p.id)?.iter().map(|d| d.version).collect();
        out.insert(n, format!("v{} {:?} history {history:?}", p.version, p.traits));
    }
    Ok(out)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn manifest(dir: &Path) -> std::path::PathBuf {
    dir.join(std::fs::read_to_string(dir.join("CURRENT")).unwrap().trim_end())
}

#[test]
fn a_truncated_manifest_fails_the_open_or_reads_what_was_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("db");
    let db = ProfileDb::open(&dir).unwrap();
    for n in 0..PEOPLE {
        db.update(&id(n), Update::new().set("plan", "free").set("n", n as i64)).unwrap();
    }
    db.compact().unwrap();
    drop(db);
    for n in 1..4 {
        let db = ProfileDb::open(&dir).unwrap();
        db.update(&id(n), Update::new().set("plan", "w")).unwrap();
    }
    let truth = contents(&ProfileDb::builder(&dir).access_mode(AccessMode::ReadOnly).open().unwrap()).unwrap();
    assert_eq!(truth.len(), PEOPLE);
    let full = std::fs::metadata(manifest(&dir)).unwrap().len();

    let (mut refused, mut opened) = (BTreeMap::<String, usize>::new(), 0);
    for len in (full.saturating_sub(800)..full).step_by(3) {
        let copy = root.path().join(format!("cut-{len}"));
        copy_dir(&dir, &copy);
        std::fs::OpenOptions::new().write(true).open(manifest(&copy)).unwrap().set_len(len).unwrap();
        for mode in [AccessMode::ReadOnly, AccessMode::ReadWrite] {
            match ProfileDb::builder(&copy).access_mode(mode).create_if_missing(false).open() {
                Err(e) => {
                    let kind = match e {
                        profiledb::Error::WalDamaged { .. } => "WalDamaged".to_owned(),
                        other => other.to_string().chars().take(90).collect(),
                    };
                    *refused.entry(format!("{mode:?}: {kind}")).or_default() += 1;
                }
                Ok(db) => {
                    opened += 1;
                    let read = contents(&db);
                    assert!(
                        read.as_ref().is_ok_and(|r| *r == truth),
                        "MANIFEST cut to {len} of {full} bytes, {mode:?}: {:?}",
                        read.map(|r| r.into_iter().filter(|(n, v)| truth.get(n) != Some(v)).collect::<Vec<_>>())
                    );
                }
            }
        }
        std::fs::remove_dir_all(&copy).unwrap();
    }
    eprintln!("MANIFEST of {full} bytes: {opened} opens read correctly; refused: {refused:#?}");
}
