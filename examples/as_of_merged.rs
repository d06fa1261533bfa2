//! Times as-of-time reads of a merged-away id:
//! `cargo run --release --example as_of_merged -- [DELTAS] [READS]`.
//! Builds two databases on a manual clock, each with a survivor of DELTAS
//! deltas (10,000 by default) and an id merged into it: in the first the
//! merge comes before the survivor's deltas, in the second after them (the
//! id's own last write before them all). Reads the merged-away id as of
//! READS times (2,000 by default), half spread over the times the id was
//! its own profile and half over the times it was merged, and prints the
//! median and 90th percentile per read of each half.

use std::sync::Arc;
use std::time::Instant;

use profiledb::{Identifier, ManualClock, ProfileDb, ProfileId, Timestamp, Update};

const T0: i64 = 1_700_000_000_000;

fn arg(n: usize, default: u64) -> u64 {
    std::env::args().nth(n).and_then(|a| a.parse().ok()).unwrap_or(default)
}

/// The database, the merged-away id, the merge's time and the last time.
fn build(
    dir: &std::path::Path,
    deltas: u64,
    merge_first: bool,
) -> Result<(ProfileDb, ProfileId, i64, i64), Box<dyn std::error::Error>> {
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let db = ProfileDb::builder(dir).clock(clock.clone()).open()?;
    let (s, l) = (Identifier::new("user_id", "s")?, Identifier::new("anonymous_id", "l")?);
    let first = db.update(&s, Update::new().set("n", 0))?.profile;
    clock.advance(1);
    let loser = db.update(&l, Update::new().set("seen", true))?.profile;
    let survivor_writes = |db: &ProfileDb| -> Result<(), profiledb::Error> {
        for i in 0..deltas {
            clock.advance(1);
            db.update(&s, Update::new().set("n", i as i64))?;
        }
        Ok(())
    };
    if !merge_first {
        survivor_writes(&db)?;
    }
    clock.advance(1);
    let merged_at = clock.now().0;
    db.identify(&[s.clone(), l.clone()], Update::new())?;
    if merge_first {
        survivor_writes(&db)?;
    }
    let gone = if db.resolve_id(loser)? == Some(loser) { first } else { loser };
    assert_ne!(db.resolve_id(gone)?, Some(gone), "the id read must have merged away");
    Ok((db, gone, merged_at, clock.now().0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (deltas, reads) = (arg(1, 10_000), arg(2, 2_000).max(4));
    for merge_first in [true, false] {
        let dir = tempfile::tempdir()?;
        let started = Instant::now();
        let (db, gone, merged_at, end) = build(dir.path(), deltas, merge_first)?;
        let built = started.elapsed();
        // Half the reads before the merge, half from it on, evenly spread.
        let half = reads / 2;
        let (mut own, mut merged) = (Vec::new(), Vec::new());
        for k in 0..2 * half {
            let (from, to, out) = if k < half { (T0, merged_at - 1, &mut own) } else { (merged_at, end, &mut merged) };
            let t = from + ((to - from) as u64 * (k % half) / (half - 1).max(1)) as i64;
            let started = Instant::now();
            let p = db.get_as_of_time(gone, Timestamp(t))?;
            out.push(started.elapsed().as_secs_f64() * 1e6);
            std::hint::black_box(p);
        }
        println!(
            "merge {} the survivor's {deltas} deltas (built in {:.1} s):",
            if merge_first { "before" } else { "after" },
            built.as_secs_f64()
        );
        for (what, mut v) in [("own then", own), ("merged then", merged)] {
            v.sort_by(f64::total_cmp);
            println!(
                "  {what:12} {:5} reads: median {:9.1} us, p90 {:9.1} us",
                v.len(),
                percentile(&v, 0.5),
                percentile(&v, 0.9)
            );
        }
    }
    Ok(())
}
