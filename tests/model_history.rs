//! Model-based property test: random operator sequences are applied to the
//! engine and to a plain in-memory model; every version the engine can
//! reconstruct must equal the model's state at that version — traits and
//! consent — across snapshots, reopen and retention.

use std::collections::BTreeMap;
use std::sync::Arc;

use profiledb::privacy::ConsentChange;
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, TraitOp, TraitValue, Update};
use proptest::prelude::*;

mod common;

const NAMES: &[&str] = &["a", "b", "d", "d.e", "d.f", "x.y.z"];

#[derive(Clone, Debug, PartialEq)]
enum M {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<String>),
}

fn to_model(v: &TraitValue) -> M {
    match v {
        TraitValue::Null => M::Null,
        TraitValue::Bool(b) => M::Bool(*b),
        TraitValue::Int(i) => M::Int(*i),
        TraitValue::Float(f) => M::Float(*f),
        TraitValue::Str(s) => M::Str(s.to_string()),
        TraitValue::List(l) => M::List(l.clone()),
        TraitValue::Time(t) => M::Int(t.0),
    }
}

type Model = BTreeMap<String, M>;

fn nesting_ok(m: &Model, name: &str) -> bool {
    m.contains_key(name) || m.keys().all(|k| !k.starts_with(&format!("{name}.")) && !name.starts_with(&format!("{k}.")))
}

/// Applies one operator to the model; `Err` when the engine must refuse it.
fn apply(m: &mut Model, op: &TraitOp) -> Result<(), ()> {
    let name = op.name().to_owned();
    match op {
        TraitOp::Set { value, .. } => {
            if !nesting_ok(m, &name) {
                return Err(());
            }
            m.insert(name, to_model(value));
        }
        TraitOp::SetOnce { value, .. } => {
            if !m.contains_key(&name) {
                if !nesting_ok(m, &name) {
                    return Err(());
                }
                m.insert(name, to_model(value));
            }
        }
        TraitOp::Unset { .. } => {
            m.remove(&name);
        }
        TraitOp::Increment { by, .. } => {
            let next = match (m.get(&name), to_model(by)) {
                (None | Some(M::Null), b) => b,
                (Some(M::Int(a)), M::Int(b)) => M::Int(a.checked_add(b).ok_or(())?),
                (Some(M::Int(a)), M::Float(b)) => M::Float(*a as f64 + b),
                (Some(M::Float(a)), M::Int(b)) => M::Float(a + b as f64),
                (Some(M::Float(a)), M::Float(b)) => M::Float(a + b),
                _ => return Err(()),
            };
            if !nesting_ok(m, &name) {
                return Err(());
            }
            m.insert(name, next);
        }
        TraitOp::AddToSet { values, .. } => {
            let mut l = match m.get(&name) {
                None | Some(M::Null) => Vec::new(),
                Some(M::List(l)) => l.clone(),
                _ => return Err(()),
            };
            for v in values {
                if !l.contains(v) {
                    l.push(v.clone());
                }
            }
            if !nesting_ok(m, &name) {
                return Err(());
            }
            m.insert(name, M::List(l));
        }
        TraitOp::RemoveFromSet { values, .. } => match m.get(&name) {
            None => {}
            Some(M::Null) => {
                m.insert(name, M::List(Vec::new()));
            }
            Some(M::List(l)) => {
                let l = l.iter().filter(|v| !values.contains(v)).cloned().collect();
                m.insert(name, M::List(l));
            }
            _ => return Err(()),
        },
    }
    Ok(())
}

fn value() -> impl Strategy<Value = TraitValue> {
    prop_oneof![
        Just(TraitValue::Null),
        any::<bool>().prop_map(TraitValue::Bool),
        (-5i64..5).prop_map(TraitValue::Int),
        (-5i32..5).prop_map(|i| TraitValue::Float(f64::from(i) / 2.0)),
        "[ab]{0,2}".prop_map(TraitValue::from),
        prop::collection::vec("[abc]", 0..3).prop_map(|mut l| {
            l.dedup();
            let mut seen = Vec::new();
            l.retain(|x| {
                if seen.contains(x) {
                    false
                } else {
                    seen.push(x.clone());
                    true
                }
            });
            TraitValue::List(l)
        }),
    ]
}

fn op() -> impl Strategy<Value = TraitOp> {
    common::versions::trait_op(NAMES, value, 0.5)
}

/// Purpose → state name.
type ConsentModel = BTreeMap<String, &'static str>;

const PURPOSES: &[&str] = &["analytics", "marketing_email", "sms"];

fn snapshot_of(p: &profiledb::Profile) -> (Model, ConsentModel) {
    let traits = p.traits.iter().map(|(k, e)| (k.to_owned(), to_model(&e.value))).collect();
    (traits, p.consent.iter().map(|(k, c)| (k.clone(), c.state.name())).collect())
}

fn consent_change(state: u8) -> ConsentChange {
    match state {
        0 => ConsentChange::granted("model"),
        1 => ConsentChange::denied("model"),
        _ => ConsentChange::withdrawn("model"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_version_reconstructs_like_the_model(
        updates in prop::collection::vec(prop::collection::vec(op(), 0..4), 1..30),
        snapshot_every in 1u64..6,
        reopen_at in 0usize..30,
        horizon_at in 0usize..30,
        consents in prop::collection::vec(prop::option::of((0usize..3, 0u8..3)), 30),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
        let open = || ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(snapshot_every).open().unwrap();
        let mut db = open();
        let who: Identifier = "user_id:model".parse().unwrap();
        let mut model = Model::new();
        let mut consent = ConsentModel::new();
        // versions[v-1] = ((traits, consent), time written)
        let mut versions: Vec<((Model, ConsentModel), Timestamp)> = Vec::new();
        let mut pid = None;
        for (i, ops) in updates.iter().enumerate() {
            if i == reopen_at {
                drop(db);
                db = open();
            }
            clock.advance(10);
            let mut next = model.clone();
            let expect_ok = ops.iter().try_for_each(|op| apply(&mut next, op)).is_ok();
            let got = db.update(&who, Update::from_ops(ops.clone()));
            prop_assert_eq!(got.is_ok(), expect_ok, "ops {:?} on {:?}: {:?}", ops, model, got);
            if let Ok(r) = got {
                pid = Some(r.profile);
                let is_new_version = r.version as usize > versions.len();
                if is_new_version {
                    model = next;
                    versions.push(((model.clone(), consent.clone()), db.now()));
                }
            }
            if let Some((purpose, state)) = consents[i] {
                let r = db.set_consent(&who, PURPOSES[purpose], consent_change(state)).unwrap();
                pid = Some(r.profile);
                let change = consent_change(state);
                consent.insert(PURPOSES[purpose].to_owned(), change.state.name());
                prop_assert_eq!(r.version as usize, versions.len() + 1);
                versions.push(((model.clone(), consent.clone()), db.now()));
            }
            if let Some(p) = db.get(&who).unwrap() {
                prop_assert_eq!(snapshot_of(&p), (model.clone(), consent.clone()));
            }
        }
        let Some(pid) = pid else { return Ok(()) };
        let horizon = Timestamp(1_000 + 10 * horizon_at as i64 + 5);
        let floor = versions.iter().rposition(|(_, t)| *t < horizon).map(|i| i as u64 + 1);
        db.retain_history(horizon).unwrap();
        for (i, (state, _)) in versions.iter().enumerate() {
            let v = i as u64 + 1;
            match db.get_as_of_version(pid, v) {
                Ok(p) => {
                    prop_assert!(floor.is_none_or(|f| v >= f), "v{} readable below floor {:?}", v, floor);
                    prop_assert_eq!(&snapshot_of(&p), state, "version {}", v);
                }
                Err(profiledb::Error::HistoryTruncated { .. }) => prop_assert!(floor.is_some_and(|f| v < f)),
                Err(e) => prop_assert!(false, "version {}: {}", v, e),
            }
        }
    }
}
