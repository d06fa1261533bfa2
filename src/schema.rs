//! The typed column families: which value type each one holds.

use crate::codec::{tags, Marker, Tagged};
use crate::identity::link::IdentityLink;
use crate::keys::cf;
use crate::profile::delta::Delta;
use crate::profile::state::{Profile, ProfileRecord};
use crate::storage::Cf;

/// Maps meta keys (`keys::meta`) to `u32` counters and versions.
pub(crate) const META_U32: Cf<u32> = Cf::new(cf::META);
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

impl Tagged for ProfileRecord {
    const TAG: u8 = tags::PROFILE_RECORD;
    const NAME: &'static str = "ProfileRecord";
}
impl Tagged for Delta {
    const TAG: u8 = tags::DELTA;
    const NAME: &'static str = "Delta";
}
impl Tagged for Profile {
    const TAG: u8 = tags::SNAPSHOT;
    const NAME: &'static str = "Profile";
}
impl Tagged for IdentityLink {
    const TAG: u8 = tags::IDENTITY_LINK;
    const NAME: &'static str = "IdentityLink";
}
