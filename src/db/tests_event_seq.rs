//! Timeline sequence numbers are reserved in blocks: the stored
//! `next_event_seq` is written once per block, stays above every stored
//! event's number, and a reopen continues past it.

use std::sync::Arc;

use crate::clock::{ManualClock, Timestamp};
use crate::core::EVENT_SEQ_BLOCK;
use crate::event::{Event, EventKind};
use crate::{keys, schema, Identifier, ProfileDb};

const T: i64 = 1_700_000_000_000;

fn open(dir: &std::path::Path) -> ProfileDb {
    ProfileDb::builder(dir).clock(Arc::new(ManualClock::new(Timestamp(T)))).open().expect("open")
}

fn stored(db: &ProfileDb) -> Option<u64> {
    schema::META_U64.get(&db.core.store.latest(), keys::meta::NEXT_EVENT_SEQ).expect("read")
}

fn track(db: &ProfileDb, n: usize) {
    let who = Identifier::new("user_id", "u").expect("identifier");
    for _ in 0..n {
        // One timestamp for all: the sequence number orders them.
        db.track(&Event::new(EventKind::Track, "a", Timestamp(T - 1), vec![who.clone()])).expect("track");
    }
}

#[test]
fn the_stored_sequence_is_raised_a_block_at_a_time_and_a_reopen_continues_past_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = open(dir.path());
    track(&db, 3);
    // The first event (number 0) reserved up to 1 + a block; the next two wrote nothing.
    assert_eq!(stored(&db), Some(1 + EVENT_SEQ_BLOCK));
    assert_eq!(db.core.writer.lock().next_event_seq, 3);
    drop(db);

    let db = open(dir.path());
    assert_eq!(db.core.writer.lock().next_event_seq, 1 + EVENT_SEQ_BLOCK);
    track(&db, 2);
    assert_eq!(stored(&db), Some(2 + 2 * EVENT_SEQ_BLOCK));
    let p = db.resolve(&Identifier::new("user_id", "u").expect("identifier")).expect("resolve").expect("linked");
    assert_eq!(db.events(p, Timestamp(0), Timestamp(T)).expect("events").len(), 5);
    let view = db.core.store.latest();
    let seqs: Vec<u64> = view
        .range(schema::EVENTS.name, &[], None)
        .expect("scan")
        .map(|kv| u64::from_be_bytes(kv.expect("row").0[12..20].try_into().expect("20-byte key")))
        .collect();
    assert_eq!(seqs, vec![0, 1, 2, 1 + EVENT_SEQ_BLOCK, 2 + EVENT_SEQ_BLOCK]);
    let report = db.check().expect("check");
    assert!(report.is_clean(), "{report:?}");
}
