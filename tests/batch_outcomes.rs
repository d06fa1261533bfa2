//! `ingest_batch` reports what became of each event, in batch order
//! (`BatchReport::outcomes`): the profile it reached (applied or a
//! duplicate), dropped, rejected (with its error), or not applied (a
//! refused strict batch) — agreeing with what `track` gives for the same
//! events one at a time. `into_result` makes a refused event an error.

use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::SuppressionPolicy;
use profiledb::{
    BatchReport, Error, EventOutcome, Identifier, IngestOutcome, ManualClock, ProfileDb, Timestamp, Update,
};

const T0: i64 = 1_750_000_000_000;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path, policy: SuppressionPolicy) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    ProfileDb::builder(dir).clock(clock).suppression_policy(policy).open().unwrap()
}

fn event(ids: &[&str], msg: Option<&str>) -> Event {
    let mut e = Event::new(EventKind::Track, "purchase", Timestamp(T0), ids.iter().map(|s| id(s)).collect());
    e.message_id = msg.map(str::to_owned);
    e
}

/// Before the batch: bob (with message id m-old), carl and an anonymous
/// visitor as two profiles, and an erased person.
fn setup(db: &ProfileDb) {
    db.track(&event(&["user_id:bob"], Some("m-old"))).unwrap();
    db.update(&id("user_id:carl"), Update::new().set("plan", "pro")).unwrap();
    db.update(&id("anonymous_id:a-1"), Update::new().set("views", 3)).unwrap();
    db.update(&id("email:gone@example.com"), Update::new().set("plan", "free")).unwrap();
    db.erase(&id("email:gone@example.com"), None).unwrap();
}

fn batch() -> Vec<Event> {
    let mut merge =
        Event::new(EventKind::Identify, "identify", Timestamp(T0), vec![id("anonymous_id:a-1"), id("user_id:carl")]);
    merge.message_id = Some("m-merge".into());
    vec![
        event(&["user_id:ann"], Some("m-1")),            // 0: a new profile
        event(&["user_id:bob"], Some("m-2")),            // 1: an existing one
        event(&["user_id:ann"], Some("m-1")),            // 2: a duplicate within the batch
        event(&["user_id:bob"], Some("m-old")),          // 3: a duplicate of an earlier batch
        event(&["email:gone@example.com"], Some("m-3")), // 4: an erased identifier (Drop)
        Event::new(EventKind::Track, "purchase", Timestamp(-5), vec![id("user_id:dan")]), // 5: before 1970
        merge,                                           // 6: merges carl's and the visitor's profiles
        event(&[], None),                                // 7: no identifier
    ]
}

#[test]
fn every_event_of_a_batch_has_its_outcome_and_profile_in_batch_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), SuppressionPolicy::Drop);
    setup(&db);
    let (bob, carl, anon) = (
        db.resolve(&id("user_id:bob")).unwrap().unwrap(),
        db.resolve(&id("user_id:carl")).unwrap().unwrap(),
        db.resolve(&id("anonymous_id:a-1")).unwrap().unwrap(),
    );
    let report = db.ingest_batch(&batch(), false).unwrap();
    let o = &report.outcomes;
    assert_eq!(o.len(), 8, "{o:?}");
    let ann = db.resolve(&id("user_id:ann")).unwrap().unwrap();

    assert!(
        matches!(o[0], EventOutcome::Applied { profile, created: true, ref merged, .. } if profile == ann && merged.is_empty()),
        "{:?}",
        o[0]
    );
    assert!(matches!(o[1], EventOutcome::Applied { profile, created: false, .. } if profile == bob), "{:?}", o[1]);
    assert!(matches!(o[2], EventOutcome::Duplicate { profile, .. } if profile == ann), "{:?}", o[2]);
    assert!(
        matches!(o[3], EventOutcome::Duplicate { profile, first_seen, .. } if profile == bob && first_seen == Timestamp(T0)),
        "{:?}",
        o[3]
    );
    assert_eq!(o[4], EventOutcome::Dropped);
    assert_eq!(o[5], EventOutcome::Rejected { error: 0 });
    let survivor = carl.min(anon);
    assert_eq!(db.resolve(&id("user_id:carl")).unwrap(), Some(survivor));
    assert_eq!(db.resolve(&id("anonymous_id:a-1")).unwrap(), Some(survivor));
    assert!(
        matches!(o[6], EventOutcome::Applied { profile, created: false, ref merged, .. } if profile == survivor && *merged == vec![carl.max(anon)]),
        "{:?}",
        o[6]
    );
    assert_eq!(o[7], EventOutcome::Rejected { error: 1 });

    // The errors, by position; the counts agree with the outcomes.
    assert!(report.error_at(5).is_some_and(|e| e.to_string().contains("1970")), "{:?}", report.error_at(5));
    assert!(matches!(report.error_at(7), Some(Error::InvalidEvent { .. })), "{:?}", report.error_at(7));
    assert!(report.error_at(0).is_none());
    assert_eq!(report.rejected.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [5, 7]);
    assert_eq!((report.applied, report.duplicates, report.dropped), (3, 2, 1));
    assert_eq!((report.created, report.merged), (1, 1));
    assert_eq!(o.iter().filter_map(EventOutcome::profile).collect::<Vec<_>>(), [ann, bob, ann, bob, survivor]);

    // Refused events as an error naming the first.
    assert!(!report.is_complete());
    match report.into_result() {
        Err(Error::BatchRejected { position: 5, rejected: 2, applied: 3, source }) => {
            assert!(source.to_string().contains("1970"), "{source}")
        }
        other => panic!("expected BatchRejected at 5, got {other:?}"),
    }
}

/// `track`, one event at a time on the same database state, gives what
/// the batch reported for each event.
#[test]
fn a_batch_reports_what_track_gives_for_each_event_alone() {
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (db_a, db_b) = (open(dir_a.path(), SuppressionPolicy::Drop), open(dir_b.path(), SuppressionPolicy::Drop));
    setup(&db_a);
    setup(&db_b);
    let report = db_a.ingest_batch(&batch(), false).unwrap();
    for (i, e) in batch().iter().enumerate() {
        match db_b.track(e) {
            Ok(alone) => {
                if let IngestOutcome::Applied(r) = &alone {
                    let batched = &report.outcomes[i];
                    assert_eq!(batched.profile(), Some(r.profile), "event {i}");
                    assert!(
                        matches!(batched, EventOutcome::Applied { version, created, merged, .. }
                        if (*version, *created, merged) == (r.version, r.created, &r.merged)),
                        "event {i}: {batched:?} against {r:?}"
                    );
                }
                assert_eq!(report.outcomes[i], EventOutcome::from(alone), "event {i}");
            }
            Err(e) => assert_eq!(report.error_at(i).map(ToString::to_string), Some(e.to_string()), "event {i}"),
        }
    }
    assert_eq!(db_a.raw_dump().unwrap().len(), db_b.raw_dump().unwrap().len());
}

/// A strict batch refused as a whole: the offending event is rejected and
/// every other one is `NotApplied` — also when the refusal comes while
/// applying, after the events before it were staged.
#[test]
fn a_refused_strict_batch_reports_the_other_events_as_not_applied() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), SuppressionPolicy::Reject);
    setup(&db);
    let before = db.raw_dump().unwrap();

    // Refused by validation.
    let report = db.ingest_batch(&batch()[..6], true).unwrap();
    assert_eq!(report.outcomes[..5], [const { EventOutcome::NotApplied }; 5]);
    assert_eq!(report.outcomes[5], EventOutcome::Rejected { error: 0 });
    assert_eq!(report.applied, 0);

    // Refused while applying (an erased identifier under Reject), after
    // two events were staged.
    let events = vec![
        event(&["user_id:ann"], Some("m-1")),
        event(&["user_id:bob"], Some("m-2")),
        event(&["email:gone@example.com"], Some("m-3")),
        event(&["user_id:dan"], Some("m-4")),
    ];
    let report = db.ingest_batch(&events, true).unwrap();
    let not_applied = EventOutcome::NotApplied;
    assert_eq!(
        report.outcomes,
        [not_applied.clone(), not_applied.clone(), EventOutcome::Rejected { error: 0 }, not_applied]
    );
    assert!(matches!(report.error_at(2), Some(Error::Suppressed { .. })), "{:?}", report.error_at(2));
    assert_eq!(db.raw_dump().unwrap(), before, "a refused strict batch writes nothing");
    match report.into_result() {
        Err(e @ Error::BatchRejected { position: 2, rejected: 1, applied: 0, .. }) => {
            assert!(e.to_string().starts_with("event 2 of the batch was rejected: "), "{e}")
        }
        other => panic!("expected BatchRejected at 2, got {other:?}"),
    }

    // Without strict, the same batch commits around the refused event.
    let report = db.ingest_batch(&events, false).unwrap();
    let ann = db.resolve(&id("user_id:ann")).unwrap().unwrap();
    let dan = db.resolve(&id("user_id:dan")).unwrap().unwrap();
    assert!(matches!(report.outcomes[0], EventOutcome::Applied { profile, created: true, .. } if profile == ann));
    assert_eq!(report.outcomes[2], EventOutcome::Rejected { error: 0 });
    assert!(matches!(report.outcomes[3], EventOutcome::Applied { profile, created: true, .. } if profile == dan));
    assert!(!report.outcomes.contains(&EventOutcome::NotApplied));
}

/// A batch whose later event merges away a profile an earlier one wrote
/// commits in two parts; each event still has its outcome. A complete
/// batch passes `into_result`.
#[test]
fn a_batch_split_at_a_merge_reports_every_event_and_a_complete_one_is_ok() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path(), SuppressionPolicy::Drop);
    db.track(&event(&["user_id:known"], None)).unwrap();
    let known = db.resolve(&id("user_id:known")).unwrap().unwrap();
    let events = vec![
        event(&["anonymous_id:a-9"], Some("m-1")),
        Event::new(EventKind::Identify, "identify", Timestamp(T0), vec![id("anonymous_id:a-9"), id("user_id:known")]),
        event(&["anonymous_id:a-9"], Some("m-1")),
    ];
    let report = db.ingest_batch(&events, false).unwrap();
    assert!(report.is_complete());
    let report: BatchReport = report.into_result().unwrap();
    let anon = match report.outcomes[0] {
        EventOutcome::Applied { profile, created: true, .. } => profile,
        ref other => panic!("{other:?}"),
    };
    assert!(
        matches!(report.outcomes[1], EventOutcome::Applied { profile, ref merged, .. } if profile == known && *merged == vec![anon]),
        "{:?}",
        report.outcomes[1]
    );
    // The duplicate names the profile its first copy reached, since merged.
    assert!(
        matches!(report.outcomes[2], EventOutcome::Duplicate { profile, .. } if profile == anon),
        "{:?}",
        report.outcomes[2]
    );
    assert_eq!(db.resolve_id(anon).unwrap(), Some(known));
    assert_eq!(db.resolve(&id("anonymous_id:a-9")).unwrap(), Some(known));
}
