//! Erase (and anonymize) scans the database without the writer lock (src/db/erase_phases.rs):
//! writes commit while it scans, and what they wrote about the erased
//! person is erased too. A hook (`ProfileDb::on_erase_scanned`) runs writes
//! between the erase's scan of its snapshot and its final phase, on another
//! thread that must finish while the erase waits.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use profiledb::event::property::Properties;
use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Aggregate, RollupDef};
use profiledb::{
    EraseOutcome, Error, Identifier, IngestOutcome, ManualClock, ProfileDb, Timestamp, TraitValue, Update,
};

mod common;
use common::{id, raw_hits};

const ANN: &str = "ann.concurrent@example.com";
const CARL: &str = "carl.concurrent@example.com";

fn open(dir: &std::path::Path) -> (Arc<ProfileDb>, Arc<ManualClock>) {
    open_with(dir, |b| b)
}

/// [`open`], the builder configured by `configure` too.
fn open_with(
    dir: &std::path::Path,
    configure: impl FnOnce(profiledb::Builder) -> profiledb::Builder,
) -> (Arc<ProfileDb>, Arc<ManualClock>) {
    let (db, clock) = common::open_configured(dir, 1_700_000_000_000, configure);
    (Arc::new(db), clock)
}

/// Ann, with events carrying message ids, and `others` profiles with ten
/// events each; a segment and a rollup of an event property.
fn build(db: &ProfileDb, clock: &ManualClock, others: u64) {
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.declare_rollup(RollupDef::new("invitees", "referral_sent", Aggregate::Unique("invitee".into()))).unwrap();
    let ann = id(&format!("email:{ANN}"));
    db.identify(&[id("user_id:ann"), ann.clone()], Update::new().set("plan", "free")).unwrap();
    let mut batch = Vec::new();
    for n in 0..others * 10 {
        let who = if n % 100 == 0 { ann.clone() } else { id(&format!("user_id:u{}", n % others)) };
        let mut e = Event::new(EventKind::Track, "purchase", Timestamp(clock.now().0 + n as i64), vec![who]);
        e.message_id = Some(format!("m{n}"));
        e.properties.insert("amount", (n % 100) as i64);
        batch.push(e);
    }
    for chunk in batch.chunks(1_000) {
        db.ingest_batch(chunk, false).unwrap();
    }
    clock.advance(60_000);
}

/// Makes the next erase of `db` run `write` on another thread between its
/// scan and its last phase, and wait for it (a minute at most: a write
/// that waits for the erase's writer lock would never finish).
fn meanwhile(db: &Arc<ProfileDb>, write: impl FnOnce(&ProfileDb) + Send + 'static) -> mpsc::Receiver<()> {
    let (ran, ran_rx) = mpsc::channel();
    let shared = Arc::clone(db);
    db.on_erase_scanned(move |_| {
        let (done, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            write(&shared);
            let _ = done.send(());
        });
        done_rx.recv_timeout(Duration::from_secs(60)).expect("a write during the erase's scan committed");
        let _ = ran.send(());
    });
    ran_rx
}

fn track(db: &ProfileDb, clock: &ManualClock, who: &Identifier, name: &str, props: serde_json::Value) -> IngestOutcome {
    let mut e = Event::new(EventKind::Track, name, clock.now(), vec![who.clone()]);
    e.properties = Properties::from_json(&props).unwrap();
    if let Some(m) = props.get("message_id").and_then(|m| m.as_str()) {
        e.message_id = Some(m.to_owned());
    }
    let outcome = db.track(&e).unwrap();
    clock.advance(1_000);
    outcome
}

fn assert_clean(db: &ProfileDb) {
    let report = db.check().unwrap();
    assert!(report.is_clean(), "check: {report}");
}

/// A database of ann and `others` profiles (prepared further by
/// `prepare`), on which `op` runs while `write` commits between its scan
/// and its last phase; the database, its tempdir and `op`'s result.
fn during_scan<R>(
    others: u64,
    prepare: impl FnOnce(&ProfileDb, &ManualClock),
    write: impl FnOnce(&ProfileDb, &ManualClock) + Send + 'static,
    op: impl FnOnce(&ProfileDb) -> R,
) -> (Arc<ProfileDb>, tempfile::TempDir, R) {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open(dir.path());
    build(&db, &clock, others);
    prepare(&db, &clock);
    let c = Arc::clone(&clock);
    let ran = meanwhile(&db, move |db| write(db, &c));
    let got = op(&db);
    ran.try_recv().expect("the hook ran, between the scan and the commit");
    (db, dir, got)
}

/// Bob's update and event, committed during the scan.
fn bob_writes(db: &ProfileDb, clock: &ManualClock) {
    let bob = id("user_id:u7");
    db.update(&bob, Update::new().set("plan", "pro")).unwrap();
    track(db, clock, &bob, "purchase", serde_json::json!({"amount": 5, "message_id": "during"}));
}

/// Bob's writes during the scan are there; ann is gone.
fn assert_bob_wrote_and_ann_is_gone(db: &ProfileDb) {
    let bob = db.get(&id("user_id:u7")).unwrap().unwrap();
    assert_eq!(bob.traits.get("plan"), Some(&TraitValue::from("pro")));
    assert_eq!(db.events(bob.id, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 11);
    assert!(db.get(&id("user_id:ann")).unwrap().is_none());
    assert_eq!(raw_hits(db, &[ANN]), Vec::<String>::new());
    assert_clean(db);
}

/// Carl, with an event and its message id.
fn carl_tracks(db: &ProfileDb, clock: &ManualClock) {
    track(
        db,
        clock,
        &id(&format!("email:{CARL}")),
        "purchase",
        serde_json::json!({"amount": 1, "message_id": "carl-1"}),
    );
}

/// Ann's and carl's emails linked during the scan: their profiles merge.
fn carl_merges_into_ann(db: &ProfileDb, clock: &ManualClock) {
    db.identify(&[id(&format!("email:{ANN}")), id(&format!("email:{CARL}"))], Update::new()).unwrap();
    clock.advance(1_000);
}

#[test]
fn writes_commit_while_an_erase_scans() {
    let (db, _dir, report) =
        during_scan(2_000, |_, _| {}, bob_writes, |db| db.erase(&id(&format!("email:{ANN}")), Some("dsar")).unwrap());

    assert_eq!((report.identifiers, report.aliases), (2, 0));
    assert_bob_wrote_and_ann_is_gone(&db);
}

/// What other profiles and the person gain during the scan: an event of
/// another profile carrying ann's email as a property value (and in its
/// rollup), a trait holding it, an event to ann herself (stored, with a
/// dedup entry), ann entering a segment (a feed record).
fn late_writes(db: &ProfileDb, clock: &ManualClock) {
    let ann = id(&format!("email:{ANN}"));
    let (bob, carl) = (id("user_id:u3"), id("user_id:u5"));
    track(db, clock, &bob, "referral_sent", serde_json::json!({"invitee": ANN, "channel": "mail"}));
    db.update(&carl, Update::new().set("referred_by", ANN)).unwrap();
    clock.advance(1_000);
    let applied = track(db, clock, &ann, "purchase", serde_json::json!({"amount": 9, "message_id": "late-ann"}));
    assert!(matches!(applied, IngestOutcome::Applied(_)), "ann is not erased yet: {applied:?}");
    db.update(&ann, Update::new().set("plan", "pro")).unwrap();
    clock.advance(1_000);
}

/// The same writes ([`late_writes`]) before `op` on one database and
/// during its scan on the other (both built alike, holding the same
/// suppression key, so their bytes can be compared), and `op`'s results.
fn before_and_during<R>(op: impl Fn(&ProfileDb) -> R) -> Alike<R> {
    let key = || vec![7u8; 192];
    let before_dir = tempfile::tempdir().unwrap();
    let (before, before_clock) = open_with(before_dir.path(), |b| b.secret_key(key()));
    build(&before, &before_clock, 300);
    late_writes(&before, &before_clock);
    let expected = op(&before);

    let during_dir = tempfile::tempdir().unwrap();
    let (during, during_clock) = open_with(during_dir.path(), |b| b.secret_key(key()));
    build(&during, &during_clock, 300);
    let c = Arc::clone(&during_clock);
    let ran = meanwhile(&during, move |db| late_writes(db, &c));
    let got = op(&during);
    ran.try_recv().expect("the hook ran");
    Alike { before, during, during_clock, expected, got, _dirs: (before_dir, during_dir) }
}

/// What [`before_and_during`] made.
struct Alike<R> {
    before: Arc<ProfileDb>,
    during: Arc<ProfileDb>,
    during_clock: Arc<ManualClock>,
    /// `op`'s result on `before`, and on `during`.
    expected: R,
    got: R,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

/// `during` and `before` hold the same audit entries and the same bytes;
/// the message id of ann's event written during the scan is forgotten;
/// `check` is clean.
fn assert_alike(before: &ProfileDb, during: &ProfileDb, during_clock: &ManualClock) {
    let entries = |db: &ProfileDb| db.audit_log().unwrap().iter().map(|r| r.entries).collect::<Vec<_>>();
    assert_eq!(entries(during), entries(before));
    let dump = |db: &ProfileDb| db.raw_dump().unwrap().into_iter().map(|e| (e.cf, e.key, e.value)).collect::<Vec<_>>();
    assert!(dump(during) == dump(before), "the two databases differ");
    let dave = id("user_id:dave");
    let again = track(during, during_clock, &dave, "purchase", serde_json::json!({"message_id": "late-ann"}));
    assert!(matches!(again, IngestOutcome::Applied(_)), "{again:?}");
    assert_clean(during);
}

#[test]
fn what_is_written_during_the_scan_is_erased_as_if_written_before() {
    let a = before_and_during(|db| db.erase(&id("user_id:ann"), Some("dsar")).unwrap());

    assert_eq!(a.got, a.expected);
    assert_eq!(raw_hits(&a.during, &[ANN, "late-ann"]), Vec::<String>::new());
    assert_alike(&a.before, &a.during, &a.during_clock);
}

/// A merge into the person during the scan changes who is erased: the
/// erase falls back to scanning everything under the lock, and finds what
/// the merged-in profile left elsewhere before the erase began.
#[test]
fn a_merge_during_the_scan_falls_back_to_a_whole_scan() {
    let bob = id("user_id:u3");
    let prepare = |db: &ProfileDb, clock: &ManualClock| {
        carl_tracks(db, clock);
        db.update(&bob, Update::new().set("referred_by", CARL)).unwrap();
    };
    let (db, _dir, report) =
        during_scan(200, prepare, carl_merges_into_ann, |db| db.erase(&id("user_id:ann"), None).unwrap());

    assert_eq!((report.identifiers, report.aliases), (3, 1));
    assert!(db.is_suppressed(&id(&format!("email:{CARL}"))).unwrap());
    assert_eq!(raw_hits(&db, &[ANN, CARL, "carl-1"]), Vec::<String>::new());
    assert_eq!(db.get(&bob).unwrap().unwrap().traits.get("referred_by"), None);
    assert_clean(&db);
}

/// Another erase of the same person during the scan: it erases her; the
/// first finds nobody left to erase (one audit record).
#[test]
fn an_erase_of_the_same_person_during_the_scan_leaves_nothing_to_erase() {
    let second = |db: &ProfileDb, _: &ManualClock| {
        db.erase(&id("user_id:ann"), Some("second")).unwrap();
    };
    let (db, _dir, report) = during_scan(
        200,
        |_, _| {},
        second,
        |db| db.erase_many(&[id(&format!("email:{ANN}")), id("user_id:ann")], Some("first")).unwrap(),
    );

    assert_eq!(report.outcomes, [EraseOutcome::Suppressed, EraseOutcome::Suppressed]);
    let audit = db.audit_log().unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].request_id.as_deref(), Some("second"));
    assert_eq!(raw_hits(&db, &[ANN]), Vec::<String>::new());
    let err = db.erase(&id("user_id:ann"), None).unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert_clean(&db);
}

/// Anonymize scans without the writer lock as erase does (the same hook
/// runs between its scan and its last phase).
#[test]
fn writes_commit_while_an_anonymize_scans() {
    let (db, _dir, report) = during_scan(
        2_000,
        |_, _| {},
        bob_writes,
        |db| db.anonymize(&id(&format!("email:{ANN}")), None, Some("dsar")).unwrap(),
    );

    assert_eq!(report.identifiers, 2);
    assert_eq!(report.events_scrubbed, 200);
    assert!(db.is_suppressed(&id("user_id:ann")).unwrap());
    assert!(db.get_by_id(report.profile).unwrap().is_some(), "the anonymized profile stays");
    assert_bob_wrote_and_ann_is_gone(&db);
}

#[test]
fn what_is_written_during_the_scan_is_anonymized_as_if_written_before() {
    let a = before_and_during(|db| db.anonymize(&id("user_id:ann"), None, Some("dsar")).unwrap());

    assert_eq!(a.got, a.expected);
    assert!(a.got.events_scrubbed > 0 && a.got.dedup_removed > 0, "{:?}", a.got);
    // Anonymize leaves values other profiles hold (carl's trait, bob's
    // event): only the message id of ann's own late event is gone.
    assert_eq!(raw_hits(&a.during, &["late-ann"]), Vec::<String>::new());
    assert_alike(&a.before, &a.during, &a.during_clock);
}

/// A merge into the person during an anonymize's scan: it falls back to
/// scanning everything under the lock, as erase does, and finds the
/// merged-in profile's dedup entries written before it began.
#[test]
fn a_merge_during_an_anonymize_scan_falls_back_to_a_whole_scan() {
    let (db, _dir, report) =
        during_scan(200, carl_tracks, carl_merges_into_ann, |db| db.anonymize(&id("user_id:ann"), None, None).unwrap());

    assert_eq!(report.identifiers, 3);
    assert!(db.is_suppressed(&id(&format!("email:{CARL}"))).unwrap());
    assert_eq!(raw_hits(&db, &[ANN, CARL, "carl-1"]), Vec::<String>::new());
    assert_clean(&db);
}
