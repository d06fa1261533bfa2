//! Placeholder replaced by the hot-path benchmarks.
fn main() {}
