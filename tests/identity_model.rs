//! Stitching against a union-find model over random link sequences,
//! including rule limits and unmerges, and a concurrent stress test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use profiledb::codec::decode_tagged;
use profiledb::{Change, Delta, Identifier, IdentityRules, KindLimit, OnExceed, ProfileDb, ProfileId, Update};
use proptest::prelude::*;

/// Union-find over identifier indexes.
struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }
    fn find(&mut self, x: usize) -> usize {
        let p = self.0[x];
        if p == x {
            return x;
        }
        let r = self.find(p);
        self.0[x] = r;
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        self.0[ra] = rb;
    }
}

fn pool(kinds: &[&str], per_kind: usize) -> Vec<Identifier> {
    kinds.iter().flat_map(|k| (0..per_kind).map(move |i| Identifier::new(k, &format!("v{i}@x.com")).unwrap())).collect()
}

/// Every identifier seen resolves to exactly one live profile, which lists it.
fn check_resolution(db: &ProfileDb, seen: &BTreeSet<usize>, pool: &[Identifier]) -> BTreeMap<usize, ProfileId> {
    let mut out = BTreeMap::new();
    for &i in seen {
        let p = db.resolve(&pool[i]).unwrap().expect("a linked identifier resolves");
        let live = db.get_by_id(p).unwrap().expect("it resolves to a live profile");
        assert_eq!(live.id, p, "identifiers point at live profiles, never at aliases");
        assert!(db.identifiers(p).unwrap().contains(&pool[i]));
        out.insert(i, p);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Without limits, the partition of identifiers into profiles equals
    /// the union-find of every link submitted.
    #[test]
    fn unlimited_stitching_equals_union_find(links in prop::collection::vec(prop::collection::vec(0usize..24, 1..4), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let rules = IdentityRules { limits: BTreeMap::new(), max_profiles_per_merge: 10, ..IdentityRules::default() };
        let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
        let pool = pool(&["device_id", "email", "anonymous_id"], 8);
        let mut uf = UnionFind::new(pool.len());
        let mut seen = BTreeSet::new();
        for link in &links {
            let ids: Vec<Identifier> = link.iter().map(|i| pool[*i].clone()).collect();
            db.identify(&ids, Update::new()).unwrap();
            for w in link.windows(2) {
                uf.union(w[0], w[1]);
            }
            seen.extend(link.iter().copied());
        }
        let got = check_resolution(&db, &seen, &pool);
        for &a in &seen {
            for &b in &seen {
                prop_assert_eq!(got[&a] == got[&b], uf.find(a) == uf.find(b), "{} vs {}", pool[a], pool[b]);
            }
        }
        // The survivor of each component is its lowest id.
        for &a in &seen {
            let members = got.iter().filter(|(_, p)| **p == got[&a]).count();
            prop_assert!(members >= 1);
        }
    }

    /// With limits and unmerges: never two user_ids on a profile, profiles
    /// only join identifiers the links connected, every identifier resolves.
    #[test]
    fn limited_stitching_never_over_merges(
        steps in prop::collection::vec((prop::collection::vec(0usize..18, 1..4), any::<bool>()), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let rules = IdentityRules::default().limit("device_id", KindLimit { max: 2, on_exceed: OnExceed::EvictOldest });
        let rules = IdentityRules { max_profiles_per_merge: 10, ..rules };
        let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
        let pool = pool(&["user_id", "device_id", "anonymous_id"], 6);
        let mut uf = UnionFind::new(pool.len());
        let mut seen = BTreeSet::new();
        for (link, try_unmerge) in &steps {
            let ids: Vec<Identifier> = link.iter().map(|i| pool[*i].clone()).collect();
            let r = db.identify(&ids, Update::new()).unwrap();
            for w in link.windows(2) {
                uf.union(w[0], w[1]);
            }
            seen.extend(link.iter().copied());
            if *try_unmerge {
                // Split off whichever merged-in origin the first identifier has, if any.
                for info in db.identity_graph(r.profile).unwrap() {
                    if info.link.origin != r.profile {
                        db.unmerge(r.profile, &info.identifier).unwrap();
                        break;
                    }
                }
            }
        }
        // Evicted identifiers no longer resolve; the rest must.
        let seen: BTreeSet<usize> = seen.into_iter().filter(|i| db.resolve(&pool[*i]).unwrap().is_some()).collect();
        let got = check_resolution(&db, &seen, &pool);
        let mut by_profile: BTreeMap<ProfileId, Vec<usize>> = BTreeMap::new();
        for (i, p) in &got {
            by_profile.entry(*p).or_default().push(*i);
        }
        for (p, members) in &by_profile {
            let users = members.iter().filter(|i| pool[**i].kind() == "user_id").count();
            let devices = db.identifiers(*p).unwrap().iter().filter(|i| i.kind() == "device_id").count();
            prop_assert!(users <= 1, "profile {} has {} user_ids", p, users);
            prop_assert!(devices <= 2, "profile {} has {} devices", p, devices);
            for w in members.windows(2) {
                prop_assert_eq!(uf.find(w[0]), uf.find(w[1]), "profile {} joins unlinked identifiers", p);
            }
        }
    }
}

#[test]
fn concurrent_stitching_keeps_one_live_profile_per_identifier() {
    let dir = tempfile::tempdir().unwrap();
    let rules = IdentityRules { limits: BTreeMap::new(), max_profiles_per_merge: 64, ..IdentityRules::default() };
    let db = ProfileDb::builder(dir.path()).identity_rules(rules).open().unwrap();
    let pool = Arc::new(pool(&["device_id", "anonymous_id", "email"], 40));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let db = db.clone();
            let pool = pool.clone();
            std::thread::spawn(move || {
                let mut x = t.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
                for n in 0..400 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let a = pool[(x % pool.len() as u64) as usize].clone();
                    let b = pool[((x >> 20) % pool.len() as u64) as usize].clone();
                    let ids = if n % 3 == 0 { vec![a] } else { vec![a, b] };
                    db.identify(&ids, Update::new().increment("ops", 1)).unwrap();
                    if n % 50 == 0 {
                        // Readers run alongside writers.
                        let _ = db.get(&pool[n % pool.len()]).unwrap();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("no thread panicked");
    }
    let seen: BTreeSet<usize> = (0..pool.len()).filter(|i| db.resolve(&pool[*i]).unwrap().is_some()).collect();
    check_resolution(&db, &seen, &pool);
    let live: BTreeSet<ProfileId> = seen.iter().map(|i| db.resolve(&pool[*i]).unwrap().unwrap()).collect();
    let total: u64 = live
        .iter()
        .map(|p| match db.get_by_id(*p).unwrap().unwrap().traits.get("ops") {
            Some(profiledb::TraitValue::Int(n)) => *n as u64,
            _ => 0,
        })
        .sum();
    assert!(total > 0);

    // Every id that is not live is an alias of a live profile (one hop, no
    // cycles). Ids are allocated densely and nothing is erased or split, so
    // every id below live + aliases is one or the other.
    let aliases = db.alias_count().unwrap();
    assert_eq!(db.profile_count().unwrap(), live.len() as u64, "every live profile is reached by an identifier");
    let mut alias_of = BTreeMap::new();
    for n in 0..(live.len() as u64 + aliases) as u32 {
        let id = ProfileId(n);
        let p = db.resolve_id(id).unwrap().unwrap_or_else(|| panic!("id {n} resolves to nothing"));
        assert!(live.contains(&p), "id {n} resolves to {p}, which is not live");
        if p != id {
            assert!(!live.contains(&id), "live id {n} resolves to another profile {p}");
            alias_of.insert(id, p);
        }
    }
    assert_eq!(alias_of.len() as u64, aliases, "every alias is an id below the allocated range");

    // Every merge appears in a history. `history(id)` of an alias reads its
    // survivor's log, but a merged-away profile keeps its own log: when n
    // merged into m and m later into the survivor, the merge of n is only in
    // m's own log. So read every id's own log raw, and walk each survivor's
    // merge tree from its log down through its losers' logs.
    let mut own_log: BTreeMap<ProfileId, Vec<Delta>> = BTreeMap::new();
    for e in db.dump_cf("delta").unwrap() {
        let holder = ProfileId(u32::from_be_bytes(e.key[..4].try_into().unwrap()));
        own_log.entry(holder).or_default().push(decode_tagged::<Delta>(&e.value).unwrap());
    }
    let losers_in = |p: ProfileId| -> Vec<ProfileId> {
        let log = own_log.get(&p).map_or(&[][..], Vec::as_slice);
        log.iter().filter_map(|d| if let Change::Merge { loser, .. } = d.change { Some(loser) } else { None }).collect()
    };
    // (loser, the profile whose log records its merge, the live root of that tree)
    let mut merged: BTreeMap<ProfileId, (ProfileId, ProfileId)> = BTreeMap::new();
    for &root in &live {
        assert_eq!(db.history(root).unwrap(), own_log[&root], "history of live {root} is its own log");
        let mut stack = vec![root];
        while let Some(holder) = stack.pop() {
            for loser in losers_in(holder) {
                let before = merged.insert(loser, (holder, root));
                assert_eq!(before, None, "{loser} merged twice (no unmerge ran)");
                stack.push(loser);
            }
        }
    }
    for (n, p) in &alias_of {
        let Some((holder, root)) = merged.get(n) else {
            panic!(
                "alias {n} → {p}: no Change::Merge {{ loser: {n} }} in the log of {p} or of any profile merged into it"
            )
        };
        assert_eq!(root, p, "the merge of {n} is recorded in the tree of {root}, but {n} resolves to {p}");
        assert!(
            holder == p || alias_of.get(holder) == Some(p),
            "the merge of {n} is in the log of {holder}, not part of {p}"
        );
    }
    assert_eq!(merged.len(), alias_of.len(), "every recorded merge left an alias");
    let r = db.check().unwrap();
    assert!(r.is_clean(), "{r}");
}
