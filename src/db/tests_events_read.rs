//! What a page of a long timeline reads: the newest and oldest pages read
//! about what they return, not the range (timed by `benches/timeline.rs`).

use std::sync::Arc;

use super::events_read::{EventOrder, EventsPage, Timeline};
use crate::clock::{ManualClock, Timestamp};
use crate::event::{Event, EventKind};
use crate::{Identifier, ProfileDb, ProfileId};

const T: i64 = 1_700_000_000_000;

/// A database with one profile of `n` events spread evenly over `days`
/// days before `T` (a few share a millisecond).
fn long_timeline(dir: &std::path::Path, n: i64, days: i64) -> (ProfileDb, ProfileId) {
    let db = ProfileDb::builder(dir).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("open");
    let who = Identifier::new("user_id", "bot").expect("identifier");
    let step = days * Timestamp::DAY / n;
    let events: Vec<Event> = (0..n)
        .map(|i| Event::new(EventKind::Track, "hit", Timestamp(T - 1 - (n - i) * step + i % 3), vec![who.clone()]))
        .collect();
    for chunk in events.chunks(10_000) {
        db.ingest_batch(chunk, false).expect("ingest");
    }
    let p = db.resolve(&who).expect("resolve").expect("profile");
    (db, p)
}

/// Entries a page reads, and the page's length.
fn reads(db: &ProfileDb, p: ProfileId, order: EventOrder, limit: usize) -> (u64, usize) {
    let (view, _, live) = db.resolved_snapshot(p).expect("snapshot");
    let mut timeline = Timeline::new(&view, live);
    let (lo, hi) = (0, u128::MAX);
    let (got, more) = match order {
        EventOrder::OldestFirst => timeline.oldest(lo, hi, limit),
        EventOrder::NewestFirst => timeline.newest(lo, hi, limit),
    }
    .expect("page");
    assert!(more);
    (timeline.read, got.len())
}

#[test]
fn a_page_of_a_long_timeline_reads_about_what_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, p) = long_timeline(dir.path(), 20_000, 300);
    let (read, len) = reads(&db, p, EventOrder::OldestFirst, 100);
    assert_eq!((read, len), (101, 100));
    for limit in [1, 100, 1_000] {
        let (read, len) = reads(&db, p, EventOrder::NewestFirst, limit);
        assert_eq!(len, limit);
        // Bounded by probes of at most 2 * limit + 17 entries each, not by the 20,000.
        assert!(read <= 12 * (limit as u64 + 17), "newest {limit}: read {read} entries");
    }
    // The public call agrees with the whole read's tail.
    let all = db.events(p, Timestamp(i64::MIN), Timestamp(i64::MAX)).expect("events");
    let (page, next) = db.events_page(p, EventsPage::newest(100)).expect("page");
    let tail: Vec<&Event> = all.iter().rev().take(100).collect();
    assert_eq!(page.iter().collect::<Vec<_>>(), tail);
    assert!(next.is_some());
}
