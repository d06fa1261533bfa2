//! Golden fixtures: databases written by each format version are checked
//! in under `tests/fixtures/v<N>/`. These tests prove that this build still
//! opens it and reads the same contents, and that this build still writes
//! byte-identical keys and values for the same operations — so a layout
//! change cannot slip in without a format-version bump and a new fixture.
//!
//! Regenerate (only together with a format-version bump):
//! `PROFILEDB_REGENERATE_FIXTURES=1 cargo test --release --test fixtures`

use std::path::{Path, PathBuf};
use std::sync::Arc;

use profiledb::event::{Event, EventKind};
use profiledb::privacy::{ConsentChange, ConsentOp, ConsentState};
use profiledb::rollup::{Aggregate, RfmConfig, RollupDef, RollupValue, Window};
use profiledb::{
    AccessMode, Change, Identifier, ManualClock, MergeRules, MergeStrategy, ProfileDb, ProfileId, RawEntry,
    RetentionSettings, Timestamp, TraitValue, Update,
};

mod common;

/// Accumulator layouts of formats 8–10 read back and fold into this build's.
#[path = "fixture_checks/accumulators.rs"]
mod accumulators;

fn id(s: &str) -> Identifier {
    s.parse().expect("valid fixture identifier")
}

fn fixture_dir(version: u32) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/v{version}"))
}

/// The format version whose fixture this build must write byte for byte.
const LATEST: u32 = 15;

/// The operations that build the fixture, deterministic under a manual clock.
fn build(dir: &Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    let db = ProfileDb::builder(dir)
        .clock(clock.clone())
        .snapshot_every(2)
        .merge_rules(MergeRules::default().trait_strategy("ltv", MergeStrategy::Sum))
        .timeline_retention(7 * Timestamp::DAY)
        .rollup_bucket_retention(14 * Timestamp::DAY)
        .open()
        .expect("open fixture db");
    let step = |u: &str, upd: Update| {
        clock.advance(60_000);
        db.update(&id(u), upd).expect("fixture write");
    };
    step(
        "email:ann@example.com",
        Update::new()
            .set("name", "Ann")
            .set("age", 34)
            .set("score", 0.75)
            .set("vip", true)
            .set("signup_at", Timestamp(1_690_000_000_000))
            .set("nickname", TraitValue::Null)
            .set("address.city", "Oslo")
            .add_to_set("tags", ["beta", "mobile"]),
    );
    step("email:ann@example.com", Update::new().increment("ltv", 120).set_once("source", "ads"));
    step("anonymous_id:anon-1", Update::new().increment("ltv", 30).set("color", "red"));
    clock.advance(60_000);
    db.identify(&[id("anonymous_id:anon-1"), id("email:ann@example.com"), id("user_id:u-1")], Update::new())
        .expect("fixture merge");
    step("user_id:u-2", Update::new().set("name", "Bob").remove_from_set("tags", ["x"]).unset("missing"));
    step("device_id:dev-9", Update::new().set("os", "ios"));
    clock.advance(60_000);
    db.identify(&[id("user_id:u-2"), id("device_id:dev-9")], Update::new()).expect("fixture merge 2");
    clock.advance(60_000);
    db.remove_identifier(ProfileId(3), &id("device_id:dev-9")).expect("fixture detach");
    db.retain_history(Timestamp(1_700_000_000_000 + 2 * 60_000 + 1)).expect("fixture retention");
    // Format 2: events, timelines, rollups, dedup.
    db.declare_rollup(RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()))).expect("rollup");
    for (i, amount) in [30i64, 45].into_iter().enumerate() {
        clock.advance(60_000);
        let mut e = Event::new(EventKind::Track, "purchase", clock.now(), vec![id("email:ann@example.com")]);
        e.message_id = Some(format!("msg-{i}"));
        e.properties.insert("amount", amount);
        e.properties.insert("sku", "A-1");
        db.track(&e).expect("fixture event");
    }
    // Format 3: segments, wake-ups, the change feed, membership history.
    db.define_segment("buyers", "count(purchase) >= 1").expect("segment");
    db.define_segment("recent_buyers", "last(purchase) > now - 1d").expect("timed segment");
    clock.advance(60_000);
    db.update(&id("user_id:u-2"), Update::new().set("plan", "pro")).expect("fixture write");
    db.define_segment("pro", r#"traits.plan = "pro""#).expect("segment");
    // Format 4: retention floors and a retired bucket (a month-old purchase).
    let mut e = Event::new(
        EventKind::Track,
        "purchase",
        Timestamp(clock.now().0 - 30 * Timestamp::DAY),
        vec![id("email:ann@example.com")],
    );
    e.message_id = Some("msg-old".into());
    e.properties.insert("amount", 100);
    db.track(&e).expect("fixture late event");
    db.enforce_retention().expect("fixture retention");
    // Format 4: consent (deltas, state, merge rule), the privacy audit log.
    clock.advance(60_000);
    let until = Timestamp(1_900_000_000_000);
    db.set_consent(&id("email:ann@example.com"), "marketing_email", ConsentChange::granted_until("signup_form", until))
        .expect("fixture consent");
    db.set_consent(&id("email:ann@example.com"), "analytics", ConsentChange::granted("banner")).expect("consent");
    clock.advance(60_000);
    db.set_consent(&id("anonymous_id:anon-2"), "marketing_email", ConsentChange::denied("banner")).expect("consent");
    clock.advance(60_000);
    db.identify(&[id("email:ann@example.com"), id("anonymous_id:anon-2")], Update::new()).expect("consent merge");
    db.define_segment("analytics_ok", "consent(analytics)").expect("consent segment");
    db.export(&id("email:ann@example.com"), Some("fixture-request")).expect("fixture export");
    // Format 4: trait indexes (backfilled, then maintained by a write) and
    // the persisted live set (ids merged away are gone).
    db.index_trait("plan").expect("trait index");
    db.index_trait("os").expect("trait index");
    clock.advance(60_000);
    db.update(&id("email:ann@example.com"), Update::new().set("plan", "free")).expect("fixture write");
    // Added to the v6 fixture later (same format, more of it): page, identify
    // and screen events on timelines, an alias merge, an unmerge (`Unmerge`
    // and `SplitFrom` deltas, the events moving back), the RFM model in `meta`.
    let carol = id("user_id:c-1");
    let anon = id("anonymous_id:c-anon");
    clock.advance(60_000);
    let mut e = Event::new(EventKind::Page, "page", clock.now(), vec![anon.clone()]);
    e.properties.insert("path", "/pricing");
    db.track(&e).expect("page event");
    clock.advance(60_000);
    let mut e = Event::new(EventKind::Identify, "identify", clock.now(), vec![carol.clone()]);
    e.traits = Update::new().set("name", "Carol").into_ops();
    db.track(&e).expect("identify event");
    clock.advance(60_000);
    let mut e = Event::new(EventKind::Alias, "alias", clock.now(), vec![carol.clone()]);
    e.previous_id = Some(anon.clone());
    db.track(&e).expect("alias event");
    clock.advance(60_000);
    let mut e = Event::new(EventKind::Screen, "screen", clock.now(), vec![carol.clone()]);
    e.properties.insert("screen", "home");
    db.track(&e).expect("screen event");
    clock.advance(60_000);
    let merged = db.resolve(&carol).expect("resolve").expect("carol");
    db.unmerge(merged, &carol).expect("fixture unmerge");
    db.compute_rfm(RfmConfig { event: "purchase".into(), amount: "amount".into() }).expect("fixture rfm");
    // Format 7: consent changes carry the time they were given (identify
    // events: their time), and one given before the recorded state does
    // not replace it — dana's late grant stays in the history only.
    let dana = id("user_id:d-1");
    let consent_event = |at: i64, state: ConsentState| {
        let mut e = Event::new(EventKind::Identify, "identify", Timestamp(at), vec![dana.clone()]);
        let change = match state {
            ConsentState::Granted => ConsentChange::granted("banner"),
            ConsentState::Denied => ConsentChange::denied("banner"),
            ConsentState::Withdrawn => ConsentChange::withdrawn("banner"),
        };
        e.consent = vec![ConsentOp { purpose: "ads".into(), change }];
        e
    };
    clock.advance(60_000);
    let now = clock.now().0;
    db.track(&consent_event(now - 1_000, ConsentState::Withdrawn)).expect("consent event");
    db.track(&consent_event(now - 5_000, ConsentState::Granted)).expect("late consent event");
    db.set_consent(&dana, "email", ConsentChange::granted("import").given_at(Timestamp(now - 9_000)))
        .expect("imported consent");
    // Format 10: exact sums — a bucket whose sum takes two partials
    // (0.1 + 0.2 + 0.3: plain addition gave 0.6000000000000001).
    for amount in [0.1, 0.2, 0.3] {
        clock.advance(60_000);
        let mut e = Event::new(EventKind::Track, "purchase", clock.now(), vec![id("user_id:e-1")]);
        e.properties.insert("amount", amount);
        db.track(&e).expect("fixture decimal purchase");
    }
    db
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn stable(dump: Vec<RawEntry>) -> Vec<(String, Vec<u8>, Vec<u8>)> {
    dump.into_iter().map(|e| (e.cf.to_owned(), e.key, e.value)).collect()
}

/// A copy of the fixture of `version` (fixtures themselves are never opened:
/// an open writes to the directory).
fn copy_fixture(version: u32) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(version), tmp.path());
    tmp
}

/// A copy of the fixture of `version`, opened writable (upgraded to the
/// current format).
fn open_writable(version: u32) -> (tempfile::TempDir, ProfileDb) {
    let tmp = copy_fixture(version);
    let db = ProfileDb::open(tmp.path()).expect("an older-format database opens");
    (tmp, db)
}

/// A copy of the fixture of `version`, opened read-only or as a secondary
/// (left in its own format).
fn open_reading(version: u32, mode: AccessMode) -> (tempfile::TempDir, ProfileDb) {
    let tmp = copy_fixture(version);
    let db = ProfileDb::builder(tmp.path())
        .create_if_missing(false)
        .access_mode(mode)
        .open()
        .unwrap_or_else(|e| panic!("the v{version} fixture opens {mode:?}: {e}"));
    (tmp, db)
}

#[test]
fn the_v1_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(1);
    assert_profiles(&db, 1);
}

#[test]
fn the_v2_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(2);
    assert_profiles(&db, 2);
    assert_v2(&db);
}

#[test]
fn the_v3_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(3);
    assert_profiles(&db, 3);
    assert_v3_stored(&db);
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    // The fixture's clock stopped in 2023: the recent-buyers wake-up is due
    // (and the default 365-day timeline retention trims the 2023 events,
    // re-evaluating ann's segments in the same batch).
    db.tick().unwrap();
    assert!(!db.in_segment("recent_buyers", ann).unwrap());
    // Opening an older version upgraded it to format 4, which persisted the
    // live set (aliases are gone).
    assert_v3_live_set(&db);
}

#[test]
fn the_v4_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(4);
    assert_profiles(&db, 4);
    assert_v4(&db);
}

/// Format 5 changed only the profile record (identifier counts by kind);
/// `check` verifies them against `profile_identifiers`.
#[test]
fn the_v5_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(5);
    assert_profiles(&db, 5);
    assert_v4(&db);
    // The counts enforce the identity rules: user_id allows one per profile.
    let receipt = db.identify(&[id("email:ann@example.com"), id("user_id:u-3")], Update::new()).unwrap();
    assert_eq!(receipt.ignored.len(), 1, "{receipt:?}");
    assert!(db.check().unwrap().is_clean());
}

/// Format 6 changed how bitmap chunks are written (merge operands of the
/// changed members, folded on read): membership read back from them, and
/// changed after the open, stays exact.
#[test]
fn the_v6_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(6);
    assert_profiles(&db, 6);
    assert_v4(&db);
    assert_v6(&db);
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    let bob = db.resolve(&id("user_id:u-2")).unwrap().unwrap();
    db.update(&id("user_id:u-2"), Update::new().set("plan", "free")).unwrap();
    db.update(&id("email:ann@example.com"), Update::new().set("plan", "pro")).unwrap();
    assert_eq!(db.query(r#"traits.plan = "pro""#).unwrap().members(0, 10), vec![ann]);
    assert!(db.query(r#"traits.plan = "free""#).unwrap().contains(bob));
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

/// The format versions of the fixtures checked in under `tests/fixtures/`.
fn fixture_versions() -> Vec<u32> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut versions: Vec<u32> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str()?.strip_prefix('v')?.parse().ok())
        .collect();
    versions.sort_unstable();
    versions
}

#[test]
fn every_checked_in_fixture_has_a_read_only_test() {
    assert_eq!(fixture_versions(), (1..=LATEST).collect::<Vec<_>>(), "add the new fixture's expectations to read_only");
}

/// Every fixture, read-only and as a secondary, reads back in its own
/// format (`read_only` holds each version's expectations).
#[test]
fn every_fixture_reads_back_read_only() {
    for version in 1..=LATEST {
        read_only(version);
    }
}

/// Format 11 records the retention settings: an open that sets none
/// applies those the fixture's writer set (7 days of timelines, 14 of day
/// buckets); before, such an open applied the defaults.
fn assert_v11(db: &ProfileDb) {
    let day = Timestamp::DAY;
    // The feed and membership-history settings, never recorded by a v11
    // writer, are the defaults (recorded by this writable open).
    assert_eq!(db.retention_settings(), RetentionSettings::new(7 * day, 14 * day, 30 * day, 365 * day));
}

/// The meta keys of feed and membership-history retention and of the clock
/// guard (no format change: older builds never read them): the fixture's
/// writer recorded the settings, the membership floor of its
/// `enforce_retention` and that step's clock.
#[test]
fn the_latest_fixture_records_feed_and_membership_retention_and_the_retention_clock() {
    let (_dir, db) = open_reading(LATEST, AccessMode::ReadOnly);
    let meta: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        db.dump_cf("meta").unwrap().into_iter().map(|e| (e.key, e.value)).collect();
    let u64_of = |key: &[u8]| {
        let v = meta.get(key).unwrap_or_else(|| panic!("meta {:?} missing", String::from_utf8_lossy(key)));
        assert_eq!(v.len(), 9, "tag 0x11 and a u64");
        assert_eq!(v[0], 0x11);
        u64::from_be_bytes(v[1..].try_into().unwrap()) as i64
    };
    let day = Timestamp::DAY;
    assert_eq!(u64_of(b"feed_retention_ms"), 30 * day);
    assert_eq!(u64_of(b"membership_retention_ms"), 365 * day);
    let clock = u64_of(b"retention_clock");
    assert!(clock > 1_700_000_000_000 && clock < 1_700_000_000_000 + day, "{clock}");
    assert_eq!(u64_of(b"membership_floor"), clock - 365 * day);
    assert!(!meta.contains_key(&b"feed_floor_seq"[..]), "nothing was old enough to leave the feed");
    let s = db.retention_settings();
    assert_eq!((s.feed_ms, s.membership_ms), (30 * day, 365 * day));
}

#[test]
fn an_open_setting_no_retention_applies_the_recorded_one_and_older_formats_get_the_defaults() {
    let (_d11, v11) = open_writable(11);
    assert_v11(&v11);
    let (_d10, v10) = open_writable(10);
    let day = Timestamp::DAY;
    assert_eq!(v10.retention_settings(), RetentionSettings::new(365 * day, 0, 30 * day, 365 * day));
}

/// The feed's `Split` records (format 14: the fixture's one unmerge
/// writes one, splitting carol off the profile she had merged into).
fn split_records(db: &ProfileDb) -> usize {
    let feed = db.feed(0, 1000).unwrap();
    let carol = db.resolve(&id("user_id:c-1")).unwrap().unwrap();
    let splits: Vec<_> = feed.iter().filter(|r| matches!(r.kind, profiledb::segment::FeedKind::Split { .. })).collect();
    assert!(splits.iter().all(|r| r.profile == carol && r.segment.is_none()), "{splits:?}");
    splits.len()
}

/// The v10 fixture's decimal purchases: their sum is the exact 0.6, and
/// the stored bucket lists two partials.
fn assert_v10(db: &ProfileDb) {
    let eve = db.resolve(&id("user_id:e-1")).unwrap().expect("the v10 fixture has user e-1");
    assert_eq!(db.rollup(eve, "spend", Window::All).unwrap(), RollupValue::Number(Some(0.6)));
    // Tag 0x1a, flags with NUMERIC (0x01), count 3, numeric 3, 2 partials.
    let two = |v: &[u8]| v.len() > 5 && v[0] == 0x1a && v[1] & 0x01 != 0 && v[2..5] == [3, 3, 2];
    assert!(db.dump_cf("rollup").unwrap().iter().any(|e| two(&e.value)), "a bucket's sum is two partials");
}

/// The all-time rollup keys (bucket `ff…ff`) of a raw dump.
fn all_time_keys(db: &ProfileDb) -> usize {
    let dump = db.raw_dump().unwrap();
    dump.iter().filter(|e| e.cf == "rollup" && e.key.len() == 16 && e.key[8..] == [0xff; 8]).count()
}

/// Format 8 keeps no all-time rollup key: the upgrade from 7 deletes them
/// and all-time reads fold the retired accumulator and the day buckets.
#[test]
fn the_v8_fixture_opens_and_reads_back() {
    let (_dir, db) = open_writable(8);
    assert_eq!(all_time_keys(&db), 0);
    assert_profiles(&db, 8);
    assert_v4(&db);
    assert_v6(&db);
    assert_v7(&db);
    // New events add to all time without an all-time key.
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    let before = db.event_stats(ann, "purchase", Window::All).unwrap().count;
    let mut e = Event::new(EventKind::Track, "purchase", db.now(), vec![id("email:ann@example.com")]);
    e.properties.insert("amount", 25);
    db.track(&e).unwrap();
    assert_eq!(db.event_stats(ann, "purchase", Window::All).unwrap().count, before + 1);
    assert_eq!(db.rollup(ann, "spend", Window::All).unwrap(), RollupValue::Number(Some(200.0)));
    assert_eq!(all_time_keys(&db), 0);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

/// Format 7 gave consent changes the time they were given (tag `0x18`
/// deltas; `0x14` ones are read as given when written).
#[test]
fn the_v7_fixture_opens_and_reads_back() {
    let (_r, read_only) = open_reading(7, AccessMode::ReadOnly);
    assert!(all_time_keys(&read_only) > 0, "format 7 kept all-time rollup keys");
    drop(read_only);
    let (_dir, db) = open_writable(7);
    assert_eq!(all_time_keys(&db), 0, "the upgrade to format 8 deleted them");
    assert_profiles(&db, 7);
    assert_v4(&db);
    assert_v6(&db);
    assert_v7(&db);
    // A consent event given before dana's withdrawal still changes nothing
    // after the reopen; one given after it does.
    let dana = id("user_id:d-1");
    let withdrawn_at = db.get(&dana).unwrap().unwrap().consent["ads"].at;
    for (at, state) in [(withdrawn_at.0 - 1, ConsentState::Withdrawn), (withdrawn_at.0 + 1, ConsentState::Granted)] {
        db.set_consent(&dana, "ads", ConsentChange::granted("later").given_at(Timestamp(at))).unwrap();
        assert_eq!(db.get(&dana).unwrap().unwrap().consent["ads"].state, state);
    }
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

/// Opens a copy of the fixture of `version` read-only and as a secondary:
/// it is read in its own format (no upgrade, no error for the column
/// families it predates) and gives the writable open's answers.
fn read_only(version: u32) {
    for mode in [AccessMode::ReadOnly, AccessMode::Secondary] {
        let (dir, db) = open_reading(version, mode);
        assert_eq!(db.stored_format_version().unwrap(), version, "{mode:?} must not upgrade");
        assert_profiles(&db, version);
        match version {
            1 => assert_nothing_newer_than_v1(&db),
            2 => assert_v2(&db),
            3 => {
                assert_v3_stored(&db);
                // No tick on a read-only handle: the stored membership of the
                // timed segment, as the last writer's tick left it.
                let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
                assert!(db.in_segment("recent_buyers", ann).unwrap());
                // Format 3 does not persist the live set: it is scanned at open.
                assert_v3_live_set(&db);
            }
            4 | 5 => assert_v4(&db),
            6 => {
                assert_v4(&db);
                assert_v6(&db);
            }
            7..=9 => {
                assert_v4(&db);
                assert_v6(&db);
                assert_v7(&db);
            }
            10..=15 => {
                assert_v4(&db);
                assert_v6(&db);
                assert_v7(&db);
                assert_v10(&db);
                if version >= 11 {
                    assert_v11(&db);
                }
                assert_eq!(split_records(&db), usize::from(version >= 14), "v{version}: the unmerge's Split record");
            }
            v => panic!("the v{v} fixture has no read-only expectations: add them here"),
        }
        let r = db.check().unwrap();
        assert!(r.is_clean(), "v{version} {mode:?}: {r}");
        let refused = db.update(&id("user_id:new"), Update::new().set("plan", "pro")).unwrap_err();
        assert!(matches!(refused, profiledb::Error::ReadOnly(_)), "{refused}");
        drop(db);
        let again = ProfileDb::builder(dir.path()).access_mode(mode).open().unwrap();
        assert_eq!(again.stored_format_version().unwrap(), version, "still format {version} after a {mode:?} open");
    }
}

/// A secondary reads an older database as it is; once a writer has
/// upgraded it, catching up asks for a reopen rather than reading the new
/// column families as empty.
#[test]
fn a_secondary_on_an_older_format_asks_for_a_reopen_once_a_writer_upgrades_it() {
    let (dir, secondary) = open_reading(1, AccessMode::Secondary);
    secondary.catch_up().unwrap();
    let writer = ProfileDb::open(dir.path()).unwrap();
    assert_eq!(writer.stored_format_version().unwrap(), LATEST);
    let err = secondary.catch_up().unwrap_err();
    assert!(err.to_string().contains("reopen the handle"), "{err}");
    drop(secondary);
    let reopened = ProfileDb::builder(dir.path()).access_mode(AccessMode::Secondary).open().unwrap();
    assert_eq!(reopened.stored_format_version().unwrap(), LATEST);
    assert_profiles(&reopened, 1);
}

/// Every read of every profile, as text (the path of the temporary copy
/// replaced): a read-only handle must give the upgraded database's answers.
fn answers(db: &ProfileDb) -> Vec<String> {
    let path = db.path().display().to_string();
    let mut out = Vec::new();
    let mut push = |s: String| out.push(s.replace(&path, "<db>"));
    for p in (0..16).map(ProfileId) {
        push(format!("{p} full: {:?}", db.get_full_by_id(p)));
        push(format!("{p} resolve: {:?}", db.resolve_id(p)));
        push(format!("{p} history: {:?}", db.history(p)));
        push(format!("{p} graph: {:?}", db.identity_graph(p)));
        push(format!("{p} events: {:?}", db.events(p, Timestamp(0), Timestamp(i64::MAX))));
        push(format!("{p} as of version 3: {:?}", db.get_as_of_version(p, 3)));
        push(format!("{p} rfm: {:?}", db.rfm(p)));
    }
    push(format!("segments: {:?}", db.segments()));
    push(format!("rollups: {:?}", db.rollup_defs()));
    push(format!("feed: {:?}", db.feed(0, 1000)));
    push(format!("audit: {:?}", db.audit_log()));
    push(format!("indexes: {:?}", db.trait_indexes()));
    push(format!("not in buyers: {:?}", db.query("not in buyers").map(|q| q.members(0, 100))));
    push(format!("plan: {:?}", db.query(r#"traits.plan = "pro""#).map(|q| q.members(0, 100))));
    push(format!("profiles: {:?}", db.profile_count()));
    push(format!("identifiers: {:?}", db.identifier_count()));
    push(format!("check: {:?}", db.check()));
    out
}

#[test]
fn a_read_only_open_answers_what_the_upgraded_database_answers() {
    // One instant for both opens (RFM recency is measured from now).
    let clock = Arc::new(ManualClock::new(Timestamp(1_800_000_000_000)));
    let open = |version, mode| {
        let tmp = copy_fixture(version);
        let db = ProfileDb::builder(tmp.path()).clock(clock.clone()).access_mode(mode).open();
        (tmp, db.unwrap_or_else(|e| panic!("the v{version} fixture opens {mode:?}: {e}")))
    };
    for version in fixture_versions() {
        let (_w, writable) = open(version, AccessMode::ReadWrite);
        assert_eq!(writable.stored_format_version().unwrap(), LATEST, "the writable open upgraded v{version}");
        let expected = answers(&writable);
        drop(writable);
        let (_r, read_only) = open(version, AccessMode::ReadOnly);
        assert_eq!(read_only.stored_format_version().unwrap(), version);
        let got = answers(&read_only);
        assert_eq!(got.len(), expected.len());
        for (got, want) in got.iter().zip(&expected) {
            assert_eq!(got, want, "v{version}: a read-only answer differs from the upgraded database's");
        }
    }
}

/// Format 1 predates events, rollups, segments and the audit log: their
/// column families are absent on a read-only handle and read as empty.
fn assert_nothing_newer_than_v1(db: &ProfileDb) {
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    assert!(db.rollup_defs().is_empty());
    assert!(db.events(ann, Timestamp(0), Timestamp(i64::MAX)).unwrap().is_empty());
    assert!(db.segments().is_empty());
    assert!(db.feed(0, 100).unwrap().is_empty());
    assert!(db.audit_log().unwrap().is_empty());
    assert!(db.trait_indexes().is_empty());
    // Sizes list the families the database has: format 1's seven.
    let sizes = db.sizes().unwrap();
    let names: Vec<&str> = sizes.iter().map(|(cf, _)| *cf).collect();
    assert_eq!(names, ["meta", "identity", "profile_identifiers", "profile", "delta", "snapshot", "alias"]);
    assert!(db.dump_cf("segment_def").unwrap().is_empty());
    assert!(db.raw_dump().unwrap().iter().all(|e| [
        "meta",
        "identity",
        "profile_identifiers",
        "profile",
        "delta",
        "snapshot",
        "alias"
    ]
    .contains(&e.cf)));
}

fn assert_v2(db: &ProfileDb) {
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    assert_eq!(db.rollup(ann, "spend", Window::All).unwrap(), RollupValue::Number(Some(75.0)));
    let events = db.events(ann, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1].property("sku").and_then(|v| v.as_str()), Some("A-1"));
    assert_eq!(db.event_stats(ann, "purchase", Window::All).unwrap().count, 2);
}

/// What format 3 stored: rollups, segments and their history, the feed.
fn assert_v3_stored(db: &ProfileDb) {
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    assert_eq!(db.rollup(ann, "spend", Window::All).unwrap(), RollupValue::Number(Some(75.0)));
    assert_eq!(db.segment_count("buyers").unwrap(), 1);
    assert!(db.in_segment("buyers", ann).unwrap());
    assert!(db.in_segment("pro", db.resolve(&id("user_id:u-2")).unwrap().unwrap()).unwrap());
    let feed = db.feed(0, 100).unwrap();
    assert!(feed.len() >= 3, "{feed:?}");
    assert!(db.was_member(ann, "buyers", Timestamp(i64::MAX / 2)).unwrap());
}

/// The live set (aliases are not live) agrees with the trait indexes and
/// with `check`'s scan.
fn assert_v3_live_set(db: &ProfileDb) {
    assert!(db.check_trait_indexes().unwrap().is_empty());
    assert_eq!(db.query("not in buyers").unwrap().count() + 1, db.check().unwrap().profiles);
}

/// The v6 fixture's later additions: event kinds on timelines, an unmerge,
/// the RFM model.
fn assert_v6(db: &ProfileDb) {
    let ann = db.resolve(&id("email:ann@example.com")).unwrap().unwrap();
    let carol = db.resolve(&id("user_id:c-1")).unwrap().unwrap();
    let anon = db.resolve(&id("anonymous_id:c-anon")).unwrap().unwrap();
    assert_ne!(carol, anon, "the unmerge split them");
    let kinds = |p| db.events(p, Timestamp(0), Timestamp(i64::MAX)).unwrap();
    let carols = kinds(carol);
    // (Alias events link identifiers and are not stored on timelines.)
    assert_eq!(carols.iter().map(|e| e.kind).collect::<Vec<_>>(), [EventKind::Identify, EventKind::Screen]);
    assert!(!carols[0].traits.is_empty());
    assert_eq!(carols[1].property("screen").and_then(|v| v.as_str()), Some("home"));
    let anons = kinds(anon);
    assert_eq!(anons.len(), 1);
    assert_eq!(anons[0].property("path").and_then(|v| v.as_str()), Some("/pricing"));
    assert!(db.history(carol).unwrap().iter().any(|d| matches!(d.change, Change::SplitFrom { .. })));
    assert!(db.history(anon).unwrap().iter().any(|d| matches!(d.change, Change::Unmerge { .. })));
    assert_eq!(db.get_by_id(carol).unwrap().unwrap().traits.get("name"), Some(&"Carol".into()));
    assert!(db.rfm(ann).unwrap().is_some(), "the stored RFM model scores ann");
}

/// The v7 fixture's consent given at event time: dana's late grant is in
/// the history with its given time but did not replace the withdrawal.
fn assert_v7(db: &ProfileDb) {
    let dana = db.get(&id("user_id:d-1")).unwrap().expect("dana");
    let given = common::consent_given_times(db, dana.id);
    assert_eq!(given.len(), 3, "{given:?}");
    let (withdrawn, granted, imported) = (given[0].unwrap(), given[1].unwrap(), given[2].unwrap());
    assert!(granted < withdrawn && imported < granted, "{given:?}");
    let ads = &dana.consent["ads"];
    assert_eq!((ads.state, ads.at, ads.source.as_str()), (ConsentState::Withdrawn, withdrawn, "banner"));
    assert_eq!((dana.consent["email"].state, dana.consent["email"].at), (ConsentState::Granted, imported));
}

fn assert_v4(db: &ProfileDb) {
    let ann = db.get(&id("email:ann@example.com")).unwrap().expect("ann");
    // Retention: the month-old purchase was trimmed from the timeline and
    // folded into the all-time values; windows before the bucket floor are refused.
    assert_eq!(db.rollup(ann.id, "spend", Window::All).unwrap(), RollupValue::Number(Some(175.0)));
    assert_eq!(db.events(ann.id, Timestamp(0), Timestamp(i64::MAX)).unwrap().len(), 2);
    let t = 1_700_000_000_000;
    let before = Window::Between(Timestamp(t - 20 * Timestamp::DAY), Timestamp(t));
    assert!(matches!(db.rollup(ann.id, "spend", before), Err(profiledb::Error::WindowBeforeRetention { .. })));
    let after = Window::Between(Timestamp(t - 10 * Timestamp::DAY), Timestamp(t + Timestamp::DAY));
    assert_eq!(db.rollup(ann.id, "spend", after).unwrap(), RollupValue::Number(Some(75.0)));
    assert_eq!(db.event_stats(ann.id, "purchase", Window::All).unwrap().count, 3);
    // Consent and the privacy audit log.
    assert_eq!(ann.consent["marketing_email"].state, ConsentState::Denied, "the merge kept the most restrictive");
    assert_eq!(ann.consent["analytics"].state, ConsentState::Granted);
    assert!(db.in_segment("analytics_ok", ann.id).unwrap());
    let h = db.history(ann.id).unwrap();
    assert_eq!(h.iter().filter(|d| matches!(d.change, Change::Consent(_))).count(), 2);
    let log = db.audit_log().unwrap();
    assert_eq!((log.len(), log[0].request_id.as_deref()), (1, Some("fixture-request")));
    let bob = db.resolve(&id("user_id:u-2")).unwrap().unwrap();
    let pro = db.query(r#"traits.plan = "pro""#).unwrap();
    assert_eq!(pro.members(0, 10), vec![bob]);
    assert!(pro.explain().contains("value bitmaps of traits.plan"), "{}", pro.explain());
    let free = db.query(r#"traits.plan != "pro""#).unwrap();
    assert!(free.contains(ann.id) && !free.contains(bob));
    let names: Vec<String> = db.trait_indexes().into_iter().map(|i| i.name).collect();
    assert_eq!(names, vec!["os".to_owned(), "plan".to_owned()]);
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}

fn assert_profiles(db: &ProfileDb, version: u32) {
    let ann = db.get(&id("email:ann@example.com")).unwrap().expect("ann");
    assert_eq!(ann.id, ProfileId(0));
    assert_eq!(ann.traits.get("name"), Some(&"Ann".into()));
    assert_eq!(ann.traits.get("age"), Some(&TraitValue::Int(34)));
    assert_eq!(ann.traits.get("score"), Some(&TraitValue::Float(0.75)));
    assert_eq!(ann.traits.get("vip"), Some(&TraitValue::Bool(true)));
    assert_eq!(ann.traits.get("signup_at"), Some(&TraitValue::Time(Timestamp(1_690_000_000_000))));
    assert_eq!(ann.traits.get("nickname"), Some(&TraitValue::Null));
    assert_eq!(ann.traits.get("address.city"), Some(&"Oslo".into()));
    assert_eq!(ann.traits.get("tags"), Some(&TraitValue::List(vec!["beta".into(), "mobile".into()])));
    assert_eq!(ann.traits.get("ltv"), Some(&TraitValue::Int(150)), "sum merge rule");
    assert_eq!(ann.traits.get("color"), Some(&"red".into()));
    assert_eq!(db.resolve(&id("anonymous_id:anon-1")).unwrap(), Some(ProfileId(0)));
    assert_eq!(db.resolve(&id("user_id:u-1")).unwrap(), Some(ProfileId(0)));
    assert_eq!(db.resolve_id(ProfileId(1)).unwrap(), Some(ProfileId(0)), "alias");
    let bob = db.get(&id("user_id:u-2")).unwrap().expect("bob");
    assert_eq!(bob.traits.get("os"), Some(&"ios".into()));
    let dev = db.resolve(&id("device_id:dev-9")).unwrap().expect("detached device");
    assert_ne!(dev, bob.id);
    assert!(db.identity_graph(dev).unwrap()[0].link.detached);
    // History: retention folded ann's first two deltas; later ones replay.
    assert!(matches!(db.get_as_of_version(ProfileId(0), 1), Err(profiledb::Error::HistoryTruncated { .. })));
    assert_eq!(db.get_as_of_version(ProfileId(0), 2).unwrap().traits.get("ltv"), Some(&TraitValue::Int(120)));
    let h = db.history(ProfileId(0)).unwrap();
    assert!(h.iter().any(|d| matches!(d.change, Change::Merge { loser: ProfileId(1), .. })));
    assert!(ann.version >= 3);
    if version < 4 {
        assert!(ann.consent.is_empty(), "states written before format 4 have no consent");
    }
}

#[test]
fn this_build_writes_the_fixture_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let fresh = stable(build(tmp.path()).raw_dump().unwrap());
    if std::env::var_os("PROFILEDB_REGENERATE_FIXTURES").is_some() {
        let dir = fixture_dir(LATEST);
        let _ = std::fs::remove_dir_all(&dir);
        let db = build(&dir);
        db.compact().unwrap();
        drop(db);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.starts_with("LOG") {
                std::fs::remove_file(dir.join(name)).unwrap();
            }
        }
    }
    let old_dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(LATEST), old_dir.path());
    let old = stable(ProfileDb::open(old_dir.path()).unwrap().raw_dump().unwrap());
    assert_eq!(fresh.len(), old.len(), "number of stored entries changed");
    for (a, b) in fresh.iter().zip(old.iter()) {
        assert_eq!(a, b, "layout changed: bump FORMAT_VERSION and add a new fixture");
    }
}
