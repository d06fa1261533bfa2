//! Identifier listings read one state: the id is resolved in the same
//! view its identifiers are listed from, whatever commits meanwhile.

use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::{ProfileDb, Update};

fn ident(s: &str) -> Identifier {
    s.parse().expect("a valid test identifier")
}

#[test]
fn a_merge_committing_after_the_view_is_taken_does_not_mix_into_the_listing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = ProfileDb::open(dir.path()).expect("open");
    let zero = db.update(&ident("anonymous_id:a"), Update::new().set("n", 1)).expect("update").profile;
    let one = db.update(&ident("device_id:d"), Update::new().set("n", 2)).expect("update").profile;
    assert_eq!((zero, one), (ProfileId(0), ProfileId(1)));
    let view = db.core.store.snapshot();
    // Commits after the view: 1 merges into 0.
    db.identify(&[ident("anonymous_id:a"), ident("device_id:d")], Update::new()).expect("merge");
    assert_eq!(db.resolve_id(one).expect("resolve"), Some(zero));

    // In the view, 1 is still its own profile with its own identifier.
    let (live, listed) = db.identifiers_in(&view, one).expect("listing");
    assert_eq!(live, one, "resolved in the view, not in the latest state");
    assert_eq!(listed, vec![ident("device_id:d")]);
    let (live, listed) = db.identifiers_in(&view, zero).expect("listing");
    assert_eq!((live, listed), (zero, vec![ident("anonymous_id:a")]));

    // A fresh view sees the merge: 1 reaches 0, which holds both.
    let (live, listed) = db.identifiers_in(&db.core.store.snapshot(), one).expect("listing");
    assert_eq!(live, zero);
    assert_eq!(listed, vec![ident("anonymous_id:a"), ident("device_id:d")]);
    assert_eq!(db.identifiers(one).expect("identifiers"), listed);
    let graph: Vec<Identifier> = db.identity_graph(one).expect("graph").into_iter().map(|i| i.identifier).collect();
    assert_eq!(graph, listed);
}

/// The identity cache is sized on its own (`identity_cache_entries`), and
/// lookups, stitching and merges answer the same with either cache off.
#[test]
fn the_identity_cache_is_sized_apart_from_the_profile_cache() {
    use crate::identity::cache_key::CacheKey;
    for (profiles, identities) in [(0, 1_000), (1_000, 0)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = ProfileDb::builder(dir.path())
            .profile_cache_entries(profiles)
            .identity_cache_entries(identities)
            .open()
            .expect("open");
        let a = db.update(&ident("email:a@x.io"), Update::new().set("n", 1)).expect("update").profile;
        let b = db.update(&ident("device_id:d"), Update::new().set("n", 2)).expect("update").profile;
        db.identify(&[ident("email:a@x.io"), ident("device_id:d")], Update::new()).expect("merge");
        for who in ["email:a@x.io", "device_id:d"] {
            let got = db.get(&ident(who)).expect("get").expect("present");
            assert_eq!(got.id, a.min(b), "{who} with caches {profiles}/{identities}");
        }
        let cached = db.core.identities.peek(&CacheKey::of(&ident("email:a@x.io")));
        assert_eq!(cached.is_some(), identities > 0, "caches {profiles}/{identities}");
    }
}
