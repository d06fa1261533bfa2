//! Storage core: open, reopen, locking, identifiers, traits, history,
//! retention and the all-or-nothing rule for bad input.

use std::sync::Arc;

use profiledb::{
    AccessMode, Cause, Change, Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update,
};

fn id(s: &str) -> Identifier {
    s.parse().expect("test identifiers are valid")
}

fn open_at(dir: &std::path::Path, clock: Arc<ManualClock>) -> ProfileDb {
    ProfileDb::builder(dir).clock(clock).snapshot_every(4).open().expect("open")
}

#[test]
fn profiles_persist_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
    let (pid, email) = {
        let db = open_at(dir.path(), clock.clone());
        let r =
            db.update(&id("email:Ann@Example.com"), Update::new().set("plan", "pro").increment("logins", 2)).unwrap();
        assert!(r.created);
        assert_eq!(r.profile, ProfileId(0));
        db.update(&id("user_id:u1"), Update::new().set("plan", "free")).unwrap();
        (r.profile, id("email:ann@example.com"))
    };
    let db = open_at(dir.path(), clock);
    let p = db.get(&email).unwrap().expect("persisted");
    assert_eq!(p.id, pid);
    assert_eq!(p.traits.get("plan"), Some(&TraitValue::from("pro")));
    assert_eq!(p.traits.get("logins"), Some(&TraitValue::Int(2)));
    assert_eq!(db.profile_count().unwrap(), 2);
    // The id counter persisted: the next profile gets a fresh dense id.
    let r = db.update(&id("user_id:u2"), Update::new()).unwrap();
    assert_eq!(r.profile, ProfileId(2));
}

/// Memtables of the smallest allowed size flush many times during this
/// load: every profile, identifier and delta still reads back, before and
/// after a reopen. A smaller size is refused before anything is created.
#[test]
fn small_write_buffers_flush_often_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = ProfileDb::builder(dir.path()).write_buffer_bytes(4_096).open().unwrap_err();
    assert!(matches!(tiny, Error::InvalidInput(_)) && tiny.to_string().contains("write_buffer_bytes"), "{tiny}");
    assert!(!dir.path().join("CURRENT").exists(), "a refused open creates nothing");
    let open = || ProfileDb::builder(dir.path()).write_buffer_bytes(64 << 10).open().unwrap();
    let n = 3_000u32;
    {
        let db = open();
        for i in 0..n {
            let r = db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i64::from(i))).unwrap();
            assert_eq!(r.profile, ProfileId(i));
        }
    }
    assert!(table_files(dir.path()) >= 1, "the memtables flushed to table files during the load");
    let db = open();
    for i in (0..n).step_by(7) {
        let p = db.get(&id(&format!("user_id:u{i}"))).unwrap().expect("persisted");
        assert_eq!((p.id, p.traits.get("n")), (ProfileId(i), Some(&TraitValue::Int(i64::from(i)))));
        assert_eq!(db.history(p.id).unwrap().len(), 1);
    }
    assert_eq!(db.profile_count().unwrap(), u64::from(n));
}

/// The table files in a database directory.
fn table_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst")))
        .count()
}

#[test]
fn settle_flushes_and_waits_for_background_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    for i in 0..50 {
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i)).unwrap();
    }
    assert_eq!(table_files(dir.path()), 0, "50 updates fit in the memtables");
    db.settle().unwrap();
    assert!(table_files(dir.path()) >= 1, "settle flushed the memtables");
    assert_eq!(db.background_work().unwrap(), 0);
    assert_eq!(db.get(&id("user_id:u7")).unwrap().expect("written").traits.get("n"), Some(&TraitValue::Int(7)));
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(matches!(ro.settle().unwrap_err(), Error::ReadOnly(_)));
    assert_eq!(ro.background_work().unwrap(), 0);
}

#[test]
fn a_second_handle_on_the_same_directory_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let _db = ProfileDb::open(dir.path()).unwrap();
    let err = ProfileDb::open(dir.path()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("already open"), "{err}");
}

#[test]
fn read_only_handles_work_beside_a_writer_and_refuse_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.update(&id("user_id:1"), Update::new().set("a", 1)).unwrap();
    let ro = ProfileDb::builder(dir.path()).access_mode(AccessMode::ReadOnly).open().unwrap();
    assert!(ro.get(&id("user_id:1")).unwrap().is_some());
    let err = ro.update(&id("user_id:1"), Update::new().set("a", 2)).unwrap_err();
    assert!(matches!(err, Error::ReadOnly(_)), "{err}");
    let sec = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    db.update(&id("user_id:2"), Update::new().set("a", 2)).unwrap();
    sec.catch_up().unwrap();
    assert!(sec.get(&id("user_id:2")).unwrap().is_some());
}

#[test]
fn opening_a_missing_database_without_create_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let err = ProfileDb::builder(dir.path().join("nope")).create_if_missing(false).open().unwrap_err();
    assert!(matches!(err, Error::NotADatabase(_)), "{err}");
}

#[test]
fn get_by_id_and_identifiers() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let r = db.identify(&[id("email:a@x.com"), id("device_id:d1")], Update::new().set("n", 1)).unwrap();
    let p = db.get_by_id(r.profile).unwrap().unwrap();
    assert_eq!(p.traits.get("n"), Some(&TraitValue::Int(1)));
    let mut ids: Vec<String> = db.identifiers(r.profile).unwrap().iter().map(ToString::to_string).collect();
    ids.sort();
    assert_eq!(ids, ["device_id:d1", "email:a@x.com"]);
    assert!(db.get_by_id(ProfileId(999)).unwrap().is_none());
    assert!(db.get(&id("email:b@x.com")).unwrap().is_none());
}

#[test]
fn every_update_is_one_delta_with_version_time_ops_and_cause() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(10)));
    let db = open_at(dir.path(), clock.clone());
    let who = id("user_id:7");
    db.update(&who, Update::new().set("plan", "free")).unwrap();
    clock.advance(5);
    let r = db
        .update(&who, Update::new().set("plan", "pro").add_to_set("tags", ["a"]).cause(Cause::Request("req-1".into())))
        .unwrap();
    let h = db.history(r.profile).unwrap();
    assert_eq!(h.len(), 2);
    assert_eq!((h[0].version, h[0].at), (1, Timestamp(10)));
    assert_eq!(h[0].linked, vec![who.clone()]);
    assert_eq!((h[1].version, h[1].at), (2, Timestamp(15)));
    assert_eq!(h[1].cause, Cause::Request("req-1".into()));
    match &h[1].change {
        Change::Update(ops) => assert_eq!(ops.len(), 2),
        other => panic!("expected an update, got {other:?}"),
    }
}

#[test]
fn as_of_version_and_time_reconstruct_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(100)));
    let db = open_at(dir.path(), clock.clone());
    let who = id("user_id:1");
    let mut expected = Vec::new();
    for i in 0..11i64 {
        let r = db.update(&who, Update::new().set("i", i).increment("sum", i)).unwrap();
        expected.push((r.version, db.get(&who).unwrap().unwrap()));
        clock.advance(10);
    }
    let pid = expected[0].1.id;
    for (v, p) in &expected {
        assert_eq!(&db.get_as_of_version(pid, *v).unwrap(), p.as_ref(), "version {v}");
        assert_eq!(db.get_as_of_time(pid, p.updated_at).unwrap().as_ref(), Some(p.as_ref()));
        assert_eq!(db.get_as_of_time(pid, Timestamp(p.updated_at.0 + 9)).unwrap().as_ref(), Some(p.as_ref()));
    }
    assert_eq!(db.get_as_of_time(pid, Timestamp(99)).unwrap(), None, "before creation");
    assert!(matches!(db.get_as_of_version(pid, 0), Err(Error::NotFound(_))));
    assert!(matches!(db.get_as_of_version(pid, 12), Err(Error::NotFound(_))));
}

#[test]
fn retention_folds_old_deltas_and_refuses_reads_before_the_horizon() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(0)));
    let db = open_at(dir.path(), clock.clone());
    let who = id("user_id:1");
    let mut states = Vec::new();
    for i in 0..10i64 {
        clock.set(Timestamp(i * 100));
        db.update(&who, Update::new().set("i", i)).unwrap();
        states.push(db.get(&who).unwrap().unwrap());
    }
    let pid = states[0].id;
    let report = db.retain_history(Timestamp(550)).unwrap();
    assert_eq!(report.profiles_folded, 1);
    // Versions 1..=5 were written before 550: 6 is the floor.
    let h = db.history(pid).unwrap();
    assert_eq!(h.first().map(|d| d.version), Some(7));
    for (i, state) in states.iter().enumerate() {
        let v = i as u64 + 1;
        let got = db.get_as_of_version(pid, v);
        if v < 6 {
            assert!(matches!(got, Err(Error::HistoryTruncated { floor: 6, .. })), "v{v}: {got:?}");
        } else {
            assert_eq!(&got.unwrap(), state.as_ref(), "v{v}");
        }
    }
    let err = db.get_as_of_time(pid, Timestamp(120)).unwrap_err();
    assert!(matches!(err, Error::HistoryTruncated { requested: 0, .. }), "{err}");
    assert!(err.to_string().ends_with("the state at the time asked for can no longer be reconstructed"), "{err}");
    assert_eq!(db.get_as_of_time(pid, Timestamp(560)).unwrap().map(|p| p.version), Some(6));
    // Running it again changes nothing.
    assert_eq!(db.retain_history(Timestamp(550)).unwrap().profiles_folded, 0);
}

#[test]
fn invalid_updates_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let who = id("user_id:1");
    db.update(&who, Update::new().set("name", "Ann").set("n", 1)).unwrap();
    let before = db.raw_dump().unwrap();
    let bad_updates = [
        Update::new().set("ok", 1).increment("name", 1),
        Update::new().set("bad name", 1),
        Update::new().set("n.sub", 1),
        Update::new().set("f", f64::NAN),
        Update::new().add_to_set("name", ["x"]),
        Update::new().set("s", "x".repeat(70_000)),
    ];
    for u in bad_updates {
        assert!(db.update(&who, u.clone()).is_err(), "{u:?} should fail");
        assert_eq!(db.raw_dump().unwrap(), before, "a rejected update changed the database");
    }
    // A new identifier with a bad update creates no profile either.
    let conflicting = Update::new().set("a", 1).set("a.b", 2);
    assert!(db.update(&id("user_id:new"), conflicting).is_err());
    assert!(db.update(&id("user_id:new"), Update::new().set("t", 1).increment("t2", "x")).is_err());
    assert_eq!(db.raw_dump().unwrap(), before, "a rejected update for a new identifier changed the database");
    assert!(db.get(&id("user_id:new")).unwrap().is_none());
    let err = db.update(&who, Update::new().increment("name", 1)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot increment trait \"name\": it holds string, the operator needs an integer or float"
    );
}

#[test]
fn identify_without_changes_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let who = id("user_id:1");
    db.update(&who, Update::new().set("a", 1)).unwrap();
    let before = db.raw_dump().unwrap();
    let r = db.update(&who, Update::new()).unwrap();
    assert_eq!(r.version, 1);
    assert_eq!(db.raw_dump().unwrap(), before);
}
