//! Criterion benchmarks of timeline reads on one profile with
//! `PROFILEDB_BENCH_EVENTS` events (default 200,000) spread over 360 days,
//! compacted: the newest 100 by `events_page` (forward scans of a window
//! grown back over time from now), the oldest 100, and — what a caller had
//! before pages — the whole range by `events`, keeping its last 100.
//!
//! `cargo bench --bench timeline` — results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use profiledb::event::{Event, EventKind};
use profiledb::{EventsPage, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp};

mod common;
use common::profiles;

const T: i64 = 1_700_000_000_000;

/// One profile with `n` events over 360 days before `T`, compacted.
fn long_timeline(n: i64) -> (tempfile::TempDir, ProfileDb, ProfileId) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path()).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("open");
    let who = Identifier::new("user_id", "bot").expect("identifier");
    let step = 360 * Timestamp::DAY / n;
    let events: Vec<Event> = (0..n)
        .map(|i| Event::new(EventKind::Track, "hit", Timestamp(T - 1 - (n - i) * step + i % 3), vec![who.clone()]))
        .collect();
    for chunk in events.chunks(10_000) {
        db.ingest_batch(chunk, false).expect("ingest");
    }
    db.compact().expect("compact");
    let p = db.resolve(&who).expect("resolve").expect("a profile");
    (dir, db, p)
}

fn timeline(c: &mut Criterion) {
    let n = profiles("PROFILEDB_BENCH_EVENTS", 200_000) as i64;
    let (_dir, db, p) = long_timeline(n);
    let mut group = c.benchmark_group("timeline");
    group.bench_function("events_page_newest_100", |b| {
        b.iter(|| black_box(db.events_page(p, EventsPage::newest(100)).expect("page")))
    });
    group.bench_function("events_page_oldest_100", |b| {
        b.iter(|| black_box(db.events_page(p, EventsPage::oldest(100)).expect("page")))
    });
    group.sample_size(10);
    group.bench_function("events_whole_range_keep_last_100", |b| {
        b.iter(|| {
            let all = db.events(p, Timestamp(i64::MIN), Timestamp(i64::MAX)).expect("events");
            black_box(all[all.len().saturating_sub(100)..].to_vec())
        })
    });
    group.finish();
}

criterion_group!(benches, timeline);
criterion_main!(benches);
