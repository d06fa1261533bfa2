//! Delta-versioned traits through merges, unmerges and erasure (a review
//! as an application developer): merge rules and their limits, as-of reads
//! of merged ids, erasure in every version, random identity operations,
//! and updates the storage refuses.

use std::collections::BTreeMap;
use std::sync::Arc;

use profiledb::event::{parse_line, EventFormat, EventLimits};
use profiledb::{
    Change, Error, Ignored, ManualClock, MergeRules, MergeStrategy, ProfileDb, ProfileId, Timestamp, TraitValue, Update,
};
use proptest::prelude::*;

mod common;
use common::id;
use common::versions::{id_op, open_with, reopen, run_id_op, traits_of, tv, IdOp, IDS, T0};

// ------------------------------------------------------------------ merges

/// Merge by identify, then unmerge: every version and instant of the
/// survivor and of the merged-away id, before, at and after each instant.
#[test]
fn merge_and_unmerge_read_back_at_every_version_and_instant() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(2));
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("plan", "free").set("color", "red")).unwrap().profile; // T0
    clock.advance(10);
    let l = db.update(&l_id, Update::new().set("plan", "pro").set("size", 1).set("color", "blue")).unwrap().profile; // T0+10
    clock.advance(10);
    db.update(&s_id, Update::new().set("color", "green")).unwrap(); // T0+20, s v2
    clock.advance(10);
    let t_merge = clock.now(); // T0+30
    let r = db.identify(&[s_id.clone(), l_id.clone()], Update::new().set("merged", true)).unwrap();
    assert_eq!((r.profile, r.merged.clone()), (s, vec![l]));
    assert_eq!(r.version, 4, "merge is v3, the update v4");
    clock.advance(10);
    let t_l_only = clock.now(); // T0+40
    db.update(&l_id, Update::new().set("l_only", 1)).unwrap(); // s v5, via l only
    clock.advance(10);
    let t_unmerge = clock.now(); // T0+50
    let u = db.unmerge(s, &l_id).unwrap();
    assert_eq!((u.restored, u.from), (l, s));

    let s_v2 = tv([("plan", "free".into()), ("color", "green".into())]);
    let l_v1 = tv([("plan", "pro".into()), ("size", 1.into()), ("color", "blue".into())]);
    let merged = tv([("plan", "pro".into()), ("color", "green".into()), ("size", 1.into()), ("merged", true.into())]);
    let mut merged_l = merged.clone();
    merged_l.insert("l_only".into(), 1.into());

    // Survivor versions.
    let h = db.history(s).unwrap();
    let kinds: Vec<&str> = h
        .iter()
        .map(|d| match d.change {
            Change::Update(_) => "update",
            Change::Merge { .. } => "merge",
            Change::Unmerge { .. } => "unmerge",
            Change::SplitFrom { .. } => "split",
            Change::Consent(_) => "consent",
        })
        .collect();
    assert_eq!(kinds, ["update", "update", "merge", "update", "update", "unmerge"]);
    let want_s = [
        tv([("plan", "free".into()), ("color", "red".into())]),
        s_v2.clone(),
        {
            let mut m = merged.clone();
            m.remove("merged");
            m
        },
        merged.clone(),
        merged_l.clone(),
        {
            let mut m = s_v2.clone();
            m.insert("merged".into(), true.into());
            m
        },
    ];
    for (i, want) in want_s.iter().enumerate() {
        let v = i as u64 + 1;
        assert_eq!(traits_of(&db.get_as_of_version(s, v).unwrap()), *want, "survivor v{v}");
    }
    // The restored profile: its own v1, then the split.
    let hl = db.history(l).unwrap();
    assert_eq!(hl.len(), 2, "{hl:?}");
    assert_eq!(traits_of(&db.get_as_of_version(l, 1).unwrap()), l_v1);
    let mut l_now = l_v1.clone();
    l_now.insert("l_only".into(), 1.into());
    assert_eq!(traits_of(&db.get_as_of_version(l, 2).unwrap()), l_now);
    assert_eq!(traits_of(&db.get_by_id(l).unwrap().unwrap()), l_now);

    // As of time, the survivor.
    let at = |p: ProfileId, t: Timestamp| db.get_as_of_time(p, t).unwrap().map(|p| (p.id, traits_of(&p)));
    assert_eq!(at(s, Timestamp(t_merge.0 - 1)), Some((s, s_v2.clone())));
    assert_eq!(at(s, t_merge), Some((s, merged.clone())));
    assert_eq!(at(s, t_l_only), Some((s, merged_l.clone())));
    assert_eq!(at(s, t_unmerge).map(|x| x.1), Some(want_s[5].clone()));
    // As of time, the merged-away (now restored) id.
    assert_eq!(at(l, Timestamp(T0 + 5)), None, "before it existed");
    assert_eq!(at(l, Timestamp(T0 + 10)), Some((l, l_v1.clone())));
    assert_eq!(at(l, Timestamp(t_merge.0 - 1)), Some((l, l_v1.clone())));
    assert_eq!(at(l, t_merge), Some((s, merged.clone())), "merged at the merge instant");
    assert_eq!(at(l, t_l_only), Some((s, merged_l.clone())));
    assert_eq!(at(l, Timestamp(t_unmerge.0 - 1)), Some((s, merged_l)));
    assert_eq!(at(l, t_unmerge), Some((l, l_now)));
    // Reopened: the same.
    drop(db);
    let db = reopen(dir.path(), Some(2), &clock);
    assert_eq!(traits_of(&db.get_as_of_version(s, 4).unwrap()), merged);
    assert_eq!(db.get_as_of_time(l, Timestamp(t_merge.0 - 1)).unwrap().map(|p| traits_of(&p)), Some(l_v1));
}

/// Versions of a merged-away id count in its survivor's history (documented
/// on `get_as_of_version`); its own past is read by time.
#[test]
fn versions_of_a_merged_away_id_are_the_survivors() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let s = db.update(&id("user_id:s"), Update::new().set("a", 1)).unwrap().profile;
    clock.advance(1);
    let l = db.update(&id("anonymous_id:l"), Update::new().set("b", 2)).unwrap().profile;
    clock.advance(1);
    db.update(&id("anonymous_id:l"), Update::new().set("b", 3)).unwrap();
    clock.advance(1);
    db.merge_profiles(s, l, profiledb::Cause::Admin("test".into())).unwrap();
    assert_eq!(db.get_as_of_version(l, 1).unwrap().id, s);
    assert_eq!(traits_of(&db.get_as_of_version(l, 2).unwrap()), tv([("a", 1.into()), ("b", 3.into())]));
    assert!(matches!(db.get_as_of_version(l, 3), Err(Error::NotFound(_))));
    assert_eq!(db.history(l).unwrap().len(), 2, "the survivor's history");
    let own = db.get_as_of_time(l, Timestamp(T0 + 1)).unwrap().unwrap();
    assert_eq!((own.id, own.version, traits_of(&own)), (l, 1, tv([("b", 2.into())])));
}

/// The documented merge rules: last-write-wins by update time with ties to
/// the survivor, first-write-wins, sum, union.
#[test]
fn merge_rules_fold_traits_as_documented() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let rules = MergeRules::default()
        .trait_strategy("first", MergeStrategy::FirstWriteWins)
        .trait_strategy("ltv", MergeStrategy::Sum)
        .trait_strategy("tags", MergeStrategy::Union);
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).merge_rules(rules).open().unwrap();
    let s = db
        .update(
            &id("user_id:s"),
            Update::new().set("tie", "s").set("first", "s").set("ltv", 10).add_to_set("tags", ["a", "b"]),
        )
        .unwrap()
        .profile;
    // Same millisecond: the tie goes to the survivor.
    db.update(&id("anonymous_id:l"), Update::new().set("tie", "l")).unwrap();
    clock.advance(5);
    db.update(
        &id("anonymous_id:l"),
        Update::new().set("late", "l").set("first", "l").set("ltv", 2.5).add_to_set("tags", ["c", "a"]),
    )
    .unwrap();
    clock.advance(5);
    db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new()).unwrap();
    let p = db.get_by_id(s).unwrap().unwrap();
    assert_eq!(
        traits_of(&p),
        tv([
            ("tie", "s".into()),
            ("first", "s".into()),
            ("ltv", TraitValue::Float(12.5)),
            ("tags", TraitValue::List(vec!["a".into(), "b".into(), "c".into()])),
            ("late", "l".into()),
        ])
    );
}

/// A merge never loses a loser's trait silently: a survivor near the
/// per-profile trait cap (10,000) cannot take the loser's traits, so the
/// merge is refused with an error naming the limit and nothing is written
/// (it used to drop them, as it drops nesting collisions).
#[test]
fn a_merge_past_the_trait_cap_is_refused_not_folded_lossily() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let s_id = id("user_id:s");
    let mut s = None;
    for chunk in 0..10 {
        let mut u = Update::new();
        for i in 0..1000 {
            if chunk * 1000 + i < 9_999 {
                u = u.set(&format!("t{chunk}_{i}"), 1);
            }
        }
        s = Some(db.update(&s_id, u).unwrap().profile);
    }
    let s = s.unwrap();
    assert_eq!(db.get_by_id(s).unwrap().unwrap().traits.len(), 9_999);
    clock.advance(1);
    let l = db.update(&id("anonymous_id:l"), Update::new().set("email_opt", "yes").set("zz_last", "keep me")).unwrap();
    clock.advance(1);
    let before = db.raw_dump().unwrap();
    // The lower-priority side gives way; an empty update writes nothing.
    let r = db.identify(&[s_id.clone(), id("anonymous_id:l")], Update::new()).unwrap();
    assert!(
        matches!(&r.ignored[..], [(_, Ignored::MergeRefused { reason, stays_on })] if reason.contains("10000 traits") && *stays_on == l.profile),
        "{r:?}"
    );
    let err = db.merge_profiles(s, l.profile, profiledb::Cause::Api).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(err.to_string().contains("10000 traits"), "{err}");
    assert!(db.raw_dump().unwrap() == before, "a refused merge wrote something");
    assert_eq!(db.resolve(&id("anonymous_id:l")).unwrap(), Some(l.profile), "the profiles stay apart");
    assert_eq!(db.get_by_id(l.profile).unwrap().unwrap().traits.get("zz_last"), Some(&"keep me".into()));
}

// ------------------------------------------------------------------ events

/// An identify event stamped in the past: its traits are written at the
/// database clock (delta time and trait update time), not at the event's
/// time. The as-of reads follow write time.
#[test]
fn identify_event_traits_are_versioned_at_write_time() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    clock.set(Timestamp(1_714_564_800_000 + 3 * Timestamp::DAY)); // 2024-05-04
    let line = r#"{"type":"identify","identifiers":{"user_id":"u1"},"timestamp":"2024-05-01T12:00:00Z","traits":{"plan":"pro"}}"#;
    let ev = parse_line(line, EventFormat::Auto, "line 1", &EventLimits::new(db.now())).unwrap();
    db.track(&ev).unwrap();
    let p = db.resolve(&id("user_id:u1")).unwrap().unwrap();
    let h = db.history(p).unwrap();
    assert_eq!(h[0].at, db.now(), "delta time is the write time");
    let cur = db.get_by_id(p).unwrap().unwrap();
    assert_eq!(cur.traits.entry("plan").unwrap().updated_at, db.now());
    let event_time = Timestamp::parse("2024-05-01T12:00:00Z").unwrap();
    assert_eq!(db.get_as_of_time(p, event_time).unwrap(), None, "as of the event's own time: not yet written");
    // A late identify with an older stamp arrives after a newer one: the
    // last arrival wins (unlike consent, which follows the given time).
    clock.advance(1);
    let newer = r#"{"type":"identify","identifiers":{"user_id":"u1"},"timestamp":"2024-05-03T12:00:00Z","traits":{"plan":"enterprise"}}"#;
    db.track(&parse_line(newer, EventFormat::Auto, "l", &EventLimits::new(db.now())).unwrap()).unwrap();
    clock.advance(1);
    let older = r#"{"type":"identify","identifiers":{"user_id":"u1"},"timestamp":"2024-05-02T12:00:00Z","traits":{"plan":"free"}}"#;
    db.track(&parse_line(older, EventFormat::Auto, "l", &EventLimits::new(db.now())).unwrap()).unwrap();
    let plan = db.get_by_id(p).unwrap().unwrap().traits.get("plan").cloned();
    eprintln!("after a late older identify, plan = {plan:?}");
}

// ----------------------------------------------------------------- privacy

fn raw_hits(db: &ProfileDb, needle: &str) -> Vec<String> {
    let n = needle.as_bytes();
    let holds = |b: &[u8]| b.windows(n.len()).any(|w| w == n);
    db.raw_dump().unwrap().into_iter().filter(|e| holds(&e.key) || holds(&e.value)).map(|e| e.cf.to_string()).collect()
}

#[test]
fn erase_of_one_identifier_of_a_merged_profile_leaves_no_version_behind() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(2));
    let s = db.update(&id("user_id:s"), Update::new().set("secret", "s-val-9911")).unwrap().profile;
    clock.advance(1);
    let l = db.update(&id("anonymous_id:l"), Update::new().set("lsecret", "l-val-7722")).unwrap().profile;
    clock.advance(1);
    db.update(&id("anonymous_id:l"), Update::new().set("lsecret", "l-val-7733")).unwrap();
    clock.advance(1);
    db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new()).unwrap();
    clock.advance(1);
    db.erase(&id("anonymous_id:l"), Some("r1")).unwrap();
    for p in [s, l] {
        for v in [1, 2, 3] {
            let r = db.get_as_of_version(p, v);
            assert!(matches!(r, Err(Error::NotFound(_))), "{p:?} v{v}: {r:?}");
        }
        for t in [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4] {
            let r = db.get_as_of_time(p, Timestamp(t));
            assert!(matches!(r, Err(Error::NotFound(_)) | Ok(None)), "{p:?} at {t}: {r:?}");
        }
    }
    for needle in ["s-val-9911", "l-val-7722", "l-val-7733"] {
        assert!(raw_hits(&db, needle).is_empty(), "{needle} left in {:?}", raw_hits(&db, needle));
    }
}

#[test]
fn anonymize_of_a_merged_profile_leaves_no_readable_past_version() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(2));
    let s = db.update(&id("user_id:s"), Update::new().set("name", "Ann-4471").set("age", 34)).unwrap().profile;
    clock.advance(1);
    let l = db.update(&id("anonymous_id:l"), Update::new().set("city", "Oslo-5519")).unwrap().profile;
    clock.advance(1);
    db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new().set("name", "Ann-4472")).unwrap();
    clock.advance(1);
    let t_anon = clock.now();
    db.anonymize(&id("user_id:s"), None, Some("r2")).unwrap();
    let cur = db.get_by_id(s).unwrap().unwrap();
    let latest = cur.version;
    for v in 1..latest {
        let r = db.get_as_of_version(s, v);
        assert!(matches!(r, Err(Error::HistoryTruncated { .. })), "v{v}: {r:?}");
        let r = db.get_as_of_version(l, v);
        assert!(matches!(r, Err(Error::HistoryTruncated { .. })), "merged-away id v{v}: {r:?}");
    }
    for t in [T0, T0 + 1, T0 + 2] {
        for p in [s, l] {
            let r = db.get_as_of_time(p, Timestamp(t));
            assert!(
                matches!(r, Err(Error::HistoryTruncated { .. })),
                "{p:?} as of {t}: must not read a pre-anonymization state: {r:?}"
            );
        }
    }
    assert_eq!(db.get_as_of_time(s, t_anon).unwrap().unwrap().version, latest);
    for needle in ["Ann-4471", "Ann-4472", "Oslo-5519"] {
        assert!(raw_hits(&db, needle).is_empty(), "{needle} left in {:?}", raw_hits(&db, needle));
    }
}

/// A person merged into a survivor, split off again, then erased: the
/// survivor's versions while they were merged read as its own state (the
/// README's rule), the versions outside that window are unchanged, and no
/// version holds an erased value.
#[test]
fn erase_after_unmerge_redacts_the_survivors_merge_window_only() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(2));
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("plan", "free")).unwrap().profile; // v1
    clock.advance(1);
    db.update(&s_id, Update::new().set("n", 1)).unwrap(); // v2
    clock.advance(1);
    db.update(&l_id, Update::new().set("lsecret", "l-secret-3141")).unwrap();
    clock.advance(1);
    db.identify(&[s_id.clone(), l_id.clone()], Update::new()).unwrap(); // v3 merge
    clock.advance(1);
    db.update(&s_id, Update::new().increment("n", 1)).unwrap(); // v4 via s
    clock.advance(1);
    db.update(&l_id, Update::new().set("lsecret2", "l-secret-2718")).unwrap(); // v5 via l only
    clock.advance(1);
    db.unmerge(s, &l_id).unwrap(); // v6
    clock.advance(1);
    db.update(&s_id, Update::new().set("after", true)).unwrap(); // v7
    let before: Vec<BTreeMap<String, TraitValue>> =
        (1..=7).map(|v| traits_of(&db.get_as_of_version(s, v).unwrap())).collect();
    db.erase(&l_id, Some("r")).unwrap();
    let after: Vec<BTreeMap<String, TraitValue>> =
        (1..=7).map(|v| traits_of(&db.get_as_of_version(s, v).unwrap())).collect();
    let own = |n: i64| tv([("plan", "free".into()), ("n", n.into())]);
    let want = vec![tv([("plan", "free".into())]), own(1), own(1), own(2), own(2), own(2), {
        let mut m = own(2);
        m.insert("after".into(), true.into());
        m
    }];
    assert_eq!(after, want, "before erase: {before:?}");
    for t in 0..8 {
        if let Some(p) = db.get_as_of_time(s, Timestamp(T0 + t)).unwrap() {
            assert_eq!(traits_of(&p), want[p.version as usize - 1], "as of T0+{t}");
        }
    }
    for needle in ["l-secret-3141", "l-secret-2718"] {
        assert!(raw_hits(&db, needle).is_empty(), "{needle} left in {:?}", raw_hits(&db, needle));
    }
    assert!(db.check().unwrap().is_clean());
}

// ------------------------------------------- merges and unmerges, at random

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// After erase, no value written only through the erased person's
    /// identifiers remains in any stored byte (any version, snapshot,
    /// merge state).
    #[test]
    fn erase_leaves_no_value_of_the_person_in_any_version(
        ops in prop::collection::vec((prop_oneof![2 => Just(1i64), 1 => Just(3i64)], id_op()), 1..20),
        victim in 0..IDS.len(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (db, clock) = open_with(dir.path(), Some(2));
        let mut written: Vec<(Vec<usize>, String)> = Vec::new();
        for (n, (mv, op)) in ops.iter().enumerate() {
            clock.advance(*mv);
            let value = format!("qv{n:04}zq");
            match op {
                IdOp::Update(i, k, _) => {
                    if db.update(&id(IDS[*i]), Update::new().set(k, value.as_str())).is_ok() {
                        written.push((vec![*i], value));
                    }
                }
                IdOp::Identify(a, b) => {
                    if db.identify(&[id(IDS[*a]), id(IDS[*b])], Update::new().set("m", value.as_str())).is_ok() {
                        written.push((vec![*a, *b], value));
                    }
                }
                // Detaching moves an identifier off a profile whose own
                // writes it made; erase documents no redaction there.
                IdOp::Remove(_) | IdOp::Link(..) => {}
                other => run_id_op(&db, other),
            }
        }
        let Some(p) = db.resolve(&id(IDS[victim])).unwrap() else { return Ok(()) };
        let person: Vec<usize> = db
            .identifiers(p)
            .unwrap()
            .iter()
            .filter_map(|x| IDS.iter().position(|s| id(s) == *x))
            .collect();
        clock.advance(1);
        db.erase(&id(IDS[victim]), Some("r")).unwrap();
        let dump = db.raw_dump().unwrap();
        for (via, value) in &written {
            if via.iter().all(|i| person.contains(i)) {
                let n = value.as_bytes();
                let hits: Vec<&str> = dump
                    .iter()
                    .filter(|e| e.value.windows(n.len()).any(|w| w == n))
                    .map(|e| e.cf)
                    .collect();
                prop_assert!(hits.is_empty(), "{value} written via {via:?} (person {person:?}) left in {hits:?}");
            }
        }
        prop_assert!(db.check().unwrap().is_clean());
    }
}

/// A `Union` merge whose lists together pass the 1,000-element list limit
/// is refused with an error naming the trait, and writes nothing (it used
/// to truncate the union: 200 of the loser's values vanished).
#[test]
fn a_union_merge_past_the_list_limit_is_refused_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let rules = MergeRules::default().trait_strategy("tags", MergeStrategy::Union);
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).merge_rules(rules).open().unwrap();
    let s_tags: Vec<String> = (0..600).map(|i| format!("s{i}")).collect();
    let l_tags: Vec<String> = (0..600).map(|i| format!("l{i}")).collect();
    db.update(&id("user_id:s"), Update::new().add_to_set("tags", s_tags)).unwrap();
    clock.advance(1);
    let l = db.update(&id("anonymous_id:l"), Update::new().add_to_set("tags", l_tags)).unwrap().profile;
    clock.advance(1);
    let before = db.raw_dump().unwrap();
    let r = db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new()).unwrap();
    let [(_, Ignored::MergeRefused { reason: msg, stays_on })] = &r.ignored[..] else { panic!("{r:?}") };
    assert!(msg.contains("tags") && msg.contains("1200 values") && *stays_on == l, "{msg}");
    let err = db.merge_profiles(r.profile, l, profiledb::Cause::Api).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(db.raw_dump().unwrap() == before, "a refused merge wrote something");
    assert_eq!(db.resolve(&id("anonymous_id:l")).unwrap(), Some(l));
    // Under the limit the union keeps every value of both.
    clock.advance(1);
    db.update(&id("anonymous_id:l"), Update::new().remove_from_set("tags", (0..300).map(|i| format!("l{i}")))).unwrap();
    let merged = db.identify(&[id("user_id:s"), id("anonymous_id:l")], Update::new()).unwrap().profile;
    match db.get_by_id(merged).unwrap().unwrap().traits.get("tags") {
        Some(TraitValue::List(all)) => assert_eq!(all.len(), 900),
        other => panic!("{other:?}"),
    }
}

/// An identify that would merge two profiles but whose update fails (on
/// the merged state) writes nothing: no merge, no version on either side.
/// A profile record past the decode limit is refused whole too.
#[test]
fn a_failing_update_after_a_merge_or_past_the_size_limit_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), Some(1));
    let (s_id, l_id) = (id("user_id:s"), id("anonymous_id:l"));
    let s = db.update(&s_id, Update::new().set("a", 1)).unwrap().profile;
    clock.advance(1);
    let l = db.update(&l_id, Update::new().set("name", "x")).unwrap().profile;
    clock.advance(1);
    let before = db.raw_dump().unwrap();
    let err = db.identify(&[s_id.clone(), l_id.clone()], Update::new().increment("name", 1)).unwrap_err();
    eprintln!("{err}");
    assert!(matches!(err, Error::TypeMismatch { .. }), "{err}");
    let err = db.identify(&[s_id.clone(), l_id.clone()], Update::new().set("name.first", "y")).unwrap_err();
    eprintln!("{err}");
    assert!(db.raw_dump().unwrap() == before, "a refused identify changed the stored data");
    assert_eq!(db.resolve(&l_id).unwrap(), Some(l));
    assert_eq!((db.history(s).unwrap().len(), db.history(l).unwrap().len()), (1, 1));
}

/// An update whose profile record and delta would pass the 16 MiB decode
/// limit (300 strings of 60 KiB, each within its own limit) is refused
/// whole with `InvalidInput` (README, Limits). It used to be acknowledged
/// with a new version that was never stored (every write of the batch was
/// the refused one, and an empty batch skipped the commit that reports the
/// refusal): the acknowledged write was gone after a reopen.
#[test]
fn an_oversized_update_is_refused_not_acknowledged_and_lost() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_with(dir.path(), None);
    let s_id = id("user_id:s");
    let s = db.update(&s_id, Update::new().set("a", 1)).unwrap().profile;
    clock.advance(1);
    let before = db.raw_dump().unwrap();
    let big = (0..300).fold(Update::new(), |u, i| u.set(&format!("blob{i}"), "z".repeat(60 * 1024)));
    let err = db.update(&s_id, big).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(db.raw_dump().unwrap() == before, "a refused oversized update changed the stored data");
    assert_eq!(db.get_by_id(s).unwrap().unwrap().version, 1, "the cache holds no unstored version");
    assert_eq!(db.update(&s_id, Update::new().set("small", 1)).unwrap().version, 2, "later writes work");
    drop(db);
    let db = reopen(dir.path(), None, &clock);
    assert_eq!(db.get_by_id(s).unwrap().unwrap().version, 2);
}
