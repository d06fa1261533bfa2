//! The demo's dataset: people and what they do over four simulated
//! months, generated deterministically from a seed (splitmix64).

use profiledb::Timestamp;

/// 2024-01-01T00:00:00Z: the simulation's first instant.
pub const START: i64 = 1_704_067_200_000;
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
    /// How interesting the person is to show (more stitching, more history).
    pub showcase: u32,
}

/// What a person does at one instant.
#[derive(Debug, Clone)]
pub enum Action {
    /// Subscribes to the newsletter with the email alone.
    Newsletter,
    /// Browses anonymously (or, after signup, on a linked device).
    Visit {
        /// Which device (0 or 1).
        device: usize,
        /// Pages viewed.
        pages: i64,
    },
    /// Signs up on device 0: anonymous id, user id and email together.
    Signup,
    /// Logs in on device 1: its anonymous profile merges in.
    Login,
    /// Buys something.
    Purchase {
        /// The amount in cents.
        cents: i64,
    },
    /// Changes plan.
    Upgrade {
        /// The new plan.
        plan: &'static str,
    },
    /// Moves to another city.
    Move {
        /// The new city.
        city: &'static str,
    },
}

/// One action at one instant.
#[derive(Debug, Clone)]
pub struct Event {
    /// When (epoch ms).
    pub at: i64,
    /// Index into the people.
    pub person: u32,
    /// What.
    pub action: Action,
}

/// The whole dataset, events in time order.
#[derive(Debug)]
pub struct Dataset {
    /// Everyone.
    pub people: Vec<Person>,
    /// Everything they do, oldest first.
    pub events: Vec<Event>,
}

/// Generates `n` people and their events from `seed`.
pub fn generate(n: u32, seed: u64) -> Dataset {
    let mut rng = SplitMix::new(seed);
    let mut people = Vec::with_capacity(n as usize);
    let mut events = Vec::with_capacity(n as usize * 5);
    for i in 0..n {
        let (person, mut evs) = person(&mut rng, i);
        people.push(person);
        events.append(&mut evs);
    }
    // Stable sort: same-instant events keep their generation order.
    events.sort_by_key(|e| e.at);
    Dataset { people, events }
}

fn person(rng: &mut SplitMix, i: u32) -> (Person, Vec<Event>) {
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
        showcase: 0,
    };
    let mut evs = Vec::new();
    let mut push = |at: i64, action: Action| evs.push(Event { at, person: i, action });

    let first_visit = START + rng.range(0, 90 * DAY);
    if rng.chance(0.12) {
        push((first_visit - rng.range(DAY, 30 * DAY)).max(START), Action::Newsletter);
        p.showcase += 4;
    }
    push(first_visit, Action::Visit { device: 0, pages: rng.range(1, 12) });
    let second_device = rng.chance(0.3).then(|| first_visit + rng.range(HOUR, 10 * DAY));
    if let Some(at) = second_device {
        push(at, Action::Visit { device: 1, pages: rng.range(1, 6) });
    }
    if !rng.chance(0.75) {
        for _ in 0..rng.range(0, 3) {
            push(first_visit + rng.range(HOUR, 20 * DAY), Action::Visit { device: 0, pages: rng.range(1, 5) });
        }
        return (p, evs);
    }
    p.showcase += 2;
    let signup = first_visit + rng.range(5 * MINUTE, 3 * DAY);
    push(signup, Action::Signup);
    if let Some(at) = second_device {
        push(at.max(signup) + rng.range(HOUR, 5 * DAY), Action::Login);
        p.showcase += 4;
    }
    for _ in 0..rng.range(0, 4) {
        push(signup + rng.range(HOUR, 60 * DAY), Action::Visit { device: 0, pages: rng.range(1, 8) });
    }
    let purchases = match rng.range(0, 100) {
        0..=34 => 0,
        35..=64 => 1,
        65..=82 => 2,
        83..=92 => 3,
        _ => rng.range(4, 7),
    };
    for _ in 0..purchases {
        push(signup + rng.range(HOUR, 60 * DAY), Action::Purchase { cents: rng.range(900, 25_000) });
    }
    p.showcase += purchases.min(3) as u32;
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

    #[test]
    fn same_seed_same_data() {
        let a = generate(50, 7);
        let b = generate(50, 7);
        assert_eq!(a.events.len(), b.events.len());
        assert_eq!(a.people[3].email, b.people[3].email);
        assert!(a.events.windows(2).all(|w| w[0].at <= w[1].at));
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
