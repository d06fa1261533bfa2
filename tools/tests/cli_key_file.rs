//! `--key-file` / `PROFILEDB_KEY_FILE`: the suppression key held outside
//! the database.

mod common;

use common::{profiledb, run_cmd, s, TestDb};

/// A key file of 192 random bytes beside the database.
fn key_file(db: &TestDb, name: &str) -> std::path::PathBuf {
    let path = db.beside(name);
    std::fs::write(&path, profiledb::privacy::new_secret_key().expect("random key")).expect("write key file");
    path
}

/// Every pair of the families a refused command could have written.
fn dump_all(db: &TestDb, key: &str) -> String {
    ["meta", "identity", "profile", "delta", "audit"]
        .iter()
        .map(|cf| db.run(&["--key-file", key, "dump", "--cf", cf]).ok().stdout)
        .collect()
}

#[test]
fn a_key_file_keeps_the_secret_out_of_the_database_and_every_command_needs_it() {
    let db = TestDb::empty();
    let key = key_file(&db, "suppression.key");
    let k = s(&key);
    db.run(&["--key-file", k, "init"]).ok();
    let ann = "email:ann.keyed@example.com";
    db.run(&["--key-file", k, "trait", "set", ann, "plan", "pro"]).ok();
    db.run(&["--key-file", k, "erase", ann, "--yes"]).ok();
    // Suppressed across runs (each reopens the database with the key).
    db.run(&["--key-file", k, "trait", "set", ann, "plan", "free"]).code(2).err_has(&["erased person"]);
    let meta = db.run(&["--key-file", k, "dump", "--cf", "meta"]).ok().stdout;
    assert!(meta.contains("suppression_key_check") && !meta.contains("suppression_secret"), "{meta}");

    // The environment variable does the same.
    let mut c = profiledb();
    c.env("PROFILEDB_KEY_FILE", &key).args(["--db", s(&db.path()), "trait", "set", ann, "plan", "x"]);
    run_cmd(c, None).code(2).err_has(&["erased person"]);

    // Without the key, with another key, with an unreadable or short file:
    // refused (exit 2), nothing written.
    let before = dump_all(&db, k);
    db.run(&["stats"]).code(2).err_has(&["held outside it", "--key-file", "nothing was written"]);
    db.run(&["trait", "set", "user_id:new", "plan", "pro"]).code(2).err_has(&["held outside it"]);
    let other = key_file(&db, "other.key");
    db.run(&["--key-file", s(&other), "get", ann]).code(2).err_has(&["not this database's suppression key"]);
    db.run(&["--key-file", s(&other), "trait", "set", "user_id:new", "plan", "pro"])
        .code(2)
        .err_has(&["not this database's suppression key"]);
    let missing = db.beside("no-such.key");
    db.run(&["--key-file", s(&missing), "stats"]).code(2).err_has(&["--key-file", "no-such.key", "cannot be read"]);
    let short = db.file("short.key", "not a key\n");
    db.run(&["--key-file", s(&short), "stats"]).code(2).err_has(&["exactly 192 bytes"]);
    assert_eq!(dump_all(&db, k), before);
}

#[test]
fn move_secret_out_writes_the_key_file_and_the_database_then_needs_it() {
    let db = TestDb::empty();
    db.run(&["init"]).ok();
    let ann = "email:ann.moved@example.com";
    db.run(&["trait", "set", ann, "plan", "pro"]).ok();
    db.run(&["erase", ann, "--yes"]).ok();
    assert!(db.run(&["dump", "--cf", "meta"]).ok().stdout.contains("suppression_secret"), "stored before");
    let key = db.beside("moved.key");
    // Nothing without a path that is new.
    let taken = db.file("taken.key", "x");
    db.run(&["move-secret-out", "--to", s(&taken)]).code(2).err_has(&["taken.key", "exists"]);
    assert!(db.run(&["dump", "--cf", "meta"]).ok().stdout.contains("suppression_secret"), "still stored");

    let moved = db.run(&["move-secret-out", "--to", s(&key)]).ok().stdout;
    assert!(moved.contains("moved.key") && moved.contains("--key-file"), "{moved}");
    let bytes = std::fs::read(&key).expect("the key file");
    assert_eq!(bytes.len(), 192);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).expect("metadata").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "owner-only");
    }
    // Without the key the database no longer opens; with it, the erased
    // identifier stays suppressed and the secret is no longer stored.
    db.run(&["stats"]).code(2).err_has(&["--key-file"]);
    let k = s(&key);
    db.run(&["--key-file", k, "trait", "set", ann, "plan", "free"]).code(2).err_has(&["erased person"]);
    let meta = db.run(&["--key-file", k, "dump", "--cf", "meta"]).ok().stdout;
    assert!(meta.contains("suppression_key_check") && !meta.contains("suppression_secret"), "{meta}");
    // Once moved, there is nothing left to move.
    let again = db.beside("again.key");
    db.run(&["--key-file", k, "move-secret-out", "--to", s(&again)]).code(2).err_has(&["stores no suppression secret"]);
    assert!(!again.exists(), "no second key file");
}

/// `identifier suppressed` and a second `erase` answer with the key file's
/// key (given at creation or moved out): an erased identifier is
/// suppressed; without the key the command is refused, never "not
/// suppressed".
#[test]
fn suppression_is_reported_with_the_key_file() {
    for moved in [false, true] {
        let db = TestDb::empty();
        let key = if moved { db.beside("moved.key") } else { key_file(&db, "held.key") };
        let k = s(&key);
        let with_key = |args: &[&str]| {
            let mut all = if key.exists() { vec!["--key-file", k] } else { vec![] };
            all.extend_from_slice(args);
            db.run(&all)
        };
        with_key(&["init"]).ok();
        let ann = "email:ann.asked@example.com";
        with_key(&["trait", "set", ann, "plan", "pro"]).ok();
        with_key(&["trait", "set", "user_id:kept", "plan", "pro"]).ok();
        with_key(&["erase", ann, "--yes"]).ok();
        if moved {
            db.run(&["move-secret-out", "--to", k]).ok();
        }
        let v = db.json(&["--key-file", k, "identifier", "suppressed", ann]);
        assert_eq!(v["suppressed"], true, "moved: {moved}: {v}");
        let out = db.run(&["--key-file", k, "identifier", "suppressed", ann]).ok().stdout;
        assert!(out.contains("is suppressed"), "moved: {moved}: {out}");
        let v = db.json(&["--key-file", k, "identifier", "suppressed", "user_id:kept"]);
        assert_eq!(v["suppressed"], false, "moved: {moved}: {v}");
        db.run(&["--key-file", k, "erase", ann, "--yes"]).code(3).err_has(&["already erased or anonymized"]);
        db.run(&["identifier", "suppressed", ann]).code(2).err_has(&["held outside it", "--key-file"]);
    }
}
