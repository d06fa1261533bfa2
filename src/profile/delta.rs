//! [`Delta`]: one entry of a profile's history.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::identity::identifier::Identifier;
use crate::profile::consent::{ConsentOp, Consents};
use crate::profile::id::ProfileId;
use crate::profile::operator::TraitOp;
use crate::profile::state::Profile;
use crate::profile::traits::Traits;

/// Why a delta was written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cause {
    /// A direct library call (`update`, `identify`, ...).
    Api,
    /// An event; its message id when it had one, and its name.
    Event {
        /// The event's `message_id`.
        message_id: Option<String>,
        /// The event name (`track`) or type (`identify`).
        name: String,
    },
    /// An admin action from the CLI, with the command.
    Admin(String),
    /// A request id given by the application (imports, privacy requests...).
    Request(String),
}

impl Cause {
    /// A short human description.
    pub fn describe(&self) -> String {
        match self {
            Cause::Api => "api".into(),
            Cause::Event { message_id: Some(m), name } => format!("event {name} ({m})"),
            Cause::Event { message_id: None, name } => format!("event {name}"),
            Cause::Admin(c) => format!("admin {c}"),
            Cause::Request(r) => format!("request {r}"),
        }
    }
}

/// What a delta changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Change {
    /// Trait operators, applied in order. The first delta of a profile
    /// (version 1) is an update, possibly with no operators, or a consent
    /// change.
    Update(Vec<TraitOp>),
    /// Another profile merged into this one. Both sides' states are kept:
    /// this profile's is the previous version; the loser's is here.
    Merge {
        /// The profile that merged in (now an alias of this one).
        loser: ProfileId,
        /// The loser's full state at the merge (restored by an unmerge).
        loser_state: Profile,
        /// The loser's history floor at the merge.
        loser_history_floor: u64,
        /// The loser's latest snapshot version at the merge.
        loser_last_snapshot: u64,
        /// This profile's traits after the merge rules were applied.
        result: Traits,
        /// This profile's consent after the merge (most restrictive wins).
        consent: Consents,
    },
    /// A profile that had merged in was split off again (recorded on the
    /// profile it is split from).
    Unmerge {
        /// The profile restored as live.
        split_off: ProfileId,
        /// This profile's traits after the split.
        result: Traits,
        /// This profile's consent after the split.
        consent: Consents,
    },
    /// This profile was restored by an unmerge from the profile it had
    /// merged into (recorded on the restored profile).
    SplitFrom {
        /// The profile it was split from.
        survivor: ProfileId,
        /// This profile's traits as reconstructed.
        result: Traits,
        /// This profile's consent as reconstructed.
        consent: Consents,
    },
    /// Consent changes, applied in order (format 4).
    Consent(Vec<ConsentOp>),
}

/// One entry of a profile's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    /// The version this delta produced (the first is 1).
    pub version: u64,
    /// When it was written (database clock; never earlier than the previous delta).
    pub at: Timestamp,
    /// Why.
    pub cause: Cause,
    /// The identifiers the operation came through (empty for writes by id
    /// and admin actions); unmerge uses them to tell whose update it was.
    pub via: Vec<Identifier>,
    /// Identifiers first linked to the profile by this operation.
    pub linked: Vec<Identifier>,
    /// Identifiers unlinked from the profile by this operation (evicted by
    /// an identity rule, removed, or sent back by an unmerge).
    pub unlinked: Vec<Identifier>,
    /// What changed.
    pub change: Change,
}

impl Delta {
    /// Replays this delta onto `traits` and `consent` (the state at
    /// `version - 1`).
    pub(crate) fn replay(&self, traits: &Traits, consent: &Consents) -> crate::Result<(Traits, Consents)> {
        match &self.change {
            Change::Update(ops) => {
                let mut next = traits.clone();
                for op in ops {
                    op.apply(&mut next, self.at)?;
                }
                Ok((next, consent.clone()))
            }
            Change::Consent(ops) => {
                let mut next = consent.clone();
                for op in ops {
                    op.apply(&mut next, self.at);
                }
                Ok((traits.clone(), next))
            }
            Change::Merge { result, consent, .. }
            | Change::Unmerge { result, consent, .. }
            | Change::SplitFrom { result, consent, .. } => Ok((result.clone(), consent.clone())),
        }
    }
}
