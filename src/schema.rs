//! The typed column families: which value type each one holds.

use crate::codec::{decode_body, tags, Marker, Tagged};
use crate::event::Event;
use crate::identity::link::IdentityLink;
use crate::keys::cf;
use crate::privacy::AuditRecord;
use crate::profile::delta::Delta;
use crate::profile::legacy;
use crate::profile::state::{Profile, ProfileRecord};
use crate::rollup::{Acc, RfmModel, RollupRecord, SeriesDef};
use crate::segment::bitmap_codec::Chunk;
use crate::segment::{FeedRecord, SegmentDef};
use crate::storage::Cf;

/// Maps meta keys (`keys::meta`) to `u32` counters and versions.
pub(crate) const META_U32: Cf<u32> = Cf::new(cf::META);
/// Maps meta keys (`keys::meta`) to `u64` counters.
pub(crate) const META_U64: Cf<u64> = Cf::new(cf::META);
/// Maps `kind ‖ 0x00 ‖ value` to the identifier's [`IdentityLink`].
pub(crate) const IDENTITY: Cf<IdentityLink> = Cf::new(cf::IDENTITY);
/// Maps `profile ‖ kind ‖ 0x00 ‖ value` to a marker (identifiers of a profile).
pub(crate) const PROFILE_IDENTIFIERS: Cf<Marker> = Cf::new(cf::PROFILE_IDENTIFIERS);
/// Maps a profile id to its [`ProfileRecord`].
pub(crate) const PROFILES: Cf<ProfileRecord> = Cf::new(cf::PROFILE);
/// Maps `profile ‖ version` to the [`Delta`] that produced that version.
pub(crate) const DELTAS: Cf<Delta> = Cf::new(cf::DELTA);
/// Maps `profile ‖ version` to the full [`Profile`] at that version.
pub(crate) const SNAPSHOTS: Cf<Profile> = Cf::new(cf::SNAPSHOT);
/// Maps `0x01 ‖ loser` to its survivor's id (`u32`).
pub(crate) const ALIAS_FORWARD: Cf<u32> = Cf::new(cf::ALIAS);
/// Maps `0x02 ‖ survivor ‖ loser` to a marker.
pub(crate) const ALIAS_REVERSE: Cf<Marker> = Cf::new(cf::ALIAS);

/// Maps `0x01 ‖ series id` to its [`SeriesDef`].
pub(crate) const SERIES: Cf<SeriesDef> = Cf::new(cf::ROLLUP_DEF);
/// Maps `0x02 ‖ rollup name` to its [`RollupRecord`].
pub(crate) const ROLLUP_DEFS: Cf<RollupRecord> = Cf::new(cf::ROLLUP_DEF);
/// Maps `profile ‖ series ‖ bucket` to an [`Acc`] (merge operator folds them).
pub(crate) const ROLLUPS: Cf<Acc> = Cf::new(cf::ROLLUP);
/// Maps `profile ‖ event time ‖ seq` to the stored [`Event`].
pub(crate) const EVENTS: Cf<Event> = Cf::new(cf::EVENT);
/// Maps a message id to its [`DedupEntry`].
pub(crate) const DEDUP: Cf<DedupEntry> = Cf::new(cf::DEDUP);

/// When a stored `dedup` value's message id was first accepted; `None`
/// for bytes that do not decode (compaction keeps those pairs).
pub(crate) fn dedup_first_seen(value: &[u8]) -> Option<i64> {
    DEDUP.decode(&[], value).ok().map(|d| d.first_seen)
}

/// What the `dedup` column family remembers of a message id.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct DedupEntry {
    /// When it was first accepted (database clock).
    pub first_seen: i64,
    /// The profile it was applied to.
    pub profile: u32,
}

/// Maps `meta/rfm_model` to the last computed [`RfmModel`].
pub(crate) const RFM: Cf<RfmModel> = Cf::new(cf::META);

/// Maps a segment name to its [`SegmentDef`].
pub(crate) const SEGMENT_DEFS: Cf<SegmentDef> = Cf::new(cf::SEGMENT_DEF);
/// Maps `segment ‖ chunk` to the members in that chunk.
pub(crate) const SEGMENT_CHUNKS: Cf<Chunk> = Cf::new(cf::SEGMENT);
/// Maps `0x02 ‖ segment ‖ profile` to the due time of its wake-up; the
/// wake-ups themselves are `0x01 ‖ due ‖ segment ‖ profile` → marker.
pub(crate) const WAKEUP_INDEX: Cf<u64> = Cf::new(cf::WAKEUP);
/// Maps a sequence number (u64 BE) to a [`FeedRecord`].
pub(crate) const FEED: Cf<FeedRecord> = Cf::new(cf::FEED);
/// Maps `segment ‖ profile ‖ time` to whether the profile entered (true) or exited.
pub(crate) const MEMBERSHIP: Cf<bool> = Cf::new(cf::MEMBERSHIP);

/// Maps `0x01 ‖ trait name` to the id of its trait index (format 4).
pub(crate) const TRAIT_INDEX_DEFS: Cf<u32> = Cf::new(cf::TRAIT_INDEX);
/// Maps the bitmap keys of `keys::trait_index` (values, other, gone) to
/// the members in one chunk (format 4).
pub(crate) const TRAIT_INDEX_CHUNKS: Cf<Chunk> = Cf::new(cf::TRAIT_INDEX);

/// Maps an audit sequence number (u64 BE) to an [`AuditRecord`].
pub(crate) const AUDIT: Cf<AuditRecord> = Cf::new(cf::AUDIT);

impl Tagged for AuditRecord {
    const TAG: u8 = tags::AUDIT_RECORD;
    const NAME: &'static str = "AuditRecord";
}
impl Tagged for SegmentDef {
    const TAG: u8 = tags::SEGMENT_DEF;
    const NAME: &'static str = "SegmentDef";
}
impl Tagged for FeedRecord {
    const TAG: u8 = tags::FEED_RECORD;
    const NAME: &'static str = "FeedRecord";
}
impl Tagged for bool {
    const TAG: u8 = tags::BOOL;
    const NAME: &'static str = "bool";
}
impl Tagged for RfmModel {
    const TAG: u8 = tags::RFM_MODEL;
    const NAME: &'static str = "RfmModel";
}
impl Tagged for SeriesDef {
    const TAG: u8 = tags::SERIES_DEF;
    const NAME: &'static str = "SeriesDef";
}
impl Tagged for RollupRecord {
    const TAG: u8 = tags::ROLLUP_RECORD;
    const NAME: &'static str = "RollupRecord";
}
impl Tagged for Event {
    const TAG: u8 = tags::EVENT;
    const NAME: &'static str = "Event";
}
impl Tagged for DedupEntry {
    const TAG: u8 = tags::DEDUP;
    const NAME: &'static str = "DedupEntry";
}
impl Tagged for ProfileRecord {
    const TAG: u8 = tags::PROFILE_RECORD;
    const NAME: &'static str = "ProfileRecord";
    fn decode_legacy(tag: u8, body: &[u8]) -> Option<Result<Self, crate::codec::DecodeError>> {
        match tag {
            tags::PROFILE_RECORD_V1 => Some(decode_body::<legacy::ProfileRecordV1>(body, Self::NAME).map(Into::into)),
            tags::PROFILE_RECORD_V2 => Some(decode_body::<legacy::ProfileRecordV2>(body, Self::NAME).map(Into::into)),
            _ => None,
        }
    }
}
impl Tagged for Delta {
    const TAG: u8 = tags::DELTA;
    const NAME: &'static str = "Delta";
    fn decode_legacy(tag: u8, body: &[u8]) -> Option<Result<Self, crate::codec::DecodeError>> {
        match tag {
            tags::DELTA_V1 => Some(decode_body::<legacy::DeltaV1>(body, Self::NAME).map(Into::into)),
            tags::DELTA_V2 => Some(decode_body::<legacy::DeltaV2>(body, Self::NAME).map(Into::into)),
            _ => None,
        }
    }
}
impl Tagged for Profile {
    const TAG: u8 = tags::SNAPSHOT;
    const NAME: &'static str = "Profile";
    fn decode_legacy(tag: u8, body: &[u8]) -> Option<Result<Self, crate::codec::DecodeError>> {
        (tag == tags::SNAPSHOT_V1).then(|| decode_body::<legacy::ProfileV1>(body, Self::NAME).map(Into::into))
    }
}
impl Tagged for IdentityLink {
    const TAG: u8 = tags::IDENTITY_LINK;
    const NAME: &'static str = "IdentityLink";
}
