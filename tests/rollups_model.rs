//! Rollups against a brute-force model: every accepted event is kept, and
//! every rollup and window is computed by scanning them. Random streams
//! with late, duplicate and out-of-order events, merges and clock advances.

use std::collections::HashMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, FilterOp, Literal, RollupDef, RollupValue, Window};
use profiledb::{Clock, Identifier, IngestOutcome, ManualClock, ProfileDb, ProfileId, Timestamp};
use proptest::prelude::*;

mod common;
use common::brute_force_rollup;

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;

#[derive(Clone, Debug)]
enum Step {
    /// user index, event name index, time offset (hours, may be in the past), amount, message id
    Event { who: usize, name: usize, hours_ago: i64, amount: i64, msg: Option<u8> },
    /// link two users (a merge)
    Link(usize, usize),
    /// move the clock forward
    Advance(i64),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => (0usize..5, 0usize..2, 0i64..24 * 40, 1i64..100, prop::option::of(0u8..20))
            .prop_map(|(who, name, hours_ago, amount, msg)| Step::Event { who, name, hours_ago, amount, msg }),
        1 => (0usize..5, 0usize..5).prop_map(|(a, b)| Step::Link(a, b)),
        1 => (1i64..72).prop_map(Step::Advance),
    ]
}

const NAMES: [&str; 2] = ["purchase", "page_view"];

struct Kept {
    profile: ProfileId,
    name: &'static str,
    at: i64,
    amount: i64,
}

fn model_value(
    db: &ProfileDb,
    kept: &[Kept],
    who: ProfileId,
    def: &RollupDef,
    window: Window,
    now: i64,
) -> RollupValue {
    let range = window.day_range(Timestamp(now));
    let mine: Vec<&Kept> = kept
        .iter()
        .filter(|k| db.resolve_id(k.profile).unwrap() == Some(who))
        .filter(|k| k.name == def.event)
        .filter(|k| {
            def.filter.iter().all(|f| match (&f.values[0], f.op) {
                (Literal::Num(n), FilterOp::Ge) => k.amount as f64 >= *n,
                _ => unreachable!("model supports >= only"),
            })
        })
        .filter(|k| range.is_none_or(|(a, b)| (a..=b).contains(&k.at.div_euclid(DAY))))
        .collect();
    let picked: Vec<(i64, i64)> = mine.iter().map(|k| (k.at, k.amount)).collect();
    brute_force_rollup(&def.aggregate, &picked)
}

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_the_brute_force_model(steps in prop::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0 + 40 * DAY)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let defs = vec![
            RollupDef::new("purchases", "purchase", Aggregate::Count),
            RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())),
            RollupDef::new("biggest", "purchase", Aggregate::Max("amount".into())),
            RollupDef::new("first_view", "page_view", Aggregate::First),
            RollupDef::new("last_purchase", "purchase", Aggregate::Last),
            RollupDef::new("view_days", "page_view", Aggregate::ActiveDays),
            RollupDef::new("big_purchases", "purchase", Aggregate::Count).filter("amount", FilterOp::Ge, Literal::Num(50.0)),
        ];
        // Declare half before the events (maintained live) and half after (backfilled).
        for d in &defs[..4] {
            db.declare_rollup(d.clone()).unwrap();
        }
        let mut kept: Vec<Kept> = Vec::new();
        let mut msgs: HashMap<u8, i64> = HashMap::new();
        for s in &steps {
            match s {
                Step::Event { who, name, hours_ago, amount, msg } => {
                    let now = clock.now().0;
                    let mut e = Event::new(EventKind::Track, NAMES[*name], Timestamp(now - hours_ago * 3_600_000), vec![user(*who)]);
                    e.properties.insert("amount", *amount);
                    e.message_id = msg.map(|m| format!("m{m}"));
                    let out = db.track(&e).unwrap();
                    // Dedup horizon: 7 days (the default) from first acceptance.
                    let dup = msg.is_some_and(|m| msgs.get(&m).is_some_and(|first| now - first <= 7 * DAY));
                    if let (Some(m), false) = (msg, dup) {
                        msgs.insert(*m, now);
                    }
                    match out {
                        IngestOutcome::Applied(r) => {
                            prop_assert!(!dup, "a duplicate message id was applied");
                            kept.push(Kept { profile: r.profile, name: NAMES[*name], at: e.timestamp.0, amount: *amount });
                        }
                        IngestOutcome::Duplicate { .. } => prop_assert!(dup, "a fresh message id was called a duplicate"),
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Step::Link(a, b) => {
                    db.identify(&[user(*a), user(*b)], profiledb::Update::new()).unwrap();
                }
                Step::Advance(h) => clock.advance(h * 3_600_000),
            }
        }
        for d in &defs[4..] {
            db.declare_rollup(d.clone()).unwrap();
        }
        let now = clock.now().0;
        for who in 0..5 {
            let Some(p) = db.resolve(&user(who)).unwrap() else { continue };
            for d in &defs {
                for w in [Window::All, Window::days(1), Window::days(7), Window::days(30),
                          Window::Between(Timestamp(now - 10 * DAY), Timestamp(now - 3 * DAY))] {
                    let got = db.rollup(p, &d.name, w).unwrap();
                    let want = model_value(&db, &kept, p, d, w, now);
                    prop_assert_eq!(got, want, "rollup {} window {:?} profile {}", d.name, w, p);
                }
            }
        }
    }
}

#[test]
fn bad_events_write_nothing_and_duplicates_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock).open().unwrap();
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(T0), vec![user(1)]);
    e.message_id = Some("m-1".into());
    db.track(&e).unwrap();
    let before = db.raw_dump().unwrap();
    assert!(matches!(db.track(&e).unwrap(), IngestOutcome::Duplicate { .. }));
    assert_eq!(db.raw_dump().unwrap(), before, "a duplicate changed the database");
    let no_ids = Event::new(EventKind::Track, "purchase", Timestamp(T0), vec![]);
    assert!(db.track(&no_ids).is_err());
    let report = db
        .ingest_batch(
            &[no_ids.clone(), {
                let mut x = e.clone();
                x.message_id = Some("m-2".into());
                x
            }],
            false,
        )
        .unwrap();
    assert_eq!((report.applied, report.rejected.len()), (1, 1));
    assert_eq!(report.rejected[0].0, 0);
    let after = db.raw_dump().unwrap();
    let strict = db
        .ingest_batch(
            &[
                {
                    let mut x = e.clone();
                    x.message_id = Some("m-3".into());
                    x
                },
                no_ids,
            ],
            true,
        )
        .unwrap();
    assert_eq!((strict.applied, strict.rejected.len()), (0, 1));
    assert_eq!(db.raw_dump().unwrap(), after, "a strict batch with a bad event wrote something");
    let p = db.resolve(&user(1)).unwrap().unwrap();
    assert_eq!(db.events(p, Timestamp(0), Timestamp(T0 + 1)).unwrap().len(), 2);
}
