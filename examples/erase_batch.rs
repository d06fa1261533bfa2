//! Compares erasing people one by one with one `erase_many` call:
//! `cargo run --release --example erase_batch -- DIR PROFILES EVENTS ERASED`.
//! Builds a database of PROFILES profiles and EVENTS events (each with a
//! message id, spread over the profiles) in DIR/base, copies it twice, then
//! erases the first ERASED people with `erase` each on one copy and with one
//! `erase_many` on the other, and prints both times.

use std::path::Path;
use std::time::Instant;

use profiledb::event::{Event, EventKind};
use profiledb::{Identifier, ProfileDb, Timestamp, Update};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn user(i: u64) -> Result<Identifier, profiledb::Error> {
    Identifier::new("user_id", &format!("u{i}"))
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "erase-batch-bench".into()));
    let (profiles, events, erased) = (arg(2, 20_000), arg(3, 400_000), arg(4, 100));
    let base = dir.join("base");
    if !base.join("CURRENT").exists() {
        let started = Instant::now();
        let db = ProfileDb::open(&base)?;
        db.define_segment("pro", r#"traits.plan = "pro""#)?;
        for i in 0..profiles {
            db.update(&user(i)?, Update::new().set("plan", if i % 3 == 0 { "pro" } else { "free" }))?;
        }
        let t0 = 1_700_000_000_000;
        let mut batch = Vec::with_capacity(1_000);
        for n in 0..events {
            let who = user(n.wrapping_mul(7_919) % profiles)?;
            let mut e = Event::new(EventKind::Track, "purchase", Timestamp(t0 + n as i64), vec![who]);
            e.message_id = Some(format!("m{n}"));
            e.properties.insert("amount", (n % 100) as i64);
            batch.push(e);
            if batch.len() == 1_000 {
                db.ingest_batch(&batch, false)?;
                batch.clear();
            }
        }
        db.ingest_batch(&batch, false)?;
        db.compact()?;
        println!("built {profiles} profiles, {events} events in {:.1?}", started.elapsed());
    }
    let people: Vec<Identifier> = (0..erased).map(user).collect::<Result<_, _>>()?;
    for (name, many) in [("one by one", false), ("erase_many", true)] {
        let copy = dir.join(if many { "many" } else { "one" });
        let _ = std::fs::remove_dir_all(&copy);
        copy_dir(&base, &copy)?;
        let db = ProfileDb::open(&copy)?;
        let started = Instant::now();
        if many {
            db.erase_many(&people, Some("bench"))?;
        } else {
            for p in &people {
                db.erase(p, Some("bench"))?;
            }
        }
        println!("{name}: {erased} people in {:.2?}", started.elapsed());
        assert!(db.check()?.is_clean());
    }
    Ok(())
}
