//! Unit tests of `check`: a clean database reports nothing; each
//! invariant, broken on purpose by writing raw entries, is reported by name.

use std::sync::Arc;

use super::{inv, CheckReport};
use crate::codec::{Marker, ValueCodec};
use crate::identity::link::IdentityLink;
use crate::keys::{self, cf};
use crate::profile::delta::{Cause, Change};
use crate::profile::state::ProfileRecord;
use crate::{Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

pub(super) fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

pub(super) fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).snapshot_every(3).open().unwrap();
    (db, clock)
}

/// Profiles 0 (a, with 2 merged in, history folded up to version 3),
/// 1 (b, merged in then split off again), 3 (e, detached from 0), and
/// 2 an alias of 0; snapshots every 3 versions.
fn populated(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let (db, clock) = open(dir);
    let mut horizon = clock.now();
    for (n, who) in ["user_id:a", "email:b@x.com", "device_id:c"].into_iter().enumerate() {
        for i in 0..4 {
            clock.advance(10);
            db.update(&id(who), Update::new().set("n", i).add_to_set("tags", [format!("t{n}")])).unwrap();
        }
        if n == 0 {
            horizon = clock.now();
        }
    }
    clock.advance(10);
    db.identify(&[id("user_id:a"), id("email:b@x.com")], Update::new().increment("logins", 1)).unwrap();
    clock.advance(10);
    db.identify(&[id("user_id:a"), id("device_id:c"), id("email:e@x.com")], Update::new()).unwrap();
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:b@x.com")).unwrap().restored, ProfileId(1));
    clock.advance(10);
    assert_eq!(db.remove_identifier(ProfileId(0), &id("email:e@x.com")).unwrap(), ProfileId(3));
    clock.advance(10);
    db.update(&id("device_id:c"), Update::new().set("late", true)).unwrap();
    assert_eq!(db.retain_history(horizon).unwrap().profiles_folded, 1);
    (db, clock)
}

pub(super) fn whats(r: &CheckReport) -> Vec<&str> {
    r.violations.iter().map(|v| v.what.as_str()).collect()
}

/// Forges a value on disk, as if written before the database was opened
/// (the in-memory rollup and wake-up caches forget what they held).
pub(super) fn put(db: &ProfileDb, cf: &'static str, key: &[u8], value: Vec<u8>) {
    let mut b = db.core.store.batch();
    b.put(cf, key, value);
    db.core.store.commit(b).unwrap();
    db.core.rollup_cache.clear();
    db.core.wakeups.clear();
}

/// Deletes a value on disk, as [`put`] forges one.
pub(super) fn delete(db: &ProfileDb, cf: &'static str, key: &[u8]) {
    let mut b = db.core.store.batch();
    b.delete(cf, key);
    db.core.store.commit(b).unwrap();
    db.core.rollup_cache.clear();
    db.core.wakeups.clear();
}

fn record(db: &ProfileDb, p: u32) -> ProfileRecord {
    crate::schema::PROFILES.get(&db.core.store.latest(), &keys::profile(ProfileId(p))).unwrap().unwrap()
}

/// Asserts the report names exactly these invariants (in any order).
pub(super) fn assert_violations(db: &ProfileDb, expected: &[&str]) {
    let r = db.check().unwrap();
    let mut got = whats(&r);
    got.sort_unstable();
    got.dedup();
    let mut want = expected.to_vec();
    want.sort_unstable();
    assert_eq!(got, want, "{r}");
}

#[test]
fn a_clean_database_reports_no_violations_and_counts_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
    assert_eq!((r.profiles, r.identifiers, r.aliases), (3, 4, 1), "{r}");
    assert!(r.deltas > 10, "{r}");
    assert!(record(&db, 0).history_floor > 0, "retention folded profile 0");
    assert!(r.to_string().ends_with("clean"));
    let empty = tempfile::tempdir().unwrap();
    let r = open(empty.path()).0.check().unwrap();
    assert_eq!(r, CheckReport::default());
}

#[test]
fn a_link_to_a_missing_or_merged_profile_is_dangling() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let ghost = id("email:ghost@x.com");
    let link = |p| IdentityLink {
        profile: ProfileId(p),
        origin: ProfileId(p),
        linked_at: Timestamp(1),
        cause: Cause::Api,
        detached: false,
    };
    put(&db, cf::IDENTITY, &keys::identifier(&ghost), link(2).encode_value());
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(2), &ghost), Marker.encode_value());
    assert_violations(&db, &[inv::IDENTITY_LIVE]);
    put(&db, cf::IDENTITY, &keys::identifier(&ghost), link(42).encode_value());
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(42), &ghost), Marker.encode_value());
    // 42 was never allocated; the entry under 2 no longer matches the link.
    assert_violations(&db, &[inv::IDENTITY_LIVE, inv::ID_ALLOCATED, inv::REVERSE_HAS_IDENTITY]);
}

#[test]
fn identity_and_profile_identifiers_must_be_inverse() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let a = id("user_id:a");
    delete(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(0), &a));
    // Profile 0's record still counts the user_id.
    assert_violations(&db, &[inv::IDENTITY_HAS_REVERSE, inv::KIND_COUNTS]);
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(0), &a), Marker.encode_value());
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(1), &a), Marker.encode_value());
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(1), &id("user_id:zz")), vec![0x12]);
    let r = db.check().unwrap();
    // (and profile 1's record does not count the two forged entries)
    assert_eq!(whats(&r), [inv::REVERSE_HAS_IDENTITY, inv::REVERSE_HAS_IDENTITY, inv::KIND_COUNTS], "{r}");
    assert!(r.violations[0].detail.contains("links to 0"), "{r}");
    assert!(r.violations[1].detail.contains("has no identity link"), "{r}");
}

#[test]
fn an_alias_must_point_one_hop_at_a_live_profile_with_its_reverse_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    // 2 is an alias of 0; make 4 (allocated below) an alias of 2: two hops.
    put(&db, cf::META, keys::meta::NEXT_PROFILE_ID, 5u32.encode_value());
    put(&db, cf::ALIAS, &keys::alias::forward(ProfileId(4)), 2u32.encode_value());
    put(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(2), ProfileId(4)), Marker.encode_value());
    let r = db.check().unwrap();
    assert_eq!(whats(&r), [inv::ALIAS_LIVE], "{r}");
    assert!(r.violations[0].detail.contains("more than one hop"), "{r}");
    delete(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(2), ProfileId(4)));
    put(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(0), ProfileId(4)), Marker.encode_value());
    assert_violations(&db, &[inv::ALIAS_LIVE, inv::ALIAS_HAS_REVERSE, inv::REVERSE_HAS_ALIAS]);
}

#[test]
fn alias_cycles_and_live_aliases_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    put(&db, cf::META, keys::meta::NEXT_PROFILE_ID, 7u32.encode_value());
    for (l, s) in [(4, 5), (5, 6), (6, 4)] {
        put(&db, cf::ALIAS, &keys::alias::forward(ProfileId(l)), s.encode_value());
        put(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(s), ProfileId(l)), Marker.encode_value());
    }
    let r = db.check().unwrap();
    let cycles: Vec<&str> =
        r.violations.iter().filter(|v| v.what == inv::NO_ALIAS_CYCLE).map(|v| v.detail.as_str()).collect();
    assert_eq!(cycles, ["aliases form a cycle: 4 → 5 → 6"], "{r}");
    assert_violations(&db, &[inv::NO_ALIAS_CYCLE, inv::ALIAS_LIVE]);
    for (l, s) in [(4, 5), (5, 6), (6, 4)] {
        delete(&db, cf::ALIAS, &keys::alias::forward(ProfileId(l)));
        delete(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(s), ProfileId(l)));
    }
    // Profile 1 is live; claim it merged into 0.
    put(&db, cf::ALIAS, &keys::alias::forward(ProfileId(1)), 0u32.encode_value());
    put(&db, cf::ALIAS, &keys::alias::reverse(ProfileId(0), ProfileId(1)), Marker.encode_value());
    assert_violations(&db, &[inv::LIVE_NOT_ALIAS]);
}

#[test]
fn ids_at_or_above_the_counter_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    put(&db, cf::META, keys::meta::NEXT_PROFILE_ID, 2u32.encode_value());
    let r = db.check().unwrap();
    assert!(whats(&r).iter().all(|w| *w == inv::ID_ALLOCATED), "{r}");
    assert!(r.violations.iter().any(|v| v.detail.contains("live profile 3")), "{r}");
    assert!(r.violations.iter().any(|v| v.detail.contains("alias 2")), "{r}");
}

#[test]
fn a_gap_in_the_delta_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let rec = record(&db, 1);
    assert!(rec.profile.version >= 3 && rec.history_floor == 0);
    delete(&db, cf::DELTA, &keys::versioned(ProfileId(1), 2));
    let r = db.check().unwrap();
    assert_eq!(whats(&r), [inv::DELTAS_CONTIGUOUS], "{r}");
    assert!(r.violations[0].detail.contains("expected delta 2, found 3"), "{r}");
    // A missing last delta.
    let rec = record(&db, 3);
    delete(&db, cf::DELTA, &keys::versioned(ProfileId(3), rec.profile.version));
    assert_violations(&db, &[inv::DELTAS_CONTIGUOUS]);
}

#[test]
fn a_current_state_that_replay_does_not_reproduce_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    for p in [0, 1] {
        let mut rec = record(&db, p);
        let mut profile = (*rec.profile).clone();
        profile.traits.insert("n", TraitValue::Int(99), profile.updated_at).unwrap();
        rec.profile = Arc::new(profile);
        put(&db, cf::PROFILE, &keys::profile(ProfileId(p)), rec.encode_value());
    }
    let r = db.check().unwrap();
    assert_eq!(whats(&r), [inv::REPLAY, inv::REPLAY], "{r}");
    assert!(r.violations[0].detail.contains("n: replayed"), "{r}");
}

#[test]
fn missing_snapshots_and_history_below_the_floor_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let rec = record(&db, 0);
    let floor = rec.history_floor;
    let key = keys::versioned(ProfileId(0), floor);
    let snap = db.core.store.latest().get(cf::SNAPSHOT, &key).unwrap().unwrap();
    // Profile 0's floor snapshot is what its replay starts from.
    delete(&db, cf::SNAPSHOT, &key);
    assert_violations(&db, &[inv::SNAPSHOT_PRESENT]);
    put(&db, cf::SNAPSHOT, &key, snap.clone());
    assert!(db.check().unwrap().is_clean());
    put(&db, cf::DELTA, &key, Vec::new());
    let mut older = crate::profile::state::Profile::decode_value(&snap).unwrap();
    older.version = floor - 1;
    put(&db, cf::SNAPSHOT, &keys::versioned(ProfileId(0), floor - 1), older.encode_value());
    assert_violations(&db, &[inv::BELOW_FLOOR]);
}

#[test]
fn a_snapshot_that_differs_from_the_replay_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let rec = record(&db, 1);
    assert!(rec.last_snapshot > 0);
    let mut snap = (*rec.profile).clone();
    snap.version = rec.last_snapshot;
    put(&db, cf::SNAPSHOT, &keys::versioned(ProfileId(1), rec.last_snapshot), snap.encode_value());
    assert_violations(&db, &[inv::SNAPSHOT_MATCHES]);
}

#[test]
fn undecodable_keys_and_values_are_violations_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let garbage = vec![0x01, 0xff, 0xff, 0xff, 0xff, 0xff];
    put(&db, cf::DELTA, &keys::versioned(ProfileId(1), 2), garbage.clone());
    put(&db, cf::DELTA, &keys::versioned(ProfileId(2), 1), garbage.clone()); // an alias's history
    put(&db, cf::IDENTITY, &keys::identifier(&id("user_id:a")), garbage.clone());
    put(&db, cf::ALIAS, &keys::alias::forward(ProfileId(2)), vec![0x10, 0]);
    put(&db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(1), &id("email:b@x.com")), vec![0]);
    put(&db, cf::PROFILE, b"bad", garbage.clone());
    put(&db, cf::PROFILE, &keys::profile(ProfileId(3)), garbage);
    let r = db.check().unwrap();
    let decodes = r.violations.iter().filter(|v| v.what == inv::DECODES).count();
    assert_eq!(decodes, 7, "{r}");
    assert!(r.violations.iter().any(|v| v.detail.contains("corrupt value in column family delta")), "{r}");
    // Undecodable entries hide what they would have proved: an alias
    // whose target cannot be read has no matching forward entry, and a
    // profile whose record cannot be read still counts as live.
    assert!(whats(&r).iter().all(|w| [inv::DECODES, inv::REVERSE_HAS_ALIAS].contains(w)), "{r}");
}

/// Regression: `unmerge` of a profile whose own log still holds the
/// merge of a profile it split off earlier re-aliases that (live)
/// profile: `subtree_of` follows `Change::Merge` entries without
/// subtracting later `Change::Unmerge { split_off }`.
#[test]
fn unmerge_does_not_alias_a_profile_split_off_before() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    for who in ["user_id:a", "email:b@x.com", "device_id:c"] {
        clock.advance(10);
        db.update(&id(who), Update::new().set("who", who)).unwrap();
    }
    db.identify(&[id("email:b@x.com"), id("device_id:c")], Update::new()).unwrap(); // 2 into 1
    assert_eq!(db.unmerge(ProfileId(1), &id("device_id:c")).unwrap().restored, ProfileId(2));
    db.identify(&[id("user_id:a"), id("email:b@x.com")], Update::new()).unwrap(); // 1 into 0
    assert!(db.check().unwrap().is_clean());
    assert_eq!(db.unmerge(ProfileId(0), &id("email:b@x.com")).unwrap().restored, ProfileId(1));
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

/// Regression: `unmerge` searches the survivor's log for the merge to undo
/// without skipping merges that were undone already, so it restores a
/// profile from a stale `Change::Merge` — splitting off the wrong
/// profile, or restoring one at an old version and overwriting its newer
/// deltas.
#[test]
fn unmerge_never_uses_a_merge_that_was_undone() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let (c, a, b) = (id("user_id:c"), id("email:a@x.com"), id("device_id:b"));
    let step = |f: &dyn Fn() -> crate::Result<()>| {
        clock.advance(10);
        f().unwrap();
        let r = db.check().unwrap();
        assert!(r.is_clean(), "{r}");
    };
    for who in [&c, &a, &b] {
        step(&|| db.update(who, Update::new().set("who", who.to_string())).map(drop));
        // 0, 1, 2
    }
    step(&|| db.identify(&[a.clone(), b.clone()], Update::new()).map(drop)); // 2 into 1
    step(&|| db.unmerge(ProfileId(1), &b).map(drop)); // 2 split off 1 again
    step(&|| db.update(&b, Update::new().set("n", 1)).map(drop));
    step(&|| db.identify(&[c.clone(), b.clone()], Update::new()).map(drop)); // 2 into 0
    step(&|| db.identify(&[c.clone(), a.clone()], Update::new()).map(drop)); // 1 into 0
    let r = db.unmerge(ProfileId(0), &b).unwrap();
    assert_eq!((r.restored, r.identifiers), (ProfileId(2), vec![b.clone()]), "b came in with 2, not with 1");
    assert_eq!(db.resolve(&a).unwrap(), Some(ProfileId(0)));
    assert!(db.check().unwrap().is_clean());
}

/// Regression: an identifier can come back to a profile without a merge
/// (`link_identifier` keeps its origin). `unmerge` then finds the old,
/// already undone merge of its origin and "restores" that live profile
/// from the stale state, rewriting its record and overwriting its newer
/// deltas.
#[test]
fn unmerge_never_restores_a_live_profile_from_an_undone_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let (a, b) = (id("user_id:a"), id("email:b@x.com"));
    db.update(&a, Update::new().set("who", "a")).unwrap(); // 0
    db.update(&b, Update::new().set("who", "b")).unwrap(); // 1
    clock.advance(10);
    db.identify(&[a.clone(), b.clone()], Update::new()).unwrap(); // 1 into 0
    clock.advance(10);
    db.unmerge(ProfileId(0), &b).unwrap(); // 1 split off again

    // A second identifier keeps 1 live when b leaves it (re-linking a
    // profile's last identifier would merge the profile along).
    db.identify(&[b.clone(), id("device_id:c")], Update::new()).unwrap();
    db.update(&b, Update::new().set("n", 1)).unwrap();
    db.update(&b, Update::new().set("n", 2)).unwrap();
    db.link_identifier(ProfileId(0), &b).unwrap(); // b back on 0, origin still 1
    assert!(db.check().unwrap().is_clean());
    let before = db.get_by_id(ProfileId(1)).unwrap().unwrap();
    // Either refused, or it must leave 1's history intact.
    let _ = db.unmerge(ProfileId(0), &b);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
    let after = db.get_by_id(ProfileId(1)).unwrap().unwrap();
    assert!(
        after.version >= before.version,
        "profile 1 went back from version {} to {}",
        before.version,
        after.version
    );
}

/// Regression: a write applies its operators at the clock's `now` but
/// records the delta at `max(now, previous delta)`, so when the clock
/// steps back the stored trait times differ from what replaying the
/// log (and every as-of read) gives.
#[test]
fn a_clock_stepping_back_does_not_split_state_from_history() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let a = id("user_id:a");
    db.update(&a, Update::new().set("plan", "free")).unwrap();
    clock.set(Timestamp(500)); // NTP step back
    let r = db.update(&a, Update::new().set("plan", "pro")).unwrap();
    db.update(&a, Update::new().set("x", 1)).unwrap();
    let then = db.get_as_of_version(r.profile, r.version).unwrap();
    let now = db.get(&a).unwrap().unwrap();
    assert_eq!(then.traits.entry("plan"), now.traits.entry("plan"), "as-of and current disagree");
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

#[test]
fn a_linked_identifier_of_an_erased_person_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = populated(dir.path());
    let gone = id("email:gone@x.com");
    db.update(&gone, Update::new()).unwrap();
    assert_erased_link_reported(&db, &gone);
}

/// Erases `gone`, links it to profile 0 again behind the write path's
/// back, and checks that `check` reports it.
fn assert_erased_link_reported(db: &ProfileDb, gone: &Identifier) {
    db.erase(gone, None).unwrap();
    assert_violations(db, &[]);
    let link = IdentityLink {
        profile: ProfileId(0),
        origin: ProfileId(0),
        linked_at: Timestamp(1),
        cause: Cause::Api,
        detached: false,
    };
    put(db, cf::IDENTITY, &keys::identifier(gone), link.encode_value());
    put(db, cf::PROFILE_IDENTIFIERS, &keys::profile_identifier(ProfileId(0), gone), Marker.encode_value());
    // Profile 0's record does not count the forged identifier.
    assert_violations(db, &[inv::NOT_SUPPRESSED, inv::KIND_COUNTS]);
}

/// With the key the application holds (no stored secret), the check
/// looks the linked identifiers up with that key.
#[test]
fn a_linked_identifier_of_an_erased_person_is_reported_under_a_held_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = crate::privacy::new_secret_key().unwrap();
    let db = ProfileDb::builder(dir.path()).secret_key(key).open().unwrap();
    let gone = id("email:gone@x.com");
    db.update(&id("user_id:kept"), Update::new()).unwrap();
    db.update(&gone, Update::new()).unwrap();
    assert_erased_link_reported(&db, &gone);
}

/// Every alias has its merge in a retained log: the survivor's, or for a
/// chain (2 into 1, then 1 into 0: compressed to the alias 2 → 0) the own
/// log of the profile it merged into. A folded log is past the horizon.
#[test]
fn an_alias_whose_merge_is_in_no_log_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    for who in ["user_id:a", "email:b@x.com", "device_id:c"] {
        clock.advance(10);
        db.update(&id(who), Update::new().set("who", who)).unwrap(); // 0, 1, 2
    }
    clock.advance(10);
    db.identify(&[id("email:b@x.com"), id("device_id:c")], Update::new()).unwrap(); // 2 into 1
    clock.advance(10);
    db.identify(&[id("user_id:a"), id("email:b@x.com")], Update::new()).unwrap(); // 1 into 0
    assert_violations(&db, &[]);
    // Make each merge name another loser (replay only reads its result).
    for (holder, loser) in [(1, 2), (0, 1)] {
        let log = crate::profile::history::deltas(&db.core.store.latest(), ProfileId(holder)).unwrap();
        let mut d =
            log.into_iter().find(|d| matches!(d.change, Change::Merge { loser: l, .. } if l.0 == loser)).unwrap();
        let Change::Merge { loser, .. } = &mut d.change else { unreachable!() };
        *loser = ProfileId(9);
        put(&db, cf::DELTA, &keys::versioned(ProfileId(holder), d.version), d.encode_value());
    }
    let r = db.check().unwrap();
    assert_eq!(whats(&r), [inv::ALIAS_MERGE_RECORDED; 2], "{r}");
    assert!(r.violations[0].detail.starts_with("alias 1 → 0: no Change::Merge of 1"), "{r}");
    assert!(r.violations[1].detail.starts_with("alias 2 → 0: no Change::Merge of 2"), "{r}");
    // Once retention folds the survivor's log, its merges are past the horizon.
    clock.advance(10);
    assert_eq!(db.retain_history(clock.now()).unwrap().profiles_folded, 1);
    assert_violations(&db, &[]);
}
