//! What the demo prints: the load, the counts, one stitched customer
//! (identity graph, traits, rollups, segments, RFM, how it was stitched),
//! the segments, a query with its plan, and the RFM distribution.

use std::time::{Duration, Instant};

use profiledb::{Change, Delta, Identifier, ProfileDb};
use serde_json::{json, Value};

use super::data::{Dataset, Person};
use super::{LoadStats, QUERY};
use crate::cli::DemoArgs;
use crate::commands::admin::merged_ids;
use crate::commands::profile::Extras;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::{data as out, human_bytes, json as js, text, thousands};

/// The newest history rows shown for the customer, after the stitching ones.
const NEWEST_ROWS: usize = 3;

/// Prints the demo's report.
pub fn report(
    ctx: &Ctx,
    a: &DemoArgs,
    db: &ProfileDb,
    data: &Dataset,
    stats: &LoadStats,
    generate_time: Duration,
) -> Result<(), CliError> {
    let profiles = db.profile_count()?;
    let identifiers = db.identifier_count()?;
    let merges = merged_ids(db)?;
    let person = showcase(data).ok_or_else(|| CliError::NotFound("no person in the dataset".into()))?;
    let email = Identifier::new("email", &person.email)?;
    let current =
        db.get(&email)?.ok_or_else(|| CliError::NotFound(format!("the demo customer {email} was not written")))?;
    let id = current.id;
    let ids = db.identifiers(id)?;
    let graph = db.identity_graph(id)?;
    let history = db.history(id)?;
    let extras = Extras::read(db, id)?;
    let shown = story(&history);
    let segments = db.segments();
    // The members now, after the tick (the backfill counts are before it).
    let counts: Vec<(String, u64, u64, Duration)> = stats
        .segments
        .iter()
        .map(|(n, backfilled, t)| Ok((n.clone(), db.segment_count(n)?, *backfilled, *t)))
        .collect::<Result<_, CliError>>()?;
    let files = crate::commands::disk_usage::DirUsage::of(&a.dir)?;
    let started = Instant::now();
    let query = db.query(QUERY)?;
    let query_ms = started.elapsed().as_secs_f64() * 1000.0;
    let secs = stats.ingest.as_secs_f64();
    let rate = if secs > 0.0 { stats.events as f64 / secs } else { 0.0 };
    let rfm = stats.rfm.as_ref();

    let v = json!({
        "dir": a.dir.display().to_string(),
        "people": data.people.len(),
        "seed": a.seed,
        "start": profiledb::Timestamp(data.start).to_rfc3339(),
        "end": profiledb::Timestamp(data.end).to_rfc3339(),
        "events": stats.events,
        "batches": stats.batches,
        "generate_ms": generate_time.as_millis(),
        "ingest_ms": stats.ingest.as_millis(),
        "events_per_sec": rate.round(),
        "profiles": profiles,
        "identifiers": identifiers,
        "merged_ids": merges,
        "merges": merges,
        "rollups": db.rollup_defs().iter().map(out::rollup_def).collect::<Vec<_>>(),
        "segments": counts.iter().map(|(n, c, backfilled, t)| json!({
            "name": n, "members": c, "members_at_backfill": backfilled, "backfill_ms": t.as_millis(),
            "expression": segments.iter().find(|s| &s.name == n).map(|s| s.text.clone()),
        })).collect::<Vec<_>>(),
        "ticked": stats.ticked,
        "customer": {
            "identifier": email.to_string(),
            "profile": js::profile(&current, &ids),
            "identities": graph.iter().map(js::identity).collect::<Vec<_>>(),
            "rollups": out::rollups_json(&extras.rollups),
            "segments": extras.segments,
            "rfm": extras.rfm.as_ref().map_or(Value::Null, out::rfm_score),
            "history": shown.iter().map(js::delta).collect::<Vec<_>>(),
            "history_retained": history.len(),
        },
        "query": {"expression": QUERY, "count": query.count(), "explain": query.explain(), "elapsed_ms": query_ms},
        "rfm": rfm.map_or(Value::Null, out::rfm_report),
        "rfm_ms": stats.rfm_time.as_millis(),
        "compact_ms": stats.compact_time.as_millis(),
        "directory_bytes": files.total(), "wal_bytes": files.wal,
    });
    ctx.out.emit(&v, || {
        let dir = a.dir.display();
        let mut o = format!(
            "profiledb demo: {} people, {} events from {} to {} (seed {})\n\
             ingested in {secs:.2} s ({} events/s, {} batches; generating took {} ms) into {dir}\n\n\
             DATABASE\n  profiles     {}\n  identifiers  {}\n  merged ids   {}  (profiles of anonymous visitors and \
             newsletter emails merged into customers)\n  rollups      {} declared\n",
            thousands(data.people.len() as u64),
            thousands(stats.events),
            profiledb::Timestamp(data.start).to_rfc3339(),
            profiledb::Timestamp(data.end).to_rfc3339(),
            a.seed,
            thousands(rate.round() as u64),
            thousands(stats.batches),
            generate_time.as_millis(),
            thousands(profiles),
            thousands(identifiers),
            thousands(merges),
            db.rollup_defs().len(),
        );
        o.push_str(&format!("\nONE STITCHED CUSTOMER: {email}\n\n"));
        o.push_str(&text::identities(id, &graph));
        o.push_str("\n\n");
        o.push_str(&text::profile(&current, &ids, None));
        o.push_str(&extras.text(false));
        o.push_str(&format!(
            "\n\nHOW IT WAS STITCHED, and the newest changes ({} of {} deltas)\n\n{}",
            shown.len(),
            history.len(),
            text::history_table(&shown)
        ));
        let mut t = crate::output::table::Table::new(&["SEGMENT", "MEMBERS", "BACKFILL", "EXPRESSION"]);
        for (name, n, _, took) in &counts {
            let expr = segments.iter().find(|s| &s.name == name).map_or(String::new(), |s| s.text.clone());
            t.row(vec![name.clone(), thousands(*n), format!("{} ms", took.as_millis()), expr]);
        }
        o.push_str(&format!(
            "\n\nSEGMENTS (defined over the loaded data, then {} due wake-ups processed at now; members as of now)\n\n{}",
            thousands(stats.ticked),
            t.render()
        ));
        o.push_str(&format!(
            "\n\nQUERY  {QUERY}\n  {} profiles in {query_ms:.1} ms\n  plan:\n{}",
            thousands(query.count()),
            query.explain().lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
        ));
        if let Some(r) = rfm {
            o.push_str(&format!("\n\n{}", out::rfm_text(r, 8)));
        }
        o.push_str(&format!(
            "\n\nFILES  {} in {dir} (write-ahead log {}), flushed and compacted in {} ms",
            human_bytes(files.total()),
            human_bytes(files.wal),
            stats.compact_time.as_millis()
        ));
        o.push_str(&format!(
            "\n\nTry:\n  profiledb --db {dir} get {email}\n  profiledb --db {dir} events {email} --limit 10\n  \
             profiledb --db {dir} segment list\n  profiledb --db {dir} segment members high_value --resolve\n  \
             profiledb --db {dir} query 'in high_value and traits.country = \"NO\"' --explain\n  \
             profiledb --db {dir} rollup show {email} revenue --window 30d\n  profiledb --db {dir} check --tick"
        ));
        o
    })
}

/// The deltas that tell the customer's story: every merge and every
/// delta that linked identifiers, then the newest few.
fn story(history: &[Delta]) -> Vec<Delta> {
    let newest = history.len().saturating_sub(NEWEST_ROWS);
    history
        .iter()
        .enumerate()
        .filter(|(i, d)| *i >= newest || !d.linked.is_empty() || matches!(d.change, Change::Merge { .. }))
        .map(|(_, d)| d.clone())
        .collect()
}

/// The most interesting person: the highest showcase score, the first on a tie.
fn showcase(data: &Dataset) -> Option<&Person> {
    data.people.iter().filter(|p| p.signed_up).rev().max_by_key(|p| p.showcase)
}
