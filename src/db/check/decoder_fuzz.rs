//! Fuzz-style property tests of every value decoder: arbitrary bytes,
//! arbitrary bodies after a valid tag, truncations, trailing bytes and bit
//! flips of valid encodings must give an error or a value that re-encodes
//! stably — never a panic, and never an allocation sized by a corrupt
//! length prefix.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::codec::{tags, Marker, Tagged, ValueCodec};
use crate::event::Event;
use crate::identity::link::IdentityLink;
use crate::privacy::AuditRecord;
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::state::{Profile, ProfileRecord};
use crate::profile::traits::Traits;
use crate::rollup::{Acc, RfmModel, RollupRecord, SeriesDef};
use crate::schema::DedupEntry;
use crate::segment::bitmap_codec::{Chunk, ChunkDelta};
use crate::segment::{FeedRecord, SegmentDef};
use crate::{Identifier, ProfileId, Timestamp, TraitOp, TraitValue};

/// Decodes `bytes` as a fixed-layout value; one that decodes must be
/// exactly its canonical encoding.
fn fixed<T: ValueCodec + Debug>(bytes: &[u8]) -> bool {
    match T::decode_value(bytes) {
        Ok(v) => {
            assert_eq!(v.encode_value(), bytes, "{v:?} decoded from a non-canonical encoding");
            true
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            false
        }
    }
}

/// Decodes `bytes` as a tagged value; one that decodes must re-encode to
/// bytes that decode to the same encoding again.
fn tagged<T: Tagged + Debug>(bytes: &[u8]) -> bool {
    re_encodes::<T>(bytes, T::NAME)
}

/// Decodes `bytes` as a `T` (errors name it `name`); one that decodes must
/// re-encode to bytes that decode to the same encoding again (an older
/// layout re-encodes in the current one).
fn re_encodes<T: ValueCodec + Debug>(bytes: &[u8], name: &str) -> bool {
    match T::decode_value(bytes) {
        Ok(v) => {
            let once = v.encode_value();
            let again = T::decode_value(&once).unwrap_or_else(|e| panic!("{v:?} does not decode its encoding: {e}"));
            assert_eq!(again.encode_value(), once);
            true
        }
        Err(reason) => {
            assert!(reason.contains(name), "the error names the type: {reason}");
            false
        }
    }
}

/// Decodes `bytes` as a segment chunk (roaring's own format after the
/// tag); one that decodes must re-encode to bytes that decode to it again.
fn chunk(bytes: &[u8]) -> bool {
    match Chunk::decode_value(bytes) {
        Ok(c) => {
            let again = Chunk::decode_value(&c.encode_value()).unwrap_or_else(|e| panic!("{c:?}: {e}"));
            assert_eq!(again, c);
            true
        }
        Err(reason) => {
            assert!(!reason.is_empty());
            false
        }
    }
}

/// Feeds `bytes` to every value decoder; returns the names of the types
/// that accepted them (at most one: every type has its own tag).
fn decode_everything(bytes: &[u8]) -> Vec<&'static str> {
    let results = [
        ("u32", fixed::<u32>(bytes)),
        ("u64", fixed::<u64>(bytes)),
        ("marker", fixed::<Marker>(bytes)),
        ("chunk", chunk(bytes)),
        ("chunk delta", fixed::<ChunkDelta>(bytes)),
        (ProfileRecord::NAME, tagged::<ProfileRecord>(bytes)),
        (Delta::NAME, tagged::<Delta>(bytes)),
        (Profile::NAME, tagged::<Profile>(bytes)),
        (IdentityLink::NAME, tagged::<IdentityLink>(bytes)),
        (SeriesDef::NAME, tagged::<SeriesDef>(bytes)),
        (RollupRecord::NAME, tagged::<RollupRecord>(bytes)),
        ("Acc", re_encodes::<Acc>(bytes, "Acc")),
        (Event::NAME, tagged::<Event>(bytes)),
        (DedupEntry::NAME, tagged::<DedupEntry>(bytes)),
        (RfmModel::NAME, tagged::<RfmModel>(bytes)),
        (SegmentDef::NAME, tagged::<SegmentDef>(bytes)),
        (FeedRecord::NAME, tagged::<FeedRecord>(bytes)),
        (bool::NAME, tagged::<bool>(bytes)),
        (AuditRecord::NAME, tagged::<AuditRecord>(bytes)),
    ];
    results.into_iter().filter(|(_, ok)| *ok).map(|(name, _)| name).collect()
}

fn ident(s: &str) -> Identifier {
    s.parse().unwrap()
}

fn traits() -> Traits {
    let mut t = Traits::new();
    let values = [
        ("a.null", TraitValue::Null),
        ("a.bool", TraitValue::Bool(true)),
        ("int", TraitValue::Int(-300)),
        ("float", TraitValue::Float(2.5)),
        ("str", TraitValue::Str("héllo".into())),
        ("time", TraitValue::Time(Timestamp(1_700_000_000_000))),
        ("list", TraitValue::List(vec!["x".into(), "y".into()])),
    ];
    for (name, v) in values {
        t.insert(name, v, Timestamp(1_000)).unwrap();
    }
    t
}

fn profile() -> Profile {
    Profile {
        id: ProfileId(70_000),
        version: 300,
        created_at: Timestamp(-5),
        updated_at: Timestamp(9),
        traits: traits(),
        consent: consents(),
    }
}

fn consents() -> crate::profile::consent::Consents {
    use crate::profile::consent::{ConsentRecord, ConsentState};
    let rec = |state, expires_at| ConsentRecord { state, source: "form".into(), at: Timestamp(5), expires_at };
    [
        ("analytics".to_string(), rec(ConsentState::Granted, Some(Timestamp(99)))),
        ("marketing_email".to_string(), rec(ConsentState::Withdrawn, None)),
        ("sms".to_string(), rec(ConsentState::Denied, None)),
    ]
    .into()
}

fn delta(change: Change, cause: Cause) -> Delta {
    Delta {
        version: 7,
        at: Timestamp(123_456),
        cause,
        via: vec![ident("email:a@x.com")],
        linked: vec![ident("user_id:u1"), ident("device_id:d")],
        unlinked: vec![],
        change,
    }
}

/// One valid encoding of every value type, covering every enum variant.
fn samples() -> Vec<Vec<u8>> {
    let ops = vec![
        TraitOp::Set { name: "a".into(), value: TraitValue::Int(1) },
        TraitOp::SetOnce { name: "b".into(), value: TraitValue::Str("s".into()) },
        TraitOp::Unset { name: "c".into() },
        TraitOp::Increment { name: "d".into(), by: TraitValue::Float(0.5) },
        TraitOp::AddToSet { name: "e".into(), values: vec!["v".into()] },
        TraitOp::RemoveFromSet { name: "e".into(), values: vec!["w".into()] },
    ];
    let merge = Change::Merge {
        loser: ProfileId(3),
        loser_state: profile(),
        loser_history_floor: 2,
        loser_last_snapshot: 32,
        result: traits(),
        consent: consents(),
    };
    let consent_ops = vec![
        crate::profile::consent::ConsentOp {
            purpose: "sms".into(),
            change: crate::profile::consent::ConsentChange::granted_until("app", Timestamp(10)),
        },
        crate::profile::consent::ConsentOp {
            purpose: "ads".into(),
            change: crate::profile::consent::ConsentChange::denied("banner").given_at(Timestamp(5)),
        },
    ];
    let link = IdentityLink {
        profile: ProfileId(1),
        origin: ProfileId(300),
        linked_at: Timestamp(77),
        cause: Cause::Admin("merge 1 300".into()),
        detached: true,
    };
    let event = Cause::Event { message_id: Some("m-1".into()), name: "Order Completed".into() };
    vec![
        7u32.encode_value(),
        u64::MAX.encode_value(),
        Marker.encode_value(),
        ProfileRecord {
            profile: Arc::new(profile()),
            history_floor: 4,
            last_snapshot: 64,
            kinds: Some(Arc::new(crate::identity::kinds::KindCounts::of(&["email:a@x.com".parse().unwrap()]))),
        }
        .encode_value(),
        delta(Change::Update(ops), event).encode_value(),
        delta(merge, Cause::Api).encode_value(),
        delta(
            Change::Unmerge { split_off: ProfileId(9), result: traits(), consent: consents() },
            Cause::Request("r".into()),
        )
        .encode_value(),
        delta(
            Change::SplitFrom { survivor: ProfileId(0), result: Traits::new(), consent: Default::default() },
            Cause::Api,
        )
        .encode_value(),
        delta(Change::Consent(consent_ops), Cause::Api).encode_value(),
        profile().encode_value(),
        link.encode_value(),
        acc_sample(false).encode(),
        acc_sample(true).encode(),
        // Format 9: numeric, the sum as one f64.
        [&[tags::ACC_V2, 0x01, 1, 1][..], &2.5f64.to_le_bytes()].concat(),
        crate::codec::tagged::encode_with_tag(tags::ACC, &acc_sample(true)),
    ]
}

/// An accumulator: a one-event day bucket with a number and a value, or
/// (`many`) one over several days with values dropped and a sum of two
/// partials.
fn acc_sample(many: bool) -> Acc {
    let t = 1_700_000_000_000;
    let mut acc = Acc { count: 1, numeric: 1, sum: 2.5.into(), min: Some(2.5), max: Some(2.5), ..Acc::default() };
    acc.first = Some(t);
    acc.last = Some(t + if many { 9 * Timestamp::DAY } else { 0 });
    acc.days.insert(crate::rollup::acc::day_bit(Timestamp(t).day()));
    acc.values.insert("/pricing".into(), 1);
    if many {
        acc.count = 4;
        acc.days.insert(crate::rollup::acc::day_bit(Timestamp(t).day() + 9));
        acc.overflow = true;
        acc.sum.add(0.1);
        assert_eq!(acc.sum.partials().len(), 2);
    }
    acc
}

#[test]
fn valid_encodings_decode_by_exactly_one_decoder() {
    for s in samples() {
        assert_eq!(decode_everything(&s).len(), 1, "{s:02x?}");
    }
}

/// Regression: roaring reads what its header announces and ignores the
/// rest, so a chunk followed by garbage decoded as if the garbage were not
/// there.
#[test]
fn a_bitmap_chunk_with_trailing_bytes_is_an_error() {
    let mut bytes = Chunk(roaring::RoaringBitmap::from_iter([1u32, 7, 65_535])).encode_value();
    bytes.extend_from_slice(&[0xde, 0xad]);
    assert!(Chunk::decode_value(&bytes).is_err(), "trailing bytes after a bitmap chunk were accepted");
}

/// Regression: roaring reads run containers (building an empty container
/// from a run container holding no run) and containers in any key order
/// (then `contains` misses members); a chunk must be in the layout roaring
/// writes.
#[test]
fn a_bitmap_chunk_in_another_layout_is_an_error() {
    let runs = [tags::BITMAP, 0x3b, 0x30, 0, 0, 0x01, 0, 0, 0, 0, 0, 0];
    assert!(Chunk::decode_value(&runs).unwrap_err().contains("cookie"));
    let mut bytes = Chunk(roaring::RoaringBitmap::from_iter([5u32, 65_536 + 5])).encode_value();
    let (first, second) = (bytes[9..13].to_vec(), bytes[13..17].to_vec());
    bytes[9..13].copy_from_slice(&second);
    bytes[13..17].copy_from_slice(&first);
    assert!(Chunk::decode_value(&bytes).unwrap_err().contains("out of order"), "{bytes:02x?}");
}

#[test]
fn every_truncation_and_every_extra_byte_is_an_error() {
    for s in samples() {
        for len in 0..s.len() {
            assert_eq!(decode_everything(&s[..len]), Vec::<&str>::new(), "prefix of {len} bytes of {s:02x?}");
        }
        for extra in [0x00, 0x12, 0xff] {
            let mut longer = s.clone();
            longer.push(extra);
            assert_eq!(decode_everything(&longer), Vec::<&str>::new(), "{s:02x?} + {extra:#04x}");
        }
    }
}

/// A body whose length prefix claims 2^60 elements (or bytes) must fail
/// at once instead of allocating.
#[test]
fn huge_length_prefixes_fail_without_allocating() {
    let huge = {
        let mut v = vec![253];
        v.extend_from_slice(&(1u64 << 60).to_le_bytes());
        v
    };
    // Profile: id, version, created_at, updated_at, then the traits map length.
    let mut profile = vec![tags::SNAPSHOT, 1, 1, 0, 0];
    profile.extend_from_slice(&huge);
    // IdentityLink: profile, origin, linked_at, cause = Admin(String) with a huge length.
    let mut link = vec![tags::IDENTITY_LINK, 1, 1, 0, 2];
    link.extend_from_slice(&huge);
    // Delta: version, at, cause = Api, then `via` with a huge length.
    let mut delta = vec![tags::DELTA, 1, 0, 0];
    delta.extend_from_slice(&huge);
    let start = Instant::now();
    for (bytes, name) in [(&profile, "Profile"), (&link, "IdentityLink"), (&delta, "Delta")] {
        let errors = [
            Profile::decode_value(bytes).err(),
            IdentityLink::decode_value(bytes).err(),
            Delta::decode_value(bytes).err(),
        ];
        assert!(errors.iter().all(Option::is_some), "{name}: {errors:?}");
    }
    assert!(start.elapsed() < Duration::from_secs(1), "decoding huge lengths took {:?}", start.elapsed());
}

/// Every tag: after one, the rest of the bytes reach that type's body decoder.
fn any_tag() -> impl Strategy<Value = u8> {
    prop::sample::select((tags::PROFILE_RECORD_V1..=tags::ACC_V3).collect::<Vec<u8>>())
}

/// 4,000 cases per property unless `PROPTEST_CASES` asks for more (long runs).
fn config() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = 4_000;
    }
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(decode_everything(&bytes).len() <= 1);
    }

    #[test]
    fn arbitrary_bodies_after_a_valid_tag_never_panic(
        tag in any_tag(),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut bytes = vec![tag];
        bytes.extend_from_slice(&body);
        prop_assert!(decode_everything(&bytes).len() <= 1);
    }

    #[test]
    fn bit_flips_of_valid_encodings_never_panic(which in 0usize..10, pos in any::<prop::sample::Index>(), bit in 0u8..8) {
        let original = samples()[which].clone();
        let mut bytes = original.clone();
        let at = pos.index(bytes.len());
        bytes[at] ^= 1 << bit;
        let accepted = decode_everything(&bytes);
        prop_assert!(accepted.len() <= 1);
        if at == 0 {
            let own = decode_everything(&original);
            prop_assert!(accepted != own, "a flipped tag is never read as the original type");
        }
    }

    #[test]
    fn overwritten_bytes_of_valid_encodings_never_panic(
        which in 0usize..10,
        pos in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 1..16),
    ) {
        let mut bytes = samples()[which].clone();
        let at = pos.index(bytes.len());
        for (i, b) in junk.iter().enumerate() {
            if let Some(slot) = bytes.get_mut(at + i) {
                *slot = *b;
            }
        }
        prop_assert!(decode_everything(&bytes).len() <= 1);
    }

    #[test]
    fn mutated_bitmap_chunks_never_panic(
        members in prop::collection::vec(0u32..65_536, 0..3_000),
        run in 0u32..60_000,
        pos in any::<prop::sample::Index>(),
        junk in prop::collection::vec(any::<u8>(), 1..8),
    ) {
        // Array containers, and bitmap containers from the range.
        let mut bitmap = roaring::RoaringBitmap::from_iter(members);
        bitmap.insert_range(run..run + 5_000);
        let mut bytes = Chunk(bitmap).encode_value();
        let at = pos.index(bytes.len());
        for (i, b) in junk.iter().enumerate() {
            if let Some(slot) = bytes.get_mut(at + i) {
                *slot = *b;
            }
        }
        prop_assert!(decode_everything(&bytes).len() <= 1);
        prop_assert!(decode_everything(&bytes[..at]).len() <= 1);
    }
}
