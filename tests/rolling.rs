//! Rolling windows (`Window::Rolling`, `Window::hours`): every aggregate
//! over the exact span `(now - d, now]` equals a scan of the events, at
//! any time of day — including just after midnight UTC, where a whole-day
//! window of "24 hours" would cover minutes.

mod common;

use std::sync::Arc;

use common::{brute_force_rollup_of, Observed};
use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const BASE: i64 = 20_000 * DAY;

fn rollups() -> Vec<RollupDef> {
    let total = || "total".to_owned();
    let sku = || "sku".to_owned();
    [
        ("n", Aggregate::Count),
        ("sum", Aggregate::Sum(total())),
        ("min", Aggregate::Min(total())),
        ("max", Aggregate::Max(total())),
        ("avg", Aggregate::Avg(total())),
        ("first", Aggregate::First),
        ("last", Aggregate::Last),
        ("days", Aggregate::ActiveDays),
        ("top", Aggregate::MostFrequent(sku())),
        ("skus", Aggregate::Unique(sku())),
    ]
    .into_iter()
    .map(|(name, agg)| RollupDef::new(name, "order", agg))
    .collect()
}

#[test]
fn rolling_windows_equal_a_scan_of_the_events_at_any_time_of_day() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(BASE + 5 * DAY)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
    for def in rollups() {
        db.declare_rollup(def).unwrap();
    }
    let who = Identifier::new("user_id", "u1").unwrap();
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut events: Vec<(i64, f64, String)> = Vec::new();
    for _ in 0..80 {
        // Over four days, with a cluster around one midnight.
        let at = if next() % 3 == 0 {
            BASE + 3 * DAY - HOUR + (next() % (2 * HOUR as u64)) as i64
        } else {
            BASE + (next() % (4 * DAY as u64)) as i64
        };
        let total = (next() % 1_000) as f64 / 10.0;
        let sku = format!("s{}", next() % 4);
        let mut e = Event::new(EventKind::Track, "order", Timestamp(at), vec![who.clone()]);
        e.properties.insert("total", total);
        e.properties.insert("sku", sku.as_str());
        db.track(&e).unwrap();
        events.push((at, total, sku));
    }
    let p = db.resolve(&who).unwrap().unwrap();
    let nows = [
        BASE + 3 * DAY + 5 * 60_000,
        BASE + 3 * DAY,
        BASE + 3 * DAY - 1,
        BASE + 2 * DAY + 13 * HOUR,
        BASE + 4 * DAY - 1,
    ];
    let spans = [1, HOUR, 24 * HOUR, 36 * HOUR, 72 * HOUR, 30 * HOUR + 17];
    for now in nows {
        clock.set(Timestamp(now));
        for span in spans {
            let inside: Vec<Observed> = events
                .iter()
                .filter(|(at, _, _)| now - span < *at && *at <= now)
                .map(|(at, total, sku)| Observed { at: *at, number: Some(*total), key: Some(sku.clone()) })
                .collect();
            for def in rollups() {
                let got = db.rollup(p, &def.name, Window::Rolling(span)).unwrap();
                let want = brute_force_rollup_of(&def.aggregate, &inside);
                // Exactly: sums are exact in any fold order.
                assert_eq!(got, want, "{} over {span} ms at {now}", def.name);
            }
            let stats = db.event_stats(p, "order", Window::Rolling(span)).unwrap();
            assert_eq!(stats.count, inside.len() as u64, "event_stats over {span} ms at {now}");
        }
    }
    // Just after midnight, "the last 24 hours" is not "today".
    clock.set(Timestamp(BASE + 3 * DAY + 5 * 60_000));
    let today = db.rollup(p, "n", Window::days(1)).unwrap();
    let rolling = db.rollup(p, "n", Window::hours(24)).unwrap();
    assert_ne!(today, rolling, "the cluster before midnight counts in the rolling window only");
}

/// A rolling window reads the timeline at its edges: without timelines it
/// is refused with a clear error (whole-day windows still answer).
#[test]
fn rolling_windows_need_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(BASE + 2 * DAY)));
    let db = ProfileDb::builder(dir.path()).clock(clock).timeline_retention(0).open().unwrap();
    db.declare_rollup(RollupDef::new("n", "order", Aggregate::Count)).unwrap();
    let who = Identifier::new("user_id", "u1").unwrap();
    db.track(&Event::new(EventKind::Track, "order", Timestamp(BASE + DAY), vec![who.clone()])).unwrap();
    let p = db.resolve(&who).unwrap().unwrap();
    let err = db.rollup(p, "n", Window::hours(48)).unwrap_err().to_string();
    assert!(err.contains("rolling window") && err.contains("timeline"), "{err}");
    assert_eq!(db.rollup(p, "n", Window::days(2)).unwrap(), RollupValue::Count(1));
}
