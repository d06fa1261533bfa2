//! [`AuditRecord`]: what a privacy operation did, without personal data.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;

/// Which privacy operation ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditAction {
    /// A profile was erased.
    Erase,
    /// A profile was exported.
    Export,
    /// A profile was anonymized.
    Anonymize,
}

impl AuditAction {
    /// The action's name (`erase`, `export`, `anonymize`).
    pub fn name(self) -> &'static str {
        match self {
            AuditAction::Erase => "erase",
            AuditAction::Export => "export",
            AuditAction::Anonymize => "anonymize",
        }
    }
}

/// One privacy operation. Holds the internal profile id and counts only —
/// never identifiers or trait values — so the log itself may be kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Sequence number.
    pub seq: u64,
    /// When it ran (database clock).
    pub at: Timestamp,
    /// What ran.
    pub action: AuditAction,
    /// The caller's request id (e.g. a ticket number), if given.
    pub request_id: Option<String>,
    /// The internal id of the profile concerned.
    pub profile: u32,
    /// How many stored entries it removed or rewrote (erase: the person's
    /// own, and the other profiles' deltas, snapshots and events it
    /// redacted — for an `erase_many` list, those are counted once, in the
    /// record of its first erased person), returned (export) or rewrote
    /// and removed (anonymize).
    pub entries: u64,
}

impl AuditRecord {
    /// The record as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq, "at": self.at.to_rfc3339(),
            "action": self.action.name(),
            "request_id": self.request_id, "profile": self.profile, "entries": self.entries,
        })
    }
}
