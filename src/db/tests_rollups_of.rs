//! `rollups_of` reads the series a profile has by one scan of its rollup
//! keys: it answers exactly what reading every event name's series (the
//! earlier way, whose cost grew with the event names of the whole
//! database) answers — merged profiles, declared rollups with filters and
//! folded (retired) buckets included.

use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::{Event, EventKind};
use crate::profile::id::ProfileId;
use crate::rollup::store::read_window;
use crate::rollup::{Aggregate, FilterOp, Literal, RollupDef, RollupValue, Window};
use crate::{Identifier, ManualClock, ProfileDb, Update};

const T0: i64 = 1_699_920_000_000;

/// The earlier `rollups_of`: a window read of every event name's
/// automatic series, then of every declared rollup's.
fn per_name(db: &ProfileDb, profile: ProfileId) -> Result<Vec<(String, RollupValue)>> {
    let reg = db.core.rollups.read().clone();
    let (view, _, live) = db.resolved_snapshot(profile)?;
    let now = db.core.clock.now();
    let mut out = Vec::new();
    let mut events: Vec<&String> = reg.by_event.keys().collect();
    events.sort();
    for e in events {
        if let Some(id) = reg.auto_series(e) {
            let acc = read_window(&view, live, id, Window::All, now)?;
            if acc.count > 0 {
                for (suffix, agg) in
                    [("count", Aggregate::Count), ("first", Aggregate::First), ("last", Aggregate::Last)]
                {
                    out.push((format!("{e}.{suffix}"), RollupValue::of(&agg, &acc, None)));
                }
            }
        }
    }
    for (name, rec) in &reg.rollups {
        let acc = read_window(&view, live, rec.series, Window::All, now)?;
        out.push((name.clone(), RollupValue::of(&rec.def.aggregate, &acc, None)));
    }
    Ok(out)
}

fn ev(name: &str, at: i64, who: &str, amount: Option<f64>) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(at), vec![who.parse::<Identifier>().unwrap()]);
    if let Some(a) = amount {
        e.properties.insert("amount", a);
    }
    e
}

#[test]
fn rollups_of_answers_as_reading_every_event_names_series_does() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + 10 * Timestamp::DAY)));
    let db =
        ProfileDb::builder(dir.path()).clock(clock.clone()).rollup_bucket_retention(5 * Timestamp::DAY).open().unwrap();
    // Many event names, on other profiles.
    let others: Vec<Event> =
        (0..2_000).map(|i| ev(&format!("e.{i}"), T0, &format!("user_id:o{}", i % 50), None)).collect();
    db.ingest_batch(&others, false).unwrap();
    db.declare_rollup(RollupDef::new("big", "purchase", Aggregate::Count).filter(
        "amount",
        FilterOp::Ge,
        Literal::Num(20.0),
    ))
    .unwrap();
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    db.declare_rollup(RollupDef::new("never", "refund", Aggregate::Last)).unwrap();
    let mut mine = Vec::new();
    for d in 0..10 {
        mine.push(ev("purchase", T0 + d * Timestamp::DAY, "user_id:me", Some(5.0 + d as f64 * 3.0)));
        mine.push(ev("page.view", T0 + d * Timestamp::DAY + 1, "anonymous_id:me", None));
    }
    mine.push(ev("e.7", T0 + 3, "user_id:me", None));
    let report = db.ingest_batch(&mine, true).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (21, 0), "{:?}", report.rejected);
    db.update(&"user_id:empty".parse().unwrap(), Update::new().set("x", 1)).unwrap();
    let anon = db.resolve(&"anonymous_id:me".parse().unwrap()).unwrap().unwrap();
    let check = |when: &str| {
        let mut profiles: Vec<ProfileId> = (0..60).map(ProfileId).collect();
        profiles.push(anon);
        for p in profiles {
            match (db.rollups_of(p), per_name(&db, p)) {
                (Ok(new), Ok(old)) => assert_eq!(new, old, "{when}: profile {p}"),
                (new, old) => assert_eq!(new.map_err(|e| e.to_string()), old.map_err(|e| e.to_string()), "{when}: {p}"),
            }
        }
    };
    check("before the merge");
    db.identify(&["anonymous_id:me".parse().unwrap(), "user_id:me".parse().unwrap()], Update::new()).unwrap();
    check("after the merge");
    clock.set(Timestamp(T0 + 12 * Timestamp::DAY));
    assert!(db.enforce_retention().unwrap().buckets_folded > 0);
    check("after bucket retention folded the old days");
    let me = db.resolve(&"user_id:me".parse().unwrap()).unwrap().unwrap();
    let names = db.rollups_of(me).unwrap().len();
    assert_eq!(names, 3 * 3 + 3, "e.7, page.view and purchase; big, never and spend");
}
