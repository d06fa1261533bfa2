//! Reading one profile: get (now or as of a version or time), history,
//! identities.

use profiledb::rollup::{RfmScore, RollupValue};
use profiledb::{Error, Profile, ProfileDb, ProfileId};
use serde_json::{json, Value};

use super::{resolve, Ctx};
use crate::cli::{GetArgs, HistoryArgs, ProfileRef};
use crate::error::CliError;
use crate::open;
use crate::output::{data, json as js, text};
use crate::parse::{self, AsOf, Target};

/// `get`: the profile now, or as it was.
pub fn get(ctx: &Ctx, a: &GetArgs) -> Result<(), CliError> {
    let target = parse::target(&a.profile)?;
    let as_of = a.as_of.as_deref().map(parse::as_of).transpose()?;
    let db = open::for_reading(&ctx.db)?;
    let current = match &target {
        Target::Identifier(i) => db.get(i)?,
        Target::Id(id) => db.get_by_id(*id)?,
    };
    let current = current.ok_or_else(|| CliError::NotFound(format!("no profile has {target}")))?;
    if let (Target::Id(id), None) = (&target, as_of) {
        super::note_merged_away(*id, current.id);
    }
    let identifiers = db.identifiers(current.id)?;
    let extras = Extras::read(&db, current.id)?;
    // As-of reads ask for the id given, not the profile it reaches now: an
    // id that merged away reads its own past before its merge.
    let asked = match &target {
        Target::Identifier(_) => current.id,
        Target::Id(id) => *id,
    };
    let (shown, note): (Profile, Option<String>) = match as_of {
        None => ((*current).clone(), None),
        Some(AsOf::Version(v)) => {
            let p = db.get_as_of_version(asked, v)?;
            (p, Some(format!("as of version {v}; current version {}", current.version)))
        }
        Some(AsOf::Time(t)) => {
            let p = db
                .get_as_of_time(asked, t)?
                .ok_or_else(|| CliError::NotFound(format!("profile {asked} did not exist yet at {t}")))?;
            let note = if p.id == current.id {
                format!("as of {t}: version {}; current version {}", p.version, current.version)
            } else {
                format!(
                    "as of {t}: profile {} version {}; now part of profile {} at version {}",
                    p.id, p.version, current.id, current.version
                )
            };
            (p, Some(note))
        }
    };
    let mut v = js::profile(&shown, &identifiers);
    if let Value::Object(m) = &mut v {
        let as_of_json = match as_of {
            None => Value::Null,
            Some(AsOf::Version(n)) => json!({"version": n}),
            Some(AsOf::Time(t)) => json!({"time": t.to_rfc3339()}),
        };
        m.insert("as_of".into(), as_of_json);
        m.insert("current_version".into(), json!(current.version));
        // The identifiers are always the current ones (an as-of read too).
        m.insert("identifiers_of".into(), json!({"profile": current.id.0, "as_of": "now"}));
        m.insert("rollups".into(), data::rollups_json(&extras.rollups));
        m.insert("segments".into(), json!(extras.segments));
        m.insert("rfm".into(), extras.rfm.as_ref().map_or(Value::Null, data::rfm_score));
    }
    super::segments::mark_stale(&db, &mut v)?;
    ctx.out.emit(&v, || {
        let heading = match as_of {
            None => "IDENTIFIERS".to_owned(),
            Some(_) => format!("IDENTIFIERS (current: those of profile {} now, not as of then)", current.id),
        };
        let mut out = text::profile_headed(&shown, &identifiers, note.as_deref(), &heading);
        out.push_str(&extras.text(as_of.is_some()));
        out
    })
}

/// What `get` shows beside traits: computed from events and segments, always current.
pub struct Extras {
    /// Every rollup, all time, and every event name's count.
    pub rollups: Vec<(String, RollupValue)>,
    /// The segments the profile is in.
    pub segments: Vec<String>,
    /// Its RFM score, if RFM was computed and it purchased.
    pub rfm: Option<RfmScore>,
}

impl Extras {
    /// Reads them for a live profile.
    pub fn read(db: &ProfileDb, id: ProfileId) -> Result<Extras, CliError> {
        let rfm = match db.rfm(id) {
            Ok(s) => s,
            // RFM was never computed: nothing to show.
            Err(Error::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        Ok(Extras { rollups: db.rollups_of(id)?, segments: db.segments_of(id)?, rfm })
    }

    /// The readable sections, after the profile.
    pub fn text(&self, as_of: bool) -> String {
        let mut out = String::from("\n\n");
        if as_of {
            out.push_str("(rollups, segments and RFM below are current)\n");
        }
        out.push_str(&data::rollups_table(&self.rollups));
        out.push_str("\n\nSEGMENTS\n  ");
        out.push_str(&if self.segments.is_empty() { "(none)".to_owned() } else { self.segments.join(", ") });
        if let Some(s) = &self.rfm {
            out.push_str(&format!("\n\n{}", data::rfm_line(s)));
        }
        out
    }
}

/// `history`: the retained deltas, oldest first.
pub fn history(ctx: &Ctx, a: &HistoryArgs) -> Result<(), CliError> {
    let target = parse::target(&a.profile)?;
    let db = open::for_reading(&ctx.db)?;
    let id = resolve(&db, &target)?;
    let deltas = db.history(id)?;
    let version = db.get_by_id(id)?.map_or(0, |p| p.version);
    // Versions before the oldest retained delta can no longer be read.
    let oldest = deltas.first().map_or(version + 1, |d| d.version);
    let folded = (oldest > 1).then(|| oldest - 1);
    let why = folded.map(|f| Missing::find(&db, id, f)).transpose()?;
    let total = deltas.len();
    let skip = a.limit.map_or(0, |n| total.saturating_sub(n));
    let shown = &deltas[skip..];
    let v = json!({
        "profile": id.0,
        "version": version,
        "retained": total,
        "folded_through_version": folded,
        "missing_because": why.as_ref().map(Missing::code),
        "deltas": shown.iter().map(js::delta).collect::<Vec<_>>(),
    });
    ctx.out.emit(&v, || {
        let mut out = text::history(id, shown, total);
        if let (Some(f), Some(why)) = (folded, &why) {
            out.push_str(&format!("\n(versions 1..={f} can no longer be read: {})", why.text()));
        }
        out
    })
}

/// Why the versions before the oldest retained delta are gone, as far as
/// the database records it.
enum Missing {
    /// `anonymize` removed the whole history (its audit record says when).
    Anonymized(profiledb::Timestamp),
    /// Within the recorded history floor: `retain` folded them, or an erase
    /// redacted them (a person erased whose identifiers reached this
    /// profile); the database does not record which.
    Folded,
    /// Missing though the recorded floor is lower: not removed by any
    /// operation the database records.
    Unexplained { floor: u64 },
}

impl Missing {
    /// Reads the profile's history floor and the audit log.
    fn find(db: &ProfileDb, id: ProfileId, through: u64) -> Result<Missing, CliError> {
        let anonymized = db
            .audit_log()?
            .into_iter()
            .filter(|r| r.profile == id.0 && r.action == profiledb::privacy::AuditAction::Anonymize)
            .map(|r| r.at)
            .next_back();
        let floor = db.history_floor(id)?;
        Ok(match anonymized {
            Some(at) => Missing::Anonymized(at),
            None if floor >= through => Missing::Folded,
            None => Missing::Unexplained { floor },
        })
    }

    /// For `--json`.
    fn code(&self) -> &'static str {
        match self {
            Missing::Anonymized(_) => "anonymized",
            Missing::Folded => "retain_or_erase",
            Missing::Unexplained { .. } => "unexplained",
        }
    }

    /// For people.
    fn text(&self) -> String {
        match self {
            Missing::Anonymized(at) => format!("`anonymize` removed them at {at} (see `profiledb audit`)"),
            Missing::Folded => "folded by `retain`, or redacted when a person whose identifiers reached this \
                                profile was erased"
                .into(),
            Missing::Unexplained { floor } => format!(
                "no retain, anonymize or erase recorded by the database removed them (its history floor is \
                 version {floor}), so the data may be damaged; run `profiledb check`"
            ),
        }
    }
}

/// `identities`: the identity graph.
pub fn identities(ctx: &Ctx, r: &ProfileRef) -> Result<(), CliError> {
    let target = parse::target(r)?;
    let db = open::for_reading(&ctx.db)?;
    let id = resolve(&db, &target)?;
    let graph = db.identity_graph(id)?;
    let v = json!({"profile": id.0, "identifiers": graph.iter().map(js::identity).collect::<Vec<_>>()});
    ctx.out.emit(&v, || text::identities(id, &graph))
}
