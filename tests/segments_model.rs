//! Incremental segment maintenance against re-evaluation from scratch:
//! after every step of a random stream (trait writes, late and future
//! events, merges, consent grants with expiry and withdrawals, clock
//! advances) and `tick`, every stored bitmap must
//! equal a fresh evaluation of its segment over every profile.
//!
//! And writes after due instants against a tick before them: the same
//! stream through a database that ticks only now and then (its writes
//! meet due wake-ups) must record the same membership changes, at the same
//! instants, as through one that ticks after every step.

use std::collections::BTreeMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::ConsentChange;
use profiledb::rollup::{Aggregate, FilterOp, Literal, RollupDef};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, Update};
use proptest::prelude::*;

const HOUR: i64 = 3_600_000;
const T0: i64 = 1_700_000_000_000;

#[derive(Clone, Debug)]
enum Step {
    Plan(usize, bool),
    Event {
        who: usize,
        name: usize,
        offset_h: i64,
        amount: i64,
    },
    Link(usize, usize),
    Email(usize),
    Advance(i64),
    /// A consent change: 0 granted without expiry, 1 granted for `h` hours, 2 withdrawn.
    Consent(usize, u8, i64),
    /// A tick (the reference database ticks after every step anyway).
    Tick,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0usize..6, any::<bool>()).prop_map(|(w, p)| Step::Plan(w, p)),
        5 => (0usize..6, 0usize..3, -96i64..12, 1i64..120)
            .prop_map(|(who, name, offset_h, amount)| Step::Event { who, name, offset_h, amount }),
        1 => (0usize..6, 0usize..6).prop_map(|(a, b)| Step::Link(a, b)),
        1 => (0usize..6).prop_map(Step::Email),
        3 => (1i64..80).prop_map(Step::Advance),
        2 => (0usize..6, 0u8..3, 1i64..100).prop_map(|(w, k, h)| Step::Consent(w, k, h)),
    ]
}

/// A step or, now and then, a tick (a strategy of its own: the stored
/// regressions of [`step`] keep their meaning).
fn step_or_tick() -> impl Strategy<Value = Step> {
    prop_oneof![15 => step(), 1 => Just(Step::Tick)]
}

const NAMES: [&str; 3] = ["purchase", "add_to_cart", "page_view"];

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

const DEFS: [(&str, &str); 14] = [
    ("pro", r#"traits.plan = "pro""#),
    ("frequent", "count(purchase, 7d) >= 2"),
    ("big_spender", "sum(purchase.amount, 30d) > 100"),
    ("lapsed", "last(purchase) < now - 3d"),
    ("abandoned", "seq(add_to_cart, not purchase, 24h)"),
    ("pro_not_lapsed", "in pro and not in lapsed"),
    ("reachable", "has email or count(page_view where amount >= 60, 2d) >= 1"),
    ("mailable", "consent(marketing_email)"),
    ("mailable_pro", "consent(marketing_email) and in pro"),
    ("mailable_late", "consent(marketing_email) and not in mailable_pro"),
    ("active", "active_days(page_view, 3d) >= 2"),
    ("steady", "active_days(purchase, 7d) >= 2 and count(purchase, 7d) >= 3"),
    // Selectors with a filter a declared rollup holds: a page view elsewhere
    // does not re-evaluate them.
    ("pricing", r#"count(page_view where page = "/pricing", 2d) >= 2"#),
    ("priced_out", r#"seq(page_view where page = "/pricing", not purchase, 12h)"#),
];

/// A database at `T0` with half the segments defined up front (maintained
/// live); [`define_rest`] defines the other half (backfilled).
fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    // The model jumps the clock by days and reads the whole feed.
    let db = ProfileDb::builder(dir).clock(clock.clone()).feed_retention(0).max_clock_jump(0).open().unwrap();
    let pricing = RollupDef::new("pricing_views", "page_view", Aggregate::Count).filter(
        "page",
        FilterOp::Eq,
        Literal::Str("/pricing".into()),
    );
    db.declare_rollup(pricing).unwrap();
    for (name, text) in DEFS[..4].iter().chain(&DEFS[7..9]).chain(&DEFS[10..]) {
        db.define_segment(name, text).unwrap();
    }
    (db, clock)
}

fn define_rest(db: &ProfileDb) {
    for (name, text) in DEFS[4..7].iter().chain(&DEFS[9..10]) {
        db.define_segment(name, text).unwrap();
    }
}

/// Applies one step (a tick is the caller's).
fn apply(db: &ProfileDb, clock: &ManualClock, s: &Step) {
    match s {
        Step::Plan(w, pro) => {
            db.update(&user(*w), Update::new().set("plan", if *pro { "pro" } else { "free" })).unwrap();
        }
        Step::Event { who, name, offset_h, amount } => {
            let at = Timestamp(clock.now().0 + offset_h * HOUR);
            let mut e = Event::new(EventKind::Track, NAMES[*name], at, vec![user(*who)]);
            e.properties.insert("amount", *amount);
            e.properties.insert("page", if amount % 3 == 0 { "/pricing" } else { "/docs" });
            db.track(&e).unwrap();
        }
        Step::Link(a, b) => {
            db.identify(&[user(*a), user(*b)], Update::new()).unwrap();
        }
        Step::Email(w) => {
            let email = Identifier::new("email", &format!("p{w}@x.com")).unwrap();
            db.identify(&[user(*w), email], Update::new()).unwrap();
        }
        Step::Advance(h) => clock.advance(h * HOUR),
        Step::Consent(w, kind, h) => {
            let change = match kind {
                0 => ConsentChange::granted("model"),
                1 => ConsentChange::granted_until("model", Timestamp(clock.now().0 + h * HOUR)),
                _ => ConsentChange::withdrawn("model"),
            };
            db.set_consent(&user(*w), "marketing_email", change).unwrap();
        }
        Step::Tick => {}
    }
}

/// Every feed record, by profile and segment: (kind, instant), in feed
/// order (merge records under no segment).
type Changes = BTreeMap<(u32, Option<String>), Vec<(String, i64)>>;

fn changes(db: &ProfileDb) -> Changes {
    let mut out = Changes::new();
    for r in db.feed(0, 1_000_000).unwrap() {
        out.entry((r.profile.0, r.segment)).or_default().push((format!("{:?}", r.kind), r.at.0));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn bitmaps_equal_evaluation_from_scratch_at_every_step(steps in prop::collection::vec(step(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let (db, clock) = open(dir.path());
        for (i, s) in steps.iter().enumerate() {
            apply(&db, &clock, s);
            if i == steps.len() / 2 {
                define_rest(&db);
            }
            db.tick().unwrap();
            let diff = db.check_segments().unwrap();
            prop_assert!(diff.is_empty(), "after step {} ({:?}): {:?}", i, s, diff);
        }
    }

    /// Per profile and segment the feeds agree (the order across segments
    /// may differ: a tick processes wake-ups in due order across profiles
    /// and segments, the late one follows each segment's past wake-ups in
    /// one go).
    #[test]
    fn writes_after_due_instants_record_what_a_tick_first_would(steps in prop::collection::vec(step_or_tick(), 1..40)) {
        let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
        let (reference, c0) = open(dirs[0].path());
        let (late, c1) = open(dirs[1].path());
        for (i, s) in steps.iter().enumerate() {
            apply(&reference, &c0, s);
            apply(&late, &c1, s);
            if i == steps.len() / 2 {
                define_rest(&reference);
                define_rest(&late);
            }
            reference.tick().unwrap();
            if matches!(s, Step::Tick) || i + 1 == steps.len() {
                late.tick().unwrap();
                let diff = late.check_segments().unwrap();
                prop_assert!(diff.is_empty(), "after step {} ({:?}): {:?}", i, s, diff);
                prop_assert_eq!(changes(&late), changes(&reference), "after step {} ({:?})", i, s);
            }
        }
    }
}
