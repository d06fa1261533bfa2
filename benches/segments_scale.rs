//! Segment reads at scale (issue 5): 100 segments over
//! `PROFILEDB_SCALE_PROFILES` profiles (default 10,000,000) — a 3-way
//! boolean count (counted over flat blocks, and through the materialized
//! result), a membership test, and reopening the database (which
//! loads every bitmap).
//!
//! The segments are defined on the empty database and the profiles then
//! arrive through `ingest_batch` (identify events carrying traits), so
//! membership is maintained by the write path, as in production, rather
//! than by backfills. Loading 10M profiles takes a while; with
//! `PROFILEDB_SCALE_DIR` set the database is kept there and reused by
//! later runs (delete the directory to rebuild it); a load that was
//! stopped resumes where it stopped.
//!
//! ```sh
//! PROFILEDB_SCALE_DIR=/var/tmp/pdb-10m cargo bench --bench segments_scale
//! ```

mod common;

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{next, profiles, user};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use profiledb::event::{Event, EventKind};
use profiledb::{ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const NOW: i64 = 1_750_000_000_000;
const DAY: i64 = 86_400_000;
const PLANS: [&str; 4] = ["free", "starter", "pro", "enterprise"];
const COUNTRIES: [&str; 6] = ["DE", "FR", "US", "ES", "PL", "NO"];

/// The 100 segment definitions: single-trait segments, ranges, segments
/// combining other segments, and time-relative ones (which file wake-ups).
fn segments() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in PLANS {
        out.push((format!("plan_{p}"), format!(r#"traits.plan = "{p}""#)));
    }
    for c in COUNTRIES {
        out.push((format!("country_{}", c.to_lowercase()), format!(r#"traits.country = "{c}""#)));
    }
    for lo in (20..80).step_by(10) {
        out.push((format!("age_{lo}s"), format!("traits.age >= {lo} and traits.age < {}", lo + 10)));
    }
    for k in 1..=20 {
        out.push((format!("ltv_over_{}", k * 100), format!("traits.ltv > {}", k * 100)));
    }
    for p in PLANS {
        for c in COUNTRIES {
            let c = c.to_lowercase();
            out.push((format!("{p}_{c}"), format!("in plan_{p} and in country_{c}")));
        }
    }
    out.push(("vip".into(), r#"traits.tags contains "vip""#.into()));
    out.push(("opted_in".into(), "traits.email_opt_in = true".into()));
    for m in 1..=6 {
        out.push((format!("signed_up_{m}m"), format!("traits.signup_at > now - {}d", m * 30)));
    }
    for k in 1..=32 {
        out.push((format!("score_{k}"), format!("traits.score >= {}", k * 3)));
    }
    out
}

/// The identify event that creates profile `i` with its traits.
fn profile_event(i: u64, x: &mut u64) -> Event {
    let mut e = Event::new(EventKind::Identify, "identify", Timestamp(NOW), vec![user(i)]);
    let r = next(x);
    e.traits = Update::new()
        .set("plan", PLANS[(r % 4) as usize])
        .set("country", COUNTRIES[((r >> 8) % 6) as usize])
        .set("age", (18 + (r >> 16) % 60) as i64)
        .set("ltv", ((r >> 24) % 2_500) as f64)
        .set("tags", vec![if (r >> 36).is_multiple_of(10) { "vip" } else { "beta" }.to_owned()])
        .set("email_opt_in", (r >> 40).is_multiple_of(2))
        .set("signup_at", Timestamp(NOW - ((r >> 44) % 700) as i64 * DAY))
        .set("score", ((r >> 52) % 100) as i64)
        .into_ops();
    e
}

fn open(dir: &Path) -> ProfileDb {
    ProfileDb::builder(dir)
        .clock(Arc::new(ManualClock::new(Timestamp(NOW))))
        .profile_cache_entries(100_000)
        .block_cache_bytes(256 << 20)
        .open()
        .expect("open the scale database")
}

/// How many of the first `n` generated profiles the database holds:
/// loading commits them in order, so they are a prefix (binary search).
fn loaded_prefix(db: &ProfileDb, n: u64) -> u64 {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if db.resolve(&user(mid)).expect("resolve").is_some() {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Opens the database, loading the profiles it does not hold yet (a load
/// that was stopped resumes where it stopped).
fn loaded(dir: &Path, n: u64) -> ProfileDb {
    let db = open(dir);
    let start = Instant::now();
    if db.segments().is_empty() {
        for (name, text) in segments() {
            db.define_segment(&name, &text).expect("define segment");
        }
    }
    assert_eq!(db.segments().len(), 100, "{} holds other segments: delete it", dir.display());
    let from = loaded_prefix(&db, n);
    if from == n {
        eprintln!("reusing the database at {} ({n} profiles, 100 segments)", dir.display());
        return db;
    }
    let mut x = 11u64;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        // Generated from the start, so a resumed load draws the same traits.
        let e = profile_event(i, &mut x);
        if i < from {
            continue;
        }
        batch.push(e);
        if batch.len() == 10_000 {
            db.ingest_batch(&batch, true).expect("load profiles");
            batch.clear();
        }
        if i > from && i.is_multiple_of(1_000_000) {
            eprintln!("  {i} profiles ({} this run) in {:.0?}", i - from, start.elapsed());
        }
    }
    db.ingest_batch(&batch, true).expect("load profiles");
    eprintln!("loaded profiles {from}..{n} into 100 segments in {:.1?}", start.elapsed());
    db
}

fn scale(c: &mut Criterion) {
    let n = profiles("PROFILEDB_SCALE_PROFILES", 10_000_000);
    let temp;
    let dir = match std::env::var_os("PROFILEDB_SCALE_DIR") {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            temp = tempfile::tempdir().expect("tempdir");
            temp.path().to_owned()
        }
    };
    let mut db = Some(loaded(&dir, n));
    let mut x = 5u64;
    {
        let db = db.as_ref().expect("opened above");
        let query = "in plan_pro and in country_de and not in vip";
        eprintln!("{query}: {} profiles", db.query(query).expect("query").count());
        c.bench_function("scale/in_segment", |b| {
            b.iter(|| {
                let p = ProfileId((next(&mut x) % n) as u32);
                black_box(db.in_segment("plan_pro", p).expect("in_segment"))
            })
        });
        assert_eq!(db.query_count(query).expect("count"), db.query(query).expect("query").count());
        c.bench_function("scale/count_3way", |b| b.iter(|| black_box(db.query_count(query).expect("count"))));
        // The same count through the materialized result (roaring operators).
        c.bench_function("scale/query_3way", |b| b.iter(|| black_box(db.query(query).expect("query").count())));
    }
    let mut group = c.benchmark_group("scale");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(20));
    group.bench_function("reopen", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                drop(db.take());
                let start = Instant::now();
                let opened = open(&dir);
                total += start.elapsed();
                db = Some(opened);
            }
            total
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = scale
}
criterion_main!(benches);
