//! Identity stitching, merge rules, aliases, identity rules, unmerge and
//! identifier removal.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::{
    Change, Error, Identifier, IdentityRules, Ignored, KindLimit, ManualClock, MergeRules, MergeStrategy, OnExceed,
    ProfileDb, ProfileId, Timestamp, TraitValue, Update,
};

mod common;
use common::{merge_chain, MergeChain};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).open().unwrap();
    (db, clock)
}

#[test]
fn login_merges_the_newer_profile_into_the_older_and_aliases_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let anon = db.update(&id("anonymous_id:a1"), Update::new().set("color", "red").increment("views", 3)).unwrap();
    clock.advance(10);
    let known = db.update(&id("email:ann@x.com"), Update::new().set("plan", "pro").increment("views", 1)).unwrap();
    assert_eq!((anon.profile, known.profile), (ProfileId(0), ProfileId(1)));
    clock.advance(10);
    let r = db.identify(&[id("email:ann@x.com"), id("anonymous_id:a1")], Update::new()).unwrap();
    assert_eq!(r.profile, ProfileId(0));
    assert_eq!(r.merged, vec![ProfileId(1)]);
    let p = db.get(&id("email:ann@x.com")).unwrap().unwrap();
    assert_eq!(p.id, ProfileId(0));
    assert_eq!(p.traits.get("plan"), Some(&"pro".into()));
    assert_eq!(p.traits.get("color"), Some(&"red".into()));
    assert_eq!(p.traits.get("views"), Some(&TraitValue::Int(1)), "last write wins by default");
    assert_eq!(db.get_by_id(ProfileId(1)).unwrap().unwrap().id, ProfileId(0), "the loser id stays an alias");
    assert_eq!(db.profile_count().unwrap(), 1);
    let h = db.history(ProfileId(0)).unwrap();
    let merge = h.iter().find_map(|d| match &d.change {
        Change::Merge { loser, loser_state, .. } => Some((*loser, loser_state.traits.get("plan").cloned())),
        _ => None,
    });
    assert_eq!(merge, Some((ProfileId(1), Some("pro".into()))), "the merge delta keeps the loser's state");
}

#[test]
fn merge_strategies_apply_per_trait() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let rules = MergeRules::default()
        .trait_strategy("ltv", MergeStrategy::Sum)
        .trait_strategy("tags", MergeStrategy::Union)
        .trait_strategy("source", MergeStrategy::FirstWriteWins);
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).merge_rules(rules).open().unwrap();
    db.update(&id("user_id:u"), Update::new().set("ltv", 10).add_to_set("tags", ["a"]).set("source", "ads")).unwrap();
    clock.advance(5);
    db.update(&id("anonymous_id:z"), Update::new().set("ltv", 5).add_to_set("tags", ["b"]).set("source", "seo"))
        .unwrap();
    db.identify(&[id("anonymous_id:z"), id("user_id:u")], Update::new()).unwrap();
    let p = db.get(&id("user_id:u")).unwrap().unwrap();
    assert_eq!(p.traits.get("ltv"), Some(&TraitValue::Int(15)));
    assert_eq!(p.traits.get("tags"), Some(&TraitValue::List(vec!["a".into(), "b".into()])));
    assert_eq!(p.traits.get("source"), Some(&"ads".into()));
}

#[test]
fn alias_chains_are_compressed_to_one_hop() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    for who in ["user_id:a", "email:b@x.com", "device_id:c"] {
        db.update(&id(who), Update::new()).unwrap();
    }
    db.identify(&[id("email:b@x.com"), id("device_id:c")], Update::new()).unwrap(); // 2 -> 1
    db.identify(&[id("user_id:a"), id("email:b@x.com")], Update::new()).unwrap(); // 1 -> 0
    for n in 0..3 {
        assert_eq!(db.resolve_id(ProfileId(n)).unwrap(), Some(ProfileId(0)));
    }
    for who in ["user_id:a", "email:b@x.com", "device_id:c"] {
        assert_eq!(db.resolve(&id(who)).unwrap(), Some(ProfileId(0)));
    }
    let dump = db.dump_cf("alias").unwrap();
    let forward: Vec<_> = dump.iter().filter(|e| e.key[0] == 1).map(|e| (e.key.clone(), e.value.clone())).collect();
    assert_eq!(forward.len(), 2);
    for (_, v) in forward {
        assert_eq!(&v[1..], &0u32.to_be_bytes(), "every alias points straight at the survivor");
    }
}

#[test]
fn kind_limits_refuse_or_evict() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules::default().limit("device_id", KindLimit { max: 2, on_exceed: OnExceed::EvictOldest });
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).identity_rules(rules).open().unwrap();
    let r = db.identify(&[id("user_id:1"), id("user_id:2")], Update::new().set("x", 1)).unwrap();
    assert_eq!(r.linked, vec![id("user_id:1")]);
    assert!(matches!(r.ignored.as_slice(), [(i, Ignored::Refused { max: 1, .. })] if *i == id("user_id:2")));
    let own = db.resolve(&id("user_id:2")).unwrap().unwrap();
    assert_ne!(own, r.profile, "a refused identifier stays on a profile of its own");
    for d in ["d1", "d2", "d3"] {
        clock.advance(1);
        db.identify(&[id("user_id:1"), id(&format!("device_id:{d}"))], Update::new()).unwrap();
    }
    assert_eq!(db.resolve(&id("device_id:d1")).unwrap(), None, "the oldest device was evicted");
    assert_eq!(db.resolve(&id("device_id:d3")).unwrap(), Some(r.profile));
    let last = db.history(r.profile).unwrap().pop().unwrap();
    assert_eq!(last.unlinked, vec![id("device_id:d1")]);
}

#[test]
fn the_lower_priority_link_gives_way_instead_of_over_merging() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let p1 = db.identify(&[id("user_id:A"), id("anonymous_id:x")], Update::new()).unwrap().profile;
    let p2 = db.identify(&[id("user_id:B"), id("anonymous_id:y")], Update::new()).unwrap().profile;
    let r = db.identify(&[id("anonymous_id:y"), id("user_id:A")], Update::new().set("seen", true)).unwrap();
    assert_eq!(r.profile, p1);
    assert!(r.merged.is_empty());
    assert!(
        matches!(&r.ignored[..], [(i, Ignored::GaveWay { kind, stays_on })] if *i == id("anonymous_id:y") && kind == "user_id" && *stays_on == p2)
    );
    assert_eq!(db.resolve(&id("anonymous_id:y")).unwrap(), Some(p2));
}

#[test]
fn a_new_user_id_decides_the_target_over_the_shared_email_of_another_person() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let alice =
        db.identify(&[id("user_id:alice"), id("email:family@x.com")], Update::new().set("plan", "pro")).unwrap();
    // Bob's first call carries the family's email, which is on Alice's
    // profile: the user_id outranks it, so the call is Bob's, and the email
    // (whose profile already has a user_id) gives way.
    let bob = db
        .identify(&[id("email:family@x.com"), id("user_id:bob")], Update::new().set("name", "Bob").set("plan", "free"))
        .unwrap();
    assert!(bob.created, "Bob gets a profile of his own");
    assert_ne!(bob.profile, alice.profile);
    assert_eq!(bob.linked, vec![id("user_id:bob")]);
    assert!(
        matches!(&bob.ignored[..], [(i, Ignored::GaveWay { kind, stays_on })] if *i == id("email:family@x.com") && kind == "user_id" && *stays_on == alice.profile),
        "{:?}",
        bob.ignored
    );
    assert_eq!(db.resolve(&id("user_id:bob")).unwrap(), Some(bob.profile));
    assert_eq!(db.resolve(&id("email:family@x.com")).unwrap(), Some(alice.profile));
    let a = db.get(&id("user_id:alice")).unwrap().unwrap();
    assert_eq!(a.traits.get("plan"), Some(&TraitValue::from("pro")), "Alice's traits are untouched");
    assert_eq!(a.traits.get("name"), None);
    let b = db.get(&id("user_id:bob")).unwrap().unwrap();
    assert_eq!(b.traits.get("name"), Some(&TraitValue::from("Bob")));
    // A batch reports the links it did not make, by position.
    let mut bob_again = Event::new(EventKind::Identify, "identify", Timestamp(2_000), vec![id("user_id:bob")]);
    bob_again.identifiers.push(id("email:family@x.com"));
    bob_again.identifiers.sort();
    let mut blocked = Event::new(EventKind::Track, "visit", Timestamp(2_000), vec![id("user_id:alice")]);
    blocked.identifiers.insert(0, id("anonymous_id:null"));
    let plain = Event::new(EventKind::Track, "visit", Timestamp(2_000), vec![id("user_id:alice")]);
    let report = db.ingest_batch(&[plain, bob_again, blocked], false).unwrap();
    assert_eq!(report.applied, 3);
    assert!(
        matches!(&report.ignored[..], [(1, a, Ignored::GaveWay { .. }), (2, b, Ignored::Blocked)]
            if *a == id("email:family@x.com") && *b == id("anonymous_id:null")),
        "{:?}",
        report.ignored
    );
    // A new user_id with the email of a profile that has none joins it, as
    // before (a known newsletter subscriber signs up).
    let sub = db.identify(&[id("email:sub@x.com")], Update::new().set("newsletter", true)).unwrap().profile;
    let signed_up = db.identify(&[id("email:sub@x.com"), id("user_id:carol")], Update::new()).unwrap();
    assert_eq!((signed_up.profile, signed_up.created), (sub, false));
    assert_eq!(signed_up.linked, vec![id("user_id:carol")]);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");

    // A kind that evicts its oldest never leads: a new anonymous id seen
    // with a known device rotates into the device's profile.
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules::default().limit("anonymous_id", KindLimit { max: 1, on_exceed: OnExceed::EvictOldest });
    let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
    let p = db.identify(&[id("anonymous_id:v"), id("device_id:d")], Update::new()).unwrap().profile;
    let rotated = db.identify(&[id("device_id:d"), id("anonymous_id:w")], Update::new()).unwrap();
    assert_eq!((rotated.profile, rotated.created), (p, false));
    assert_eq!(rotated.unlinked, vec![id("anonymous_id:v")]);
    assert_eq!(db.resolve(&id("anonymous_id:w")).unwrap(), Some(p));
}

#[test]
fn blocklisted_values_are_never_stitched() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let r =
        db.identify(&[id("email:a@x.com"), id("anonymous_id:null"), id("device_id:Unknown")], Update::new()).unwrap();
    assert_eq!(r.ignored.len(), 2);
    assert_eq!(db.resolve(&id("anonymous_id:null")).unwrap(), None);
    let before = db.raw_dump().unwrap();
    let err = db.identify(&[id("anonymous_id:undefined"), id("user_id:0")], Update::new().set("a", 1)).unwrap_err();
    assert!(err.to_string().contains("blocklist"), "{err}");
    assert_eq!(db.raw_dump().unwrap(), before);
}

#[test]
fn the_merge_cap_refuses_mega_merges_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules { max_profiles_per_merge: 2, ..IdentityRules::default() };
    let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
    for d in ["d1", "d2", "d3"] {
        db.update(&id(&format!("device_id:{d}")), Update::new()).unwrap();
    }
    let before = db.raw_dump().unwrap();
    let err = db.identify(&[id("device_id:d1"), id("device_id:d2"), id("device_id:d3")], Update::new()).unwrap_err();
    assert!(err.to_string().contains("merge cap"), "{err}");
    assert_eq!(db.raw_dump().unwrap(), before);
    let many: Vec<Identifier> = (0..40).map(|i| id(&format!("device_id:x{i}"))).collect();
    assert!(db.identify(&many, Update::new()).is_err());
    assert!(db.identify(&[], Update::new()).is_err());
    assert_eq!(db.raw_dump().unwrap(), before);
}

#[test]
fn unmerge_splits_off_the_origin_with_its_later_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.update(&id("anonymous_id:a1"), Update::new().set("color", "red")).unwrap();
    clock.advance(1);
    db.update(&id("email:k@x.com"), Update::new().set("plan", "pro")).unwrap();
    clock.advance(1);
    db.identify(&[id("anonymous_id:a1"), id("email:k@x.com")], Update::new()).unwrap();
    clock.advance(1);
    db.update(&id("email:k@x.com"), Update::new().set("plan", "enterprise")).unwrap();
    db.update(&id("anonymous_id:a1"), Update::new().set("color", "blue")).unwrap();
    let r = db.unmerge(ProfileId(0), &id("email:k@x.com")).unwrap();
    assert_eq!((r.restored, r.from), (ProfileId(1), ProfileId(0)));
    assert_eq!(r.identifiers, vec![id("email:k@x.com")]);
    let k = db.get(&id("email:k@x.com")).unwrap().unwrap();
    assert_eq!(k.id, ProfileId(1));
    assert_eq!(k.traits.get("plan"), Some(&"enterprise".into()));
    assert_eq!(k.traits.get("color"), None);
    let a = db.get(&id("anonymous_id:a1")).unwrap().unwrap();
    assert_eq!(a.traits.get("plan"), None);
    assert_eq!(a.traits.get("color"), Some(&"blue".into()));
    assert!(matches!(
        db.history(ProfileId(0)).unwrap().last().unwrap().change,
        Change::Unmerge { split_off: ProfileId(1), .. }
    ));
    assert_eq!(db.profile_count().unwrap(), 2);
    // A native identifier cannot be unmerged.
    let err = db.unmerge(ProfileId(0), &id("anonymous_id:a1")).unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

#[test]
fn removed_identifiers_do_not_come_back_on_replay_unless_relinked() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let p = db.identify(&[id("user_id:u"), id("device_id:shared")], Update::new()).unwrap().profile;
    let own = db.remove_identifier(p, &id("device_id:shared")).unwrap();
    assert_ne!(own, p);
    // Replaying the same event must not re-attach the device.
    let r = db.identify(&[id("user_id:u"), id("device_id:shared")], Update::new().set("x", 1)).unwrap();
    assert_eq!(r.profile, p);
    assert!(matches!(&r.ignored[..], [(_, Ignored::Detached { .. })]));
    assert_eq!(db.resolve(&id("device_id:shared")).unwrap(), Some(own));
    // Events carrying only the device reach its own profile.
    assert_eq!(db.update(&id("device_id:shared"), Update::new().set("y", 1)).unwrap().profile, own);
    db.link_identifier(p, &id("device_id:shared")).unwrap();
    assert_eq!(db.resolve(&id("device_id:shared")).unwrap(), Some(p));
    // It was the last identifier of its own profile, which came back with it.
    assert_eq!(db.resolve_id(own).unwrap(), Some(p));
    assert_eq!(db.get_by_id(p).unwrap().unwrap().traits.get("y"), Some(&1.into()));
    let other = db.update(&id("user_id:other"), Update::new()).unwrap().profile;
    let err = db.remove_identifier(other, &id("user_id:u")).unwrap_err();
    assert!(err.to_string().contains("not linked"), "{err}");
}

/// A removal retried (an admin running `identifier remove` twice) finds
/// the identifier alone on the profile the first one gave it: it answers
/// that profile and writes nothing. (Found by the CLI review: the retry
/// was refused as "the last identifier; erase the profile instead".)
#[test]
fn removing_an_identifier_twice_answers_its_own_profile_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    let p = db.identify(&[id("user_id:u"), id("device_id:d")], Update::new()).unwrap().profile;
    let own = db.remove_identifier(p, &id("device_id:d")).unwrap();
    let feed = db.feed(0, 100).unwrap();
    let versions = |x| db.history(x).unwrap().iter().map(|d| d.version).collect::<Vec<_>>();
    let before = (versions(own), versions(p));
    assert_eq!(db.remove_identifier(own, &id("device_id:d")).unwrap(), own);
    assert_eq!((versions(own), versions(p)), before, "nothing written");
    assert_eq!(db.feed(0, 100).unwrap(), feed);
    assert_eq!(db.resolve(&id("device_id:d")).unwrap(), Some(own));
    // A profile's last identifier that was never removed is still refused.
    let solo = db.update(&id("user_id:solo"), Update::new()).unwrap().profile;
    let err = db.remove_identifier(solo, &id("user_id:solo")).unwrap_err();
    assert!(err.to_string().contains("erase the profile instead"), "{err}");
}

#[test]
fn identity_graph_says_when_and_how_each_identifier_linked() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.update(&id("user_id:u"), Update::new()).unwrap();
    clock.advance(100);
    db.update(&id("device_id:d"), Update::new()).unwrap();
    db.identify(&[id("user_id:u"), id("device_id:d")], Update::new()).unwrap();
    let g = db.identity_graph(ProfileId(0)).unwrap();
    assert_eq!(g.len(), 2);
    let d = g.iter().find(|i| i.identifier == id("device_id:d")).unwrap();
    assert_eq!((d.link.origin, d.link.profile, d.link.linked_at), (ProfileId(1), ProfileId(0), Timestamp(1_100)));
}

/// Regression: in a shared ingest batch, an identifier linked by an earlier
/// event must move with its profile when a later event merges it away.
#[test]
fn a_batch_that_links_then_merges_repoints_every_identifier() {
    use profiledb::event::{Event, EventKind};
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open(dir.path());
    db.update(&id("user_id:u"), Update::new().set("plan", "pro")).unwrap();
    let t = Timestamp(1_000);
    let first = Event::new(EventKind::Track, "page_view", t, vec![id("anonymous_id:a")]);
    let mut both = vec![id("anonymous_id:a"), id("user_id:u")];
    both.sort();
    let second = Event::new(EventKind::Track, "page_view", t, both);
    let report = db.ingest_batch(&[first, second], false).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (2, 0));
    let u = db.resolve(&id("user_id:u")).unwrap().unwrap();
    assert_eq!(db.resolve(&id("anonymous_id:a")).unwrap(), Some(u));
    assert!(db.identifiers(u).unwrap().contains(&id("anonymous_id:a")));
    assert_eq!(db.event_stats(u, "page_view", profiledb::rollup::Window::All).unwrap().count, 2);
    assert_eq!(db.events(u, Timestamp(0), Timestamp(2_000)).unwrap().len(), 2);
}

/// A batch whose middle event a stitching rule refuses (it would merge
/// three profiles with a cap of two): that event is reported with its
/// position and writes nothing; the events around it commit.
#[test]
fn a_refused_event_mid_batch_is_reported_and_the_others_commit() {
    use profiledb::event::{Event, EventKind};
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules { max_profiles_per_merge: 2, ..IdentityRules::default() };
    let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
    for who in ["device_id:a", "device_id:b", "device_id:c"] {
        db.update(&id(who), Update::new()).unwrap();
    }
    let t = Timestamp(1_000);
    let ev = |ids: &[&str]| Event::new(EventKind::Track, "page_view", t, ids.iter().map(|s| id(s)).collect());
    let batch = [
        ev(&["device_id:a"]),
        ev(&["device_id:a", "device_id:b", "device_id:c"]),
        ev(&["device_id:b"]),
        ev(&["device_id:c", "device_id:d"]),
    ];
    let report = db.ingest_batch(&batch, false).unwrap();
    assert_eq!(report.applied, 3, "{report:?}");
    assert_eq!(report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![1], "{report:?}");
    let of = |who: &str| db.resolve(&id(who)).unwrap().unwrap();
    assert_eq!(db.event_stats(of("device_id:a"), "page_view", profiledb::rollup::Window::All).unwrap().count, 1);
    assert_eq!(db.event_stats(of("device_id:b"), "page_view", profiledb::rollup::Window::All).unwrap().count, 1);
    assert_eq!(of("device_id:c"), of("device_id:d"));
    assert_ne!(of("device_id:a"), of("device_id:b"));
    assert!(db.check().unwrap().is_clean());
}

/// As-of reads of a merged-away id: before its merge it is the profile it
/// was (its own history, under its own id); after, the profile it merged
/// into — through a chain of merges.
#[test]
fn as_of_reads_of_a_merged_away_id_follow_its_own_history_until_its_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    // 2 merges into 1, then 1 into 0.
    let MergeChain { ids: [zero, one, two], before_merges, between, after } = merge_chain(&db, &clock);
    assert_eq!(db.resolve_id(two).unwrap(), Some(zero));

    let own = db.get_as_of_time(two, before_merges).unwrap().expect("existed");
    assert_eq!(own.id, two);
    assert_eq!(own.traits.get("size"), Some(&TraitValue::Int(42)));
    assert_eq!(own.traits.get("plan"), None, "not the survivor's past");
    let mid = db.get_as_of_time(two, between).unwrap().expect("merged into 1");
    assert_eq!(mid.id, one);
    assert_eq!((mid.traits.get("color").is_some(), mid.traits.get("size").is_some()), (true, true));
    assert_eq!(mid.traits.get("plan"), None);
    let last = db.get_as_of_time(two, after).unwrap().expect("merged into 0");
    assert_eq!(last.id, zero);
    assert_eq!(last.traits.len(), 3);
    let own_one = db.get_as_of_time(one, before_merges).unwrap().expect("existed");
    assert_eq!((own_one.id, own_one.traits.len()), (one, 1));
    assert_eq!(db.get_as_of_time(two, Timestamp(0)).unwrap(), None, "before it existed");
}

/// As-of reads of an id through merge, unmerge and merge again: merged
/// periods read the survivor, the period it was split off reads its own
/// history — also while it is live again.
#[test]
fn as_of_reads_follow_an_id_through_merge_unmerge_and_merge_again() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    let s = db.identify(&[id("user_id:s")], Update::new().set("who", "s")).unwrap().profile;
    clock.advance(1_000);
    let o = db.identify(&[id("anonymous_id:o")], Update::new().set("who", "o")).unwrap().profile;
    clock.advance(1_000);
    let before_merge = clock.now();
    clock.advance(1_000);
    db.identify(&[id("anonymous_id:o"), id("user_id:s")], Update::new()).unwrap();
    clock.advance(1_000);
    let merged = clock.now();
    clock.advance(1_000);
    assert_eq!(db.unmerge(s, &id("anonymous_id:o")).unwrap().restored, o);
    clock.advance(1_000);
    db.identify(&[id("anonymous_id:o")], Update::new().set("who", "o2")).unwrap();
    clock.advance(1_000);
    let split_off = clock.now();
    let at = |t: Timestamp| db.get_as_of_time(o, t).unwrap().map(|p| (p.id, p.traits.get("who").cloned()));
    let own = |v: &str| Some((o, Some(TraitValue::from(v))));
    // Live again: its merged period reads the survivor.
    assert_eq!(at(before_merge), own("o"));
    // (Its `who` is o's: the later write wins the merge.)
    assert_eq!(at(merged), Some((s, Some(TraitValue::from("o")))), "merged then: the survivor's state");
    assert_eq!(at(split_off), own("o2"));
    clock.advance(1_000);
    db.identify(&[id("anonymous_id:o"), id("user_id:s")], Update::new()).unwrap();
    clock.advance(1_000);
    let merged_again = clock.now();
    assert_eq!(db.resolve_id(o).unwrap(), Some(s));
    assert_eq!(at(before_merge), own("o"));
    assert_eq!(at(merged).map(|(p, _)| p), Some(s));
    assert_eq!(at(split_off), own("o2"), "split off then: its own profile");
    assert_eq!(at(merged_again).map(|(p, _)| p), Some(s));
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}
