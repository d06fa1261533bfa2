//! The workload every store runs: deterministic profiles, identifiers,
//! events, the 20 segment definitions and the measured operations.
//!
//! Everything is generated from a seed with a hand-written splitmix64, so
//! every store (and every run) sees exactly the same data and the same
//! operation sequence. Segment semantics live here once ([`SEGMENTS`]); the
//! SQL and Redis stores evaluate them in the application after each write,
//! the way a team maintaining membership tables by hand would.

use serde_json::{json, Value};

/// The default seed.
pub const SEED: u64 = 0x5eed_0008;
/// Profiles `i` with `i % 10 < ANON_TENTHS` arrive stitched to an anonymous id.
const ANON_TENTHS: u64 = 3;
/// 2024-01-01T00:00:00Z in epoch milliseconds.
const JAN_2024: i64 = 1_704_067_200_000;
/// 2020-01-01T00:00:00Z.
const JAN_2020: i64 = 1_577_836_800_000;
/// 2025-06-01T00:00:00Z: the measured event stream starts here.
const JUN_2025: i64 = 1_748_736_000_000;
const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;

/// splitmix64: tiny, fast, good enough for workload generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Picks from `(item, weight)` pairs.
    pub fn weighted<'a>(&mut self, items: &[(&'a str, u32)]) -> &'a str {
        let total: u32 = items.iter().map(|i| i.1).sum();
        let mut r = self.below(u64::from(total)) as u32;
        for (item, w) in items {
            if r < *w {
                return item;
            }
            r -= w;
        }
        items[items.len() - 1].0
    }
}

/// Identifier kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    UserId,
    Email,
    AnonymousId,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::UserId => "user_id",
            Kind::Email => "email",
            Kind::AnonymousId => "anonymous_id",
        }
    }

    /// A small integer for SQL tables.
    pub fn code(self) -> i16 {
        self as i16
    }
}

/// One external identifier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ident {
    pub kind: Kind,
    pub value: String,
}

impl Ident {
    pub fn user(i: u64) -> Self {
        Ident { kind: Kind::UserId, value: format!("u{i}") }
    }
    pub fn email(i: u64) -> Self {
        Ident { kind: Kind::Email, value: format!("user{i}@example.com") }
    }
    pub fn anon(i: u64) -> Self {
        Ident { kind: Kind::AnonymousId, value: format!("a{i:08x}") }
    }
    /// An anonymous visitor of the measured event stream.
    pub fn visitor(j: u64) -> Self {
        Ident { kind: Kind::AnonymousId, value: format!("v{j:08x}") }
    }
}

/// Event rollups, maintained by every ingest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rollups {
    pub page_views: i64,
    pub add_to_carts: i64,
    pub purchases: i64,
    pub purchase_sum: f64,
    /// Epoch ms; 0 = never.
    pub last_purchase_at: i64,
}

/// A profile as the segment definitions see it. Missing traits (anonymous
/// profiles) are empty strings, zeros and `false`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct View {
    pub plan: String,
    pub country: String,
    pub age: i64,
    pub ltv: f64,
    pub signup_at: i64,
    pub tags: Vec<String>,
    pub email_opt_in: bool,
    pub language: String,
    pub device: String,
    pub company_size: i64,
    pub r: Rollups,
}

impl View {
    /// The ten traits as a JSON object (rollups are stored apart).
    pub fn traits_json(&self) -> Value {
        json!({
            "plan": self.plan, "country": self.country, "age": self.age, "ltv": self.ltv,
            "signup_at": self.signup_at, "tags": self.tags, "email_opt_in": self.email_opt_in,
            "language": self.language, "device": self.device, "company_size": self.company_size,
        })
    }

    /// Reads the traits of a JSON object; absent or mistyped ones stay default.
    pub fn from_json(traits: &Value, r: Rollups) -> View {
        let s = |k: &str| traits.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let i = |k: &str| traits.get(k).and_then(Value::as_i64).unwrap_or_default();
        View {
            plan: s("plan"),
            country: s("country"),
            age: i("age"),
            ltv: traits.get("ltv").and_then(Value::as_f64).unwrap_or_default(),
            signup_at: i("signup_at"),
            tags: traits
                .get("tags")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            email_opt_in: traits.get("email_opt_in").and_then(Value::as_bool).unwrap_or_default(),
            language: s("language"),
            device: s("device"),
            company_size: i("company_size"),
            r,
        }
    }

    /// Segment membership as a bit mask (bit `s` = segment `s`).
    pub fn segments(&self) -> u32 {
        SEGMENTS.iter().enumerate().fold(0, |m, (i, s)| if (s.test)(self) { m | 1 << i } else { m })
    }

    /// A digest of the profile, to check stores agree.
    pub fn digest(&self) -> u64 {
        let text = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.plan,
            self.country,
            self.age,
            (self.ltv * 100.0).round() as i64,
            self.signup_at,
            self.tags.join(","),
            self.email_opt_in,
            self.language,
            self.device,
            self.company_size,
            self.r.page_views,
            self.r.add_to_carts,
            self.r.purchases,
            (self.r.purchase_sum * 100.0).round() as i64,
            self.r.last_purchase_at
        );
        text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
    }
}

/// One segment: a name and its definition, twice: as a Rust predicate
/// (evaluated by the SQL and Redis stores in the application) and as
/// profiledb's expression language (maintained by profiledb itself). The
/// two must mean the same; the consistency checks compare every
/// segment's size across stores.
///
/// Rollup conditions read event counts and sums over all time (`count(e)`
/// with no window is `all`). Missing traits make every trait comparison
/// false in both forms (the predicates see empty strings and zeros, none
/// of which pass).
pub struct Segment {
    pub name: &'static str,
    pub test: fn(&View) -> bool,
    pub expr: &'static str,
}

const EU: [&str; 7] = ["DE", "FR", "ES", "IT", "NL", "PL", "SE"];

/// The 20 segments, defined once for every store.
pub const SEGMENTS: [Segment; 20] = [
    Segment { name: "plan_pro", test: |v| v.plan == "pro", expr: "traits.plan = \"pro\"" },
    Segment { name: "plan_enterprise", test: |v| v.plan == "enterprise", expr: "traits.plan = \"enterprise\"" },
    Segment {
        name: "paid",
        test: |v| matches!(v.plan.as_str(), "basic" | "pro" | "enterprise"),
        expr: "traits.plan in [\"basic\", \"pro\", \"enterprise\"]",
    },
    Segment { name: "country_de", test: |v| v.country == "DE", expr: "traits.country = \"DE\"" },
    Segment { name: "country_us", test: |v| v.country == "US", expr: "traits.country = \"US\"" },
    Segment {
        name: "eu",
        test: |v| EU.contains(&v.country.as_str()),
        expr: "traits.country in [\"DE\", \"FR\", \"ES\", \"IT\", \"NL\", \"PL\", \"SE\"]",
    },
    Segment { name: "age_18_24", test: |v| (18..=24).contains(&v.age), expr: "traits.age >= 18 and traits.age <= 24" },
    Segment { name: "age_55_plus", test: |v| v.age >= 55, expr: "traits.age >= 55" },
    Segment { name: "ltv_gt_500", test: |v| v.ltv > 500.0, expr: "traits.ltv > 500" },
    Segment { name: "ltv_gt_1500", test: |v| v.ltv > 1500.0, expr: "traits.ltv > 1500" },
    Segment {
        name: "signed_up_2024_plus",
        test: |v| v.signup_at >= JAN_2024,
        expr: "traits.signup_at >= t\"2024-01-01T00:00:00Z\"",
    },
    Segment { name: "tag_beta", test: |v| v.tags.iter().any(|t| t == "beta"), expr: "traits.tags contains \"beta\"" },
    Segment { name: "tag_vip", test: |v| v.tags.iter().any(|t| t == "vip"), expr: "traits.tags contains \"vip\"" },
    Segment { name: "email_opt_in", test: |v| v.email_opt_in, expr: "traits.email_opt_in = true" },
    Segment {
        name: "mobile",
        test: |v| v.device == "ios" || v.device == "android",
        expr: "traits.device in [\"ios\", \"android\"]",
    },
    Segment { name: "lang_de", test: |v| v.language == "de", expr: "traits.language = \"de\"" },
    Segment { name: "buyers", test: |v| v.r.purchases >= 1, expr: "count(purchase) >= 1" },
    Segment { name: "repeat_buyers", test: |v| v.r.purchases >= 3, expr: "count(purchase) >= 3" },
    Segment { name: "big_spenders", test: |v| v.r.purchase_sum > 300.0, expr: "sum(purchase.amount) > 300" },
    Segment {
        name: "window_shoppers",
        test: |v| v.r.add_to_carts >= 2 && v.r.purchases == 0,
        expr: "count(add_to_cart) >= 2 and count(purchase) = 0",
    },
];

/// `a AND b AND NOT c`, by segment index.
#[derive(Clone, Copy, Debug)]
pub struct CountQuery {
    pub a: usize,
    pub b: usize,
    pub not_c: usize,
}

/// The 3-way segment counts, measured round-robin.
pub const COUNT_QUERIES: [CountQuery; 6] = [
    CountQuery { a: 0, b: 5, not_c: 17 },   // pro in the EU, not repeat buyers
    CountQuery { a: 12, b: 13, not_c: 4 },  // vip, opted in, outside the US
    CountQuery { a: 9, b: 16, not_c: 14 },  // ltv > 1500, buyers, not mobile
    CountQuery { a: 7, b: 13, not_c: 1 },   // 55+, opted in, not enterprise
    CountQuery { a: 19, b: 14, not_c: 15 }, // window shoppers on mobile, not German-speaking
    CountQuery { a: 3, b: 2, not_c: 18 },   // Germany, paid, not big spenders
];

impl CountQuery {
    /// `(mask, want)`: a profile whose segment bit mask `segs` has
    /// `segs & mask == want` is in `a` and `b` and not in `not_c` (the SQL
    /// stores count with this against an index on their `segs` column).
    pub fn mask(&self) -> (u32, u32) {
        let want = (1u32 << self.a) | (1u32 << self.b);
        (want | (1u32 << self.not_c), want)
    }

    /// `a AND b AND NOT c` by segment names.
    pub fn describe(&self) -> String {
        format!("{} AND {} AND NOT {}", SEGMENTS[self.a].name, SEGMENTS[self.b].name, SEGMENTS[self.not_c].name)
    }
}

/// A profile to load: its identifiers (already stitched) and its state.
#[derive(Clone, Debug)]
pub struct Seed {
    /// 1-based dense id, the same in every SQL/Redis store.
    pub id: u32,
    pub idents: Vec<Ident>,
    pub view: View,
    pub segs: u32,
    /// The amounts of the `view.r.purchases` purchases (they sum to `purchase_sum`).
    pub purchase_amounts: Vec<f64>,
}

/// Profile `i` (0-based) of the loaded population.
pub fn seed(base: u64, i: u64) -> Seed {
    let mut rng = Rng::new(base ^ i.wrapping_mul(0xd1b5_4a32_d192_ed03));
    let plan = rng.weighted(&[("free", 55), ("basic", 20), ("pro", 18), ("enterprise", 7)]);
    let country = rng.weighted(&[
        ("US", 30),
        ("DE", 12),
        ("GB", 10),
        ("FR", 8),
        ("IN", 7),
        ("ES", 5),
        ("IT", 5),
        ("BR", 5),
        ("NL", 4),
        ("JP", 4),
        ("CA", 4),
        ("PL", 3),
        ("SE", 3),
    ]);
    let language = match country {
        "DE" => "de",
        "FR" => "fr",
        "ES" => "es",
        "IT" => "it",
        "BR" => "pt",
        "JP" => "ja",
        _ if rng.chance(0.05) => "de",
        _ => "en",
    };
    let tags =
        [("beta", 0.15), ("vip", 0.05), ("newsletter", 0.3), ("churn_risk", 0.1), ("b2b", 0.2), ("student", 0.1)]
            .iter()
            .filter(|(_, p)| rng.chance(*p))
            .map(|(t, _)| (*t).to_owned())
            .collect();
    let page_views = rng.below(60) as i64;
    let add_to_carts = rng.below(page_views as u64 / 4 + 1) as i64;
    let purchases = rng.below(add_to_carts as u64 + 1) as i64;
    let purchase_amounts: Vec<f64> = (0..purchases).map(|_| quarters(5.0 + rng.unit() * 195.0)).collect();
    let purchase_sum = purchase_amounts.iter().sum::<f64>();
    let last_purchase_at = if purchases > 0 { JAN_2024 + rng.below(500) as i64 * DAY } else { 0 };
    let view = View {
        plan: plan.to_owned(),
        country: country.to_owned(),
        age: 18 + rng.below(63) as i64,
        ltv: cents((-(1.0 - rng.unit()).ln() * 300.0).min(20_000.0)),
        signup_at: JAN_2020 + rng.below(5 * 365) as i64 * DAY + rng.below(DAY as u64) as i64,
        tags,
        email_opt_in: rng.chance(0.6),
        language: language.to_owned(),
        device: rng.weighted(&[("ios", 35), ("android", 40), ("web", 25)]).to_owned(),
        company_size: 1 + (rng.unit() * 8.5).exp() as i64,
        r: Rollups { page_views, add_to_carts, purchases, purchase_sum, last_purchase_at },
    };
    let mut idents = vec![Ident::user(i), Ident::email(i)];
    if i % 10 < ANON_TENTHS {
        idents.push(Ident::anon(i));
    }
    let segs = view.segments();
    Seed { id: i as u32 + 1, idents, view, segs, purchase_amounts }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Rounds to a quarter: purchase amounts are multiples of 0.25, so every
/// sum of them is exact in `f64` whatever the order of addition (stores
/// add them in different orders; `purchase_sum > 300` must not depend on it).
fn quarters(x: f64) -> f64 {
    (x * 4.0).round() / 4.0
}

impl Seed {
    /// The event history behind the seed's rollups, for stores that derive
    /// rollups from events (profiledb): one event per counted page view,
    /// add to cart and purchase, all before the measured stream. Page
    /// views and adds to cart are an hour apart, going back from 2024;
    /// purchases a day apart, the last one at `last_purchase_at` — unless
    /// `days` is not 0, then the history is spread over about `days` days:
    /// page views and adds to cart evenly over `days` days
    /// before 2024 (at least an hour apart), purchases evenly over `days`
    /// days up to `last_purchase_at` (at least a day apart). The totals,
    /// and so the rollups, are the same for any `days`.
    pub fn history_over(&self, days: u32) -> Vec<Event> {
        let r = &self.view.r;
        let span = i64::from(days) * DAY;
        let gap = |n: i64, min: i64| (span / n.max(1)).max(min);
        let (views, carts) = (gap(r.page_views, HOUR), gap(r.add_to_carts, HOUR));
        let buys = gap(self.purchase_amounts.len() as i64, DAY);
        let who = &self.idents[..1];
        let ev = |kind, amount, at| Event { idents: who.to_vec(), kind, amount, at };
        let mut out = Vec::with_capacity((r.page_views + r.add_to_carts + r.purchases) as usize);
        out.extend((0..r.page_views).map(|k| ev(EventKind::PageView, 0.0, JAN_2024 - (k + 1) * views)));
        out.extend((0..r.add_to_carts).map(|k| ev(EventKind::AddToCart, 0.0, JAN_2024 - (k + 1) * carts - HOUR / 2)));
        let n = self.purchase_amounts.len() as i64;
        out.extend(
            self.purchase_amounts
                .iter()
                .enumerate()
                .map(|(k, a)| ev(EventKind::Purchase, *a, r.last_purchase_at - (n - 1 - k as i64) * buys)),
        );
        out
    }
}

/// Event types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    PageView,
    AddToCart,
    Purchase,
}

/// One tracked event: who (one or two identifiers: a login carries the
/// visitor's anonymous id and the user id, which stitches them), what, when.
#[derive(Clone, Debug)]
pub struct Event {
    pub idents: Vec<Ident>,
    pub kind: EventKind,
    pub amount: f64,
    pub at: i64,
}

impl Event {
    /// The rollup increments this event applies.
    pub fn delta(&self) -> Rollups {
        let mut r = Rollups::default();
        match self.kind {
            EventKind::PageView => r.page_views = 1,
            EventKind::AddToCart => r.add_to_carts = 1,
            EventKind::Purchase => {
                r.purchases = 1;
                r.purchase_sum = self.amount;
                r.last_purchase_at = self.at;
            }
        }
        r
    }
}

/// A one-trait update.
#[derive(Clone, Debug)]
pub enum TraitSet {
    Plan(&'static str),
    Country(&'static str),
    Ltv(f64),
    EmailOptIn(bool),
}

impl TraitSet {
    pub fn name(&self) -> &'static str {
        match self {
            TraitSet::Plan(_) => "plan",
            TraitSet::Country(_) => "country",
            TraitSet::Ltv(_) => "ltv",
            TraitSet::EmailOptIn(_) => "email_opt_in",
        }
    }

    pub fn json(&self) -> Value {
        match self {
            TraitSet::Plan(s) | TraitSet::Country(s) => json!(s),
            TraitSet::Ltv(x) => json!(x),
            TraitSet::EmailOptIn(b) => json!(b),
        }
    }
}

/// How many of each operation to run.
#[derive(Clone, Copy, Debug)]
pub struct OpCounts {
    pub lookups: usize,
    pub updates: usize,
    pub events: usize,
    pub counts: usize,
    pub members: usize,
}

/// The measured operations' inputs, generated before any timing.
pub struct Ops {
    pub lookups: Vec<Ident>,
    pub updates: Vec<(Ident, TraitSet)>,
    pub events: Vec<Event>,
    pub counts: Vec<CountQuery>,
    pub members: Vec<(Ident, usize)>,
    /// Lookups run before measuring (not timed), of other random profiles.
    pub warm_lookups: Vec<Ident>,
    /// Membership checks run before measuring (not timed).
    pub warm_members: Vec<(Ident, usize)>,
    /// Anonymous visitors of the event stream (`Ident::visitor(0..visitors)`).
    pub visitors: u64,
}

/// Generates every operation for a population of `n` profiles.
pub fn ops(base: u64, n: u64, c: OpCounts) -> Ops {
    let mut rng = Rng::new(base ^ 0x1001);
    let lookups = (0..c.lookups)
        .map(|_| {
            let i = rng.below(n);
            match rng.below(10) {
                0..=4 => Ident::user(i),
                5..=7 => Ident::email(i),
                _ if i % 10 < ANON_TENTHS => Ident::anon(i),
                _ => Ident::user(i),
            }
        })
        .collect();
    let mut rng = Rng::new(base ^ 0x2002);
    let updates = (0..c.updates)
        .map(|_| {
            let i = rng.below(n);
            let set = match rng.below(4) {
                0 => TraitSet::Plan(rng.weighted(&[("free", 40), ("basic", 25), ("pro", 25), ("enterprise", 10)])),
                1 => TraitSet::Country(rng.weighted(&[("US", 3), ("DE", 2), ("FR", 1), ("GB", 1), ("JP", 1)])),
                2 => TraitSet::Ltv(cents(rng.unit() * 3000.0)),
                _ => TraitSet::EmailOptIn(rng.chance(0.5)),
            };
            (Ident::user(i), set)
        })
        .collect();
    let mut rng = Rng::new(base ^ 0x3003);
    let visitors = (c.events as u64 / 10).max(1);
    let owner = |j: u64| j.wrapping_mul(2_654_435_761) % n;
    let events = (0..c.events)
        .map(|k| {
            let r = rng.unit();
            let idents = if r < 0.60 {
                let i = rng.below(n);
                vec![if rng.chance(0.8) { Ident::user(i) } else { Ident::email(i) }]
            } else if r < 0.85 {
                vec![Ident::visitor(rng.below(visitors))]
            } else {
                let j = rng.below(visitors);
                vec![Ident::visitor(j), Ident::user(owner(j))]
            };
            let kind = match rng.below(10) {
                0..=6 => EventKind::PageView,
                7 | 8 => EventKind::AddToCart,
                _ => EventKind::Purchase,
            };
            let amount = if kind == EventKind::Purchase { quarters(5.0 + rng.unit() * 295.0) } else { 0.0 };
            Event { idents, kind, amount, at: JUN_2025 + k as i64 * 1000 }
        })
        .collect();
    let counts = (0..c.counts).map(|k| COUNT_QUERIES[k % COUNT_QUERIES.len()]).collect();
    let mut rng = Rng::new(base ^ 0x4004);
    let members = (0..c.members).map(|_| (Ident::user(rng.below(n)), rng.below(20) as usize)).collect();
    let mut rng = Rng::new(base ^ 0x5005);
    let warm = c.lookups.min(n as usize);
    let warm_lookups = (0..warm).map(|_| Ident::user(rng.below(n))).collect();
    let warm_members = (0..warm).map(|_| (Ident::email(rng.below(n)), rng.below(20) as usize)).collect();
    Ops { lookups, updates, events, counts, members, warm_lookups, warm_members, visitors }
}
