//! A data engineer's review of the import path (twenty-fourth session):
//! RFM scores against the compute's own distribution, epoch seconds read
//! as milliseconds, mixed native/Segment lines, the dedup horizon.

use std::collections::BTreeMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::RfmConfig;
use profiledb::{Identifier, ManualClock, ProfileDb, ProfileId, Timestamp};

const DAY: i64 = Timestamp::DAY;
const NOW: i64 = 20_000 * DAY + 12 * 3_600_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open() -> (tempfile::TempDir, Arc<ManualClock>, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = Arc::new(ManualClock::new(Timestamp(NOW)));
    let db = ProfileDb::builder(dir.path()).clock(clock.clone()).open().expect("open");
    (dir, clock, db)
}

fn purchase(db: &ProfileDb, who: &str, at: i64, amount: i64) -> ProfileId {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(at), vec![id(who)]);
    e.properties.insert("amount", amount);
    db.track(&e).expect("track");
    db.resolve(&id(who)).expect("resolve").expect("known")
}

fn config() -> RfmConfig {
    RfmConfig { event: "purchase".into(), amount: "amount".into() }
}

#[test]
fn rfm_scores_after_the_compute_are_the_computes_own_distribution() {
    let (_d, clock, db) = open();
    // 20 buyers, two per day and amount: every recency is on or beside a cut.
    let buyers: Vec<ProfileId> =
        (0..20).map(|i| purchase(&db, &format!("user_id:b{i}"), NOW - (i / 2) * DAY, 10 * (i / 2 + 1))).collect();
    let report = db.compute_rfm(config()).expect("rfm");
    for later in [1, 60_000, 2 * DAY] {
        clock.set(Timestamp(NOW + later));
        let mut scored = BTreeMap::new();
        for &p in &buyers {
            let s = db.rfm(p).expect("rfm").expect("a buyer");
            *scored.entry(s.code()).or_insert(0u64) += 1;
        }
        assert_eq!(scored, report.distribution, "{later} ms after the compute");
    }
}

#[test]
fn a_lone_buyer_scores_r5_as_documented() {
    let (_d, clock, db) = open();
    let p = purchase(&db, "user_id:only", NOW - 6 * DAY, 10);
    let report = db.compute_rfm(config()).expect("rfm");
    assert_eq!(report.distribution.keys().collect::<Vec<_>>(), ["511"]);
    clock.advance(1);
    let s = db.rfm(p).expect("rfm").expect("a buyer");
    assert_eq!((s.code().as_str(), s.recency_ms), ("511", 6 * DAY + 1));
    // A purchase after the compute is the most recent.
    purchase(&db, "user_id:only", NOW + 1, 10);
    assert_eq!(db.rfm(p).expect("rfm").expect("a buyer").r, 5);
}
