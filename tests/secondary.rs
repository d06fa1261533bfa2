//! A secondary handle (`AccessMode::Secondary`) beside a live writer:
//! `catch_up` brings it up to the writer's commits — the stored data and
//! the state loaded from it at open (segments and their bitmaps, the live
//! set, trait indexes, declared rollups, retention floors).

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{AccessMode, Error, Identifier, ManualClock, ProfileDb, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 1_700_000_000_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("test identifiers are valid")
}

#[test]
fn catch_up_reloads_segments_indexes_rollups_and_floors() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let primary = ProfileDb::builder(dir.path()).clock(clock.clone()).rollup_bucket_retention(3 * DAY).open().unwrap();
    primary.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    primary.index_trait("plan").unwrap();
    let sec = ProfileDb::builder(dir.path()).clock(clock.clone()).access_mode(AccessMode::Secondary).open().unwrap();

    // After the secondary opened: a write, a segment, a rollup, a retention pass.
    let r = primary.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    primary.define_segment("planned", "traits.plan exists").unwrap();
    primary.declare_rollup(RollupDef::new("buys", "purchase", Aggregate::Count)).unwrap();
    primary.track(&Event::new(EventKind::Track, "purchase", Timestamp(T0 - 10 * DAY), vec![id("user_id:1")])).unwrap();
    assert!(primary.enforce_retention().unwrap().buckets_folded >= 1);

    sec.catch_up().unwrap();
    let err = primary.catch_up().unwrap_err();
    assert!(matches!(&err, Error::InvalidInput(m) if m.contains("for secondary handles")), "{err}");
    assert_eq!(sec.segment_count("pro").unwrap(), 1, "the bitmap of a segment defined before");
    assert!(sec.in_segment("pro", r.profile).unwrap());
    assert_eq!(sec.segment_count("planned").unwrap(), 1, "a segment defined since");
    let q = sec.query(r#"traits.plan = "pro""#).unwrap();
    assert_eq!(q.count(), 1, "the value bitmap and the live set: {}", q.explain());
    assert!(q.explain().contains("value bitmaps of traits.plan"), "{}", q.explain());
    assert_eq!(sec.trait_indexes().len(), 1);
    assert_eq!(sec.rollup(r.profile, "buys", Window::All).unwrap(), RollupValue::Count(1), "a rollup declared since");
    // The primary's pass folded the buckets before its floor: the secondary refuses too.
    let err = sec.rollup(r.profile, "buys", Window::days(30)).unwrap_err();
    assert!(matches!(err, Error::WindowBeforeRetention { .. }), "{err}");
    assert_eq!(sec.check_trait_indexes().unwrap(), vec![]);

    // And again: a segment dropped since is gone.
    primary.drop_segment("planned").unwrap();
    sec.catch_up().unwrap();
    assert!(matches!(sec.segment_count("planned"), Err(Error::NotFound(_))));
}
