//! The demo's dataset: people and what they do over four simulated
//! months, generated deterministically from a seed (splitmix64).

use profiledb::Timestamp;

/// How long the simulation runs.
pub const SPAN: i64 = 120 * DAY;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = Timestamp::DAY;

/// splitmix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo) as u64) as i64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.range(0, xs.len() as i64) as usize]
    }
}

const FIRST: &[&str] = &[
    "ann", "bo", "carla", "dev", "emma", "farid", "greta", "hiro", "ines", "jon", "kari", "liam", "maya", "nils",
    "olga", "paul", "quinn", "rosa", "sami", "tara", "ugo", "vera", "wen", "yusuf", "zoe",
];
const LAST: &[&str] = &[
    "berg", "costa", "dahl", "eriksen", "fischer", "garcia", "haugen", "ito", "jensen", "kim", "larsen", "moreau",
    "nakamura", "olsen", "park", "quist", "rossi", "silva", "tanaka", "novak",
];
const DOMAINS: &[&str] = &["example.com", "example.org", "mail.example.net"];
/// Countries with their cities (ISO code, cities).
const PLACES: &[(&str, &[&str])] = &[
    ("NO", &["Oslo", "Bergen", "Trondheim"]),
    ("SE", &["Stockholm", "Göteborg", "Malmö"]),
    ("DE", &["Berlin", "Munich", "Hamburg"]),
    ("FR", &["Paris", "Lyon", "Marseille"]),
    ("GB", &["London", "Manchester", "Leeds"]),
    ("US", &["New York", "Austin", "Seattle", "Chicago"]),
    ("ES", &["Madrid", "Barcelona"]),
    ("JP", &["Tokyo", "Osaka"]),
];
const SOURCES: &[&str] = &["google", "newsletter", "facebook", "direct", "partner", "instagram"];
const UPGRADES: &[&str] = &["starter", "starter", "pro", "pro", "pro", "enterprise"];

const PAGES: &[&str] = &["/", "/", "/products", "/products/shoes", "/products/bags", "/blog", "/about", "/pricing"];
const PRODUCTS: &[(&str, i64)] = &[
    ("sneakers", 8_900),
    ("boots", 15_900),
    ("tote", 4_900),
    ("backpack", 7_900),
    ("scarf", 2_900),
    ("watch", 24_900),
];

/// One simulated person.
#[derive(Debug, Clone)]
pub struct Person {
    /// `user_id` after signup.
    pub user_id: String,
    /// `email`.
    pub email: String,
    /// `anonymous_id` of each device.
    pub anon: [String; 2],
    /// Display name.
    pub name: String,
    /// ISO country code.
    pub country: &'static str,
    /// City (within the country).
    pub city: &'static str,
    /// Where the first visit came from.
    pub source: &'static str,
    /// Whether they signed up (else they stay an anonymous visitor, or a newsletter email).
    pub signed_up: bool,
    /// How interesting the person is to show (more stitching, more history).
    pub showcase: u32,
}

/// What a person does at one instant; each becomes one event.
#[derive(Debug, Clone)]
pub enum Action {
    /// Subscribes to the newsletter with the email alone (identify).
    Newsletter,
    /// Views a page (track `page_view`), on device 0 or 1; signed-up people also carry their user id.
    PageView {
        /// Which device.
        device: usize,
        /// The page path.
        page: &'static str,
        /// Whether the person is logged in.
        known: bool,
    },
    /// Signs up on device 0: anonymous id, user id and email together (identify).
    Signup,
    /// Logs in on device 1: its anonymous profile merges in (identify).
    Login,
    /// Adds a product to the cart (track `add_to_cart`).
    AddToCart {
        /// The product.
        product: &'static str,
        /// Its price in cents.
        cents: i64,
        /// Whether the person is logged in.
        known: bool,
    },
    /// Buys what is in the cart (track `purchase`).
    Purchase {
        /// The product.
        product: &'static str,
        /// The amount in cents.
        cents: i64,
    },
    /// Changes plan (identify).
    Upgrade {
        /// The new plan.
        plan: &'static str,
    },
    /// Moves to another city (identify).
    Move {
        /// The new city.
        city: &'static str,
    },
}

impl Action {
    /// Whether the event may merge two profiles: it links identifiers of
    /// two devices or of a device and an account.
    pub fn may_merge(&self) -> bool {
        matches!(self, Action::Signup | Action::Login)
    }
}

/// One action at one instant.
#[derive(Debug, Clone)]
pub struct Step {
    /// When (epoch ms).
    pub at: i64,
    /// Index into the people.
    pub person: u32,
    /// What.
    pub action: Action,
}

/// The whole dataset, steps in time order.
#[derive(Debug)]
pub struct Dataset {
    /// The first instant.
    pub start: i64,
    /// The last instant: nothing happens after it.
    pub end: i64,
    /// Everyone.
    pub people: Vec<Person>,
    /// Everything they do, oldest first.
    pub steps: Vec<Step>,
}

/// Generates `n` people and what they do in the [`SPAN`] before `end`, from `seed`.
pub fn generate(n: u32, seed: u64, end: i64) -> Dataset {
    let start = end - SPAN;
    let mut rng = SplitMix::new(seed);
    let mut people = Vec::with_capacity(n as usize);
    let mut steps = Vec::with_capacity(n as usize * 20);
    for i in 0..n {
        let (person, evs) = person(&mut rng, i, start);
        people.push(person);
        steps.extend(evs.into_iter().filter(|s| s.at <= end));
    }
    // Stable sort: same-instant steps keep their generation order.
    steps.sort_by_key(|e| e.at);
    Dataset { start, end, people, steps }
}

/// One visit: a few page views a minute or two apart, sometimes a cart.
fn visit(rng: &mut SplitMix, at: i64, device: usize, known: bool, push: &mut impl FnMut(i64, Action)) -> i64 {
    let mut t = at;
    for _ in 0..rng.range(1, 9) {
        let page = if rng.chance(0.08) { "/pricing" } else { rng.pick(PAGES) };
        push(t, Action::PageView { device, page, known });
        t += rng.range(20_000, 3 * MINUTE);
    }
    t
}

fn person(rng: &mut SplitMix, i: u32, start: i64) -> (Person, Vec<Step>) {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let (country, cities) = rng.pick(PLACES);
    let city = rng.pick(cities);
    let mut p = Person {
        user_id: format!("u{:06}", i + 1),
        email: format!("{first}.{last}{}@{}", i + 1, rng.pick(DOMAINS)),
        anon: [format!("{:016x}", rng.next_u64()), format!("{:016x}", rng.next_u64())],
        name: format!("{}{} {}{}", &first[..1].to_uppercase(), &first[1..], &last[..1].to_uppercase(), &last[1..]),
        country,
        city,
        source: rng.pick(SOURCES),
        signed_up: false,
        showcase: 0,
    };
    let mut evs = Vec::new();
    let mut push = |at: i64, action: Action| evs.push(Step { at, person: i, action });

    let first_visit = start + rng.range(0, SPAN - 10 * DAY);
    if rng.chance(0.12) {
        push((first_visit - rng.range(DAY, 30 * DAY)).max(start), Action::Newsletter);
        p.showcase += 4;
    }
    let mut t = visit(rng, first_visit, 0, false, &mut push);
    let second_device = rng.chance(0.3).then(|| first_visit + rng.range(HOUR, 10 * DAY));
    if let Some(at) = second_device {
        visit(rng, at, 1, false, &mut push);
    }
    if !rng.chance(0.7) {
        // A visitor who never signs up: a few more visits, sometimes a cart left behind.
        for _ in 0..rng.range(0, 3) {
            let at = first_visit + rng.range(HOUR, 20 * DAY);
            let end = visit(rng, at, 0, false, &mut push);
            if rng.chance(0.15) {
                let (product, cents) = rng.pick(PRODUCTS);
                push(end, Action::AddToCart { product, cents, known: false });
            }
        }
        return (p, evs);
    }
    p.signed_up = true;
    p.showcase += 2;
    if rng.chance(0.2) {
        // Shops as a guest first: the cart stitches in at signup.
        let (product, cents) = rng.pick(PRODUCTS);
        push(t, Action::AddToCart { product, cents, known: false });
        t += MINUTE;
    }
    let signup = t + rng.range(MINUTE, 3 * DAY);
    push(signup, Action::Signup);
    if let Some(at) = second_device {
        push(at.max(signup) + rng.range(HOUR, 5 * DAY), Action::Login);
        p.showcase += 4;
    }
    let engagement = rng.range(1, 12);
    for _ in 0..engagement {
        let at = signup + rng.range(HOUR, 100 * DAY);
        let device = usize::from(second_device.is_some() && rng.chance(0.3));
        let end = visit(rng, at, device, true, &mut push);
        if rng.chance(0.35) {
            let (product, cents) = rng.pick(PRODUCTS);
            let qty = rng.range(1, 3);
            push(end, Action::AddToCart { product, cents: cents * qty, known: true });
            if rng.chance(0.6) {
                push(end + rng.range(2 * MINUTE, 2 * HOUR), Action::Purchase { product, cents: cents * qty });
                p.showcase += 1;
            }
        }
    }
    if rng.chance(0.25) {
        push(signup + rng.range(DAY, 45 * DAY), Action::Upgrade { plan: rng.pick(UPGRADES) });
        p.showcase += 2;
    }
    if rng.chance(0.05) {
        let to = rng.pick(cities);
        if to != city {
            push(signup + rng.range(10 * DAY, 60 * DAY), Action::Move { city: to });
            p.showcase += 1;
        }
    }
    (p, evs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: i64 = 1_714_564_800_000;

    #[test]
    fn same_seed_same_data() {
        let a = generate(50, 7, END);
        let b = generate(50, 7, END);
        assert_eq!(a.steps.len(), b.steps.len());
        assert_eq!(a.people[3].email, b.people[3].email);
        assert!(a.steps.windows(2).all(|w| w[0].at <= w[1].at));
        assert!(a.steps.iter().all(|s| (a.start..=a.end).contains(&s.at)));
    }

    #[test]
    fn ranges_stay_in_bounds() {
        let mut r = SplitMix::new(1);
        for _ in 0..1000 {
            let x = r.range(3, 9);
            assert!((3..9).contains(&x));
        }
        assert_eq!(r.range(5, 5), 5);
    }
}
