//! profiledb through its public API.
//!
//! Rollups are traits updated with `increment`/`set` in the same identify
//! call that stitches the event's identifiers; merges fold the counters
//! with [`MergeStrategy::Sum`]. Segments are not implemented yet, so the
//! segment operations report `n/a` and writes maintain no membership.

use std::path::Path;

use profiledb::{Identifier, MergeRules, MergeStrategy, Profile, ProfileDb, Timestamp, TraitValue, Update};

use super::{Op, Store};
use crate::error::{Context, Result};
use crate::workload::{CountQuery, Event, Ident, Rollups, Seed, TraitSet, View};

const NO_SEGMENTS: &str = "segments not implemented yet";

pub struct Pdb {
    db: ProfileDb,
    cache_entries: usize,
}

/// Opens a fresh database in `dir` with a profile cache of `cache_entries`.
pub fn open(dir: &Path, cache_entries: usize) -> Result<Box<dyn Store>> {
    let rules = ["page_views", "add_to_carts", "purchases", "purchase_sum"]
        .iter()
        .fold(MergeRules::default(), |r, name| r.trait_strategy(name, MergeStrategy::Sum));
    let db = ProfileDb::builder(dir)
        .profile_cache_entries(cache_entries)
        .merge_rules(rules)
        .open()
        .with_context(|| format!("opening profiledb at {}", dir.display()))?;
    Ok(Box::new(Pdb { db, cache_entries }))
}

fn identifier(id: &Ident) -> Result<Identifier> {
    Ok(Identifier::new(id.kind.as_str(), &id.value)?)
}

fn view_of(p: &Profile) -> View {
    let t = &p.traits;
    let s = |k: &str| match t.get(k) {
        Some(TraitValue::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let i = |k: &str| match t.get(k) {
        Some(TraitValue::Int(i)) => *i,
        Some(TraitValue::Time(ts)) => ts.millis(),
        _ => 0,
    };
    let f = |k: &str| t.get(k).and_then(TraitValue::as_f64).unwrap_or_default();
    View {
        plan: s("plan"),
        country: s("country"),
        age: i("age"),
        ltv: f("ltv"),
        signup_at: i("signup_at"),
        tags: match t.get("tags") {
            Some(TraitValue::List(l)) => l.clone(),
            _ => Vec::new(),
        },
        email_opt_in: matches!(t.get("email_opt_in"), Some(TraitValue::Bool(true))),
        language: s("language"),
        device: s("device"),
        company_size: i("company_size"),
        r: Rollups {
            page_views: i("page_views"),
            add_to_carts: i("add_to_carts"),
            purchases: i("purchases"),
            purchase_sum: f("purchase_sum"),
            last_purchase_at: i("last_purchase_at"),
        },
    }
}

impl Store for Pdb {
    fn name(&self) -> &'static str {
        "profiledb"
    }

    fn describe(&self) -> String {
        format!(
            "profiledb {} (format {}), durability WAL without fsync, profile cache {} entries",
            env!("CARGO_PKG_VERSION"),
            ProfileDb::format_version(),
            self.cache_entries
        )
    }

    fn unsupported(&self, op: Op) -> Option<&'static str> {
        matches!(op, Op::SegmentCount | Op::Membership).then_some(NO_SEGMENTS)
    }

    fn note(&self, op: Op) -> Option<&'static str> {
        matches!(op, Op::TraitUpdate | Op::Ingest)
            .then_some("profiledb maintains no segment membership yet (segments not implemented), so it does less work here than the other stores")
    }

    fn load(&mut self, batch: &[Seed]) -> Result<()> {
        for s in batch {
            let ids = s.idents.iter().map(identifier).collect::<Result<Vec<_>>>()?;
            let v = &s.view;
            let mut u = Update::new()
                .set("plan", v.plan.as_str())
                .set("country", v.country.as_str())
                .set("age", v.age)
                .set("ltv", v.ltv)
                .set("signup_at", Timestamp::from_millis(v.signup_at))
                .set("tags", v.tags.clone())
                .set("email_opt_in", v.email_opt_in)
                .set("language", v.language.as_str())
                .set("device", v.device.as_str())
                .set("company_size", v.company_size)
                .set("page_views", v.r.page_views)
                .set("add_to_carts", v.r.add_to_carts)
                .set("purchases", v.r.purchases)
                .set("purchase_sum", v.r.purchase_sum);
            if v.r.last_purchase_at > 0 {
                u = u.set("last_purchase_at", Timestamp::from_millis(v.r.last_purchase_at));
            }
            self.db.identify(&ids, u).with_context(|| format!("loading profile {}", s.id))?;
        }
        Ok(())
    }

    fn finish_load(&mut self, _profiles: u64) -> Result<()> {
        Ok(())
    }

    fn lookup(&mut self, id: &Ident) -> Result<Option<View>> {
        Ok(self.db.get(&identifier(id)?)?.map(|p| view_of(&p)))
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
        let ids = ev.idents.iter().map(identifier).collect::<Result<Vec<_>>>()?;
        let d = ev.delta();
        let mut u = Update::new();
        if d.page_views > 0 {
            u = u.increment("page_views", d.page_views);
        }
        if d.add_to_carts > 0 {
            u = u.increment("add_to_carts", d.add_to_carts);
        }
        if d.purchases > 0 {
            u = u
                .increment("purchases", d.purchases)
                .increment("purchase_sum", d.purchase_sum)
                .set("last_purchase_at", Timestamp::from_millis(d.last_purchase_at));
        }
        self.db.identify(&ids, u)?;
        Ok(())
    }

    fn segment_count(&mut self, _q: &CountQuery) -> Result<u64> {
        Err(crate::error::Error::msg(NO_SEGMENTS))
    }

    fn is_member(&mut self, _id: &Ident, _segment: usize) -> Result<bool> {
        Err(crate::error::Error::msg(NO_SEGMENTS))
    }
}
