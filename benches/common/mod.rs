//! Helpers shared by the criterion benchmarks: dataset size, identifiers,
//! deterministic pseudo-random picks.

// Each bench target compiles this module and uses only part of it.
#![allow(dead_code)]

use profiledb::Identifier;

/// The dataset size: `var` from the environment, else `default`.
pub fn profiles(var: &str, default: u64) -> u64 {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The identifier of the `i`-th generated profile.
pub fn user(i: u64) -> Identifier {
    Identifier::new("user_id", &format!("u{i:08}")).expect("a generated user id is a valid identifier")
}

/// A splitmix64 step: deterministic pseudo-random picks.
pub fn next(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
