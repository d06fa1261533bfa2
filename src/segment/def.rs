//! Stored segment definitions and change-feed records.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::profile::id::ProfileId;
use crate::segment::Expr;

/// A defined segment as stored in the `segment_def` column family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SegmentDef {
    /// Its dense id (bitmap keys use it).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// The expression as written.
    pub text: String,
    /// The parsed expression.
    pub expr: Expr,
    /// When it was (re)defined.
    pub defined_at: Timestamp,
}

/// What a change-feed record reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeedKind {
    /// The profile entered the segment.
    Entered,
    /// The profile left the segment.
    Exited,
    /// The profile merged into `into` (it left every segment).
    Merged {
        /// The survivor.
        into: ProfileId,
    },
    /// The profile was erased (it left every segment).
    Erased,
    /// The profile was split off `from` (an unmerge undid its merge): it
    /// is a profile of its own again, and the ids merged into it before
    /// reach it again. The segments it is in follow as `Entered` records.
    Split {
        /// The profile it had merged into, which it left.
        from: ProfileId,
    },
}

/// One change-feed record. Written in the same batch as the change, under
/// a sequence number, so a consumer can resume from a cursor after a crash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FeedRecord {
    /// Its sequence number: increasing; dense when written, but an erase
    /// deletes the erased person's records, leaving gaps.
    pub seq: u64,
    /// When the change happened (database clock): the time of the write
    /// that caused it — or, for a change a time-dependent condition caused
    /// (a window lapsing, a consent expiring), the instant it was due,
    /// which a late tick (or a write meeting due wake-ups first) records
    /// after the fact. So `at` can be earlier than the commit and than the
    /// `at` of records with lower sequence numbers; `seq` gives the commit
    /// order.
    pub at: Timestamp,
    /// What happened.
    pub kind: FeedKind,
    /// The segment (none for merges).
    pub segment: Option<String>,
    /// The profile.
    pub profile: ProfileId,
}

impl FeedRecord {
    /// The record as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let (kind, into, from) = match &self.kind {
            FeedKind::Entered => ("entered", None, None),
            FeedKind::Exited => ("exited", None, None),
            FeedKind::Merged { into } => ("merged", Some(into.0), None),
            FeedKind::Erased => ("erased", None, None),
            FeedKind::Split { from } => ("split", None, Some(from.0)),
        };
        serde_json::json!({
            "seq": self.seq, "at": self.at.to_rfc3339(), "kind": kind,
            "segment": self.segment, "profile": self.profile.0, "into": into, "from": from,
        })
    }
}
