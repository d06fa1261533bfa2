//! Strict batches are all-or-nothing whatever their size: an event refused
//! while applying (not only by validation) rejects the whole batch, which
//! writes nothing, also past the 1,024 events a non-strict batch commits at
//! a time.

use profiledb::event::{Event, EventKind};
use profiledb::{Error, Identifier, ProfileDb, Timestamp};

const T0: i64 = 1_750_000_000_000;

fn order(i: usize, who: Identifier) -> Event {
    let mut e = Event::new(EventKind::Track, "order", Timestamp(T0 + i as i64), vec![who]);
    e.properties.insert("total", i as f64);
    e
}

fn user(i: usize) -> Identifier {
    Identifier::new("user_id", &format!("p{i}")).unwrap()
}

/// An identifier of an erased person deep in a large strict batch: refused
/// at apply time, after more than 1,024 valid events.
#[test]
fn a_refusal_past_the_first_thousand_events_rejects_the_whole_strict_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let gone = Identifier::new("email", "gone@example.com").unwrap();
    db.track(&order(0, gone.clone())).unwrap();
    db.erase(&gone, None).unwrap();
    let mut batch: Vec<Event> = (0..1_100).map(|i| order(i, user(i))).collect();
    batch[1_050] = order(1_050, gone.clone());
    let before = db.raw_dump().unwrap();
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, 1_050);
    assert!(report.rejected[0].1.to_string().contains("erased"), "{}", report.rejected[0].1);
    assert_eq!(db.raw_dump().unwrap(), before, "a rejected strict batch writes nothing");
    assert_eq!(db.resolve(&user(0)).unwrap(), None);
    // The same batch without the refused event commits whole.
    batch.remove(1_050);
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (1_099, 0));
    assert!(db.resolve(&user(1_099)).unwrap().is_some());
}

/// An event that merges away a profile an earlier event of the same batch
/// wrote: a non-strict batch commits both (in two batches), a strict one
/// cannot apply them as one unit and says so, writing nothing.
#[test]
fn a_strict_batch_that_merges_a_profile_it_wrote_is_rejected_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let known = Identifier::new("user_id", "known").unwrap();
    let anon = Identifier::new("anonymous_id", "a-1").unwrap();
    db.track(&order(0, known.clone())).unwrap();
    let batch = vec![
        order(1, anon.clone()),
        Event::new(EventKind::Identify, "identify", Timestamp(T0 + 2), vec![anon.clone(), known.clone()]),
    ];
    let before = db.raw_dump().unwrap();
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!(report.applied, 0);
    assert_eq!(report.rejected.len(), 1);
    assert_eq!(report.rejected[0].0, 1);
    assert!(matches!(report.rejected[0].1, Error::StrictBatchSplit), "{}", report.rejected[0].1);
    let msg = report.rejected[0].1.to_string();
    assert!(msg.contains("strict") && msg.contains("merges away"), "{msg}");
    assert!(!msg.contains("internal"), "the internal retry signal does not leak: {msg}");
    assert_eq!(db.raw_dump().unwrap(), before);
    let report = db.ingest_batch(&batch, false).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (2, 0));
    assert_eq!(db.resolve(&anon).unwrap(), db.resolve(&known).unwrap());
}
