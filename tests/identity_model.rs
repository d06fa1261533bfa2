//! Stitching against a union-find model over random link sequences, against
//! a model of the identity rules (limits, priority, blocklist, merge cap,
//! identifier removal, re-linking, unmerge), and a concurrent stress test.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use profiledb::codec::decode_tagged;
use profiledb::{
    Change, Delta, Identifier, IdentityRules, Ignored, KindLimit, ManualClock, OnExceed, ProfileDb, ProfileId,
    Timestamp, Update,
};
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

// ---------------------------------------------------------------------------
// The identity-rules model.
//
// A plain model of the stitching rules written from the documentation
// (README "Stitching and merge rules", the docs of `IdentityRules`,
// `OnExceed`, `Ignored`, `IdentityLink`, `unmerge`, `remove_identifier` and
// `link_identifier`), not from the engine's code. Its state is, per
// identifier of a small pool, the link it has (or none):
//
// * `profile`: the live profile it resolves to;
// * `origin`: the profile it first attached to (kept by merges; an unmerge
//   sends it back to the split-off profile whose merge tree holds it);
// * `linked_at`: the step that linked it (what "oldest" means);
// * `detached`: set by `remove_identifier`, cleared by `link_identifier`;
//
// plus the set of live profile ids, the merges still in effect into each
// profile (in order), and the next profile id. Profile ids are allocated
// densely from 0, one per profile an operation creates, in this order: the
// target of an identify whose identifiers are all unseen, then one profile
// per refused identifier (in priority order); `remove_identifier` allocates
// the detached identifier's own profile. A failed operation changes nothing
// (and allocates nothing).
//
// Rules, as the model applies them (config, drawn per case: user_id max 1
// refuse; device_id max 2 or 3, evict-oldest or refuse; email unlimited;
// priority user_id > email > device_id; "blocked@x.com" blocklisted; a merge
// cap of 2 or 3 profiles):
//
// identify(ids):
//  1. Duplicates are dropped and the rest sorted by priority (kind rank,
//     then kind and value). Blocklisted ones are ignored (`Blocked`); if
//     nothing else is left the call is an error.
//  2. The others are *seen* (linked) or *unseen*. The base profile is the
//     profile of the highest-priority seen identifier that is not detached
//     (or, when every seen one is detached, of the highest-priority seen one:
//     "later operations carrying it reach that profile") — unless unseen
//     identifiers of a kind ranked above that identifier's, with a *refuse*
//     limit, lead the call ("the highest-priority identifier decides the
//     target", even when it is new): then there is no base, the group starts
//     empty and counts those leaders (in priority order, as many of a kind as
//     its limit allows), and every seen identifier goes through step 3.
//  3. Every other seen identifier, in priority order, whose profile q is not
//     yet in the group: a detached one is ignored (`Detached`, stays on q);
//     otherwise if, for some kind q holds whose limit refuses, the group's
//     count plus q's count exceeds that kind's limit, it gives way (`GaveWay`
//     naming the highest-priority such kind, stays on q); otherwise q joins
//     the group (kinds that evict their oldest never keep it out),
//     and if the group then holds more profiles than the merge cap the
//     whole call is an error ("more is an error, nothing written").
//  4. The group merges into its lowest id (a new profile if the group is
//     empty): every identifier of a loser moves to the survivor keeping its
//     origin and linked_at (a detached identifier moves with its profile:
//     merges move *all* identifiers); the loser is no longer live. When
//     profiles merged, for every evict-oldest kind the target then holds
//     more of than its limit, its identifiers of that kind with the
//     smallest (linked_at, identifier) are unlinked until it is within it.
//  5. Every unseen identifier, in priority order, is linked to the target
//     (origin = target) — a leader of step 2 always (it is counted) — unless
//     its kind's count on the target (after the merges and this call's
//     earlier links) is already at the limit:
//     - refuse: it goes to a new profile of its own (`Refused`);
//     - evict oldest: the identifier of that kind on the target with the
//       smallest linked_at, other than ones this call linked, is unlinked
//       (it no longer resolves) and the new one is linked; if there is none
//       (only this call's links), it is refused as above.
//     Identifiers linked by the same call share a linked_at: of such tied
//     oldest ones the smallest identifier (kind, then value) is evicted.
//
// remove_identifier(p, x): x must be linked to live p, and p must hold at
// least two identifiers (else an error); x moves to a new profile of its
// own, detached, origin = that profile.
//
// link_identifier(p, x): p live. If x is on p and not detached nothing
// happens; otherwise x moves to p (from wherever it is, or from nowhere),
// not detached, linked_at = now, origin kept (or p when it had no link).
// Limits do not apply. When x is the only identifier of the profile q it
// is on (q != p), q merges into p (no longer live; a merge in effect, as
// in identify) rather than staying live with no identifier.
//
// unmerge(p, x): x must be linked to live p with origin != p. Of the merges
// into p still in effect, latest first, the first whose loser's merge tree
// (the loser and, recursively, the profiles merged into it and not split
// off since) contains x's origin is undone: that loser is live again, every
// identifier on p whose origin is in the tree moves back to it, and the
// merge is no longer in effect (the loser keeps its own merges). No such
// merge, or every identifier on p would move (p would be unreachable): an
// error.
// ---------------------------------------------------------------------------

/// The identifier pool: user_ids, emails (one blocklisted), devices.
const POOL: &[(&str, &str)] = &[
    ("user_id", "u0"),
    ("user_id", "u1"),
    ("email", "e0@x.com"),
    ("email", "e1@x.com"),
    ("email", "e2@x.com"),
    ("email", "blocked@x.com"),
    ("device_id", "d0"),
    ("device_id", "d1"),
    ("device_id", "d2"),
    ("device_id", "d3"),
    ("device_id", "d4"),
];
const BLOCKED: &str = "blocked@x.com";
/// The model's priority order (the default order restricted to the pool's kinds).
const PRIORITY: [&str; 3] = ["user_id", "email", "device_id"];

fn rank(i: usize) -> (usize, &'static str, &'static str) {
    let (kind, value) = POOL[i];
    (PRIORITY.iter().position(|k| *k == kind).unwrap(), kind, value)
}

#[derive(Clone, Debug)]
struct Link {
    profile: u32,
    origin: u32,
    linked_at: u64,
    detached: bool,
}

/// Why an identifier of an identify call was not linked (mirrors `Ignored`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Why {
    Blocked,
    Refused { max: usize, own: u32 },
    GaveWay { kind: String, stays_on: u32 },
    Detached { stays_on: u32 },
}

/// What an operation did, as the model predicts and the engine reports.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Identified {
        profile: u32,
        created: bool,
        merged: Vec<u32>,
        linked: BTreeSet<usize>,
        unlinked: BTreeSet<usize>,
        ignored: BTreeSet<(usize, Why)>,
    },
    Removed {
        own: u32,
    },
    Relinked,
    Unmerged {
        restored: u32,
        from: u32,
        moved: BTreeSet<usize>,
    },
    /// The operation was an error and wrote nothing.
    Error,
}

#[derive(Clone, Debug)]
struct Model {
    device: KindLimit,
    cap: usize,
    links: BTreeMap<usize, Link>,
    live: BTreeSet<u32>,
    /// Merges into each profile still in effect, oldest first.
    merged_in: BTreeMap<u32, Vec<u32>>,
    next_id: u32,
}

impl Model {
    fn new(device: KindLimit, cap: usize) -> Self {
        Model { device, cap, links: BTreeMap::new(), live: BTreeSet::new(), merged_in: BTreeMap::new(), next_id: 0 }
    }

    fn limit(&self, kind: &str) -> Option<KindLimit> {
        match kind {
            "user_id" => Some(KindLimit { max: 1, on_exceed: OnExceed::Refuse }),
            "device_id" => Some(self.device),
            _ => None,
        }
    }

    fn allocate(&mut self) -> u32 {
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(id);
        id
    }

    fn profile_of(&self, i: usize) -> Option<u32> {
        self.links.get(&i).map(|l| l.profile)
    }

    fn on(&self, p: u32) -> Vec<usize> {
        self.links.iter().filter(|(_, l)| l.profile == p).map(|(i, _)| *i).collect()
    }

    fn counts(&self, p: u32) -> BTreeMap<&'static str, usize> {
        let mut c = BTreeMap::new();
        for i in self.on(p) {
            *c.entry(POOL[i].0).or_default() += 1;
        }
        c
    }

    /// `l` and every profile merged into it, recursively, still merged.
    fn tree(&self, l: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::from([l]);
        let mut stack = vec![l];
        while let Some(x) = stack.pop() {
            for m in self.merged_in.get(&x).into_iter().flatten() {
                if out.insert(*m) {
                    stack.push(*m);
                }
            }
        }
        out
    }

    /// Applies `op` at step `now`; a failed operation leaves the model as it
    /// was.
    fn apply(&mut self, op: &Op, now: u64) -> Outcome {
        let mut next = self.clone();
        let out = match op {
            Op::Identify(ids) => next.identify(ids, now),
            Op::Remove(x) => next.remove(*x, now),
            Op::Relink { ident, to } => next.relink(*ident, *to, now),
            Op::Unmerge(x) => next.unmerge(*x),
        };
        if out != Outcome::Error {
            *self = next;
        }
        out
    }

    fn identify(&mut self, ids: &[usize], now: u64) -> Outcome {
        let mut ids = ids.to_vec();
        ids.sort_by_key(|i| rank(*i));
        ids.dedup();
        let mut ignored = BTreeSet::new();
        let (mut seen, mut unseen) = (Vec::new(), Vec::new());
        for i in ids {
            if POOL[i].1 == BLOCKED {
                ignored.insert((i, Why::Blocked));
            } else if self.links.contains_key(&i) {
                seen.push(i);
            } else {
                unseen.push(i);
            }
        }
        if seen.is_empty() && unseen.is_empty() {
            return Outcome::Error;
        }
        let anchor = seen.iter().find(|i| !self.links[i].detached).or(seen.first()).copied();
        let (mut leaders, mut leading) = (Vec::new(), BTreeMap::new());
        if let Some(a) = anchor {
            for &u in unseen.iter().take_while(|u| rank(**u).0 < rank(a).0) {
                let kind = POOL[u].0;
                let refuses = self.limit(kind).filter(|l| l.on_exceed == OnExceed::Refuse);
                if refuses.is_some_and(|l| leading.get(kind).copied().unwrap_or(0) < l.max) {
                    *leading.entry(kind).or_default() += 1;
                    leaders.push(u);
                }
            }
        }
        let base = if leaders.is_empty() { anchor.map(|i| self.links[&i].profile) } else { None };
        let mut group: Vec<u32> = base.into_iter().collect();
        let mut counts = base.map(|b| self.counts(b)).unwrap_or(leading);
        for &s in &seen {
            let q = self.links[&s].profile;
            if group.contains(&q) {
                continue;
            }
            if self.links[&s].detached {
                ignored.insert((s, Why::Detached { stays_on: q }));
                continue;
            }
            let theirs = self.counts(q);
            let over = PRIORITY.iter().find(|k| {
                let t = theirs.get(*k).copied().unwrap_or(0);
                t > 0
                    && self.limit(k).is_some_and(|l| {
                        l.on_exceed == OnExceed::Refuse && counts.get(*k).copied().unwrap_or(0) + t > l.max
                    })
            });
            if let Some(kind) = over {
                ignored.insert((s, Why::GaveWay { kind: (*kind).to_owned(), stays_on: q }));
                continue;
            }
            group.push(q);
            if group.len() > self.cap {
                return Outcome::Error;
            }
            for (k, n) in theirs {
                *counts.entry(k).or_default() += n;
            }
        }
        let (target, created) = match group.iter().min() {
            Some(t) => (*t, false),
            None => (self.allocate(), true),
        };
        let mut merged: Vec<u32> = group.iter().copied().filter(|p| *p != target).collect();
        merged.sort_unstable();
        for &loser in &merged {
            for l in self.links.values_mut().filter(|l| l.profile == loser) {
                l.profile = target;
            }
            self.live.remove(&loser);
            self.merged_in.entry(target).or_default().push(loser);
        }
        let (mut linked, mut unlinked) = (BTreeSet::new(), BTreeSet::new());
        if !merged.is_empty() {
            for kind in PRIORITY {
                let Some(limit) = self.limit(kind).filter(|l| l.on_exceed == OnExceed::EvictOldest) else { continue };
                while counts.get(kind).copied().unwrap_or(0) > limit.max {
                    let candidates: Vec<usize> = self.on(target).into_iter().filter(|i| POOL[*i].0 == kind).collect();
                    let Some(v) = candidates.into_iter().min_by_key(|i| (self.links[i].linked_at, POOL[*i])) else {
                        break;
                    };
                    self.links.remove(&v);
                    unlinked.insert(v);
                    *counts.get_mut(kind).unwrap() -= 1;
                }
            }
        }
        for u in unseen {
            let kind = POOL[u].0;
            let have = counts.get(kind).copied().unwrap_or(0);
            let counted = leaders.contains(&u);
            let mut evicted = false;
            if let Some(limit) = self.limit(kind).filter(|l| !counted && have + 1 > l.max) {
                let victim = match limit.on_exceed {
                    OnExceed::Refuse => None,
                    OnExceed::EvictOldest => {
                        let candidates: Vec<usize> =
                            self.on(target).into_iter().filter(|i| POOL[*i].0 == kind && !linked.contains(i)).collect();
                        let oldest = candidates.iter().map(|i| self.links[i].linked_at).min();
                        candidates
                            .into_iter()
                            .filter(|i| Some(self.links[i].linked_at) == oldest)
                            .min_by_key(|i| POOL[*i])
                    }
                };
                match victim {
                    Some(v) => {
                        self.links.remove(&v);
                        unlinked.insert(v);
                        evicted = true;
                    }
                    None => {
                        let own = self.allocate();
                        self.links.insert(u, Link { profile: own, origin: own, linked_at: now, detached: false });
                        ignored.insert((u, Why::Refused { max: limit.max, own }));
                        continue;
                    }
                }
            }
            if !evicted && !counted {
                *counts.entry(kind).or_default() += 1;
            }
            self.links.insert(u, Link { profile: target, origin: target, linked_at: now, detached: false });
            linked.insert(u);
        }
        Outcome::Identified { profile: target, created, merged, linked, unlinked, ignored }
    }

    fn remove(&mut self, x: usize, now: u64) -> Outcome {
        let Some(p) = self.profile_of(x) else { return Outcome::Error };
        if self.on(p).len() <= 1 {
            // Removed before and still alone there: a retry answers it.
            if self.links.get(&x).is_some_and(|l| l.detached) {
                return Outcome::Removed { own: p };
            }
            return Outcome::Error;
        }
        let own = self.allocate();
        self.links.insert(x, Link { profile: own, origin: own, linked_at: now, detached: true });
        Outcome::Removed { own }
    }

    fn relink(&mut self, x: usize, to: usize, now: u64) -> Outcome {
        let Some(p) = self.profile_of(to) else { return Outcome::Error };
        let old = self.links.get(&x);
        if old.is_some_and(|l| l.profile == p && !l.detached) {
            return Outcome::Relinked;
        }
        let origin = old.map_or(p, |l| l.origin);
        if let Some(q) = old.map(|l| l.profile).filter(|q| *q != p) {
            if self.on(q).len() == 1 {
                self.live.remove(&q);
                self.merged_in.entry(p).or_default().push(q);
            }
        }
        self.links.insert(x, Link { profile: p, origin, linked_at: now, detached: false });
        Outcome::Relinked
    }

    fn unmerge(&mut self, x: usize) -> Outcome {
        let Some(link) = self.links.get(&x).cloned() else { return Outcome::Error };
        let p = link.profile;
        if link.origin == p {
            return Outcome::Error;
        }
        let active = self.merged_in.get(&p).cloned().unwrap_or_default();
        let Some((pos, loser, tree)) = active
            .iter()
            .enumerate()
            .rev()
            .map(|(n, l)| (n, *l, self.tree(*l)))
            .find(|(_, _, t)| t.contains(&link.origin))
        else {
            return Outcome::Error;
        };
        // Refused when every identifier of p would go (p would be unreachable).
        if self.links.values().filter(|l| l.profile == p).all(|l| tree.contains(&l.origin)) {
            return Outcome::Error;
        }
        self.merged_in.get_mut(&p).unwrap().remove(pos);
        self.live.insert(loser);
        let mut moved = BTreeSet::new();
        for (i, l) in self.links.iter_mut() {
            if l.profile == p && tree.contains(&l.origin) {
                l.profile = loser;
                moved.insert(*i);
            }
        }
        Outcome::Unmerged { restored: loser, from: p, moved }
    }
}

#[derive(Clone, Debug)]
enum Op {
    /// `identify` with 1–3 identifiers of the pool.
    Identify(Vec<usize>),
    /// `remove_identifier(profile of x, x)`.
    Remove(usize),
    /// `link_identifier(profile of to, ident)`.
    Relink { ident: usize, to: usize },
    /// `unmerge(profile of x, x)`.
    Unmerge(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let n = POOL.len();
    prop_oneof![
        8 => prop::collection::vec(0..n, 1..=3).prop_map(Op::Identify),
        1 => (0..n).prop_map(Op::Remove),
        1 => (0..n, 0..n).prop_map(|(ident, to)| Op::Relink { ident, to }),
        2 => (0..n).prop_map(Op::Unmerge),
    ]
}

/// Runs `op` on the engine. Operations addressed by an identifier that does
/// not resolve (in the model) are not run: `None`.
fn run_engine(db: &ProfileDb, pool: &[Identifier], model: &Model, op: &Op) -> Option<(Outcome, String)> {
    let index = |i: &Identifier| pool.iter().position(|p| p == i).expect("a pool identifier");
    let set = |v: &[Identifier]| v.iter().map(index).collect::<BTreeSet<_>>();
    let err = |e: profiledb::Error| (Outcome::Error, e.to_string());
    Some(match op {
        Op::Identify(ids) => {
            let ids: Vec<Identifier> = ids.iter().map(|i| pool[*i].clone()).collect();
            match db.identify(&ids, Update::new()) {
                Ok(r) => {
                    let ignored = r
                        .ignored
                        .iter()
                        .map(|(i, why)| {
                            let why = match why {
                                Ignored::Blocked => Why::Blocked,
                                Ignored::Refused { max, own_profile } => Why::Refused { max: *max, own: own_profile.0 },
                                Ignored::GaveWay { kind, stays_on } => {
                                    Why::GaveWay { kind: kind.clone(), stays_on: stays_on.0 }
                                }
                                Ignored::Detached { stays_on } => Why::Detached { stays_on: stays_on.0 },
                                other => panic!("unknown Ignored variant {other:?}"),
                            };
                            (index(i), why)
                        })
                        .collect();
                    let out = Outcome::Identified {
                        profile: r.profile.0,
                        created: r.created,
                        merged: r.merged.iter().map(|p| p.0).collect(),
                        linked: set(&r.linked),
                        unlinked: set(&r.unlinked),
                        ignored,
                    };
                    (out, String::new())
                }
                Err(e) => err(e),
            }
        }
        Op::Remove(x) => {
            let p = model.profile_of(*x)?;
            match db.remove_identifier(ProfileId(p), &pool[*x]) {
                Ok(own) => (Outcome::Removed { own: own.0 }, String::new()),
                Err(e) => err(e),
            }
        }
        Op::Relink { ident, to } => {
            let p = model.profile_of(*to)?;
            if POOL[*ident].1 == BLOCKED {
                return None; // linking a blocklisted value explicitly is not specified
            }
            match db.link_identifier(ProfileId(p), &pool[*ident]) {
                Ok(()) => (Outcome::Relinked, String::new()),
                Err(e) => err(e),
            }
        }
        Op::Unmerge(x) => {
            let p = model.profile_of(*x)?;
            match db.unmerge(ProfileId(p), &pool[*x]) {
                Ok(r) => (
                    Outcome::Unmerged { restored: r.restored.0, from: r.from.0, moved: set(&r.identifiers) },
                    String::new(),
                ),
                Err(e) => err(e),
            }
        }
    })
}

/// The engine's state equals the model's: every pool identifier resolves to
/// the model's profile (or to nothing), the live profiles are the model's,
/// and each lists exactly the model's identifiers with their detached marks.
fn check_state(db: &ProfileDb, pool: &[Identifier], model: &Model) -> Result<(), TestCaseError> {
    for (i, ident) in pool.iter().enumerate() {
        let want = model.profile_of(i).map(ProfileId);
        prop_assert_eq!(db.resolve(ident).unwrap(), want, "{} resolves", ident);
    }
    prop_assert_eq!(db.profile_count().unwrap(), model.live.len() as u64, "live profiles: {:?}", model.live);
    for &p in &model.live {
        prop_assert_eq!(db.resolve_id(ProfileId(p)).unwrap(), Some(ProfileId(p)), "{} is live", p);
        let got: BTreeSet<(String, bool)> = db
            .identity_graph(ProfileId(p))
            .unwrap()
            .into_iter()
            .map(|g| (g.identifier.to_string(), g.link.detached))
            .collect();
        let want: BTreeSet<(String, bool)> = model
            .links
            .iter()
            .filter(|(_, l)| l.profile == p)
            .map(|(i, l)| (pool[*i].to_string(), l.detached))
            .collect();
        prop_assert_eq!(got, want, "identifiers of profile {}", p);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Stitching under identity rules (per-kind limits with refuse and
    /// evict-oldest, priority, blocklist, merge cap) with identifier removal,
    /// explicit re-linking and unmerges equals the model above after every
    /// step: the same outcome per operation, the same partition of
    /// identifiers into profiles, the same resolvable identifiers.
    #[test]
    fn stitching_with_rules_equals_the_model(
        evict in any::<bool>(),
        device_max in 2usize..=3,
        cap in 2usize..=3,
        ops in prop::collection::vec(op_strategy(), 1..50),
    ) {
        let device = KindLimit { max: device_max, on_exceed: if evict { OnExceed::EvictOldest } else { OnExceed::Refuse } };
        let mut limits = BTreeMap::new();
        limits.insert("user_id".to_owned(), KindLimit { max: 1, on_exceed: OnExceed::Refuse });
        limits.insert("device_id".to_owned(), device);
        let rules = IdentityRules { limits, max_profiles_per_merge: cap, ..IdentityRules::default() }.block(BLOCKED);
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(Timestamp(1_000)));
        let db = ProfileDb::builder(dir.path()).clock(clock.clone()).identity_rules(rules).open().unwrap();
        let pool: Vec<Identifier> = POOL.iter().map(|(k, v)| Identifier::new(k, v).unwrap()).collect();
        let mut model = Model::new(device, cap);
        for (step, op) in ops.iter().enumerate() {
            clock.advance(1);
            let Some((got, error)) = run_engine(&db, &pool, &model, op) else { continue };
            let want = model.apply(op, step as u64);
            prop_assert_eq!(&got, &want, "step {} {:?} (engine error: {:?})", step, op, error);
            check_state(&db, &pool, &model)?;
        }
        let report = db.check().unwrap();
        prop_assert!(report.is_clean(), "{}", report);
    }
}
