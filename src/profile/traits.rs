//! [`Traits`]: a profile's trait map, with dotted names for nesting.
//!
//! Held as one vector of (name, entry) pairs sorted by name, names of up to
//! 24 bytes inline ([`CompactString`]): a profile's traits are one
//! allocation, read by binary search, instead of a B-tree node plus one
//! allocation per name — on a large database every read of a cached
//! profile's traits is a cache miss per pointer followed, and every write
//! copies the map (BENCHMARKS.md, 2026-12-05 ninth session). Serialized as a
//! map in name order, byte for byte what the `BTreeMap<String, _>` of
//! formats 1–6 wrote.

use std::fmt;

use compact_str::CompactString;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::clock::Timestamp;
use crate::error::{quote_input, Error, Result};
use crate::profile::value::TraitValue;

/// The longest trait name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// The most traits one profile may hold.
pub const MAX_TRAITS: usize = 10_000;

/// One trait: its value and when it was last written (for merge rules).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraitEntry {
    /// The value.
    pub value: TraitValue,
    /// When the value was last written.
    pub updated_at: Timestamp,
}

/// A profile's traits, keyed by dotted name (`address.city`).
///
/// Names are flat in storage; [`Traits::to_json`] nests them. A name cannot
/// be both a leaf and the prefix of another (`a` and `a.b`), so the nested
/// form is always well defined.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Traits(Vec<(CompactString, TraitEntry)>);

impl Traits {
    /// No traits.
    pub fn new() -> Self {
        Traits::default()
    }

    /// Where `name` is (`Ok`) or would go (`Err`) in name order.
    fn find(&self, name: &str) -> std::result::Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&TraitValue> {
        self.entry(name).map(|e| &e.value)
    }

    /// The entry (value and write time) of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<&TraitEntry> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    /// Number of traits.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no traits.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterates over (name, entry) in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &TraitEntry)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Sets `name`, checking the name and nesting rules.
    pub(crate) fn insert(&mut self, name: &str, value: TraitValue, at: Timestamp) -> Result<()> {
        let entry = TraitEntry { value, updated_at: at };
        match self.find(name) {
            Ok(i) => self.0[i].1 = entry,
            Err(i) => {
                self.check_nesting(name)?;
                if self.0.len() >= MAX_TRAITS {
                    return Err(Error::InvalidTraitValue {
                        name: name.to_owned(),
                        reason: format!("a profile holds at most {MAX_TRAITS} traits"),
                    });
                }
                self.0.insert(i, (CompactString::from(name), entry));
            }
        }
        Ok(())
    }

    /// Inserts an entry decided by a merge rule (name already valid).
    pub(crate) fn insert_entry(&mut self, name: &str, entry: TraitEntry) {
        match self.find(name) {
            Ok(i) => self.0[i].1 = entry,
            Err(i) => self.0.insert(i, (CompactString::from(name), entry)),
        }
    }

    /// Removes `name`; returns whether it was present.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        match self.find(name) {
            Ok(i) => {
                self.0.remove(i);
                true
            }
            Err(_) => false,
        }
    }

    fn check_nesting(&self, name: &str) -> Result<()> {
        // An existing leaf that is a prefix of `name`: `a` blocks `a.b`.
        for (i, _) in name.match_indices('.') {
            let prefix = &name[..i];
            if self.find(prefix).is_ok() {
                return Err(Error::InvalidTraitName {
                    name: name.to_owned(),
                    reason: format!("trait {prefix:?} is a value, it cannot also hold nested traits"),
                });
            }
        }
        // An existing nested trait under `name`: `a.b` blocks `a`. Names
        // starting with `name.` sort right after `name.` itself.
        let nested = format!("{name}.");
        let at = self.0.partition_point(|(k, _)| k.as_str() < nested.as_str());
        if let Some((k, _)) = self.0.get(at) {
            if k.starts_with(&nested) {
                return Err(Error::InvalidTraitName {
                    name: name.to_owned(),
                    reason: format!("{k:?} nests under it; unset the nested traits first"),
                });
            }
        }
        Ok(())
    }

    /// The traits as nested JSON (`{"address": {"city": "Oslo"}}`).
    pub fn to_json(&self) -> serde_json::Value {
        let mut root = serde_json::Map::new();
        for (name, entry) in self.iter() {
            let mut node = &mut root;
            let mut parts = name.split('.').peekable();
            while let Some(part) = parts.next() {
                if parts.peek().is_none() {
                    node.insert(part.to_owned(), entry.value.to_json());
                } else {
                    let child = node
                        .entry(part.to_owned())
                        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
                    match child {
                        serde_json::Value::Object(m) => node = m,
                        // Unreachable by the nesting rule; keep the leaf rather than panic.
                        _ => break,
                    }
                }
            }
        }
        serde_json::Value::Object(root)
    }
}

impl Serialize for Traits {
    /// A map in name order (the layout a `BTreeMap<String, TraitEntry>` has).
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k.as_str(), v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Traits {
    /// A map; entries out of name order are sorted, and a repeated name
    /// keeps its last value (as a `BTreeMap` would).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct TraitsVisitor;

        impl<'de> Visitor<'de> for TraitsVisitor {
            type Value = Traits;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of trait names to entries")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> std::result::Result<Traits, A::Error> {
                // Bounded: a corrupt length must not reserve gigabytes.
                let mut entries = Vec::with_capacity(access.size_hint().unwrap_or(0).min(MAX_TRAITS));
                while let Some((k, v)) = access.next_entry::<CompactString, TraitEntry>()? {
                    entries.push((k, v));
                }
                if !entries.windows(2).all(|w| w[0].0 < w[1].0) {
                    // Stable: among equal names the last one read stays last.
                    entries.sort_by(|a, b| a.0.cmp(&b.0));
                    let mut deduped: Vec<(CompactString, TraitEntry)> = Vec::with_capacity(entries.len());
                    for e in entries {
                        match deduped.last_mut() {
                            Some(last) if last.0 == e.0 => *last = e,
                            _ => deduped.push(e),
                        }
                    }
                    entries = deduped;
                }
                Ok(Traits(entries))
            }
        }

        deserializer.deserialize_map(TraitsVisitor)
    }
}

/// Checks a trait name: 1..=256 bytes, dot-separated non-empty segments of
/// letters, digits, `_`, `-` or `$`.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |reason: String| Err(Error::InvalidTraitName { name: quote_input(name), reason });
    if name.is_empty() {
        return bad("empty name".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return bad(format!("name is {} bytes, the limit is {MAX_NAME_BYTES}", name.len()));
    }
    for segment in name.split('.') {
        if segment.is_empty() {
            return bad("empty segment between dots".into());
        }
        if let Some(c) = segment.chars().find(|c| !(c.is_alphanumeric() || matches!(c, '_' | '-' | '$'))) {
            return bad(format!("names may hold letters, digits, _ - $ and dots, found {c:?}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nests_dotted_names_in_json() {
        let mut t = Traits::new();
        t.insert("address.city", "Oslo".into(), Timestamp(1)).unwrap();
        t.insert("address.zip", "0150".into(), Timestamp(1)).unwrap();
        t.insert("plan", "pro".into(), Timestamp(1)).unwrap();
        assert_eq!(t.to_json(), serde_json::json!({"address": {"city": "Oslo", "zip": "0150"}, "plan": "pro"}));
    }

    #[test]
    fn leaf_and_prefix_cannot_coexist() {
        let mut t = Traits::new();
        t.insert("a", 1.into(), Timestamp(1)).unwrap();
        assert!(t.insert("a.b", 1.into(), Timestamp(1)).is_err());
        let mut t = Traits::new();
        t.insert("a.b.c", 1.into(), Timestamp(1)).unwrap();
        assert!(t.insert("a", 1.into(), Timestamp(1)).is_err());
        assert!(t.insert("a.b", 1.into(), Timestamp(1)).is_err());
        assert!(t.insert("ab", 1.into(), Timestamp(1)).is_ok());
        assert!(t.insert("a.bc", 1.into(), Timestamp(1)).is_ok());
    }

    #[test]
    fn names_are_validated() {
        for ok in ["plan", "address.city", "utm_source", "a-b.$c"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".a", "a.", "a..b", "a b", "a/b", &"x".repeat(MAX_NAME_BYTES + 1)] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serializes_as_the_btreemap_did_and_sorts_what_it_reads() {
        use std::collections::BTreeMap;
        let mut t = Traits::new();
        let mut m = BTreeMap::new();
        for (i, name) in ["zeta", "a.b", "plan", "a_very_long_trait_name_past_24_bytes", "b"].iter().enumerate() {
            let e = TraitEntry { value: TraitValue::Int(i as i64), updated_at: Timestamp(i as i64) };
            t.insert_entry(name, e.clone());
            m.insert(name.to_string(), e);
        }
        let cfg = bincode::config::standard();
        let ours = bincode::serde::encode_to_vec(&t, cfg).unwrap();
        assert_eq!(ours, bincode::serde::encode_to_vec(&m, cfg).unwrap(), "the stored layout changed");
        let (back, _): (Traits, usize) = bincode::serde::decode_from_slice(&ours, cfg).unwrap();
        assert_eq!(back, t);
        // JSON with names out of order and a repeated name: sorted, last wins.
        let e = |v: i64| serde_json::json!({"value": {"Int": v}, "updated_at": 1});
        let text = format!(r#"{{"b": {}, "a": {}, "b": {}}}"#, e(1), e(2), e(3));
        let read: Traits = serde_json::from_str(&text).unwrap();
        assert_eq!(
            read.iter().map(|(k, e)| (k.to_owned(), e.value.clone())).collect::<Vec<_>>(),
            vec![("a".to_owned(), TraitValue::Int(2)), ("b".to_owned(), TraitValue::Int(3))]
        );
    }

    #[test]
    fn insert_replace_and_remove_keep_name_order() {
        let mut t = Traits::new();
        for name in ["m", "c", "x", "a", "c"] {
            t.insert(name, name.into(), Timestamp(1)).unwrap();
        }
        assert_eq!(t.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec!["a", "c", "m", "x"]);
        assert!(t.remove("m"));
        assert!(!t.remove("m"));
        assert_eq!(t.iter().map(|(k, _)| k).collect::<Vec<_>>(), vec!["a", "c", "x"]);
        assert_eq!(t.get("x"), Some(&"x".into()));
        assert_eq!(t.get("b"), None);
    }
}
