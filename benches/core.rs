//! Criterion micro-benchmarks of the storage core and identity hot paths,
//! on a database of `PROFILEDB_BENCH_PROFILES` profiles (default 1,000,000).
//!
//! `cargo bench --bench core` — results are recorded in BENCHMARKS.md.
//! After each criterion benchmark (which estimates the mean time of a
//! call), a latency pass times single calls and prints their p50, p90 and
//! p99 — the issues' targets are medians (`PROFILEDB_LATENCY_CALLS` sets
//! the number of calls, 0 skips the passes). BENCHMARKS.md's
//! huge-page column runs the same command under
//! `GLIBC_TUNABLES=glibc.malloc.hugetlb=1` (README, "Tuning").

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use profiledb::{Identifier, ProfileDb, TraitValue, Update};

mod common;
use common::{latency, latency_calls, next, profiles, user};

fn loaded(n: u64) -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path())
        .profile_cache_entries(n as usize + 1_000)
        .block_cache_bytes(512 << 20)
        .open()
        .expect("open");
    let start = std::time::Instant::now();
    for i in 0..n {
        db.update(
            &user(i),
            Update::new()
                .set("plan", if i % 3 == 0 { "pro" } else { "free" })
                .set("country", "DE")
                .set("age", (i % 80) as i64),
        )
        .expect("load");
    }
    eprintln!("loaded {n} profiles in {:.1?}", start.elapsed());
    (dir, db)
}

fn core(c: &mut Criterion) {
    let n = profiles("PROFILEDB_BENCH_PROFILES", 1_000_000);
    let (_dir, db) = loaded(n);
    let mut x = 42u64;

    c.bench_function("update/one_operator", |b| {
        b.iter(|| {
            let who = user(next(&mut x) % n);
            black_box(db.update(&who, Update::new().increment("visits", 1)).expect("update"));
        })
    });
    latency(
        "update/one_operator",
        latency_calls(200_000),
        || user(next(&mut x) % n),
        |who| {
            black_box(db.update(&who, Update::new().increment("visits", 1)).expect("update"));
        },
    );

    // Random profiles over the whole database (a fixed list of 10,000
    // cycled, as before 2026-12-05, kept them in the CPU caches: 0.77 µs
    // against 2.1 µs for random ones).
    c.bench_function("lookup/get_by_identifier", |b| {
        b.iter_batched(
            || user(next(&mut x) % n),
            |who| {
                let p = db.get(&who).expect("get").expect("present");
                black_box(p.traits.get("plan").map(TraitValue::type_name));
            },
            BatchSize::SmallInput,
        )
    });
    latency(
        "lookup/get_by_identifier",
        latency_calls(200_000),
        || user(next(&mut x) % n),
        |who| {
            let p = db.get(&who).expect("get").expect("present");
            black_box(p.traits.get("plan").map(TraitValue::type_name));
        },
    );

    let fresh = AtomicU64::new(0);
    c.bench_function("identify/two_identifiers_new_link", |b| {
        b.iter(|| {
            let k = fresh.fetch_add(1, Ordering::Relaxed);
            let device = Identifier::new("device_id", &format!("d{k}")).expect("valid");
            let ids = [user(next(&mut x) % n), device];
            black_box(db.identify(&ids, Update::new()).expect("identify"));
        })
    });
    latency(
        "identify/two_identifiers_new_link",
        latency_calls(100_000),
        || {
            let k = fresh.fetch_add(1, Ordering::Relaxed);
            [user(next(&mut x) % n), Identifier::new("device_id", &format!("d{k}")).expect("valid")]
        },
        |ids| {
            black_box(db.identify(&ids, Update::new()).expect("identify"));
        },
    );

    let pair = AtomicU64::new(0);
    let two_profiles = || {
        let k = pair.fetch_add(1, Ordering::Relaxed);
        let a = Identifier::new("anonymous_id", &format!("ma{k}")).expect("valid");
        let e = Identifier::new("email", &format!("m{k}@x.com")).expect("valid");
        for who in [&a, &e] {
            for d in 0..100 {
                let t = format!("t{}", d % 20);
                db.update(who, Update::new().set(&t, d as i64)).expect("setup");
            }
        }
        [a, e]
    };
    c.bench_function("merge/two_profiles_20_traits_100_deltas", |b| {
        b.iter_batched(
            &two_profiles,
            |ids| black_box(db.identify(&ids, Update::new()).expect("merge")),
            BatchSize::PerIteration,
        )
    });
    latency("merge/two_profiles_20_traits_100_deltas", latency_calls(1_000).min(5_000), two_profiles, |ids| {
        black_box(db.identify(&ids, Update::new()).expect("merge"));
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(5));
    targets = core
}
criterion_main!(benches);
