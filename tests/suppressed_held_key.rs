//! `is_suppressed` (and what answers with it: `erase_many`'s `Suppressed`
//! outcome) when the application holds the suppression key
//! (`Builder::secret_key`, or after `move_secret_out`): the hashes were
//! made with that key, which the database does not store.

use std::path::Path;

use profiledb::privacy::new_secret_key;
use profiledb::{AccessMode, EraseOutcome, Error, Identifier, ProfileDb, Update};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open_with(dir: &Path, key: &[u8], mode: AccessMode) -> ProfileDb {
    ProfileDb::builder(dir).secret_key(key).access_mode(mode).open().expect("open with the key")
}

/// Ann (two identifiers) and Bob to erase, Kim to keep.
fn people(db: &ProfileDb) {
    db.identify(&[id("user_id:ann"), id("email:ann@example.com")], Update::new().set("plan", "pro")).unwrap();
    db.update(&id("user_id:bob"), Update::new().set("plan", "free")).unwrap();
    db.update(&id("user_id:kim"), Update::new().set("plan", "free")).unwrap();
}

const ERASED: [&str; 3] = ["user_id:ann", "email:ann@example.com", "user_id:bob"];
const NOT_ERASED: [&str; 2] = ["user_id:kim", "user_id:nobody"];

/// Every erased identifier is suppressed, and nothing else is.
fn assert_answers(db: &ProfileDb, when: &str) {
    for who in ERASED {
        assert!(db.is_suppressed(&id(who)).unwrap(), "{when}: {who} was erased");
    }
    for who in NOT_ERASED {
        assert!(!db.is_suppressed(&id(who)).unwrap(), "{when}: {who} was not erased");
    }
}

/// Erasing the erased again reports them `Suppressed`, the others `NotFound`.
fn assert_erase_again(db: &ProfileDb) {
    let list: Vec<Identifier> = ["user_id:ann", "user_id:bob", "user_id:nobody"].into_iter().map(id).collect();
    let report = db.erase_many(&list, None).unwrap();
    assert_eq!(report.outcomes, vec![EraseOutcome::Suppressed, EraseOutcome::Suppressed, EraseOutcome::NotFound]);
}

fn assert_refused_without_the_key(dir: &Path) {
    for mode in [AccessMode::ReadWrite, AccessMode::ReadOnly, AccessMode::Secondary] {
        let err = ProfileDb::builder(dir).access_mode(mode).open().map(drop).unwrap_err();
        assert!(matches!(err, Error::SecretKey { .. }), "{mode:?}: {err}");
        assert!(err.to_string().contains("held outside it, and this open gave none"), "{mode:?}: {err}");
    }
}

#[test]
fn is_suppressed_answers_with_the_key_given_to_the_builder() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    let db = open_with(dir.path(), &key, AccessMode::ReadWrite);
    people(&db);
    db.erase(&id("email:ann@example.com"), Some("dsar-1")).unwrap();
    db.erase_many(&[id("user_id:bob")], Some("dsar-2")).unwrap();
    assert_answers(&db, "the handle that erased");
    assert_erase_again(&db);
    drop(db);
    for mode in [AccessMode::ReadWrite, AccessMode::ReadOnly, AccessMode::Secondary] {
        assert_answers(&open_with(dir.path(), &key, mode), &format!("reopened {mode:?} with the key"));
    }
    assert_refused_without_the_key(dir.path());
}

#[test]
fn is_suppressed_answers_after_move_secret_out() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    people(&db);
    db.erase(&id("user_id:ann"), None).unwrap();
    assert!(db.is_suppressed(&id("email:ann@example.com")).unwrap(), "with the stored secret");
    let mut kept = Vec::new();
    db.move_secret_out(|key| {
        kept = key.to_vec();
        Ok(())
    })
    .unwrap();
    // This handle goes on with the key: erased before the move and after.
    assert!(db.is_suppressed(&id("email:ann@example.com")).unwrap(), "erased before the move");
    db.erase(&id("user_id:bob"), None).unwrap();
    assert_answers(&db, "the handle that moved the secret out");
    assert_erase_again(&db);
    drop(db);
    assert_answers(&open_with(dir.path(), &kept, AccessMode::ReadOnly), "reopened with the moved key");
    assert_refused_without_the_key(dir.path());
}

#[test]
fn anonymized_identifiers_are_suppressed_under_a_held_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_secret_key().unwrap();
    let db = open_with(dir.path(), &key, AccessMode::ReadWrite);
    people(&db);
    db.anonymize(&id("user_id:ann"), None, None).unwrap();
    for who in ["user_id:ann", "email:ann@example.com"] {
        assert!(db.is_suppressed(&id(who)).unwrap(), "{who} was anonymized");
    }
    assert!(!db.is_suppressed(&id("user_id:bob")).unwrap());
    let report = db.erase_many(&[id("email:ann@example.com")], None).unwrap();
    assert_eq!(report.outcomes, vec![EraseOutcome::Suppressed]);
}

/// A secondary opened without a key while the database stored its secret,
/// caught up after the primary moved the secret out, has no secret left to
/// hash with: it says it cannot tell instead of "not suppressed".
#[test]
fn a_handle_left_without_the_key_says_it_cannot_tell() {
    let dir = tempfile::tempdir().unwrap();
    let primary = ProfileDb::open(dir.path()).unwrap();
    people(&primary);
    primary.erase(&id("user_id:ann"), None).unwrap();
    let secondary = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    assert!(secondary.is_suppressed(&id("user_id:ann")).unwrap());
    primary.move_secret_out(|_| Ok(())).unwrap();
    secondary.catch_up().unwrap();
    for who in ["user_id:ann", "user_id:kim"] {
        let err = secondary.is_suppressed(&id(who)).unwrap_err();
        assert!(matches!(err, Error::SecretKey { .. }), "{who}: {err}");
        let msg = err.to_string();
        assert!(msg.contains("held outside the database") && msg.contains("cannot be told"), "{msg}");
    }
}
