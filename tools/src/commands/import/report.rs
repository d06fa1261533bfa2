//! The import summary: counts, and each rejected line with its reason.

use std::time::Duration;

use serde_json::json;

use super::{Summary, MAX_REPORTED};
use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::table::{truncate, Table};

/// The most rejections listed in the readable report.
const MAX_LISTED: usize = 20;

/// Prints the summary.
pub fn print(ctx: &Ctx, source: &str, s: &Summary, elapsed: Duration) -> Result<(), CliError> {
    let ms = elapsed.as_millis();
    let v = json!({
        "source": source,
        "lines": s.lines,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "events_applied": s.events,
        "duplicates": s.duplicates,
        "events_profiles_created": s.event_created,
        "events_profiles_merged": s.event_merged,
        "dropped": s.dropped,
        "profile_lines": s.profile_lines,
        "profiles_created": s.created,
        "profiles_merged": s.merged,
        "nothing_written": s.nothing_written,
        "stopped_at": s.stopped_at,
        "interrupted": s.interrupted.map(|(signal, _)| signal.name()),
        "resume_at_line": s.interrupted.map(|(_, line)| line),
        "rejections": s.rejections.iter().map(|(l, r)| json!({"line": l, "reason": r})).collect::<Vec<_>>(),
        "rejections_truncated": (s.rejected as usize) > s.rejections.len(),
        "not_linked": s.not_linked,
        "not_linked_identifiers": s.not_linked_list.iter()
            .map(|(l, id, code, reason)| json!({"line": l, "identifier": id, "code": code, "reason": reason}))
            .collect::<Vec<_>>(),
        "traits_not_stored": s.traits_not_stored,
        "traits_not_stored_list": s.traits_not_stored_list.iter()
            .map(|(l, field, reason)| json!({"line": l, "field": field, "reason": reason}))
            .collect::<Vec<_>>(),
        "elapsed_ms": ms,
        "notices": s.notices.json(),
    });

    ctx.out.emit(&v, || {
        let rate = if elapsed.as_secs_f64() > 0.0 { s.lines as f64 / elapsed.as_secs_f64() } else { 0.0 };
        let counts = if s.nothing_written {
            let valid = s.lines.saturating_sub(s.rejected);
            format!("{} lines, {} rejected, {valid} valid but not written", s.lines, s.rejected)
        } else {
            format!("{} lines, {} accepted, {} rejected", s.lines, s.accepted, s.rejected)
        };
        let written = s.accepted.saturating_sub(s.duplicates + s.dropped);
        let head = match (s.accepted, written) {
            (0, _) => format!("nothing imported from {source}"),
            // Every accepted line was a duplicate (or dropped): nothing changed.
            (_, 0) => format!("nothing new imported from {source}"),
            _ => format!("imported {source}"),
        };
        let head = match s.interrupted {
            Some((signal, _)) => format!("interrupted by {}: {head}", signal.name()),
            None => head,
        };
        let mut out = format!(
            "{head}: {counts} in {ms} ms ({rate:.0} lines/s)\n  events: {} applied ({} profiles created, {} merged), \
             {} duplicates (message id seen before, skipped), {} dropped (erased identifier)\n  profile lines: {} ({} \
             profiles created, {} merged)",
            s.events, s.event_created, s.event_merged, s.duplicates, s.dropped, s.profile_lines, s.created, s.merged
        );
        if s.nothing_written {
            out.push_str("\n--strict: the file has bad lines, so nothing was written");
        }
        if let Some(l) = s.stopped_at {
            out.push_str(&format!("\n--strict: stopped at line {l}; nothing of it or after it was written"));
        }
        if s.not_linked > 0 {
            let rows = s.not_linked_list.iter().map(|(l, id, _, reason)| (*l, id.as_str(), reason.as_str()));
            let what = "identifiers not linked (the lines were written without them)";
            listed(&mut out, ["LINE", "IDENTIFIER", "NOT LINKED BECAUSE"], rows, s.not_linked, what);
        }
        if s.traits_not_stored > 0 {
            let rows = s.traits_not_stored_list.iter().map(|(l, field, reason)| (*l, field.as_str(), reason.as_str()));
            let what = "traits not stored (lists of objects or numbers; the lines were written without them)";
            listed(&mut out, ["LINE", "TRAIT", "NOT STORED BECAUSE"], rows, s.traits_not_stored, what);
        }
        if !s.rejections.is_empty() {
            let mut t = Table::new(&["LINE", "REASON"]);
            for (l, r) in s.rejections.iter().take(MAX_LISTED) {
                t.row(vec![l.to_string(), truncate(r, 600)]);
            }
            out.push_str(&format!("\n\nrejected lines (nothing of them was written):\n{}", t.render()));
            if s.rejected as usize > MAX_LISTED {
                out.push_str(&format!(
                    "\n... and {} more (--json lists up to {MAX_REPORTED})",
                    s.rejected as usize - MAX_LISTED
                ));
            }
        }
        out
    })?;
    // After the summary, on stderr: they do not change the exit code.
    for w in s.notices.warnings() {
        eprintln!("{w}");
    }
    Ok(())
}

/// Appends a table of up to `MAX_LISTED` (line, item, reason) rows under
/// "`total` `what`:", and how many more `--json` lists.
fn listed<'a>(
    out: &mut String,
    header: [&str; 3],
    rows: impl Iterator<Item = (u64, &'a str, &'a str)>,
    total: u64,
    what: &str,
) {
    let mut t = Table::new(&header);
    for (l, item, reason) in rows.take(MAX_LISTED) {
        t.row(vec![l.to_string(), truncate(item, 60), truncate(reason, 300)]);
    }
    out.push_str(&format!("\n\n{total} {what}:\n{}", t.render()));
    if total as usize > MAX_LISTED {
        out.push_str(&format!("\n... and {} more (--json lists up to {MAX_REPORTED})", total as usize - MAX_LISTED));
    }
}
