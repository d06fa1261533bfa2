//! What `tick` and `retain` print about what they deleted: the change-feed
//! records and membership-history rows a tick's retention step removed,
//! and the merged-away ids' logs `retain` folded or deleted — in text and
//! in `--json`. The databases are written by the library on a manual clock
//! set in the past, then run on by the CLI at the real now.

mod common;

use std::sync::Arc;

use common::{now_ms, TestDb, DAY_MS};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, Update};
use serde_json::json;

const HOUR_MS: i64 = 3_600_000;

fn id(text: &str) -> Identifier {
    text.parse().expect("identifier")
}

/// Five people switch plans daily for 40 days ending now (a segment reads
/// the plan: one feed record and one membership row each per day).
fn forty_days_of_plan_changes() -> TestDb {
    let db = TestDb::empty();
    let start = now_ms() - 40 * DAY_MS;
    let clock = Arc::new(ManualClock::new(Timestamp(start)));
    let lib = ProfileDb::builder(db.path()).clock(clock.clone()).open().expect("open");
    lib.define_segment("pro", r#"traits.plan = "pro""#).expect("define");
    for day in 0..40 {
        clock.set(Timestamp(start + day * DAY_MS + HOUR_MS));
        let plan = if day % 2 == 0 { "pro" } else { "free" };
        for i in 0..5 {
            lib.update(&id(&format!("user_id:u{i}")), Update::new().set("plan", plan)).expect("update");
        }
    }
    db
}

/// Feed kept 10 days: days 0..30 go (150 records); membership history
/// kept 20 days: days 0..20 go but each profile's last (95 rows).
const TICK: [&str; 6] = ["tick", "--feed", "10", "--membership-history", "20", "--yes"];

#[test]
fn tick_reports_the_feed_records_and_membership_rows_it_deleted() {
    let db = forty_days_of_plan_changes();
    let v = db.json(&TICK);
    assert_eq!(
        (v["feed_records_deleted"].clone(), v["membership_rows_deleted"].clone()),
        (json!(150), json!(95)),
        "{v}"
    );
    assert_eq!((v["timelines_trimmed"].clone(), v["buckets_folded"].clone()), (json!(0), json!(0)), "{v}");
    // Nothing more to delete: reported as 0.
    let again = db.json(&["tick"]);
    assert_eq!((again["feed_records_deleted"].clone(), again["membership_rows_deleted"].clone()), (json!(0), json!(0)));

    let db = forty_days_of_plan_changes();
    let text = db.run(&TICK).ok().stdout;
    assert!(
        text.contains(
            "retention (timeline 365 days, buckets forever, feed 10 days, membership history 20 days): trimmed 0 \
             timelines, folded 0 day buckets, deleted 150 feed records and 95 membership-history rows"
        ),
        "{text}"
    );
    // Nothing deleted: no retention line.
    let text = db.run(&["tick"]).ok().stdout;
    assert!(!text.contains("retention ("), "{text}");
}

#[test]
fn check_tick_reports_the_deletions_on_stderr() {
    let db = forty_days_of_plan_changes();
    let run = db.run(&["check", "--tick", "--feed", "10", "--membership-history", "20", "--yes"]).ok();
    assert!(run.stderr.contains("deleted 150 feed records and 95 membership-history rows"), "{}", run.stderr);
}

/// A user; a visitor merged into them 800 days ago (its merge is before
/// the horizon, and folded with the user's log) and one whose log starts
/// before the horizon and who merged at it (a merged-away log is folded
/// once the horizon reaches its merge, while that merge is recorded).
fn two_visitors_merged() -> (TestDb, i64) {
    let db = TestDb::empty();
    let now = now_ms();
    let clock = Arc::new(ManualClock::new(Timestamp(now - 800 * DAY_MS)));
    let lib = ProfileDb::builder(db.path()).clock(clock.clone()).snapshot_every(1).open().expect("open");
    lib.identify(&[id("user_id:v1")], Update::new().set("plan", "free")).expect("user");
    for (n, visited, merged) in [(1, 800, 799), (2, 200, 150)] {
        clock.set(Timestamp(now - visited * DAY_MS));
        let anon = id(&format!("anonymous_id:visitor-{n}"));
        lib.update(&anon, Update::new().set("utm_campaign", format!("old-{n}"))).expect("update");
        lib.update(&anon, Update::new().set("utm_campaign", format!("newer-{n}"))).expect("update");
        clock.set(Timestamp(now - merged * DAY_MS));
        lib.identify(&[anon, id("user_id:v1")], Update::new()).expect("merge");
    }
    (db, now - 150 * DAY_MS)
}

#[test]
fn retain_reports_the_merged_away_logs_it_folded_and_deleted() {
    let (db, horizon) = two_visitors_merged();
    let before = horizon.to_string();
    let v = db.json(&["retain", "--before", &before, "--yes"]);
    assert_eq!(
        (v["profiles_folded"].clone(), v["merged_logs_folded"].clone(), v["merged_logs_dropped"].clone()),
        (json!(1), json!(1), json!(1)),
        "{v}"
    );
    let again = db.json(&["retain", "--before", &before, "--yes"]);
    assert_eq!((again["merged_logs_folded"].clone(), again["merged_logs_dropped"].clone()), (json!(0), json!(0)));

    let (db, horizon) = two_visitors_merged();
    let text = db.run(&["retain", "--before", &horizon.to_string(), "--yes"]).ok().stdout;
    assert!(
        text.contains(
            "of 1 profiles and of 1 merged-away ids' logs, deleted 1 merged-away ids' logs whose merge was folded"
        ),
        "{text}"
    );
}
