//! The application developer's review (A3, A6, A8, A9): rollup names
//! `rollups_of` lists are the names `rollup` reads, not-found errors say
//! what was not found, and documented orders and messages hold.

use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{AccessMode, Error, Identifier, NotFoundKind, ProfileDb, ProfileId, Timestamp, Update};

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn track(db: &ProfileDb, name: &str, at: Timestamp, who: &str) {
    db.track(&Event::new(EventKind::Track, name, at, vec![id(who)])).unwrap();
}

fn kind<T: std::fmt::Debug>(r: profiledb::Result<T>) -> Option<NotFoundKind> {
    r.unwrap_err().not_found_kind()
}

#[test]
fn a3_rollup_reads_every_name_rollups_of_lists_over_any_window() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let t = db.now();
    track(&db, "purchase", Timestamp(t.0 - 2 * Timestamp::DAY), "user_id:a");
    track(&db, "purchase", t, "user_id:a");
    track(&db, "checkout.step.done", t, "user_id:a"); // an event name with dots
    track(&db, "login", t, "user_id:b");
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).unwrap();
    let a = db.resolve(&id("user_id:a")).unwrap().unwrap();

    let all = db.rollups_of(a).unwrap();
    let names: Vec<&str> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "checkout.step.done.count",
            "checkout.step.done.first",
            "checkout.step.done.last",
            "purchase.count",
            "purchase.first",
            "purchase.last",
            "spend"
        ]
    );
    for (name, value) in &all {
        assert_eq!(&db.rollup(a, name, Window::All).unwrap(), value, "{name}");
    }
    let first = Timestamp(t.0 - 2 * Timestamp::DAY);
    assert_eq!(db.rollup(a, "purchase.first", Window::All).unwrap(), RollupValue::Time(Some(first)));
    assert_eq!(db.rollup(a, "purchase.last", Window::All).unwrap(), RollupValue::Time(Some(t)));
    assert_eq!(db.rollup(a, "purchase.count", Window::days(1)).unwrap(), RollupValue::Count(1));
    assert_eq!(db.rollup(a, "purchase.first", Window::days(1)).unwrap(), RollupValue::Time(Some(t)));
    assert_eq!(db.rollup(a, "checkout.step.done.count", Window::days(7)).unwrap(), RollupValue::Count(1));
    // An event name the database knows, that this profile has no event of.
    assert_eq!(db.rollup(a, "login.count", Window::All).unwrap(), RollupValue::Count(0));
    assert_eq!(db.rollup(a, "login.last", Window::All).unwrap(), RollupValue::Time(None));
    // An event name no event has, and a name that is neither.
    let typo = db.rollup(a, "purchse.count", Window::All).unwrap_err();
    assert_eq!(typo.not_found_kind(), Some(NotFoundKind::Rollup));
    assert!(typo.to_string().contains("no stored event is named \"purchse\""), "{typo}");
    let unknown = db.rollup(a, "purchase.sum", Window::All).unwrap_err();
    assert_eq!(unknown.to_string(), "not found: rollup \"purchase.sum\"");

    // The ProfileView carries the same list.
    let view = db.get_full(&id("user_id:a")).unwrap().unwrap();
    assert_eq!(view.rollups, all);
}

#[test]
fn a3_an_unknown_profile_is_reported_as_a_profile_and_a_merged_id_reads_its_survivor() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    track(&db, "purchase", db.now(), "user_id:a");
    track(&db, "purchase", db.now(), "anonymous_id:b");
    let a = db.resolve(&id("user_id:a")).unwrap().unwrap();
    let b = db.resolve(&id("anonymous_id:b")).unwrap().unwrap();
    for name in ["purchase.count", "nope", "nope.count"] {
        let e = db.rollup(ProfileId(9999), name, Window::All).unwrap_err();
        assert_eq!(e.to_string(), "not found: profile 9999", "{name}");
        assert_eq!(e.not_found_kind(), Some(NotFoundKind::Profile), "{name}");
    }
    assert_eq!(kind(db.rollups_of(ProfileId(9999))), Some(NotFoundKind::Profile));
    db.identify(&[id("anonymous_id:b"), id("user_id:a")], Update::new()).unwrap();
    let (live, gone) = (a.min(b), a.max(b));
    assert_eq!(db.resolve(&id("anonymous_id:b")).unwrap(), Some(live));
    assert_eq!(db.rollup(gone, "purchase.count", Window::All).unwrap(), RollupValue::Count(2));
    assert_eq!(db.rollups_of(gone).unwrap(), db.rollups_of(live).unwrap());
}

#[test]
fn a6_not_found_errors_say_what_was_not_found_with_their_messages_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let p = db.update(&id("user_id:a"), Update::new().set("x", 1)).unwrap().profile;
    let cases: Vec<(Error, NotFoundKind, &str)> = vec![
        (db.history(ProfileId(9999)).unwrap_err(), NotFoundKind::Profile, "not found: profile 9999"),
        (db.segment_count("nope").unwrap_err(), NotFoundKind::Segment, "not found: segment \"nope\""),
        (db.rollup(p, "clicked", Window::All).unwrap_err(), NotFoundKind::Rollup, "not found: rollup \"clicked\""),
        (db.drop_rollup("clicked").unwrap_err(), NotFoundKind::Rollup, "not found: rollup \"clicked\""),
        (
            db.get_as_of_version(p, 9).unwrap_err(),
            NotFoundKind::Version,
            "not found: version 9 of profile 0 (versions 1..=1 exist)",
        ),
        (
            db.erase(&id("user_id:nobody"), None).unwrap_err(),
            NotFoundKind::Identifier,
            "not found: identifier user_id:nobody (nothing to erase)",
        ),
        (db.drop_trait_index("plan").unwrap_err(), NotFoundKind::TraitIndex, "not found: trait index \"plan\""),
        (db.rfm(p).unwrap_err(), NotFoundKind::RfmModel, "not found: an RFM model (run compute_rfm first)"),
    ];
    for (e, want, text) in cases {
        assert_eq!(e.to_string(), text);
        assert_eq!(e.not_found_kind(), Some(want), "{e}");
        assert!(matches!(&e, Error::NotFound(n) if n.kind == want && text.ends_with(&n.what)), "{e:?}");
    }
    assert_eq!(Error::invalid("x").not_found_kind(), None);
}

#[test]
fn a8_segments_of_a_profile_are_by_name_with_dependencies_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&id("user_id:a"), Update::new().set("plan", "pro")).unwrap();
    db.define_segment("zeta", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("alpha", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("beta", "segment(zeta)").unwrap();
    let p = db.resolve(&id("user_id:a")).unwrap().unwrap();
    assert_eq!(db.segments_of(p).unwrap(), ["alpha", "zeta", "beta"]);
    assert_eq!(db.get_full(&id("user_id:a")).unwrap().unwrap().segments, ["alpha", "zeta", "beta"]);
}

#[test]
fn a9_a_read_only_update_names_update() {
    let dir = tempfile::tempdir().unwrap();
    drop(ProfileDb::open(dir.path()).unwrap());
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    let e = ro.update(&id("user_id:a"), Update::new().set("x", 1)).unwrap_err();
    assert_eq!(e.to_string(), "database is open read-only; update needs a writable handle");
    let e = ro.identify(&[id("user_id:a")], Update::new()).unwrap_err();
    assert_eq!(e.to_string(), "database is open read-only; identify needs a writable handle");
}
