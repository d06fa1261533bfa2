//! Helpers shared by the concurrency tests (`tests/concurrency_*.rs`).

// Each test target uses only part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use profiledb::event::{Event, EventKind};
use profiledb::rollup::RollupValue;
use profiledb::{Identifier, ManualClock, ProfileDb, Timestamp, Update};

pub const T0: i64 = 1_700_000_000_000;

pub const MIN: i64 = 60_000;

pub const HOUR: i64 = 3_600_000;

pub fn id(s: &str) -> Identifier {
    s.parse().expect("valid test identifier")
}

pub fn user(i: u64) -> Identifier {
    Identifier::new("user_id", &format!("u{i}")).unwrap()
}

pub fn anon(i: u64, k: u64) -> Identifier {
    Identifier::new("anonymous_id", &format!("a{i}-{k}")).unwrap()
}

pub fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Runs `f` on a thread and fails (instead of hanging) if it does not
/// finish within `limit`: a deadlock shows as a timeout.
pub fn within<T: Send + 'static>(what: &str, limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(r);
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: did not finish within {limit:?} (deadlock?)"),
    }
}

pub fn event(name: &str, at: i64, who: Identifier, msg: Option<String>) -> Event {
    let mut e = Event::new(EventKind::Track, name, Timestamp(at), vec![who]);
    e.message_id = msg;
    e
}

pub fn count_of(v: RollupValue) -> u64 {
    match v {
        RollupValue::Count(n) => n,
        other => panic!("not a count: {other:?}"),
    }
}

/// Flips `plan` between "pro" and "free" on 100 users, as fast as it can.
pub fn flipping_writer(db: &ProfileDb, stop: &Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    let (db, stop) = (db.clone(), stop.clone());
    std::thread::spawn(move || {
        let mut x = 99u64;
        let mut n = 0u64;
        while !stop.load(Ordering::Relaxed) {
            let r = xorshift(&mut x);
            let plan = if (r >> 16).is_multiple_of(2) { "pro" } else { "free" };
            db.update(&user(r % 100), Update::new().set("plan", plan)).unwrap();
            n += 1;
            if n.is_multiple_of(8) {
                // Bounded: the database (and so each check) stays small.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        n
    })
}

pub fn pro_db(dir: &std::path::Path) -> ProfileDb {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir).clock(clock).open().unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    for i in 0..100 {
        db.update(&user(i), Update::new().set("plan", "free")).unwrap();
    }
    db
}

/// Identify events of `n` users (`user(i)`), each setting trait `k` to `k(i)`.
pub fn users_with_k(n: u64, k: impl Fn(u64) -> i64) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let mut e = Event::new(EventKind::Identify, "identify", Timestamp(T0 - HOUR), vec![user(i)]);
            e.traits = Update::new().set("k", k(i)).ops().to_vec();
            e
        })
        .collect()
}
