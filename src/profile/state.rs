//! [`Profile`]: a profile's current state, as stored and as returned.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::identity::kinds::KindCounts;
use crate::profile::consent::Consents;
use crate::profile::id::ProfileId;
use crate::profile::traits::Traits;

/// A profile at one version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Its id.
    pub id: ProfileId,
    /// Its version: the number of its latest delta.
    pub version: u64,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its latest delta was written.
    pub updated_at: Timestamp,
    /// Its traits.
    pub traits: Traits,
    /// Its consent, by purpose (format 4; empty in states written before).
    pub consent: Consents,
}

impl Profile {
    /// The profile as JSON: id, version, times and nested traits.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id.0,
            "version": self.version,
            "created_at": self.created_at.to_rfc3339(),
            "updated_at": self.updated_at.to_rfc3339(),
            "traits": self.traits.to_json(),
            "consent": self.consent.iter().map(|(p, r)| (p.clone(), r.to_json())).collect::<serde_json::Map<_, _>>(),
        })
    }
}

/// What the `profile` column family stores for a live profile: the current
/// state plus history bookkeeping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProfileRecord {
    /// The current state (shared with readers and the cache).
    pub profile: std::sync::Arc<Profile>,
    /// The oldest version that can still be reconstructed (raised by retention).
    pub history_floor: u64,
    /// The version of the latest stored snapshot.
    pub last_snapshot: u64,
    /// How many identifiers of each kind are linked to it (format 5);
    /// `None` in records written before, until its identifiers next change
    /// — stitching then counts them from `profile_identifiers`. Shared:
    /// a record's next version copies it without allocating.
    pub kinds: Option<std::sync::Arc<KindCounts>>,
}
