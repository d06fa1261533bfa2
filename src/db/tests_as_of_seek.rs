//! As-of reads by seeking (`as_of_seek`) answer exactly as the reads by
//! every id's whole story did (`as_of::profile_at_by_story`): random
//! updates, merges, unmerges, identifier moves, retention and erasure, in
//! milliseconds of their own, shared, and with the clock stepping back;
//! every id read at every instant.

use std::sync::Arc;

use proptest::prelude::*;

use super::as_of::{profile_at, profile_at_by_story};
use crate::clock::{ManualClock, Timestamp};
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::{ProfileDb, Update};

const T0: i64 = 1_700_000_000_000;
const IDS: &[&str] = &["anonymous_id:x", "anonymous_id:y", "anonymous_id:z", "device_id:w", "user_id:u"];

#[derive(Clone, Debug)]
enum Op {
    Update(usize, i64),
    Identify(usize, usize),
    Unmerge(usize),
    Remove(usize),
    Link(usize, usize),
    /// Retention up to this many milliseconds before now.
    Retain(i64),
    Erase(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let i = 0..IDS.len();
    prop_oneof![
        6 => (i.clone(), 0i64..5).prop_map(|(i, v)| Op::Update(i, v)),
        4 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::Identify(a, b)),
        3 => i.clone().prop_map(Op::Unmerge),
        1 => i.clone().prop_map(Op::Remove),
        1 => (i.clone(), i.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (0i64..20).prop_map(Op::Retain),
        1 => i.prop_map(Op::Erase),
    ]
}

fn ident(i: usize) -> Identifier {
    IDS[i].parse().expect("a valid test identifier")
}

/// Runs `op`; refusals (an unknown identifier, a profile of one id) are
/// part of the game.
fn run(db: &ProfileDb, clock: &ManualClock, op: &Op) {
    let live = |i: usize| db.resolve(&ident(i)).ok().flatten();
    let _ = match op {
        Op::Update(i, v) => db.update(&ident(*i), Update::new().set("a", *v).increment("n", 1)).map(|_| ()),
        Op::Identify(a, b) => db.identify(&[ident(*a), ident(*b)], Update::new().increment("m", 1)).map(|_| ()),
        Op::Unmerge(i) => live(*i).map_or(Ok(()), |p| db.unmerge(p, &ident(*i)).map(|_| ())),
        Op::Remove(i) => live(*i).map_or(Ok(()), |p| db.remove_identifier(p, &ident(*i)).map(|_| ())),
        Op::Link(a, b) => live(*a).map_or(Ok(()), |p| db.link_identifier(p, &ident(*b))),
        Op::Retain(back) => db.retain_history(Timestamp(clock.now().0 - back)).map(|_| ()),
        Op::Erase(i) => db.erase(&ident(*i), Some("r")).map(|_| ()),
    };
}

/// Every id's reads at every instant from before the first write to
/// `until`, by seeking and by story, where they differ.
fn differences(db: &ProfileDb, until: i64) -> Vec<String> {
    let view = db.core.store.snapshot();
    let show = |r: crate::Result<Option<crate::Profile>>| match r {
        Ok(Some(p)) => format!("{:?} v{} {:?}", p.id, p.version, p.traits),
        Ok(None) => "none".to_owned(),
        Err(e) => format!("{e:?}"),
    };
    let mut out = Vec::new();
    for x in 0..12u32 {
        for t in (T0 - 1)..=until {
            let (id, at) = (ProfileId(x), Timestamp(t));
            let (fast, slow) = (show(profile_at(&view, id, at)), show(profile_at_by_story(&view, id, at)));
            if fast != slow {
                out.push(format!("{id:?} at T0+{}: seeking {fast}, story {slow}", t - T0));
            }
        }
    }
    out
}

fn run_and_compare(steps: &[(i64, Op)]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(3).open().expect("open");
    let mut latest = T0;
    for (mv, op) in steps {
        clock.advance(*mv);
        latest = latest.max(clock.now().0);
        run(&db, &clock, op);
    }
    let diff = differences(&db, latest + 1);
    prop_assert!(diff.is_empty(), "{} differences:\n{}", diff.len(), diff.join("\n"));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn seeking_reads_answer_as_the_story_did(
        steps in prop::collection::vec(
            (prop_oneof![3 => Just(1i64), 2 => Just(0i64), 1 => Just(3i64), 1 => Just(-4i64)], op()),
            1..40,
        ),
    ) {
        run_and_compare(&steps)?;
    }
}

/// A long survivor log: the merged-away id's merge is found after
/// thousands of the survivor's deltas, and reads of every kind agree.
#[test]
fn a_merged_away_id_reads_as_the_story_did_with_a_long_survivor_log() {
    let mut steps = vec![(0, Op::Update(4, 1)), (1, Op::Update(0, 1))];
    steps.extend((0..300).map(|k| (k % 2, Op::Update(4, k))));
    steps.extend([(1, Op::Identify(4, 0)), (1, Op::Update(1, 2)), (1, Op::Identify(1, 4))]);
    steps.extend((0..300).map(|k| (k % 2, Op::Update(4, k))));
    steps.extend([(1, Op::Unmerge(0)), (0, Op::Identify(0, 4))]);
    steps.extend((0..50).map(|k| (1, Op::Update(0, k))));
    run_and_compare(&steps).expect("same answers");
}

/// Without retention or erasure, seeking decides every step: no read of
/// a merged-away or split-off id falls back to its story.
#[test]
fn seeking_decides_every_step_when_no_merge_is_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(3).open().expect("open");
    let steps = [
        (1, Op::Update(4, 1)),
        (1, Op::Update(0, 1)),
        (1, Op::Update(1, 1)),
        (1, Op::Identify(4, 0)),
        (0, Op::Update(4, 2)),
        (1, Op::Identify(1, 2)),
        (1, Op::Identify(4, 2)),
        (1, Op::Unmerge(0)),
        (0, Op::Identify(0, 3)),
        (1, Op::Unmerge(1)),
        (0, Op::Identify(1, 0)),
        (1, Op::Update(3, 5)),
    ];
    for (mv, op) in &steps {
        clock.advance(*mv);
        run(&db, &clock, op);
    }
    let view = db.core.store.snapshot();
    // Ids never given to a profile are for the story to refuse.
    let ids: Vec<ProfileId> =
        (0..12).map(ProfileId).filter(|x| profile_at(&view, *x, clock.now()).is_ok_and(|p| p.is_some())).collect();
    assert!(ids.len() >= 3, "{ids:?}");
    super::as_of::STORY_STEPS.with(|n| n.set(0));
    let mut by_story = Vec::new();
    for x in &ids {
        for t in (T0 - 1)..=clock.now().0 + 1 {
            let _ = profile_at(&view, *x, Timestamp(t));
            if super::as_of::STORY_STEPS.with(|n| n.replace(0)) > 0 {
                by_story.push((*x, t - T0));
            }
        }
    }
    assert!(by_story.is_empty(), "read by story: {by_story:?}");
    assert!(differences(&db, clock.now().0 + 1).is_empty());
}
