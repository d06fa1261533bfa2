//! profiledb through its public API, using its own features for the whole
//! job:
//!
//! - **Rollups** are declared once ([`RollupDef`]: a count per event name,
//!   the sum of purchase amounts, the time of the last purchase) and
//!   computed by profiledb from events; nothing is counted by hand.
//! - **Events** go through [`ProfileDb::track`]: identity resolution,
//!   stitching (an event carrying a visitor's anonymous id and a user id
//!   merges the two), rollups, the timeline and segment maintenance in one
//!   call and one atomic batch.
//! - **Segments** are the workload's 20 definitions in profiledb's
//!   expression language (`Segment::expr` of the workload), kept exact by every write;
//!   counts are [`ProfileDb::query_count`] over the segment bitmaps, membership is
//!   [`ProfileDb::in_segment`].
//!
//! The load writes each profile's traits with `identify` and its event
//! history (the events behind its loaded rollups) with `ingest_batch`, then
//! defines the segments, which backfills them.

use std::path::Path;

use profiledb::event::{Event as PdbEvent, EventKind as PdbKind};
use profiledb::rollup::{Aggregate, RollupDef, RollupValue, Window};
use profiledb::{Identifier, Profile, ProfileDb, ProfileId, Timestamp, TraitValue, Update};

use super::Store;
use crate::error::{Context, Error, Result};
use crate::workload::{CountQuery, Event, EventKind, Ident, Rollups, Seed, TraitSet, View, COUNT_QUERIES, SEGMENTS};

/// The rollups the workload reads, in [`Rollups`] field order.
const ROLLUPS: [(&str, &str, RollupKind); 5] = [
    ("page_views", "page_view", RollupKind::Count),
    ("add_to_carts", "add_to_cart", RollupKind::Count),
    ("purchases", "purchase", RollupKind::Count),
    ("purchase_sum", "purchase", RollupKind::SumAmount),
    ("last_purchase_at", "purchase", RollupKind::Last),
];

#[derive(Clone, Copy)]
enum RollupKind {
    Count,
    SumAmount,
    Last,
}

/// Events per `ingest_batch` call while loading.
const LOAD_EVENTS: usize = 8_192;

/// A profiledb database and the count queries in its language.
pub struct Pdb {
    db: ProfileDb,
    dir: std::path::PathBuf,
    cache_entries: usize,
    /// Profiles the run makes (loaded + the event stream's visitors).
    run_profiles: usize,
    /// Days the loaded event history spans (0: a few, see `Seed::history_over`).
    history_days: u32,
    /// `in a and in b and not in c` for each of [`COUNT_QUERIES`].
    queries: Vec<String>,
}

/// Identifier resolutions cached per cached profile: a profile has a user
/// id and an email, 30 % an anonymous id too, and visitors one each.
pub const IDENTIFIERS_PER_PROFILE: usize = 3;
/// Rollup (profile, series) pairs cached per cached profile: one profile
/// slot each (a slot is 4 pairs; a profile keeps every series it is read by).
pub const ROLLUP_PAIRS_PER_PROFILE: usize = 4;
/// Pending wake-ups cached per cached profile: one profile slot each.
pub const WAKEUPS_PER_PROFILE: usize = 8;

/// Opens a fresh database in `dir` whose caches hold `cache_entries`
/// profiles (their records, identifiers, rollups and wake-ups — as the
/// other stores keep their working set in memory) and declares the
/// workload's rollups. `run_profiles` is how many profiles the run makes
/// (for the report's budget text); the history it loads spans
/// `history_days` days ([`Seed::history_over`]).
pub fn open(dir: &Path, cache_entries: usize, run_profiles: usize, history_days: u32) -> Result<Box<dyn Store>> {
    let db = ProfileDb::builder(dir)
        .profile_cache_entries(cache_entries)
        .identity_cache_entries(cache_entries * IDENTIFIERS_PER_PROFILE)
        .rollup_cache_entries(cache_entries * ROLLUP_PAIRS_PER_PROFILE)
        .wakeup_cache_entries(cache_entries * WAKEUPS_PER_PROFILE)
        .open()
        .with_context(|| format!("opening profiledb at {}", dir.display()))?;
    for (name, event, kind) in ROLLUPS {
        let aggregate = match kind {
            RollupKind::Count => Aggregate::Count,
            RollupKind::SumAmount => Aggregate::Sum("amount".into()),
            RollupKind::Last => Aggregate::Last,
        };
        db.declare_rollup(RollupDef::new(name, event, aggregate))
            .with_context(|| format!("declaring rollup {name}"))?;
    }
    let queries = COUNT_QUERIES
        .iter()
        .map(|q| {
            format!("in {} and in {} and not in {}", SEGMENTS[q.a].name, SEGMENTS[q.b].name, SEGMENTS[q.not_c].name)
        })
        .collect();
    Ok(Box::new(Pdb { db, dir: dir.to_owned(), cache_entries, run_profiles, history_days, queries }))
}

fn identifier(id: &Ident) -> Result<Identifier> {
    Ok(Identifier::new(id.kind.as_str(), &id.value)?)
}

/// The workload's event as a profiledb track event (identifiers sorted, as
/// events require; the purchase amount as the `amount` property).
fn event(ev: &Event) -> Result<PdbEvent> {
    let mut ids = ev.idents.iter().map(identifier).collect::<Result<Vec<_>>>()?;
    ids.sort();
    ids.dedup();
    let name = match ev.kind {
        EventKind::PageView => "page_view",
        EventKind::AddToCart => "add_to_cart",
        EventKind::Purchase => "purchase",
    };
    let mut e = PdbEvent::new(PdbKind::Track, name, Timestamp::from_millis(ev.at), ids);
    if ev.kind == EventKind::Purchase {
        e.properties.insert("amount", ev.amount);
    }
    Ok(e)
}

fn view_of(p: &Profile, r: Rollups) -> View {
    let t = &p.traits;
    let s = |k: &str| match t.get(k) {
        Some(TraitValue::Str(s)) => s.to_string(),
        _ => String::new(),
    };
    let i = |k: &str| match t.get(k) {
        Some(TraitValue::Int(i)) => *i,
        Some(TraitValue::Time(ts)) => ts.millis(),
        _ => 0,
    };
    View {
        plan: s("plan"),
        country: s("country"),
        age: i("age"),
        ltv: t.get("ltv").and_then(TraitValue::as_f64).unwrap_or_default(),
        signup_at: i("signup_at"),
        tags: match t.get("tags") {
            Some(TraitValue::List(l)) => l.clone(),
            _ => Vec::new(),
        },
        email_opt_in: matches!(t.get("email_opt_in"), Some(TraitValue::Bool(true))),
        language: s("language"),
        device: s("device"),
        company_size: i("company_size"),
        r,
    }
}

impl Pdb {
    /// The five declared rollups of a live profile, all time.
    fn rollups(&self, p: ProfileId) -> Result<Rollups> {
        let mut r = Rollups::default();
        for (name, _, _) in ROLLUPS {
            let v = self.db.rollup(p, name, Window::All)?;
            let (n, x, t) = match v {
                RollupValue::Count(n) => (n as i64, 0.0, 0),
                RollupValue::Number(x) => (0, x.unwrap_or_default(), 0),
                RollupValue::Time(t) => (0, 0.0, t.map_or(0, |t| t.millis())),
                other => return Err(Error::msg(format!("rollup {name}: unexpected value {other:?}"))),
            };
            match name {
                "page_views" => r.page_views = n,
                "add_to_carts" => r.add_to_carts = n,
                "purchases" => r.purchases = n,
                "purchase_sum" => r.purchase_sum = x,
                _ => r.last_purchase_at = t,
            }
        }
        Ok(r)
    }
}

impl Store for Pdb {
    fn name(&self) -> &'static str {
        "profiledb"
    }

    fn describe(&self) -> String {
        format!(
            "profiledb {} (format {}), durability WAL without fsync, profile cache {} entries; \
             {} declared rollups, {} segments in the expression language, events through `track`",
            env!("CARGO_PKG_VERSION"),
            ProfileDb::format_version(),
            self.cache_entries,
            ROLLUPS.len(),
            SEGMENTS.len()
        )
    }

    fn scope(&self) -> &'static str {
        "keeps more than the others: every trait change as a versioned delta (history, point-in-time reads), \
         every event on the profile's timeline, rollups as time-bucketed series (any window can be asked; \
         this workload reads only all-time values), identity merges as aliases, and segments maintained by \
         the database from their definitions; it also pays for that in every write and in disk space"
    }

    fn budget(&self) -> String {
        format!(
            "RocksDB block cache 128 MiB, write buffers 8 MiB per column family ({} families); in-process \
             caches sized for {} of the run's {} profiles ({}): {} profile records, {} identifiers, {} rollup \
             pairs, {} wake-ups (no byte limit)",
            ProfileDb::column_families().len(),
            self.cache_entries,
            self.run_profiles,
            if self.cache_entries >= self.run_profiles { "every profile cached" } else { "the rest read from RocksDB" },
            self.cache_entries,
            self.cache_entries * IDENTIFIERS_PER_PROFILE,
            self.cache_entries * ROLLUP_PAIRS_PER_PROFILE,
            self.cache_entries * WAKEUPS_PER_PROFILE
        )
    }

    fn note(&self, op: super::Op) -> Option<&'static str> {
        match op {
            super::Op::TraitUpdate => Some("profiledb also writes the change to the profile's history"),
            super::Op::Ingest => {
                Some("profiledb also appends the event to the profile's timeline and its time-bucketed rollups")
            }
            _ => None,
        }
    }

    fn settle(&mut self) -> Result<()> {
        self.db.settle().context("settling flushes and compactions")
    }

    fn footprint(&mut self) -> Result<(u64, &'static str)> {
        Ok((crate::resources::dir_bytes(&self.dir), "RocksDB files"))
    }

    fn counts(&mut self) -> Result<(u64, u64)> {
        Ok((self.db.profile_count()?, self.db.identifier_count()?))
    }

    fn load(&mut self, batch: &[Seed]) -> Result<()> {
        let mut history = Vec::new();
        for s in batch {
            let ids = s.idents.iter().map(identifier).collect::<Result<Vec<_>>>()?;
            let v = &s.view;
            let u = Update::new()
                .set("plan", v.plan.as_str())
                .set("country", v.country.as_str())
                .set("age", v.age)
                .set("ltv", v.ltv)
                .set("signup_at", Timestamp::from_millis(v.signup_at))
                .set("tags", v.tags.clone())
                .set("email_opt_in", v.email_opt_in)
                .set("language", v.language.as_str())
                .set("device", v.device.as_str())
                .set("company_size", v.company_size);
            self.db.identify(&ids, u).with_context(|| format!("loading profile {}", s.id))?;
            for ev in s.history_over(self.history_days) {
                history.push(event(&ev)?);
            }
            if history.len() >= LOAD_EVENTS {
                self.ingest_history(&mut history)?;
            }
        }
        self.ingest_history(&mut history)
    }

    fn finish_load(&mut self, _profiles: u64) -> Result<()> {
        for s in &SEGMENTS {
            self.db.define_segment(s.name, s.expr).with_context(|| format!("defining segment {}", s.name))?;
        }
        // Like the other stores' checkpoints after their loads: the load's
        // flushes and compactions finish before anything is timed.
        self.db.settle().context("settling the load's flushes and compactions")
    }

    fn lookup(&mut self, id: &Ident) -> Result<Option<View>> {
        let Some(p) = self.db.get(&identifier(id)?)? else { return Ok(None) };
        let r = self.rollups(p.id)?;
        Ok(Some(view_of(&p, r)))
    }

    fn set_trait(&mut self, id: &Ident, set: &TraitSet) -> Result<()> {
        let value = match set {
            TraitSet::Plan(s) | TraitSet::Country(s) => TraitValue::from(*s),
            TraitSet::Ltv(x) => TraitValue::Float(*x),
            TraitSet::EmailOptIn(b) => TraitValue::Bool(*b),
        };
        self.db.update(&identifier(id)?, Update::new().set(set.name(), value))?;
        Ok(())
    }

    fn ingest(&mut self, ev: &Event) -> Result<()> {
        self.db.track(&event(ev)?)?;
        Ok(())
    }

    fn segment_count(&mut self, q: &CountQuery) -> Result<u64> {
        let i = COUNT_QUERIES
            .iter()
            .position(|c| (c.a, c.b, c.not_c) == (q.a, q.b, q.not_c))
            .ok_or_else(|| Error::msg(format!("unknown count query {}", q.describe())))?;
        Ok(self.db.query_count(&self.queries[i])?)
    }

    fn is_member(&mut self, id: &Ident, segment: usize) -> Result<bool> {
        match self.db.resolve(&identifier(id)?)? {
            Some(p) => Ok(self.db.in_segment(SEGMENTS[segment].name, p)?),
            None => Ok(false),
        }
    }

    fn segment_sizes(&mut self) -> Result<Vec<u64>> {
        SEGMENTS.iter().map(|s| Ok(self.db.segment_count(s.name)?)).collect()
    }
}

impl Pdb {
    /// Ingests the buffered history events (strict: any rejected event fails the load).
    fn ingest_history(&mut self, history: &mut Vec<PdbEvent>) -> Result<()> {
        if history.is_empty() {
            return Ok(());
        }
        let report = self.db.ingest_batch(history, true)?;
        if let Some((i, e)) = report.rejected.first() {
            return Err(Error::msg(format!("history event {i} rejected: {e}")));
        }
        if report.applied != history.len() as u64 {
            return Err(Error::msg(format!("{} of {} history events applied", report.applied, history.len())));
        }
        history.clear();
        Ok(())
    }
}
