//! Erase and what other profiles hold of the erased person: merge and
//! split records, identifier lists, snapshots and stored events of the
//! profiles that remain; dedup entries, membership history and feed
//! records; and export's completeness and audit.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::ConsentChange;
use profiledb::{AccessMode, Error, Identifier, ManualClock, ProfileDb, Timestamp, TraitValue, Update};

mod common;
use common::{files_containing, raw_hits};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path, configure: impl FnOnce(profiledb::Builder) -> profiledb::Builder) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    configure(ProfileDb::builder(dir).clock(clock).compression(false)).open().expect("open the test database")
}

/// B has `email:b@example.com`; an identify event carrying it with A's user
/// id would merge two user ids, which the default one-`user_id` limit
/// refuses, so the email stays on B while A's delta and event name it.
struct RefusedStitch {
    a: Identifier,
    b: Identifier,
    email: Identifier,
    aid: profiledb::ProfileId,
}

fn refused_stitch(db: &ProfileDb) -> RefusedStitch {
    let (a, b, email) = (id("user_id:A"), id("user_id:B"), id("email:b@example.com"));
    db.identify(&[b.clone(), email.clone()], Update::new().set("plan", "pro")).unwrap();
    let aid = db.update(&a, Update::new().set("name", "Ann")).unwrap().profile;
    let mut e =
        Event::new(EventKind::Identify, "identify", Timestamp(1_700_000_000_000), vec![email.clone(), a.clone()]);
    e.traits = Update::new().set("color", "green").into_ops();
    db.track(&e).unwrap();
    RefusedStitch { a, b, email, aid }
}

fn assert_clean(db: &ProfileDb) {
    let report = db.check().unwrap();
    assert!(report.is_clean(), "check: {report}");
}

/// 1(a): a merge and its unmerge leave the erased person's state in the
/// survivor's merge and split records; erase redacts them and the states
/// they produced, and as-of reads of the survivor return its own state.
#[test]
fn erase_after_unmerge_redacts_the_survivor_history() {
    let dir = tempfile::tempdir().unwrap();
    // A snapshot at every version: the snapshots inside the merge window
    // hold the merged traits too.
    let db = open(dir.path(), |b| b.snapshot_every(1));
    let (p, q) = (id("user_id:p"), id("email:q@example.com"));
    let pid = db.update(&p, Update::new().set("name", "Pat")).unwrap().profile;
    db.update(&q, Update::new().set("ssn", "q-secret-123").set("name", "Quinn-Q")).unwrap();
    db.identify(&[p.clone(), q.clone()], Update::new()).unwrap();
    // While merged: one update through q's identifier only (q's), one
    // through p's (p's own).
    db.update(&q, Update::new().set("nick", "q-nick-777")).unwrap();
    db.update(&p, Update::new().set("city", "Oslo")).unwrap();
    let merged_versions = db.get_by_id(pid).unwrap().unwrap().version;
    let receipt = db.unmerge(pid, &q).unwrap();
    assert_ne!(receipt.restored, pid);
    let secrets = ["q@example.com", "q-secret-123", "q-nick-777", "Quinn-Q"];
    assert!(!raw_hits(&db, &secrets).is_empty(), "the survivor's history holds q before the erase");

    db.erase(&q, Some("dsar-q")).unwrap();
    let hits = raw_hits(&db, &secrets);
    assert!(hits.is_empty(), "erased values are still stored: {hits:?}");
    let history = serde_json::to_string(&db.history(pid).unwrap()).unwrap();
    let export = db.export(&p, None).unwrap().to_string();
    for s in secrets {
        assert!(!history.contains(s), "history still holds {s}");
        assert!(!export.contains(s), "export still holds {s}");
    }
    // As-of reads of the survivor: its own state at every version.
    let now = db.get_by_id(pid).unwrap().unwrap();
    for v in 1..=now.version {
        let at = db.get_as_of_version(pid, v).unwrap();
        assert!(at.traits.get("ssn").is_none() && at.traits.get("nick").is_none(), "version {v}: {:?}", at.traits);
        assert_eq!(at.traits.get("name"), Some(&TraitValue::from("Pat")), "version {v}");
    }
    let in_window = db.get_as_of_version(pid, merged_versions).unwrap();
    assert_eq!(in_window.traits.get("city"), Some(&TraitValue::from("Oslo")), "p's own update in the window stays");
    assert_eq!(now.traits.len(), 2, "the current state is unchanged: {:?}", now.traits);
    assert_clean(&db);
    drop(db);
    assert!(files_containing(dir.path(), &secrets).is_empty());
}

/// 1(b): an identifier refused by an identity limit is named in the
/// profile's delta (`via`) and its stored event; erase removes it there.
#[test]
fn erase_removes_an_identifier_from_a_refused_stitch() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    let RefusedStitch { a, b, email, aid } = refused_stitch(&db);
    assert_eq!(db.resolve(&email).unwrap(), db.resolve(&b).unwrap(), "the email stayed with B");
    assert!(!raw_hits(&db, &["b@example.com"]).is_empty());

    db.erase(&email, None).unwrap();
    let hits = raw_hits(&db, &["b@example.com"]);
    assert!(hits.is_empty(), "the erased identifier is still stored: {hits:?}");
    let a_now = db.get_by_id(aid).unwrap().unwrap();
    assert_eq!(a_now.traits.get("color"), Some(&TraitValue::from("green")), "A keeps what came through its own id");
    let events = db.events(aid, Timestamp(i64::MIN), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].identifiers, vec![a.clone()]);
    assert_clean(&db);
}

/// Anonymize redacts like erase: the identifiers of the anonymized person
/// leave other profiles' `via` lists, stored events and merge windows.
#[test]
fn anonymize_removes_the_persons_identifiers_from_other_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b.snapshot_every(1));
    let RefusedStitch { a, email, aid, .. } = refused_stitch(&db);
    // And a merge window: q merged into A and split off again.
    let q = id("email:q-anon@example.com");
    db.update(&q, Update::new().set("nick", "quinn-anon-77")).unwrap();
    db.identify(&[a.clone(), q.clone()], Update::new()).unwrap();
    db.unmerge(aid, &q).unwrap();
    assert!(!raw_hits(&db, &["b@example.com", "q-anon@example.com"]).is_empty());

    let report = db.anonymize(&email, None, None).unwrap();
    assert!(report.references_redacted > 0, "{report:?}");
    db.anonymize(&q, None, None).unwrap();
    let hits = raw_hits(&db, &["b@example.com", "q-anon@example.com", "quinn-anon-77"]);
    assert!(hits.is_empty(), "the anonymized identifiers are still stored: {hits:?}");
    let a_now = db.get_by_id(aid).unwrap().unwrap();
    assert_eq!(a_now.traits.get("color"), Some(&TraitValue::from("green")), "A keeps what came through its own id");
    assert_eq!(a_now.traits.get("nick"), None);
    let events = db.events(aid, Timestamp(i64::MIN), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events[0].identifiers, vec![a.clone()]);
    assert_clean(&db);
}

/// A chain: q merged into s, s into t; s split off t, q off s; erasing q
/// redacts t's merge of s too (s's state there held q).
#[test]
fn erase_redacts_a_merge_of_a_profile_that_held_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b.snapshot_every(2));
    let (t, s, q) = (id("user_id:t"), id("device_id:s"), id("email:chain-q@example.com"));
    let tid = db.update(&t, Update::new().set("tier", "gold")).unwrap().profile;
    let sid = db.update(&s, Update::new().set("os", "linux")).unwrap().profile;
    db.update(&q, Update::new().set("secret", "chain-secret-42")).unwrap();
    db.identify(&[s.clone(), q.clone()], Update::new()).unwrap(); // q into s
    db.identify(&[t.clone(), s.clone()], Update::new()).unwrap(); // s into t
    db.update(&q, Update::new().set("later", "chain-later-43")).unwrap();
    db.unmerge(tid, &s).unwrap(); // s (holding q) off t
    db.unmerge(sid, &q).unwrap(); // q off s
    let secrets = ["chain-q@example.com", "chain-secret-42", "chain-later-43"];
    db.erase(&q, None).unwrap();
    let hits = raw_hits(&db, &secrets);
    assert!(hits.is_empty(), "erased values are still stored: {hits:?}");
    for p in [tid, sid] {
        let now = db.get_by_id(p).unwrap().unwrap();
        for v in 1..=now.version {
            let at = db.get_as_of_version(p, v).unwrap();
            assert!(at.traits.get("secret").is_none() && at.traits.get("later").is_none(), "{p} v{v}: {:?}", at.traits);
        }
    }
    assert_clean(&db);
}

/// An unmerge that could not replay the other side (the profile it had
/// been split from was erased) records a state still holding the split-off
/// person's trait; erasing that person removes it from the survivor's
/// current state too.
#[test]
fn erase_cleans_a_state_an_unmerge_fell_back_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    let (z, s, e) = (id("anonymous_id:z"), id("anonymous_id:s"), id("anonymous_id:e"));
    db.update(&z, Update::new().set("z", "zed")).unwrap();
    let sid = db.update(&s, Update::new().set("c", "s-own")).unwrap().profile;
    db.update(&e, Update::new().set("a", "fallback-secret-5")).unwrap();
    db.identify(&[s.clone(), e.clone()], Update::new()).unwrap(); // e into s
    let zid = db.identify(&[z.clone(), s.clone()], Update::new()).unwrap().profile; // s into z
    db.unmerge(zid, &s).unwrap(); // s (holding e) off z
    db.erase(&z, None).unwrap();
    db.unmerge(sid, &e).unwrap(); // replays s's split from z without z's history
    db.erase(&e, None).unwrap();
    let hits = raw_hits(&db, &["fallback-secret-5"]);
    assert!(hits.is_empty(), "erased values are still stored: {hits:?}");
    let now = db.get_by_id(sid).unwrap().unwrap();
    assert_eq!(now.traits.get("c"), Some(&TraitValue::from("s-own")));
    assert!(now.traits.get("a").is_none(), "{:?}", now.traits);
    assert_clean(&db);
}

/// Retention folded the merge into the survivor's floor snapshot: the
/// floor moves up to the unmerge.
#[test]
fn erase_raises_a_floor_that_holds_the_person() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).compression(false).open().unwrap();
    let (p, q) = (id("user_id:fp"), id("email:fold-q@example.com"));
    let pid = db.update(&p, Update::new().set("name", "Pat")).unwrap().profile;
    db.update(&q, Update::new().set("secret", "fold-secret-9")).unwrap();
    clock.advance(1_000);
    db.identify(&[p.clone(), q.clone()], Update::new()).unwrap();
    clock.advance(1_000);
    let horizon = clock.now();
    clock.advance(1_000);
    db.unmerge(pid, &q).unwrap();
    db.retain_history(horizon).unwrap();
    assert!(db.history_floor(pid).unwrap() > 0);
    db.erase(&q, None).unwrap();
    let hits = raw_hits(&db, &["fold-q@example.com", "fold-secret-9"]);
    assert!(hits.is_empty(), "erased values are still stored: {hits:?}");
    let floor = db.history_floor(pid).unwrap();
    assert!(matches!(db.get_as_of_version(pid, floor - 1), Err(Error::HistoryTruncated { .. })));
    assert_eq!(db.get_as_of_version(pid, floor).unwrap().traits.len(), 1);
    assert_clean(&db);
}

/// 2: dedup entries of events never stored on a timeline (alias events,
/// timelines off) and of an alias profile go with erase and anonymize.
#[test]
fn erase_and_anonymize_remove_every_dedup_entry() {
    for timelines in [true, false] {
        for anonymize in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let db = open(dir.path(), |b| if timelines { b } else { b.timeline_retention(0) });
            let (u, a) = (id("user_id:du"), id("anonymous_id:da"));
            let mut e = Event::new(EventKind::Track, "login", Timestamp(1_700_000_000_100), vec![a.clone()]);
            e.message_id = Some("msg-anon-1".into());
            db.track(&e).unwrap();
            let mut e = Event::new(EventKind::Track, "login", Timestamp(1_700_000_000_200), vec![u.clone()]);
            e.message_id = Some("msg-user-1".into());
            db.track(&e).unwrap();
            let mut alias = Event::new(EventKind::Alias, "alias", Timestamp(1_700_000_000_300), vec![u.clone()]);
            alias.previous_id = Some(a.clone());
            alias.message_id = Some("msg-alias-1".into());
            db.track(&alias).unwrap();
            let mut other =
                Event::new(EventKind::Track, "login", Timestamp(1_700_000_000_400), vec![id("user_id:other")]);
            other.message_id = Some("msg-other-1".into());
            db.track(&other).unwrap();
            assert_eq!(db.dump_cf("dedup").unwrap().len(), 4);
            if anonymize {
                db.anonymize(&u, None, None).unwrap();
            } else {
                db.erase(&u, None).unwrap();
            }
            let left: Vec<Vec<u8>> = db.dump_cf("dedup").unwrap().into_iter().map(|e| e.key).collect();
            assert_eq!(left, vec![b"msg-other-1".to_vec()], "timelines {timelines}, anonymize {anonymize}");
            assert_clean(&db);
        }
    }
}

/// 3: erase writes no membership row and deletes the person's feed
/// records, keeping one `Erased` record (profile id only).
#[test]
fn erase_leaves_no_membership_row_and_one_erased_feed_record() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    let bob = id("user_id:bob");
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let keep = db.update(&id("user_id:keep"), Update::new().set("plan", "pro")).unwrap().profile;
    let bid = db.update(&bob, Update::new().set("plan", "pro")).unwrap().profile;
    db.update(&id("anonymous_id:bob-device"), Update::new().set("plan", "pro")).unwrap();
    db.identify(&[bob.clone(), id("anonymous_id:bob-device")], Update::new()).unwrap();
    let rx = db.subscribe();
    db.erase(&bob, None).unwrap();
    let rows = db.dump_cf("membership").unwrap();
    assert_eq!(rows.len(), 1, "only the kept profile's row: {rows:?}");
    assert_eq!(&rows[0].key[4..8], &keep.0.to_be_bytes());
    let feed = db.feed(0, 100).unwrap();
    let kinds: Vec<(profiledb::segment::FeedKind, u32)> = feed.iter().map(|r| (r.kind.clone(), r.profile.0)).collect();
    assert_eq!(
        kinds,
        vec![(profiledb::segment::FeedKind::Entered, keep.0), (profiledb::segment::FeedKind::Erased, bid.0)]
    );
    let live: Vec<_> = rx.try_iter().map(|r| r.kind).collect();
    assert_eq!(live, vec![profiledb::segment::FeedKind::Erased], "subscribers learn of the erase only");
    assert_eq!(db.segment_count("pro").unwrap(), 1);
    assert_clean(&db);
}

/// 4(a): export holds the merged-away ids' own logs and the membership history.
#[test]
fn export_holds_merged_away_history_and_membership_history() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), |b| b);
    db.define_segment("named", "traits.name exists").unwrap();
    let (u, a1) = (id("user_id:u"), id("anonymous_id:a1"));
    db.update(&u, Update::new().set("name", "Ann")).unwrap();
    db.update(&a1, Update::new().set("utm", "ads-campaign-17")).unwrap();
    db.update(&a1, Update::new().set("utm", "email")).unwrap();
    db.identify(&[u.clone(), a1.clone()], Update::new()).unwrap();
    let doc = db.export(&u, Some("dsar-4")).unwrap();
    let text = doc.to_string();
    assert!(text.contains("ads-campaign-17"), "the merged-away id's own history is exported: {text}");
    assert_eq!(doc["merged_histories"].as_array().unwrap().len(), 1);
    let rows = doc["membership_history"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0]["segment"].as_str(), rows[0]["entered"].as_bool()), (Some("named"), Some(true)));
    let audit = db.audit_log().unwrap();
    assert_eq!(audit.len(), 1);
    assert!(audit[0].entries >= 5);
}

/// 4(b): a handle that cannot write the audit record refuses to export.
#[test]
fn export_through_a_read_only_handle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = open(dir.path(), |b| b);
        db.update(&id("user_id:ro"), Update::new().set("name", "Ro")).unwrap();
    }
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    let err = ro.export(&id("user_id:ro"), None).unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err:?}");
    assert!(err.to_string().contains("audit log"), "{err}");
    drop(ro);
    let db = ProfileDb::open(dir.path()).unwrap();
    assert!(db.audit_log().unwrap().is_empty());
}

/// Random merges, updates, unmerges and erases: after each erase no value
/// of an erased person is stored anywhere, no as-of read of a remaining
/// profile returns one, and `check` is clean. Every value names its
/// person (`<p3.17>`); identifies carry no update, so each value came
/// through exactly one person's identifier.
#[test]
fn random_histories_keep_nothing_of_the_erased() {
    const PERSONS: usize = 6;
    let seeds: u64 = std::env::var("PROFILEDB_ERASE_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    for seed in 0..seeds {
        let dir = tempfile::tempdir().unwrap();
        let db = open(dir.path(), |b| b.snapshot_every(3));
        let mut rng = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut next = |n: usize| {
            rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((rng >> 33) as usize) % n
        };
        let who = |i: usize| id(&format!("anonymous_id:person-{i}"));
        let mut erased = std::collections::BTreeSet::new();
        let mut log = Vec::new();
        for step in 0..40 {
            let i = next(PERSONS);
            match next(10) {
                0 => {
                    let purpose = ["email", "sms"][next(2)];
                    let source = format!("<p{i}.{step}>");
                    let change =
                        if next(2) == 0 { ConsentChange::granted(source) } else { ConsentChange::denied(source) };
                    log.push(format!("consent {i} {purpose}"));
                    let _ = db.set_consent(&who(i), purpose, change);
                }
                1..=3 => {
                    let name = ["a", "b", "c"][next(3)];
                    log.push(format!("update {i} {name}"));
                    let _ = db.update(&who(i), Update::new().set(name, format!("<p{i}.{step}>")));
                }
                4..=6 => {
                    let j = next(PERSONS);
                    log.push(format!("identify {i} {j}"));
                    let _ = db.identify(&[who(i), who(j)], Update::new());
                }
                7 | 8 => {
                    if let Ok(Some(p)) = db.resolve(&who(i)) {
                        log.push(format!("unmerge {i} from {p}"));
                        let _ = db.unmerge(p, &who(i));
                    }
                }
                _ => {
                    let Ok(Some(p)) = db.resolve(&who(i)) else { continue };
                    let gone: Vec<usize> =
                        (0..PERSONS).filter(|k| db.resolve(&who(*k)).ok().flatten() == Some(p)).collect();
                    log.push(format!("erase {i} (with {gone:?})"));
                    db.erase(&who(i), None).unwrap();
                    erased.extend(gone);
                    let needles: Vec<String> = erased.iter().map(|k| format!("<p{k}.")).collect();
                    let names: Vec<String> = erased.iter().map(|k| format!("person-{k}")).collect();
                    let all: Vec<&str> = needles.iter().chain(names.iter()).map(String::as_str).collect();
                    let hits = raw_hits(&db, &all);
                    assert!(hits.is_empty(), "seed {seed}: {hits:?}\n{log:#?}");
                    for k in (0..PERSONS).filter(|k| !erased.contains(k)) {
                        let Some(p) = db.resolve(&who(k)).unwrap() else { continue };
                        let now = db.get_by_id(p).unwrap().unwrap();
                        for v in db.history_floor(p).unwrap().max(1)..=now.version {
                            let state = db.get_as_of_version(p, v).unwrap().to_json().to_string();
                            assert!(
                                !needles.iter().any(|n| state.contains(n)),
                                "seed {seed}: {p} v{v}: {state}\n{log:#?}"
                            );
                        }
                    }
                    let report = db.check().unwrap();
                    assert!(report.is_clean(), "seed {seed}: {report}\n{log:#?}");
                }
            }
        }
    }
}
