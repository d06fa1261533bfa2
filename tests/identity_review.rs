//! Regressions for the identity review (review 28, /work/reviews/identity.md):
//! each test names the finding it guards.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::{
    Cause, Error, Identifier, IdentityRules, Ignored, KindLimit, ManualClock, MergeRules, MergeStrategy, OnExceed,
    ProfileDb, ProfileId, Timestamp, TraitValue, Update,
};

const DAY: i64 = Timestamp::DAY;
const T0: i64 = 20_000 * DAY;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn open_with(dir: &std::path::Path, rules: Option<IdentityRules>) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + 10 * DAY)));
    let mut b = ProfileDb::builder(dir).clock(clock.clone());
    if let Some(r) = rules {
        b = b.identity_rules(r);
    }
    (b.open().unwrap(), clock)
}

fn open_merge_rules(dir: &std::path::Path, rules: MergeRules) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0 + 10 * DAY)));
    ProfileDb::builder(dir).clock(clock).merge_rules(rules).open().unwrap()
}

fn assert_clean(db: &ProfileDb) {
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

fn n_events(db: &ProfileDb, p: ProfileId) -> usize {
    db.events(p, Timestamp(0), Timestamp(T0 + 100 * DAY)).unwrap().len()
}

fn purchase(who: &[&str]) -> Event {
    let ids: Vec<Identifier> = who.iter().map(|w| id(w)).collect();
    Event::new(EventKind::Track, "purchase", Timestamp(T0), ids).with_property("amount", 5)
}

// ------------------------------------------------------------------ H1

/// H1: `-1` is on the default blocklist, but a phone's normalization drops
/// the `-`, so `phone:-1` arrived as `phone:1`, was not blocked, and every
/// sender's placeholder merged two people into one profile.
#[test]
fn phone_minus_one_placeholder_does_not_merge_two_people() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), None);
    let a = db.identify(&[id("email:a@x.com"), id("phone:-1")], Update::new().set("name", "A")).unwrap();
    let b = db.identify(&[id("email:b@x.com"), id("phone:-1")], Update::new().set("name", "B")).unwrap();
    assert_ne!(a.profile, b.profile, "two people sharing the placeholder phone -1 were merged");
    assert_eq!(b.ignored, vec![(id("phone:-1"), Ignored::Blocked)]);
    assert_eq!(db.resolve(&id("phone:-1")).unwrap(), None, "a placeholder is never linked");
    // Only a placeholder: refused as every blocked operation is.
    let err = db.identify(&[id("phone:-1")], Update::new().set("x", 1)).unwrap_err();
    assert!(matches!(err, Error::InvalidIdentifier { .. }) && err.to_string().contains("blocklist"), "{err}");
    assert_clean(&db);
}

/// H1, native event format: `"phone": "-1"` in `identifiers` linked too.
#[test]
fn native_event_phone_minus_one_is_not_an_identifier() {
    use profiledb::event::{parse_line, EventFormat, EventLimits};
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), None);
    let lim = EventLimits::new(db.now());
    for (n, who) in ["a@x.com", "b@x.com"].iter().enumerate() {
        let line = format!(
            r#"{{"type":"identify","timestamp":{T0},"identifiers":{{"email":"{who}","phone":"-1"}},"traits":{{"n":{n}}}}}"#
        );
        let e = parse_line(&line, EventFormat::Auto, "l", &lim).unwrap();
        db.track(&e).unwrap();
    }
    let (a, b) = (db.resolve(&id("email:a@x.com")).unwrap(), db.resolve(&id("email:b@x.com")).unwrap());
    assert!(a.is_some() && a != b, "{a:?} {b:?}");
    assert_eq!(db.resolve(&id("phone:-1")).unwrap(), None);
}

/// H1: a phone number shorter than five digits is no one's (placeholders
/// such as `(0)`, `--1`, service numbers), and a blocklist entry spelt as
/// a phone number blocks the normalized value.
#[test]
fn short_phone_numbers_and_phone_spelt_blocklist_entries_are_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules::default().block("555-0100");
    let (db, _) = open_with(dir.path(), Some(rules));
    for short in ["phone:1234", "phone:--1", "phone:+1", "phone:(555) 0100"] {
        let r = db.identify(&[id("email:a@x.com"), id(short)], Update::new()).unwrap();
        assert_eq!(r.ignored, vec![(id(short), Ignored::Blocked)], "{short}");
    }
    let r = db.identify(&[id("email:a@x.com"), id("phone:12345")], Update::new()).unwrap();
    assert_eq!((r.linked, r.ignored), (vec![id("phone:12345")], vec![]));
    assert!(!IdentityRules::default().blocks(&id("phone:+1 555 010 9999")));
}

// ------------------------------------------------------------------ H2

/// H2: at an evict-oldest limit, a login on a device that already had its
/// own (pre-login) profile gave way instead of merging: the cart and the
/// pre-login events stayed on an orphan profile. Now the merge happens and
/// the union's oldest device is unlinked, as for a new device.
#[test]
fn login_on_a_browsed_device_at_the_evict_limit_merges_and_evicts_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules::default().limit("device_id", KindLimit { max: 2, on_exceed: OnExceed::EvictOldest });
    let (db, clock) = open_with(dir.path(), Some(rules));
    for d in ["d1", "d2"] {
        clock.advance(1);
        db.identify(&[id("user_id:bob"), id(&format!("device_id:{d}"))], Update::new()).unwrap();
    }
    let bob = db.resolve(&id("user_id:bob")).unwrap().unwrap();
    clock.advance(1);
    let anon = db.update(&id("device_id:d3"), Update::new().set("cart", "shoes")).unwrap().profile;
    db.track(&purchase(&["device_id:d3"])).unwrap();
    let before_login = db.now();
    clock.advance(1);
    let r = db.identify(&[id("user_id:bob"), id("device_id:d3")], Update::new()).unwrap();
    assert_eq!(r.ignored, vec![], "the login on a browsed device was not stitched");
    assert_eq!((r.profile, r.merged.clone()), (bob, vec![anon]));
    assert_eq!(r.unlinked, vec![id("device_id:d1")], "the oldest device of the union is evicted");
    // As for a new device: the evicted one no longer resolves.
    assert_eq!(db.resolve(&id("device_id:d1")).unwrap(), None);
    assert_eq!(db.resolve(&id("device_id:d3")).unwrap(), Some(bob));
    let p = db.get_by_id(bob).unwrap().unwrap();
    assert_eq!(p.traits.get("cart"), Some(&"shoes".into()));
    assert_eq!(n_events(&db, bob), 1, "the pre-login event moved");
    let mut ids: Vec<String> = db.identifiers(bob).unwrap().iter().map(ToString::to_string).collect();
    ids.sort();
    assert_eq!(ids, ["device_id:d2", "device_id:d3", "user_id:bob"]);
    // The history records the eviction; as-of reads see both sides apart.
    assert!(db.history(bob).unwrap().iter().any(|d| d.unlinked == vec![id("device_id:d1")]));
    let old = db.get_as_of_time(anon, before_login).unwrap().unwrap();
    assert_eq!((old.id, old.traits.get("cart")), (anon, Some(&"shoes".into())));
    assert_eq!(db.get_as_of_time(bob, before_login).unwrap().unwrap().traits.get("cart"), None);
    assert_clean(&db);
    // Unmerge gives the device back its profile; the evicted one stays out.
    let u = db.unmerge(bob, &id("device_id:d3")).unwrap();
    assert_eq!(u.restored, anon);
    assert_eq!(db.resolve(&id("device_id:d3")).unwrap(), Some(anon));
    assert_eq!(db.resolve(&id("device_id:d1")).unwrap(), None);
    assert_clean(&db);
}

// ------------------------------------------------------------------ M1

/// M1: a merge refused by a merge rule (a union list past 1,000 values)
/// rejected the event, and every later event carrying both identifiers,
/// forever. Now the lower-priority side gives way (`MergeRefused`) and the
/// event applies to the target; nothing is written for the other side.
#[test]
fn a_merge_refused_by_a_union_limit_applies_the_event_to_the_target() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_merge_rules(dir.path(), MergeRules::default().trait_strategy("tags", MergeStrategy::Union));
    let tags = |p: &str| (0..600).map(|i| format!("{p}{i}")).collect::<Vec<_>>();
    let u = db.update(&id("user_id:u"), Update::new().add_to_set("tags", tags("a"))).unwrap().profile;
    let x = db.update(&id("anonymous_id:x"), Update::new().add_to_set("tags", tags("b"))).unwrap();
    let r = db.identify(&[id("anonymous_id:x"), id("user_id:u")], Update::new().set("seen", true)).unwrap();
    assert_eq!(r.profile, u);
    assert!(r.merged.is_empty());
    match &r.ignored[..] {
        [(i, Ignored::MergeRefused { reason, stays_on })] => {
            assert_eq!((i, *stays_on), (&id("anonymous_id:x"), x.profile));
            assert!(reason.contains("tags") && reason.contains("1000"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(db.get_by_id(u).unwrap().unwrap().traits.get("seen"), Some(&TraitValue::Bool(true)));
    assert_eq!(db.get_by_id(x.profile).unwrap().unwrap().version, x.version, "nothing written for the loser");
    // Later events carrying both apply too, one by one and in a batch.
    db.track(&purchase(&["anonymous_id:x", "user_id:u"])).unwrap();
    let report = db.ingest_batch(&[purchase(&["anonymous_id:x", "user_id:u"])], false).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(n_events(&db, u), 2);
    assert_eq!(n_events(&db, x.profile), 0);
    // An explicit merge still reports the refusal.
    let err = db.merge_profiles(u, x.profile, Cause::Admin("test".into())).unwrap_err();
    assert!(err.to_string().contains("refused"), "{err}");
    assert_clean(&db);
}

/// M1: the same for an integer `Sum` past `i64`.
#[test]
fn a_merge_refused_by_an_integer_sum_overflow_gives_way() {
    let dir = tempfile::tempdir().unwrap();
    let db = open_merge_rules(dir.path(), MergeRules::default().trait_strategy("ltv", MergeStrategy::Sum));
    let u = db.update(&id("user_id:u"), Update::new().set("ltv", i64::MAX)).unwrap().profile;
    let x = db.update(&id("email:x@x.com"), Update::new().set("ltv", 1)).unwrap().profile;
    let r = db.identify(&[id("email:x@x.com"), id("user_id:u")], Update::new()).unwrap();
    assert!(matches!(&r.ignored[..], [(_, Ignored::MergeRefused { stays_on, .. })] if *stays_on == x), "{r:?}");
    assert_eq!(r.profile, u);
    assert_eq!(db.resolve(&id("email:x@x.com")).unwrap(), Some(x));
    assert_clean(&db);
}

// ------------------------------------------------------------------ M3

/// M3: `merge_profiles` ignored the per-kind limits: two people's profiles
/// (a `user_id` each, limit 1) merged into one holding two user ids. Now
/// it is refused, naming the kind and the limit, and writes nothing.
#[test]
fn admin_merge_past_a_refuse_limit_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = open_with(dir.path(), None);
    let a = db.update(&id("user_id:a"), Update::new().set("n", 1)).unwrap();
    let b = db.update(&id("user_id:b"), Update::new().set("n", 2)).unwrap();
    let err = db.merge_profiles(a.profile, b.profile, Cause::Admin("review".into())).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    assert!(msg.contains("user_id") && msg.contains("at most 1"), "{msg}");
    for r in [&a, &b] {
        assert_eq!(db.get_by_id(r.profile).unwrap().unwrap().version, r.version);
    }
    assert_eq!(db.resolve(&id("user_id:b")).unwrap(), Some(b.profile));
    // Within the limits it merges as before.
    let c = db.update(&id("email:c@x.com"), Update::new()).unwrap().profile;
    assert_eq!(db.merge_profiles(c, a.profile, Cause::Admin("review".into())).unwrap(), a.profile);
    assert_clean(&db);
}

/// M3: past an evict-oldest limit, an admin merge unlinks the oldest of
/// the kind, as a stitching merge does, and records it in the history.
#[test]
fn admin_merge_past_an_evict_limit_unlinks_the_oldest() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules::default().limit("device_id", KindLimit { max: 2, on_exceed: OnExceed::EvictOldest });
    let (db, clock) = open_with(dir.path(), Some(rules));
    let mut p = ProfileId(0);
    for d in ["d1", "d2"] {
        clock.advance(1);
        p = db.identify(&[id("email:a@x.com"), id(&format!("device_id:{d}"))], Update::new()).unwrap().profile;
    }
    clock.advance(1);
    let q = db.identify(&[id("email:b@x.com"), id("device_id:d3")], Update::new()).unwrap().profile;
    assert_eq!(db.merge_profiles(p, q, Cause::Admin("review".into())).unwrap(), p);
    assert_eq!(db.resolve(&id("device_id:d1")).unwrap(), None);
    assert_eq!(db.resolve(&id("device_id:d3")).unwrap(), Some(p));
    assert!(db.history(p).unwrap().iter().any(|d| d.unlinked == vec![id("device_id:d1")]));
    assert_clean(&db);
}
