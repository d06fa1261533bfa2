//! Measures how long opening a database takes: `cargo run --release
//! --example reopen -- DIR PROFILES SEGMENTS RUNS`. When DIR holds no
//! database it is built first: PROFILES profiles with eight traits each,
//! then SEGMENTS segments over those traits (backfilled). Then the
//! database is opened RUNS times and the median open time printed, and a
//! three-way query over two segments and an indexed trait is timed.

use std::time::Instant;

use profiledb::{ProfileDb, Update};

fn arg(n: usize, default: u64) -> u64 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "reopen-bench".into()));
    let (profiles, segments, runs) = (arg(2, 1_000_000), arg(3, 20), arg(4, 7));
    if !dir.join("CURRENT").exists() {
        let db = ProfileDb::builder(&dir).profile_cache_entries(0).open()?;
        let start = Instant::now();
        for i in 0..profiles {
            let u = Update::new()
                .set("plan", ["free", "pro", "team"][(i % 3) as usize])
                .set("country", ["DE", "FR", "US", "NO", "SE"][(i % 5) as usize])
                .set("score", (i * 7919 % 100) as i64)
                .set("ltv", (i * 104_729 % 5_000) as f64 / 3.0)
                .set("email_opt_in", i % 2 == 0)
                .set("name", format!("Customer {i}"))
                .set("city", format!("City {}", i % 997))
                .add_to_set("tags", [format!("t{}", i % 11)]);
            db.update(&format!("user_id:u{i}").parse()?, u)?;
        }
        eprintln!("loaded {profiles} profiles in {:.1?}", start.elapsed());
        let start = Instant::now();
        for s in 0..segments {
            let text = match s % 4 {
                0 => format!("traits.score >= {}", s * 5),
                1 => format!(r#"traits.plan = "pro" and traits.score < {}"#, 100 - s),
                2 => format!("traits.ltv > {}", s * 100),
                _ => format!(r#"traits.country in ["DE", "FR"] and traits.score > {s}"#),
            };
            db.define_segment(&format!("s{s}"), &text)?;
        }
        eprintln!("defined {segments} segments in {:.1?}", start.elapsed());
    }
    // One untimed open first: it runs a format upgrade when one is due.
    drop(ProfileDb::open(&dir)?);
    let mut times = Vec::new();
    let mut members = 0;
    for _ in 0..runs {
        let start = Instant::now();
        let db = ProfileDb::open(&dir)?;
        times.push(start.elapsed());
        members = db.segments().iter().map(|s| s.members).sum::<u64>();
    }
    times.sort();
    println!(
        "open of {} ({members} segment memberships): median {:.1?} over {runs} runs (min {:.1?}, max {:.1?})",
        dir.display(),
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    let db = ProfileDb::open(&dir)?;
    if segments >= 2 {
        db.index_trait("country")?;
        let text = r#"in s0 and not in s1 and traits.country = "DE""#;
        let mut times = Vec::new();
        let mut count = 0;
        for _ in 0..runs.max(1) * 3 {
            let start = Instant::now();
            count = db.query(text)?.count();
            times.push(start.elapsed());
        }
        times.sort();
        println!("query `{text}` ({count} matches): median {:.1?}", times[times.len() / 2]);
        println!("{}", db.query(text)?.explain());
    }
    Ok(())
}
