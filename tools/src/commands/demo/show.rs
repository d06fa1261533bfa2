//! What the demo prints: the load, the counts, and one stitched customer
//! (identity graph, traits, recent history, and the profile as of an
//! older version).

use std::time::Duration;

use profiledb::{Change, Delta, Identifier, Profile, ProfileDb};
use serde_json::{json, Value};

use super::data::{Dataset, Person};
use super::LoadStats;
use crate::cli::DemoArgs;
use crate::commands::Ctx;
use crate::error::CliError;
use crate::output::{json as js, text};

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
    let identifiers = db.dump_cf("identity")?.len() as u64;
    let person = showcase(data).ok_or_else(|| CliError::NotFound("no person in the dataset".into()))?;
    let email = Identifier::new("email", &person.email)?;
    let current =
        db.get(&email)?.ok_or_else(|| CliError::NotFound(format!("the demo customer {email} was not written")))?;
    let id = current.id;
    let ids = db.identifiers(id)?;
    let graph = db.identity_graph(id)?;
    let history = db.history(id)?;
    // The version right after signup (when the user_id was linked), if older than now.
    let older = history
        .iter()
        .find(|d| d.linked.iter().any(|i| i.kind() == "user_id"))
        .map(|d| d.version)
        .filter(|v| *v < current.version)
        .or((current.version > 1).then(|| current.version - 1));
    let then: Option<Profile> = older.map(|v| db.get_as_of_version(id, v)).transpose()?;
    let shown = story(&history);
    let secs = stats.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { stats.writes as f64 / secs } else { 0.0 };

    let v = json!({
        "dir": a.dir.display().to_string(),
        "people": data.people.len(),
        "seed": a.seed,
        "writes": stats.writes,
        "generate_ms": generate_time.as_millis(),
        "load_ms": stats.elapsed.as_millis(),
        "writes_per_sec": rate.round(),
        "simulated_until": stats.last_at.to_rfc3339(),
        "profiles": profiles,
        "identifiers": identifiers,
        "merges": stats.merges,
        "customer": {
            "identifier": email.to_string(),
            "profile": js::profile(&current, &ids),
            "identities": graph.iter().map(js::identity).collect::<Vec<_>>(),
            "history": shown.iter().map(js::delta).collect::<Vec<_>>(),
            "history_retained": history.len(),
            "as_of": then.as_ref().map_or(Value::Null, |p| json!({"version": p.version, "profile": p.to_json()})),
        },
    });
    ctx.out.emit(&v, || {
        let dir = a.dir.display();
        let mut out = format!(
            "profiledb demo: {} people, {} writes from {} to {} (seed {})\n\
             loaded in {:.2} s ({} writes/s; generating took {} ms) into {dir}\n\n\
             DATABASE\n  profiles     {}\n  identifiers  {}\n  merges       {}  (anonymous and newsletter \
             profiles stitched into customers)\n",
            thousands(data.people.len() as u64),
            thousands(stats.writes),
            profiledb::Timestamp(super::data::START).to_rfc3339(),
            stats.last_at.to_rfc3339(),
            a.seed,
            secs,
            thousands(rate.round() as u64),
            generate_time.as_millis(),
            thousands(profiles),
            thousands(identifiers),
            thousands(stats.merges),
        );
        out.push_str(&format!("\nONE STITCHED CUSTOMER: {email}\n\n"));
        out.push_str(&text::identities(id, &graph));
        out.push_str("\n\n");
        out.push_str(&text::profile(&current, &ids, None));
        out.push_str("\n\n");
        out.push_str(&format!(
            "HISTORY: how the profile was stitched, and the newest changes ({} of {} deltas)\n\n{}",
            shown.len(),
            history.len(),
            text::history_table(&shown)
        ));
        if let Some(p) = &then {
            out.push_str(&format!(
                "\n\nAS OF VERSION {} ({}; current version {})\n\n{}",
                p.version,
                p.updated_at,
                current.version,
                text::traits(&p.traits)
            ));
        }
        out.push_str(&format!(
            "\n\nTry:\n  profiledb --db {dir} get {email}\n  profiledb --db {dir} history {email}\n  \
             profiledb --db {dir} identities {email}\n  profiledb --db {dir} get {email} --as-of {}\n  \
             profiledb --db {dir} stats",
            older.unwrap_or(1)
        ));
        out
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
    data.people.iter().rev().max_by_key(|p| p.showcase)
}

/// `12345` → `12,345`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::thousands;

    #[test]
    fn groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234), "1,234");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }
}
