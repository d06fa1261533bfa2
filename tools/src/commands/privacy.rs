//! Privacy: `export` (a person's document, or a segment's members),
//! `erase`, `audit`.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};

use profiledb::segment::QueryResult;
use profiledb::{ConsentCheck, EraseOutcome, Error, Identifier, ProfileDb, ProfileId, MAX_ERASE_MANY};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{AuditArgs, EraseArgs, ExportArgs};
use crate::error::CliError;
use crate::open;
use crate::output::stdout_error;
use crate::output::table::Table;
use crate::parse;

/// Members are read this many at a time.
const PAGE: usize = 4_096;

/// Whose profiles `export` lists: a segment's members or a query's matches.
enum Members {
    Segment(String),
    Query(QueryResult),
    /// The members a consent-checked export kept, ascending.
    List(Vec<ProfileId>),
}

impl Members {
    fn count(&self, db: &ProfileDb) -> Result<u64, CliError> {
        match self {
            Members::Segment(name) => db.segment_count(name).map_err(|e| match e {
                Error::NotFound(_) => {
                    CliError::NotFound(format!("no segment named {name:?} (see `profiledb segment list`)"))
                }
                other => other.into(),
            }),
            Members::Query(q) => Ok(q.count()),
            Members::List(ids) => Ok(ids.len() as u64),
        }
    }

    fn page(&self, db: &ProfileDb, offset: u64) -> Result<Vec<ProfileId>, CliError> {
        Ok(match self {
            Members::Segment(name) => db.segment_members(name, offset, PAGE)?,
            Members::Query(q) => q.members(offset, PAGE),
            Members::List(ids) => {
                let from = usize::try_from(offset).unwrap_or(usize::MAX).min(ids.len());
                ids[from..].iter().take(PAGE).copied().collect()
            }
        })
    }
}

/// `export IDENTIFIER`, or `export --segment NAME | --query EXPR [--csv]`.
pub fn export(ctx: &Ctx, a: &ExportArgs) -> Result<(), CliError> {
    if let Some(identifier) = &a.identifier {
        let ident = parse::identifier(identifier)?;
        let db = open::for_writing(&ctx.db)?;
        let doc = db.export(&ident, a.request_id.as_deref())?;
        // The document is JSON either way: there is no table form of a person's whole record.
        return crate::output::Out { json: true }.emit(&doc, String::new);
    }
    let wanted = a.traits.as_deref().map(|t| t.split(',').map(|s| s.trim().to_owned()).collect::<Vec<_>>());
    if !a.require_consent.is_empty() {
        return export_with_consent(ctx, a, wanted);
    }
    let db = open::for_reading(&ctx.db)?;
    let members = match (&a.segment, &a.query) {
        (Some(name), _) => Members::Segment(name.clone()),
        (None, Some(expr)) => Members::Query(db.query(expr)?),
        (None, None) => return Err(CliError::Usage("give an IDENTIFIER, --segment NAME or --query EXPR".into())),
    };
    let count = members.count(&db)?;
    if let Members::Segment(_) = members {
        super::segments::warn_due_wakeups(&db)?;
    }
    let mut w = BufWriter::new(std::io::stdout().lock());
    if a.csv {
        export_csv(&db, &members, count, wanted, &mut w)?;
    } else {
        each_member(&db, &members, count, |row| writeln!(w, "{row}").map_err(stdout_error))?;
    }
    w.flush().map_err(stdout_error)
}

/// The export purpose the CLI configures at open for `--require-consent`
/// (export purposes are open-time options, not stored in the database).
const CLI_EXPORT_PURPOSE: &str = "cli_export";

/// `export --segment NAME --require-consent P,... [--override-consent]`:
/// through the library's consent-checked `export_segment`. The rows go
/// to stdout as JSONL or CSV (with --json: one document holding the rows
/// and the counts); the counts also go to stderr.
fn export_with_consent(ctx: &Ctx, a: &ExportArgs, wanted: Option<Vec<String>>) -> Result<(), CliError> {
    let Some(segment) = &a.segment else {
        return Err(CliError::Usage("--require-consent needs --segment NAME".into()));
    };
    let required: Vec<String> = a.require_consent.iter().map(|p| p.trim().to_owned()).collect();
    let db = open::for_reading_with(&ctx.db, |b| b.export_purpose(CLI_EXPORT_PURPOSE, required.clone()))?;
    let check = if a.override_consent { ConsentCheck::Override } else { ConsentCheck::Enforce };
    let export = db.export_segment(segment, CLI_EXPORT_PURPOSE, check).map_err(|e| match e {
        Error::NotFound(_) => {
            CliError::NotFound(format!("no segment named {segment:?} (see `profiledb segment list`)"))
        }
        other => other.into(),
    })?;
    super::segments::warn_due_wakeups(&db)?;
    let (exported, left_out, overridden) = (export.members.len() as u64, export.left_out, export.overridden);
    let members = Members::List(export.members);
    if ctx.out.json {
        let mut rows = Vec::new();
        each_member(&db, &members, exported, |row| {
            rows.push(row);
            Ok(())
        })?;
        let v = json!({
            "segment": segment, "require_consent": required, "override_consent": a.override_consent,
            "exported": exported, "left_out": left_out, "overridden": overridden, "members": rows,
        });
        ctx.out.emit(&v, String::new)?;
    } else {
        let mut w = BufWriter::new(std::io::stdout().lock());
        if a.csv {
            export_csv(&db, &members, exported, wanted, &mut w)?;
        } else {
            each_member(&db, &members, exported, |row| writeln!(w, "{row}").map_err(stdout_error))?;
        }
        w.flush().map_err(stdout_error)?;
    }
    let summary = if a.override_consent {
        format!("{overridden} of them lack consent to {} (included: --override-consent)", required.join(", "))
    } else {
        format!("{left_out} left out for lack of consent to {}", required.join(", "))
    };
    eprintln!("exported {exported} members of segment {segment}; {summary}");
    Ok(())
}

/// Calls `f` with every member's `{"id", "identifiers", "traits"}`.
fn each_member(
    db: &ProfileDb,
    members: &Members,
    count: u64,
    mut f: impl FnMut(Value) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut offset = 0u64;
    while offset < count {
        let ids = members.page(db, offset)?;
        if ids.is_empty() {
            break;
        }
        offset += ids.len() as u64;
        for id in ids {
            f(member(db, id)?)?;
        }
    }
    Ok(())
}

fn member(db: &ProfileDb, id: ProfileId) -> Result<Value, CliError> {
    let identifiers: Vec<String> = db.identifiers(id)?.iter().map(ToString::to_string).collect();
    let traits = db.get_by_id(id)?.map_or(Value::Null, |p| p.traits.to_json());
    Ok(json!({"id": id.0, "identifiers": identifiers, "traits": traits}))
}

/// CSV: `id,identifiers,<trait>...`; identifiers as a JSON array of
/// `kind:value` strings, nested traits by dotted name, lists and objects as
/// JSON, and text [`defuse`]d against spreadsheet formulas.
fn export_csv(
    db: &ProfileDb,
    members: &Members,
    count: u64,
    wanted: Option<Vec<String>>,
    w: &mut impl Write,
) -> Result<(), CliError> {
    let columns = match wanted {
        Some(c) => c,
        None => {
            let mut names = BTreeSet::new();
            each_member(db, members, count, |row| {
                flat_names("", &row["traits"], &mut names);
                Ok(())
            })?;
            names.into_iter().collect()
        }
    };
    let mut header = vec!["id".to_owned(), "identifiers".to_owned()];
    header.extend(columns.iter().cloned());
    writeln!(w, "{}", csv_row(&header)).map_err(stdout_error)?;
    each_member(db, members, count, |row| {
        let mut cells = vec![row["id"].to_string()];
        // A JSON array: identifier values may hold spaces and commas.
        cells.push(row["identifiers"].to_string());
        for c in &columns {
            let v = c.split('.').try_fold(&row["traits"], |node, part| node.get(part));
            cells.push(match v {
                None | Some(Value::Null) => String::new(),
                Some(n @ Value::Number(_)) => n.to_string(),
                Some(Value::String(s)) => defuse(s.clone()),
                Some(other) => defuse(other.to_string()),
            });
        }
        writeln!(w, "{}", csv_row(&cells)).map_err(stdout_error)
    })
}

/// Dotted names of the leaves of nested trait JSON.
fn flat_names(prefix: &str, v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let name = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flat_names(&name, child, out);
            }
        }
        _ if !prefix.is_empty() => {
            out.insert(prefix.to_owned());
        }
        _ => {}
    }
}

/// A text cell a spreadsheet would run as a formula (it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP
/// advises against CSV injection; a trait that is a number is written as
/// it is and never goes through here.
fn defuse(cell: String) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// One CSV row: cells quoted when they hold a comma, a quote or a line break.
pub fn csv_row(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| if c.contains([',', '"', '\n', '\r']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
        .collect::<Vec<_>>()
        .join(",")
}

/// `erase IDENTIFIER... [--from-file PATH] --yes [--request-id ID]`.
pub fn erase(ctx: &Ctx, a: &EraseArgs) -> Result<(), CliError> {
    let mut idents = a.identifiers.iter().map(|s| parse::identifier(s)).collect::<Result<Vec<_>, _>>()?;
    if let Some(path) = &a.from_file {
        idents.extend(identifiers_from(path)?);
    }
    if !a.yes {
        let whom = match idents.as_slice() {
            [one] => format!("the person {one} reaches"),
            list => format!("the people these {} identifiers reach", list.len()),
        };
        return Err(CliError::Usage(format!(
            "erase cannot be undone: it removes everything stored about {whom}; add --yes to confirm"
        )));
    }
    if a.from_file.is_none() && idents.len() == 1 {
        return erase_one(ctx, &idents[0], a.request_id.as_deref());
    }
    if idents.is_empty() {
        return Err(CliError::Usage("erase: no identifiers given (the file holds none)".into()));
    }
    if idents.len() > MAX_ERASE_MANY {
        return Err(CliError::Usage(format!(
            "erase: {} identifiers, more than the {MAX_ERASE_MANY} one erase takes; split the list into several runs",
            idents.len()
        )));
    }
    let db = open::for_writing(&ctx.db)?;
    let finishing = super::finishing::on_signal(super::finishing::ERASE)?;
    let r = db.erase_many(&idents, a.request_id.as_deref())?;
    let results: Vec<Value> = idents
        .iter()
        .zip(&r.outcomes)
        .map(|(ident, o)| {
            let mut v = match o {
                EraseOutcome::Erased(e) => json!({
                    "outcome": "erased", "profile": e.profile.0, "identifiers": e.identifiers, "aliases": e.aliases,
                }),
                EraseOutcome::NotFound => json!({"outcome": "not_found"}),
                EraseOutcome::Suppressed => json!({"outcome": "suppressed"}),
                EraseOutcome::SamePersonAs(i) => json!({
                    "outcome": "same_person", "same_as": idents.get(*i).map(ToString::to_string),
                }),
            };
            v["identifier"] = json!(ident.to_string());
            v
        })
        .collect();
    let v = json!({
        "erased": r.erased(), "not_found": r.not_found(), "same_person": r.same_person(),
        "results": results, "request_id": a.request_id,
    });
    ctx.out.emit(&v, || {
        let mut t = Table::new(&["IDENTIFIER", "OUTCOME"]);
        for (ident, o) in idents.iter().zip(&r.outcomes) {
            let outcome = match o {
                EraseOutcome::Erased(e) => format!(
                    "erased profile {} ({} identifiers, {} merged-away ids)",
                    e.profile, e.identifiers, e.aliases
                ),
                EraseOutcome::NotFound => "not found".into(),
                EraseOutcome::Suppressed => "not found (already erased or anonymized: suppressed)".into(),
                EraseOutcome::SamePersonAs(i) => {
                    format!(
                        "same person as {} (erased once)",
                        idents.get(*i).map_or_else(String::new, ToString::to_string)
                    )
                }
            };
            t.row(vec![ident.to_string(), outcome]);
        }
        format!(
            "{}\nerased {} people; {} identifiers not found; {} the same person as an earlier one{}",
            t.render(),
            r.erased(),
            r.not_found(),
            r.same_person(),
            if r.erased() > 0 { "; their identifiers are now suppressed" } else { "" }
        )
    })?;
    finishing.finish();
    Ok(())
}

/// `erase ID` (a single identifier): an unknown one is not found (exit 3).
fn erase_one(ctx: &Ctx, ident: &Identifier, request_id: Option<&str>) -> Result<(), CliError> {
    let db = open::for_writing(&ctx.db)?;
    let finishing = super::finishing::on_signal(super::finishing::ERASE)?;
    let r = match db.erase(ident, request_id) {
        // Not found: say whether it is because it was erased already (as the batch form does).
        Err(profiledb::Error::NotFound(_)) if db.is_suppressed(ident)? => {
            return Err(CliError::NotFound(format!(
                "identifier {ident}: already erased or anonymized (suppressed); nothing to erase"
            )));
        }
        r => r?,
    };
    let v = json!({
        "profile": r.profile.0, "identifiers": r.identifiers, "aliases": r.aliases,
        "request_id": request_id,
    });
    ctx.out.emit(&v, || {
        format!(
            "erased profile {} ({} identifiers, {} merged-away ids); its identifiers are now suppressed",
            r.profile, r.identifiers, r.aliases
        )
    })?;
    finishing.finish();
    Ok(())
}

/// The identifiers of `erase --from-file PATH` (`-`: standard input), one
/// per line; blank lines and `#` comments skipped. A malformed line, or
/// one that cannot be read, is bad input naming it.
fn identifiers_from(path: &str) -> Result<Vec<Identifier>, CliError> {
    let (name, reader): (&str, Box<dyn BufRead>) = if path == "-" {
        ("stdin", Box::new(BufReader::new(std::io::stdin().lock())))
    } else {
        let f = File::open(path).map_err(|e| CliError::Usage(format!("cannot open {path}: {e}")))?;
        if f.metadata().is_ok_and(|m| m.is_dir()) {
            return Err(CliError::Usage(format!("cannot read {path}: it is a directory, not a file")));
        }
        (path, Box::new(BufReader::new(f)))
    };
    let mut out = Vec::new();
    for (n, line) in reader.lines().enumerate() {
        let at = format!("{name} line {}", n + 1);
        let line = line.map_err(|e| CliError::Usage(format!("{at}: cannot read it: {e}")))?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(parse::identifier(line).map_err(|e| e.context(at))?);
    }
    Ok(out)
}

/// `audit [--limit N]`.
pub fn audit(ctx: &Ctx, a: &AuditArgs) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    let log = db.audit_log()?;
    let skip = a.limit.map_or(0, |n| log.len().saturating_sub(n));
    let shown = &log[skip..];
    let v = json!({"total": log.len(), "records": shown.iter().map(|r| r.to_json()).collect::<Vec<_>>()});
    ctx.out.emit(&v, || {
        if log.is_empty() {
            return "the audit log is empty (no erase, export or anonymize yet)".into();
        }
        let mut t = Table::new(&["SEQ", "AT", "ACTION", "PROFILE", "ENTRIES", "REQUEST ID"]);
        for r in shown {
            let j = r.to_json();
            t.row(vec![
                r.seq.to_string(),
                r.at.to_rfc3339(),
                j["action"].as_str().unwrap_or("?").to_owned(),
                r.profile.to_string(),
                r.entries.to_string(),
                r.request_id.clone().unwrap_or_else(|| "-".into()),
            ]);
        }
        t.render()
    })
}
