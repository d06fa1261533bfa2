//! A write reaching a profile whose wake-ups are due (their instant is
//! past, no tick has processed them yet) records the changes they stand
//! for at their due instants, as a tick run just before the write would:
//! the write never skips a time-driven change. Each history runs twice —
//! once with a tick just before the write (the reference) and once
//! without — and both must leave the same feed records, membership history
//! and wake-ups.

use std::collections::BTreeMap;
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::segment::FeedKind;
use profiledb::{Cause, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

mod common;
use common::open_at;

const DAY: i64 = Timestamp::DAY;
const HOUR: i64 = 3_600_000;
/// 2024-10-04T10:00Z.
const T: i64 = 20_000 * DAY + 10 * HOUR;

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn ev(who: &str, name: &str, at: i64) -> Event {
    Event::new(EventKind::Track, name, Timestamp(at), vec![id(who)])
}

fn track(db: &ProfileDb, who: &str, name: &str, at: i64) {
    db.track(&ev(who, name, at)).unwrap();
}

fn pid(db: &ProfileDb, who: &str) -> ProfileId {
    db.resolve(&id(who)).unwrap().unwrap()
}

/// One profile's feed: (kind, segment, at), in sequence order.
type Feed = Vec<(FeedKind, Option<String>, i64)>;

/// Every feed record, by profile, in sequence order.
fn feeds(db: &ProfileDb) -> BTreeMap<ProfileId, Feed> {
    let mut out: BTreeMap<ProfileId, Feed> = BTreeMap::new();
    let all = db.feed(0, 100_000).unwrap();
    for w in all.windows(2) {
        assert!(w[0].seq < w[1].seq, "feed sequence numbers increase");
    }
    for r in all {
        out.entry(r.profile).or_default().push((r.kind, r.segment, r.at.0));
    }
    out
}

fn assert_clean(db: &ProfileDb) {
    assert_eq!(db.check_segments().unwrap(), vec![]);
    let report = db.check().unwrap();
    assert!(report.is_clean(), "{report}");
}

/// Two databases through the same history: `setup` at `T`, then the clock
/// set to `write_at` and `write`, then a tick. The reference ticks at
/// `write_at` before the write; the subject does not. Both are returned
/// (with their directories and clocks) after checking they agree on every
/// profile's feed and that the tick after the write had nothing to do
/// (every history writes each profile that has due wake-ups).
struct Twin {
    reference: ProfileDb,
    subject: ProfileDb,
    clocks: [Arc<ManualClock>; 2],
    _dirs: [tempfile::TempDir; 2],
}

fn twin(setup: impl Fn(&ProfileDb), write_at: i64, write: impl Fn(&ProfileDb)) -> Twin {
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let (reference, c0) = open_at(dirs[0].path(), T);
    let (subject, c1) = open_at(dirs[1].path(), T);
    let mut processed = Vec::new();
    for (db, clock, tick_first) in [(&reference, &c0, true), (&subject, &c1, false)] {
        setup(db);
        clock.set(Timestamp(write_at));
        if tick_first {
            db.tick().unwrap();
        }
        write(db);
        processed.push(db.tick().unwrap().processed);
    }
    // Every profile with due wake-ups is written: the write processed them,
    // and the tick after it finds none (nothing is processed twice).
    assert_eq!(processed, [0, 0], "wake-ups the tick after the write processed");
    let (want, got) = (feeds(&reference), feeds(&subject));
    for (p, recs) in &got {
        eprintln!("subject, profile {p}:");
        for r in recs {
            eprintln!("  {:?} {:?} at T{:+}h", r.0, r.1, (r.2 - T) / HOUR);
        }
    }
    assert_eq!(got, want, "the feed of a write after due instants, without a tick first");
    for db in [&reference, &subject] {
        assert_clean(db);
    }
    Twin { reference, subject, clocks: [c0, c1], _dirs: dirs }
}

impl Twin {
    /// Both databases answer `was_member` alike at `at`; the answer.
    fn was_member(&self, p: ProfileId, segment: &str, at: i64) -> bool {
        let want = self.reference.was_member(p, segment, Timestamp(at)).unwrap();
        let got = self.subject.was_member(p, segment, Timestamp(at)).unwrap();
        assert_eq!(got, want, "was_member({segment}, T{:+}h)", (at - T) / HOUR);
        got
    }

    /// Both clocks set to `at`, both ticked: the same feed still.
    fn tick_at(&self, at: i64) {
        for (db, clock) in [(&self.reference, &self.clocks[0]), (&self.subject, &self.clocks[1])] {
            clock.set(Timestamp(at));
            db.tick().unwrap();
        }
        assert_eq!(feeds(&self.subject), feeds(&self.reference));
    }
}

fn recent_and_lapsed(db: &ProfileDb) {
    db.define_segment("lapsed", "last(purchase) < now - 30d").unwrap();
    db.define_segment("recent", "count(purchase, 7d) >= 1").unwrap();
    track(db, "user_id:1", "purchase", T);
}

/// The review's s07: `recent` is due to leave at T+7d and `lapsed` to enter
/// at T+30d+1ms; no tick runs until T+31d, and a purchase arrives first.
#[test]
fn a_write_after_due_instants_records_them_as_a_tick_first_would() {
    let tw = twin(recent_and_lapsed, T + 31 * DAY, |db| track(db, "user_id:1", "purchase", T + 31 * DAY));
    let p = pid(&tw.subject, "user_id:1");
    assert!(!tw.was_member(p, "recent", T + 10 * DAY), "no purchase in the 7 days before T+10d");
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR), "no purchase in the 30 days before T+30d+1h");
    assert!(tw.was_member(p, "recent", T + 31 * DAY));
    assert!(!tw.was_member(p, "lapsed", T + 31 * DAY));
    let at = |kind: FeedKind, seg: &str| {
        let f = feeds(&tw.subject).remove(&p).unwrap_or_default();
        f.iter().filter(|r| r.0 == kind && r.1.as_deref() == Some(seg)).map(|r| r.2).collect::<Vec<_>>()
    };
    assert_eq!(at(FeedKind::Exited, "recent"), vec![T + 7 * DAY]);
    assert_eq!(at(FeedKind::Entered, "recent"), vec![T, T + 31 * DAY]);
    assert_eq!(at(FeedKind::Entered, "lapsed"), vec![T + 30 * DAY + 1]);
    assert_eq!(at(FeedKind::Exited, "lapsed"), vec![T + 31 * DAY]);
    tw.tick_at(T + 40 * DAY);
}

/// The review's s08 on one database: the tick runs between the due
/// instants and the write (the reference the other tests compare with).
#[test]
fn a_tick_between_the_due_instants_and_the_write_records_them() {
    let dir = tempfile::tempdir().unwrap();
    let (db, clock) = open_at(dir.path(), T);
    recent_and_lapsed(&db);
    let p = pid(&db, "user_id:1");
    clock.set(Timestamp(T + 31 * DAY));
    db.tick().unwrap();
    track(&db, "user_id:1", "purchase", T + 31 * DAY);
    assert!(!db.was_member(p, "recent", Timestamp(T + 10 * DAY)).unwrap());
    assert!(db.was_member(p, "lapsed", Timestamp(T + 30 * DAY + HOUR)).unwrap());
    assert_clean(&db);
}

/// The review's s09: a write of an event the due segment does not read.
#[test]
fn a_write_of_an_unread_event_after_a_due_instant() {
    let setup = |db: &ProfileDb| {
        db.define_segment("recent", "count(purchase, 7d) >= 1").unwrap();
        track(db, "user_id:1", "purchase", T);
    };
    let tw = twin(setup, T + 10 * DAY, |db| track(db, "user_id:1", "page_view", T + 10 * DAY));
    let p = pid(&tw.subject, "user_id:1");
    assert!(!tw.was_member(p, "recent", T + 8 * DAY));
    assert!(tw.was_member(p, "recent", T + 7 * DAY - 1));
}

/// s07 through `ingest_batch`, two events for the profile (and one for
/// another profile between them) in one batch.
#[test]
fn a_batch_with_two_events_for_a_profile_after_its_due_instants() {
    let setup = |db: &ProfileDb| {
        recent_and_lapsed(db);
        track(db, "user_id:2", "purchase", T - 3 * DAY);
    };
    let at = T + 31 * DAY;
    let tw = twin(setup, at, |db| {
        let batch =
            [ev("user_id:1", "page_view", at), ev("user_id:2", "purchase", at), ev("user_id:1", "purchase", at)];
        let report = db.ingest_batch(&batch, false).unwrap();
        assert_eq!(report.applied, 3);
    });
    let p = pid(&tw.subject, "user_id:1");
    assert!(!tw.was_member(p, "recent", T + 10 * DAY));
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
    assert!(tw.was_member(p, "recent", at));
    let q = pid(&tw.subject, "user_id:2");
    assert!(!tw.was_member(q, "recent", T + 5 * DAY), "q left 7 days after its purchase");
    assert!(tw.was_member(q, "lapsed", T + 28 * DAY), "and lapsed 30 days after it");
    // The strict batch: one RocksDB batch whatever its size.
    let tw = twin(setup, at, |db| {
        let batch =
            [ev("user_id:1", "purchase", at - HOUR), ev("user_id:2", "page_view", at), ev("user_id:1", "purchase", at)];
        assert_eq!(db.ingest_batch(&batch, true).unwrap().applied, 3);
    });
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
}

/// A late event: its time is before a due instant. A tick first records
/// the change at that instant without it (the tick had not seen it); the
/// write then evaluates at its own time.
#[test]
fn a_late_event_before_a_due_instant_is_seen_from_the_write_on() {
    let write_at = T + 31 * DAY;
    // Before `recent`'s due instant: it left at T+7d all the same, and the
    // purchase, 25 days old at the write, takes the profile out of `lapsed`.
    let tw = twin(recent_and_lapsed, write_at, |db| track(db, "user_id:1", "purchase", T + 6 * DAY));
    let p = pid(&tw.subject, "user_id:1");
    assert!(!tw.was_member(p, "recent", T + 8 * DAY), "the tick left it at T+7d");
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
    assert!(!tw.was_member(p, "lapsed", write_at));
    tw.tick_at(T + 40 * DAY);
    assert!(tw.was_member(p, "lapsed", T + 40 * DAY), "30 days after the late purchase");
    // Older than the latest purchase: nothing changes at the write.
    let tw = twin(recent_and_lapsed, write_at, |db| track(db, "user_id:1", "purchase", T - 10 * DAY));
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
    assert!(tw.was_member(p, "lapsed", write_at));
}

/// A profile merging away with due wake-ups: its changes are recorded at
/// their instants before it leaves every segment; the survivor's too.
#[test]
fn a_merge_of_profiles_with_due_wakeups() {
    let setup = |db: &ProfileDb| {
        recent_and_lapsed(db);
        // The loser: leaves `recent` at T+5d, enters `lapsed` at T+28d+1ms.
        track(db, "anonymous_id:2", "purchase", T - 2 * DAY);
    };
    let at = T + 31 * DAY;
    // By an event linking both identifiers: the second profile merges into the first.
    let tw = twin(setup, at, |db| {
        db.track(&Event::new(
            EventKind::Track,
            "page_view",
            Timestamp(at),
            vec![id("user_id:1"), id("anonymous_id:2")],
        ))
        .unwrap();
    });
    let p = pid(&tw.subject, "user_id:1");
    let q = *feeds(&tw.subject).keys().find(|q| **q != p).unwrap();
    assert!(!tw.was_member(q, "recent", T + 6 * DAY), "the loser left recent before it merged");
    assert!(tw.was_member(q, "lapsed", T + 29 * DAY), "the loser lapsed before it merged");
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
    assert!(tw.was_member(p, "lapsed", at), "neither purchased in the last 30 days");
    let merged = feeds(&tw.subject).remove(&q).unwrap_or_default();
    assert!(matches!(merged.last(), Some((FeedKind::Merged { .. }, None, t)) if *t == at), "{merged:?}");
    // By the administrative merge.
    let _ = twin(setup, at, |db| {
        db.merge_profiles(pid(db, "user_id:1"), pid(db, "anonymous_id:2"), Cause::Admin("test".into())).unwrap();
    });
}

/// Segments reading a due segment (`in lapsed`), written through a trait
/// the due segment does not read, and a consent change.
#[test]
fn readers_of_a_due_segment_and_writes_it_does_not_read() {
    let setup = |db: &ProfileDb| {
        db.update(&id("user_id:1"), Update::new().set("plan", "free")).unwrap();
        recent_and_lapsed(db);
        db.define_segment("lapsed_pro", r#"in lapsed and traits.plan = "pro""#).unwrap();
        db.define_segment("lapsed_free", r#"in lapsed and traits.plan = "free""#).unwrap();
    };
    let at = T + 35 * DAY;
    let tw = twin(setup, at, |db| {
        db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    });
    let p = pid(&tw.subject, "user_id:1");
    assert!(tw.was_member(p, "lapsed_free", T + 30 * DAY + HOUR), "free when it lapsed");
    assert!(!tw.was_member(p, "lapsed_free", at));
    assert!(!tw.was_member(p, "lapsed_pro", at - 1), "pro only from the write on");
    assert!(tw.was_member(p, "lapsed_pro", at));
    let consent = profiledb::privacy::ConsentChange::granted("test");
    let _ = twin(setup, at, |db| {
        db.set_consent(&id("user_id:1"), "marketing_email", consent.clone()).unwrap();
    });
}

/// Defining a segment that reads a due one: the backfill evaluates it at
/// now, over the due segment's membership as a tick would have left it.
#[test]
fn a_definition_reading_a_due_segment() {
    let at = T + 31 * DAY;
    let tw = twin(recent_and_lapsed, at, |db| {
        db.define_segment("still_buying", "not in lapsed").unwrap();
    });
    let p = pid(&tw.subject, "user_id:1");
    assert!(tw.was_member(p, "lapsed", T + 30 * DAY + HOUR));
    assert!(!tw.was_member(p, "still_buying", at));
    assert!(feeds(&tw.subject)[&p].iter().all(|r| r.1.as_deref() != Some("still_buying")), "never a member");
}
