//! The wake-up policy of segment maintenance, on a real database: a
//! pending wake-up only ever moves earlier until it comes due.

use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::keys;
use crate::profile::id::ProfileId;
use crate::schema;
use crate::segment::maintain::{advance_wakeup, file_wakeup};
use crate::txn::Txn;
use crate::ProfileDb;

const T: i64 = 1_700_000_000_000;

/// Files `due` for (segment 3, profile 7) as maintenance does, in its
/// own committed operation; returns the stored wake-up: the index's due
/// time, after checking that the queue key for it is present.
fn advance(db: &ProfileDb, due: Option<i64>, eager: bool) -> Option<i64> {
    let (seg, p) = (3, ProfileId(7));
    let mut writer = db.core.writer.lock();
    let mut txn = Txn::new(&db.core, &mut writer);
    let filed = if eager { file_wakeup(&mut txn, seg, p, due) } else { advance_wakeup(&mut txn, seg, p, due) };
    filed.expect("file");
    txn.commit().expect("commit");
    let view = db.core.store.latest();
    let stored = schema::WAKEUP_INDEX.get(&view, &keys::segment::wakeup_index(seg, p)).expect("read");
    let stored = stored.map(|d| d as i64);
    if let Some(d) = stored {
        let queued = view.get(schema::WAKEUP_INDEX.name, &keys::segment::wakeup(d, seg, p)).expect("read");
        assert!(queued.is_some(), "the queue holds the indexed wake-up");
    }
    assert_eq!(db.core.wakeups.due(&view, seg, p).expect("cache"), stored, "the cache agrees");
    stored
}

#[test]
fn a_pending_wakeup_moves_only_earlier_until_it_is_due() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
    assert_eq!(advance(&db, Some(T + 10), false), Some(T + 10), "nothing pending: filed");
    assert_eq!(advance(&db, Some(T + 20), false), Some(T + 10), "a later instant keeps the earlier one");
    assert_eq!(advance(&db, None, false), Some(T + 10), "no further change keeps it too");
    assert_eq!(advance(&db, Some(T + 5), false), Some(T + 5), "an earlier instant replaces it");
    clock.set(Timestamp(T + 5));
    assert_eq!(advance(&db, Some(T + 20), false), Some(T + 20), "a due wake-up is replaced by the next");
    assert_eq!(advance(&db, None, true), None, "an explicit clear removes a pending one");
    let view = db.core.store.latest();
    assert_eq!(view.prefix(schema::WAKEUP_INDEX.name, &[0x01]).expect("scan").count(), 0, "no queue key left");
}

#[test]
fn the_due_wakeups_of_a_profile_come_from_the_cache_or_storage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("open");
    let p = ProfileId(7);
    {
        let mut writer = db.core.writer.lock();
        let mut txn = Txn::new(&db.core, &mut writer);
        file_wakeup(&mut txn, 3, p, Some(T + 10)).expect("file");
        file_wakeup(&mut txn, 5, p, Some(T + 30)).expect("file");
        txn.commit().expect("commit");
    }
    let view = db.core.store.latest();
    let due = |now: i64| {
        let mut d = db.core.wakeups.due_by(&view, p, &[3, 4, 5, 9], now).expect("due").into_vec();
        d.sort_unstable();
        d
    };
    assert_eq!(due(T + 9), vec![], "none due yet");
    assert_eq!(due(T + 30), vec![(T + 10, 3), (T + 30, 5)], "from the cache (and absence loaded once)");
    assert_eq!(db.core.wakeups.cached(4, p), Some(None), "an absent wake-up is cached as such");
    db.core.wakeups.clear();
    assert_eq!(due(T + 10), vec![(T + 10, 3)], "from storage after the cache was cleared");
    assert_eq!(db.core.wakeups.cached(5, p), Some(Some(T + 30)), "and cached again");
}

#[test]
fn due_wakeups_counts_what_no_tick_has_processed_yet() {
    use crate::event::{Event, EventKind};
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
    db.define_segment("recent", "last(buy) > now - 1d").expect("define");
    for i in 0..3 {
        let who = format!("user_id:u{i}").parse().expect("identifier");
        db.track(&Event::new(EventKind::Track, "buy", Timestamp(T - i * 1_000), vec![who])).expect("track");
    }
    assert_eq!(db.segment_count("recent").expect("count"), 3);
    assert_eq!(db.due_wakeups(100).expect("due"), None, "nothing is due yet");
    clock.set(Timestamp(T + 2 * Timestamp::DAY));
    let due = db.due_wakeups(100).expect("due").expect("three are due");
    assert_eq!(due.count, 3);
    assert!((T - 2_000 + Timestamp::DAY..=T + Timestamp::DAY + 1).contains(&due.oldest.0), "{due:?}");
    assert_eq!(db.due_wakeups(2).expect("due").map(|d| d.count), Some(2), "counting stops at the cap");
    assert_eq!(db.segment_count("recent").expect("count"), 3, "the stored membership is behind");
    db.tick().expect("tick");
    assert_eq!(db.due_wakeups(100).expect("due"), None, "the tick processed them");
    assert_eq!(db.segment_count("recent").expect("count"), 0);
}
