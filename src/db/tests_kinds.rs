//! Identifier counts by kind in profile records (format 5): every
//! operation that moves links keeps them equal to `profile_identifiers`,
//! records of format 4 gain them on their next link change, and `check`
//! reports a record whose counts disagree.

use std::path::Path;

use crate::identity::graph::identifiers_of;
use crate::identity::identifier::Identifier;
use crate::identity::kinds::KindCounts;
use crate::identity::rules::{IdentityRules, KindLimit, OnExceed};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::profile::operator::Update;
use crate::profile::state::ProfileRecord;
use crate::schema;
use crate::ProfileDb;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid identifier")
}

fn record(db: &ProfileDb, p: ProfileId) -> Option<ProfileRecord> {
    schema::PROFILES.get(&db.core.store.latest(), &keys::profile(p)).expect("read record")
}

/// Every live record's counts, compared with a listing of its identifiers
/// (through the cache and on disk), and `check` clean. Returns the counts
/// of `p` as (kind, n) pairs.
fn assert_counts_exact(db: &ProfileDb, p: ProfileId) -> Vec<(String, usize)> {
    let view = db.core.store.latest();
    for kv in view.range(schema::PROFILES.name, &[], None).expect("scan") {
        let (k, _) = kv.expect("entry");
        let q = keys::parse_profile(&k).expect("profile key");
        let listed = KindCounts::of(&identifiers_of(&view, q).expect("list"));
        let stored = record(db, q).expect("live").kinds;
        assert_eq!(stored.as_deref(), Some(&listed), "profile {q}: stored counts vs profile_identifiers");
        let cached = crate::txn::load_profile(&db.core, &view, q).expect("load").expect("live");
        assert_eq!(cached.kinds.as_deref(), Some(&listed), "profile {q}: the cached record agrees");
    }
    let r = db.check().expect("check");
    assert!(r.is_clean(), "{r}");
    let rec = record(db, p).expect("live profile");
    rec.kinds.expect("counted").iter().map(|(k, n)| (k.to_owned(), n)).collect()
}

fn counts(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[test]
fn every_link_change_keeps_the_record_counts_exact() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = IdentityRules::default().limit("device_id", KindLimit { max: 2, on_exceed: OnExceed::EvictOldest });
    let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().expect("open");
    let ann = db.identify(&[id("email:ann@x.com")], Update::new().set("name", "Ann")).expect("create").profile;
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("email", 1)]));

    // New links, one call with several kinds.
    db.identify(&[id("email:ann@x.com"), id("device_id:d1"), id("user_id:u1")], Update::new()).expect("link");
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 1), ("email", 1), ("user_id", 1)]));

    // Eviction: a third device pushes out the oldest; the count stays at the limit.
    db.identify(&[id("email:ann@x.com"), id("device_id:d2")], Update::new()).expect("link");
    db.identify(&[id("email:ann@x.com"), id("device_id:d3")], Update::new()).expect("evict");
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 2), ("email", 1), ("user_id", 1)]));

    // A merge moves the loser's identifiers; the loser's record goes.
    let bob = db.identify(&[id("anonymous_id:a1"), id("phone:+4912345")], Update::new()).expect("bob").profile;
    db.identify(&[id("email:ann@x.com"), id("anonymous_id:a1")], Update::new()).expect("merge");
    assert!(record(&db, bob).is_none(), "the loser's record is gone");
    let merged = counts(&[("anonymous_id", 1), ("device_id", 2), ("email", 1), ("phone", 1), ("user_id", 1)]);
    assert_eq!(assert_counts_exact(&db, ann), merged);

    // Unmerge gives them back to the restored profile.
    let back = db.unmerge(ann, &id("anonymous_id:a1")).expect("unmerge");
    assert_eq!(assert_counts_exact(&db, back.restored), counts(&[("anonymous_id", 1), ("phone", 1)]));
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 2), ("email", 1), ("user_id", 1)]));

    // Removing an identifier puts it on a profile of its own; re-linking moves it back.
    let own = db.remove_identifier(ann, &id("device_id:d3")).expect("detach");
    assert_eq!(assert_counts_exact(&db, own), counts(&[("device_id", 1)]));
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 1), ("email", 1), ("user_id", 1)]));
    db.link_identifier(ann, &id("device_id:d3")).expect("relink");
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 2), ("email", 1), ("user_id", 1)]));

    // Erasure removes the profile with its links; the others are untouched.
    db.erase(&id("phone:+4912345"), None).expect("erase");
    assert!(record(&db, back.restored).is_none());
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("device_id", 2), ("email", 1), ("user_id", 1)]));
}

#[test]
fn the_limits_use_the_counts_across_one_batch() {
    // Two events of one batch each link a user_id to the same profile: the
    // second must see the first's staged link (limit 1, refuse).
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    let ann = db.identify(&[id("email:ann@x.com")], Update::new()).expect("create").profile;
    let mut txn_events = Vec::new();
    for (i, u) in ["user_id:u1", "user_id:u2"].into_iter().enumerate() {
        let mut e = crate::event::Event::new(
            crate::event::EventKind::Identify,
            "identify",
            db.core.clock.now(),
            vec![id("email:ann@x.com"), id(u)],
        );
        e.message_id = Some(format!("m{i}"));
        txn_events.push(e);
    }
    db.ingest_batch(&txn_events, false).expect("batch");
    assert_eq!(assert_counts_exact(&db, ann), counts(&[("email", 1), ("user_id", 1)]));
    assert_ne!(db.resolve(&id("user_id:u2")).expect("resolve"), Some(ann), "the second user_id was refused");
}

/// Copies the format-4 golden fixture.
fn v4_copy(to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v4");
    for entry in std::fs::read_dir(from).expect("fixture") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
    }
}

#[test]
fn a_format_4_record_gains_its_counts_on_its_next_link_change() {
    let dir = tempfile::tempdir().expect("tempdir");
    v4_copy(dir.path());
    let db = ProfileDb::open(dir.path()).expect("open v4");
    let ann = db.resolve(&id("email:ann@example.com")).expect("resolve").expect("ann");
    assert_eq!(record(&db, ann).expect("live").kinds, None, "format 4 records carry no counts");
    let before = KindCounts::of(&identifiers_of(&db.core.store.latest(), ann).expect("list"));
    assert!(before.total() >= 3, "{before:?}");
    db.identify(&[id("email:ann@example.com"), id("device_id:new-1")], Update::new()).expect("link");
    let mut expected = before;
    expected.add("device_id", 1);
    assert_eq!(record(&db, ann).expect("live").kinds.as_deref(), Some(&expected));
    let r = db.check().expect("check");
    assert!(r.is_clean(), "{r}");
}

#[test]
fn check_reports_a_record_whose_counts_disagree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    let ann = db.identify(&[id("email:ann@x.com"), id("user_id:u1")], Update::new()).expect("create").profile;
    let bob = db.identify(&[id("email:bob@x.com")], Update::new()).expect("create").profile;
    let forge = |p: ProfileId, kinds: KindCounts| {
        let rec = ProfileRecord { kinds: Some(std::sync::Arc::new(kinds)), ..record(&db, p).expect("live") };
        let mut b = db.core.store.batch();
        schema::PROFILES.put(&mut b, keys::profile(p), &rec);
        db.core.store.commit(b).expect("forge");
    };
    let violations = || -> Vec<(String, String)> {
        let r = db.check().expect("check");
        r.violations.into_iter().map(|v| (v.what, v.detail)).collect()
    };
    forge(ann, KindCounts::of(&[id("email:ann@x.com")]));
    let found = violations();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "identifier_counts_match");
    assert!(found[0].1.contains(&format!("profile {ann}")), "{found:?}");

    // Correct counts again: clean.
    forge(ann, KindCounts::of(&[id("email:ann@x.com"), id("user_id:u1")]));
    assert!(violations().is_empty());

    // Counts on a record whose identifiers are all gone from the listing.
    let mut b = db.core.store.batch();
    b.delete(schema::PROFILE_IDENTIFIERS.name, keys::profile_identifier(bob, &id("email:bob@x.com")));
    db.core.store.commit(b).expect("forge");
    let found = violations();
    assert!(found.iter().any(|(w, d)| w == "identifier_counts_match" && d.contains("lists none")), "{found:?}");
}
