//! Helpers of the delta-versioning tests (`tests/versions_model.rs`,
//! `tests/review_versions.rs`): databases on a manual clock, trait maps,
//! and random identity operations.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use profiledb::{ManualClock, Profile, ProfileDb, Timestamp, TraitOp, TraitValue, Update};
use proptest::prelude::*;

use super::id;

/// The clock's start.
pub const T0: i64 = 1_700_000_000_000;

pub fn open_with(dir: &Path, snapshot_every: Option<u64>) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let mut b = ProfileDb::builder(dir).clock(clock.clone());
    if let Some(n) = snapshot_every {
        b = b.snapshot_every(n);
    }
    (b.open().expect("open"), clock)
}

pub fn reopen(dir: &Path, snapshot_every: Option<u64>, clock: &Arc<ManualClock>) -> ProfileDb {
    let mut b = ProfileDb::builder(dir).clock(clock.clone());
    if let Some(n) = snapshot_every {
        b = b.snapshot_every(n);
    }
    b.open().expect("reopen")
}

pub fn traits_of(p: &Profile) -> BTreeMap<String, TraitValue> {
    p.traits.iter().map(|(k, e)| (k.to_owned(), e.value.clone())).collect()
}

pub fn tv<const N: usize>(items: [(&str, TraitValue); N]) -> BTreeMap<String, TraitValue> {
    items.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

#[derive(Clone, Debug)]
pub enum IdOp {
    Update(usize, &'static str, i64),
    Identify(usize, usize),
    Unmerge(usize),
    Remove(usize),
    Link(usize, usize),
}

pub const IDS: &[&str] = &["anonymous_id:x", "anonymous_id:y", "anonymous_id:z", "device_id:w"];

pub fn id_op() -> impl Strategy<Value = IdOp> {
    let i = 0..IDS.len();
    prop_oneof![
        4 => (i.clone(), prop::sample::select(vec!["a", "b", "c"]), 0i64..5).prop_map(|(i, k, v)| IdOp::Update(i, k, v)),
        3 => (i.clone(), i.clone()).prop_map(|(a, b)| IdOp::Identify(a, b)),
        2 => i.clone().prop_map(IdOp::Unmerge),
        1 => i.clone().prop_map(IdOp::Remove),
        1 => (i.clone(), i).prop_map(|(a, b)| IdOp::Link(a, b)),
    ]
}

pub fn run_id_op(db: &ProfileDb, op: &IdOp) {
    let ident = |i: usize| id(IDS[i]);
    let live = |i: usize| db.resolve(&ident(i)).unwrap();
    let _ = match op {
        IdOp::Update(i, k, v) => db.update(&ident(*i), Update::new().set(k, *v)).map(|_| ()),
        IdOp::Identify(a, b) => db.identify(&[ident(*a), ident(*b)], Update::new().increment("n", 1)).map(|_| ()),
        IdOp::Unmerge(i) => match live(*i) {
            Some(p) => db.unmerge(p, &ident(*i)).map(|_| ()),
            None => Ok(()),
        },
        IdOp::Remove(i) => match live(*i) {
            Some(p) => db.remove_identifier(p, &ident(*i)).map(|_| ()),
            None => Ok(()),
        },
        IdOp::Link(a, b) => match live(*a) {
            Some(p) => db.link_identifier(p, &ident(*b)).map(|_| ()),
            None => Ok(()),
        },
    };
}

/// Random trait operators on `names`: values from `value`, increments by a
/// small integer or by `fraction`, list operators on `a`–`c`.
pub fn trait_op<V: Strategy<Value = TraitValue>>(
    names: &'static [&'static str],
    value: impl Fn() -> V,
    fraction: f64,
) -> impl Strategy<Value = TraitOp> {
    let name = prop::sample::select(names).prop_map(str::to_owned);
    let strs = prop::collection::vec("[abc]", 1..3);
    prop_oneof![
        3 => (name.clone(), value()).prop_map(|(name, value)| TraitOp::Set { name, value }),
        1 => (name.clone(), value()).prop_map(|(name, value)| TraitOp::SetOnce { name, value }),
        1 => name.clone().prop_map(|name| TraitOp::Unset { name }),
        2 => (name.clone(), prop_oneof![(-3i64..3).prop_map(TraitValue::Int), Just(TraitValue::Float(fraction))])
            .prop_map(|(name, by)| TraitOp::Increment { name, by }),
        1 => (name.clone(), strs.clone()).prop_map(|(name, values)| TraitOp::AddToSet { name, values }),
        1 => (name, strs).prop_map(|(name, values)| TraitOp::RemoveFromSet { name, values }),
    ]
}
