//! Rollups against a brute-force model: every accepted event is kept, and
//! every rollup and window is computed by scanning them. Random streams
//! with late, duplicate and out-of-order events, sent one by one (`track`)
//! and in batches (`ingest_batch`, duplicates within and across batches),
//! merges, clock advances and reads in between.

use std::collections::HashMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, FilterOp, Literal, RollupDef, RollupValue, Window};
use profiledb::{Identifier, IngestOutcome, ManualClock, ProfileDb, Timestamp};
use proptest::prelude::*;
use proptest::sample::Index;

mod common;
use common::{brute_force_rollup_of, Observed};

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % DAY;
/// The engine's default dedup horizon, from a message id's first acceptance.
const DEDUP_HORIZON: i64 = 7 * DAY;
const USERS: usize = 5;

const NAMES: [&str; 2] = ["purchase", "page_view"];
/// A small value domain (so most-frequent ties and changes happen), in
/// an order where byte order ("Hats" < "bag" < "bags" < "hats" < "shoes")
/// differs from both insertion and case-insensitive order.
const SKUS: [&str; 5] = ["shoes", "hats", "Hats", "bags", "bag"];

/// One event to send.
#[derive(Clone, Debug)]
struct Ev {
    who: usize,
    name: usize,
    /// How far before the clock it happened (late and out of order).
    hours_ago: i64,
    /// `amount` in cents, when it has one.
    cents: Option<i64>,
    /// `sku` (an index in [`SKUS`]), when it has one.
    sku: Option<usize>,
    msg: Option<u8>,
}

#[derive(Clone, Debug)]
enum Step {
    /// One event through `track`.
    Track(Ev),
    /// Events through `ingest_batch` (non-strict), with copies of some of
    /// them (duplicates within the batch when they carry a message id).
    Batch(Vec<Ev>),
    /// Link two users (a merge).
    Link(usize, usize),
    /// Move the clock forward (hours).
    Advance(i64),
    /// Compare a user's declared rollups with the model now.
    Check(usize),
}

fn ev() -> impl Strategy<Value = Ev> {
    (
        0..USERS,
        0usize..2,
        0i64..24 * 40,
        prop::option::weighted(0.85, 1i64..10_000),
        prop::option::weighted(0.8, 0..SKUS.len()),
        prop::option::of(0u8..20),
    )
        .prop_map(|(who, name, hours_ago, cents, sku, msg)| Ev { who, name, hours_ago, cents, sku, msg })
}

fn batch() -> impl Strategy<Value = Vec<Ev>> {
    (prop::collection::vec(ev(), 1..10), prop::collection::vec((any::<Index>(), any::<Index>()), 0..4)).prop_map(
        |(mut events, copies)| {
            for (from, to) in copies {
                let copy = events[from.index(events.len())].clone();
                let at = to.index(events.len() + 1);
                events.insert(at, copy);
            }
            events
        },
    )
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => ev().prop_map(Step::Track),
        2 => batch().prop_map(Step::Batch),
        1 => (0..USERS, 0..USERS).prop_map(|(a, b)| Step::Link(a, b)),
        1 => (1i64..72).prop_map(Step::Advance),
        1 => (0..USERS).prop_map(Step::Check),
    ]
}

/// An applied event, as the model keeps it.
struct Kept {
    who: usize,
    name: &'static str,
    at: i64,
    amount: Option<f64>,
    sku: Option<&'static str>,
}

/// The model: applied events, message ids' first acceptance, and which
/// users are linked (union-find over users).
struct Model {
    kept: Vec<Kept>,
    msgs: HashMap<u8, i64>,
    parent: [usize; USERS],
    exists: [bool; USERS],
}

impl Model {
    fn new() -> Self {
        Model { kept: Vec::new(), msgs: HashMap::new(), parent: std::array::from_fn(|i| i), exists: [false; USERS] }
    }

    fn root(&self, mut u: usize) -> usize {
        while self.parent[u] != u {
            u = self.parent[u];
        }
        u
    }

    fn link(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.root(a), self.root(b));
        self.parent[ra.max(rb)] = ra.min(rb);
        self.exists[a] = true;
        self.exists[b] = true;
    }

    /// Ingests `e` at `now`: whether it is applied (a message id seen
    /// within the dedup horizon of its first acceptance is a duplicate; a
    /// re-accepted id starts a new horizon).
    fn ingest(&mut self, e: &Ev, now: i64) -> bool {
        if let Some(m) = e.msg {
            if self.msgs.get(&m).is_some_and(|first| now - first <= DEDUP_HORIZON) {
                return false;
            }
            self.msgs.insert(m, now);
        }
        self.exists[e.who] = true;
        self.kept.push(Kept {
            who: e.who,
            name: NAMES[e.name],
            at: now - e.hours_ago * 3_600_000,
            amount: e.cents.map(|c| c as f64 / 100.0),
            sku: e.sku.map(|i| SKUS[i]),
        });
        true
    }

    /// Whether `k` passes the rollup's filter (the documented semantics
    /// of the operators the test uses; an absent property is not equal).
    fn passes(k: &Kept, def: &RollupDef) -> bool {
        def.filter.iter().all(|f| {
            f.values.iter().any(|lit| match (f.property.as_str(), lit, f.op) {
                ("amount", Literal::Num(n), FilterOp::Ge) => k.amount.is_some_and(|a| a >= *n),
                ("sku", Literal::Str(s), FilterOp::Eq) => k.sku == Some(s.as_str()),
                ("sku", Literal::Str(s), FilterOp::Ne) => k.sku != Some(s.as_str()),
                _ => unreachable!("the model does not cover filter {f:?}"),
            })
        })
    }

    fn value(&self, who: usize, def: &RollupDef, window: Window, now: i64) -> RollupValue {
        let range = window.day_range(Timestamp(now));
        let picked: Vec<Observed> = self
            .kept
            .iter()
            .filter(|k| self.root(k.who) == self.root(who))
            .filter(|k| k.name == def.event && Self::passes(k, def))
            .filter(|k| range.is_none_or(|(a, b)| (a..=b).contains(&k.at.div_euclid(DAY))))
            .map(|k| match def.aggregate.property() {
                None => Observed { at: k.at, number: None, key: None },
                Some("amount") => {
                    assert!(def.aggregate.numeric(), "the model keys only sku values");
                    Observed { at: k.at, number: k.amount, key: None }
                }
                Some("sku") => Observed { at: k.at, number: None, key: k.sku.map(str::to_owned) },
                Some(other) => unreachable!("no property {other}"),
            })
            .collect();
        brute_force_rollup_of(&def.aggregate, &picked)
    }
}

fn user(i: usize) -> Identifier {
    // An identifier kind without a per-profile limit of 1, so links merge.
    Identifier::new("anonymous_id", &format!("a{i}")).unwrap()
}

fn event(e: &Ev, now: i64) -> Event {
    let mut x =
        Event::new(EventKind::Track, NAMES[e.name], Timestamp(now - e.hours_ago * 3_600_000), vec![user(e.who)]);
    if let Some(c) = e.cents {
        x.properties.insert("amount", c as f64 / 100.0);
    }
    if let Some(i) = e.sku {
        x.properties.insert("sku", SKUS[i]);
    }
    x.message_id = e.msg.map(|m| format!("m{m}"));
    x
}

/// Compares every rollup of `defs` for `who` over every window.
fn compare(db: &ProfileDb, model: &Model, who: usize, defs: &[RollupDef]) -> Result<(), TestCaseError> {
    let now = db.now().0;
    let p = db.resolve(&user(who)).unwrap();
    prop_assert_eq!(p.is_some(), model.exists[who], "user {} exists", who);
    let Some(p) = p else { return Ok(()) };
    for d in defs {
        for w in [
            Window::All,
            Window::days(1),
            Window::days(7),
            Window::days(30),
            Window::Between(Timestamp(now - 10 * DAY), Timestamp(now - 3 * DAY)),
        ] {
            let got = db.rollup(p, &d.name, w).unwrap();
            let want = model.value(who, d, w, now);
            // Exactly, sums and averages included: sums are exact whatever
            // the order and grouping of the folds.
            prop_assert!(
                got == want,
                "rollup {} window {:?} user {} profile {}: got {:?}, want {:?}",
                d.name,
                w,
                who,
                p,
                got,
                want
            );
        }
    }
    Ok(())
}

fn defs() -> (Vec<RollupDef>, Vec<RollupDef>) {
    let amount = || "amount".to_owned();
    let sku = || "sku".to_owned();
    // Declared before the events (maintained live).
    let live = vec![
        RollupDef::new("purchases", "purchase", Aggregate::Count),
        RollupDef::new("spend", "purchase", Aggregate::Sum(amount())),
        RollupDef::new("biggest", "purchase", Aggregate::Max(amount())),
        RollupDef::new("smallest", "purchase", Aggregate::Min(amount())),
        RollupDef::new("first_view", "page_view", Aggregate::First),
        RollupDef::new("top_sku", "purchase", Aggregate::MostFrequent(sku())),
        RollupDef::new("viewed_skus", "page_view", Aggregate::Unique(sku())),
    ];
    // Declared after them: backfilled when their series is new, else
    // reading one that was maintained live.
    let later = vec![
        RollupDef::new("last_purchase", "purchase", Aggregate::Last),
        RollupDef::new("view_days", "page_view", Aggregate::ActiveDays),
        RollupDef::new("big_purchases", "purchase", Aggregate::Count).filter(
            "amount",
            FilterOp::Ge,
            Literal::Num(50.0),
        ),
        RollupDef::new("avg_spend", "purchase", Aggregate::Avg(amount())),
        RollupDef::new("avg_view", "page_view", Aggregate::Avg(amount())),
        RollupDef::new("least_viewed", "page_view", Aggregate::Min(amount())),
        RollupDef::new("top_viewed", "page_view", Aggregate::MostFrequent(sku())).filter(
            "sku",
            FilterOp::Ne,
            Literal::Str("hats".into()),
        ),
        // An absent property is "not equal": events without a sku count.
        RollupDef::new("other_views", "page_view", Aggregate::Count).filter(
            "sku",
            FilterOp::Ne,
            Literal::Str("hats".into()),
        ),
        RollupDef::new("big_skus", "purchase", Aggregate::Unique(sku())).filter(
            "amount",
            FilterOp::Ge,
            Literal::Num(50.0),
        ),
        RollupDef::new("bag_spend", "purchase", Aggregate::Avg(amount())).filter(
            "sku",
            FilterOp::Eq,
            Literal::Str("bag".into()),
        ),
    ];
    (live, later)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn rollups_equal_the_brute_force_model(steps in prop::collection::vec(step(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(T0 + 40 * DAY)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().unwrap();
        let (live, later) = defs();
        for d in &live {
            db.declare_rollup(d.clone()).unwrap();
        }
        let mut model = Model::new();
        for s in &steps {
            let now = clock.now().0;
            match s {
                Step::Track(e) => {
                    let out = db.track(&event(e, now)).unwrap();
                    let applied = model.ingest(e, now);
                    match out {
                        IngestOutcome::Applied(_) => prop_assert!(applied, "a duplicate message id was applied"),
                        IngestOutcome::Duplicate { .. } => prop_assert!(!applied, "a fresh message id was called a duplicate"),
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
                Step::Batch(events) => {
                    let batch: Vec<Event> = events.iter().map(|e| event(e, now)).collect();
                    let report = db.ingest_batch(&batch, false).unwrap();
                    let applied = events.iter().filter(|e| model.ingest(e, now)).count() as u64;
                    prop_assert!(report.rejected.is_empty(), "rejected {:?}", report.rejected);
                    prop_assert_eq!((report.applied, report.duplicates, report.dropped), (applied, events.len() as u64 - applied, 0));
                }
                Step::Link(a, b) => {
                    db.identify(&[user(*a), user(*b)], profiledb::Update::new()).unwrap();
                    model.link(*a, *b);
                }
                Step::Advance(h) => clock.advance(h * 3_600_000),
                Step::Check(who) => compare(&db, &model, *who, &live)?,
            }
        }
        for d in &later {
            db.declare_rollup(d.clone()).unwrap();
        }
        let all: Vec<RollupDef> = live.into_iter().chain(later).collect();
        for who in 0..USERS {
            compare(&db, &model, who, &all)?;
            for other in 0..USERS {
                if let (Some(p), Some(q)) = (db.resolve(&user(who)).unwrap(), db.resolve(&user(other)).unwrap()) {
                    prop_assert_eq!(p == q, model.root(who) == model.root(other), "users {} and {} linked", who, other);
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
