//! The format 14 → 15 upgrade (`format_nfc`): databases holding identifier
//! values a format 14 build stored (NFD, zero-width characters) are
//! re-keyed, or refused when two profiles hold spellings of one identifier.

use std::path::Path;

use crate::error::Error;
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::{AccessMode, ProfileDb, Update};

fn ident(s: &str) -> Identifier {
    s.parse().expect("a valid test identifier")
}

const NFC: &str = "jos\u{e9}@example.com";
const NFD: &str = "jose\u{301}@example.com";
const ZERO_WIDTH: &str = "jos\u{e9}\u{200b}@example.com";

/// What a format 14 build would have stored: the identifier `from` (linked
/// through the API) re-keyed in `identity` and `profile_identifiers` under
/// the raw value `raw`, which format 14 did not normalize further.
fn respell(db: &ProfileDb, from: &Identifier, raw: &str) {
    let store = &db.core.store;
    let view = store.latest();
    let link = schema::IDENTITY.get(&view, &keys::identifier(from)).expect("read").expect("linked");
    let legacy = Identifier::from_stored(from.kind().to_owned(), raw.to_owned());
    let mut b = store.batch();
    b.delete(keys::cf::IDENTITY, keys::identifier(from));
    b.delete(keys::cf::PROFILE_IDENTIFIERS, keys::profile_identifier(link.profile, from));
    schema::IDENTITY.put(&mut b, keys::identifier(&legacy), &link);
    schema::PROFILE_IDENTIFIERS.put(&mut b, keys::profile_identifier(link.profile, &legacy), &crate::codec::Marker);
    store.commit(b).expect("commit");
}

fn set_format(db: &ProfileDb, v: u32) {
    let mut b = db.core.store.batch();
    schema::META_U32.put(&mut b, keys::meta::FORMAT_VERSION, &v);
    db.core.store.commit(b).expect("commit");
}

fn identity_keys(dir: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let db = ProfileDb::builder(dir).access_mode(AccessMode::ReadOnly).open().expect("read-only open");
    let mut all = Vec::new();
    for cf in [keys::cf::IDENTITY, keys::cf::PROFILE_IDENTIFIERS, keys::cf::PROFILE, keys::cf::META] {
        for e in db.dump_cf(cf).expect("dump") {
            all.push((e.key, e.value));
        }
    }
    all
}

#[test]
fn the_upgrade_rekeys_legacy_spellings_and_drops_duplicates_of_one_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = {
        let db = ProfileDb::open(dir.path()).expect("open");
        let a = db
            .identify(&[ident("email:x1@example.com"), ident("email:x2@example.com")], Update::new().set("n", 1))
            .expect("identify")
            .profile;
        let b = db.update(&ident("user_id:u1"), Update::new().set("n", 2)).expect("update").profile;
        // Two legacy spellings of one email on one profile, a legacy user id
        // on another.
        respell(&db, &ident("email:x1@example.com"), NFD);
        respell(&db, &ident("email:x2@example.com"), ZERO_WIDTH);
        respell(&db, &ident("user_id:u1"), "u\u{200b}1");
        set_format(&db, 14);
        (a, b)
    };
    // Format 14 as it was: a read-only open upgrades nothing, and finds the
    // NFC spelling nowhere.
    let before = identity_keys(dir.path());
    {
        let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().expect("read-only");
        assert_eq!(ro.stored_format_version().expect("version"), 14);
        assert_eq!(ro.resolve(&ident(&format!("email:{NFC}"))).expect("resolve"), None);
    }
    assert_eq!(identity_keys(dir.path()), before, "a read-only open wrote nothing");

    let db = ProfileDb::open(dir.path()).expect("upgrading open");
    assert_eq!(db.stored_format_version().expect("version"), super::format::FORMAT_VERSION);
    for spelling in [NFC, NFD, ZERO_WIDTH] {
        assert_eq!(db.resolve(&ident(&format!("email:{spelling}"))).expect("resolve"), Some(a), "{spelling:?}");
    }
    assert_eq!(db.resolve(&ident("user_id:u1")).expect("resolve"), Some(b));
    assert_eq!(db.identifiers(a).expect("identifiers"), vec![ident(&format!("email:{NFC}"))]);
    assert_eq!(db.identifiers(b).expect("identifiers"), vec![ident("user_id:u1")]);
    let rec = schema::PROFILES.get(&db.core.store.latest(), &keys::profile(a)).expect("read").expect("record");
    assert_eq!(rec.kinds.as_deref().map(|k| k.get("email")), Some(1), "the dropped spelling is not counted");
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.identifiers, 2);
    // A write through the NFD spelling reaches the same profile.
    let again = db.update(&ident(&format!("email:{NFD}")), Update::new().set("n", 3)).expect("update").profile;
    assert_eq!(again, a);
    drop(db);

    // Idempotent: the next open finds format 15 and changes nothing.
    let after = identity_keys(dir.path());
    let db = ProfileDb::open(dir.path()).expect("reopen");
    drop(db);
    assert_eq!(identity_keys(dir.path()), after);
    assert!(ProfileDb::open(dir.path()).expect("reopen").check().expect("check").is_clean());
}

#[test]
fn the_upgrade_is_refused_writing_nothing_when_two_profiles_hold_one_identifier() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = {
        let db = ProfileDb::open(dir.path()).expect("open");
        let a = db.update(&ident("email:x1@example.com"), Update::new().set("n", 1)).expect("update").profile;
        let b = db.update(&ident(&format!("email:{NFC}")), Update::new().set("n", 2)).expect("update").profile;
        respell(&db, &ident("email:x1@example.com"), NFD);
        set_format(&db, 14);
        (a, b)
    };
    assert_ne!(a, b);
    let before = identity_keys(dir.path());
    for _ in 0..2 {
        let err = ProfileDb::open(dir.path()).expect_err("two people, one identifier");
        assert!(matches!(err, Error::UpgradeRefused { from: 14, to: 15, .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains(&format!("profile {}", a.0)) && msg.contains(&format!("profile {}", b.0)), "{msg}");
        assert!(msg.contains("email:jos\\u{e9}@example.com") && msg.contains("jose\\u{301}"), "{msg}");
        assert!(msg.contains("merge") && msg.contains("nothing was written"), "{msg}");
        assert_eq!(identity_keys(dir.path()), before, "the refused upgrade wrote nothing");
    }
    // Still a readable format 14 database: read-only opens answer as before.
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().expect("read-only");
    assert_eq!(ro.stored_format_version().expect("version"), 14);
    assert_eq!(ro.resolve(&ident(&format!("email:{NFC}"))).expect("resolve"), Some(b));
    assert_eq!(ro.get_by_id(a).expect("get").map(|p| p.id), Some(ProfileId(a.0)));
}

#[test]
fn a_stored_value_that_is_no_identifier_now_refuses_the_upgrade() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = ProfileDb::open(dir.path()).expect("open");
        db.update(&ident("user_id:x"), Update::new().set("n", 1)).expect("update");
        respell(&db, &ident("user_id:x"), "\u{200b}");
        set_format(&db, 14);
    }
    let err = ProfileDb::open(dir.path()).expect_err("an empty value");
    assert!(matches!(err, Error::UpgradeRefused { .. }), "{err}");
    assert!(err.to_string().contains("user_id:\\u{200b} of profile 0"), "{err}");
}

/// A larger identity family: `n` ASCII identifiers (skipped without
/// decoding) and 1 % NFD ones on their own profiles, re-keyed. It prints
/// the upgrading open's time; for the measurement in BENCHMARKS.md:
/// `PROFILEDB_NFC_UPGRADE_N=1000000 cargo test --release --lib upgrade_of_a_larger -- --nocapture`.
#[test]
fn the_upgrade_of_a_larger_identity_family_rekeys_only_legacy_spellings() {
    let n: u32 = std::env::var("PROFILEDB_NFC_UPGRADE_N").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let db = ProfileDb::open(dir.path()).expect("open");
        let link = |p: u32| crate::identity::link::IdentityLink {
            profile: ProfileId(p),
            origin: ProfileId(p),
            linked_at: crate::Timestamp(0),
            cause: crate::profile::delta::Cause::Api,
            detached: false,
        };
        let mut b = db.core.store.batch();
        for i in 0..n {
            let raw = if i % 100 == 0 { format!("jose\u{301}{i}@example.com") } else { format!("user{i}@example.com") };
            let id = Identifier::from_stored("email".into(), raw);
            schema::IDENTITY.put(&mut b, keys::identifier(&id), &link(i));
            schema::PROFILE_IDENTIFIERS.put(&mut b, keys::profile_identifier(ProfileId(i), &id), &crate::codec::Marker);
            if i % 100_000 == 99_999 {
                db.core.store.commit(std::mem::replace(&mut b, db.core.store.batch())).expect("commit");
            }
        }
        db.core.store.commit(b).expect("commit");
        set_format(&db, 14);
        db.compact().expect("compact");
    }
    let t = std::time::Instant::now();
    let db = ProfileDb::open(dir.path()).expect("upgrading open");
    let upgraded = t.elapsed();
    drop(db);
    let t = std::time::Instant::now();
    let db = ProfileDb::open(dir.path()).expect("open");
    let plain = t.elapsed();
    for i in [0, 100, n - n % 100 - 100] {
        let nfc = format!("email:jos\u{e9}{i}@example.com");
        assert_eq!(db.resolve(&ident(&nfc)).expect("resolve"), Some(ProfileId(i)), "{nfc}");
    }
    for i in [1, 99, n - 1] {
        assert_eq!(db.resolve(&ident(&format!("email:user{i}@example.com"))).expect("resolve"), Some(ProfileId(i)));
    }
    println!("{n} identifiers, {} re-keyed: upgrading open {upgraded:?}, next open {plain:?}", n.div_ceil(100));
}
