//! [`Traits`]: a profile's trait map, with dotted names for nesting.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Traits(BTreeMap<String, TraitEntry>);

impl Traits {
    /// No traits.
    pub fn new() -> Self {
        Traits::default()
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&TraitValue> {
        self.0.get(name).map(|e| &e.value)
    }

    /// The entry (value and write time) of `name`, if present.
    pub fn entry(&self, name: &str) -> Option<&TraitEntry> {
        self.0.get(name)
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
        if !self.0.contains_key(name) {
            self.check_nesting(name)?;
            if self.0.len() >= MAX_TRAITS {
                return Err(Error::InvalidTraitValue {
                    name: name.to_owned(),
                    reason: format!("a profile holds at most {MAX_TRAITS} traits"),
                });
            }
        }
        self.0.insert(name.to_owned(), TraitEntry { value, updated_at: at });
        Ok(())
    }

    /// Inserts an entry decided by a merge rule (name already valid).
    pub(crate) fn insert_entry(&mut self, name: &str, entry: TraitEntry) {
        self.0.insert(name.to_owned(), entry);
    }

    /// Removes `name`; returns whether it was present.
    pub(crate) fn remove(&mut self, name: &str) -> bool {
        self.0.remove(name).is_some()
    }

    fn check_nesting(&self, name: &str) -> Result<()> {
        // An existing leaf that is a prefix of `name`: `a` blocks `a.b`.
        for (i, _) in name.match_indices('.') {
            let prefix = &name[..i];
            if self.0.contains_key(prefix) {
                return Err(Error::InvalidTraitName {
                    name: name.to_owned(),
                    reason: format!("trait {prefix:?} is a value, it cannot also hold nested traits"),
                });
            }
        }
        // An existing nested trait under `name`: `a.b` blocks `a`.
        let nested = format!("{name}.");
        if let Some((k, _)) = self.0.range(nested.clone()..).next() {
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
        for (name, entry) in &self.0 {
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
}
