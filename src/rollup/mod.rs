//! Event rollups: per-profile aggregates (count, sum, min, max, average,
//! first, last, active days, most frequent and unique values) over time
//! windows, stored in UTC day buckets by event time and folded by a RocksDB
//! merge operator, so ingest never reads and late events land exactly —
//! sums included: they are kept exactly ([`ExactSum`]), so every fold order
//! and grouping reports the same value.

pub mod acc;
mod acc_codec;
pub(crate) mod cache;
pub(crate) mod cache_entry;
pub(crate) mod compact;
pub(crate) mod contribution;
pub mod def;
pub mod exact_sum;
#[cfg(test)]
mod exact_sum_tests;
pub(crate) mod range;
pub(crate) mod registry;
pub(crate) mod retention;
pub(crate) mod rolling;
pub(crate) mod staged;
pub(crate) mod store;
pub mod window;

pub use acc::{Acc, MAX_UNIQUE_VALUES};
pub use def::{Aggregate, Filter, FilterOp, Literal, RollupDef, SeriesDef};
pub use exact_sum::ExactSum;
pub use registry::RollupRecord;
pub use window::{RollupValue, Window};
pub mod rfm;

pub use rfm::{RfmConfig, RfmModel, RfmReport, RfmScore};
