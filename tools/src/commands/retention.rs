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
        RetentionCommand::Run { settings, yes } => {
            if !yes {
                return Err(CliError::Usage(
                    "retention run cannot be undone: it deletes every event older than the timeline retention and \
                     folds every rollup day bucket older than the bucket retention (and records any setting given \
                     here for later opens); add --yes to confirm"
                        .into(),
                ));
            }
            run(ctx, &settings)
        }
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

/// Refuses settings given without `--yes` (`tick`, `check --tick`): a
/// setting is recorded, and what it no longer keeps is deleted for good.
/// Bad values are reported first, as without `--yes`.
pub fn confirm_settings(command: &str, r: RetentionSettings, yes: bool) -> Result<(), CliError> {
    days("--timeline", r.timeline)?;
    days("--buckets", r.buckets)?;
    days("--feed", r.feed)?;
    days("--membership-history", r.membership_history)?;
    if r.given() && !yes {
        return Err(CliError::Usage(format!(
            "{command} with --timeline, --buckets, --feed or --membership-history cannot be undone: the setting is \
             recorded in the database (later opens, the application's too, apply it) and every event older than the \
             timeline retention is deleted, every rollup day bucket older than the bucket retention folded, every \
             feed record and membership-history row older than theirs deleted; add --yes to confirm (a plain \
             `{command}` applies the recorded settings)"
        )));
    }
    Ok(())
}

/// Opens the database for writing with these retention settings (checked
/// before it opens).
pub fn open_for_writing(ctx: &Ctx, r: RetentionSettings) -> Result<ProfileDb, CliError> {
    let timeline = days("--timeline", r.timeline)?;
    let buckets = days("--buckets", r.buckets)?;
    let feed = days("--feed", r.feed)?;
    let membership = days("--membership-history", r.membership_history)?;
    open::for_writing_with(&ctx.db, |mut b| {
        if let Some(ms) = timeline {
            b = b.timeline_retention(ms);
        }
        if let Some(ms) = buckets {
            b = b.rollup_bucket_retention(ms);
        }
        if let Some(ms) = feed {
            b = b.feed_retention(ms);
        }
        if let Some(ms) = membership {
            b = b.membership_history_retention(ms);
        }
        b
    })
}

fn run(ctx: &Ctx, a: &RetentionSettings) -> Result<(), CliError> {
    let db = open_for_writing(ctx, *a)?;
    let started = Instant::now();
    let finishing = super::finishing::on_signal(super::finishing::RETENTION)?;
    let pass = db.enforce_retention()?;
    let ms = started.elapsed().as_millis();
    let failures: Vec<String> = pass.failures.iter().map(ToString::to_string).collect();
    let settings = db.retention_settings();
    let v = json!({
        "timeline_days": days_of(settings.timeline_ms), "buckets_days": days_of(settings.bucket_ms),
        "profiles_visited": pass.profiles_visited, "timelines_trimmed": pass.timelines_trimmed,
        "buckets_folded": pass.buckets_folded, "complete": pass.complete, "elapsed_ms": ms,
        "failures": failures, "feed_days": days_of(settings.feed_ms),
        "membership_history_days": days_of(settings.membership_ms),
        "feed_records_deleted": pass.feed_records_deleted,
        "membership_rows_deleted": pass.membership_rows_deleted,
    });
    ctx.out.emit(&v, || {
        let mut out = format!(
            "retention ({}): visited {} profiles, trimmed {} timelines, folded {} day buckets, deleted {} feed \
             records and {} membership-history rows in {ms} ms{}",
            describe(settings),
            pass.profiles_visited,
            pass.timelines_trimmed,
            pass.buckets_folded,
            pass.feed_records_deleted,
            pass.membership_rows_deleted,
            if pass.complete { "" } else { " (incomplete: run again)" }
        );
        for f in &failures {
            out.push_str(&format!("\nfailed: {f}"));
        }
        out
    })?;
    finishing.finish();
    failed(&failures)
}

/// Whole days of a retention in milliseconds (0: off).
fn days_of(ms: i64) -> i64 {
    ms / DAY_MS
}

/// The retention settings as a reader sees them.
pub fn describe(s: profiledb::RetentionSettings) -> String {
    let timeline = match s.timeline_ms {
        0 => "no timelines".to_owned(),
        ms => format!("timeline {} days", days_of(ms)),
    };
    let buckets = match s.bucket_ms {
        0 => "buckets forever".to_owned(),
        ms => format!("buckets {} days", days_of(ms)),
    };
    let keep = |what: &str, ms: i64| match ms {
        0 => format!("{what} forever"),
        ms => format!("{what} {} days", days_of(ms)),
    };
    format!("{timeline}, {buckets}, {}, {}", keep("feed", s.feed_ms), keep("membership history", s.membership_ms))
}

/// What a tick's retention step removed, as a sentence (empty when nothing).
pub fn tick_summary(db: &ProfileDb, r: &profiledb::TickReport) -> String {
    if r.timelines_trimmed == 0
        && r.buckets_folded == 0
        && r.feed_records_deleted == 0
        && r.membership_rows_deleted == 0
    {
        return String::new();
    }
    format!(
        "retention ({}): trimmed {} timelines, folded {} day buckets, deleted {} feed records and {} \
         membership-history rows",
        describe(db.retention_settings()),
        r.timelines_trimmed,
        r.buckets_folded,
        r.feed_records_deleted,
        r.membership_rows_deleted
    )
}

/// Exit code 1 when some profiles could not be processed (already listed).
pub fn failed(failures: &[String]) -> Result<(), CliError> {
    match failures.len() {
        0 => Ok(()),
        n => Err(CliError::Refused(format!("{n} profiles could not be processed (listed above; retried next time)"))),
    }
}
