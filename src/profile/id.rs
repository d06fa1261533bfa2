//! [`ProfileId`]: the dense internal id every profile gets.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A profile's dense internal id, allocated from a persistent counter.
///
/// Roaring bitmaps index `u32`, so segment and trait indexes are bitmaps
/// of `ProfileId`s. Ids are never reused: an id that lost a merge stays an
/// alias of its survivor, and an erased id stays retired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
pub struct ProfileId(pub u32);

impl ProfileId {
    /// Never allocated (the id counter stops before it): the profile of a
    /// receipt for a write that stored nothing.
    pub const NONE: ProfileId = ProfileId(u32::MAX);
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
