//! Criterion micro-benchmarks of the hot paths (issues #4, #5, #8): value
//! codecs, expression evaluation, a 30-day window read, an all-time read
//! outside the rollup cache (after loading, and again after the batched
//! ingest has left level-0 files unsettled), trait updates and
//! single-event ingest with 10 declared rollups and 20 segments maintained,
//! batched ingest, membership checks, a segment membership flip (one bitmap
//! chunk rewrite) and a 3-way segment count.
//!
//! The database is prepopulated with `PROFILEDB_HOT_PROFILES` profiles
//! (default 20,000; about 20 events each over the last 60 days, 10
//! declared rollups, 20 segments), with the profile and identity caches
//! holding every profile and identifier, and the rollup and wake-up caches
//! a slot per profile (every series the segments read, every
//! time-dependent segment's wake-up); `PROFILEDB_HOT_WRITE_BUFFER` sets
//! `write_buffer_bytes` (default 8 MiB). For the issues' 1M-profile numbers:
//!
//! ```text
//! PROFILEDB_HOT_PROFILES=1000000 cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every event carries a message id shaped like a UUID, as senders such
//! as Segment give them (the ingest reads and writes its `dedup` entry);
//! `PROFILEDB_HOT_MESSAGE_IDS=0` leaves them out, as runs before the
//! twenty-ninth session did.
//!
//! `PROFILEDB_HOT_SEGMENTS=0` defines no segment: issue #4's ingest targets
//! as its text states them (10 declared rollups, the segments being issue
//! #5's), measured as `ingest/track_10_rollups` and
//! `ingest/batch_1000_no_segments`; the benchmarks that read segments are
//! then skipped.
//!
//! After the window read and single-event ingest benchmarks, a latency pass
//! times single calls and prints their p50, p90 and p99 (the issues'
//! targets are medians; `PROFILEDB_LATENCY_CALLS` sets the number of calls,
//! 0 skips the passes). After the single-event and batched ingest
//! benchmarks, a CPU pass (`benches/common/cpu.rs`) ingests for
//! `PROFILEDB_CPU_SECONDS` seconds (default 20, 0 skips it) and prints the
//! CPU each event cost: the writing thread's, and RocksDB's flush and
//! compaction threads' (including the settling after the pass) — on a
//! shared machine the wall-clock rate depends on the CPU the writer gets,
//! the CPU per event does not.
//!
//! Results are recorded in BENCHMARKS.md; its huge-page column runs the
//! same commands under `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (README,
//! "Tuning").

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use profiledb::codec::{decode_tagged, encode_tagged};
use profiledb::event::{Event, EventKind};
use profiledb::rollup::{Acc, Aggregate, FilterOp, Literal, RollupDef, Window};
use profiledb::segment::testing::VecContext;
use profiledb::segment::{evaluate, parse};
use profiledb::{AccessMode, Identifier, ManualClock, Profile, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

mod common;
use common::{latency, latency_calls, next, profiles, user};

const DAY: i64 = Timestamp::DAY;
/// The benchmark's fixed "now" (2023-11-14): the clock never moves, so no
/// wake-up comes due while measuring.
const NOW: i64 = 1_700_000_000_000;
const PAGES: [&str; 5] = ["/", "/pricing", "/docs", "/blog", "/signup"];
const COUNTRIES: [&str; 6] = ["DE", "US", "FR", "GB", "ES", "PL"];
const PLANS: [&str; 4] = ["free", "basic", "pro", "enterprise"];

/// The 10 declared rollups.
fn rollups() -> Vec<RollupDef> {
    vec![
        RollupDef::new("page_views", "page_view", Aggregate::Count),
        RollupDef::new("pricing_views", "page_view", Aggregate::Count).filter(
            "page",
            FilterOp::Eq,
            Literal::Str("/pricing".into()),
        ),
        RollupDef::new("top_page", "page_view", Aggregate::MostFrequent("page".into())),
        RollupDef::new("carts", "add_to_cart", Aggregate::Count),
        RollupDef::new("purchases", "purchase", Aggregate::Count),
        RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into())),
        RollupDef::new("max_order", "purchase", Aggregate::Max("amount".into())),
        RollupDef::new("last_purchase", "purchase", Aggregate::Last),
        RollupDef::new("active_days", "app_open", Aggregate::ActiveDays),
        RollupDef::new("first_open", "app_open", Aggregate::First),
    ]
}

/// The 20 segments: traits, identifiers, windowed rollups, a sequence,
/// and segments reading segments.
const SEGMENTS: [(&str, &str); 20] = [
    ("plan_pro", r#"traits.plan = "pro""#),
    ("country_de", r#"traits.country = "DE""#),
    ("eu", r#"traits.country in ["DE", "FR", "ES", "PL"]"#),
    ("age_18_24", "traits.age >= 18 and traits.age <= 24"),
    ("ltv_gt_500", "traits.ltv > 500"),
    ("tag_vip", r#"traits.tags contains "vip""#),
    ("opted_in", "traits.email_opt_in = true"),
    ("has_email", "has email"),
    ("buyers", "count(purchase) >= 1"),
    ("repeat_buyers", "count(purchase, 30d) >= 3"),
    ("big_spenders", "sum(purchase.amount, 30d) > 300"),
    ("lapsed", "last(purchase) < now - 14d"),
    ("engaged", "active_days(app_open, 28d) >= 5"),
    ("pricing_interest", r#"count(page_view where page = "/pricing", 7d) >= 2"#),
    ("cart_abandoners", "seq(add_to_cart, not purchase, 24h)"),
    ("window_shoppers", "count(add_to_cart, 30d) >= 2 and count(purchase, 30d) = 0"),
    ("heavy_viewers", "count(page_view, 7d) >= 5"),
    ("high_avg_order", "avg(purchase.amount, 90d) > 80"),
    ("pro_buyers", "in plan_pro and in buyers"),
    ("at_risk", "in big_spenders and in lapsed"),
];

/// One event of the realistic mix for profile `i`, `age_ms` before now.
fn event(x: &mut u64, i: u64, age_ms: i64) -> Event {
    let at = Timestamp(NOW - age_ms);
    let r = next(x) % 100;
    let (name, prop): (&str, Option<(&str, profiledb::event::PropertyValue)>) = match r {
        0..=49 => ("page_view", Some(("page", PAGES[(next(x) % 5) as usize].into()))),
        50..=69 => ("app_open", None),
        70..=84 => ("add_to_cart", Some(("sku", format!("sku{}", next(x) % 50).into()))),
        _ => ("purchase", Some(("amount", ((next(x) % 200) as i64 + 5).into()))),
    };
    let mut e = Event::new(EventKind::Track, name, at, vec![user(i)]);
    if let Some((k, v)) = prop {
        e.properties.insert(k, v);
    }
    if message_ids() {
        e.message_id = Some(message_id(x));
    }
    e
}

/// Whether events carry a message id (`PROFILEDB_HOT_MESSAGE_IDS`, default
/// 1): senders such as Segment give every event one, and the ingest then
/// reads and writes its `dedup` entry. Runs before the twenty-ninth
/// session had none (`PROFILEDB_HOT_MESSAGE_IDS=0` repeats them).
fn message_ids() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| profiles("PROFILEDB_HOT_MESSAGE_IDS", 1) != 0)
}

/// A random message id shaped like a UUID (36 characters), as senders make them.
fn message_id(x: &mut u64) -> String {
    let (a, b) = (next(x), next(x));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

/// An event of the mix for a random profile of `n`, up to two days old:
/// what the ingest benchmarks write.
fn recent_event(x: &mut u64, n: u64) -> Event {
    let i = next(x) % n;
    let age = (next(x) % (2 * DAY as u64)) as i64;
    event(x, i, age)
}

/// A batch of 1,000 [`recent_event`]s.
fn recent_batch(x: &mut u64, n: u64) -> Vec<Event> {
    (0..1_000).map(|_| recent_event(x, n)).collect()
}

fn traits(i: u64) -> Update {
    Update::new()
        .set("plan", PLANS[(i % 4) as usize])
        .set("country", COUNTRIES[(i % 6) as usize])
        .set("age", (18 + i % 60) as i64)
        .set("ltv", (i % 2_000) as f64)
        .set("tags", if i.is_multiple_of(10) { vec!["vip".to_owned()] } else { vec!["beta".to_owned()] })
        .set("email_opt_in", i.is_multiple_of(2))
        .set("language", "en")
        .set("signup_at", Timestamp(NOW - (i % 700) as i64 * DAY))
}

/// Builds the prepopulated database, with the 20 [`SEGMENTS`] defined
/// when `segments`.
fn loaded(n: u64, segments: bool) -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path())
        .clock(Arc::new(ManualClock::new(Timestamp(NOW))))
        .profile_cache_entries(n as usize + 10_000)
        // A third of the profiles have an email besides their user id.
        .identity_cache_entries(n as usize * 4 / 3 + 10_000)
        // One profile slot each per profile (4 and 8 pairs a slot).
        .rollup_cache_entries(4 * n as usize)
        .wakeup_cache_entries(8 * n as usize)
        .block_cache_bytes(512 << 20)
        .write_buffer_bytes(profiles("PROFILEDB_HOT_WRITE_BUFFER", 8 << 20) as usize)
        .open()
        .expect("open");
    let start = std::time::Instant::now();
    for r in rollups() {
        db.declare_rollup(r).expect("declare rollup");
    }
    let mut x = 7u64;
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..n {
        let mut ids = vec![user(i)];
        if i.is_multiple_of(3) {
            ids.push(Identifier::new("email", &format!("p{i}@example.com")).expect("valid"));
        }
        db.identify(&ids, traits(i)).expect("load profile");
        for _ in 0..20 {
            let age = (next(&mut x) % (60 * DAY as u64)) as i64;
            batch.push(event(&mut x, i, age));
        }
        if batch.len() >= 10_000 {
            db.ingest_batch(&batch, true).expect("load events");
            batch.clear();
        }
    }
    db.ingest_batch(&batch, true).expect("load events");
    let loaded = start.elapsed();
    for (name, text) in SEGMENTS.iter().filter(|_| segments) {
        db.define_segment(name, text).expect("define segment");
    }
    if !segments {
        // The segments' backfill loads the rollup cache's pairs they read;
        // without it, the pair the window benchmarks read is loaded here,
        // so they time a warm cache as with segments.
        for i in 0..n {
            db.rollup(ProfileId(i as u32), "purchases", Window::days(30)).expect("warm the rollup cache");
        }
    }
    let backfilled = start.elapsed();
    // The load's flushes and compactions finish before anything is timed:
    // the measurements then carry only the background work their own
    // writes cause.
    db.settle().expect("settle");
    eprintln!(
        "loaded {n} profiles with {} events in {loaded:.1?}; {} segments backfilled (or the rollup cache warmed) in {:.1?}; settled in {:.1?}",
        n * 20,
        if segments { SEGMENTS.len() } else { 0 },
        backfilled - loaded,
        start.elapsed() - backfilled
    );
    (dir, db)
}

/// Benchmarks an all-time read of random profiles through a read-only
/// handle on `dir` without a rollup cache, and prints how long the
/// read-only open took: what a reopen costs at that moment (the level-0
/// files the writes left, the WAL replayed into memtables, the segments
/// and the live set loaded).
fn all_time_uncached(c: &mut Criterion, name: &str, dir: &std::path::Path, n: u64, x: &mut u64) {
    let start = std::time::Instant::now();
    let cold = ProfileDb::builder(dir)
        .access_mode(AccessMode::ReadOnly)
        .rollup_cache_entries(0)
        .open()
        .expect("read-only open");
    eprintln!("{name}: read-only open in {:.1?}", start.elapsed());
    c.bench_function(name, |b| {
        b.iter(|| {
            let p = ProfileId((next(x) % n) as u32);
            black_box(cold.rollup(p, "purchases", Window::All).expect("rollup"))
        })
    });
}

fn codec(c: &mut Criterion, profile: &Profile) {
    let bytes = encode_tagged(profile);
    c.bench_function("codec/profile_encode", |b| b.iter(|| black_box(encode_tagged(black_box(profile)))));
    c.bench_function("codec/profile_decode", |b| {
        b.iter(|| black_box(decode_tagged::<Profile>(black_box(&bytes)).expect("decodes")))
    });
    let mut x = 3u64;
    let mut acc = Acc::default();
    for _ in 0..30 {
        let mut e = event(&mut x, 1, 0);
        e.name = "purchase".into();
        e.properties.insert("amount", (next(&mut x) % 200) as i64);
        acc.fold(&Acc::of_event(&e, Some("amount")));
    }
    let acc_bytes = acc.encode();
    c.bench_function("codec/acc_decode", |b| {
        b.iter(|| black_box(Acc::decode(black_box(&acc_bytes)).expect("decodes")))
    });
    let e = event(&mut x, 1, 0);
    let event_bytes = encode_tagged(&e);
    c.bench_function("codec/event_encode", |b| b.iter(|| black_box(encode_tagged(black_box(&e)))));
    c.bench_function("codec/event_decode", |b| {
        b.iter(|| black_box(decode_tagged::<Event>(black_box(&event_bytes)).expect("decodes")))
    });
}

fn expression(c: &mut Criterion) {
    let expr = parse(
        r#"traits.plan in ["pro", "enterprise"] and (count(purchase, 30d) >= 3 or sum(purchase.amount, 30d) > 300)
           and not seq(add_to_cart, not purchase, 24h) and last(purchase) > now - 14d"#,
    )
    .expect("parses");
    let mut x = 11u64;
    let mut ctx = VecContext::new(Timestamp(NOW)).with_trait("plan", "pro");
    for _ in 0..20 {
        let age = (next(&mut x) % (60 * DAY as u64)) as i64;
        let e = event(&mut x, 1, age);
        let props: Vec<(&str, TraitValue)> =
            e.properties.iter().filter_map(|(k, v)| v.as_f64().map(|f| (k, TraitValue::Float(f)))).collect();
        ctx = ctx.with_event(&e.name, e.timestamp, &props);
    }
    c.bench_function("eval/expression_20_events", |b| b.iter(|| black_box(evaluate(&expr, black_box(&ctx)))));
}

fn hot(c: &mut Criterion) {
    let n = profiles("PROFILEDB_HOT_PROFILES", 20_000);
    let segments = profiles("PROFILEDB_HOT_SEGMENTS", 1) != 0;
    let (dir, db) = loaded(n, segments);
    let (track, batch) = if segments {
        ("ingest/track_10_rollups_20_segments", "batch_1000")
    } else {
        ("ingest/track_10_rollups", "batch_1000_no_segments")
    };
    let mut x = 42u64;
    let sample = db.get(&user(1)).expect("get").expect("present");
    codec(c, &sample);
    expression(c);

    c.bench_function("rollup/window_30d", |b| {
        b.iter(|| {
            let p = ProfileId((next(&mut x) % n) as u32);
            black_box(db.rollup(p, "purchases", Window::days(30)).expect("rollup"))
        })
    });
    latency(
        "rollup/window_30d",
        latency_calls(200_000),
        || ProfileId((next(&mut x) % n) as u32),
        |p| {
            black_box(db.rollup(p, "purchases", Window::days(30)).expect("rollup"));
        },
    );
    // All time outside the rollup cache (a read-only handle beside the
    // writer, its rollup cache disabled): since format 8 a scan of the
    // series' day buckets and retired accumulator, before it one point read.
    all_time_uncached(c, "rollup/all_time_uncached", dir.path(), n, &mut x);
    // Random profiles over the whole database (see benches/core.rs).
    c.bench_function("lookup/get_by_identifier", |b| {
        b.iter_batched(
            || user(next(&mut x) % n),
            |who| black_box(db.get(&who).expect("get").expect("present")),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("write/update_unread_trait", |b| {
        b.iter(|| {
            let who = user(next(&mut x) % n);
            black_box(db.update(&who, Update::new().increment("visits", 1)).expect("update"))
        })
    });
    // Without segments there is no membership to flip.
    if segments {
        let mut flip = false;
        c.bench_function("write/update_flipping_membership", |b| {
            b.iter(|| {
                // Profile 4k+1 is "basic": toggling pro flips plan_pro (and
                // maybe pro_buyers), rewriting one bitmap chunk each.
                let who = user((next(&mut x) % (n / 4)) * 4 + 1);
                flip = !flip;
                let plan = if flip { "pro" } else { "basic" };
                black_box(db.update(&who, Update::new().set("plan", plan)).expect("update"))
            })
        });
    }
    c.bench_function(track, |b| {
        b.iter_batched(
            || recent_event(&mut x, n),
            // The event goes back to criterion, which drops it untimed:
            // freeing the caller's input is not the ingest's cost.
            |e| (black_box(db.track(&e).expect("track")), e),
            BatchSize::SmallInput,
        )
    });
    latency(
        track,
        latency_calls(100_000),
        || recent_event(&mut x, n),
        |e| {
            black_box(db.track(&e).expect("track"));
            e
        },
    );
    common::cpu::cpu_pass(
        track,
        1,
        || recent_event(&mut x, n),
        |e| (black_box(db.track(&e).expect("track")), e),
        || db.settle().expect("settle"),
    );
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(1_000));
    group.sample_size(10);
    group.bench_function(batch, |b| {
        b.iter_batched(
            || recent_batch(&mut x, n),
            // As for a single event: the 1,000 events are dropped untimed
            // (freeing them was about 7 % of the timed work).
            |events| (black_box(db.ingest_batch(&events, false).expect("batch")), events),
            BatchSize::LargeInput,
        )
    });
    group.finish();
    // The same read while level 0 holds the files the batches left (not
    // settled: up to 24 in the families written at random profiles).
    all_time_uncached(c, "rollup/all_time_uncached_after_ingest", dir.path(), n, &mut x);
    common::cpu::cpu_pass(
        &format!("ingest/{batch}"),
        1_000,
        || recent_batch(&mut x, n),
        |events| (black_box(db.ingest_batch(&events, false).expect("batch")), events),
        || db.settle().expect("settle"),
    );
    disk_size(dir.path());
    if !segments {
        close(db);
        return keep_logs(dir.path());
    }
    c.bench_function("segment/in_segment", |b| {
        b.iter(|| {
            let p = ProfileId((next(&mut x) % n) as u32);
            black_box(db.in_segment("plan_pro", p).expect("in_segment"))
        })
    });
    c.bench_function("segment/count_3way", |b| {
        b.iter(|| black_box(db.query_count("in plan_pro and in eu and not in repeat_buyers").expect("count")))
    });
    close(db);
    keep_logs(dir.path());
}

/// Copies RocksDB's info logs (`LOG*`, with every flush's and compaction's
/// CPU time per column family) to the directory `PROFILEDB_HOT_KEEP_LOGS`
/// names, if set: the database itself is a temporary directory.
fn keep_logs(dir: &std::path::Path) {
    let Ok(to) = std::env::var("PROFILEDB_HOT_KEEP_LOGS") else { return };
    std::fs::create_dir_all(&to).expect("create PROFILEDB_HOT_KEEP_LOGS");
    for entry in std::fs::read_dir(dir).expect("list the database directory").flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("LOG") {
            std::fs::copy(entry.path(), std::path::Path::new(&to).join(&name)).expect("copy a LOG file");
        }
    }
}

/// Prints the size of the database's files (after the last CPU pass and
/// its settle: what the compaction settings leave on disk).
fn disk_size(dir: &std::path::Path) {
    let bytes: u64 = std::fs::read_dir(dir)
        .expect("list the database directory")
        .flatten()
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum();
    eprintln!("database on disk: {:.1} MB", bytes as f64 / 1e6);
}

/// Closes `db` and prints how long it took: with warm caches, what an
/// application's shutdown waits for.
fn close(db: ProfileDb) {
    let start = std::time::Instant::now();
    drop(db);
    eprintln!("closed in {:.1?}", start.elapsed());
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = hot
}
criterion_main!(benches);
