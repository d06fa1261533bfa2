//! An analyst's review of rollups and RFM (twenty-third session): RFM
//! with a purchase stamped slightly ahead of the clock and after timeline
//! retention, a RudderStack event with an empty `userId`, NaN properties
//! built in code, windows longer than the time line.

use std::sync::Arc;

use profiledb::event::{parse_line, Event, EventFormat, EventKind, EventLimits, PropertyValue};
use profiledb::rollup::{Aggregate, RfmConfig, RollupDef, RollupValue, Window};
use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp};

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
const NOW: i64 = 20_000 * DAY + 12 * HOUR;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open_with(f: impl FnOnce(profiledb::Builder) -> profiledb::Builder) -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let db = f(ProfileDb::builder(dir.path()).clock(clock)).open().expect("open");
    (dir, db)
}

fn ev(who: &str, name: &str, at: i64, props: &[(&str, PropertyValue)]) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(at), vec![id(who)]);
    for (k, v) in props {
        e.properties.insert(*k, v.clone());
    }
    e
}

fn purchase(db: &ProfileDb, who: &str, at: i64, amount: i64) {
    db.track(&ev(who, "purchase", at, &[("amount", amount.into())])).expect("track");
}

fn pid(db: &ProfileDb, who: &str) -> ProfileId {
    db.resolve(&id(who)).expect("resolve").expect("known")
}

fn rfm_config() -> RfmConfig {
    RfmConfig { event: "purchase".into(), amount: "amount".into() }
}

#[test]
fn a_purchase_stamped_a_little_ahead_of_the_clock_is_the_most_recent() {
    let (_d, db) = open_with(|b| b);
    purchase(&db, "user_id:fast", NOW + 3 * 60_000, 10);
    for days in 1..=4 {
        purchase(&db, &format!("user_id:b{days}"), NOW - days * DAY, 10);
    }
    let rep = db.compute_rfm(rfm_config()).expect("rfm");
    let r = |who: &str| db.rfm(pid(&db, who)).expect("rfm").expect("a buyer").r;
    assert_eq!(
        [r("user_id:fast"), r("user_id:b1"), r("user_id:b2"), r("user_id:b3"), r("user_id:b4")],
        [5, 4, 3, 2, 1]
    );
    assert_eq!(rep.distribution.keys().filter(|k| k.starts_with('5')).count(), 1, "{:?}", rep.distribution);
}

#[test]
fn rfm_counts_purchases_that_timeline_retention_dropped() {
    let (_d, db) = open_with(|b| b.timeline_retention(30 * DAY));
    purchase(&db, "user_id:a", NOW - 60 * DAY, 100);
    purchase(&db, "user_id:a", NOW - 10 * DAY, 10);
    purchase(&db, "user_id:b", NOW - 60 * DAY, 500);
    db.enforce_retention().expect("retention");
    let rep = db.compute_rfm(rfm_config()).expect("rfm");
    assert_eq!(rep.model.profiles, 2, "both bought");
    let a = db.rfm(pid(&db, "user_id:a")).expect("rfm").expect("a bought");
    let b = db.rfm(pid(&db, "user_id:b")).expect("rfm").expect("b bought, 60 days ago");
    assert_eq!((a.frequency, b.frequency), (2, 1));
    assert_eq!((a.recency_ms, b.recency_ms), (10 * DAY, 60 * DAY));
    // The amount rollup was declared after retention: as documented, only
    // the kept purchase's amount is in it.
    assert_eq!((a.monetary, b.monetary), (10.0, 0.0));
}

#[test]
fn a_rudderstack_event_with_an_empty_user_id_reaches_its_anonymous_id() {
    let limits = EventLimits::new(Timestamp(NOW));
    let line = r#"{"type":"track","event":"Product Viewed","userId":"","anonymousId":"6f1c-anon","messageId":"m-9","originalTimestamp":"2024-10-04T00:30:00.000Z","channel":"web","context":{"traits":{}},"properties":{"sku":"p-1"}}"#;
    let e = parse_line(line, EventFormat::Auto, "line 1", &limits).expect("an anonymous RudderStack event");
    assert_eq!(e.identifiers, vec![id("anonymous_id:6f1c-anon")]);
}

#[test]
fn a_non_finite_number_built_in_code_is_refused_and_writes_nothing() {
    let (_d, db) = open_with(|b| b);
    db.declare_rollup(RollupDef::new("sum", "e", Aggregate::Sum("x".into()))).expect("declare");
    db.define_segment("big", "sum(e.x) > 5").expect("segment");
    db.track(&ev("user_id:1", "e", NOW, &[("x", 10.into())])).expect("track");
    let p = pid(&db, "user_id:1");
    for bad in [f64::NAN, f64::INFINITY] {
        let err = db.track(&ev("user_id:1", "e", NOW, &[("x", bad.into())])).expect_err("refused");
        assert!(matches!(err, Error::InvalidEvent { .. }), "{err:?}");
        assert!(err.to_string().contains("\"properties.x\": a number must be finite"), "{err}");
        let report = db.ingest_batch(&[ev("user_id:1", "e", NOW, &[("x", bad.into())])], false).expect("batch");
        assert_eq!((report.applied, report.rejected.len()), (0, 1));
    }
    assert_eq!(db.rollup(p, "sum", Window::All).expect("read"), RollupValue::Number(Some(10.0)));
    assert!(db.in_segment("big", p).expect("member"));
}

#[test]
fn a_window_longer_than_the_time_line_counts_everything() {
    let (_d, db) = open_with(|b| b);
    db.track(&ev("user_id:1", "e", NOW, &[])).expect("track");
    let p = pid(&db, "user_id:1");
    for w in [Window::days(1_000_000), Window::days(i64::MAX / DAY), Window::days(i64::MAX), Window::Last(i64::MAX - 1)]
    {
        assert_eq!(db.event_stats(p, "e", w).expect("read").count, 1, "{w:?}");
    }
}

#[test]
fn the_unique_rollup_and_segment_distinct_count_the_same_values() {
    let (_d, db) = open_with(|b| b);
    db.declare_rollup(RollupDef::new("uniq", "e", Aggregate::Unique("sku".into()))).expect("declare");
    db.define_segment("two", "distinct(e.sku) >= 2").expect("segment");
    // One SDK sends the SKU as a number, another as text: one value.
    db.track(&ev("user_id:1", "e", NOW, &[("sku", 123.into())])).expect("track");
    db.track(&ev("user_id:1", "e", NOW, &[("sku", "123".into())])).expect("track");
    let p = pid(&db, "user_id:1");
    let count = |db: &ProfileDb| match db.rollup(p, "uniq", Window::All).expect("read") {
        RollupValue::Unique { count, .. } => count,
        other => panic!("not a unique count: {other:?}"),
    };
    assert_eq!((count(&db), db.in_segment("two", p).expect("member")), (1, false));
    db.track(&ev("user_id:1", "e", NOW, &[("sku", 124.into())])).expect("track");
    assert_eq!((count(&db), db.in_segment("two", p).expect("member")), (2, true));
    assert_eq!(db.check_segments().expect("check"), vec![]);
}
