//! `retain_history_with_progress` reports `(done, total)` after every
//! profile, done rising to total, and folds what `retain_history` folds.

use profiledb::{Timestamp, Update};

mod common;
use common::{id, open_at};

const T0: i64 = 1_700_000_000_000;

#[test]
fn retain_reports_its_progress_over_every_profile() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_at(dir.path(), T0);
    for i in 0..30 {
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i)).unwrap();
        db.update(&id(&format!("user_id:u{i}")), Update::new().set("n", i + 1)).unwrap();
    }
    // Two profiles merge: the merged-away one is no profile of its own.
    db.identify(&[id("user_id:u0"), id("user_id:u1")], Update::new()).unwrap();
    clock.advance(1_000);
    let mut calls = Vec::new();
    let report =
        db.retain_history_with_progress(Timestamp(T0 + 500), &mut |done, total| calls.push((done, total))).unwrap();
    assert_eq!(calls.len(), 29, "one call per live profile: {calls:?}");
    assert!(calls.iter().all(|&(_, total)| total == 29), "{calls:?}");
    assert!(calls.windows(2).all(|w| w[1].0 == w[0].0 + 1), "done rises by one: {calls:?}");
    assert_eq!(calls.last(), Some(&(29, 29)));
    assert_eq!(report.profiles_folded, 29, "every profile had versions before the horizon");
}
