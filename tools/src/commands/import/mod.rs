//! `import FILE|-`: JSONL (native events, Segment Spec, profile lines) or
//! CSV with a column mapping.
//!
//! A [`Source`] turns the input into numbered [`Item`]s, each parsed and
//! validated into a [`Record`] before anything is written. Events are
//! written through the library's batch ingest (shared commits, each event
//! atomic); profile lines one `identify` each. A rejected line writes
//! nothing. With `--strict` every line is parsed first — and checked
//! against the identity rules that refuse a line on its identifiers alone
//! (too many, every one blocklisted) — and a bad one rejects the whole
//! file. `--schemas` opens the database with event schemas (the library
//! checks them on ingest; `--strict` also checks them before writing).
//!
//! SIGINT and SIGTERM stop it between lines ([`interrupt`]), and an error
//! of the database or the machine stops it at the line being written; it
//! then syncs what it committed and says how much and where to resume
//! ([`stop`]).

mod csv;
pub(super) mod interrupt;
mod line;
mod lines;
mod numeric;
mod report;
mod rows;
pub(crate) mod stop;

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use profiledb::event::{Event, SchemaRegistry, Skipped, SkippedIdentifier, SkippedTrait};
use profiledb::{Cause, Identifier, IdentityRules, Ignored, ProfileDb, Update};

use super::Ctx;
use crate::cli::{ImportArgs, ImportFormat};
use crate::error::CliError;
use crate::{open, parse};

/// Events written per `ingest_batch` call.
const BATCH: usize = 1_024;
/// The most rejections kept for the report (the counts stay exact).
const MAX_REPORTED: usize = 1_000;

/// One parsed line, ready to write.
#[derive(Debug)]
pub enum Record {
    /// A profile line: link these identifiers and apply the update.
    Profile {
        /// The identifiers to link.
        identifiers: Vec<Identifier>,
        /// The traits to set.
        update: Update,
    },
    /// An event, for batch ingest, and what of its line was left out: the
    /// auxiliary identifiers that were invalid (reported as not linked),
    /// the identify traits holding lists of objects or numbers (reported as
    /// not stored).
    Event(Box<Event>, Skipped),
}

/// One line (or CSV row) of input.
#[derive(Debug)]
pub struct Item {
    /// Its (first) line number.
    pub line: u64,
    /// Bytes read for it, for the progress bar.
    pub bytes: u64,
    /// The record, or why the line is rejected.
    pub parsed: Result<Record, String>,
}

/// Where items come from.
pub trait Source {
    /// The next item; `None` at the end.
    fn next_item(&mut self) -> Result<Option<Item>, CliError>;

    /// Physical lines of the input read so far (a CSV row's line breaks
    /// included).
    fn lines_read(&self) -> u64;
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    lines: u64,
    accepted: u64,
    rejected: u64,
    events: u64,
    duplicates: u64,
    /// Events acknowledged and dropped: they carried an erased identifier
    /// under the drop suppression policy.
    dropped: u64,
    profile_lines: u64,
    created: u64,
    merged: u64,
    /// Profiles the events created, and merged into others.
    event_created: u64,
    event_merged: u64,
    rejections: Vec<(u64, String)>,
    /// Identifiers of written lines that were not linked (blocklisted,
    /// refused by a kind's limit, gave way to a higher-priority one, a
    /// merge a merge rule refused, detached).
    not_linked: u64,
    /// The first [`MAX_REPORTED`] of them: line, identifier, code, reason.
    not_linked_list: Vec<(u64, String, &'static str, String)>,
    /// Identify traits of written lines left out (lists of objects or
    /// numbers), and the first [`MAX_REPORTED`]: line, field, reason.
    traits_not_stored: u64,
    traits_not_stored_list: Vec<(u64, String, String)>,
    /// `--strict` found bad lines before writing: nothing was written.
    nothing_written: bool,
    /// `--strict` stopped at this line when writing it failed.
    stopped_at: Option<u64>,
    /// Non-numeric values numeric rollups read, events without message id.
    notices: numeric::Notices,
    /// The signal that stopped the import, and the first line it did not read.
    interrupted: Option<(interrupt::Signal, u64)>,
}

impl Summary {
    /// Notes an identifier of line `line` that was not linked.
    fn not_linked(&mut self, line: u64, id: &Identifier, why: &Ignored) {
        self.not_linked += 1;
        if self.not_linked_list.len() < MAX_REPORTED {
            let (code, reason) = crate::output::json::ignored_reason(why);
            self.not_linked_list.push((line, id.to_string(), code, reason));
        }
    }

    /// Notes an identifier of line `line` left out as invalid (a Segment
    /// Spec email or phone trait, when the line had other identifiers).
    fn skipped(&mut self, line: u64, id: &SkippedIdentifier) {
        self.not_linked += 1;
        if self.not_linked_list.len() < MAX_REPORTED {
            let reason = format!("field {:?}: {}", id.field, id.reason);
            self.not_linked_list.push((line, id.identifier.clone(), "invalid", reason));
        }
    }

    /// Notes a trait of line `line` left out (a list that is no trait value).
    fn trait_not_stored(&mut self, line: u64, t: &SkippedTrait) {
        self.traits_not_stored += 1;
        if self.traits_not_stored_list.len() < MAX_REPORTED {
            self.traits_not_stored_list.push((line, t.field.clone(), t.reason.clone()));
        }
    }

    /// Notes what a parsed record carries (before it is written).
    fn inspect(&mut self, r: &Record) {
        if let Record::Event(e, _) = r {
            self.notices.event(e);
        }
    }

    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < MAX_REPORTED {
            self.rejections.push((line, reason));
        }
    }
}

/// The identifier kinds `rules` name (limits and priority): the kinds a CSV
/// column may map to without the explicit `identifiers.KIND`. The CLI
/// opens databases with the default rules.
fn known_kinds(rules: &IdentityRules) -> Vec<String> {
    let mut kinds = rules.priority.clone();
    for k in rules.limits.keys() {
        if !kinds.contains(k) {
            kinds.push(k.clone());
        }
    }
    kinds
}

/// Runs an import.
pub fn run(ctx: &Ctx, a: &ImportArgs) -> Result<(), CliError> {
    let format = if a.csv { ImportFormat::Csv } else { a.format };
    let map = match (format, a.map.is_empty()) {
        (ImportFormat::Csv, false) => Some(csv::parse_map(&a.map, &known_kinds(&IdentityRules::default()))?),
        (ImportFormat::Csv, true) => {
            return Err(CliError::Usage("CSV needs --map (e.g. --map email=email,plan=traits.plan)".into()))
        }
        (_, false) => return Err(CliError::Usage("--map goes with --csv".into())),
        (_, true) => None,
    };
    let (name, reader, size): (String, Box<dyn BufRead>, Option<u64>) = if a.file == "-" {
        ("stdin".into(), Box::new(BufReader::new(std::io::stdin().lock())), None)
    } else {
        // A path that cannot be opened is bad input, like a malformed line.
        let f = File::open(&a.file).map_err(|e| CliError::Usage(format!("cannot open {}: {e}", a.file)))?;
        let meta = f.metadata().ok();
        if meta.as_ref().is_some_and(std::fs::Metadata::is_dir) {
            return Err(CliError::Usage(format!("cannot import {}: it is a directory, not a file", a.file)));
        }
        let size = meta.map(|m| m.len());
        (a.file.clone(), Box::new(BufReader::with_capacity(1 << 20, f)), size)
    };
    let schemas = a.ingest.schemas.as_deref().map(parse::schemas).transpose()?;
    // Synced once below, before the summary says what was imported.
    let db = open::for_import(&ctx.db, schemas.clone(), &a.ingest)?;
    let mut source: Box<dyn Source> = match map {
        Some(m) => Box::new(csv::Csv::new(reader, name.clone(), m, &db.event_limits())?),
        None => Box::new(lines::Jsonl::new(reader, name.clone(), format, db.event_limits())),
    };
    let bar = progress_bar(size);
    let started = Instant::now();
    let mut writer =
        Writer { db: &db, source: &name, pending: Vec::new(), strict: a.strict, in_flight: None, failed_at: None };
    let mut s = Summary { notices: numeric::Notices::new(&db), ..Summary::default() };
    interrupt::install()?;
    let done = if a.strict {
        strict(&mut *source, schemas.as_ref(), &mut writer, &mut s, &bar)
    } else {
        plain(&mut *source, &mut writer, &mut s, &bar)
    };
    bar.finish_and_clear();
    if let Err(e) = done {
        if e.is_bad_input() && s.accepted == 0 {
            return Err(e);
        }
        // A storage or I/O error: make what committed durable and say how much.
        let resume_at = writer.first_unwritten().unwrap_or(source.lines_read() + 1);
        return Err(CliError::ImportStopped(Box::new(stop::ImportStop {
            cause: stop::Cause::Error(e),
            source: name.clone(),
            committed: s.accepted,
            rejected: s.rejected,
            resume_at,
            uncertain: writer.in_flight,
            sync_failed: db.sync().err().map(|e| e.to_string()),
            csv: format == ImportFormat::Csv,
        })));
    }
    db.sync()?;
    // Lines rejected when parsed come before those rejected by a later batch write.
    s.rejections.sort_by_key(|(line, _)| *line);
    report::print(ctx, &name, &s, started.elapsed())?;
    if let Some((signal, resume_at)) = s.interrupted {
        return Err(CliError::ImportStopped(Box::new(stop::ImportStop {
            cause: stop::Cause::Signal(signal),
            source: name,
            committed: s.accepted,
            rejected: s.rejected,
            resume_at,
            uncertain: None,
            sync_failed: None,
            csv: format == ImportFormat::Csv,
        })));
    }
    if s.rejected > 0 {
        let stopped = s.stopped_at.and_then(|l| s.rejections.iter().find(|(at, _)| *at == l).cloned());
        return Err(CliError::Rejected {
            rejected: s.rejected,
            accepted: s.accepted,
            duplicates: s.duplicates,
            dropped: s.dropped,
            lines: s.lines,
            stopped,
            nothing_written: s.nothing_written,
        });
    }
    Ok(())
}

/// Without `--strict`: write every good line, in input order, until the
/// end of the input or a signal.
fn plain(source: &mut dyn Source, w: &mut Writer<'_>, s: &mut Summary, bar: &ProgressBar) -> Result<(), CliError> {
    loop {
        if let Some(signal) = interrupt::received() {
            s.interrupted = Some((signal, source.lines_read() + 1));
            break;
        }
        let Some(item) = source.next_item()? else { break };
        bar.inc(item.bytes);
        s.lines += 1;
        match item.parsed {
            Ok(r) => {
                s.inspect(&r);
                w.add(item.line, r, s)?;
            }
            Err(reason) => s.reject(item.line, reason),
        }
        if s.lines.is_multiple_of(1024) {
            bar.set_message(format!("{} lines {} bad", s.lines, s.rejected));
        }
    }
    w.flush(s)
}

/// `--strict`: parse everything (and check it with [`prevalidate`]),
/// write only if every line is good.
fn strict(
    source: &mut dyn Source,
    schemas: Option<&SchemaRegistry>,
    w: &mut Writer<'_>,
    s: &mut Summary,
    bar: &ProgressBar,
) -> Result<(), CliError> {
    let mut records = Vec::new();
    let rules = w.db.identity_rules();
    loop {
        if let Some(signal) = interrupt::received() {
            // Nothing written yet.
            s.interrupted = Some((signal, 1));
            return Ok(());
        }
        let Some(item) = source.next_item()? else { break };
        bar.inc(item.bytes);
        s.lines += 1;
        let parsed = item.parsed.and_then(|r| prevalidate(&r, schemas, rules).map(|()| r));
        match parsed {
            Ok(r) => {
                s.inspect(&r);
                records.push((item.line, r));
            }
            Err(reason) => s.reject(item.line, reason),
        }
    }
    if s.rejected > 0 {
        s.nothing_written = true;
        return Ok(());
    }
    for (line, r) in records {
        if let Some(signal) = interrupt::received() {
            s.interrupted = Some((signal, w.first_unwritten().unwrap_or(line)));
            break;
        }
        w.add(line, r, s)?;
        if s.rejected > 0 {
            break;
        }
    }
    if s.rejected == 0 {
        w.flush(s)?;
    }
    // A line valid on its own can still fail when applied (an increment of
    // a text trait): the import stops there; what came before is written.
    s.stopped_at = s.rejections.first().map(|(l, _)| *l);
    Ok(())
}

/// What `--strict` checks of a parsed record before anything is written:
/// an event against `schemas`, and every record against the identity rules
/// that refuse an operation on its identifiers alone (more than the
/// per-call limit, every one blocklisted) — checks that otherwise happen
/// only when the line is applied, after the lines before it were written.
fn prevalidate(r: &Record, schemas: Option<&SchemaRegistry>, rules: &IdentityRules) -> Result<(), String> {
    match r {
        Record::Event(e, _) => {
            if let Some(schemas) = schemas {
                schemas.validate(e).map_err(|e| e.to_string())?;
            }
            rules.check_identifiers(&e.stitch_identifiers())
        }
        Record::Profile { identifiers, .. } => rules.check_identifiers(identifiers),
    }
    .map_err(|e| e.to_string())
}

/// The lines of a batch of events, and each one's skipped identifiers.
struct Lines<'a> {
    lines: &'a [u64],
    skipped: &'a [Skipped],
}

/// Writes records in input order: events gathered into batches, profile
/// lines one at a time (after the events before them).
struct Writer<'a> {
    db: &'a ProfileDb,
    source: &'a str,
    pending: Vec<(u64, Event, Skipped)>,
    strict: bool,
    /// The first and last line being written while the write is under way;
    /// after an error, lines of it may or may not have been committed.
    in_flight: Option<(u64, u64)>,
    /// The line whose write failed (nothing of it was written).
    failed_at: Option<u64>,
}

impl Writer<'_> {
    /// The first line read but not (known to be) committed: of the write
    /// that failed, or of the events gathered for the next batch.
    fn first_unwritten(&self) -> Option<u64> {
        self.failed_at.or(self.in_flight.map(|(first, _)| first)).or_else(|| self.pending.first().map(|(l, _, _)| *l))
    }

    fn add(&mut self, line: u64, r: Record, s: &mut Summary) -> Result<(), CliError> {
        match r {
            Record::Event(e, skipped) => {
                self.pending.push((line, *e, skipped));
                if self.pending.len() >= BATCH {
                    self.flush(s)?;
                }
                Ok(())
            }
            Record::Profile { identifiers, update } => {
                self.flush(s)?;
                if self.strict && s.rejected > 0 {
                    return Ok(());
                }
                let update = update.cause(Cause::Request(format!("import {}:{line}", self.source)));
                self.in_flight = Some((line, line));
                let written = self.db.identify(&identifiers, update);
                self.in_flight = None;
                match written {
                    Ok(receipt) => {
                        s.accepted += 1;
                        s.profile_lines += 1;
                        s.created += u64::from(receipt.created);
                        s.merged += receipt.merged.len() as u64;
                        for (id, why) in &receipt.ignored {
                            s.not_linked(line, id, why);
                        }
                        Ok(())
                    }
                    Err(e) => self.failed(line, e.into(), s),
                }
            }
        }
    }

    /// Writes the gathered events.
    fn flush(&mut self, s: &mut Summary) -> Result<(), CliError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let events: Vec<Event> = self.pending.iter().map(|(_, e, _)| e.clone()).collect();
        let (lines, skipped): (Vec<u64>, Vec<Skipped>) =
            self.pending.drain(..).map(|(l, _, skipped)| (l, skipped)).unzip();
        self.in_flight = lines.first().zip(lines.last()).map(|(a, b)| (*a, *b));
        let written = self.flush_events(&events, &Lines { lines: &lines, skipped: &skipped }, s);
        if written.is_ok() {
            self.in_flight = None;
        }
        written
    }

    /// Writes `events`, read from `lines`.
    fn flush_events(&mut self, events: &[Event], lines: &Lines<'_>, s: &mut Summary) -> Result<(), CliError> {
        if !self.strict {
            let report = self.db.ingest_batch(events, false)?;
            return self.count(report, lines, 0..events.len(), s);
        }
        // Strict: each batch is one unit. One that failed wrote nothing:
        // write the events before the failing one, then stop there — or,
        // when it only merges a profile written earlier in the same unit,
        // go on with a new unit starting at it.
        let mut start = 0;
        while start < events.len() {
            let mut report = self.db.ingest_batch(&events[start..], true)?;
            let Some((first, split)) =
                report.rejected.first().map(|(i, e)| (*i, matches!(e, profiledb::Error::StrictBatchSplit)))
            else {
                return self.count(report, lines, start..events.len(), s);
            };
            let before = self.db.ingest_batch(&events[start..start + first], true)?;
            // `first` > 0: a split needs an earlier event in the unit.
            if split && first > 0 {
                self.count(before, lines, start..start + first, s)?;
                start += first;
                continue;
            }
            report.applied = before.applied;
            report.duplicates = before.duplicates;
            report.dropped = before.dropped;
            report.created = before.created;
            report.merged = before.merged;
            report.ignored = before.ignored;
            report.rejected.truncate(1);
            return self.count(report, lines, start..start + first + 1, s);
        }
        Ok(())
    }

    /// Counts what a batch of the events `range` of `lines` did (its
    /// positions count from `range.start`).
    fn count(
        &mut self,
        report: profiledb::BatchReport,
        lines: &Lines<'_>,
        range: std::ops::Range<usize>,
        s: &mut Summary,
    ) -> Result<(), CliError> {
        let (offset, lines, skipped) = (range.start, lines.lines, lines.skipped);
        // What was left out of the events written: invalid auxiliary
        // identifiers, identify traits that are no trait value.
        for i in range {
            if report.rejected.iter().any(|(r, _)| offset + r == i) {
                continue;
            }
            let line = lines.get(i).copied().unwrap_or(0);
            if let Some(left_out) = skipped.get(i) {
                for id in &left_out.identifiers {
                    s.skipped(line, id);
                }
                for t in &left_out.traits {
                    s.trait_not_stored(line, t);
                }
            }
        }
        s.accepted += report.applied + report.duplicates + report.dropped;
        s.dropped += report.dropped;
        s.events += report.applied;
        s.duplicates += report.duplicates;
        s.event_created += report.created;
        s.event_merged += report.merged;
        for (i, id, why) in report.ignored {
            s.not_linked(lines.get(offset + i).copied().unwrap_or(0), &id, &why);
        }
        for (i, e) in report.rejected {
            let line = lines.get(offset + i).copied().unwrap_or(0);
            self.failed(line, e.into(), s)?;
        }
        Ok(())
    }

    /// A line that failed when written: rejected if its input was bad,
    /// else the import stops.
    fn failed(&mut self, line: u64, e: CliError, s: &mut Summary) -> Result<(), CliError> {
        if e.is_bad_input() {
            s.reject(line, e.to_string());
            Ok(())
        } else {
            // The batch's other events are counted: only this line is unwritten.
            self.in_flight = None;
            self.failed_at = Some(line);
            Err(e.context(format!("{} line {line}", self.source)))
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
