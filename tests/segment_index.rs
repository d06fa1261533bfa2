//! Indexed traits: value bitmaps against a brute-force scan after random
//! writes, merges, unmerges, erasures and reopens; queries that use them
//! against the per-profile evaluation of an unindexed copy of the trait;
//! `explain` naming the path; the distinct-value cap; persistence.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use profiledb::segment::MAX_INDEXED_VALUES;
use profiledb::{Error, Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

fn open(dir: &std::path::Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(1_700_000_000_000)));
    ProfileDb::builder(dir).clock(clock).open().unwrap()
}

/// A small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const PEOPLE: u64 = 24;
const COUNTRIES: [&str; 4] = ["DE", "FR", "US", "NO"];

fn email(k: u64) -> Identifier {
    id(&format!("email:u{k}@x.com"))
}

/// A value for `country` (and, identically, its unindexed copy `country_copy`).
fn value(rng: &mut Rng) -> TraitValue {
    match rng.below(7) {
        0 => TraitValue::Null,
        1 => TraitValue::Int(3),
        2 => TraitValue::Float(3.0),
        n => TraitValue::Str(COUNTRIES[(n - 3) as usize].into()),
    }
}

/// One random operation; errors (refused merges, erased identifiers,
/// unmerges of unmerged profiles) write nothing and are ignored.
fn step(db: &ProfileDb, rng: &mut Rng) {
    let who = email(rng.below(PEOPLE));
    let _ = match rng.below(30) {
        0..=14 => {
            let v = value(rng);
            db.update(&who, Update::new().set("country", v.clone()).set("country_copy", v).set("n", 1)).map(|_| ())
        }
        15..=17 => db.update(&who, Update::new().unset("country").unset("country_copy")).map(|_| ()),
        18..=24 => db.identify(&[who, email(rng.below(PEOPLE))], Update::new()).map(|_| ()),
        25..=28 => match db.resolve(&who) {
            Ok(Some(p)) => db.unmerge(p, &who).map(|_| ()),
            _ => Ok(()),
        },
        _ => db.erase(&who, None).map(|_| ()),
    };
}

/// Every live profile's `country`, by reading every profile the test's
/// identifiers reach.
fn brute_force(db: &ProfileDb) -> BTreeMap<u32, Option<TraitValue>> {
    let mut out = BTreeMap::new();
    for k in 0..PEOPLE {
        if let Some(p) = db.get(&email(k)).unwrap() {
            out.insert(p.id.0, p.traits.get("country").cloned());
        }
    }
    out
}

fn members(db: &ProfileDb, query: &str) -> (BTreeSet<u32>, String) {
    let q = db.query(query).unwrap();
    (q.members(0, usize::MAX).into_iter().map(|p| p.0).collect(), q.explain())
}

/// The queries whose indexed and unindexed forms must agree.
const TESTS: &[&str] =
    &[r#"= "DE""#, r#"!= "DE""#, r#"in ["FR", "US"]"#, "exists", "is null", "= 3", "!= 3", "> 2", r#"starts_with "N""#];

fn assert_exact(db: &ProfileDb, context: &str) {
    let mismatches = db.check_trait_indexes().unwrap();
    assert!(mismatches.is_empty(), "{context}: {mismatches:?}");
    let truth = brute_force(db);
    // Value bitmaps == brute force, value by value.
    let mut by_value: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (p, v) in &truth {
        if let Some(TraitValue::Str(s)) = v {
            by_value.entry(s.to_string()).or_default().insert(*p);
        }
    }
    for c in COUNTRIES {
        let (got, explain) = members(db, &format!(r#"traits.country = "{c}""#));
        assert_eq!(got, by_value.remove(c).unwrap_or_default(), "{context}: country = {c}");
        assert!(explain.contains("value bitmaps of traits.country"), "{explain}");
    }
    let with: BTreeSet<u32> = truth.iter().filter(|(_, v)| v.is_some()).map(|(p, _)| *p).collect();
    assert_eq!(members(db, "traits.country exists").0, with, "{context}: exists");
    // Indexed == per-profile evaluation of the identical, unindexed copy.
    for test in TESTS {
        let (indexed, explain) = members(db, &format!("traits.country {test}"));
        let (scanned, fallback) = members(db, &format!("traits.country_copy {test}"));
        assert_eq!(indexed, scanned, "{context}: {test}");
        assert!(!explain.contains("not indexed"), "{explain}");
        assert!(fallback.contains("not indexed, evaluated per profile"), "{fallback}");
    }
}

#[test]
fn value_bitmaps_equal_a_brute_force_scan_after_random_writes_merges_and_erasures() {
    for seed in [0x5eed_0001u64, 0x5eed_0002, 0x5eed_0003] {
        let dir = tempfile::tempdir().unwrap();
        let mut db = open(dir.path());
        let mut rng = Rng(seed);
        // Some profiles exist before the index: the backfill must file them.
        for _ in 0..20 {
            step(&db, &mut rng);
        }
        db.index_trait("country").unwrap();
        assert_exact(&db, &format!("seed {seed:#x} after backfill"));
        for i in 0..150 {
            step(&db, &mut rng);
            if i % 10 == 0 {
                assert_exact(&db, &format!("seed {seed:#x} step {i}"));
            }
            if i % 50 == 49 {
                drop(db);
                db = open(dir.path());
                assert_exact(&db, &format!("seed {seed:#x} after reopen at step {i}"));
            }
        }
        assert!(db.check_segments().unwrap().is_empty());
        assert!(db.check().unwrap().is_clean());
    }
}

#[test]
fn queries_combine_segments_and_indexed_traits_and_explain_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    for (k, (country, ltv, churned)) in
        [("DE", 900, false), ("DE", 900, true), ("FR", 900, false), ("DE", 10, false)].into_iter().enumerate()
    {
        let u = Update::new().set("country", country).set("ltv", ltv).set("churned", churned);
        db.update(&email(k as u64), u).unwrap();
    }
    db.define_segment("high_value", "traits.ltv > 500").unwrap();
    db.define_segment("churned", "traits.churned = true").unwrap();
    let text = r#"in high_value and not in churned and traits.country = "DE""#;
    let before = db.query(text).unwrap();
    assert_eq!(before.count(), 1);
    assert!(before.explain().contains("scan `traits.country = \"DE\"`: not indexed"), "{}", before.explain());

    db.index_trait("country").unwrap();
    let after = db.query(text).unwrap();
    assert_eq!(after.members(0, 10), before.members(0, 10));
    let explain = after.explain();
    assert!(explain.contains("segment high_value: bitmap"), "{explain}");
    assert!(explain.contains("index `traits.country = \"DE\"`: bitmap"), "{explain}");
    assert!(explain.contains("1 of 2 values pass"), "{explain}");
    assert!(!explain.contains("evaluated per profile"), "every part used bitmaps: {explain}");

    // A non-indexed condition next to an indexed one: only it is scanned.
    let mixed = db.query(r#"traits.country = "DE" and traits.ltv < 100"#).unwrap();
    assert_eq!(mixed.count(), 1);
    assert!(mixed.explain().contains("scan `traits.ltv < 100`: not indexed, evaluated per profile over 3 candidates"));
    // Queries that scan run over a copy of the bitmaps they read (the
    // lock is released meanwhile): the copy keeps the segment and index.
    assert!(mixed.explain().contains("index `traits.country = \"DE\"`: bitmap"), "{}", mixed.explain());
    let scanned =
        db.query(r#"in high_value and not in churned and traits.ltv < 1000 and traits.country = "DE""#).unwrap();
    assert_eq!(scanned.members(0, 10), before.members(0, 10));
    let explain = scanned.explain();
    assert!(explain.contains("segment high_value: bitmap, 3 members"), "{explain}");
    assert!(explain.contains("segment churned: bitmap, 1 members"), "{explain}");
    assert!(
        explain.contains("scan `traits.ltv < 1000`: not indexed, evaluated per profile over 1 candidates"),
        "{explain}"
    );

    // Dropping the index falls back, and the drop persists.
    db.drop_trait_index("country").unwrap();
    assert!(db.query(text).unwrap().explain().contains("not indexed"));
    assert!(matches!(db.drop_trait_index("country"), Err(Error::NotFound(_))));
    drop(db);
    let db = open(dir.path());
    assert!(db.trait_indexes().is_empty());
    assert_eq!(db.query(text).unwrap().count(), 1);
}

#[test]
fn indexes_persist_follow_writes_and_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    db.update(&email(1), Update::new().set("plan", "pro")).unwrap();
    let info = db.index_trait("plan").unwrap();
    assert_eq!((info.name.as_str(), info.values, info.profiles, info.unindexed), ("plan", 1, 1, 0));
    assert_eq!(db.index_trait("plan").unwrap(), info, "indexing twice changes nothing");
    db.update(&email(2), Update::new().set("plan", "free")).unwrap();
    db.update(&email(1), Update::new().set("plan", "free")).unwrap();
    assert_eq!(db.trait_indexes()[0].values, 1, "the emptied value's bitmap is gone");
    drop(db);
    let db = open(dir.path());
    let q = db.query(r#"traits.plan = "free""#).unwrap();
    assert_eq!(q.count(), 2);
    assert!(q.explain().contains("value bitmaps of traits.plan"));
    assert!(db.check_trait_indexes().unwrap().is_empty());
    assert!(matches!(db.index_trait("bad name"), Err(Error::InvalidTraitName { .. })));
}

#[test]
fn values_past_the_cap_fall_back_to_per_profile_evaluation() {
    let dir = tempfile::tempdir().unwrap();
    let db = open(dir.path());
    let n = MAX_INDEXED_VALUES as u64 + 3;
    for k in 0..n {
        db.update(&email(k), Update::new().set("zip", format!("z{k}")).set("zip_copy", format!("z{k}"))).unwrap();
    }
    let info = db.index_trait("zip").unwrap();
    assert_eq!((info.values, info.unindexed, info.profiles), (MAX_INDEXED_VALUES, 3, n));
    // One of the profiles past the cap, and one with an indexed value.
    let last = format!("z{}", n - 1);
    for z in [last.as_str(), "z1"] {
        let q = db.query(&format!(r#"traits.zip = "{z}""#)).unwrap();
        assert_eq!(q.count(), 1, "{z}");
        assert!(q.explain().contains("3 profiles with values past the 1000-value cap evaluated per profile"));
    }
    let (a, _) = members(&db, r#"traits.zip starts_with "z10""#);
    let (b, _) = members(&db, r#"traits.zip_copy starts_with "z10""#);
    assert_eq!(a, b);
    // A new value while others wait past the cap gets no bitmap of its own.
    db.update(&email(n), Update::new().set("zip", "fresh")).unwrap();
    assert_eq!(db.trait_indexes()[0].unindexed, 4);
    assert_eq!(db.query(r#"traits.zip = "fresh""#).unwrap().count(), 1);
    // Profiles past the cap that move to indexed values leave `other`.
    for k in (n - 3)..=n {
        db.update(&email(k), Update::new().set("zip", "z1")).unwrap();
    }
    let info = &db.trait_indexes()[0];
    assert_eq!((info.unindexed, info.profiles), (0, n + 1));
    assert_eq!(db.query(r#"traits.zip = "z1""#).unwrap().count(), 5);
    assert!(db.check_trait_indexes().unwrap().is_empty());
    assert!(db.resolve(&email(0)).unwrap().is_some_and(|p| p == ProfileId(0)));
}
