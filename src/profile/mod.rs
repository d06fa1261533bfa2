//! Profiles: ids, typed trait values, operators, deltas and states.

pub mod consent;
pub mod delta;
pub(crate) mod history;
pub mod id;
pub(crate) mod legacy;
pub mod merge_rules;
pub mod operator;
pub mod state;
pub mod traits;
pub mod value;
