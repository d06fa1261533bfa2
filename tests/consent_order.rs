//! Consent follows the time it was given, not the order it arrives in
//! (format 7): an identify event's consent is given at the event's time, a
//! call may say when a statement was made (`ConsentChange::given_at`), and
//! a change given before the purpose's recorded state stays in the history
//! without replacing it. A call that gives no time states it now and always
//! applies.

use std::sync::Arc;

use profiledb::event::{parse_line, Event, EventFormat, EventKind, EventLimits};
use profiledb::privacy::{ConsentChange, ConsentOp, ConsentState};
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp};

mod common;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path) -> (ProfileDb, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).open().expect("open");
    (db, clock)
}

/// An identify event at `at` carrying one consent change for `ads`.
fn consent_event(who: &Identifier, at: i64, change: ConsentChange) -> Event {
    let mut e = Event::new(EventKind::Identify, "identify", Timestamp(at), vec![who.clone()]);
    e.consent = vec![ConsentOp { purpose: "ads".into(), change }];
    e
}

fn ads(db: &ProfileDb, who: &Identifier) -> (ConsentState, Timestamp, String) {
    let p = db.get(who).unwrap().expect("known person");
    let r = &p.consent["ads"];
    (r.state, r.at, r.source.clone())
}

#[test]
fn a_late_event_does_not_undo_a_later_statement_in_a_batch_or_alone() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    db.define_segment("ads_ok", "consent(ads)").unwrap();
    let ann = id("email:ann@example.com");
    clock.set(Timestamp(T0 + 10 * HOUR));
    // One batch, out of order: the withdrawal happened after the grant.
    let batch = [
        consent_event(&ann, T0 + 2 * HOUR, ConsentChange::withdrawn("settings")),
        consent_event(&ann, T0 + HOUR, ConsentChange::granted("banner")),
    ];
    let report = db.ingest_batch(&batch, true).unwrap();
    assert_eq!((report.applied, report.rejected.len()), (2, 0));
    assert_eq!(ads(&db, &ann), (ConsentState::Withdrawn, Timestamp(T0 + 2 * HOUR), "settings".into()));
    let p = db.resolve(&ann).unwrap().unwrap();
    assert!(!db.in_segment("ads_ok", p).unwrap());

    // Both changes are in the history, each with the time it was given.
    let given = common::consent_given_times(&db, p);
    assert_eq!(given, vec![Some(Timestamp(T0 + 2 * HOUR)), Some(Timestamp(T0 + HOUR))]);
    // Every version replays to the state that was read then.
    let last = db.get_by_id(p).unwrap().unwrap().version;
    let at_last = db.get_as_of_version(p, last).unwrap();
    assert_eq!(at_last.consent["ads"].state, ConsentState::Withdrawn);
    assert_eq!(db.get_as_of_version(p, last - 1).unwrap().consent["ads"].state, ConsentState::Withdrawn);

    // Alone, later, a still older grant changes nothing either; a newer one does.
    db.track(&consent_event(&ann, T0, ConsentChange::granted("old_banner"))).unwrap();
    assert_eq!(ads(&db, &ann).0, ConsentState::Withdrawn);
    db.track(&consent_event(&ann, T0 + 3 * HOUR, ConsentChange::granted("banner"))).unwrap();
    assert_eq!(ads(&db, &ann), (ConsentState::Granted, Timestamp(T0 + 3 * HOUR), "banner".into()));
    assert!(db.in_segment("ads_ok", p).unwrap());
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
    assert!(db.check_segments().unwrap().is_empty());
}

#[test]
fn a_call_without_a_time_states_it_now_and_a_time_ahead_of_the_clock_counts_as_now() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open(dir.path());
    let bob = id("user_id:bob");
    // An event stamped half an hour ahead of the clock (within the allowed
    // skew) is given now: it does not outrank what is said after it.
    db.track(&consent_event(&bob, T0 + HOUR / 2, ConsentChange::granted("banner"))).unwrap();
    assert_eq!(ads(&db, &bob), (ConsentState::Granted, Timestamp(T0), "banner".into()));
    db.set_consent(&bob, "ads", ConsentChange::withdrawn("support")).unwrap();
    assert_eq!(ads(&db, &bob).0, ConsentState::Withdrawn);
    // An import of a statement older than the record is kept out of the state.
    db.set_consent(&bob, "ads", ConsentChange::granted("import").given_at(Timestamp(T0 - HOUR))).unwrap();
    assert_eq!(ads(&db, &bob).0, ConsentState::Withdrawn);
    // Without a time, the call always applies.
    db.set_consent(&bob, "ads", ConsentChange::granted("support")).unwrap();
    assert_eq!(ads(&db, &bob), (ConsentState::Granted, Timestamp(T0), "support".into()));
    // Reopened, the history replays to the same state.
    drop(db);
    let (db, _clock) = open(dir.path());
    assert_eq!(ads(&db, &bob).0, ConsentState::Granted);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

#[test]
fn given_at_in_native_events_and_calls_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _clock) = open(dir.path());
    let limits = EventLimits::new(Timestamp(T0));
    // The event's own time can be overridden per purpose.
    let line = r#"{"type": "identify", "timestamp": 1700000000000, "identifiers": {"user_id": "u"},
        "consent": {"ads": {"state": "granted", "source": "paper_form", "given_at": "2023-11-01T00:00:00Z"}}}"#;
    let event = parse_line(line, EventFormat::Native, "line 1", &limits).unwrap();
    let given = Timestamp::parse("2023-11-01T00:00:00Z").unwrap();
    assert_eq!(event.consent[0].change.given_at, Some(given));
    assert_eq!(profiledb::event::to_native_json(&event)["consent"]["ads"]["given_at"], "2023-11-01T00:00:00.000Z");
    db.track(&event).unwrap();
    assert_eq!(ads(&db, &id("user_id:u")).1, given);

    let before = db.raw_dump().unwrap();
    let bad = r#"{"type": "identify", "timestamp": 1700000000000, "identifiers": {"user_id": "u"},
        "consent": {"ads": {"state": "granted", "source": "s", "given_at": "last tuesday"}}}"#;
    let err = parse_line(bad, EventFormat::Native, "line 2", &limits).unwrap_err().to_string();
    assert!(err.contains("\"consent.ads.given_at\"") && err.contains("line 2"), "{err}");
    let err = db
        .set_consent(&id("user_id:u"), "ads", ConsentChange::denied("import").given_at(Timestamp(-1)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("before 1970") && err.contains("\"ads\""), "{err}");
    let err = db
        .set_consent(&id("user_id:u"), "ads", ConsentChange::granted_until("import", Timestamp(i64::MAX)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("after the year 9999") && err.contains("\"ads\""), "{err}");
    assert_eq!(db.raw_dump().unwrap(), before, "nothing of the refused changes was written");
}
