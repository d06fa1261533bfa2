//! Segments and queries: `segment define|list|show|drop|members|count`,
//! `query`.

use std::collections::BTreeSet;
use std::time::Instant;

use profiledb::segment::{dependencies, parse_with_catalog};
use profiledb::{Error, NotFoundKind, ProfileDb, ProfileId, SegmentInfo};
use serde_json::{json, Value};

use super::Ctx;
use crate::cli::{Page, QueryArgs, SegmentCommand};
use crate::error::CliError;
use crate::open;
use crate::output::data;
use crate::output::table::Table;
use crate::output::text;
use crate::parse::Target;

/// Runs one `segment` command.
pub fn segment(ctx: &Ctx, cmd: SegmentCommand) -> Result<(), CliError> {
    match cmd {
        SegmentCommand::Define { name, expr, yes } => define(ctx, &name, &expr, yes),
        SegmentCommand::List => {
            let db = open::for_reading(&ctx.db)?;
            // By name (the library keeps them in dependency order).
            let mut segs = db.segments();
            segs.sort_by(|a, b| a.name.cmp(&b.name));
            let mut v = json!({"segments": segs.iter().map(data::segment).collect::<Vec<_>>()});
            mark_stale(&db, &mut v)?;
            ctx.out.emit(&v, || data::segments_table(&segs))
        }
        SegmentCommand::Show { name } => show(ctx, &name),
        SegmentCommand::Drop { name, yes } => {
            if !yes {
                return Err(CliError::Usage(format!(
                    "segment drop cannot be undone: segment {name}'s definition and membership history are deleted \
                     (each member gets an exited feed record); add --yes to confirm"
                )));
            }
            let db = open::for_writing(&ctx.db)?;
            let before = db.segment_count(&name).map_err(|e| unknown_segment(e, &name))?;
            db.drop_segment(&name)?;
            let v = json!({"dropped": name, "members": before, "exited_records": before});
            ctx.out.emit(&v, || {
                format!("dropped segment {name} ({before} members; {before} exited records written to the change feed)")
            })
        }
        SegmentCommand::Members { name, page } => {
            let db = open::for_reading(&ctx.db)?;
            let count = db.segment_count(&name).map_err(|e| unknown_segment(e, &name))?;
            if ctx.out.json {
                return stream_members(&db, &name, count, page);
            }
            let ids = db.segment_members(&name, page.offset, page.limit)?;
            members(ctx, &db, &format!("segment {name}"), count, &ids, page)
        }
        SegmentCommand::WasMember { args, id, at } => was_member(ctx, &args, id, &at),
        SegmentCommand::Count { name } => {
            let db = open::for_reading(&ctx.db)?;
            let count = db.segment_count(&name).map_err(|e| unknown_segment(e, &name))?;
            let mut v = json!({"segment": name, "members": count});
            mark_stale(&db, &mut v)?;
            ctx.out.emit(&v, || count.to_string())
        }
    }
}

/// "not found: segment "x"" with a hint; other errors as they are.
fn unknown_segment(e: Error, name: &str) -> CliError {
    match e.not_found_kind() {
        Some(NotFoundKind::Segment) => no_segment(name),
        _ => e.into(),
    }
}

/// "not found: no segment named "x"" with a hint.
fn no_segment(name: &str) -> CliError {
    CliError::NotFound(format!("no segment named {name:?} (see `profiledb segment list`)"))
}

/// `segment was-member IDENTIFIER NAME --at TIME` (or `--id N NAME`).
///
/// An identifier answers for the profile it belonged to at TIME: the
/// profile it was first linked to (its link's origin), read as
/// [`ProfileDb::was_member`] reads an id that may have merged away since.
/// Resolving it to the profile it reaches now would read the survivor's
/// history for a time before the merge.
fn was_member(ctx: &Ctx, args: &[String], id: Option<u32>, at: &str) -> Result<(), CliError> {
    let (target, name) = match (id, args) {
        (Some(n), [name]) => (Target::Id(ProfileId(n)), name),
        (None, [ident, name]) => (Target::Identifier(crate::parse::identifier(ident)?), name),
        (Some(_), _) => return Err(CliError::Usage("with --id N, give only the segment's NAME".into())),
        (None, _) => {
            return Err(CliError::Usage("give an IDENTIFIER and the segment's NAME (or --id N and NAME)".into()))
        }
    };
    let t = crate::parse::time("--at", at)?;
    let db = open::for_reading(&ctx.db)?;
    let seg = db.segments().into_iter().find(|s| &s.name == name);
    let seg = seg.ok_or_else(|| no_segment(name))?;
    let (profile, label, linked_at) = match &target {
        Target::Id(n) => {
            super::resolve(&db, &target)?;
            (*n, format!("profile {n}"), None)
        }
        Target::Identifier(ident) => {
            let live = super::resolve_identifier(&db, ident)?;
            let link = db.identity_graph(live)?.into_iter().find(|i| &i.identifier == ident).map(|i| i.link);
            let (origin, linked_at) = link.map_or((live, None), |l| (l.origin, Some(l.linked_at)));
            (origin, format!("profile {origin} ({ident})"), linked_at)
        }
    };
    let now = db.now();
    let now_part_of = db.resolve_id(profile)?.filter(|p| *p != profile);
    let not_linked = linked_at.filter(|l| t < *l);
    let member = if not_linked.is_some() { false } else { db.was_member(profile, name, t)? };
    // Before the current definition, a recorded membership can only come
    // from an earlier definition it replaced (a drop deletes the history,
    // and a later definition of the name starts a new one): then the
    // answer is that definition's. Without one, the profile was a member
    // under no definition then, whether or not one existed.
    let earlier_definition = not_linked.is_none()
        && t < seg.defined_at
        && (member || db.was_member(profile, name, profiledb::Timestamp(seg.defined_at.0 - 1))?);
    let history = if not_linked.is_some() {
        "identifier_not_linked"
    } else if t > now {
        "future"
    } else if earlier_definition {
        "earlier_definition"
    } else if t < seg.defined_at {
        "before_definition"
    } else {
        "recorded"
    };
    let v = json!({
        "profile": profile.0, "segment": name, "at": t.to_rfc3339(), "member": member, "history": history,
        "now_part_of": now_part_of.map(|p| p.0),
    });
    ctx.out.emit(&v, || {
        let verb = if member { "was" } else { "was not" };
        let mut out = format!("{label} {verb} a member of {name} at {}", t.to_rfc3339());
        if let Some(p) = now_part_of {
            out.push_str(&format!(" (it is part of profile {p} now)"));
        }
        match (history, not_linked) {
            (_, Some(l)) => out.push_str(&format!(
                "\nnote: the identifier was linked to a profile only at {}: it had no membership before",
                l.to_rfc3339()
            )),
            ("future", _) => out.push_str(&format!(
                "\nnote: that time is in the future (now is {}): this is the membership now, which can still change",
                now.to_rfc3339()
            )),
            ("earlier_definition", _) => out.push_str(&format!(
                "\nnote: that time is before {name}'s current definition ({}), which replaced an earlier one of the \
                 same name: the answer is the earlier definition's, from its recorded membership",
                seg.defined_at.to_rfc3339()
            )),
            ("before_definition", _) => out.push_str(&format!(
                "\nnote: that time is before {name}'s current definition ({}): the profile was a member under no \
                 definition of {name} then (the current expression was not evaluated before it was defined)",
                seg.defined_at.to_rfc3339()
            )),
            _ => {}
        }
        out
    })
}

/// How many due wake-ups [`warn_due_wakeups`] counts at most.
const DUE_CAP: u64 = 1_000_000;

/// Warns on stderr when wake-ups are due that no tick has processed: the
/// stored memberships of time-dependent segments (and of those reading
/// them) can then be behind now, until `profiledb tick` runs. Returns what
/// `--json` output carries as `stale_memberships` (null when none is due).
pub fn warn_due_wakeups(db: &ProfileDb) -> Result<Value, CliError> {
    let Some(due) = db.due_wakeups(DUE_CAP)? else { return Ok(Value::Null) };
    let count = if due.count >= DUE_CAP { format!("at least {}", due.count) } else { due.count.to_string() };
    eprintln!(
        "warning: {count} time-dependent membership change(s) fell due (the oldest at {}) and no tick has \
         processed them: the stored memberships can be behind now; run `profiledb tick` first for an \
         up-to-date list (`query` evaluates at now, except `in SEGMENT`, which reads the stored members)",
        due.oldest.to_rfc3339()
    );
    Ok(json!({"due": due.count, "at_least": due.count >= DUE_CAP, "oldest": due.oldest.to_rfc3339()}))
}

/// [`warn_due_wakeups`], recording the result in the JSON object `v` as
/// `stale_memberships`: every command that shows stored memberships.
pub fn mark_stale(db: &ProfileDb, v: &mut Value) -> Result<(), CliError> {
    let stale = warn_due_wakeups(db)?;
    if let Value::Object(m) = v {
        m.insert("stale_memberships".into(), stale);
    }
    Ok(())
}

/// [`mark_stale`] for a query that reads stored memberships (`in
/// SEGMENT`); the rest of a query evaluates at now and is never behind.
fn mark_stale_if_reads_segments(db: &ProfileDb, expr: &str, v: &mut Value) -> Result<(), CliError> {
    let catalog: BTreeSet<String> = db.segments().into_iter().map(|s| s.name).collect();
    match parse_with_catalog(expr, &catalog) {
        Ok(parsed) if !dependencies(&parsed).segments.is_empty() => mark_stale(db, v),
        _ => Ok(()),
    }
}

/// Warns on stderr about each event name `expr` reads that no stored
/// event has (most often a misspelling), saying what that means
/// (`consequence`). An expression that does not parse is left to the
/// library call that follows, which reports where.
fn warn_unseen_events(db: &ProfileDb, expr: &str, consequence: &str) -> Result<(), CliError> {
    let catalog: BTreeSet<String> = db.segments().into_iter().map(|s| s.name).collect();
    if let Ok(parsed) = parse_with_catalog(expr, &catalog) {
        let events = dependencies(&parsed).events;
        let events: Vec<&str> = events.iter().map(String::as_str).collect();
        super::unseen::warn_events(db, &events, consequence)?;
    }
    Ok(())
}

/// `segment define NAME EXPR`, with a backfill progress bar on a terminal.
fn define(ctx: &Ctx, name: &str, expr: &str, yes: bool) -> Result<(), CliError> {
    // A syntax error is reported before the open (which can be refused by
    // a running writer's lock, and writes a new MANIFEST).
    profiledb::segment::parse(expr)?;
    if !yes {
        // Whether the name exists, read-only: a refusal writes nothing.
        let exists = open::for_reading(&ctx.db)?.segments().iter().any(|s| s.name == name);
        if exists {
            return Err(unconfirmed_redefinition(name));
        }
    }
    let db = open::for_writing(&ctx.db)?;
    let redefined = db.segments().iter().any(|s| s.name == name);
    if redefined && !yes {
        // Defined between the read above and this open.
        return Err(unconfirmed_redefinition(name));
    }
    warn_unseen_events(&db, expr, "the segment's conditions on it count nothing until it is ingested")?;
    let bar = crate::output::progress::backfill();
    let started = Instant::now();
    let count = db.define_segment_with_progress(name, expr, &mut crate::output::progress::reporter(&bar));
    bar.finish_and_clear();
    let count = count?;
    let ms = started.elapsed().as_millis();
    let notes = db.segments().into_iter().find(|s| s.name == name).map(|s| s.retained_only).unwrap_or_default();
    let v = json!({"segment": name, "expression": expr, "members": count, "redefined": redefined, "elapsed_ms": ms,
                   "retained_only": notes});
    let verb = if redefined { "redefined" } else { "defined" };
    ctx.out.emit(&v, || {
        let mut out = format!("{verb} segment {name}: {count} members (backfilled in {ms} ms)");
        for n in &notes {
            out.push_str(&format!("\nnote: {n}"));
        }
        out
    })
}

/// The refusal of a redefinition without `--yes`.
fn unconfirmed_redefinition(name: &str) -> CliError {
    CliError::Usage(format!(
        "segment {name} exists: redefining it cannot be undone: the earlier definition is not kept, and its members are \
         re-evaluated under the new one (each profile that enters or leaves gets a feed record; the membership history \
         keeps the earlier definition's rows); add --yes to confirm (see `profiledb segment show {name}`)"
    ))
}

/// `segment show NAME`: the definition, its count and what it reads.
fn show(ctx: &Ctx, name: &str) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    let all = db.segments();
    let info: &SegmentInfo = all.iter().find(|s| s.name == name).ok_or_else(|| no_segment(name))?;
    let catalog: BTreeSet<String> = all.iter().map(|s| s.name.clone()).collect();
    let deps = dependencies(&parse_with_catalog(&info.text, &catalog)?);
    let read_by: Vec<String> = all
        .iter()
        .filter(|s| s.name != name)
        .filter(|s| parse_with_catalog(&s.text, &catalog).is_ok_and(|e| dependencies(&e).segments.contains(name)))
        .map(|s| s.name.clone())
        .collect();
    let list = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>();
    let mut v = data::segment(info);
    if let Value::Object(m) = &mut v {
        m.insert(
            "reads".into(),
            json!({
                "traits": list(&deps.traits), "events": list(&deps.events),
                "identifier_kinds": list(&deps.identifier_kinds), "segments": list(&deps.segments),
                "time_dependent": deps.time_dependent,
            }),
        );
        m.insert("read_by".into(), json!(read_by));
        m.insert("retained_only".into(), json!(info.retained_only));
    }
    mark_stale(&db, &mut v)?;
    ctx.out.emit(&v, || {
        let joined = |set: &BTreeSet<String>| {
            if set.is_empty() {
                "-".to_owned()
            } else {
                set.iter().cloned().collect::<Vec<_>>().join(", ")
            }
        };
        format!(
            "segment     {}\nexpression  {}\nmembers     {}\ndefined at  {}\nreads       traits: {}; events: {}; \
             identifier kinds: {}; segments: {}\ntime        {}\nread by     {}{}",
            info.name,
            info.text,
            info.members,
            info.defined_at,
            joined(&deps.traits),
            joined(&deps.events),
            joined(&deps.identifier_kinds),
            joined(&deps.segments),
            if deps.time_dependent {
                "time-dependent: memberships change as time passes (`tick` applies due changes)"
            } else {
                "changes only when a profile is written"
            },
            if read_by.is_empty() { "-".to_owned() } else { read_by.join(", ") },
            info.retained_only.iter().map(|n| format!("\nretention   {n}")).collect::<String>()
        )
    })
}

/// `query EXPR`.
pub fn query(ctx: &Ctx, a: &QueryArgs) -> Result<(), CliError> {
    let db = open::for_reading(&ctx.db)?;
    warn_unseen_events(&db, &a.expr, "the query's conditions on it count nothing")?;
    let started = Instant::now();
    if a.count && !a.explain {
        let count = db.query_count(&a.expr)?;
        let mut v = json!({"query": a.expr, "count": count, "elapsed_ms": started.elapsed().as_millis()});
        mark_stale_if_reads_segments(&db, &a.expr, &mut v)?;
        return ctx.out.emit(&v, || count.to_string());
    }
    let result = db.query(&a.expr)?;
    let ms = started.elapsed().as_millis();
    let count = result.count();
    if a.count {
        let mut v = json!({"query": a.expr, "count": count, "elapsed_ms": ms, "explain": result.explain()});
        mark_stale_if_reads_segments(&db, &a.expr, &mut v)?;
        return ctx.out.emit(&v, || format!("{count}\n\nPLAN\n{}", indent(&result.explain())));
    }
    let explain = a.explain.then(|| result.explain());
    let ids = result.members(a.page.offset, a.page.limit);
    let title = format!("query matched {count} profiles in {ms} ms");
    let page_json = member_rows(&db, &ids, a.page.resolve)?;
    let mut v = json!({
        "query": a.expr, "count": count, "elapsed_ms": ms, "offset": a.page.offset,
        "members": page_json, "explain": explain,
    });
    mark_stale_if_reads_segments(&db, &a.expr, &mut v)?;
    ctx.out.emit(&v, || {
        let mut out = title;
        if let Some(plan) = &explain {
            out.push_str(&format!("\n\nPLAN\n{}", indent(plan)));
        }
        out.push_str("\n\n");
        out.push_str(&members_text(&ids, &page_json, count, a.page));
        out
    })
}

/// Prints a page of members (a segment's).
fn members(ctx: &Ctx, db: &ProfileDb, what: &str, count: u64, ids: &[ProfileId], page: Page) -> Result<(), CliError> {
    let rows = member_rows(db, ids, page.resolve)?;
    let mut v = json!({"of": what, "count": count, "offset": page.offset, "members": rows});
    mark_stale(db, &mut v)?;
    ctx.out.emit(&v, || format!("{what}: {count} members\n\n{}", members_text(ids, &rows, count, page)))
}

/// How many members [`stream_members`] reads at a time.
const MEMBERS_CHUNK: usize = 1_000;

/// `segment members --json`, streamed: the members are read and written
/// [`MEMBERS_CHUNK`] at a time (the array last), so a large `--limit`
/// does not hold them all.
fn stream_members(db: &ProfileDb, name: &str, count: u64, page: Page) -> Result<(), CliError> {
    let stale = warn_due_wakeups(db)?;
    let mut out = crate::output::stream::JsonStream::begin()?;
    out.field("of", &json!(format!("segment {name}")))?;
    out.field("count", &json!(count))?;
    out.field("offset", &json!(page.offset))?;
    out.field("stale_memberships", &stale)?;
    out.begin_array("members")?;
    let (mut offset, mut left) = (page.offset, page.limit);
    while left > 0 {
        let ids = db.segment_members(name, offset, left.min(MEMBERS_CHUNK))?;
        for row in member_rows(db, &ids, page.resolve)? {
            out.element(&row)?;
        }
        if ids.len() < left.min(MEMBERS_CHUNK) {
            break;
        }
        offset += ids.len() as u64;
        left -= ids.len();
    }
    out.end_array()?;
    out.finish()
}

/// Member rows as JSON: ids, or `{"id", "identifiers"}` with `resolve`.
fn member_rows(db: &ProfileDb, ids: &[ProfileId], resolve: bool) -> Result<Vec<Value>, CliError> {
    ids.iter()
        .map(|id| {
            if resolve {
                let idents: Vec<String> = db.identifiers(*id)?.iter().map(ToString::to_string).collect();
                Ok(json!({"id": id.0, "identifiers": idents}))
            } else {
                Ok(json!(id.0))
            }
        })
        .collect()
}

/// A page of members as a table, with what is left.
fn members_text(ids: &[ProfileId], rows: &[Value], count: u64, page: Page) -> String {
    if ids.is_empty() {
        return "(no members on this page)".into();
    }
    let mut t = Table::new(if page.resolve { &["PROFILE", "IDENTIFIERS"] } else { &["PROFILE"] });
    for (id, row) in ids.iter().zip(rows) {
        let idents = row.get("identifiers").and_then(Value::as_array).map_or(String::new(), |a| {
            a.iter().filter_map(Value::as_str).map(text::escape).collect::<Vec<_>>().join(", ")
        });
        t.row(vec![id.to_string(), idents]);
    }
    let mut out = t.render();
    let shown_to = page.offset + ids.len() as u64;
    if shown_to < count {
        out.push_str(&format!("\n... {} more (--offset {shown_to})", count - shown_to));
    }
    out
}

/// Indents every line by two spaces.
fn indent(s: &str) -> String {
    s.lines().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
}
