//! Live change-feed subscriptions in a long-running service: dropped
//! subscriptions are forgotten even while no feed record is written (a
//! subscription per client connection), a consumer blocked in `recv`
//! wakes when the database closes, and a slow subscriber beside writers
//! and the ticker gets every record in order.
//!
//! Every test takes `SERIAL`: one of them measures the process's RSS.

use std::time::{Duration, Instant};

use profiledb::{FeedReceiver, Identifier, ProfileDb, Timestamp, Update};

static SERIAL: parking_lot::Mutex<()> = parking_lot::Mutex::new(());

fn id(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages as f64 * 4096.0 / (1 << 20) as f64
}

#[test]
fn subscriptions_dropped_on_a_database_without_feed_records_are_forgotten() {
    // A service subscribing per client connection (server-sent events) on a
    // database whose writes produce no feed records for a while.
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    for _ in 0..1000 {
        drop(db.subscribe());
    }
    let rss0 = rss_mib();
    for i in 0..200_000u32 {
        drop(db.subscribe());
        if i % 1000 == 0 {
            // Writes with no segment defined: no feed record.
            db.update(&id("user_id:1"), Update::new().increment("n", 1)).unwrap();
        }
    }
    let grown = rss_mib() - rss0;
    eprintln!("200,000 dropped subscriptions: rss +{grown:.1} MiB");
    assert!(grown < 16.0, "200,000 dropped receivers kept {grown:.1} MiB (their senders stay in Core::subscribers)");
}

#[test]
fn a_feed_consumer_blocked_in_recv_wakes_when_the_database_closes() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let rx = db.subscribe();
    let consumer = std::thread::spawn(move || {
        let mut n = 0;
        while rx.recv().is_ok() {
            n += 1;
        }
        n
    });
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    drop(db);
    let t = Instant::now();
    while !consumer.is_finished() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the consumer thread still blocks in recv after the last handle dropped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(consumer.join().unwrap(), 1);
}

#[test]
fn a_subscription_taken_after_the_other_handles_closed_is_disconnected_not_hanging() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    let clone = db.clone();
    drop(db);
    let rx = clone.subscribe();
    drop(clone);
    assert!(
        matches!(rx.recv_timeout(Duration::from_secs(2)), Err(crossbeam::channel::RecvTimeoutError::Disconnected)),
        "the receiver of a closed database is not disconnected"
    );
}

#[test]
fn a_slow_subscriber_beside_four_writers_and_the_ticker_gets_every_record_in_order() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::builder(dir.path()).tick_interval(Duration::from_millis(2)).open().unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    db.define_segment("trial", "traits.trial_ends > now").unwrap();
    let rx = db.subscribe();
    let consumer = std::thread::spawn(move || {
        let mut got = Vec::new();
        while let Ok(r) = rx.recv() {
            got.push(r.seq);
            if got.len() % 100 == 0 {
                std::thread::sleep(Duration::from_millis(1)); // slow
            }
        }
        got
    });
    let mut slowest = Duration::ZERO;
    let writers: Vec<_> = (0..4)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut slowest = Duration::ZERO;
                for i in 0..500u32 {
                    let who = id(&format!("user_id:t{t}-{}", i % 50));
                    let plan = if i % 2 == 0 { "pro" } else { "free" };
                    let started = Instant::now();
                    db.update(&who, Update::new().set("plan", plan).set("trial_ends", Timestamp(db.now().0 + 5)))
                        .unwrap();
                    slowest = slowest.max(started.elapsed());
                }
                slowest
            })
        })
        .collect();
    for w in writers {
        slowest = slowest.max(w.join().unwrap());
    }
    std::thread::sleep(Duration::from_millis(50));
    let stored: Vec<u64> = db.feed(0, usize::MAX).unwrap().iter().map(|r| r.seq).collect();
    let status = db.ticker_status().unwrap();
    drop(db);
    let got = consumer.join().unwrap();
    eprintln!("stored {} records, received {}, slowest write {slowest:?}, ticker {status:?}", stored.len(), got.len());
    assert!(got.windows(2).all(|w| w[0] < w[1]), "records out of order");
    assert_eq!(got, stored, "the live channel and the stored feed differ");
    assert_eq!(status.errors, 0, "{status:?}");
}

#[test]
fn a_clone_of_a_feed_receiver_keeps_the_subscription_and_iterating_by_value_too() {
    let _g = SERIAL.lock();
    let dir = tempfile::tempdir().unwrap();
    let db = ProfileDb::open(dir.path()).unwrap();
    db.define_segment("pro", r#"traits.plan = "pro""#).unwrap();
    let rx: FeedReceiver = db.subscribe();
    let clone = rx.clone();
    drop(rx);
    let by_value = db.subscribe();
    let consumer = std::thread::spawn(move || by_value.into_iter().map(|r| r.seq).collect::<Vec<_>>());
    // Dropped subscriptions are forgotten at this subscribe: not these two.
    drop(db.subscribe());
    db.update(&id("user_id:1"), Update::new().set("plan", "pro")).unwrap();
    assert_eq!(clone.recv_timeout(Duration::from_secs(5)).unwrap().seq, 0);
    assert_eq!(clone.receiver().len(), 0);
    let borrowed: Vec<u64> = {
        db.update(&id("user_id:2"), Update::new().set("plan", "pro")).unwrap();
        (&clone).into_iter().take(1).map(|r| r.seq).collect()
    };
    assert_eq!(borrowed, [1]);
    drop(db);
    assert_eq!(consumer.join().unwrap(), [0, 1], "the by-value iterator kept its subscription");
}
