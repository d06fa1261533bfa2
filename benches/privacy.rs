//! Criterion micro-benchmarks of the consent and privacy paths, on a
//! database of `PROFILEDB_BENCH_PROFILES` profiles (default 100,000; a
//! third in segment `pro`, half granting `marketing_email`): recording a
//! consent change, a consent-aware segment export (profiles cached), and
//! the suppression check on writes with a new identifier (off while
//! nothing was ever erased, on afterwards).
//!
//! `cargo bench --bench privacy` — results are recorded in BENCHMARKS.md.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{criterion_group, criterion_main, Criterion};
use profiledb::privacy::ConsentChange;
use profiledb::{ConsentCheck, Identifier, ProfileDb, Update};

mod common;
use common::{profiles, user};

/// Profiles with a plan; every other one grants `marketing_email`.
fn loaded(n: u64) -> (tempfile::TempDir, ProfileDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::builder(dir.path())
        .profile_cache_entries(n as usize + 10_000)
        .export_purpose("email_campaign", ["marketing_email"])
        .open()
        .expect("open");
    db.define_segment("pro", r#"traits.plan = "pro""#).expect("segment");
    for i in 0..n {
        db.update(&user(i), Update::new().set("plan", if i % 3 == 0 { "pro" } else { "free" })).expect("load");
        if i % 2 == 0 {
            db.set_consent(&user(i), "marketing_email", ConsentChange::granted("bench")).expect("consent");
        }
    }
    (dir, db)
}

fn privacy(c: &mut Criterion) {
    let n = profiles("PROFILEDB_BENCH_PROFILES", 100_000);
    let (_dir, db) = loaded(n);
    let fresh = AtomicU64::new(0);
    let new_device = || {
        let k = fresh.fetch_add(1, Ordering::Relaxed);
        Identifier::new("device_id", &format!("d{k}")).expect("valid")
    };

    let mut i = 0u64;
    c.bench_function("consent/set_consent_existing_profile", |b| {
        b.iter(|| {
            i = (i + 7_919) % n;
            black_box(db.set_consent(&user(i), "analytics", ConsentChange::granted("bench")).expect("consent"))
        })
    });

    c.bench_function("consent/export_segment_enforce", |b| {
        b.iter(|| black_box(db.export_segment("pro", "email_campaign", ConsentCheck::Enforce).expect("export")))
    });

    c.bench_function("suppression/update_new_identifier_nothing_erased", |b| {
        b.iter(|| black_box(db.update(&new_device(), Update::new().set("os", "ios")).expect("update")))
    });
    db.update(&Identifier::new("email", "gone@example.com").expect("valid"), Update::new()).expect("setup");
    db.erase(&Identifier::new("email", "gone@example.com").expect("valid"), None).expect("erase");
    c.bench_function("suppression/update_new_identifier_after_an_erase", |b| {
        b.iter(|| black_box(db.update(&new_device(), Update::new().set("os", "ios")).expect("update")))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = privacy
}
criterion_main!(benches);
