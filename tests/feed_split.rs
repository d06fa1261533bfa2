//! The change feed through an unmerge: the profile split off gets a
//! `Split` record (format 14), before the `Entered` records of the
//! segments it is in again, so a consumer that applied the merge learns
//! that the id is a profile of its own.

use profiledb::segment::{FeedKind, FeedRecord};
use profiledb::{ProfileDb, ProfileId, Update};

mod common;
use common::{id, open_at};

const T0: i64 = 1_700_000_000_000;

fn kinds_of(feed: &[FeedRecord], p: ProfileId) -> Vec<(FeedKind, Option<String>)> {
    feed.iter().filter(|r| r.profile == p).map(|r| (r.kind.clone(), r.segment.clone())).collect()
}

/// Ann (email) and a device merge, then the device is split off again.
fn merged_and_split(db: &ProfileDb) -> (ProfileId, ProfileId, u64) {
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let ann = db.update(&id("email:ann@example.com"), Update::new().set("plan", "free")).unwrap().profile;
    let dev = db.update(&id("device_id:d-1"), Update::new().set("plan", "pro")).unwrap().profile;
    db.identify(&[id("email:ann@example.com"), id("device_id:d-1")], Update::new()).unwrap();
    let before_split = db.feed(0, 1000).unwrap().last().map_or(0, |r| r.seq + 1);
    let r = db.unmerge(ann, &id("device_id:d-1")).unwrap();
    assert_eq!((r.restored, r.from), (dev, ann));
    (ann, dev, before_split)
}

#[test]
fn an_unmerge_writes_a_split_record_before_the_segments_the_profile_enters_again() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open_at(dir.path(), T0);
    let (ann, dev, before_split) = merged_and_split(&db);
    let feed = db.feed(0, 1000).unwrap();
    assert_eq!(
        kinds_of(&feed, dev),
        vec![
            (FeedKind::Entered, Some("pro".into())),
            (FeedKind::Exited, Some("pro".into())),
            (FeedKind::Merged { into: ann }, None),
            (FeedKind::Split { from: ann }, None),
            (FeedKind::Entered, Some("pro".into())),
        ],
        "{feed:?}"
    );
    let split = feed.iter().find(|r| matches!(r.kind, FeedKind::Split { .. })).unwrap();
    assert!(split.seq >= before_split, "written by the unmerge");
    let json = split.to_json();
    assert_eq!((json["kind"].as_str(), json["from"].as_u64()), (Some("split"), Some(u64::from(ann.0))));
    assert!(db.check().unwrap().is_clean());
}

#[test]
fn subscribers_receive_the_split_record() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open_at(dir.path(), T0);
    let rx = db.subscribe();
    let (ann, dev, _) = merged_and_split(&db);
    let got: Vec<FeedRecord> = rx.try_iter().collect();
    assert!(got.iter().any(|r| r.profile == dev && r.kind == FeedKind::Split { from: ann }), "{got:?}");
}

#[test]
fn erasing_the_split_off_person_deletes_the_split_record() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open_at(dir.path(), T0);
    let (ann, dev, _) = merged_and_split(&db);
    db.erase(&id("device_id:d-1"), None).unwrap();
    let feed = db.feed(0, 1000).unwrap();
    assert_eq!(kinds_of(&feed, dev), vec![(FeedKind::Erased, None)], "{feed:?}");
    assert!(feed.iter().all(|r| !matches!(r.kind, FeedKind::Split { .. })));
    assert!(db.get_by_id(ann).unwrap().is_some(), "ann stays");
}
