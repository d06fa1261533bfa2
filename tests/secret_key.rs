//! The suppression key held by the application (`Builder::secret_key`):
//! never stored in the database, required (and checked) by every open.

use std::path::Path;

use profiledb::privacy::{new_secret_key, AnonymizeRules, ValueRule};
use profiledb::{AccessMode, Error, Identifier, ProfileDb, RawEntry, Update};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open_with(dir: &Path, key: &[u8], mode: AccessMode) -> profiledb::Result<ProfileDb> {
    ProfileDb::builder(dir).secret_key(key).access_mode(mode).compression(false).open()
}

/// A database holding `key`, where one person was erased; returns the
/// erased identifier.
fn keyed_db_with_an_erasure(dir: &Path, key: &[u8]) -> Identifier {
    let db = open_with(dir, key, AccessMode::ReadWrite).expect("open with a key");
    let gone = id("email:gone.person@example.com");
    db.update(&gone, Update::new().set("plan", "pro")).expect("write");
    db.update(&id("user_id:keeper"), Update::new().set("plan", "free")).expect("write");
    db.erase(&gone, Some("ticket-1")).expect("erase");
    gone
}

fn dump(dir: &Path, key: &[u8]) -> Vec<RawEntry> {
    open_with(dir, key, AccessMode::ReadOnly).expect("read-only open").raw_dump().expect("dump")
}

/// Every file under `dir` (subdirectories too) holding `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut hits = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            hits.extend(files_holding(&path, needle));
        } else if std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle) {
            hits.push(path.display().to_string());
        }
    }
    hits
}

#[test]
fn the_secret_is_not_stored_when_the_application_holds_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    assert_eq!(key.len(), 192);
    keyed_db_with_an_erasure(dir.path(), &key);
    let dump = dump(dir.path(), &key);
    assert!(dump.iter().all(|e| e.key != b"suppression_secret"), "no stored secret");
    assert!(dump.iter().any(|e| e.cf == "meta" && e.key == b"suppression_key_check" && e.value.len() == 16));
    assert!(dump.iter().any(|e| e.cf == "audit" && e.key[0] == 0x02), "the erasure left a suppression hash");
    // Not a byte run of the key in any file (compression is off): neither
    // the whole key nor its first or last 32 bytes.
    for part in [&key[..], &key[..32], &key[160..]] {
        assert_eq!(files_holding(dir.path(), part), Vec::<String>::new());
    }
}

#[test]
fn suppression_holds_across_a_reopen_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    let gone = keyed_db_with_an_erasure(dir.path(), &key);
    let db = open_with(dir.path(), &key, AccessMode::ReadWrite).unwrap();
    let err = db.update(&gone, Update::new().set("plan", "back")).unwrap_err();
    assert!(matches!(err, Error::Suppressed { .. }), "{err}");
    db.update(&id("email:someone.else@example.com"), Update::new().set("plan", "pro")).unwrap();
    // A second erase keeps using the held key (no secret gets stored).
    db.erase(&id("email:someone.else@example.com"), None).unwrap();
    drop(db);
    let db = open_with(dir.path(), &key, AccessMode::ReadWrite).unwrap();
    for who in [&gone, &id("email:someone.else@example.com")] {
        assert!(matches!(db.update(who, Update::new()), Err(Error::Suppressed { .. })));
    }
    assert!(db.raw_dump().unwrap().iter().all(|e| e.key != b"suppression_secret"));
}

#[test]
fn a_wrong_key_is_refused_in_every_mode_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    keyed_db_with_an_erasure(dir.path(), &key);
    let before = dump(dir.path(), &key);
    let mut wrong = key.clone();
    wrong[191] ^= 0x01;
    for bad in [new_secret_key().unwrap(), wrong] {
        for mode in [AccessMode::ReadWrite, AccessMode::ReadOnly, AccessMode::Secondary] {
            let err = open_with(dir.path(), &bad, mode).map(drop).unwrap_err();
            assert!(matches!(err, Error::SecretKey { .. }), "{mode:?}: {err}");
            let msg = err.to_string();
            assert!(
                msg.contains("not this database's suppression key") && msg.contains("nothing was written"),
                "{msg}"
            );
            assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
        }
    }
    assert_eq!(dump(dir.path(), &key), before);
}

#[test]
fn a_missing_key_is_refused_in_every_mode_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    // Held from creation: the check is recorded before anything is erased.
    drop(open_with(dir.path(), &key, AccessMode::ReadWrite).unwrap());
    keyed_db_with_an_erasure(dir.path(), &key);
    let before = dump(dir.path(), &key);
    for mode in [AccessMode::ReadWrite, AccessMode::ReadOnly, AccessMode::Secondary] {
        let err = ProfileDb::builder(dir.path()).access_mode(mode).open().map(drop).unwrap_err();
        assert!(matches!(err, Error::SecretKey { .. }), "{mode:?}: {err}");
        assert!(err.to_string().contains("held outside it, and this open gave none"), "{err}");
    }
    assert_eq!(dump(dir.path(), &key), before);
}

#[test]
fn a_key_of_the_wrong_length_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_with(dir.path(), b"short key\n", AccessMode::ReadWrite).map(drop).unwrap_err();
    assert!(matches!(err, Error::SecretKey { .. }), "{err}");
    assert!(err.to_string().contains("10 bytes long; a suppression key is exactly 192 bytes"), "{err}");
}

#[test]
fn a_database_storing_its_own_secret_keeps_it_and_refuses_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let gone = id("email:stored.secret@example.com");
    db.update(&gone, Update::new().set("plan", "pro")).unwrap();
    db.erase(&gone, None).unwrap();
    drop(db);
    let err = open_with(dir.path(), &new_secret_key().unwrap(), AccessMode::ReadWrite).map(drop).unwrap_err();
    assert!(err.to_string().contains("stores its own suppression secret"), "{err}");
    let db = ProfileDb::open(dir.path()).expect("opens as before, without a key");
    assert!(matches!(db.update(&gone, Update::new()), Err(Error::Suppressed { .. })));
    assert!(db.raw_dump().unwrap().iter().any(|e| e.key == b"suppression_secret"));
    assert!(db.raw_dump().unwrap().iter().all(|e| e.key != b"suppression_key_check"));
}

/// Anonymize's `Hash` values are keyed by the held key: the same value
/// hashes alike in two databases holding one key, and differently under
/// another key; no secret is stored.
#[test]
fn anonymize_hashes_with_the_held_key() {
    let key = new_secret_key().unwrap();
    let hashed = |key: &[u8]| {
        let dir = tempfile::tempdir().unwrap();
        let rules = AnonymizeRules::default().rule("customer_ref", ValueRule::Hash);
        let db = ProfileDb::builder(dir.path()).secret_key(key).anonymize_rules(rules).open().unwrap();
        let who = id("email:anon.me@example.com");
        let p = db.update(&who, Update::new().set("customer_ref", "REF-1")).unwrap().profile;
        db.anonymize(&who, None, None).unwrap();
        assert!(db.raw_dump().unwrap().iter().all(|e| e.key != b"suppression_secret"));
        let left = db.get_by_id(p).unwrap().expect("anonymized profile kept");
        left.traits.get("customer_ref").cloned().expect("hashed value")
    };
    let a = hashed(&key);
    assert_eq!(hashed(&key), a);
    assert_ne!(hashed(&new_secret_key().unwrap()), a);
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("fixture dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

/// A format 12 database (no stored secret) given a key is upgraded and
/// records the key's check value; from then on it needs the key. A
/// read-only open given a key writes nothing, the check value included.
#[test]
fn an_older_database_without_a_secret_takes_a_key_at_its_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v12"), dir.path());
    let key = new_secret_key().unwrap();
    let read_only = open_with(dir.path(), &key, AccessMode::ReadOnly).unwrap();
    assert_eq!(read_only.stored_format_version().unwrap(), 12);
    assert!(read_only.raw_dump().unwrap().iter().all(|e| e.key != b"suppression_key_check"));
    drop(read_only);
    let db = open_with(dir.path(), &key, AccessMode::ReadWrite).unwrap();
    assert_eq!(db.stored_format_version().unwrap(), profiledb::FORMAT_VERSION);
    assert!(db.resolve(&id("email:ann@example.com")).unwrap().is_some());
    drop(db);
    let err = ProfileDb::open(dir.path()).map(drop).unwrap_err();
    assert!(matches!(err, Error::SecretKey { .. }), "{err}");
}

/// A database storing its own secret moves it out: the key `keep` was
/// given opens it (and nothing else does), erased identifiers stay
/// suppressed, and the secret's bytes are gone from the files.
#[test]
fn a_stored_secret_moves_out_of_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).compression(false).open().unwrap();
    let gone = id("email:moved.out@example.com");
    db.update(&gone, Update::new().set("plan", "pro")).unwrap();
    db.erase(&gone, None).unwrap();
    let stored = db.raw_dump().unwrap().into_iter().find(|e| e.key == b"suppression_secret").unwrap().value;
    assert!(!files_holding(dir.path(), &stored).is_empty(), "precondition: the files hold the secret");
    // A failing `keep` changes nothing.
    let err = db.move_secret_out(|_| Err(Error::invalid("disk full"))).unwrap_err();
    assert!(err.to_string().contains("disk full"), "{err}");
    assert!(db.raw_dump().unwrap().iter().any(|e| e.key == b"suppression_secret"));
    let mut kept = Vec::new();
    db.move_secret_out(|key| {
        kept = key.to_vec();
        Ok(())
    })
    .unwrap();
    assert_eq!(kept, stored);
    // This handle goes on with the key: still suppressed, no new secret.
    assert!(matches!(db.update(&gone, Update::new()), Err(Error::Suppressed { .. })));
    db.update(&id("email:next@example.com"), Update::new()).unwrap();
    db.erase(&id("email:next@example.com"), None).unwrap();
    let err = db.move_secret_out(|_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("stores no suppression secret"), "{err}");
    drop(db);
    assert_eq!(files_holding(dir.path(), &kept), Vec::<String>::new(), "the secret left the files");
    assert!(matches!(ProfileDb::open(dir.path()).map(drop), Err(Error::SecretKey { .. })));
    let db = open_with(dir.path(), &kept, AccessMode::ReadWrite).unwrap();
    for who in [&gone, &id("email:next@example.com")] {
        assert!(matches!(db.update(who, Update::new()), Err(Error::Suppressed { .. })));
    }
    assert!(db.raw_dump().unwrap().iter().all(|e| e.key != b"suppression_secret"));
}
