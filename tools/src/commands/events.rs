//! Events and what is computed from them: `track`, `events`, `rollup
//! declare|list|show`, `rfm compute|score`.

use profiledb::event::{parse_line_reporting, EventFormat};
use profiledb::rollup::{Aggregate, RfmConfig, RollupDef, Window};
use profiledb::{
    Error, EventCursor, EventOrder, EventRef, EventsPage, IngestOutcome, NotFoundKind, ProfileDb, ProfileId, Timestamp,
};
use serde_json::json;

use super::{resolve, unseen, Ctx};
use crate::cli::{Aggregation, EventsArgs, RfmCommand, RollupCommand, RollupDeclareArgs, TrackArgs};
use crate::error::CliError;
use crate::open;
use crate::output::{data, json as js, text};
use crate::parse::{self, Target};

/// `track JSON`: one event, atomically.
pub fn track(ctx: &Ctx, a: &TrackArgs) -> Result<(), CliError> {
    let format: EventFormat = a.format.parse()?;
    let schemas = a.ingest.schemas.as_deref().map(parse::schemas).transpose()?;
    // Malformed JSON is reported before the open (which a running writer's
    // lock can refuse); the event itself is checked against the database's
    // limits once open.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(&a.event) {
        return Err(CliError::Usage(format!("malformed JSON in the event argument: {e}")));
    }
    let db = open::for_ingest(&ctx.db, schemas, &a.ingest)?;
    let (event, skipped) = parse_line_reporting(&a.event, format, "argument", &db.event_limits())?;
    let outcome = db.track(&event)?;
    // What of the message was left out, on stderr (the exit code stays 0).
    if matches!(outcome, IngestOutcome::Applied(_)) {
        for id in &skipped.identifiers {
            eprintln!("warning: {} not linked: field {:?}: {}", id.identifier, id.field, id.reason);
        }
        for t in &skipped.traits {
            eprintln!("warning: trait not stored: field {:?}: {}", t.field, t.reason);
        }
    }
    match outcome {
        IngestOutcome::Applied(r) => {
            let mut v = js::receipt(&r);
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("duplicate".into(), json!(false));
            }
            ctx.out.emit(&v, || format!("{} {:?} applied\n{}", event.kind, event.name, text::receipt(&r)))
        }
        IngestOutcome::Duplicate { first_seen, .. } => {
            let v = json!({"duplicate": true, "first_seen": first_seen.to_rfc3339()});
            ctx.out
                .emit(&v, || format!("duplicate: message id first seen at {first_seen}; acknowledged, nothing changed"))
        }
        _ => ctx.out.emit(&json!({"duplicate": false}), || "acknowledged".into()),
    }
}

/// `events IDENTIFIER|--id N [--from T] [--to T] [--limit N] [--oldest] [--next CURSOR]`: one page of the
/// timeline (only it is read), printed oldest first, and the cursor of the next page when there are more.
pub fn events(ctx: &Ctx, a: &EventsArgs) -> Result<(), CliError> {
    let target = parse::target(&a.profile)?;
    let (from, to) = parse::time_range(a.from.as_deref(), a.to.as_deref())?;
    let after = a
        .next
        .as_deref()
        .map(|c| c.parse::<EventCursor>().map_err(|e| CliError::Usage(format!("--next: {e}"))))
        .transpose()?;
    let order = if a.oldest { EventOrder::OldestFirst } else { EventOrder::NewestFirst };
    if let Some(c) = after.filter(|c| c.order() != order) {
        let (flag, printed) = if a.oldest { ("with", "without") } else { ("without", "with") };
        return Err(CliError::Usage(format!(
            "--next {c}: that cursor was printed by a run {printed} --oldest; run {flag} it to continue it \
             (give the same --oldest, --from and --to as the run that printed it)"
        )));
    }
    let db = open::for_reading(&ctx.db)?;
    let id = resolve(&db, &target)?;
    let page = EventsPage { from, to, order, limit: a.limit, after };
    let (mut shown, next) = db.events_page(id, page).map_err(|e| match e {
        Error::InvalidInput(m) if after.is_some() => CliError::Usage(format!("--next: {m}")),
        other => other.into(),
    })?;
    if order == EventOrder::NewestFirst {
        shown.reverse();
    }
    let next = next.map(|c| c.to_string());
    let mut v = json!({"profile": id.0});
    if let serde_json::Value::Object(m) = &mut v {
        // The whole range on one page: its count (counting a cut range
        // would read all of it).
        if next.is_none() && after.is_none() {
            m.insert("total".into(), json!(shown.len()));
        }
        m.insert("events".into(), shown.iter().map(data::event).collect());
        m.insert("more".into(), json!(next.is_some()));
        m.insert("next".into(), json!(next));
    }
    ctx.out.emit(&v, || {
        let which = match (a.oldest, a.next.is_some()) {
            (false, false) => "newest",
            (false, true) => "next older",
            (true, false) => "oldest",
            (true, true) => "next newer",
        };
        let title = match &next {
            Some(_) => format!("events of profile {id} ({which} {})", shown.len()),
            None if a.next.is_some() => format!("events of profile {id} ({which} {}, the last)", shown.len()),
            None => format!("events of profile {id} ({})", shown.len()),
        };
        let more = match &next {
            Some(c) => format!("\n\nmore: --next {c}"),
            None => String::new(),
        };
        format!("{title}\n\n{}{more}", data::events_table(&shown))
    })
}

/// `rollup declare|list|show`.
pub fn rollup(ctx: &Ctx, cmd: RollupCommand) -> Result<(), CliError> {
    match cmd {
        RollupCommand::Declare(a) => {
            let def = rollup_def(&a)?;
            def.validate()?;
            let db = open::for_writing(&ctx.db)?;
            let existed = db.rollup_defs().contains(&def);
            if !existed {
                if let Some(r) = unseen::first_unseen(&db, &def.event, def.aggregate.property())? {
                    unseen::warn(&r, "the rollup stays empty until such events are ingested");
                }
            }
            let bar = crate::output::progress::backfill();
            let started = std::time::Instant::now();
            let declared = db.declare_rollup_with_progress(def.clone(), &mut crate::output::progress::reporter(&bar));
            bar.finish_and_clear();
            declared?;
            let ms = started.elapsed().as_millis();
            let mut v = data::rollup_def(&def);
            if let serde_json::Value::Object(m) = &mut v {
                m.insert("already_declared".into(), json!(existed));
                m.insert("elapsed_ms".into(), json!(ms));
            }
            ctx.out.emit(&v, || {
                if existed {
                    format!("rollup {} was already declared with this definition; nothing to do", def.name)
                } else {
                    format!("declared rollup {} and backfilled it from stored events in {ms} ms", def.name)
                }
            })
        }
        RollupCommand::Drop { name } => {
            let db = open::for_writing(&ctx.db)?;
            db.drop_rollup(&name).map_err(|e| match e {
                Error::NotFound(what) => CliError::NotFound(format!("{what} (see `profiledb rollup list`)")),
                other => other.into(),
            })?;
            ctx.out.emit(&json!({"dropped": name}), || format!("dropped rollup {name}"))
        }
        RollupCommand::List => {
            let db = open::for_reading(&ctx.db)?;
            let mut defs = db.rollup_defs();
            defs.sort_by(|a, b| a.name.cmp(&b.name));
            let v = json!({"rollups": defs.iter().map(data::rollup_def).collect::<Vec<_>>()});
            ctx.out.emit(&v, || data::rollup_defs_table(&defs))
        }
        RollupCommand::Show { identifier, name, id, window } => {
            // With --id, the first word is the rollup's name.
            let (target, name) = match (identifier, name, id) {
                (first, None, Some(n)) | (None, first @ Some(_), Some(n)) => (Target::Id(ProfileId(n)), first),
                (Some(_), Some(_), Some(_)) => {
                    return Err(CliError::Usage("give an IDENTIFIER or --id N, not both".into()));
                }
                (Some(i), name, None) => (Target::Identifier(parse::identifier(&i)?), name),
                (None, _, None) => return Err(CliError::Usage("give an IDENTIFIER or --id N".into())),
            };
            let window = parse::window(&window)?;
            let db = open::for_reading(&ctx.db)?;
            let id = resolve(&db, &target)?;
            match name {
                None => {
                    if window != Window::All {
                        return Err(CliError::Usage("--window needs a rollup NAME".into()));
                    }
                    let values = db.rollups_of(id)?;
                    let v = json!({"profile": id.0, "rollups": data::rollups_json(&values)});
                    ctx.out.emit(&v, || format!("rollups of profile {id}\n\n{}", data::rollups_table(&values)))
                }
                Some(name) => {
                    let value = db.rollup(id, &name, window).map_err(|e| match e {
                        Error::NotFound(what) if what.kind == NotFoundKind::Rollup => {
                            CliError::NotFound(format!("{what} (see `profiledb rollup list`)"))
                        }
                        other => other.into(),
                    })?;
                    let w = window_text(window);
                    let v = json!({"profile": id.0, "rollup": name, "window": w, "value": value.to_json()});
                    ctx.out.emit(&v, || format!("{name} ({w}) = {}", data::rollup_value(&value)))
                }
            }
        }
    }
}

/// A window for people and JSON: `all`, `7d`, `FROM..TO`.
fn window_text(w: Window) -> String {
    match w {
        Window::All => "all".into(),
        Window::Last(ms) => format!("{}d", (ms + Timestamp::DAY - 1) / Timestamp::DAY),
        Window::Between(a, b) => format!("{a}..{b}"),
        Window::Rolling(ms) if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        Window::Rolling(ms) => format!("{ms}ms"),
    }
}

/// Builds a rollup definition from `rollup declare`'s arguments.
fn rollup_def(a: &RollupDeclareArgs) -> Result<RollupDef, CliError> {
    // The spelling the user typed (`most-frequent`), not the enum's.
    let agg = agg_name(a.aggregate);
    let reading: Vec<String> = <Aggregation as clap::ValueEnum>::value_variants()
        .iter()
        .filter(|v| v.reads_property())
        .map(|v| agg_name(*v))
        .collect();
    let reading = reading.join(", ");
    let prop = || {
        a.property.clone().ok_or_else(|| {
            CliError::Usage(format!("--agg {agg} needs --property (the aggregates that read one: {reading})"))
        })
    };
    let aggregate = match a.aggregate {
        Aggregation::Count => Aggregate::Count,
        Aggregation::Sum => Aggregate::Sum(prop()?),
        Aggregation::Min => Aggregate::Min(prop()?),
        Aggregation::Max => Aggregate::Max(prop()?),
        Aggregation::Avg => Aggregate::Avg(prop()?),
        Aggregation::First => Aggregate::First,
        Aggregation::Last => Aggregate::Last,
        Aggregation::ActiveDays => Aggregate::ActiveDays,
        Aggregation::MostFrequent => Aggregate::MostFrequent(prop()?),
        Aggregation::Unique => Aggregate::Unique(prop()?),
    };
    if aggregate.property().is_none() && a.property.is_some() {
        return Err(CliError::Usage(format!(
            "--agg {agg} reads no property; drop --property (the aggregates that read one: {reading})"
        )));
    }
    let mut def = RollupDef::new(&a.name, &a.event, aggregate);
    for f in &a.filters {
        def.filter.push(parse::filter(f)?);
    }
    Ok(def)
}

/// Refuses an RFM amount property that no stored purchase event has (each
/// spend would be 0, the stored model replaced and a rollup of it declared
/// for good), unless a declared rollup already sums it (its events may
/// have been trimmed since) or `--allow-unseen` says to go on (a warning).
/// An event name never seen is left to the library, which refuses it
/// unless a rollup names it.
fn check_rfm_amount(db: &ProfileDb, event: &str, amount: &str, allow_unseen: bool) -> Result<(), CliError> {
    let summed = db
        .rollup_defs()
        .iter()
        .any(|d| d.event == event && d.filter.is_empty() && d.aggregate == Aggregate::Sum(amount.to_owned()));
    if summed {
        return Ok(());
    }
    let missing = match unseen::first_unseen(db, event, Some(amount))? {
        // An event name never seen is the problem to report: the library's.
        None | Some(EventRef { property: None, .. }) => return Ok(()),
        Some(missing) => missing,
    };
    let consequence =
        "every profile's spend would be 0, the stored RFM model replaced and a rollup summing it declared";
    if allow_unseen {
        unseen::warn(&missing, consequence);
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "{}: {consequence}; nothing was done. Check the name (see a purchase with `profiledb events`), or pass \
         --allow-unseen to compute anyway",
        unseen::describe(&missing)
    )))
}

/// Warns when every buyer's spend is 0 (or less): every monetary cut is 0
/// and every buyer scored M1, so no purchase carried the amount as a number
/// — most often because it was sent as a string (`"12.50"`), which sums
/// leave out.
fn warn_if_no_spend(report: &profiledb::rollup::RfmReport) {
    let m = &report.model;
    let all_m1 = report.distribution.keys().all(|code| code.ends_with('1'));
    if m.profiles > 0 && all_m1 && m.monetary_cuts.iter().all(|c| *c <= 0.0) {
        eprintln!(
            "warning: every buyer's spend is 0: no {:?} event carries {:?} as a number (a value sent as a string, \
             such as \"12.50\", is not summed; look at a purchase with `profiledb events`), so the M score says \
             nothing",
            m.config.event, m.config.amount
        );
    }
}

/// An aggregation as the command line spells it (`active-days`).
fn agg_name(a: Aggregation) -> String {
    clap::ValueEnum::to_possible_value(&a).map_or_else(|| format!("{a:?}"), |v| v.get_name().to_owned())
}

/// `rfm compute|score`.
pub fn rfm(ctx: &Ctx, cmd: RfmCommand) -> Result<(), CliError> {
    match cmd {
        RfmCommand::Compute { event, amount, allow_unseen } => {
            let db = open::for_writing(&ctx.db)?;
            check_rfm_amount(&db, &event, &amount, allow_unseen)?;
            let report = db.compute_rfm(RfmConfig { event, amount })?;
            ctx.out.emit(&data::rfm_report(&report), || data::rfm_text(&report, 10))?;
            warn_if_no_spend(&report);
            Ok(())
        }
        RfmCommand::Score(profile) => {
            let target = parse::target(&profile)?;
            let db = open::for_reading(&ctx.db)?;
            let id = resolve(&db, &target)?;
            let score = db.rfm(id).map_err(|e| match e {
                // The library's message names its own function (compute_rfm): say the command.
                Error::NotFound(what) if what.kind == NotFoundKind::RfmModel => CliError::NotFound(
                    "no RFM model: run `profiledb rfm compute` first (it scores every profile that purchased)".into(),
                ),
                other => other.into(),
            })?;
            let v = json!({"profile": id.0, "rfm": score.as_ref().map(data::rfm_score)});
            ctx.out.emit(&v, || match &score {
                Some(s) => format!("profile {id}: {}", data::rfm_line(s)),
                None => format!("profile {id} has no purchase: no RFM score"),
            })
        }
    }
}
