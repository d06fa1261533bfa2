//! History reads of merged-away ids: as-of reads after retention folded
//! the merge away, and segment membership history through merges.

use std::sync::Arc;

use profiledb::{Error, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

mod common;
use common::{id, merge_chain, open_at, MergeChain};

const T0: i64 = 1_700_000_000_000;

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    open_at(dir, T0)
}

fn is_truncated<T>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::HistoryTruncated { .. }))
}

/// Retention folded the survivor's log, merge delta included: the
/// merged-away id still reads the survivor from its history floor on, and
/// a clear error before it.
#[test]
fn as_of_time_of_a_merged_away_id_after_retention_folded_its_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let zero = db.update(&id("anonymous_id:a"), Update::new().set("x", 1)).unwrap().profile;
    clock.advance(10);
    let one = db.update(&id("device_id:d"), Update::new().set("y", 2)).unwrap().profile;
    assert_eq!((zero, one), (ProfileId(0), ProfileId(1)));
    clock.advance(10);
    let before_merge = clock.now();
    clock.advance(10);
    db.identify(&[id("anonymous_id:a"), id("device_id:d")], Update::new()).unwrap();
    clock.advance(1_000);
    let now = clock.now();
    assert_eq!(db.retain_history(now).unwrap().profiles_folded, 1);
    assert_eq!(db.get_by_id(one).unwrap().unwrap().id, zero);

    let p = db.get_as_of_time(one, now).unwrap().expect("merged into 0 by now");
    assert_eq!(p.id, zero);
    assert_eq!((p.traits.get("x"), p.traits.get("y")), (Some(&TraitValue::Int(1)), Some(&TraitValue::Int(2))));
    let r = db.get_as_of_time(one, before_merge);
    assert!(is_truncated(&r), "before the survivor's floor: {r:?}");
    // The survivor reads the same.
    assert_eq!(db.get_as_of_time(zero, now).unwrap().map(|p| p.id), Some(zero));
    assert!(is_truncated(&db.get_as_of_time(zero, before_merge)));
}

/// A chain 2 → 1 → 0 where only 0's log was folded: 2's own past and its
/// merge into 1 are still recorded; from 1 on the survivor answers.
#[test]
fn as_of_time_through_a_chain_whose_last_merge_was_folded() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let MergeChain { ids: [zero, one, two], before_merges, between, after: horizon } = merge_chain(&db, &clock);
    clock.advance(1_000);
    let now = clock.now();
    db.retain_history(horizon).unwrap();
    assert_eq!(db.resolve_id(two).unwrap(), Some(zero));

    let p = db.get_as_of_time(two, now).unwrap().expect("merged into 0 by now");
    assert_eq!((p.id, p.traits.len()), (zero, 3));
    assert_eq!(db.get_as_of_time(one, now).unwrap().map(|p| p.id), Some(zero));
    let own = db.get_as_of_time(two, before_merges).unwrap().expect("its own profile then");
    assert_eq!((own.id, own.traits.get("size")), (two, Some(&TraitValue::Int(42))));
    // Merged into 1 then, whose record went with the folded merge.
    let r = db.get_as_of_time(two, between);
    assert!(matches!(r, Err(Error::HistoryTruncated { profile: 0, .. })), "{r:?}");
}

/// 2 merges into 1, retention folds 1's log (and with it that merge), then
/// 1 merges into 0: 2 reads 0 from 1's merge on; before it, when 2 was in
/// 1 or on its own (which the folded log no longer tells), a clear error.
#[test]
fn as_of_time_when_the_intermediate_profile_of_a_chain_was_folded() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let zero = db.update(&id("user_id:a"), Update::new().set("plan", "gold")).unwrap().profile;
    clock.advance(10);
    db.update(&id("anonymous_id:b"), Update::new().set("color", "red")).unwrap();
    clock.advance(10);
    let two = db.update(&id("device_id:c"), Update::new().set("size", 42)).unwrap().profile;
    clock.advance(10);
    db.identify(&[id("anonymous_id:b"), id("device_id:c")], Update::new()).unwrap();
    clock.advance(10);
    let folded = clock.now();
    db.retain_history(folded).unwrap();
    clock.advance(10);
    let before_last_merge = clock.now();
    clock.advance(10);
    db.identify(&[id("user_id:a"), id("anonymous_id:b")], Update::new()).unwrap();
    clock.advance(10);
    let now = clock.now();

    let p = db.get_as_of_time(two, now).unwrap().expect("merged into 0 by now");
    assert_eq!((p.id, p.traits.len()), (zero, 3));
    for t in [before_last_merge, folded, Timestamp(T0)] {
        let r = db.get_as_of_time(two, t);
        assert!(is_truncated(&r), "at {t:?}: {r:?}");
    }
}

/// Profile 1 enters a segment, then merges into 0 which is not in it: as
/// of before the merge, 1 was a member; after, it reads 0's membership —
/// also through an unmerge splitting it off again.
#[test]
fn was_member_of_a_merged_away_id_reads_its_own_rows_until_its_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.define_segment("s", "traits.vip = true").unwrap();
    let zero = db.update(&id("anonymous_id:a"), Update::new().set("n", 0)).unwrap().profile;
    let one = db.update(&id("device_id:d"), Update::new().set("vip", true)).unwrap().profile;
    let t0 = clock.now();
    assert!(db.in_segment("s", one).unwrap() && !db.in_segment("s", zero).unwrap());
    clock.advance(10);
    // 0's later write wins the merge: the survivor is not in s.
    db.update(&id("anonymous_id:a"), Update::new().set("vip", false)).unwrap();
    clock.advance(10);
    let t1 = clock.now();
    db.identify(&[id("anonymous_id:a"), id("device_id:d")], Update::new()).unwrap();
    assert!(!db.in_segment("s", zero).unwrap());
    clock.advance(10);
    let t2 = clock.now();
    db.update(&id("anonymous_id:a"), Update::new().set("vip", true)).unwrap();
    assert!(db.in_segment("s", zero).unwrap());

    assert!(db.was_member(one, "s", Timestamp(t0.0 + 1)).unwrap(), "its own membership before the merge");
    assert!(!db.was_member(one, "s", Timestamp(t1.0 + 1)).unwrap(), "merged into 0, not a member then");
    assert!(db.was_member(one, "s", Timestamp(t2.0 + 1)).unwrap(), "merged into 0, which entered");
    assert!(!db.was_member(one, "s", Timestamp(t0.0 - 1)).unwrap(), "before it existed");

    // Split off again: its own rows from then on, 0's for the merged period.
    clock.advance(10);
    db.update(&id("anonymous_id:a"), Update::new().set("vip", false)).unwrap();
    clock.advance(10);
    let t3 = clock.now();
    assert_eq!(db.unmerge(zero, &id("device_id:d")).unwrap().restored, one);
    assert!(db.in_segment("s", one).unwrap(), "its own vip = true again");
    assert!(db.was_member(one, "s", Timestamp(t3.0 + 1)).unwrap());
    assert!(db.was_member(one, "s", Timestamp(t2.0 + 1)).unwrap(), "still 0's membership while merged");
    assert!(!db.was_member(one, "s", Timestamp(t1.0 + 1)).unwrap());
    assert!(db.was_member(one, "s", Timestamp(t0.0 + 1)).unwrap());
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}
