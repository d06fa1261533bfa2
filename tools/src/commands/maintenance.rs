//! Keeping a database honest and current: `check` (every invariant),
//! `tick` (due segment wake-ups), `feed` (the segment change feed).

use std::time::Instant;

use profiledb::{ProfileDb, SegmentMismatch};
use serde_json::json;

use super::Ctx;
use crate::cli::{CheckArgs, FeedArgs, TickArgs};
use crate::error::CliError;
use crate::open;
use crate::output::table::{truncate, Table};

/// The most due wake-ups `check` reads to tell due differences apart.
const DUE_READ_CAP: usize = 10_000_000;

/// The most violations listed in the readable report.
const MAX_LISTED: usize = 50;

/// `feed [--from SEQ] [--limit N]`.
pub fn feed(ctx: &Ctx, a: &FeedArgs) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    let head = db.feed_head()?;
    if a.from > head {
        // A cursor no record can reach yet: from another database, or damaged.
        eprintln!(
            "warning: --from {} is past the feed's head {head} (the next record written gets sequence {head}): no \
             record arrives until the feed grows that far; is the cursor from another database?",
            a.from
        );
    }
    if ctx.out.json {
        return stream_feed(&db, a, head);
    }
    let records = db.feed(a.from, a.limit)?;
    let next = records.last().map_or(a.from, |r| r.seq + 1);
    let v = json!({"from": a.from, "next": next, "head": head,
                   "records": records.iter().map(|r| r.to_json()).collect::<Vec<_>>()});
    ctx.out.emit(&v, || {
        if records.is_empty() {
            return format!("no feed records from sequence {} (the feed's head is {head})", a.from);
        }
        let mut t = Table::new(&["SEQ", "AT", "KIND", "SEGMENT", "PROFILE"]);
        for r in &records {
            let j = r.to_json();
            let kind = j["kind"].as_str().unwrap_or("?");
            let kind = match (j["into"].as_u64(), j["from"].as_u64()) {
                (Some(into), _) => format!("{kind} into {into}"),
                (None, Some(from)) => format!("{kind} from {from}"),
                (None, None) => kind.to_owned(),
            };
            t.row(vec![
                r.seq.to_string(),
                r.at.to_rfc3339(),
                kind,
                r.segment.clone().unwrap_or_else(|| "-".into()),
                r.profile.to_string(),
            ]);
        }
        format!("{}\n\nnext: --from {next}", t.render())
    })
}

/// How many feed records [`stream_feed`] reads at a time.
const FEED_CHUNK: usize = 1_000;

/// `feed --json`, streamed: records are read and written [`FEED_CHUNK`]
/// at a time, so a large `--limit` does not hold them all; `next`, known
/// once the last record is read, comes after `records`.
fn stream_feed(db: &ProfileDb, a: &FeedArgs, head: u64) -> Result<(), CliError> {
    let mut out = crate::output::stream::JsonStream::begin()?;
    out.field("from", &json!(a.from))?;
    out.field("head", &json!(head))?;
    out.begin_array("records")?;
    let (mut next, mut left) = (a.from, a.limit);
    while left > 0 {
        let records = db.feed(next, left.min(FEED_CHUNK))?;
        let Some(last) = records.last() else { break };
        next = last.seq + 1;
        left = left.saturating_sub(records.len());
        for r in &records {
            out.element(&r.to_json())?;
        }
    }
    out.end_array()?;
    out.field("next", &json!(next))?;
    out.finish()
}

/// `tick`: processes due wake-ups. Profiles it could not process are
/// listed, and make the exit code 1.
pub fn tick(ctx: &Ctx, a: TickArgs) -> Result<(), CliError> {
    super::retention::confirm_settings("tick", a.settings, a.yes)?;
    let db = super::retention::open_for_writing(ctx, a.settings)?;
    if a.accept_clock {
        db.accept_clock()?;
    }
    let (report, ms) = run_tick(&db)?;
    let processed = report.processed;
    let failures: Vec<String> = report.failures.iter().map(ToString::to_string).collect();
    let summary = super::retention::tick_summary(&db, &report);
    let v = json!({
        "processed": processed, "now": db.now().to_rfc3339(), "elapsed_ms": ms, "failures": failures,
        "timelines_trimmed": report.timelines_trimmed, "buckets_folded": report.buckets_folded,
        "feed_records_deleted": report.feed_records_deleted,
        "membership_rows_deleted": report.membership_rows_deleted,
    });
    ctx.out.emit(&v, || {
        let mut out = format!("processed {processed} due wake-ups in {ms} ms (now {})", db.now());
        if !summary.is_empty() {
            out.push_str(&format!("\n{summary}"));
        }
        for f in &failures {
            out.push_str(&format!("\nfailed: {f}"));
        }
        out
    })?;
    super::retention::failed(&failures)
}

fn run_tick(db: &ProfileDb) -> Result<(profiledb::TickReport, u128), CliError> {
    let started = Instant::now();
    let report = db.tick()?;
    Ok((report, started.elapsed().as_millis()))
}

/// `check [--tick]`: exit 0 when clean, 4 on any violation.
pub fn check(ctx: &Ctx, a: &CheckArgs) -> Result<(), CliError> {
    if !a.tick && a.retention.given() {
        return Err(CliError::Usage(
            "--timeline, --buckets, --feed and --membership-history go with --tick (check itself enforces nothing)"
                .into(),
        ));
    }
    if a.tick {
        super::retention::confirm_settings("check --tick", a.retention, a.yes)?;
    }
    let (db, ticked) = if a.tick {
        let db = super::retention::open_for_writing(ctx, a.retention)?;
        let (report, _) = run_tick(&db)?;
        for f in &report.failures {
            // `check` reports what stays wrong; say why here.
            eprintln!("tick: {f}");
        }
        let summary = super::retention::tick_summary(&db, &report);
        if !summary.is_empty() {
            // Deleted data is never silent (stderr: stdout is the check).
            eprintln!("tick: {summary}");
        }
        (Db::Write(db), Some(report.processed))
    } else {
        (Db::Read(open::for_reading(&ctx.db)?), None)
    };
    let db = db.get();
    let started = Instant::now();
    let report = db.check()?;
    let all_segments = db.check_segments()?;
    // A segment difference at a profile with a wake-up due is what a tick
    // will apply, not damage: counted apart, and not a violation.
    let due = db.due_wakeup_profiles(DUE_READ_CAP)?;
    let (due_diffs, segments): (Vec<SegmentMismatch>, Vec<SegmentMismatch>) =
        all_segments.into_iter().partition(|m| !is_index_mismatch(m) && due.contains(&m.profile));
    let purge_pending = db.purge_pending()?;
    let ms = started.elapsed().as_millis();
    let total = report.violations.len() as u64 + segments.len() as u64;
    let mut rows: Vec<(String, String)> =
        report.violations.iter().map(|v| (v.what.clone(), v.detail.clone())).collect();
    rows.extend(segments.iter().map(|m| {
        // check_segments() folds in check_trait_indexes(): those name an index or the live set.
        let (what, bitmap) = if is_index_mismatch(m) {
            ("trait_index_bitmap_matches", m.segment.clone())
        } else {
            ("segment_bitmap_matches", format!("segment {:?}", m.segment))
        };
        let detail = if m.stored {
            format!("{bitmap}: its bitmap holds profile {}, which does not match", m.profile)
        } else {
            format!("{bitmap}: profile {} matches but is not in its bitmap", m.profile)
        };
        (what.to_owned(), detail)
    }));
    let v = json!({
        "clean": total == 0,
        "profiles": report.profiles,
        "identifiers": report.identifiers,
        "merged_ids": report.aliases,
        "aliases": report.aliases,
        "deltas": report.deltas,
        "segments": db.segments().len(),
        "trait_indexes": db.trait_indexes().len(),
        "ticked": ticked,
        "backfill_pending": report.backfill_pending,
        "purge_pending": purge_pending,
        "due_not_processed": due_diffs.len(),
        "violations": rows.iter().map(|(w, d)| json!({"what": w, "detail": d})).collect::<Vec<_>>(),
        "elapsed_ms": ms,
    });
    ctx.out.emit(&v, || {
        let mut out = format!(
            "checked {} profiles, {} identifiers, {} merged ids, {} deltas, {} segments, {} trait indexes in {ms} ms",
            report.profiles,
            report.identifiers,
            report.aliases,
            report.deltas,
            db.segments().len(),
            db.trait_indexes().len()
        );
        if let Some(n) = ticked {
            out.push_str(&format!(" (after processing {n} due wake-ups)"));
        }
        if purge_pending {
            out.push_str(
                "\npurge pending: an erase or anonymize committed, but the compaction that removes its bytes from the \
                 files has not succeeded (a full disk, or a read that began before the erase was still open); free \
                 disk space if needed and run `profiledb compact`",
            );
        }
        if let Some(name) = &report.backfill_pending {
            out.push_str(&format!(
                "\nsegment {name:?}: backfill in progress (a `segment define` was cut short, e.g. by a full disk, or is \
                 still running): its members are partly evaluated and it is not listed until the next writing command \
                 (e.g. `profiledb compact`) finishes it; not checked"
            ));
        }
        if !due_diffs.is_empty() {
            out.push_str(&format!(
                "\n{} segment membership difference(s) due, not yet processed (run `profiledb tick`): wake-ups fell \
                 due that no tick has applied; not violations",
                due_diffs.len()
            ));
        }
        if rows.is_empty() {
            out.push_str("\nclean: no violations");
            return out;
        }
        let mut t = Table::new(&["INVARIANT", "DETAIL"]);
        for (w, d) in rows.iter().take(MAX_LISTED) {
            t.row(vec![w.clone(), truncate(d, 140)]);
        }
        out.push_str(&format!("\n{total} violations:\n{}", t.render()));
        if rows.len() > MAX_LISTED {
            out.push_str(&format!("\n... and {} more (--json lists all)", rows.len() - MAX_LISTED));
        }
        out
    })?;
    if total > 0 {
        return Err(CliError::Violations(total));
    }
    Ok(())
}

/// Whether a `check_segments()` difference is about a trait index or the
/// live set (it folds in `check_trait_indexes()`), not a segment.
fn is_index_mismatch(m: &SegmentMismatch) -> bool {
    m.segment.starts_with("index ") || m.segment == profiledb::LIVE_SET
}

/// A handle opened either way.
enum Db {
    Read(open::ReadDb),
    Write(ProfileDb),
}

impl Db {
    fn get(&self) -> &ProfileDb {
        match self {
            Db::Read(r) => r,
            Db::Write(w) => w,
        }
    }
}
