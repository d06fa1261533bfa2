//! The filter of known identifiers never hides a linked identifier: not
//! after a reopen (the background scan adds what was linked before), not
//! while the scan runs (lookups read RocksDB until it is done), not for
//! identifiers linked meanwhile (the writer adds them before committing);
//! and `check` reports a linked identifier missing from it.

use std::time::{Duration, Instant};

use crate::db::check::inv;
use crate::identity::identifier::Identifier;
use crate::identity::link::IdentityLink;
use crate::profile::id::ProfileId;
use crate::{keys, schema, ProfileDb, Timestamp, Update};

fn user(i: u32) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).expect("a valid test identifier")
}

fn device(i: u32) -> Identifier {
    Identifier::new("device_id", &format!("d{i}")).expect("a valid test identifier")
}

/// A database with `n` profiles, each with a user id and a device id.
fn populated(dir: &std::path::Path, n: u32) {
    let db = ProfileDb::open(dir).expect("open");
    for i in 0..n {
        db.identify(&[user(i), device(i)], Update::new().set("n", i64::from(i))).expect("identify");
    }
}

fn wait_ready(db: &ProfileDb) {
    let start = Instant::now();
    while !db.core.known.is_ready() {
        assert!(start.elapsed() < Duration::from_secs(60), "the scan of known identifiers never finished");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn identifiers_linked_before_the_open_are_found_during_and_after_the_scan() {
    let dir = tempfile::tempdir().expect("tempdir");
    let n = 30_000;
    populated(dir.path(), n);
    let db = ProfileDb::open(dir.path()).expect("reopen");
    std::thread::scope(|s| {
        // Readers start at once, racing the scan: every identifier is found.
        for kind in [user, device] {
            let db = &db;
            s.spawn(move || {
                for i in 0..n {
                    assert_eq!(db.resolve(&kind(i)).expect("resolve"), Some(ProfileId(i)), "{}", kind(i));
                }
            });
        }
        // The writer links new identifiers meanwhile: each is found as soon
        // as its identify returns.
        for i in 0..2_000 {
            let fresh = Identifier::new("anonymous_id", &format!("a{i}")).expect("valid");
            let p = db.identify(&[user(i), fresh.clone()], Update::new()).expect("identify").profile;
            assert_eq!(db.resolve(&fresh).expect("resolve"), Some(p));
        }
    });
    wait_ready(&db);
    for i in (0..n).step_by(97) {
        assert_eq!(db.resolve(&device(i)).expect("resolve"), Some(ProfileId(i)));
    }
    for i in n..n + 1_000 {
        assert_eq!(db.resolve(&user(i)).expect("resolve"), None, "never linked");
    }
    // Linked after the scan: found; and the filter said so.
    let late = Identifier::new("email", "late@example.com").expect("valid");
    db.identify(&[user(7), late.clone()], Update::new()).expect("identify");
    assert_eq!(db.resolve(&late).expect("resolve"), Some(ProfileId(7)));
    assert!(db.core.known.has(&keys::identifier(&late)));
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report}");
}

#[test]
fn dropping_the_database_mid_scan_stops_the_scan_and_a_reopen_works() {
    let dir = tempfile::tempdir().expect("tempdir");
    populated(dir.path(), 20_000);
    for _ in 0..5 {
        // Dropped while the scan may still run: the drop joins it, so the
        // next open finds the database closed (no lock held).
        drop(ProfileDb::open(dir.path()).expect("reopen"));
    }
    let db = ProfileDb::open(dir.path()).expect("reopen");
    wait_ready(&db);
    assert_eq!(db.resolve(&user(19_999)).expect("resolve"), Some(ProfileId(19_999)));
}

#[test]
fn check_reports_a_linked_identifier_the_filter_lacks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    let p = db.identify(&[user(1)], Update::new()).expect("identify").profile;
    wait_ready(&db);
    // A link written behind the writer's back (as a damaged or foreign
    // write would be): the filter never saw it.
    let forged = device(9);
    let link = IdentityLink {
        profile: p,
        origin: p,
        linked_at: Timestamp(0),
        cause: crate::profile::delta::Cause::Api,
        detached: false,
    };
    let mut b = db.core.store.batch();
    schema::IDENTITY.put(&mut b, keys::identifier(&forged), &link);
    schema::PROFILE_IDENTIFIERS.put(&mut b, keys::profile_identifier(p, &forged), &crate::codec::Marker);
    db.core.store.commit(b).expect("forge");
    let report = db.check().expect("check");
    let known: Vec<_> = report.violations.iter().filter(|v| v.what == inv::KNOWN_FILTER).collect();
    assert_eq!(known.len(), 1, "{report}");
    assert!(known[0].detail.contains("device_id:d9"), "{}", known[0].detail);
}
