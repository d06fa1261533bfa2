//! [`AnonymizeRules`]: how `anonymize` replaces each personal value —
//! traits, and the properties of stored events — for analytics-only
//! retention.

use std::collections::BTreeMap;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::profile::value::TraitValue;

/// What happens to one value.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueRule {
    /// Kept as it is (the value is not personal).
    Keep,
    /// Removed.
    Drop,
    /// Replaced by `h:` and the hex keyed hash (xxh3-128 with the
    /// database's secret) of its canonical text: equal values stay equal,
    /// the value cannot be read back or recomputed without the secret.
    Hash,
    /// Replaced by a coarser value.
    Generalize(Generalization),
}

/// A coarser form of a value. A value of a type the generalization does
/// not apply to is dropped.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Generalization {
    /// A number becomes the string `"lo..hi"` of its bucket of this width
    /// (half-open: `34` with width 10 is `"30..40"`).
    NumberBucket(u32),
    /// A timestamp becomes the start of its UTC day.
    Day,
    /// A timestamp becomes the start of its UTC month.
    Month,
    /// A string (or each string of a list) keeps its first `n` characters.
    Prefix(u32),
}

/// Per-name rules and a default, for traits and event properties alike.
/// A name without a rule of its own takes the rule of its nearest dotted
/// parent (`address` covers `address.city`), else the default.
///
/// ```
/// use profiledb::privacy::{AnonymizeRules, Generalization, ValueRule};
/// let rules = AnonymizeRules::default() // default: drop
///     .rule("plan", ValueRule::Keep)
///     .rule("age", ValueRule::Generalize(Generalization::NumberBucket(10)))
///     .rule("customer_ref", ValueRule::Hash);
/// assert_eq!(rules.rule_for("address.city"), &ValueRule::Drop);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[must_use]
pub struct AnonymizeRules {
    /// The rule of names without one (default [`ValueRule::Drop`]).
    pub default: ValueRule,
    /// Rules by name.
    pub per_name: BTreeMap<String, ValueRule>,
}

impl Default for AnonymizeRules {
    fn default() -> Self {
        AnonymizeRules { default: ValueRule::Drop, per_name: BTreeMap::new() }
    }
}

impl AnonymizeRules {
    /// Sets the rule of one trait or property name.
    pub fn rule(mut self, name: &str, rule: ValueRule) -> Self {
        self.per_name.insert(name.to_owned(), rule);
        self
    }

    /// Sets the default rule.
    pub fn default_rule(mut self, rule: ValueRule) -> Self {
        self.default = rule;
        self
    }

    /// The rule that applies to `name`.
    pub fn rule_for(&self, name: &str) -> &ValueRule {
        let mut n = name;
        loop {
            if let Some(r) = self.per_name.get(n) {
                return r;
            }
            match n.rfind('.') {
                Some(i) => n = &n[..i],
                None => return &self.default,
            }
        }
    }

    /// Whether a name below `name` (`name.` followed by more) has a rule
    /// of its own: then an event property `name` holding an object is
    /// anonymized member by member, else whole by
    /// [`rule_for`](Self::rule_for)`(name)`.
    pub fn has_rules_below(&self, name: &str) -> bool {
        let prefix = format!("{name}.");
        self.per_name.range(prefix.clone()..).next().is_some_and(|(n, _)| n.starts_with(&prefix))
    }

    /// Checks that every bucket width and prefix length is at least 1.
    pub fn validate(&self) -> Result<()> {
        for (name, rule) in
            std::iter::once(("(default)", &self.default)).chain(self.per_name.iter().map(|(n, r)| (n.as_str(), r)))
        {
            if let ValueRule::Generalize(Generalization::NumberBucket(0) | Generalization::Prefix(0)) = rule {
                return Err(Error::invalid(format!(
                    "anonymize rule for {name:?}: width and length must be at least 1"
                )));
            }
        }
        Ok(())
    }
}

/// What applying a rule did to one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Kept,
    Dropped,
    Hashed,
    Generalized,
}

/// Applies `rule` to `value`; `None` when the value is dropped. `hash`
/// keys the hash rule.
pub(crate) fn apply(
    rule: &ValueRule,
    value: &TraitValue,
    hash: &dyn Fn(&str) -> String,
) -> (Option<TraitValue>, Outcome) {
    match rule {
        ValueRule::Keep => (Some(value.clone()), Outcome::Kept),
        ValueRule::Drop => (None, Outcome::Dropped),
        ValueRule::Hash => (Some(TraitValue::Str(hash(&canonical(value)).into())), Outcome::Hashed),
        ValueRule::Generalize(g) => match generalize(*g, value) {
            Some(v) => (Some(v), Outcome::Generalized),
            None => (None, Outcome::Dropped),
        },
    }
}

fn canonical(value: &TraitValue) -> String {
    match value {
        TraitValue::Str(s) => s.to_string(),
        other => other.to_json().to_string(),
    }
}

fn generalize(g: Generalization, value: &TraitValue) -> Option<TraitValue> {
    match (g, value) {
        (Generalization::NumberBucket(w), v) => {
            let x = v.as_f64().filter(|x| x.is_finite())?;
            let w = f64::from(w);
            let lo = (x / w).floor() * w;
            Some(TraitValue::Str(format!("{lo}..{}", lo + w).into()))
        }
        (Generalization::Day, TraitValue::Time(t)) => Some(TraitValue::Time(Timestamp(t.day() * Timestamp::DAY))),
        (Generalization::Month, TraitValue::Time(t)) => month_start(*t).map(TraitValue::Time),
        (Generalization::Prefix(n), TraitValue::Str(s)) => Some(TraitValue::Str(prefix(s, n).into())),
        (Generalization::Prefix(n), TraitValue::List(l)) => {
            Some(TraitValue::List(l.iter().map(|s| prefix(s, n)).collect()))
        }
        _ => None,
    }
}

fn prefix(s: &str, n: u32) -> String {
    s.chars().take(n as usize).collect()
}

fn month_start(t: Timestamp) -> Option<Timestamp> {
    let dt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.0) * 1_000_000).ok()?;
    let first = time::Date::from_calendar_date(dt.year(), dt.month(), 1).ok()?;
    let secs = first.midnight().assume_utc().unix_timestamp();
    Some(Timestamp(secs.checked_mul(1_000)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rule: ValueRule, v: TraitValue) -> Option<TraitValue> {
        apply(&rule, &v, &|s| format!("h:{}", s.len())).0
    }

    #[test]
    fn each_rule_does_what_it_says() {
        use Generalization::*;
        assert_eq!(run(ValueRule::Keep, 5.into()), Some(5.into()));
        assert_eq!(run(ValueRule::Drop, 5.into()), None);
        assert_eq!(run(ValueRule::Hash, "abc".into()), Some("h:3".into()));
        assert_eq!(run(ValueRule::Generalize(NumberBucket(10)), 34.into()), Some("30..40".into()));
        assert_eq!(run(ValueRule::Generalize(NumberBucket(10)), (-3.5).into()), Some("-10..0".into()));
        assert_eq!(run(ValueRule::Generalize(NumberBucket(10)), "x".into()), None, "wrong type is dropped");
        let t = Timestamp(1_700_000_000_000); // 2023-11-14T22:13:20Z
        assert_eq!(run(ValueRule::Generalize(Day), t.into()), Some(Timestamp(1_699_920_000_000).into()));
        assert_eq!(run(ValueRule::Generalize(Month), t.into()), Some(Timestamp(1_698_796_800_000).into()));
        assert_eq!(run(ValueRule::Generalize(Prefix(3)), "Oslo-West".into()), Some("Osl".into()));
    }

    #[test]
    fn nested_names_take_their_parents_rule() {
        let r = AnonymizeRules::default().rule("address", ValueRule::Keep).rule("address.street", ValueRule::Drop);
        assert_eq!(r.rule_for("address.city"), &ValueRule::Keep);
        assert_eq!(r.rule_for("address.street"), &ValueRule::Drop);
        assert_eq!(r.rule_for("name"), &ValueRule::Drop);
        assert!(r.has_rules_below("address"));
        assert!(!r.has_rules_below("address.street"), "nothing below the leaf");
        assert!(!r.has_rules_below("addr"), "a name prefix is not a dotted parent");
        assert!(r.rule("x", ValueRule::Generalize(Generalization::Prefix(0))).validate().is_err());
    }
}
