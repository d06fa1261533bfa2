//! Message ids past the dedup horizon leave the database: compaction drops
//! the `dedup` entries no duplicate check counts any more, so the family
//! holds a horizon's worth of ids instead of one per event forever. Ids
//! within the horizon stay and are still recognised.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::{IngestOutcome, ManualClock, ProfileDb, Timestamp};

mod common;
use common::id;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn open(dir: &Path, clock: &Arc<ManualClock>) -> ProfileDb {
    ProfileDb::builder(dir).clock(clock.clone()).dedup_horizon(Timestamp::DAY).open().expect("open")
}

fn event(n: u32, at: i64) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(&format!("user_id:u{}", n % 7))]);
    e.message_id = Some(format!("m{n:04}"));
    e
}

fn ingest(db: &ProfileDb, ns: std::ops::Range<u32>, at: i64) {
    let events: Vec<Event> = ns.map(|n| event(n, at)).collect();
    let report = db.ingest_batch(&events, true).expect("ingest");
    assert_eq!(report.applied as usize, events.len(), "every event applies: {report:?}");
}

/// The message ids the `dedup` family holds.
fn stored_ids(db: &ProfileDb) -> BTreeSet<String> {
    let entries = db.dump_cf("dedup").expect("dump dedup");
    entries.into_iter().map(|e| String::from_utf8(e.key).expect("a message id is UTF-8")).collect()
}

fn ids(ns: std::ops::Range<u32>) -> BTreeSet<String> {
    ns.map(|n| format!("m{n:04}")).collect()
}

#[test]
fn compaction_drops_message_ids_past_the_horizon_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock);
    ingest(&db, 0..100, T0);
    clock.advance(12 * HOUR);
    ingest(&db, 100..200, T0);
    clock.advance(13 * HOUR);
    // The commit that moves the cutoff: ids 0..100 are 25 hours old now.
    ingest(&db, 200..201, T0);
    db.compact().expect("compact");
    assert_eq!(stored_ids(&db), ids(100..201), "only the ids within the day's horizon stay");
    // Within the horizon a resent event is still a duplicate, and changes nothing.
    assert!(matches!(db.track(&event(150, T0)).expect("track"), IngestOutcome::Duplicate { .. }));
    // Past it the id counts as new, as it did before its entry was dropped.
    assert!(matches!(db.track(&event(50, T0)).expect("track"), IngestOutcome::Applied(_)));
    assert!(db.check().expect("check").is_clean(), "check after the expiry");
}

#[test]
fn a_reopen_after_the_horizon_passed_drops_them_without_a_write() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    ingest(&open(dir.path(), &clock), 0..50, T0);
    clock.advance(Timestamp::DAY + 1);
    let db = open(dir.path(), &clock);
    assert_eq!(stored_ids(&db), ids(0..50), "nothing is dropped before a compaction");
    db.compact().expect("compact");
    assert!(stored_ids(&db).is_empty(), "every id is past the horizon at the open");
}

#[test]
fn a_clock_stepping_back_drops_nothing_the_checks_still_count() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = open(dir.path(), &clock);
    ingest(&db, 0..30, T0);
    clock.advance(2 * Timestamp::DAY);
    ingest(&db, 30..31, T0);
    // Back to where the first ids are within the horizon again.
    clock.set(Timestamp(T0 + HOUR));
    ingest(&db, 31..32, T0);
    db.compact().expect("compact");
    assert_eq!(stored_ids(&db), ids(0..32), "the cutoff follows the clock back");
    assert!(matches!(db.track(&event(5, T0)).expect("track"), IngestOutcome::Duplicate { .. }));
}
