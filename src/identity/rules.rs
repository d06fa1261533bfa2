//! [`IdentityRules`]: the limits that keep stitching from over-merging.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::identity::identifier::{validate_lower_name, Identifier};

/// The values [`IdentityRules::default`] never stitches by: placeholders
/// that senders put where they have no real identifier. Event parsers also
/// leave an email or phone trait holding one of these (or nothing) out of
/// the event's identifiers ([`is_placeholder`]).
pub const DEFAULT_BLOCKLIST: [&str; 10] =
    ["", "null", "undefined", "anonymous", "0", "unknown", "none", "n/a", "nil", "-1"];

/// The fewest digits a `phone` identifier needs to be used for stitching:
/// shorter ones (`-1`, `0`, `(0)`, `123`) are placeholders or service
/// numbers, never one person's, and are treated as blocked
/// ([`IdentityRules::blocks`]).
pub const MIN_PHONE_DIGITS: usize = 5;

/// Whether `value` is empty or on [`DEFAULT_BLOCKLIST`] (compared as
/// [`IdentityRules::is_blocked`] compares: trimmed, case-insensitively).
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    if v.is_ascii() {
        DEFAULT_BLOCKLIST.iter().any(|b| b.eq_ignore_ascii_case(v))
    } else {
        DEFAULT_BLOCKLIST.contains(&v.to_lowercase().as_str())
    }
}

/// What to do when linking an identifier would exceed its kind's limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OnExceed {
    /// Refuse the link: the new identifier stays on a profile of its own.
    Refuse,
    /// Unlink the oldest identifier of that kind to make room.
    EvictOldest,
}

/// The limit for one identifier kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindLimit {
    /// The most identifiers of this kind one profile may hold.
    pub max: usize,
    /// What happens when a link would exceed `max`.
    pub on_exceed: OnExceed,
}

/// Rules applied to every stitching operation.
///
/// ```
/// use profiledb::{IdentityRules, KindLimit, OnExceed};
/// let rules = IdentityRules::default()
///     .limit("loyalty_id", KindLimit { max: 1, on_exceed: OnExceed::Refuse })
///     .block("test@example.com");
/// assert!(rules.is_blocked("TEST@example.com"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct IdentityRules {
    /// Per-kind limits; kinds not listed are unlimited.
    pub limits: BTreeMap<String, KindLimit>,
    /// Kinds from highest to lowest priority. When a link would break a
    /// limit, the lower-priority link gives way. Unlisted kinds rank below
    /// every listed one.
    pub priority: Vec<String>,
    /// Values never used for stitching, compared case-insensitively after
    /// trimming.
    pub blocklist: BTreeSet<String>,
    /// The most profiles one operation may merge together (survivor included).
    pub max_profiles_per_merge: usize,
    /// The most identifiers one operation may carry.
    pub max_identifiers_per_call: usize,
}

impl Default for IdentityRules {
    fn default() -> Self {
        let limits = [
            ("user_id", 1, OnExceed::Refuse),
            ("email", 5, OnExceed::Refuse),
            ("phone", 5, OnExceed::Refuse),
            ("device_id", 20, OnExceed::EvictOldest),
            ("anonymous_id", 100, OnExceed::EvictOldest),
        ]
        .into_iter()
        .map(|(k, max, on_exceed)| (k.to_owned(), KindLimit { max, on_exceed }))
        .collect();
        let blocklist = DEFAULT_BLOCKLIST.into_iter().map(str::to_owned).collect();
        IdentityRules {
            limits,
            priority: ["user_id", "email", "phone", "device_id", "anonymous_id"].map(str::to_owned).to_vec(),
            blocklist,
            max_profiles_per_merge: 5,
            max_identifiers_per_call: 32,
        }
    }
}

impl IdentityRules {
    /// Sets the limit for a kind.
    pub fn limit(mut self, kind: &str, limit: KindLimit) -> Self {
        self.limits.insert(kind.to_owned(), limit);
        self
    }

    /// Adds a value to the blocklist.
    pub fn block(mut self, value: &str) -> Self {
        self.blocklist.insert(value.trim().to_lowercase());
        self
    }

    /// Whether a value is blocked from stitching.
    pub fn is_blocked(&self, value: &str) -> bool {
        self.is_blocked_as(value, false)
    }

    /// [`is_blocked`](Self::is_blocked); with `normalized` (every entry
    /// trimmed and lower-cased, as [`normalized`](Self::normalized) leaves
    /// the database's own rules), one lookup in the set instead of a
    /// comparison with each entry: stitching checks every identifier of
    /// every event twice (at 200k profiles, 5 % of a batched event's
    /// writer time; BENCHMARKS.md, thirty-first session).
    fn is_blocked_as(&self, value: &str, normalized: bool) -> bool {
        let v = value.trim();
        if !v.is_ascii() {
            return self.blocklist.contains(&v.to_lowercase());
        }
        if !normalized {
            // Entries inserted into the public field may keep capitals.
            return self.blocklist.iter().any(|b| b.eq_ignore_ascii_case(v));
        }
        if v.bytes().any(|b| b.is_ascii_uppercase()) {
            self.blocklist.contains(&v.to_ascii_lowercase())
        } else {
            self.blocklist.contains(v)
        }
    }

    /// Whether an identifier is blocked from stitching: its value is on the
    /// blocklist ([`is_blocked`](Self::is_blocked)); for a `phone`, also
    /// when it has fewer than [`MIN_PHONE_DIGITS`] digits, or a blocklist
    /// entry normalizes as a phone number to its value — normalization
    /// drops `-`, spaces, dots and parentheses, so the raw placeholder
    /// `-1` arrives as `1` and the entry `555-0100` blocks `5550100`.
    ///
    /// ```
    /// use profiledb::{Identifier, IdentityRules};
    /// let rules = IdentityRules::default().block("555-0100");
    /// let id = |s: &str| s.parse::<Identifier>().unwrap();
    /// assert!(rules.blocks(&id("phone:-1")));
    /// assert!(rules.blocks(&id("phone:(555) 0100")));
    /// assert!(!rules.blocks(&id("phone:+1 555 010 9999")));
    /// ```
    pub fn blocks(&self, ident: &Identifier) -> bool {
        self.blocks_as(ident, false)
    }

    /// [`blocks`](Self::blocks) under rules whose blocklist is
    /// [`normalized`](Self::normalized) (the database's own).
    pub(crate) fn blocks_normalized(&self, ident: &Identifier) -> bool {
        self.blocks_as(ident, true)
    }

    fn blocks_as(&self, ident: &Identifier, normalized: bool) -> bool {
        let value = ident.value();
        if self.is_blocked_as(value, normalized) {
            return true;
        }
        if ident.kind() != "phone" {
            return false;
        }
        value.bytes().filter(u8::is_ascii_digit).count() < MIN_PHONE_DIGITS
            || self.blocklist.iter().any(|b| Identifier::new("phone", b).is_ok_and(|e| e.value() == value))
    }

    /// Checks what refuses a whole operation on its identifiers alone,
    /// reading and writing nothing: it needs at least one identifier, at
    /// most [`max_identifiers_per_call`](Self::max_identifiers_per_call),
    /// and one that is not blocked ([`blocks`](Self::blocks)). Stitching makes this check
    /// first; an importer can make it before writing anything.
    ///
    /// ```
    /// use profiledb::{Identifier, IdentityRules};
    /// let rules = IdentityRules::default();
    /// let id = |s: &str| s.parse::<Identifier>().unwrap();
    /// assert!(rules.check_identifiers(&[id("user_id:null"), id("email:a@b.c")]).is_ok());
    /// let err = rules.check_identifiers(&[id("user_id:null")]).unwrap_err();
    /// assert!(err.to_string().contains("stitching blocklist"));
    /// ```
    pub fn check_identifiers(&self, identifiers: &[Identifier]) -> crate::error::Result<()> {
        self.check_identifiers_as(identifiers, false)
    }

    /// [`check_identifiers`](Self::check_identifiers) under rules whose
    /// blocklist is [`normalized`](Self::normalized) (the database's own).
    pub(crate) fn check_normalized(&self, identifiers: &[Identifier]) -> crate::error::Result<()> {
        self.check_identifiers_as(identifiers, true)
    }

    fn check_identifiers_as(&self, identifiers: &[Identifier], normalized: bool) -> crate::error::Result<()> {
        use crate::error::Error;
        if identifiers.is_empty() {
            return Err(Error::invalid("an operation needs at least one identifier"));
        }
        if identifiers.len() > self.max_identifiers_per_call {
            return Err(Error::invalid(format!(
                "an operation carries at most {} identifiers, got {}",
                self.max_identifiers_per_call,
                identifiers.len()
            )));
        }
        if identifiers.iter().all(|i| self.blocks_as(i, normalized)) {
            let mut ids = identifiers.to_vec();
            self.sort_by_priority(&mut ids);
            ids.dedup();
            let list: Vec<String> = ids.iter().map(ToString::to_string).collect();
            return Err(Error::InvalidIdentifier {
                input: list.join(", "),
                reason: "every identifier of the operation is on the stitching blocklist".into(),
            });
        }
        Ok(())
    }

    /// The rank of a kind: lower is higher priority.
    pub fn rank(&self, kind: &str) -> usize {
        self.priority.iter().position(|k| k == kind).unwrap_or(self.priority.len())
    }

    /// Sorts identifiers by priority (then by kind and value, for determinism).
    pub fn sort_by_priority<I: std::borrow::Borrow<Identifier>>(&self, ids: &mut [I]) {
        ids.sort_by(|a, b| {
            let (a, b) = (a.borrow(), b.borrow());
            (self.rank(a.kind()), a).cmp(&(self.rank(b.kind()), b))
        });
    }

    /// The limit of a kind, if any.
    pub fn limit_of(&self, kind: &str) -> Option<KindLimit> {
        self.limits.get(kind).copied()
    }

    /// Checks the rules (the builder does, at open): every kind named by a
    /// limit or the priority order is a valid kind (a misspelt one would
    /// never apply), no kind is ranked twice, limits allow at least one
    /// identifier, and the per-call caps are at least 1
    /// (`max_profiles_per_merge: 1` means "never merge").
    pub fn validate(&self) -> crate::error::Result<()> {
        let bad = |msg: String| Err(crate::error::Error::invalid(format!("identity rules: {msg}")));
        for (kind, limit) in &self.limits {
            if let Err(reason) = validate_lower_name("kind", kind) {
                return bad(format!("the limit for kind {kind:?}: {reason}"));
            }
            if limit.max == 0 {
                return bad(format!("the limit for kind {kind:?} is 0: a profile must be able to hold one"));
            }
        }
        for (i, kind) in self.priority.iter().enumerate() {
            if let Err(reason) = validate_lower_name("kind", kind) {
                return bad(format!("priority entry {i} ({kind:?}): {reason}"));
            }
            if self.priority[..i].contains(kind) {
                return bad(format!("priority entry {i}: kind {kind:?} is listed twice"));
            }
        }
        if self.max_profiles_per_merge == 0 {
            return bad("max_profiles_per_merge must be at least 1 (1: never merge)".into());
        }
        if self.max_identifiers_per_call == 0 {
            return bad("max_identifiers_per_call must be at least 1".into());
        }
        Ok(())
    }

    /// The rules with every blocklist entry trimmed and lower-cased, as
    /// [`block`](Self::block) stores them (entries inserted into the public
    /// field directly may not be).
    pub(crate) fn normalized(mut self) -> Self {
        self.blocklist = self.blocklist.iter().map(|v| v.trim().to_lowercase()).collect();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_set_lookup_of_normalized_rules_agrees_with_the_comparisons() {
        let rules = IdentityRules::default().block("Test@Example.com").block(" ÉTÉ ").block("555-0100").normalized();
        let values = [
            "null",
            "NULL",
            " Null ",
            "n/a",
            "N/A",
            "undefined",
            "",
            "  ",
            "0",
            "-1",
            "u123",
            "test@example.com",
            "TEST@EXAMPLE.COM",
            "été",
            "ÉTÉ",
            "Été ",
            "ete",
            "anonymous",
            "Anonymous1",
            "5550100",
        ];
        for v in values {
            assert_eq!(rules.is_blocked_as(v, true), rules.is_blocked(v), "{v:?}");
            for kind in ["user_id", "phone", "anonymous_id"] {
                if let Ok(id) = Identifier::new(kind, v) {
                    assert_eq!(rules.blocks_normalized(&id), rules.blocks(&id), "{id}");
                }
            }
        }
        assert!(rules.is_blocked_as("NULL", true) && !rules.is_blocked_as("nul", true));
    }

    #[test]
    fn placeholders_are_the_default_blocklist_and_blank_values() {
        let rules = IdentityRules::default();
        for v in ["", "  ", "N/A", " null ", "Unknown", "-1", "0", "nil"] {
            assert!(is_placeholder(v), "{v:?}");
            assert!(rules.is_blocked(v), "{v:?}");
        }
        for v in ["ann@x.com", "+15550100", "n/a2", "01"] {
            assert!(!is_placeholder(v), "{v:?}");
        }
    }

    #[test]
    fn short_phones_and_phone_spelt_entries_are_blocked() {
        let rules = IdentityRules::default().block("555-0100");
        let phone = |v: &str| Identifier::new("phone", v).unwrap();
        for v in ["-1", "(0)", "1234", "+1 234", "555.0100", "(555) 0100"] {
            assert!(rules.blocks(&phone(v)), "{v:?}");
        }
        for v in ["12345", "+1 555 010 9999", "5550101"] {
            assert!(!rules.blocks(&phone(v)), "{v:?}");
        }
        // Other kinds keep the plain comparison: `user_id:1` is not blocked.
        assert!(!rules.blocks(&Identifier::new("user_id", "1").unwrap()));
        assert!(rules.blocks(&Identifier::new("user_id", "-1").unwrap()));
    }
}
