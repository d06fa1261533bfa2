//! The profile, record and delta layouts of formats 1–3 (tags `0x01`,
//! `0x02`, `0x03`), read by this build and converted to the current
//! types with an empty consent map; and the record of format 4 (tag
//! `0x13`), read with no identifier counts; and the delta of formats 4–6
//! (tag `0x14`), whose consent changes carry no given time. Nothing writes
//! them any more.

use serde::Deserialize;

use crate::clock::Timestamp;
use crate::identity::identifier::Identifier;
use crate::profile::consent::{ConsentChange, ConsentOp, ConsentState, Consents};
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::id::ProfileId;
use crate::profile::operator::TraitOp;
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;

/// `Profile` of formats 1–3: no consent.
#[derive(Deserialize)]
pub(crate) struct ProfileV1 {
    id: ProfileId,
    version: u64,
    created_at: Timestamp,
    updated_at: Timestamp,
    traits: Traits,
}

impl From<ProfileV1> for Profile {
    fn from(p: ProfileV1) -> Self {
        Profile {
            id: p.id,
            version: p.version,
            created_at: p.created_at,
            updated_at: p.updated_at,
            traits: p.traits,
            consent: Consents::new(),
        }
    }
}

/// `ProfileRecord` of formats 1–3.
#[derive(Deserialize)]
pub(crate) struct ProfileRecordV1 {
    profile: ProfileV1,
    history_floor: u64,
    last_snapshot: u64,
}

impl From<ProfileRecordV1> for ProfileRecord {
    fn from(r: ProfileRecordV1) -> Self {
        ProfileRecord {
            profile: std::sync::Arc::new(r.profile.into()),
            history_floor: r.history_floor,
            last_snapshot: r.last_snapshot,
            kinds: None,
        }
    }
}

/// `ProfileRecord` of format 4: consent, no identifier counts.
#[derive(Deserialize)]
pub(crate) struct ProfileRecordV2 {
    profile: Profile,
    history_floor: u64,
    last_snapshot: u64,
}

impl From<ProfileRecordV2> for ProfileRecord {
    fn from(r: ProfileRecordV2) -> Self {
        ProfileRecord {
            profile: std::sync::Arc::new(r.profile),
            history_floor: r.history_floor,
            last_snapshot: r.last_snapshot,
            kinds: None,
        }
    }
}

/// `Change` of formats 1–3: results without consent.
#[derive(Deserialize)]
pub(crate) enum ChangeV1 {
    Update(Vec<TraitOp>),
    Merge {
        loser: ProfileId,
        loser_state: ProfileV1,
        loser_history_floor: u64,
        loser_last_snapshot: u64,
        result: Traits,
    },
    Unmerge {
        split_off: ProfileId,
        result: Traits,
    },
    SplitFrom {
        survivor: ProfileId,
        result: Traits,
    },
}

/// A `Delta` of an older format: the current fields around that format's
/// `Change`.
#[derive(Deserialize)]
pub(crate) struct OldDelta<C> {
    version: u64,
    at: Timestamp,
    cause: Cause,
    via: Vec<Identifier>,
    linked: Vec<Identifier>,
    unlinked: Vec<Identifier>,
    change: C,
}

impl<C: Into<Change>> From<OldDelta<C>> for Delta {
    fn from(d: OldDelta<C>) -> Self {
        Delta {
            version: d.version,
            at: d.at,
            cause: d.cause,
            via: d.via,
            linked: d.linked,
            unlinked: d.unlinked,
            change: d.change.into(),
        }
    }
}

/// `Delta` of formats 1–3.
pub(crate) type DeltaV1 = OldDelta<ChangeV1>;

impl From<ChangeV1> for Change {
    fn from(c: ChangeV1) -> Self {
        let consent = Consents::new();
        match c {
            ChangeV1::Update(ops) => Change::Update(ops),
            ChangeV1::Merge { loser, loser_state, loser_history_floor, loser_last_snapshot, result } => Change::Merge {
                loser,
                loser_state: loser_state.into(),
                loser_history_floor,
                loser_last_snapshot,
                result,
                consent,
            },
            ChangeV1::Unmerge { split_off, result } => Change::Unmerge { split_off, result, consent },
            ChangeV1::SplitFrom { survivor, result } => Change::SplitFrom { survivor, result, consent },
        }
    }
}

/// `ConsentOp` of formats 4–6: no given time (it applies as said when the
/// delta was written, as it did then).
#[derive(Deserialize)]
pub(crate) struct ConsentOpV1 {
    purpose: String,
    change: ConsentChangeV1,
}

/// `ConsentChange` of formats 4–6.
#[derive(Deserialize)]
pub(crate) struct ConsentChangeV1 {
    state: ConsentState,
    source: String,
    expires_at: Option<Timestamp>,
}

impl From<ConsentOpV1> for ConsentOp {
    fn from(o: ConsentOpV1) -> Self {
        let ConsentChangeV1 { state, source, expires_at } = o.change;
        ConsentOp { purpose: o.purpose, change: ConsentChange { state, source, expires_at, given_at: None } }
    }
}

/// `Change` of formats 4–6: as now, but consent changes without a given time.
#[derive(Deserialize)]
pub(crate) enum ChangeV2 {
    Update(Vec<TraitOp>),
    Merge {
        loser: ProfileId,
        loser_state: Profile,
        loser_history_floor: u64,
        loser_last_snapshot: u64,
        result: Traits,
        consent: Consents,
    },
    Unmerge {
        split_off: ProfileId,
        result: Traits,
        consent: Consents,
    },
    SplitFrom {
        survivor: ProfileId,
        result: Traits,
        consent: Consents,
    },
    Consent(Vec<ConsentOpV1>),
}

/// `Delta` of formats 4–6.
pub(crate) type DeltaV2 = OldDelta<ChangeV2>;

impl From<ChangeV2> for Change {
    fn from(c: ChangeV2) -> Self {
        match c {
            ChangeV2::Update(ops) => Change::Update(ops),
            ChangeV2::Merge { loser, loser_state, loser_history_floor, loser_last_snapshot, result, consent } => {
                Change::Merge { loser, loser_state, loser_history_floor, loser_last_snapshot, result, consent }
            }
            ChangeV2::Unmerge { split_off, result, consent } => Change::Unmerge { split_off, result, consent },
            ChangeV2::SplitFrom { survivor, result, consent } => Change::SplitFrom { survivor, result, consent },
            ChangeV2::Consent(ops) => Change::Consent(ops.into_iter().map(Into::into).collect()),
        }
    }
}
