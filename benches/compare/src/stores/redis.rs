//! Redis as an expert would use it for this job: each profile a hash
//! `p:<id>` (traits and rollups), each identifier a string key
//! `id:<kind>:<value>` → dense profile id, each profile's identifiers a set
//! `pi:<id>` (for merges), each segment a bitmap `seg:<n>` over the dense
//! ids. Reads are one round trip (a Lua script resolves the identifier and
//! reads the hash); counts are `BITOP AND` + `BITCOUNT` in one pipeline
//! (|A∩B| − |A∩B∩C|, no `NOT` padding issues); ingest resolves with `MGET`,
//! applies every write in one `MULTI`/`EXEC` that returns the updated hash,
//! then fixes segment bits in a second `MULTI` only when membership changed.
//!
//! The selected Redis database is flushed first.

use ::redis::{Client, Connection, Script};

use super::{bits, mask_diff, Store};
use crate::error::{Context, Error, Result};
use crate::workload::{CountQuery, Event, Ident, Seed, TraitSet, View};

const LOOKUP: &str = "local p = redis.call('GET', KEYS[1])
if not p then return false end
return redis.call('HGETALL', 'p:' .. p)";

const SET_TRAIT: &str = "local p = redis.call('GET', KEYS[1])
if not p then return false end
redis.call('HSET', 'p:' .. p, ARGV[1], ARGV[2])
return {p, redis.call('HGETALL', 'p:' .. p)}";

const MEMBER: &str = "local p = redis.call('GET', KEYS[1])
if not p then return 0 end
return redis.call('GETBIT', KEYS[2], p)";

pub struct Redis {
    con: Connection,
    version: String,
    lookup: Script,
    set_trait: Script,
    member: Script,
}

/// Connects to `url` and flushes its database.
pub fn connect(url: &str) -> Result<Box<dyn Store>> {
    let client = Client::open(url).with_context(|| format!("parsing {url}"))?;
    let mut con = client
        .get_connection_with_timeout(std::time::Duration::from_secs(5))
        .with_context(|| format!("connecting to {url}"))?;
    let info: String = ::redis::cmd("INFO").arg("server").query(&mut con).context("INFO server")?;
    let version = info
        .lines()
        .find_map(|l| l.strip_prefix("redis_version:"))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| "?".into());
    let mut config = Vec::new();
    for key in ["appendonly", "appendfsync", "save"] {
        let kv: Vec<String> = ::redis::cmd("CONFIG").arg("GET").arg(key).query(&mut con).context("CONFIG GET")?;
        config.push(format!("{key}={:?}", kv.get(1).map_or("?", String::as_str)));
    }
    let version = format!("{version} ({})", config.join(", "));
    ::redis::cmd("FLUSHDB").query::<()>(&mut con).context("FLUSHDB")?;
    Ok(Box::new(Redis {
        con,
        version,
        lookup: Script::new(LOOKUP),
        set_trait: Script::new(SET_TRAIT),
        member: Script::new(MEMBER),
    }))
}

fn id_key(id: &Ident) -> String {
    format!("id:{}:{}", id.kind.as_str(), id.value)
}

/// The hash fields of a loaded profile.
fn fields(v: &View, segs: u32) -> Vec<(&'static str, String)> {
    let r = &v.r;
    vec![
        ("plan", v.plan.clone()),
        ("country", v.country.clone()),
        ("age", v.age.to_string()),
        ("ltv", v.ltv.to_string()),
        ("signup_at", v.signup_at.to_string()),
        ("tags", v.tags.join(",")),
        ("email_opt_in", u8::from(v.email_opt_in).to_string()),
        ("language", v.language.clone()),
        ("device", v.device.clone()),
        ("company_size", v.company_size.to_string()),
        ("page_views", r.page_views.to_string()),
        ("add_to_carts", r.add_to_carts.to_string()),
        ("purchases", r.purchases.to_string()),
        ("purchase_sum", r.purchase_sum.to_string()),
        ("last_purchase_at", r.last_purchase_at.to_string()),
        ("segs", segs.to_string()),
    ]
}

/// Parses an `HGETALL` reply into the profile and its stored segment mask.
fn parse(flat: &[String]) -> Result<(View, u32)> {
    let mut v = View::default();
    let mut segs = 0;
    for pair in flat.chunks_exact(2) {
        let (k, x) = (pair[0].as_str(), &pair[1]);
        let ctx = || format!("hash field {k}={x}");
        match k {
            "plan" => v.plan = x.clone(),
            "country" => v.country = x.clone(),
            "age" => v.age = x.parse().with_context(ctx)?,
            "ltv" => v.ltv = x.parse().with_context(ctx)?,
            "signup_at" => v.signup_at = x.parse().with_context(ctx)?,
            "tags" => v.tags = x.split(',').filter(|t| !t.is_empty()).map(str::to_owned).collect(),
            "email_opt_in" => v.email_opt_in = x == "1" || x == "true",
            "language" => v.language = x.clone(),
            "device" => v.device = x.clone(),
            "company_size" => v.company_size = x.parse().with_context(ctx)?,
            "page_views" => v.r.page_views = x.parse().with_context(ctx)?,
            "add_to_carts" => v.r.add_to_carts = x.parse().with_context(ctx)?,
            "purchases" => v.r.purchases = x.parse().with_context(ctx)?,
            "purchase_sum" => v.r.purchase_sum = x.parse().with_context(ctx)?,
            "last_purchase_at" => v.r.last_purchase_at = x.parse().with_context(ctx)?,
            "segs" => segs = x.parse().with_context(ctx)?,
            _ => {}
        }
    }
    Ok((v, segs))
}

const ROLLUP_FIELDS: [&str; 6] =
    ["page_views", "add_to_carts", "purchases", "purchase_sum", "last_purchase_at", "segs"];

impl Redis {
    /// Re-evaluates segments after a write and fixes the bitmaps (one
    /// `MULTI` round trip, only when membership changed).
    fn maintain_segments(&mut self, pid: u32, view: &View, old: u32) -> Result<()> {
        let new = view.segments();
        if new == old {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        pipe.atomic();
        let (added, removed) = mask_diff(old, new);
        for s in added {
            pipe.cmd("SETBIT").arg(format!("seg:{s}")).arg(pid).arg(1).ignore();
        }
        for s in removed {
            pipe.cmd("SETBIT").arg(format!("seg:{s}")).arg(pid).arg(0).ignore();
        }
        pipe.cmd("HSET").arg(format!("p:{pid}")).arg("segs").arg(new).ignore();
        pipe.query::<()>(&mut self.con).context("updating segment bits")
    }
}

impl Store for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn describe(&self) -> String {
        format!(
            "Redis {} on loopback; segments as bitmaps; Lua scripts for one-round-trip reads, pipelines and MULTI for writes",
            self.version
        )
    }

    fn load(&mut self, batch: &[Seed]) -> Result<()> {
        let mut pipe = ::redis::pipe();
        for s in batch {
            pipe.cmd("HSET").arg(format!("p:{}", s.id)).arg(fields(&s.view, s.segs)).ignore();
            let keys: Vec<String> = s.idents.iter().map(id_key).collect();
            for k in &keys {
                pipe.cmd("SET").arg(k).arg(s.id).ignore();
            }
            pipe.cmd("SADD").arg(format!("pi:{}", s.id)).arg(&keys).ignore();
            for g in bits(s.segs) {
                pipe.cmd("SETBIT").arg(format!("seg:{g}")).arg(s.id).arg(1).ignore();
            }
        }
        pipe.query::<()>(&mut self.con).context("loading a batch")
    }

    fn finish_load(&mut self, profiles: u64) -> Result<()> {
        ::redis::cmd("SET").arg("next_pid").arg(profiles).query::<()>(&mut self.con).context("SET next_pid")?;
        // Let an append-only-file rewrite the load triggered finish, so it
        // does not compete with the measured operations for the CPU.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
        loop {
            let info: String = ::redis::cmd("INFO").arg("persistence").query(&mut self.con).context("INFO")?;
            let busy = ["aof_rewrite_in_progress:1", "aof_rewrite_scheduled:1", "rdb_bgsave_in_progress:1"]
                .iter()
                .any(|flag| info.lines().any(|l| l.trim() == *flag));
            if !busy || std::time::Instant::now() > deadline {
                return Ok(());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    fn lookup(&mut self, id: &Ident) -> Result<Option<View>> {
        let flat: Option<Vec<String>> = self.lookup.key(id_key(id)).invoke(&mut self.con)?;
        flat.map(|f| parse(&f).map(|(v, _)| v)).transpose()
    }

    fn set_trait(&mut self, id: &Ident, set: &TraitSet) -> Result<()> {
        let value = match set {
            TraitSet::Plan(s) | TraitSet::Country(s) => (*s).to_owned(),
            TraitSet::Ltv(x) => x.to_string(),
            TraitSet::EmailOptIn(b) => u8::from(*b).to_string(),
        };
        let reply: Option<(u32, Vec<String>)> =
            self.set_trait.key(id_key(id)).arg(set.name()).arg(value).invoke(&mut self.con)?;
        let (pid, flat) = reply.ok_or_else(|| Error::msg(format!("no profile for {}", id.value)))?;
        let (view, old) = parse(&flat)?;
        self.maintain_segments(pid, &view, old)
    }

    fn ingest(&mut self, ev: &Event) -> Result<()> {
        let keys: Vec<String> = ev.idents.iter().map(id_key).collect();
        let found: Vec<Option<u32>> = ::redis::cmd("MGET").arg(&keys).query(&mut self.con)?;
        let mut pids: Vec<u32> = found.iter().flatten().copied().collect();
        pids.sort_unstable();
        pids.dedup();
        let survivor = match pids.first() {
            Some(p) => *p,
            None => ::redis::cmd("INCR").arg("next_pid").query(&mut self.con)?,
        };
        let sk = format!("p:{survivor}");
        let mut tx = ::redis::pipe();
        tx.atomic();
        for &loser in pids.iter().skip(1) {
            let (lh, lids, s_last): (Vec<String>, Vec<String>, Option<i64>) = ::redis::pipe()
                .cmd("HGETALL")
                .arg(format!("p:{loser}"))
                .cmd("SMEMBERS")
                .arg(format!("pi:{loser}"))
                .cmd("HGET")
                .arg(&sk)
                .arg("last_purchase_at")
                .query(&mut self.con)?;
            let (lv, lsegs) = parse(&lh)?;
            for k in &lids {
                tx.cmd("SET").arg(k).arg(survivor).ignore();
            }
            tx.cmd("SADD").arg(format!("pi:{survivor}")).arg(&lids).ignore();
            for pair in lh.chunks_exact(2).filter(|p| !ROLLUP_FIELDS.contains(&p[0].as_str())) {
                tx.cmd("HSETNX").arg(&sk).arg(&pair[0]).arg(&pair[1]).ignore();
            }
            let r = &lv.r;
            tx.cmd("HINCRBY").arg(&sk).arg("page_views").arg(r.page_views).ignore();
            tx.cmd("HINCRBY").arg(&sk).arg("add_to_carts").arg(r.add_to_carts).ignore();
            tx.cmd("HINCRBY").arg(&sk).arg("purchases").arg(r.purchases).ignore();
            tx.cmd("HINCRBYFLOAT").arg(&sk).arg("purchase_sum").arg(r.purchase_sum).ignore();
            let last = s_last.unwrap_or(0).max(r.last_purchase_at);
            tx.cmd("HSET").arg(&sk).arg("last_purchase_at").arg(last).ignore();
            for s in bits(lsegs) {
                tx.cmd("SETBIT").arg(format!("seg:{s}")).arg(loser).arg(0).ignore();
            }
            tx.cmd("DEL").arg(format!("p:{loser}")).arg(format!("pi:{loser}")).ignore();
        }
        let new_keys: Vec<&String> = keys.iter().zip(&found).filter(|(_, p)| p.is_none()).map(|(k, _)| k).collect();
        for k in &new_keys {
            tx.cmd("SET").arg(*k).arg(survivor).ignore();
        }
        if !new_keys.is_empty() {
            tx.cmd("SADD").arg(format!("pi:{survivor}")).arg(&new_keys).ignore();
        }
        let d = ev.delta();
        if d.page_views > 0 {
            tx.cmd("HINCRBY").arg(&sk).arg("page_views").arg(d.page_views).ignore();
        }
        if d.add_to_carts > 0 {
            tx.cmd("HINCRBY").arg(&sk).arg("add_to_carts").arg(d.add_to_carts).ignore();
        }
        if d.purchases > 0 {
            tx.cmd("HINCRBY").arg(&sk).arg("purchases").arg(d.purchases).ignore();
            tx.cmd("HINCRBYFLOAT").arg(&sk).arg("purchase_sum").arg(d.purchase_sum).ignore();
            // Events arrive in time order, so the latest purchase is this one.
            tx.cmd("HSET").arg(&sk).arg("last_purchase_at").arg(d.last_purchase_at).ignore();
        }
        tx.cmd("HGETALL").arg(&sk);
        let (flat,): (Vec<String>,) = tx.query(&mut self.con).context("ingest MULTI")?;
        let (view, old) = parse(&flat)?;
        self.maintain_segments(survivor, &view, old)
    }

    fn segment_count(&mut self, q: &CountQuery) -> Result<u64> {
        let (ab, abc): (u64, u64) = ::redis::pipe()
            .cmd("BITOP")
            .arg("AND")
            .arg("tmp:ab")
            .arg(format!("seg:{}", q.a))
            .arg(format!("seg:{}", q.b))
            .ignore()
            .cmd("BITOP")
            .arg("AND")
            .arg("tmp:abc")
            .arg("tmp:ab")
            .arg(format!("seg:{}", q.not_c))
            .ignore()
            .cmd("BITCOUNT")
            .arg("tmp:ab")
            .cmd("BITCOUNT")
            .arg("tmp:abc")
            .query(&mut self.con)?;
        Ok(ab - abc)
    }

    fn is_member(&mut self, id: &Ident, segment: usize) -> Result<bool> {
        let bit: i64 = self.member.key(id_key(id)).key(format!("seg:{segment}")).invoke(&mut self.con)?;
        Ok(bit == 1)
    }

    fn segment_sizes(&mut self) -> Result<Vec<u64>> {
        let mut pipe = ::redis::pipe();
        for s in 0..crate::workload::SEGMENTS.len() {
            pipe.cmd("BITCOUNT").arg(format!("seg:{s}"));
        }
        Ok(pipe.query(&mut self.con)?)
    }
}
