//! [`IdentityLink`]: what the `identity` column family stores per identifier.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::profile::delta::Cause;
use crate::profile::id::ProfileId;

/// Where an identifier points, and how it got there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentityLink {
    /// The live profile it resolves to.
    pub profile: ProfileId,
    /// The profile it first attached to (differs from `profile` after a
    /// merge; an unmerge sends it back there).
    pub origin: ProfileId,
    /// When it was first linked.
    pub linked_at: Timestamp,
    /// The operation that linked it.
    pub cause: Cause,
    /// Set by `remove_identifier`: the identifier stays on its own profile
    /// and is never stitched into another unless explicitly re-linked.
    pub detached: bool,
}
