//! `retain_history` and the own logs of merged-away ids (longevity review,
//! finding 4): a visitor merged two years ago leaves no delta, snapshot or
//! old value behind once retention folded its merge; one merged within the
//! horizon keeps its log, and its reads before the merge still answer.

use std::sync::Arc;

use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
/// 2024-12-01T00:00:00Z.
const T0: i64 = 1_733_011_200_000;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn own_keys(db: &ProfileDb, cf: &str, of: ProfileId) -> usize {
    db.dump_cf(cf).unwrap().into_iter().filter(|e| e.key.get(..4) == Some(&of.0.to_be_bytes()[..])).count()
}

fn stored(db: &ProfileDb, needle: &str) -> bool {
    db.raw_dump().unwrap().iter().any(|e| e.value.windows(needle.len()).any(|w| w == needle.as_bytes()))
}

/// A visitor with two campaign values who logs in at `T0 + 1 day`.
fn visitor_who_logs_in(db: &ProfileDb, clock: &ManualClock, n: usize) -> ProfileId {
    let anon = id(&format!("anonymous_id:visitor-{n}"));
    db.update(&anon, Update::new().set("utm_campaign", format!("old-campaign-value-{n}"))).unwrap();
    db.update(&anon, Update::new().set("utm_campaign", format!("newer-campaign-value-{n}"))).unwrap();
    let loser = db.resolve(&anon).unwrap().unwrap();
    clock.advance(DAY);
    db.identify(&[anon, id("user_id:v1")], Update::new()).unwrap();
    assert_ne!(db.resolve_id(loser).unwrap(), Some(loser), "merged away");
    loser
}

#[test]
fn retention_deletes_the_log_of_an_id_whose_merge_it_folded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(1).open().unwrap();
    // The user's profile first: the lowest id survives the merges.
    db.identify(&[id("user_id:v1")], Update::new().set("plan", "free")).unwrap();
    let old = visitor_who_logs_in(&db, &clock, 1);
    clock.advance(2 * 365 * DAY);
    let recent = visitor_who_logs_in(&db, &clock, 2);
    let recent_before_merge = db.get_as_of_time(recent, Timestamp(clock.now().0 - DAY)).unwrap().unwrap();
    db.update(&id("user_id:v1"), Update::new().set("plan", "pro")).unwrap();
    let (deltas, snapshots) = (own_keys(&db, "delta", old), own_keys(&db, "snapshot", old));
    assert_eq!((deltas, snapshots), (2, 2), "before: the merged-away id's own log");

    let report = db.retain_history(Timestamp(clock.now().0 - 180 * DAY)).unwrap();
    db.compact().unwrap();

    assert_eq!(report.merged_logs_dropped, 1, "{report:?}");
    assert_eq!(own_keys(&db, "delta", old), 0, "deltas of the id merged two years ago");
    assert_eq!(own_keys(&db, "snapshot", old), 0, "snapshots of the id merged two years ago");
    assert!(!stored(&db, "old-campaign-value-1"), "an overwritten value from before the horizon is still stored");
    let before = db.get_as_of_time(old, Timestamp(T0 + 1));
    assert!(matches!(before, Err(Error::HistoryTruncated { .. })), "{before:?}");
    // The id merged within the horizon: its log and its past as before.
    assert_eq!(own_keys(&db, "delta", recent), 2);
    let again = db.get_as_of_time(recent, Timestamp(clock.now().0 - DAY)).unwrap().unwrap();
    assert_eq!(again, recent_before_merge);
    assert_eq!(again.traits.get("utm_campaign"), Some(&"newer-campaign-value-2".into()));
    // The aliases still resolve; the database is consistent.
    assert_eq!(db.resolve_id(old).unwrap(), db.resolve(&id("user_id:v1")).unwrap());
    let check = db.check().unwrap();
    assert!(check.is_clean(), "{check}");
    // A second pass has nothing more to drop.
    assert_eq!(db.retain_history(Timestamp(clock.now().0 - 180 * DAY)).unwrap().merged_logs_dropped, 0);
}

/// An id whose merge is folded but whose log records a merge of another
/// id keeps its log as it is (the other id's reads before its merge need
/// that merge); the other id's log, whose merge is still recorded, is
/// folded like a live profile's.
#[test]
fn retention_keeps_a_merged_away_log_that_records_another_merge() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    db.update(&id("user_id:a"), Update::new().set("n", 1i64)).unwrap();
    db.update(&id("device_id:b"), Update::new().set("n", 2i64)).unwrap();
    db.update(&id("anonymous_id:c"), Update::new().set("n", 3i64)).unwrap();
    let b = db.resolve(&id("device_id:b")).unwrap().unwrap();
    let c = db.resolve(&id("anonymous_id:c")).unwrap().unwrap();
    clock.advance(DAY);
    // c merges into b, then b into a: b's log records c's merge.
    db.identify(&[id("device_id:b"), id("anonymous_id:c")], Update::new()).unwrap();
    clock.advance(DAY);
    db.identify(&[id("user_id:a"), id("device_id:b")], Update::new()).unwrap();
    assert_eq!(db.resolve_id(c).unwrap(), db.resolve(&id("user_id:a")).unwrap());
    clock.advance(400 * DAY);
    let b_log = own_keys(&db, "delta", b);
    let c_before = db.get_as_of_time(c, Timestamp(T0 + 1)).unwrap().unwrap();
    let report = db.retain_history(Timestamp(clock.now().0 - 180 * DAY)).unwrap();
    assert_eq!((report.merged_logs_folded, report.merged_logs_dropped), (1, 0), "{report:?}");
    assert_eq!(own_keys(&db, "delta", b), b_log, "b's log as it was");
    assert_eq!((own_keys(&db, "delta", c), own_keys(&db, "snapshot", c)), (0, 1), "c's log folded");
    // Its state at the floor (its last before the merge) is still read.
    assert_eq!(db.get_as_of_time(c, Timestamp(T0 + 1)).unwrap().unwrap(), c_before);
    let check = db.check().unwrap();
    assert!(check.is_clean(), "{check}");
}

/// A visitor active before the horizon who logged in after it: its log
/// is kept until a horizon reaches its merge (folding it earlier would
/// count its merge as one whose folded log may hold another id's missing
/// merge, and reads of such ids between the horizon and the merge would
/// be refused). Then it is folded like a live profile's — a read before
/// the horizon is `HistoryTruncated`, reads after it answer as before, the
/// value it overwrote before the horizon is gone — and an unmerge still
/// restores it, from the folded log.
#[test]
fn retention_folds_the_log_of_an_id_once_the_horizon_reaches_its_merge() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(1).open().unwrap();
    db.identify(&[id("user_id:v1")], Update::new().set("plan", "free")).unwrap();
    let anon = id("anonymous_id:visitor");
    db.update(&anon, Update::new().set("utm_campaign", "first-campaign-value")).unwrap();
    clock.advance(DAY);
    db.update(&anon, Update::new().set("utm_campaign", "second-campaign-value")).unwrap();
    let visitor = db.resolve(&anon).unwrap().unwrap();
    clock.advance(200 * DAY);
    db.update(&anon, Update::new().set("utm_campaign", "third-campaign-value")).unwrap();
    clock.advance(DAY);
    db.identify(&[anon.clone(), id("user_id:v1")], Update::new()).unwrap();
    let merged_at = clock.now().0;
    clock.advance(100 * DAY);

    // A horizon before the merge: the visitor's log is kept as it is.
    let report = db.retain_history(Timestamp(clock.now().0 - 180 * DAY)).unwrap();
    assert_eq!((report.merged_logs_folded, report.merged_logs_dropped), (0, 0), "{report:?}");
    assert!(db.get_as_of_time(visitor, Timestamp(T0 + 1)).unwrap().is_some(), "its whole log is kept");

    let horizon = Timestamp(merged_at);
    let times = [merged_at, merged_at + 1, clock.now().0 - 1];
    let before: Vec<_> = times.iter().map(|t| db.get_as_of_time(visitor, Timestamp(*t)).unwrap()).collect();
    let report = db.retain_history(horizon).unwrap();
    db.compact().unwrap();

    assert_eq!((report.merged_logs_folded, report.merged_logs_dropped), (1, 0), "{report:?}");
    let after: Vec<_> = times.iter().map(|t| db.get_as_of_time(visitor, Timestamp(*t)).unwrap()).collect();
    assert_eq!(after, before, "reads from the horizon on");
    let old = db.get_as_of_time(visitor, Timestamp(T0 + 1));
    assert!(matches!(old, Err(Error::HistoryTruncated { .. })), "{old:?}");
    assert!(!stored(&db, "first-campaign-value"), "a value overwritten before the horizon is still stored");
    assert_eq!(own_keys(&db, "delta", visitor), 0, "every delta was before the horizon");
    let check = db.check().unwrap();
    assert!(check.is_clean(), "{check}");

    // An unmerge restores it from its folded log.
    let survivor = db.resolve(&id("user_id:v1")).unwrap().unwrap();
    assert_eq!(db.unmerge(survivor, &anon).unwrap().restored, visitor);
    let restored = db.get(&anon).unwrap().unwrap();
    assert_eq!(restored.traits.get("utm_campaign"), Some(&"third-campaign-value".into()));
    let check = db.check().unwrap();
    assert!(check.is_clean(), "{check}");
}
