//! `retain_history_with_progress` reports `(done, total)` after every
//! stored profile, done rising to total, and folds what `retain_history`
//! folds.

use profiledb::{ProfileDb, Timestamp, Update};

mod common;
use common::{id, open_at};

const T0: i64 = 1_700_000_000_000;

/// 30 profiles with two versions each, two of them merged, then a second later.
fn filled(dir: &std::path::Path) -> ProfileDb {
    let (db, clock) = open_at(dir, T0);
    for i in 0..30 {
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i)).unwrap();
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i + 1)).unwrap();
    }
    db.identify(&[id("user_id:u0"), id("user_id:u1")], Update::new()).unwrap();
    clock.advance(1_000);
    db
}

#[test]
fn retain_reports_its_progress_over_every_profile() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let horizon = Timestamp(T0 + 500);
    let mut calls = Vec::new();
    let report =
        filled(a.path()).retain_history_with_progress(horizon, &mut |done, total| calls.push((done, total))).unwrap();
    let total = calls.first().map(|c| c.1).expect("progress was reported");
    assert!(total >= 29, "at least the live profiles: {calls:?}");
    assert_eq!(calls.len() as u64, total, "one call per profile: {calls:?}");
    assert!(calls.iter().enumerate().all(|(i, &(done, t))| done == i as u64 + 1 && t == total), "{calls:?}");
    assert!(report.profiles_folded >= 29, "every live profile had versions before the horizon: {report:?}");
    assert_eq!(report.profiles_folded, filled(b.path()).retain_history(horizon).unwrap().profiles_folded);
}
