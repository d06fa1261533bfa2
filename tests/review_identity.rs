//! Regressions found in review of identity stitching:
//!
//! * alias events in one `ingest_batch`: a later event merged away the
//!   survivor of an earlier event's merge, leaving a two-hop alias chain
//!   and the first loser's events and rollups under a dead id;
//! * unmerging an earlier merge after a later one was unmerged took the
//!   survivor's state recorded by that later unmerge wholesale, which still
//!   held the profile split off now (its traits and consent stayed) — and
//!   so did a second unmerge on an intermediate profile split off before;
//! * `link_identifier` of a profile's last identifier left that profile
//!   live with no identifier (unreachable, still counted and in segments).

use std::collections::BTreeSet;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::ConsentChange;
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 20_000 * DAY;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + 3 * DAY)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).open().unwrap();
    (db, clock)
}

fn assert_clean(db: &ProfileDb) {
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

fn purchase(at: i64, who: &[&str], revenue: i64) -> Event {
    let mut ids: Vec<Identifier> = who.iter().map(|w| id(w)).collect();
    ids.sort();
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), ids);
    e.properties.insert("revenue", revenue);
    e
}

fn alias(at: i64, previous: &str, to: &str) -> Event {
    let mut e = Event::new(EventKind::Alias, "alias", Timestamp(at), vec![id(to)]);
    e.previous_id = Some(id(previous));
    e
}

fn trait_names(db: &ProfileDb, p: ProfileId) -> BTreeSet<String> {
    db.get_by_id(p).unwrap().unwrap().traits.iter().map(|(k, _)| k.to_owned()).collect()
}

fn consent_purposes(db: &ProfileDb, p: ProfileId) -> BTreeSet<String> {
    db.get_by_id(p).unwrap().unwrap().consent.keys().cloned().collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------
// Bug 1: a merge into a profile earlier in a shared batch.

/// Profiles 0 (email:c@x.com), 1 (email:b@x.com) and 2 (anonymous_id:a, two purchases),
/// with a revenue rollup.
fn three_profiles(db: &ProfileDb) {
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("revenue".into()))).unwrap();
    db.track(&purchase(T0, &["email:c@x.com"], 1)).unwrap();
    db.track(&purchase(T0, &["email:b@x.com"], 10)).unwrap();
    db.track(&purchase(T0, &["anonymous_id:a"], 100)).unwrap();
    db.track(&purchase(T0 + DAY, &["anonymous_id:a"], 1_000)).unwrap();
    for (i, who) in ["email:c@x.com", "email:b@x.com", "anonymous_id:a"].into_iter().enumerate() {
        assert_eq!(db.resolve(&id(who)).unwrap(), Some(ProfileId(i as u32)));
    }
}

/// Everything ended on profile 0, one alias hop from each merged id.
fn assert_all_on_zero(db: &ProfileDb) {
    for p in 0..3 {
        assert_eq!(db.resolve_id(ProfileId(p)).unwrap(), Some(ProfileId(0)), "id {p}");
        assert_eq!(db.get_by_id(ProfileId(p)).unwrap().unwrap().id, ProfileId(0), "id {p}");
    }
    for who in ["email:c@x.com", "email:b@x.com", "anonymous_id:a"] {
        assert_eq!(db.resolve(&id(who)).unwrap(), Some(ProfileId(0)), "{who}");
    }
    assert_eq!(db.profile_count().unwrap(), 1);
    // Every event, and every rollup operand, reached the survivor.
    assert_eq!(db.event_stats(ProfileId(0), "purchase", Window::All).unwrap().count, 4);
    assert_eq!(db.rollup(ProfileId(0), "spend", Window::All).unwrap(), RollupValue::Number(Some(1_111.0)));
    let events = db.events(ProfileId(0), Timestamp(0), Timestamp(T0 + 10 * DAY)).unwrap();
    assert_eq!(events.iter().filter(|e| e.name == "purchase").count(), 4);
    // Writes by the oldest id reach the survivor.
    assert_eq!(db.update_by_id(ProfileId(2), Update::new().set("late", true)).unwrap().profile, ProfileId(0));
    assert_clean(db);
}

/// A database holding [`three_profiles`] (the directory lives as long as it).
fn three_profiles_db() -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    three_profiles(&db);
    (dir, db)
}

/// Ingests `batch`, asserting that every event applied.
fn ingest_all(db: &ProfileDb, batch: &[Event], strict: bool) {
    let report = db.ingest_batch(batch, strict).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (batch.len() as u64, 0), "{:?}", report.rejected);
}

#[test]
fn alias_events_in_one_batch_leave_one_hop_aliases_and_move_every_event() {
    let (_dir, db) = three_profiles_db();
    // 2 merges into 1, then 1 (the survivor of that merge) into 0.
    let batch =
        [alias(T0 + 2 * DAY, "anonymous_id:a", "email:b@x.com"), alias(T0 + 2 * DAY, "email:b@x.com", "email:c@x.com")];
    ingest_all(&db, &batch, false);
    assert_all_on_zero(&db);
}

#[test]
fn an_event_after_an_alias_event_in_one_batch_does_not_strand_the_alias_loser() {
    let (_dir, db) = three_profiles_db();
    // An identify linking b and c merges 1 (the alias survivor) into 0.
    let mut batch = vec![alias(T0 + 2 * DAY, "anonymous_id:a", "email:b@x.com")];
    let mut link = Event::new(
        EventKind::Identify,
        "identify",
        Timestamp(T0 + 2 * DAY),
        vec![id("email:b@x.com"), id("email:c@x.com")],
    );
    link.message_id = Some("m-link".into());
    batch.push(link);
    ingest_all(&db, &batch, false);
    assert_all_on_zero(&db);
}

#[test]
fn a_strict_batch_merging_an_alias_survivor_is_split_and_then_applies() {
    let (_dir, db) = three_profiles_db();
    let batch =
        [alias(T0 + 2 * DAY, "anonymous_id:a", "email:b@x.com"), alias(T0 + 2 * DAY, "email:b@x.com", "email:c@x.com")];
    let before = db.raw_dump().unwrap();
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, 1);
    assert!(matches!(report.rejected[0].1, Error::StrictBatchSplit), "{}", report.rejected[0].1);
    assert_eq!(db.raw_dump().unwrap(), before, "a rejected strict batch writes nothing");
    // Split where it says (as the CLI's strict import does): both apply.
    for part in [&batch[..1], &batch[1..]] {
        ingest_all(&db, part, true);
    }
    assert_all_on_zero(&db);
}

/// A merge into the survivor of an earlier merge of the batch is fine: the
/// survivor stays live, only a later merge *of* it must start a new batch.
#[test]
fn merges_into_an_alias_survivor_in_one_batch_share_it() {
    let (_dir, db) = three_profiles_db();
    let batch =
        [alias(T0 + 2 * DAY, "anonymous_id:a", "email:c@x.com"), alias(T0 + 2 * DAY, "email:b@x.com", "email:c@x.com")];
    ingest_all(&db, &batch, true);
    assert_all_on_zero(&db);
}

// ---------------------------------------------------------------------------
// Bug 2: unmerging an earlier merge after a later one was unmerged.

/// Asserts that each listed profile holds exactly these traits and consent
/// purposes.
fn assert_owns(db: &ProfileDb, expected: &[(u32, &[&str], &[&str])]) {
    for (p, traits, purposes) in expected {
        assert_eq!(trait_names(db, ProfileId(*p)), names(traits), "traits of profile {p}");
        assert_eq!(consent_purposes(db, ProfileId(*p)), names(purposes), "consent of profile {p}");
    }
}

/// Gives each identifier's new profile its own trait and consent purpose,
/// 10 ms apart.
fn seed(db: &ProfileDb, clock: &ManualClock, owners: &[(&Identifier, &str, &str)]) {
    for (who, t, purpose) in owners {
        clock.advance(10);
        db.update(who, Update::new().set(t, true)).unwrap();
        db.set_consent(who, purpose, ConsentChange::granted("form")).unwrap();
    }
}

/// Profiles 0 (user_id:s), 1 (email:a), 2 (email:b), 3 (email:c), each with
/// a trait and a consent purpose of its own.
fn four_profiles(db: &ProfileDb, clock: &ManualClock) {
    let ids = ["user_id:s", "email:a@x.com", "email:b@x.com", "email:c@x.com"].map(id);
    let owners = [("s_only", "analytics"), ("a_only", "ads"), ("b_only", "sms"), ("c_only", "calls")];
    let seeded: Vec<_> = ids.iter().zip(owners).map(|(who, (t, purpose))| (who, t, purpose)).collect();
    seed(db, clock, &seeded);
}

#[test]
fn unmerging_an_earlier_merge_after_a_later_unmerge_leaves_the_survivor_its_own_traits() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    four_profiles(&db, &clock);
    clock.advance(10);
    db.identify(&[id("user_id:s"), id("email:a@x.com")], Update::new()).unwrap(); // 1 into 0
    clock.advance(10);
    db.identify(&[id("user_id:s"), id("email:b@x.com")], Update::new()).unwrap(); // 2 into 0
    clock.advance(10);
    db.update(&id("user_id:s"), Update::new().set("s_late", true)).unwrap();
    db.update(&id("email:a@x.com"), Update::new().set("a_late", true)).unwrap();
    db.update(&id("email:b@x.com"), Update::new().set("b_late", true)).unwrap();
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:b@x.com")).unwrap().restored, ProfileId(2));
    assert_clean(&db);
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:a@x.com")).unwrap().restored, ProfileId(1));
    assert_clean(&db);

    let a = db.get(&id("email:a@x.com")).unwrap().unwrap();
    assert_eq!(a.id, ProfileId(1));
    assert_owns(
        &db,
        &[
            (1, &["a_only", "a_late"], &["ads"]),
            (0, &["s_only", "s_late"], &["analytics"]),
            (2, &["b_only", "b_late"], &["sms"]),
        ],
    );
    assert_eq!(db.profile_count().unwrap(), 4);
}

/// Three merges; the last is unmerged, then the middle one.
#[test]
fn unmerging_the_middle_of_three_merges_after_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    four_profiles(&db, &clock);
    for who in ["email:a@x.com", "email:b@x.com", "email:c@x.com"] {
        clock.advance(10);
        db.identify(&[id("user_id:s"), id(who)], Update::new()).unwrap();
    }
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:c@x.com")).unwrap().restored, ProfileId(3));
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:b@x.com")).unwrap().restored, ProfileId(2));
    assert_clean(&db);
    assert_owns(
        &db,
        &[(0, &["s_only", "a_only"], &["analytics", "ads"]), (2, &["b_only"], &["sms"]), (3, &["c_only"], &["calls"])],
    );
    // And the first one last: the survivor is back to its own.
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:a@x.com")).unwrap().restored, ProfileId(1));
    assert_clean(&db);
    assert_eq!(trait_names(&db, ProfileId(0)), names(&["s_only"]));
    assert_eq!(trait_names(&db, ProfileId(1)), names(&["a_only"]));
    assert_eq!(consent_purposes(&db, ProfileId(0)), names(&["analytics"]));
}

/// The earlier merge unmerged first, then the later one: the state that
/// first unmerge recorded holds the later merge's loser, so the survivor is
/// rebuilt from before the earlier merge.
#[test]
fn unmerging_a_later_merge_after_an_earlier_unmerge() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    four_profiles(&db, &clock);
    clock.advance(10);
    db.identify(&[id("user_id:s"), id("email:a@x.com")], Update::new()).unwrap(); // 1 into 0
    clock.advance(10);
    db.update(&id("user_id:s"), Update::new().set("s_mid", true)).unwrap();
    db.update(&id("email:a@x.com"), Update::new().set("a_mid", true)).unwrap();
    clock.advance(10);
    db.identify(&[id("user_id:s"), id("email:b@x.com")], Update::new()).unwrap(); // 2 into 0
    clock.advance(10);
    db.update(&id("email:b@x.com"), Update::new().set("b_late", true)).unwrap();
    db.update(&id("email:a@x.com"), Update::new().set("a_late", true)).unwrap();
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:a@x.com")).unwrap().restored, ProfileId(1));
    clock.advance(10);
    db.update(&id("user_id:s"), Update::new().set("s_late", true)).unwrap();
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(0), &id("email:b@x.com")).unwrap().restored, ProfileId(2));
    assert_clean(&db);
    assert_owns(
        &db,
        &[
            (0, &["s_only", "s_mid", "s_late"], &["analytics"]),
            (1, &["a_only", "a_mid", "a_late"], &["ads"]),
            (2, &["b_only", "b_late"], &["sms"]),
        ],
    );
}

/// The documented two-step split of an intermediate profile: 2 merged into
/// 1, 1 into 0; unmerging 2's identifier from 0 splits off 1 (still holding
/// 2), a second unmerge splits 2 off 1. The second one's survivor (1) was
/// taken from the state the first recorded for it, which holds 2's traits.
#[test]
fn a_second_unmerge_on_the_intermediate_profile_leaves_it_its_own_traits() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let (z, s, o) = (id("user_id:z"), id("email:s@x.com"), id("device_id:o"));
    seed(&db, &clock, &[(&z, "z_only", "analytics"), (&s, "s_only", "ads"), (&o, "o_only", "sms")]);
    clock.advance(10);
    db.identify(&[s.clone(), o.clone()], Update::new()).unwrap(); // 2 into 1
    clock.advance(10);
    db.update(&o, Update::new().set("o_mid", true)).unwrap();
    clock.advance(10);
    db.identify(&[z.clone(), s.clone()], Update::new()).unwrap(); // 1 into 0
    clock.advance(10);
    db.update(&o, Update::new().set("o_late", true)).unwrap();
    db.update(&s, Update::new().set("s_late", true)).unwrap();
    db.identify(&[z.clone(), o.clone()], Update::new().set("both", true)).unwrap();
    clock.advance(10);
    let r = db.unmerge(ProfileId(0), &o).unwrap();
    assert_eq!((r.restored, r.identifiers.len()), (ProfileId(1), 2), "the intermediate, holding 2");
    assert_eq!(trait_names(&db, ProfileId(0)), names(&["z_only", "both"]));
    assert_eq!(trait_names(&db, ProfileId(1)), names(&["s_only", "s_late", "o_only", "o_mid", "o_late"]));
    clock.advance(10);
    assert_eq!(db.unmerge(ProfileId(1), &o).unwrap().restored, ProfileId(2));
    assert_clean(&db);
    assert_owns(
        &db,
        &[
            (0, &["z_only", "both"], &["analytics"]),
            (1, &["s_only", "s_late"], &["ads"]),
            (2, &["o_only", "o_mid", "o_late"], &["sms"]),
        ],
    );
}

// ---------------------------------------------------------------------------
// Bug 3: re-linking a profile's last identifier.

#[test]
fn relinking_a_detached_identifier_merges_its_profile_back() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.define_segment("has_y", "traits.y exists").unwrap();
    let (u, d) = (id("user_id:u"), id("device_id:d"));
    let p = db.identify(&[u.clone(), d.clone()], Update::new().set("x", 1)).unwrap().profile;
    let own = db.remove_identifier(p, &d).unwrap();
    assert_ne!(own, p);
    clock.advance(10);
    assert_eq!(db.update(&d, Update::new().set("y", 1)).unwrap().profile, own);
    db.track(&purchase(T0 + DAY, &["device_id:d"], 5)).unwrap();
    assert_eq!(db.profile_count().unwrap(), 2);
    assert_eq!(db.segment_count("has_y").unwrap(), 1);
    clock.advance(10);

    db.link_identifier(p, &d).unwrap();
    assert_eq!(db.profile_count().unwrap(), 1);
    assert_eq!(db.resolve(&d).unwrap(), Some(p));
    assert_eq!(db.resolve_id(own).unwrap(), Some(p));
    let got = db.get_by_id(p).unwrap().unwrap();
    assert_eq!(got.traits.get("y"), Some(&1.into()));
    assert_eq!(got.traits.get("x"), Some(&1.into()));
    assert_eq!(db.event_stats(p, "purchase", Window::All).unwrap().count, 1);
    assert_eq!(db.segment_count("has_y").unwrap(), 1);
    assert!(db.in_segment("has_y", p).unwrap());
    let graph = db.identity_graph(p).unwrap();
    assert!(graph.iter().any(|g| g.identifier == d && !g.link.detached), "{graph:?}");
    assert_clean(&db);

    // The merge is a merge like any: unmerge splits the profile off again.
    clock.advance(10);
    let r = db.unmerge(p, &d).unwrap();
    assert_eq!((r.restored, r.identifiers.clone()), (own, vec![d.clone()]));
    assert_eq!(db.profile_count().unwrap(), 2);
    assert_eq!(db.get(&d).unwrap().unwrap().traits.get("y"), Some(&1.into()));
    assert_eq!(db.get(&u).unwrap().unwrap().traits.get("y"), None);
    assert_clean(&db);
}

#[test]
fn relinking_a_profiles_only_identifier_merges_it_and_others_keep_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let p = db.update(&id("user_id:p"), Update::new()).unwrap().profile;
    let q = db.update(&id("email:q@x.com"), Update::new().set("q", true)).unwrap().profile;
    let r = db.identify(&[id("email:r@x.com"), id("device_id:r")], Update::new()).unwrap().profile;
    // q's only identifier: q goes with it.
    db.link_identifier(p, &id("email:q@x.com")).unwrap();
    assert_eq!(db.resolve_id(q).unwrap(), Some(p));
    assert_eq!(db.get_by_id(p).unwrap().unwrap().traits.get("q"), Some(&true.into()));
    // One of r's two: r stays, with the other.
    db.link_identifier(p, &id("device_id:r")).unwrap();
    assert_eq!(db.resolve_id(r).unwrap(), Some(r));
    assert_eq!(db.identifiers(r).unwrap(), vec![id("email:r@x.com")]);
    assert_eq!(db.profile_count().unwrap(), 2);
    assert_clean(&db);
    // The target decides, whatever the ids: the older p merges into r.
    db.link_identifier(r, &id("user_id:p")).unwrap();
    db.link_identifier(r, &id("email:q@x.com")).unwrap();
    db.link_identifier(r, &id("device_id:r")).unwrap();
    assert_eq!(db.profile_count().unwrap(), 1);
    for x in [p, q, r] {
        assert_eq!(db.resolve_id(x).unwrap(), Some(r), "{x}");
    }
    assert_eq!(db.get_by_id(r).unwrap().unwrap().traits.get("q"), Some(&true.into()));
    assert_clean(&db);
}

/// An unmerge that would move every identifier of the survivor to the
/// restored profile (its own were removed since the merge) is refused: the
/// survivor would stay live with no identifier to reach it.
#[test]
fn an_unmerge_that_would_leave_the_survivor_without_identifiers_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let two = db.update(&id("member:m2"), Update::new().set("t2", true)).unwrap().profile;
    clock.advance(10);
    let four = db.update(&id("member:m4"), Update::new().set("t4", true)).unwrap().profile;
    clock.advance(10);
    assert_eq!(db.identify(&[id("member:m4"), id("member:m2")], Update::new()).unwrap().profile, two);
    clock.advance(10);
    db.remove_identifier(two, &id("member:m2")).unwrap();
    let before = db.raw_dump().unwrap();
    let err = db.unmerge(two, &id("member:m4")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("unreachable") && msg.contains("member:m4"), "{msg}");
    assert_eq!(db.raw_dump().unwrap(), before, "a refused unmerge writes nothing");
    assert_eq!(db.resolve_id(four).unwrap(), Some(two));
    // With another identifier linked first, the unmerge goes through.
    db.link_identifier(two, &id("email:two@x.com")).unwrap();
    db.unmerge(two, &id("member:m4")).unwrap();
    assert_eq!(db.resolve(&id("member:m4")).unwrap(), Some(four));
    assert_eq!(db.identifiers(two).unwrap(), vec![id("email:two@x.com")]);
    assert_clean(&db);
}

// ---------------------------------------------------------------------------
// All three, at random: every profile's own trait is where its id resolves.

mod placement {
    use super::*;
    use proptest::prelude::*;

    const N: usize = 6;

    #[derive(Clone, Debug)]
    enum Op {
        Identify(usize, usize),
        Unmerge(usize),
        Relink(usize, usize),
        Remove(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..N, 0..N).prop_map(|(a, b)| Op::Identify(a, b)),
            3 => (0..N).prop_map(Op::Unmerge),
            1 => (0..N, 0..N).prop_map(|(a, b)| Op::Relink(a, b)),
            1 => (0..N).prop_map(Op::Remove),
        ]
    }

    fn x(i: usize) -> Identifier {
        id(&format!("member:m{i}"))
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

        /// Profiles 0..N start with one identifier and one trait (and
        /// consent purpose) of their own; after any merges, unmerges,
        /// removals and re-links, each live profile holds exactly the
        /// traits and purposes of the ids that resolve to it.
        #[test]
        fn own_traits_follow_the_ids(ops in prop::collection::vec(op(), 1..30)) {
            let dir = tempfile::tempdir().unwrap();
            let (db, clock) = open(dir.path());
            for i in 0..N {
                clock.advance(10);
                db.update(&x(i), Update::new().set(&format!("t{i}"), true)).unwrap();
                db.set_consent(&x(i), &format!("p{i}"), ConsentChange::granted("form")).unwrap();
            }
            for op in &ops {
                clock.advance(10);
                let resolve = |i: usize| db.resolve(&x(i)).unwrap();
                let _ = match *op {
                    Op::Identify(a, b) => db.identify(&[x(a), x(b)], Update::new()).map(drop),
                    Op::Unmerge(a) => db.unmerge(resolve(a).unwrap(), &x(a)).map(drop),
                    Op::Relink(a, to) => db.link_identifier(resolve(to).unwrap(), &x(a)),
                    Op::Remove(a) => db.remove_identifier(resolve(a).unwrap(), &x(a)).map(drop),
                };
                let mut want: std::collections::BTreeMap<ProfileId, (BTreeSet<String>, BTreeSet<String>)> =
                    Default::default();
                for i in 0..N {
                    let at = db.resolve_id(ProfileId(i as u32)).unwrap().expect("every id resolves");
                    let w = want.entry(at).or_default();
                    w.0.insert(format!("t{i}"));
                    w.1.insert(format!("p{i}"));
                }
                for (p, (traits, purposes)) in &want {
                    prop_assert_eq!(&trait_names(&db, *p), traits, "traits of {} after {:?}", p, op);
                    prop_assert_eq!(&consent_purposes(&db, *p), purposes, "consent of {} after {:?}", p, op);
                }
                // Every live profile is reached by an identifier.
                for i in 0..N as u32 {
                    if db.resolve_id(ProfileId(i)).unwrap() == Some(ProfileId(i)) {
                        prop_assert!(!db.identifiers(ProfileId(i)).unwrap().is_empty(), "{} unreachable after {:?}", i, op);
                    }
                }
            }
            let r = db.check().unwrap();
            prop_assert!(r.is_clean(), "{}", r);
        }
    }
}
