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

/// Entries a page reads, its scans (seeks), and the page's length.
fn reads(db: &ProfileDb, p: ProfileId, order: EventOrder, limit: usize) -> (u64, u64, usize) {
    let (view, _, live) = db.resolved_snapshot(p).expect("snapshot");
    let mut timeline = Timeline::new(&view, live);
    let (lo, hi) = (0, u128::MAX);
    let (got, more) = match order {
        EventOrder::OldestFirst => timeline.oldest(lo, hi, limit),
        EventOrder::NewestFirst => timeline.newest(lo, hi, limit, &db.likely_timeline_ends()),
    }
    .expect("page");
    assert!(more);
    (timeline.read, timeline.scans, got.len())
}

#[test]
fn a_page_of_a_long_timeline_reads_about_what_it_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, p) = long_timeline(dir.path(), 20_000, 300);
    let (read, scans, len) = reads(&db, p, EventOrder::OldestFirst, 100);
    assert_eq!((read, scans, len), (101, 1, 100));
    for limit in [1, 100, 1_000] {
        let (read, scans, len) = reads(&db, p, EventOrder::NewestFirst, limit);
        assert_eq!(len, limit);
        // One window of at most 2 * limit + 16 entries read once, and the
        // check for more; a few seeks (the bisection for the last event
        // alone took 128).
        assert!(read <= 2 * limit as u64 + 17, "newest {limit}: read {read} entries");
        assert!(scans <= 16, "newest {limit}: {scans} scans");
    }
    // The public call agrees with the whole read's tail.
    let all = db.events(p, Timestamp(i64::MIN), Timestamp(i64::MAX)).expect("events");
    let (page, next) = db.events_page(p, EventsPage::newest(100)).expect("page");
    let tail: Vec<&Event> = all.iter().rev().take(100).collect();
    assert_eq!(page.iter().collect::<Vec<_>>(), tail);
    assert!(next.is_some());
}

/// Every newest-first page, joined, against the whole read reversed.
fn all_newest(db: &ProfileDb, p: ProfileId, limit: usize) -> Vec<Event> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let (page, next) = db.events_page(p, EventsPage::newest(limit).after(after)).expect("page");
        assert!(page.len() <= limit && (!page.is_empty() || next.is_none()));
        out.extend(page);
        match next {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
}

#[test]
fn newest_pages_are_exact_wherever_the_newest_events_lie() {
    let day = Timestamp::DAY;
    let who = Identifier::new("user_id", "bot").expect("identifier");
    let at = |t: i64| Event::new(EventKind::Track, "hit", Timestamp(t), vec![who.clone()]);
    let cases: Vec<(&str, Vec<Event>)> = vec![
        // Idle for 200 days.
        ("idle", (0..300).map(|i| at(T - 200 * day - i * 7_919)).collect()),
        // Up to a day ahead of now (the future skew): after the first likely end.
        ("ahead", (0..300).map(|i| at(T + day - 1 - i * 289_001)).collect()),
        // Hundreds in one millisecond, a few around it.
        ("dense", (0..400).map(|i| at(if i % 50 == 0 { T - 1 - i } else { T - 5_000 })).collect()),
    ];
    for (name, events) in cases {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(Timestamp(T)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
        db.ingest_batch(&events, false).expect("ingest");
        let p = db.resolve(&who).expect("resolve").expect("profile");
        let mut all = db.events(p, Timestamp(i64::MIN), Timestamp(i64::MAX)).expect("events");
        assert_eq!(all.len(), events.len(), "{name}");
        all.reverse();
        for back in [0, 3 * day] {
            // A clock set back: the events lie past both likely ends.
            clock.set(Timestamp(T - back));
            for limit in [1, 7, 100, 1_000] {
                assert_eq!(all_newest(&db, p, limit), all, "{name}: newest {limit}, clock back {back} ms");
            }
        }
    }
}
