//! `retention run`: timeline and rollup-bucket retention, to completion.

use std::time::Instant;

use serde_json::json;

use super::Ctx;
use profiledb::ProfileDb;

use crate::cli::{RetentionCommand, RetentionSettings};
use crate::error::CliError;
use crate::open;

const DAY_MS: i64 = 86_400_000;

/// Runs one `retention` command.
pub fn retention(ctx: &Ctx, cmd: RetentionCommand) -> Result<(), CliError> {
    match cmd {
        RetentionCommand::Run(a) => run(ctx, &a),
    }
}

/// Days as milliseconds; 0 is refused (it would mean "off", not "keep nothing").
fn days(flag: &str, n: Option<u32>) -> Result<Option<i64>, CliError> {
    match n {
        Some(0) => Err(CliError::Usage(format!(
            "{flag} 0: retention must be at least 1 day (leave {flag} out for the default)"
        ))),
        Some(d) => Ok(Some(i64::from(d) * DAY_MS)),
        None => Ok(None),
    }
}

/// Opens the database for writing with these retention settings (checked
/// before it opens).
pub fn open_for_writing(ctx: &Ctx, r: RetentionSettings) -> Result<ProfileDb, CliError> {
    let timeline = days("--timeline", r.timeline)?;
    let buckets = days("--buckets", r.buckets)?;
    open::for_writing_with(&ctx.db, |mut b| {
        if let Some(ms) = timeline {
            b = b.timeline_retention(ms);
        }
        if let Some(ms) = buckets {
            b = b.rollup_bucket_retention(ms);
        }
        b
    })
}

fn run(ctx: &Ctx, a: &RetentionSettings) -> Result<(), CliError> {
    let db = open_for_writing(ctx, *a)?;
    let started = Instant::now();
    let pass = db.enforce_retention()?;
    let ms = started.elapsed().as_millis();
    let failures: Vec<String> = pass.failures.iter().map(ToString::to_string).collect();
    let v = json!({
        "timeline_days": a.timeline, "buckets_days": a.buckets,
        "profiles_visited": pass.profiles_visited, "timelines_trimmed": pass.timelines_trimmed,
        "buckets_folded": pass.buckets_folded, "complete": pass.complete, "elapsed_ms": ms,
        "failures": failures,
    });
    ctx.out.emit(&v, || {
        let setting = |d: Option<u32>, default: &str| d.map_or(default.to_owned(), |d| format!("{d} days"));
        let mut out = format!(
            "retention (timeline {}, buckets {}): visited {} profiles, trimmed {} timelines, folded {} day \
             buckets in {ms} ms{}",
            setting(a.timeline, "365 days (default)"),
            setting(a.buckets, "forever"),
            pass.profiles_visited,
            pass.timelines_trimmed,
            pass.buckets_folded,
            if pass.complete { "" } else { " (incomplete: run again)" }
        );
        for f in &failures {
            out.push_str(&format!("\nfailed: {f}"));
        }
        out
    })?;
    failed(&failures)
}

/// Exit code 1 when some profiles could not be processed (already listed).
pub fn failed(failures: &[String]) -> Result<(), CliError> {
    match failures.len() {
        0 => Ok(()),
        n => Err(CliError::Refused(format!("{n} profiles could not be processed (listed above; retried next time)"))),
    }
}
