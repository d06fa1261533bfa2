//! Delta-versioned traits against a from-scratch model (a review as an
//! application developer): every version and every as-of-time read of
//! scripted and random histories, retention, a long history, bad input.

use std::collections::BTreeMap;
use std::time::Instant;

use profiledb::{
    Error, Identifier, ManualClock, Profile, ProfileDb, ProfileId, Timestamp, TraitOp, TraitValue, Update,
};
use proptest::prelude::*;

mod common;
use common::id;
use common::versions::{open_with, reopen, T0};

// ---------------------------------------------------------------- model

#[derive(Clone, Debug, PartialEq)]
struct MEntry {
    value: TraitValue,
    at: i64,
}

type MState = BTreeMap<String, MEntry>;

/// One profile's history in the model: the state after each delta, with
/// the delta's time.
#[derive(Clone, Debug, Default)]
struct Model {
    created: i64,
    versions: Vec<(i64, MState)>,
}

fn nesting_ok(m: &MState, name: &str) -> bool {
    m.contains_key(name) || m.keys().all(|k| !k.starts_with(&format!("{name}.")) && !name.starts_with(&format!("{k}.")))
}

fn m_insert(m: &mut MState, name: &str, value: TraitValue, at: i64) -> Result<(), ()> {
    if !nesting_ok(m, name) {
        return Err(());
    }
    m.insert(name.to_owned(), MEntry { value, at });
    Ok(())
}

fn m_apply(m: &mut MState, op: &TraitOp, at: i64) -> Result<(), ()> {
    let name = op.name();
    match op {
        TraitOp::Set { value, .. } => m_insert(m, name, value.clone(), at),
        TraitOp::SetOnce { value, .. } => {
            if m.contains_key(name) {
                Ok(())
            } else {
                m_insert(m, name, value.clone(), at)
            }
        }
        TraitOp::Unset { .. } => {
            m.remove(name);
            Ok(())
        }
        TraitOp::Increment { by, .. } => {
            let next = match (m.get(name).map(|e| &e.value), by) {
                (None | Some(TraitValue::Null), b) => b.clone(),
                (Some(TraitValue::Int(a)), TraitValue::Int(b)) => TraitValue::Int(a.checked_add(*b).ok_or(())?),
                (Some(TraitValue::Int(a)), TraitValue::Float(b)) => TraitValue::Float(*a as f64 + b),
                (Some(TraitValue::Float(a)), TraitValue::Int(b)) => TraitValue::Float(a + *b as f64),
                (Some(TraitValue::Float(a)), TraitValue::Float(b)) => TraitValue::Float(a + b),
                _ => return Err(()),
            };
            if let TraitValue::Float(f) = next {
                if !f.is_finite() {
                    return Err(());
                }
            }
            m_insert(m, name, next, at)
        }
        TraitOp::AddToSet { values, .. } => {
            let mut l = match m.get(name).map(|e| &e.value) {
                None | Some(TraitValue::Null) => Vec::new(),
                Some(TraitValue::List(l)) => l.clone(),
                _ => return Err(()),
            };
            for v in values {
                if !l.contains(v) {
                    l.push(v.clone());
                }
            }
            m_insert(m, name, TraitValue::List(l), at)
        }
        TraitOp::RemoveFromSet { values, .. } => match m.get(name).map(|e| e.value.clone()) {
            None => Ok(()),
            Some(TraitValue::Null) => m_insert(m, name, TraitValue::List(Vec::new()), at),
            Some(TraitValue::List(l)) => {
                let l = l.into_iter().filter(|v| !values.contains(v)).collect();
                m_insert(m, name, TraitValue::List(l), at)
            }
            Some(_) => Err(()),
        },
    }
}

impl Model {
    fn latest(&self) -> MState {
        self.versions.last().map(|(_, s)| s.clone()).unwrap_or_default()
    }
    fn last_at(&self) -> Option<i64> {
        self.versions.last().map(|(t, _)| *t)
    }
    /// The delta time of the next write at clock `now`.
    fn next_at(&self, now: i64) -> i64 {
        self.last_at().map_or(now, |t| t.max(now))
    }
    /// Applies an update written at clock `now`; `Err` when the engine must
    /// refuse it (nothing recorded then). `Ok(false)`: no delta expected.
    fn apply(&mut self, ops: &[TraitOp], now: i64) -> Result<bool, ()> {
        if ops.is_empty() && !self.versions.is_empty() {
            return Ok(false);
        }
        let at = self.next_at(now);
        let mut s = self.latest();
        for op in ops {
            m_apply(&mut s, op, at)?;
        }
        if self.versions.is_empty() {
            self.created = now;
        }
        self.versions.push((at, s));
        Ok(true)
    }
    /// The version current at `t` (0: none yet).
    fn version_at(&self, t: i64) -> u64 {
        if self.versions.is_empty() || t < self.created {
            return 0;
        }
        self.versions.iter().take_while(|(at, _)| *at <= t).count() as u64
    }
}

fn engine_state(p: &Profile) -> MState {
    p.traits.iter().map(|(k, e)| (k.to_owned(), MEntry { value: e.value.clone(), at: e.updated_at.0 })).collect()
}

/// Every version and every interesting instant of `p` against the model.
fn verify(db: &ProfileDb, p: ProfileId, m: &Model, label: &str) {
    let n = m.versions.len() as u64;
    let cur = db.get_by_id(p).unwrap().expect("live");
    assert_eq!(cur.version, n, "{label}: latest version");
    assert_eq!(engine_state(&cur), m.latest(), "{label}: current traits");
    for v in 1..=n {
        let got = db.get_as_of_version(p, v).unwrap_or_else(|e| panic!("{label}: version {v}: {e}"));
        let (at, want) = &m.versions[v as usize - 1];
        assert_eq!(got.version, v, "{label}: version {v} number");
        assert_eq!(engine_state(&got), *want, "{label}: version {v} traits");
        assert_eq!(got.updated_at.0, *at, "{label}: version {v} updated_at");
        assert_eq!(got.created_at.0, m.created, "{label}: version {v} created_at");
    }
    let mut times: Vec<i64> = m.versions.iter().flat_map(|(t, _)| [*t - 1, *t, *t + 1]).collect();
    times.push(m.created - 1);
    times.push(i64::MAX);
    times.sort_unstable();
    times.dedup();
    for t in times {
        let want = m.version_at(t);
        let got = db.get_as_of_time(p, Timestamp(t)).unwrap_or_else(|e| panic!("{label}: as of {t}: {e}"));
        match (want, got) {
            (0, None) => {}
            (0, Some(g)) => panic!("{label}: as of {t}: expected no profile, got version {}", g.version),
            (v, None) => panic!("{label}: as of {t}: expected version {v}, got none"),
            (v, Some(g)) => {
                assert_eq!(g.version, v, "{label}: as of {t}: version");
                assert_eq!(engine_state(&g), m.versions[v as usize - 1].1, "{label}: as of {t}: traits");
            }
        }
    }
    // The history listing: one delta per version, its time and operators.
    let h = db.history(p).unwrap();
    assert_eq!(h.len() as u64, n, "{label}: history length");
    for (d, (at, _)) in h.iter().zip(&m.versions) {
        assert_eq!(d.at.0, *at, "{label}: delta {} time", d.version);
    }
}

/// A profile driven through the engine and the model side by side.
struct Driver<'a> {
    db: &'a ProfileDb,
    clock: &'a ManualClock,
    ident: Identifier,
    model: Model,
    profile: Option<ProfileId>,
}

impl<'a> Driver<'a> {
    fn new(db: &'a ProfileDb, clock: &'a ManualClock, ident: &str) -> Self {
        Driver { db, clock, ident: id(ident), model: Model::default(), profile: None }
    }

    fn step(&mut self, ops: Vec<TraitOp>) {
        let now = self.clock.now().0;
        // `Model::apply` records nothing when it refuses.
        let expect = self.model.apply(&ops, now);
        let r = self.db.update(&self.ident, Update::from_ops(ops.clone()));
        match (expect, r) {
            (Ok(_), Ok(r)) => {
                self.profile = Some(r.profile);
                assert_eq!(r.version, self.model.versions.len() as u64, "receipt version after {ops:?}");
            }
            (Err(()), Err(_)) => {
                if let Some(p) = self.profile {
                    let cur = self.db.get_by_id(p).unwrap().unwrap();
                    assert_eq!(cur.version, self.model.versions.len() as u64, "refused {ops:?} wrote a version");
                }
            }
            (Ok(_), Err(e)) => panic!("engine refused {ops:?} the model accepts: {e}"),
            (Err(()), Ok(r)) => panic!("engine accepted {ops:?} (version {}) the model refuses", r.version),
        }
    }
}

fn set(n: &str, v: impl Into<TraitValue>) -> TraitOp {
    TraitOp::Set { name: n.into(), value: v.into() }
}
fn set_once(n: &str, v: impl Into<TraitValue>) -> TraitOp {
    TraitOp::SetOnce { name: n.into(), value: v.into() }
}
fn unset(n: &str) -> TraitOp {
    TraitOp::Unset { name: n.into() }
}
fn inc(n: &str, by: impl Into<TraitValue>) -> TraitOp {
    TraitOp::Increment { name: n.into(), by: by.into() }
}
fn add(n: &str, v: &[&str]) -> TraitOp {
    TraitOp::AddToSet { name: n.into(), values: v.iter().map(|s| s.to_string()).collect() }
}
fn remove(n: &str, v: &[&str]) -> TraitOp {
    TraitOp::RemoveFromSet { name: n.into(), values: v.iter().map(|s| s.to_string()).collect() }
}

/// A fixed script through every operator, nesting, type changes, nulls,
/// timestamps, refused updates, same-millisecond writes and a clock that
/// steps back.
fn script(d: &mut Driver<'_>) {
    let c = d.clock;
    d.step(vec![set("plan", "free"), set("address.city", "Oslo"), inc("logins", 1)]);
    c.advance(10);
    d.step(vec![set_once("plan", "pro"), set_once("first_source", "ads"), inc("logins", 2)]);
    d.step(vec![inc("logins", 0.5), add("tags", &["a", "b"])]); // same millisecond
    d.step(vec![add("tags", &["b", "c"]), remove("tags", &["a", "zz"])]); // same millisecond
    c.advance(1);
    d.step(vec![set("plan", TraitValue::Null), set("seen", Timestamp(T0 - 5))]);
    c.advance(5);
    d.step(vec![inc("plan", 3)]); // null counts as 0
    d.step(vec![set("plan", "x"), inc("plan", 1)]); // refused: increment on a string
    d.step(vec![set("address", 1)]); // refused: address.city nests under it
    d.step(vec![set("logins.x", 1)]); // refused: logins is a value
    d.step(vec![unset("address.city"), set("address", true)]); // allowed: unset first
    c.advance(7);
    d.step(vec![set("address.zip", "0150")]); // refused: address is a value now
    d.step(vec![set("plan", vec!["p".to_string()]), remove("plan", &["p"])]);
    c.set(Timestamp(T0 - 1_000)); // the clock steps back
    d.step(vec![set("back", 1)]);
    d.step(vec![remove("nothing", &["a"])]); // absent: no-op, still a delta
    c.set(Timestamp(T0 + 50));
    d.step(vec![add("n", &["x"]), set("plan", TraitValue::Null), remove("plan", &["q"])]);
    d.step(vec![inc("f", 1.5), inc("f", -1.5), inc("i", i64::MAX)]);
    d.step(vec![inc("i", 1)]); // refused: overflow
    d.step(vec![unset("plan"), unset("never_there")]);
    d.step(vec![]); // no operators on an existing profile: no delta
    c.advance(1);
    d.step(vec![set("back", "now a string"), set("x.y.z", 1), set("x.y.w", 2.25)]);
}

/// A database (snapshots every `every` deltas) that ran [`script`] on one
/// profile: the profile and the model's history of it.
fn scripted(every: Option<u64>) -> (tempfile::TempDir, ProfileDb, std::sync::Arc<ManualClock>, ProfileId, Model) {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), every);
    let (p, model) = {
        let mut d = Driver::new(&db, &clock, "user_id:ann");
        script(&mut d);
        (d.profile.unwrap(), d.model.clone())
    };
    (dir, db, clock, p, model)
}

#[test]
fn every_version_and_instant_of_a_scripted_history_matches_the_model() {
    for every in [Some(1), Some(2), Some(7), None] {
        let (dir, db, clock, p, model) = scripted(every);
        verify(&db, p, &model, &format!("snapshot_every {every:?}"));
        drop(db);
        let db = reopen(dir.path(), every, &clock);
        verify(&db, p, &model, &format!("snapshot_every {every:?}, reopened"));
        // Reopened with another frequency: the same answers.
        drop(db);
        let db = reopen(dir.path(), Some(3), &clock);
        verify(&db, p, &model, &format!("snapshot_every {every:?}, reopened with 3"));
    }
}

#[test]
fn out_of_range_versions_and_times_are_clear_errors_or_none() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(2));
    let p = db.update(&id("user_id:a"), Update::new().set("x", 1)).unwrap().profile;
    clock.advance(5);
    db.update(&id("user_id:a"), Update::new().set("x", 2)).unwrap();
    for v in [0, 3, 4, u64::MAX] {
        match db.get_as_of_version(p, v) {
            Err(Error::NotFound(msg)) => assert!(msg.what.contains("1..=2"), "version {v}: {msg}"),
            other => panic!("version {v}: {other:?}"),
        }
    }
    for t in [i64::MIN, -1, 0, T0 - 1] {
        assert_eq!(db.get_as_of_time(p, Timestamp(t)).unwrap(), None, "as of {t}");
    }
    assert_eq!(db.get_as_of_time(p, Timestamp(i64::MAX)).unwrap().unwrap().version, 2);
    for missing in [ProfileId(7), ProfileId(u32::MAX)] {
        assert!(matches!(db.get_as_of_version(missing, 1), Err(Error::NotFound(_))), "{missing:?}");
        let r = db.get_as_of_time(missing, Timestamp(T0));
        assert!(matches!(r, Err(Error::NotFound(_))), "{missing:?} as of time: {r:?}");
        assert!(matches!(db.history(missing), Err(Error::NotFound(_))), "{missing:?} history");
    }
}

// ----------------------------------------------------------- proptest

const NAMES: &[&str] = &["a", "b", "a.b", "a.c", "x.y.z", "x", "x.y", "t"];

fn value() -> impl Strategy<Value = TraitValue> {
    prop_oneof![
        Just(TraitValue::Null),
        any::<bool>().prop_map(TraitValue::Bool),
        (-3i64..3).prop_map(TraitValue::Int),
        (-3i32..3).prop_map(|i| TraitValue::Float(f64::from(i) / 4.0)),
        "[ab]{0,2}".prop_map(TraitValue::from),
        (0i64..3).prop_map(|t| TraitValue::Time(Timestamp(T0 + t))),
        prop::collection::btree_set("[abc]", 0..3).prop_map(|s| TraitValue::List(s.into_iter().collect())),
    ]
}

fn op() -> impl Strategy<Value = TraitOp> {
    common::versions::trait_op(NAMES, value, 0.25)
}

/// A clock move before a step: forward, none, or back.
fn clock_move() -> impl Strategy<Value = i64> {
    prop_oneof![3 => Just(0i64), 3 => 1i64..20, 1 => -50i64..0]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_histories_read_back_exactly_at_every_version_and_instant(
        steps in prop::collection::vec((clock_move(), prop::collection::vec(op(), 0..4)), 1..25),
        every in prop::sample::select(vec![1u64, 2, 7, 32]),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (db, clock) = open_with(dir.path(), Some(every));
        let mut d = Driver::new(&db, &clock, "user_id:p");
        for (mv, ops) in steps {
            clock.advance(mv);
            d.step(ops);
        }
        if let Some(p) = d.profile {
            let model = d.model.clone();
            verify(&db, p, &model, &format!("every {every}"));
            drop(d);
            drop(db);
            let db = reopen(dir.path(), Some(every), &clock);
            verify(&db, p, &model, &format!("every {every} reopened"));
        }
    }
}

// -------------------------------------------------------------- retention

/// After `retain_history`, every version from the floor on still equals the
/// model, older ones and times before the floor are `HistoryTruncated`.
#[test]
fn retained_history_reads_the_model_from_the_floor_and_refuses_before() {
    for every in [Some(1), Some(2), Some(7), None] {
        let (_dir, db, _clock, p, model) = scripted(every);
        // Fold the deltas strictly before the 6th delta's time.
        let horizon = model.versions[5].0;
        db.retain_history(Timestamp(horizon)).unwrap();
        let floor = model.versions.iter().filter(|(t, _)| *t < horizon).count() as u64;
        assert_eq!(db.history_floor(p).unwrap(), floor);
        let floor_at = model.versions[floor as usize - 1].0;
        for v in 1..=model.versions.len() as u64 {
            let r = db.get_as_of_version(p, v);
            if v < floor {
                assert!(matches!(r, Err(Error::HistoryTruncated { .. })), "every {every:?} v{v}: {r:?}");
            } else {
                assert_eq!(engine_state(&r.unwrap()), model.versions[v as usize - 1].1, "every {every:?} v{v}");
            }
        }
        for t in model.versions.iter().map(|(t, _)| *t) {
            let r = db.get_as_of_time(p, Timestamp(t));
            if t < floor_at {
                assert!(matches!(r, Err(Error::HistoryTruncated { .. })), "every {every:?} at {t}: {r:?}");
            } else {
                let v = model.version_at(t);
                let g = r.unwrap().unwrap();
                assert_eq!((g.version, engine_state(&g)), (v, model.versions[v as usize - 1].1.clone()));
            }
        }
    }
}

// ------------------------------------------------------------------- scale

#[test]
fn a_long_history_reads_back_exactly_and_reports_timings() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let mut d = Driver::new(&db, &clock, "user_id:big");
    let n: usize = std::env::var("REVIEW_HISTORY_LEN").ok().and_then(|v| v.parse().ok()).unwrap_or(3_000);
    let t = Instant::now();
    for i in 0..n {
        if i % 3 == 0 {
            clock.advance(1);
        }
        let ops = match i % 5 {
            0 => vec![inc("n", 1)],
            1 => vec![set(&format!("k{}", i % 50), i as i64)],
            2 => vec![add("tags", &[["a", "b", "c", "d"][i % 4]])],
            3 => vec![remove("tags", &[["a", "b", "c", "d"][(i + 1) % 4]])],
            _ => vec![unset(&format!("k{}", (i + 7) % 50))],
        };
        d.step(ops);
    }
    eprintln!("{n} updates: {:?}", t.elapsed());
    let p = d.profile.unwrap();
    let model = d.model.clone();
    let t = Instant::now();
    for v in (1..=n as u64).step_by(n / 31).chain([n as u64 - 1, 1]) {
        assert_eq!(engine_state(&db.get_as_of_version(p, v).unwrap()), model.versions[v as usize - 1].1, "v{v}");
    }
    eprintln!("~33 as-of-version reads: {:?}", t.elapsed());
    let t = Instant::now();
    let mut reads = 0;
    for i in (0..n).step_by(n / 20) {
        let at = model.versions[i].0;
        let v = model.version_at(at);
        let g = db.get_as_of_time(p, Timestamp(at)).unwrap().unwrap();
        assert_eq!((g.version, engine_state(&g)), (v, model.versions[v as usize - 1].1.clone()));
        reads += 1;
    }
    let el = t.elapsed();
    eprintln!("{reads} as-of-time reads: {el:?} ({:?} each)", el / reads);
    let t = Instant::now();
    assert_eq!(db.history(p).unwrap().len(), n);
    eprintln!("history(): {:?}", t.elapsed());
}

// --------------------------------------------------------------- bad input

#[test]
fn bad_updates_are_clear_errors_and_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open_with(dir.path(), None);
    let ann = id("user_id:ann");
    let p = db.update(&ann, Update::new().set("a", 1).set("s", "x").set("n.m", 1)).unwrap().profile;
    let long = "x".repeat(257);
    let cases: Vec<(Update, &str)> = vec![
        (Update::new().set("", 1), "empty"),
        (Update::new().set("a..b", 1), "a..b"),
        (Update::new().set("a b", 1), "a b"),
        (Update::new().set(".a", 1), ".a"),
        (Update::new().set(&long, 1), "257"),
        (Update::new().set("ok", 1).set("a.b", 2), "\"a\""),
        (Update::new().set("c", 1).set("c.d", 2), "\"c\""),
        (Update::new().set("e.f", 1).set("e", 2), "e.f"),
        (Update::new().set("n", 1), "n.m"),
        (Update::new().set("big", "y".repeat(64 * 1024 + 1)), "65537"),
        (Update::new().set("l", vec!["z".to_string(); 1001]), "1001"),
        (Update::new().add_to_set("l", vec!["w".repeat(64 * 1024 + 1)]), "65537"),
        (Update::new().set("f", f64::NAN), "finite"),
        (Update::new().increment("f", f64::INFINITY), "finite"),
        (Update::new().increment("s", 1), "increment"),
        (Update::new().add_to_set("a", ["q"]), "add_to_set"),
        (Update::new().set("t", Timestamp(i64::MAX)), "9999"),
        (Update::new().set("ok2", 1).increment("a", i64::MAX).increment("a", 1), "overflow"),
        ((0..1001).fold(Update::new(), |u, i| u.set(&format!("m{i}"), 1)), "1000"),
    ];
    let before = db.raw_dump().unwrap();
    for (u, needle) in cases {
        let err = db.update(&ann, u.clone()).expect_err(&format!("{:?}", u.ops().first()));
        let msg = err.to_string();
        assert!(msg.contains(needle), "error for {:?} does not say {needle:?}: {msg}", u.ops().first());
        eprintln!("{msg:.200}");
        assert_eq!(db.get_by_id(p).unwrap().unwrap().version, 1);
    }
    assert_eq!(db.history(p).unwrap().len(), 1);
    let after = db.raw_dump().unwrap();
    assert!(before == after, "a refused update changed the stored data");
}

/// `update` with no operators on an existing profile writes no delta;
/// `update_by_id` with no operators writes one. The README says one
/// `Update` is one delta.
#[test]
fn an_empty_update_versions_the_same_way_by_identifier_and_by_id() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open_with(dir.path(), None);
    let p = db.update(&id("user_id:a"), Update::new().set("x", 1)).unwrap().profile;
    let by_ident = db.update(&id("user_id:a"), Update::new()).unwrap().version;
    let by_id = db.update_by_id(p, Update::new()).unwrap().version;
    eprintln!("empty update: by identifier -> v{by_ident}, by id -> v{by_id}");
    assert_eq!(by_ident - 1, by_id - by_ident, "an empty update by identifier and by id must version alike");
}
