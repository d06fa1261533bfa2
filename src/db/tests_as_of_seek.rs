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

/// Deltas read by seeking steps (and story steps taken) while `f` runs.
fn work<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    super::as_of_seek::DELTAS_READ.with(|n| n.set(0));
    super::as_of::STORY_STEPS.with(|n| n.set(0));
    let out = f();
    let read = super::as_of_seek::DELTAS_READ.with(|n| n.replace(0));
    (out, read, super::as_of::STORY_STEPS.with(|n| n.replace(0)))
}

/// A survivor with `n` anonymous ids merged into it, one a "day", with
/// updates of its own in between; the last-but-one merged id and the time
/// just before its merge.
fn survivor_with_merged_ids(db: &ProfileDb, clock: &ManualClock, n: usize) -> (ProfileId, Timestamp) {
    let user = ident(4);
    db.update(&user, Update::new().set("plan", "pro")).expect("user");
    let mut picked = None;
    for k in 0..n {
        clock.advance(100);
        let a: Identifier = format!("anonymous_id:a-{k}").parse().expect("identifier");
        db.update(&a, Update::new().set("page", k as i64)).expect("visit");
        let loser = db.resolve(&a).expect("resolve").expect("a profile");
        let before = clock.now();
        clock.advance(10);
        db.identify(&[a, user.clone()], Update::new()).expect("login");
        db.update(&user, Update::new().increment("logins", 1)).expect("update");
        if k + 2 == n {
            picked = Some((loser, before));
        }
    }
    picked.expect("n >= 2")
}

/// Finding 5 (longevity review): a read of a merged-away id as of before
/// its merge reads as many deltas whether 3 or 200 ids merged into the
/// same survivor (it read a few of every merged id's log before), and
/// answers as the story does.
#[test]
fn reading_a_merged_away_id_does_not_grow_with_the_ids_merged_into_its_survivor() {
    let mut costs = Vec::new();
    for n in [3usize, 200] {
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
        let (loser, before) = survivor_with_merged_ids(&db, &clock, n);
        let view = db.core.store.snapshot();
        let (read, deltas, story) = work(|| profile_at(&view, loser, before).expect("read").expect("exists"));
        assert_eq!(read.id, loser, "its own state before the merge");
        assert_eq!(read.traits.get("page"), Some(&((n - 2) as i64).into()));
        assert_eq!(
            format!("{:?}", Some(read)),
            format!("{:?}", profile_at_by_story(&view, loser, before).expect("story"))
        );
        let after = Timestamp(before.0 + 10);
        let (part, deltas_after, story_after) =
            work(|| super::as_of::part_of_at(&view, loser, after).expect("part of"));
        assert_eq!(part, db.resolve(&ident(4)).expect("resolve").expect("user"), "merged by then");
        assert_eq!(story + story_after, 0, "decided by seeking");
        costs.push((n, deltas, deltas_after));
    }
    eprintln!("deltas read (ids merged, before its merge, after): {costs:?}");
    let (few, many) = (costs[0], costs[1]);
    assert!(
        many.1 <= few.1 + 16 && many.2 <= few.2 + 16,
        "deltas read (ids merged, before its merge, after): {costs:?}"
    );
}

fn truncated(e: Option<&crate::Error>) -> bool {
    matches!(e, Some(crate::Error::HistoryTruncated { .. }))
}

/// Finding 6 (longevity review): a time before the history floor of a
/// live profile is `HistoryTruncated` for `get_as_of_time` from the floor
/// alone — no story, no delta read — as by the story. (Which profile it
/// was part of then, for `was_member`, is still the story's to say.)
#[test]
fn a_time_before_the_history_floor_is_refused_without_reading_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(3).open().expect("open");
    for k in 0..300 {
        clock.advance(10);
        db.update(&ident(4), Update::new().set("a", k).increment("n", 1)).expect("update");
    }
    let p = db.resolve(&ident(4)).expect("resolve").expect("live");
    let horizon = Timestamp(T0 + 2_000);
    assert_eq!(db.retain_history(horizon).expect("retain").profiles_folded, 1);
    let view = db.core.store.snapshot();
    let t = Timestamp(T0 + 1_000);
    let (read, deltas, story) = work(|| profile_at(&view, p, t));
    assert!(truncated(read.as_ref().err()), "{read:?}");
    assert_eq!((deltas, story), (0, 0), "work done");
    assert_eq!(super::as_of::part_of_at(&view, p, t).expect("part of"), p);
    assert!(truncated(profile_at_by_story(&view, p, t).as_ref().err()));
    // Before it was created: it did not exist; after the floor: read.
    assert!(profile_at(&view, p, Timestamp(T0)).expect("before created").is_none());
    let after = profile_at(&view, p, Timestamp(T0 + 2_500)).expect("after the floor").expect("exists");
    assert_eq!(after.traits.get("n"), Some(&250i64.into()));
}

/// Every id's answers (`get_as_of_time`, the profile it was part of) at
/// every instant from `from` to `until`.
fn answers(db: &ProfileDb, from: i64, until: i64) -> Vec<String> {
    let view = db.core.store.snapshot();
    let mut out = Vec::new();
    for x in 0..12u32 {
        for t in from..=until {
            let (id, at) = (ProfileId(x), Timestamp(t));
            let read = match profile_at(&view, id, at) {
                Ok(Some(p)) => format!("{:?} v{} {:?}", p.id, p.version, p.traits),
                Ok(None) => "none".to_owned(),
                Err(e) => format!("{e:?}"),
            };
            let part = super::as_of::part_of_at(&view, id, at);
            out.push(format!("{id:?} at T0+{}: {read}; part of {part:?}", t - T0));
        }
    }
    out
}

/// Runs `steps` on two databases, one whose retention leaves every
/// merged-away id's log as it is, and compares every read from the
/// latest horizon on (every read at all when `all`); how many logs the
/// other folded and dropped.
fn merged_logs_retained_change_no_read(steps: &[(i64, Op)], all: bool) -> Result<(u64, u64), TestCaseError> {
    let mut runs = Vec::new();
    let mut from = T0 - 1;
    for keep in [true, false] {
        super::merged_logs::KEEP_MERGED_LOGS.with(|k| k.set(keep));
        let dir = tempfile::tempdir().expect("tempdir");
        let clock = Arc::new(ManualClock::new(Timestamp(T0)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).snapshot_every(3).open().expect("open");
        let mut latest = T0;
        let mut done = (0, 0);
        for (mv, op) in steps {
            clock.advance(*mv);
            latest = latest.max(clock.now().0);
            if let Op::Retain(back) = op {
                let horizon = clock.now().0 - back;
                from = from.max(horizon);
                if let Ok(r) = db.retain_history(Timestamp(horizon)) {
                    done = (done.0 + r.merged_logs_folded, done.1 + r.merged_logs_dropped);
                }
            } else {
                run(&db, &clock, op);
            }
        }
        let check = db.check().expect("check");
        prop_assert!(check.is_clean(), "{check}");
        runs.push((answers(&db, if all { T0 - 1 } else { from }, latest + 1), done));
    }
    super::merged_logs::KEEP_MERGED_LOGS.with(|k| k.set(false));
    let (kept, retained) = (&runs[0].0, &runs[1].0);
    let diff: Vec<String> =
        kept.iter().zip(retained).filter(|(a, b)| a != b).map(|(a, b)| format!("kept: {a}\nretained: {b}")).collect();
    prop_assert!(diff.is_empty(), "{} differences:\n{}", diff.len(), diff.join("\n"));
    Ok(runs[1].1)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Finding 4 (longevity review): `retain_history` folds the logs of
    /// merged-away ids whose merge is recorded and deletes those nothing
    /// reaches, and every read from the horizon on answers as when they
    /// were kept (`seeking_reads_answer_as_the_story_did` compares the
    /// seeking reads with the story over the folded logs).
    #[test]
    fn retaining_merged_logs_changes_no_read_after_the_horizon(
        steps in prop::collection::vec(
            (prop_oneof![3 => Just(1i64), 2 => Just(0i64), 1 => Just(3i64), 1 => Just(-4i64)], op()),
            1..40,
        ),
    ) {
        merged_logs_retained_change_no_read(&steps, false)?;
    }
}

/// Visitors who log in, a retention past the merges of two of them: their
/// logs are dropped and every read at every time answers as before; the
/// third, merged after the horizon with a delta before it, has its log
/// folded.
#[test]
fn retention_drops_the_logs_of_ids_merged_before_the_horizon() {
    let steps = [
        (1, Op::Update(4, 1)),
        (1, Op::Update(0, 1)),
        (1, Op::Update(0, 2)),
        (1, Op::Identify(0, 4)),
        (1, Op::Update(1, 3)),
        (1, Op::Identify(1, 4)),
        (1, Op::Update(4, 4)),
        (3, Op::Update(2, 5)),
        (1, Op::Identify(2, 4)),
        (1, Op::Update(4, 6)),
        (0, Op::Retain(4)),
    ];
    let done = merged_logs_retained_change_no_read(&steps, true).expect("same reads");
    assert_eq!(done, (0, 2), "x and y merged before the horizon (T0+8), z (its delta at T0+10) after");
    let mut steps = steps.to_vec();
    steps.push((0, Op::Retain(1)));
    let done = merged_logs_retained_change_no_read(&steps, false).expect("same reads after the horizon");
    assert_eq!(done, (1, 2), "then z's log folded at T0+11");
}
