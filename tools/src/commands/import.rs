//! `import FILE|-`: native JSONL, one profile update per line.
//!
//! Every line is parsed and validated into a [`Record`] before anything is
//! written; each record is then one library call (one atomic batch), so a
//! rejected line writes nothing. Event lines arrive with the library's
//! event model: [`parse_event_line`] is where they will be parsed.

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use profiledb::{Cause, Identifier, ProfileDb, Update};
use serde_json::{json, Map, Value};

use super::Ctx;
use crate::cli::ImportArgs;
use crate::error::CliError;
use crate::open;
use crate::output::table::{truncate, Table};
use crate::parse::flatten_traits;

/// The most rejections kept for the report (the counts stay exact).
const MAX_REPORTED: usize = 1_000;
/// The most rejections listed in the readable report.
const MAX_LISTED: usize = 20;

/// One parsed line, ready to write.
#[derive(Debug)]
enum Record {
    /// A profile line: link these identifiers and apply the update.
    Profile { identifiers: Vec<Identifier>, update: Update },
}

/// What an import did.
#[derive(Debug, Default)]
struct Summary {
    lines: u64,
    accepted: u64,
    rejected: u64,
    created: u64,
    merged: u64,
    rejections: Vec<(u64, String)>,
    stopped_at: Option<u64>,
}

impl Summary {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REPORTED {
            self.rejections.push((line, reason));
        }
    }
}

/// Runs an import.
pub fn run(ctx: &Ctx, a: &ImportArgs) -> Result<(), CliError> {
    let (source, mut reader, size): (String, Box<dyn BufRead>, Option<u64>) = if a.file == "-" {
        ("stdin".into(), Box::new(BufReader::new(std::io::stdin().lock())), None)
    } else {
        // A path that cannot be opened is bad input, like a malformed line.
        let f = File::open(&a.file).map_err(|e| CliError::Usage(format!("cannot open {}: {e}", a.file)))?;
        let size = f.metadata().ok().map(|m| m.len());
        (a.file.clone(), Box::new(BufReader::with_capacity(1 << 20, f)), size)
    };
    let db = open::for_writing(&ctx.db)?;
    let bar = progress_bar(size);
    let started = Instant::now();
    let mut s = Summary::default();
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::Io { what: format!("reading {source}"), source: e })?;
        if n == 0 {
            break;
        }
        line_no += 1;
        bar.inc(n as u64);
        let Some(text) = line_text(&buf, line_no, &mut s) else { continue };
        if text.trim().is_empty() {
            continue;
        }
        s.lines += 1;
        let outcome = parse_line(text).map_err(CliError::Usage).and_then(|r| write(&db, r, &source, line_no));
        match outcome {
            Ok((created, merged)) => {
                s.accepted += 1;
                s.created += u64::from(created);
                s.merged += merged;
            }
            Err(e) if e.is_bad_input() => {
                s.reject(line_no, e.to_string());
                if a.strict {
                    s.stopped_at = Some(line_no);
                    break;
                }
            }
            Err(e) => return Err(e.context(format!("{source} line {line_no}"))),
        }
        if s.lines.is_multiple_of(1024) {
            bar.set_message(format!("{} lines {} bad", s.lines, s.rejected));
        }
    }
    bar.finish_and_clear();
    report(ctx, &source, &s, started.elapsed())?;
    if s.rejected > 0 {
        let stopped = s.stopped_at.and_then(|l| s.rejections.last().filter(|(at, _)| *at == l).cloned());
        return Err(CliError::Rejected { rejected: s.rejected, lines: s.lines, stopped });
    }
    Ok(())
}

/// The line as UTF-8 without its line ending; a line that is not UTF-8 is
/// rejected (counted as read) and yields `None`.
fn line_text<'a>(buf: &'a [u8], line_no: u64, s: &mut Summary) -> Option<&'a str> {
    let trimmed = buf.strip_suffix(b"\n").unwrap_or(buf);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    match std::str::from_utf8(trimmed) {
        Ok(t) => Some(t),
        Err(e) => {
            s.lines += 1;
            s.reject(line_no, format!("not valid UTF-8 (at byte {})", e.valid_up_to()));
            None
        }
    }
}

/// Parses and validates one line; nothing is written.
fn parse_line(text: &str) -> Result<Record, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(obj) = v else { return Err("expected a JSON object".into()) };
    if obj.contains_key("type") || obj.contains_key("event") {
        return parse_event_line(&obj);
    }
    parse_profile_line(&obj)
}

/// A profile line: `{"identifiers": {...}, "traits": {...}}`.
fn parse_profile_line(obj: &Map<String, Value>) -> Result<Record, String> {
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "identifiers" | "traits")) {
        return Err(format!("unknown field {k:?}; a profile line has \"identifiers\" and \"traits\""));
    }
    let identifiers = match obj.get("identifiers") {
        Some(Value::Object(ids)) => parse_identifiers(ids)?,
        Some(_) => return Err("\"identifiers\" must be an object of kind: value".into()),
        None => return Err("missing \"identifiers\"".into()),
    };
    let mut traits = Vec::new();
    match obj.get("traits") {
        None | Some(Value::Null) => {}
        Some(t @ Value::Object(_)) => flatten_traits("", t, &mut traits)?,
        Some(_) => return Err("\"traits\" must be an object".into()),
    }
    let update = traits.into_iter().fold(Update::new(), |u, (name, value)| u.set(&name, value));
    update.validate().map_err(|e| e.to_string())?;
    Ok(Record::Profile { identifiers, update })
}

/// `{"email": "a@x.com", "user_id": 1, "device_id": ["d1", "d2"]}`.
fn parse_identifiers(ids: &Map<String, Value>) -> Result<Vec<Identifier>, String> {
    let mut out = Vec::new();
    for (kind, v) in ids {
        let values = match v {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(format!("identifier {kind:?}: expected a string or a number, got {other}")),
            };
            out.push(Identifier::new(kind, &text).map_err(|e| e.to_string())?);
        }
    }
    if out.is_empty() {
        return Err("\"identifiers\" is empty; a line needs at least one".into());
    }
    Ok(out)
}

/// An event line (`{"type": "track", ...}`). The library has no event
/// model yet; when it lands, parse the line here into a new `Record`
/// variant and write it in [`write`].
fn parse_event_line(_obj: &Map<String, Value>) -> Result<Record, String> {
    Err("event lines (with \"type\" or \"event\") are not supported yet; a profile line has \"identifiers\" and \
         \"traits\""
        .into())
}

/// Writes one record; returns (created, profiles merged).
fn write(db: &ProfileDb, r: Record, source: &str, line: u64) -> Result<(bool, u64), CliError> {
    match r {
        Record::Profile { identifiers, update } => {
            let update = update.cause(Cause::Request(format!("import {source}:{line}")));
            let receipt = db.identify(&identifiers, update)?;
            Ok((receipt.created, receipt.merged.len() as u64))
        }
    }
}

/// A progress bar on stderr with rate and ETA, only on a terminal.
fn progress_bar(size: Option<u64>) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
    let template = if size.is_some() {
        "{wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta} {msg}"
    } else {
        "{spinner} {bytes} {binary_bytes_per_sec} {msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn report(ctx: &Ctx, source: &str, s: &Summary, elapsed: Duration) -> Result<(), CliError> {
    let ms = elapsed.as_millis();
    let v = json!({
        "source": source,
        "lines": s.lines,
        "accepted": s.accepted,
        "rejected": s.rejected,
        "profiles_created": s.created,
        "profiles_merged": s.merged,
        "stopped_at": s.stopped_at,
        "rejections": s.rejections.iter().map(|(l, r)| json!({"line": l, "reason": r})).collect::<Vec<_>>(),
        "rejections_truncated": (s.rejected as usize) > s.rejections.len(),
        "elapsed_ms": ms,
    });
    ctx.out.emit(&v, || {
        let rate = if elapsed.as_secs_f64() > 0.0 { s.lines as f64 / elapsed.as_secs_f64() } else { 0.0 };
        let mut out = format!(
            "imported {source}: {} lines, {} accepted, {} rejected ({} profiles created, {} merged) in {ms} ms \
             ({rate:.0} lines/s)",
            s.lines, s.accepted, s.rejected, s.created, s.merged
        );
        if let Some(l) = s.stopped_at {
            out.push_str(&format!("\nstopped at line {l} (--strict): nothing of it was written"));
        }
        if !s.rejections.is_empty() {
            let mut t = Table::new(&["LINE", "REASON"]);
            for (l, r) in s.rejections.iter().take(MAX_LISTED) {
                t.row(vec![l.to_string(), truncate(r, 160)]);
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
    })
}
