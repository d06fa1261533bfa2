//! As-of-time reads through merges and unmerges, from the versions review:
//! an unmerge and a re-merge in one millisecond, erasing a former
//! survivor, merges and unmerges after the clock stepped back, and random
//! merges and unmerges checked against the invariants of as-of reads.

use std::collections::BTreeMap;

use profiledb::{Change, Error, ProfileDb, ProfileId, Timestamp, TraitValue, Update};
use proptest::prelude::*;

mod common;
use common::id;
use common::versions::{id_op, open_with, run_id_op, traits_of, tv, IdOp, T0};

// ---------------------------------------------------------- same millisecond

/// An unmerge and a re-merge within one millisecond (the merge itself
/// earlier): the merged-away id still reads back at every instant, before
/// or after. (Found: every read failed with `HistoryTruncated`, floor 0,
/// though no retention ever ran: the split was taken to follow the
/// re-merge of its own millisecond.)
#[test]
fn unmerge_then_remerge_in_one_millisecond_keeps_as_of_time_reads_working() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("a", 1)).unwrap().profile; // T0
    clock.advance(10);
    let l = db.update(&l_id, Update::new().set("b", 2)).unwrap().profile; // T0+10
    clock.advance(10);
    db.identify(&[s_id.clone(), l_id.clone()], Update::new()).unwrap(); // T0+20
    clock.advance(10);
    let t = clock.now(); // T0+30
    db.unmerge(s, &l_id).unwrap();
    db.identify(&[s_id.clone(), l_id.clone()], Update::new()).unwrap(); // same millisecond
    assert_eq!(db.get_by_id(l).unwrap().unwrap().id, s);
    clock.advance(10);
    let mut failures = Vec::new();
    for (what, at, want) in [
        ("before it existed", T0 + 5, None),
        ("its own, before the first merge", T0 + 15, Some(l)),
        ("merged the first time", T0 + 25, Some(s)),
        ("after the re-merge", t.0, Some(s)),
        ("later", t.0 + 5, Some(s)),
    ] {
        match db.get_as_of_time(l, Timestamp(at)) {
            Ok(p) if p.as_ref().map(|p| p.id) == want => {}
            other => failures.push(format!("{what} (T0+{}): {other:?}", at - T0)),
        }
    }
    assert!(failures.is_empty(), "as-of-time reads of {l:?}:\n{}", failures.join("\n"));
}

/// A profile merged into another and split off again reads as the other
/// while it was merged, though it is live now (an as-of read of a live
/// profile reads only its own log unless a split follows).
#[test]
fn a_split_off_profile_reads_as_its_survivor_while_it_was_merged() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("a", 1)).unwrap().profile; // T0
    clock.advance(1);
    let l = db.update(&l_id, Update::new().set("b", 2)).unwrap().profile; // T0+1
    clock.advance(1);
    db.identify(&[s_id.clone(), l_id.clone()], Update::new()).unwrap(); // T0+2
    clock.advance(2);
    db.unmerge(s, &l_id).unwrap(); // T0+4
    let read = |t: i64| db.get_as_of_time(l, Timestamp(T0 + t)).unwrap().map(|p| (p.id, traits_of(&p)));
    assert_eq!(read(1), Some((l, tv([("b", 2.into())]))));
    assert_eq!(read(3), Some((s, tv([("a", 1.into()), ("b", 2.into())]))));
    assert_eq!(read(4), Some((l, tv([("b", 2.into())]))));
}

// ------------------------------------------------------------------- erase

/// A profile merged into another and split off again; then the other is
/// erased. Its own past (before the merge, still in its own log) must stay
/// readable by time, and before it existed it reads as nothing — not
/// `HistoryTruncated` "folded by retention" (no retention ran).
#[test]
fn erasing_a_former_survivor_keeps_the_split_off_profiles_own_past_readable() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let (y, x) = (id("anonymous_id:y"), id("anonymous_id:x"));
    let s = db.update(&y, Update::new().set("plan", "gold")).unwrap().profile; // T0
    clock.advance(1);
    let p = db.update(&x, Update::new().set("a", 1)).unwrap().profile; // T0+1
    clock.advance(1);
    db.identify(&[x.clone(), y.clone()], Update::new()).unwrap(); // T0+2: p merges into s
    clock.advance(1);
    db.unmerge(s, &x).unwrap(); // T0+3: p split off again
    clock.advance(1);
    let before: Vec<_> = [T0, T0 + 1, T0 + 4]
        .iter()
        .map(|t| db.get_as_of_time(p, Timestamp(*t)).map(|o| o.map(|q| (q.id, traits_of(&q)))))
        .collect();
    eprintln!("before the erase: {before:?}");
    db.erase(&y, Some("r")).unwrap(); // T0+4
    assert_eq!(traits_of(&db.get_as_of_version(p, 1).unwrap()), tv([("a", 1.into())]), "by version it works");
    let mut failures = Vec::new();
    for (t, want) in [(T0, None), (T0 + 1, Some(tv([("a", 1.into())]))), (T0 + 4, Some(tv([("a", 1.into())])))] {
        match db.get_as_of_time(p, Timestamp(t)) {
            Ok(got) if got.as_ref().map(traits_of) == want => {}
            other => failures.push(format!("as of T0+{}: {other:?}", t - T0)),
        }
    }
    assert!(failures.is_empty(), "{p:?} after erasing {s:?}:\n{}", failures.join("\n"));
}

// ------------------------------------------------------- clock stepping back

/// The clock steps back between the loser's last write and the merge: the
/// merge must not be timed before the loser's own history (a version would
/// hold a trait written after it, and the merged-away id would read as
/// merged at a time its own history says it did not exist yet).
#[test]
fn a_merge_after_the_clock_stepped_back_is_not_timed_before_the_losers_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let s = db.update(&id("user_id:s"), Update::new().set("a", 1)).unwrap().profile; // T0
    clock.set(Timestamp(T0 + 100));
    let l = db.update(&id("anonymous_id:l"), Update::new().set("b", 2)).unwrap().profile; // T0+100
    clock.set(Timestamp(T0 + 10)); // steps back
    db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new()).unwrap();
    let h = db.history(s).unwrap();
    let merge_at = h.last().unwrap().at;
    eprintln!("merge delta at T0+{}", merge_at.0 - T0);
    let mut failures = Vec::new();
    // Every version's traits were written no later than the version itself.
    for v in 1..=db.get_by_id(s).unwrap().unwrap().version {
        let p = db.get_as_of_version(s, v).unwrap();
        for (name, e) in p.traits.iter() {
            if e.updated_at > p.updated_at {
                failures.push(format!(
                    "version {v} (at T0+{}) holds {name} written at T0+{}",
                    p.updated_at.0 - T0,
                    e.updated_at.0 - T0
                ));
            }
        }
    }
    // Before the loser existed, it reads as nothing.
    let r = db.get_as_of_time(l, Timestamp(T0 + 50)).unwrap();
    if let Some(p) = r {
        failures.push(format!(
            "profile {l:?} as of T0+50, before it was created at T0+100, reads {:?} {:?}",
            p.id,
            traits_of(&p)
        ));
    }
    assert!(failures.is_empty(), "merge delta at T0+{}:\n{}", merge_at.0 - T0, failures.join("\n"));
}

/// The clock steps back before a profile is created, merged and split off
/// again: the split-off id reads as itself before its merge and after its
/// split. (Found: the split was recorded at the earlier clock time, before
/// the merge it undoes, and the reads went wrong.)
#[test]
fn an_unmerge_after_the_clock_stepped_back_still_reads_the_split_off_profile_as_itself() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("a", 1)).unwrap().profile; // T0
    clock.set(Timestamp(T0 + 100));
    db.update(&s_id, Update::new().set("a", 2)).unwrap(); // T0+100
    clock.set(Timestamp(T0 + 10)); // steps back
    let l = db.update(&l_id, Update::new().set("b", 1)).unwrap().profile; // T0+10
    db.identify(&[s_id.clone(), l_id.clone()], Update::new()).unwrap(); // recorded at T0+100 on s
    clock.set(Timestamp(T0 + 20));
    db.unmerge(s, &l_id).unwrap();
    assert_eq!(db.get_by_id(l).unwrap().unwrap().id, l, "live again");
    let times: Vec<(i64, i64)> = [s, l]
        .iter()
        .flat_map(|p| db.history(*p).unwrap().into_iter().map(|d| (d.version as i64, d.at.0 - T0)))
        .collect();
    let mut failures = Vec::new();
    for (t, want) in [(T0 + 10, Some(l)), (T0 + 15, Some(l)), (T0 + 1_000, Some(l))] {
        match db.get_as_of_time(l, Timestamp(t)) {
            Ok(p) if p.as_ref().map(|p| p.id) == want => {}
            other => {
                failures.push(format!("as of T0+{}: {:?}", t - T0, other.map(|o| o.map(|p| (p.id, traits_of(&p))))))
            }
        }
    }
    assert!(failures.is_empty(), "delta (version, T0+ms) of s then l: {times:?}\n{}", failures.join("\n"));
}

/// A profile created and merged in one millisecond, split off in a later
/// one, while the profile it had merged into merged on into a third: as of
/// its creation it reads the survivor (the merge closed that millisecond).
/// (Found by the random test below: the check expected the split-off
/// profile itself, as it only listed merges in live profiles' logs.)
#[test]
fn a_profile_merged_in_its_first_millisecond_reads_its_survivor_then() {
    use IdOp::*;
    let steps = [
        (0, Update(3, "a", 0)),
        (0, Identify(1, 2)),
        (-5, Identify(1, 3)),
        (3, Update(0, "a", 0)),
        (3, Update(0, "a", 0)),
        (0, Unmerge(1)),
        (0, Link(0, 3)),
    ];
    run_and_check(&steps).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(3));
    for (mv, op) in &steps {
        clock.advance(*mv);
        run_id_op(&db, op);
    }
    let (p0, p1) = (ProfileId(0), ProfileId(1));
    let then = db.get_as_of_time(p1, Timestamp(T0)).unwrap().unwrap();
    assert_eq!((then.id, then.version), (p0, 3), "merged into profile 0 at T0");
    assert_eq!(then.traits.get("n"), Some(&TraitValue::Int(2)), "its increment and the identify's");
    assert_eq!(db.get_as_of_time(p1, Timestamp(T0 + 1)).unwrap().unwrap().id, p1, "split off at T0+1");
}

// ------------------------------------------- merges and unmerges, at random

/// Invariants of the as-of reads with no retention: every id reads back
/// at every instant without error; as of now it reads what `get_by_id`
/// reads; a live profile's read at each delta time is the version current
/// then.
fn check_as_of_invariants(db: &ProfileDb, now: Timestamp) -> Result<(), String> {
    for x in 0..16u32 {
        let x = ProfileId(x);
        let Some(cur) = db.get_by_id(x).map_err(|e| format!("{x:?}: {e}"))? else { continue };
        let then = db.get_as_of_time(x, now).map_err(|e| format!("{x:?} as of now: {e}"))?;
        let then = then.ok_or(format!("{x:?} as of now: none"))?;
        if (then.id, then.version, traits_of(&then)) != (cur.id, cur.version, traits_of(&cur)) {
            return Err(format!(
                "{x:?} as of now reads {:?} v{} {:?}, get_by_id {:?} v{} {:?}",
                then.id,
                then.version,
                traits_of(&then),
                cur.id,
                cur.version,
                traits_of(&cur)
            ));
        }
        for t in (T0 - 1)..=now.0 {
            db.get_as_of_time(x, Timestamp(t)).map_err(|e| format!("{x:?} as of T0+{}: {e}", t - T0))?;
        }
        if cur.id == x {
            // Instants it merged into another profile (then it reads that one).
            let mut merged_at = Vec::new();
            for y in 0..16u32 {
                if db.resolve_id(ProfileId(y)).ok().flatten() == Some(ProfileId(y)) {
                    for d in db.history(ProfileId(y)).map_err(|e| e.to_string())? {
                        if matches!(d.change, Change::Merge { loser, .. } if loser == x) {
                            merged_at.push(d.at);
                        }
                    }
                }
            }
            let h = db.history(x).map_err(|e| e.to_string())?;
            for (i, d) in h.iter().enumerate().filter(|(_, d)| !merged_at.contains(&d.at)) {
                let v = h.iter().filter(|e| e.at <= d.at).count() as u64;
                let g = db.get_as_of_time(x, d.at).map_err(|e| e.to_string())?.ok_or("none at a delta")?;
                // The last delta before a split: `x` may have merged in the
                // same millisecond, into a survivor that merged on since (its
                // log, holding the merge, is no longer listed above). Then
                // the read is that survivor's, never `x`'s.
                if let Some(Change::SplitFrom { survivor, .. }) = h.get(i + 1).map(|n| &n.change) {
                    let survivor_live = db.resolve_id(*survivor).ok().flatten() == Some(*survivor);
                    if g.id != x && (g.id == *survivor || !survivor_live) {
                        continue;
                    }
                }
                let w = db.get_as_of_version(x, v).map_err(|e| e.to_string())?;
                if g.id != x || g.version != v || traits_of(&g) != traits_of(&w) {
                    return Err(format!("{x:?} as of delta {} time: {:?} v{}, want v{v}", d.version, g.id, g.version));
                }
            }
        }
    }
    Ok(())
}

/// Runs `steps` (each a clock move, then an operation) on a fresh
/// database and checks [`check_as_of_invariants`] as of the latest instant
/// the clock reached.
fn run_and_check(steps: &[(i64, IdOp)]) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(3));
    let mut latest = clock.now();
    for (mv, op) in steps {
        clock.advance(*mv);
        latest = latest.max(clock.now());
        run_id_op(&db, op);
    }
    let r = check_as_of_invariants(&db, latest);
    prop_assert!(r.is_ok(), "{}", r.unwrap_err());
    prop_assert!(db.check().unwrap().is_clean());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn as_of_reads_stay_consistent_through_random_merges_and_unmerges(
        // Every operation in a millisecond of its own: the same-millisecond
        // case is `unmerge_then_remerge_in_one_millisecond_...`.
        steps in prop::collection::vec((prop_oneof![2 => Just(1i64), 1 => Just(3i64)], id_op()), 1..25),
    ) {
        run_and_check(&steps)?;
    }

    /// As above, with operations sharing a millisecond and the clock
    /// stepping back.
    #[test]
    fn as_of_reads_stay_consistent_in_one_millisecond_and_when_the_clock_steps_back(
        steps in prop::collection::vec(
            (prop_oneof![2 => Just(0i64), 2 => Just(1i64), 1 => Just(3i64), 1 => Just(-5i64)], id_op()),
            1..25,
        ),
    ) {
        run_and_check(&steps)?;
    }
}

type Answers = BTreeMap<(u32, i64), Result<Option<(ProfileId, u64, BTreeMap<String, TraitValue>)>, String>>;

fn answers(db: &ProfileDb, until: i64) -> Answers {
    let mut out = Answers::new();
    for x in 0..12u32 {
        for t in (T0 - 1)..=until {
            let r = db.get_as_of_time(ProfileId(x), Timestamp(t));
            if matches!(r, Err(Error::NotFound(_))) {
                continue;
            }
            out.insert((x, t), r.map(|o| o.map(|p| (p.id, p.version, traits_of(&p)))).map_err(|e| format!("{e:?}")));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// History retention and later operations never change an answer about
    /// the past: each read is what it was, or `HistoryTruncated`.
    #[test]
    fn retention_and_later_operations_never_change_a_past_answer(
        before in prop::collection::vec((prop_oneof![2 => Just(1i64), 1 => Just(3i64)], id_op()), 1..15),
        after in prop::collection::vec((prop_oneof![2 => Just(1i64), 1 => Just(3i64)], id_op()), 0..10),
        cut in 0i64..40,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (db, clock) = open_with(dir.path(), Some(2));
        for (mv, op) in &before {
            clock.advance(*mv);
            run_id_op(&db, op);
        }
        let end = clock.now().0;
        let was = answers(&db, end);
        let horizon = T0 + cut.min(end - T0);
        db.retain_history(Timestamp(horizon)).unwrap();
        clock.advance(1);
        for (mv, op) in &after {
            clock.advance(*mv);
            run_id_op(&db, op);
        }
        let now = answers(&db, end);
        for (k, w) in &was {
            let Some(n) = now.get(k) else {
                // Erased ids aside (no erase here), an id never disappears.
                prop_assert!(false, "id {} at T0+{}: was {w:?}, now NotFound", k.0, k.1 - T0);
                continue;
            };
            let truncated = matches!(n, Err(e) if e.starts_with("HistoryTruncated"));
            prop_assert!(n == w || truncated, "id {} at T0+{} (horizon T0+{}): was {w:?}, now {n:?}", k.0, k.1 - T0, horizon - T0);
        }
        prop_assert!(db.check().unwrap().is_clean());
    }
}
