//! Redis as an expert would use it for this job: each profile a hash
//! `p:<id>` (traits and rollups), each identifier a string key
//! `id:<kind>:<value>` → dense profile id, each profile's identifiers a set
//! `pi:<id>` (for merges), each segment a bitmap `seg:<n>` over the dense
//! ids.
//!
//! Every operation is one round trip. Reads and writes are Lua scripts
//! (loaded once with `SCRIPT LOAD`, called with `EVALSHA`): a script runs
//! atomically, so an ingest — resolve, create, stitch, rollups, segment
//! bits — or a trait update with its segment bits is one atomic step. The
//! segment predicates are therefore written a third time, in Lua
//! ([`SEGS_LUA`]); the consistency checks compare the resulting segment
//! sizes with the other stores'. Counts are `BITOP AND` + `BITCOUNT` in one
//! pipeline (|A∩B| − |A∩B∩C|, no `NOT` padding issues). The scripts touch
//! keys they compute (`p:<id>`, `seg:<n>`), which is fine on one server
//! but would not be on Redis Cluster.
//!
//! The selected Redis database is flushed first.

use ::redis::{Client, Connection, Script};

use super::{bits, Store};
use crate::error::{Context, Error, Result};
use crate::resources::Server;
use crate::workload::{CountQuery, Event, Ident, Seed, TraitSet, View};

/// Shared Lua: reading a hash into a table, the 20 segment predicates (the
/// same as [`SEGMENTS`](crate::workload::SEGMENTS)), and the bitmap diff.
const SEGS_LUA: &str = r#"
local function hgetall(key)
  local flat = redis.call('HGETALL', key)
  local h = {}
  for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
  return h
end
local EU = {DE = true, FR = true, ES = true, IT = true, NL = true, PL = true, SE = true}
local function num(x) return tonumber(x or '') or 0 end
local function tag(tags, t)
  return tags ~= nil and string.find(',' .. tags .. ',', ',' .. t .. ',', 1, true) ~= nil
end
local function segs_of(h)
  local plan, country, dev = h.plan or '', h.country or '', h.device or ''
  local age, ltv, pu = num(h.age), num(h.ltv), num(h.purchases)
  local c = {
    plan == 'pro', plan == 'enterprise', plan == 'basic' or plan == 'pro' or plan == 'enterprise',
    country == 'DE', country == 'US', EU[country] == true,
    age >= 18 and age <= 24, age >= 55, ltv > 500, ltv > 1500,
    num(h.signup_at) >= 1704067200000, tag(h.tags, 'beta'), tag(h.tags, 'vip'),
    h.email_opt_in == '1', dev == 'ios' or dev == 'android', h.language == 'de',
    pu >= 1, pu >= 3, num(h.purchase_sum) > 300, num(h.add_to_carts) >= 2 and pu == 0,
  }
  local m = 0
  for i = 1, 20 do if c[i] then m = m + 2 ^ (i - 1) end end
  return m
end
local function maintain(pid, key)
  local h = hgetall(key)
  local old, new = num(h.segs), segs_of(h)
  if old == new then return end
  for s = 0, 19 do
    local b = 2 ^ s
    local was, is = bit.band(old, b) ~= 0, bit.band(new, b) ~= 0
    if was ~= is then redis.call('SETBIT', 'seg:' .. s, pid, is and 1 or 0) end
  end
  redis.call('HSET', key, 'segs', new)
end
"#;

const LOOKUP: &str = "local p = redis.call('GET', KEYS[1])
if not p then return false end
return redis.call('HGETALL', 'p:' .. p)";

/// `KEYS[1]`: the identifier; ARGV the trait and its value.
const SET_TRAIT: &str = "local p = redis.call('GET', KEYS[1])
if not p then return false end
redis.call('HSET', 'p:' .. p, ARGV[1], ARGV[2])
maintain(tonumber(p), 'p:' .. p)
return tonumber(p)";

/// KEYS the event's identifiers; ARGV page views, adds to cart,
/// purchases, purchase amount, purchase time (the event's rollup delta).
/// Resolves, creates, stitches into the lowest id (identifiers move, the
/// survivor's traits win, counters add up, the loser leaves its segments),
/// applies the delta and fixes the segment bits.
const INGEST: &str = r#"
local found, pids = {}, {}
for i, k in ipairs(KEYS) do
  local p = redis.call('GET', k)
  found[i] = p and tonumber(p) or false
  if p then pids[#pids + 1] = tonumber(p) end
end
table.sort(pids)
local u = {}
for _, p in ipairs(pids) do if u[#u] ~= p then u[#u + 1] = p end end
local survivor = u[1] or redis.call('INCR', 'next_pid')
local sk, si = 'p:' .. survivor, 'pi:' .. survivor
local ROLLUP = {page_views = true, add_to_carts = true, purchases = true, purchase_sum = true,
  last_purchase_at = true, segs = true}
for j = 2, #u do
  local loser = u[j]
  local lh = hgetall('p:' .. loser)
  local lids = redis.call('SMEMBERS', 'pi:' .. loser)
  for _, k in ipairs(lids) do redis.call('SET', k, survivor) end
  if #lids > 0 then redis.call('SADD', si, unpack(lids)) end
  for f, v in pairs(lh) do if not ROLLUP[f] then redis.call('HSETNX', sk, f, v) end end
  redis.call('HINCRBY', sk, 'page_views', lh.page_views or 0)
  redis.call('HINCRBY', sk, 'add_to_carts', lh.add_to_carts or 0)
  redis.call('HINCRBY', sk, 'purchases', lh.purchases or 0)
  redis.call('HINCRBYFLOAT', sk, 'purchase_sum', lh.purchase_sum or 0)
  local last = redis.call('HGET', sk, 'last_purchase_at') or '0'
  if num(lh.last_purchase_at) > num(last) then last = lh.last_purchase_at end
  redis.call('HSET', sk, 'last_purchase_at', last)
  local ls = num(lh.segs)
  for s = 0, 19 do
    if bit.band(ls, 2 ^ s) ~= 0 then redis.call('SETBIT', 'seg:' .. s, loser, 0) end
  end
  redis.call('DEL', 'p:' .. loser, 'pi:' .. loser)
end
for i, k in ipairs(KEYS) do
  if not found[i] then
    redis.call('SET', k, survivor)
    redis.call('SADD', si, k)
  end
end
if ARGV[1] ~= '0' then redis.call('HINCRBY', sk, 'page_views', ARGV[1]) end
if ARGV[2] ~= '0' then redis.call('HINCRBY', sk, 'add_to_carts', ARGV[2]) end
if ARGV[3] ~= '0' then
  redis.call('HINCRBY', sk, 'purchases', ARGV[3])
  redis.call('HINCRBYFLOAT', sk, 'purchase_sum', ARGV[4])
  -- Events arrive in time order, so the latest purchase is this one.
  redis.call('HSET', sk, 'last_purchase_at', ARGV[5])
end
maintain(survivor, sk)
return survivor
"#;

const MEMBER: &str = "local p = redis.call('GET', KEYS[1])
if not p then return 0 end
return redis.call('GETBIT', KEYS[2], p)";

/// A Redis connection and its loaded scripts.
pub struct Redis {
    con: Connection,
    version: String,
    pid: u32,
    trips: u64,
    lookup: Script,
    set_trait: Script,
    ingest: Script,
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
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| Error::msg("INFO server has no process_id"))?;
    for key in ["appendonly", "appendfsync", "save", "maxmemory", "io-threads"] {
        let kv: Vec<String> = ::redis::cmd("CONFIG").arg("GET").arg(key).query(&mut con).context("CONFIG GET")?;
        config.push(format!("{key}={:?}", kv.get(1).map_or("?", String::as_str)));
    }
    let version = format!("{version} ({})", config.join(", "));
    ::redis::cmd("FLUSHDB").query::<()>(&mut con).context("FLUSHDB")?;
    let scripts = [
        Script::new(LOOKUP),
        Script::new(&format!("{SEGS_LUA}\n{SET_TRAIT}")),
        Script::new(&format!("{SEGS_LUA}\n{INGEST}")),
        Script::new(MEMBER),
    ];
    // Loaded up front, so every call is one EVALSHA round trip.
    for s in &scripts {
        s.load(&mut con).context("SCRIPT LOAD")?;
    }
    let [lookup, set_trait, ingest, member] = scripts;
    Ok(Box::new(Redis { con, version, pid, trips: 0, lookup, set_trait, ingest, member }))
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

impl Store for Redis {
    fn name(&self) -> &'static str {
        "redis"
    }

    fn describe(&self) -> String {
        format!(
            "Redis {} on loopback TCP (TCP_NODELAY); segments as bitmaps; every operation one round trip \
             (Lua scripts via EVALSHA, atomic; counts a BITOP/BITCOUNT pipeline)",
            self.version
        )
    }

    fn scope(&self) -> &'static str {
        "keeps each profile's current traits and all-time counters in a hash: no trait history, no event \
         timeline, no time windows; segment predicates are hand-written a third time in Lua; everything in \
         memory (the append-only file is for recovery)"
    }

    fn budget(&self) -> String {
        "no maxmemory: the whole dataset in memory".into()
    }

    fn server(&mut self) -> Result<Option<Server>> {
        Ok(Some(Server::Process(self.pid)))
    }

    fn round_trips(&self) -> Option<u64> {
        Some(self.trips)
    }

    fn footprint(&mut self) -> Result<(u64, &'static str)> {
        self.trips += 1;
        let info: String = ::redis::cmd("INFO").arg("memory").query(&mut self.con).context("INFO memory")?;
        let used =
            info.lines().find_map(|l| l.strip_prefix("used_memory:")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
        Ok((used, "used_memory (in memory)"))
    }

    fn counts(&mut self) -> Result<(u64, u64)> {
        let mut n = [0u64; 2];
        for (i, pattern) in ["p:*", "id:*"].iter().enumerate() {
            let mut cursor = 0u64;
            loop {
                self.trips += 1;
                let (next, keys): (u64, Vec<String>) = ::redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(*pattern)
                    .arg("COUNT")
                    .arg(10_000)
                    .query(&mut self.con)
                    .context("SCAN")?;
                n[i] += keys.len() as u64;
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok((n[0], n[1]))
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
        self.trips += 1;
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
        self.trips += 1;
        let flat: Option<Vec<String>> = self.lookup.key(id_key(id)).invoke(&mut self.con)?;
        flat.map(|f| parse(&f).map(|(v, _)| v)).transpose()
    }

    fn set_trait(&mut self, id: &Ident, set: &TraitSet) -> Result<()> {
        let value = match set {
            TraitSet::Plan(s) | TraitSet::Country(s) => (*s).to_owned(),
            TraitSet::Ltv(x) => x.to_string(),
            TraitSet::EmailOptIn(b) => u8::from(*b).to_string(),
        };
        self.trips += 1;
        let pid: Option<u32> = self.set_trait.key(id_key(id)).arg(set.name()).arg(value).invoke(&mut self.con)?;
        pid.map(|_| ()).ok_or_else(|| Error::msg(format!("no profile for {}", id.value)))
    }

    fn ingest(&mut self, ev: &Event) -> Result<()> {
        let d = ev.delta();
        let mut call = self.ingest.prepare_invoke();
        for id in &ev.idents {
            call.key(id_key(id));
        }
        call.arg(d.page_views).arg(d.add_to_carts).arg(d.purchases).arg(d.purchase_sum).arg(d.last_purchase_at);
        self.trips += 1;
        let _survivor: u32 = call.invoke(&mut self.con).context("ingest script")?;
        Ok(())
    }

    fn segment_count(&mut self, q: &CountQuery) -> Result<u64> {
        self.trips += 1;
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
        self.trips += 1;
        let bit: i64 = self.member.key(id_key(id)).key(format!("seg:{segment}")).invoke(&mut self.con)?;
        Ok(bit == 1)
    }

    fn segment_sizes(&mut self) -> Result<Vec<u64>> {
        self.trips += 1;
        let mut pipe = ::redis::pipe();
        for s in 0..crate::workload::SEGMENTS.len() {
            pipe.cmd("BITCOUNT").arg(format!("seg:{s}"));
        }
        Ok(pipe.query(&mut self.con)?)
    }
}
