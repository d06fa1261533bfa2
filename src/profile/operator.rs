//! Trait operators ([`TraitOp`]) and [`Update`], a list of them applied as one delta.

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::profile::delta::Cause;
use crate::profile::traits::{validate_name, Traits};
use crate::profile::value::{TraitValue, MAX_LIST_LEN};

/// The most operators one update may carry.
pub const MAX_OPS_PER_UPDATE: usize = 1_000;

/// One change to one trait.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TraitOp {
    /// Sets the trait to a value (null included).
    Set {
        /// Trait name.
        name: String,
        /// New value.
        value: TraitValue,
    },
    /// Sets the trait only if it is absent.
    SetOnce {
        /// Trait name.
        name: String,
        /// Value to set when absent.
        value: TraitValue,
    },
    /// Removes the trait.
    Unset {
        /// Trait name.
        name: String,
    },
    /// Adds a number to a numeric trait (absent counts as 0). An integer
    /// plus an integer stays an exact integer (a sum past `i64` is an
    /// error naming the trait, nothing written); with a float on either
    /// side the sum is a float (rounded, as float arithmetic is).
    Increment {
        /// Trait name.
        name: String,
        /// The amount: [`TraitValue::Int`] or [`TraitValue::Float`].
        by: TraitValue,
    },
    /// Adds strings to a list trait, keeping it free of duplicates.
    AddToSet {
        /// Trait name.
        name: String,
        /// Strings to add.
        values: Vec<String>,
    },
    /// Removes strings from a list trait.
    RemoveFromSet {
        /// Trait name.
        name: String,
        /// Strings to remove.
        values: Vec<String>,
    },
}

impl TraitOp {
    /// The trait this operator changes.
    pub fn name(&self) -> &str {
        match self {
            TraitOp::Set { name, .. }
            | TraitOp::SetOnce { name, .. }
            | TraitOp::Unset { name }
            | TraitOp::Increment { name, .. }
            | TraitOp::AddToSet { name, .. }
            | TraitOp::RemoveFromSet { name, .. } => name,
        }
    }

    /// The operator's name in error messages and the CLI.
    pub fn op_name(&self) -> &'static str {
        match self {
            TraitOp::Set { .. } => "set",
            TraitOp::SetOnce { .. } => "set_once",
            TraitOp::Unset { .. } => "unset",
            TraitOp::Increment { .. } => "increment",
            TraitOp::AddToSet { .. } => "add_to_set",
            TraitOp::RemoveFromSet { .. } => "remove_from_set",
        }
    }

    /// Checks what can be checked without the profile: the name, value
    /// limits, the increment's type.
    pub fn validate(&self) -> Result<()> {
        validate_name(self.name())?;
        let value_err = |reason: String| Error::InvalidTraitValue { name: self.name().to_owned(), reason };
        match self {
            TraitOp::Set { value, .. } | TraitOp::SetOnce { value, .. } => value.validate().map_err(value_err),
            TraitOp::Increment { by, .. } => match by {
                TraitValue::Int(_) => Ok(()),
                TraitValue::Float(f) if f.is_finite() => Ok(()),
                other => Err(value_err(format!("increment needs a finite number, got {}", other.type_name()))),
            },
            TraitOp::AddToSet { values, .. } | TraitOp::RemoveFromSet { values, .. } => {
                TraitValue::List(values.clone()).validate().map_err(value_err)
            }
            TraitOp::Unset { .. } => Ok(()),
        }
    }

    /// Applies the operator to `traits` at time `at`. On error `traits` may
    /// be partly changed: callers apply to a copy (see [`Update::apply`]).
    pub(crate) fn apply(&self, traits: &mut Traits, at: Timestamp) -> Result<()> {
        let name = self.name();
        match self {
            TraitOp::Set { value, .. } => traits.insert(name, value.clone(), at),
            TraitOp::SetOnce { value, .. } => {
                if traits.get(name).is_none() {
                    traits.insert(name, value.clone(), at)?;
                }
                Ok(())
            }
            TraitOp::Unset { .. } => {
                traits.remove(name);
                Ok(())
            }
            TraitOp::Increment { by, .. } => {
                let next = increment(name, traits.get(name), by)?;
                traits.insert(name, next, at)
            }
            TraitOp::AddToSet { values, .. } => {
                let mut list = list_of(name, traits.get(name), "add_to_set")?;
                for v in values {
                    if !list.contains(v) {
                        list.push(v.clone());
                    }
                }
                if list.len() > MAX_LIST_LEN {
                    return Err(Error::InvalidTraitValue {
                        name: name.to_owned(),
                        reason: format!("the list would hold {} elements, the limit is {MAX_LIST_LEN}", list.len()),
                    });
                }
                traits.insert(name, TraitValue::List(list), at)
            }
            TraitOp::RemoveFromSet { values, .. } => {
                if traits.get(name).is_none() {
                    return Ok(());
                }
                let mut list = list_of(name, traits.get(name), "remove_from_set")?;
                list.retain(|v| !values.contains(v));
                traits.insert(name, TraitValue::List(list), at)
            }
        }
    }
}

fn increment(name: &str, current: Option<&TraitValue>, by: &TraitValue) -> Result<TraitValue> {
    let overflow = || Error::InvalidTraitValue { name: name.to_owned(), reason: "integer overflow".into() };
    // A float trait is finite: a sum past f64::MAX is refused like an integer overflow.
    let float = |sum: f64| {
        if sum.is_finite() {
            Ok(TraitValue::Float(sum))
        } else {
            Err(Error::InvalidTraitValue {
                name: name.to_owned(),
                reason: "float overflow (the sum is not finite)".into(),
            })
        }
    };
    match (current, by) {
        (None | Some(TraitValue::Null), by) => Ok(by.clone()),
        (Some(TraitValue::Int(a)), TraitValue::Int(b)) => a.checked_add(*b).map(TraitValue::Int).ok_or_else(overflow),
        (Some(TraitValue::Int(a)), TraitValue::Float(b)) => float(*a as f64 + b),
        (Some(TraitValue::Float(a)), TraitValue::Int(b)) => float(a + *b as f64),
        (Some(TraitValue::Float(a)), TraitValue::Float(b)) => float(a + b),
        (Some(other), _) => Err(Error::TypeMismatch {
            name: name.to_owned(),
            op: "increment",
            found: other.type_name(),
            expected: "an integer or float",
        }),
    }
}

fn list_of(name: &str, current: Option<&TraitValue>, op: &'static str) -> Result<Vec<String>> {
    match current {
        None | Some(TraitValue::Null) => Ok(Vec::new()),
        Some(TraitValue::List(l)) => Ok(l.clone()),
        Some(other) => {
            Err(Error::TypeMismatch { name: name.to_owned(), op, found: other.type_name(), expected: "a list" })
        }
    }
}

/// Any number of operators on one profile, applied atomically as one delta.
///
/// ```
/// use profiledb::Update;
/// let update = Update::new()
///     .set("plan", "pro")
///     .set_once("first_seen_source", "ads")
///     .increment("logins", 1)
///     .add_to_set("tags", ["beta"]);
/// assert_eq!(update.ops().len(), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[must_use]
pub struct Update {
    ops: Vec<TraitOp>,
    cause: Option<Cause>,
}

impl Update {
    /// An empty update.
    pub fn new() -> Self {
        Update::default()
    }

    /// An update made of `ops`.
    pub fn from_ops(ops: Vec<TraitOp>) -> Self {
        Update { ops, cause: None }
    }

    /// Records why this update happens (default [`Cause::Api`]).
    pub fn cause(mut self, cause: Cause) -> Self {
        self.cause = Some(cause);
        self
    }

    /// The update's cause.
    pub fn cause_or_api(&self) -> Cause {
        self.cause.clone().unwrap_or(Cause::Api)
    }

    /// Takes the operators out.
    pub fn into_ops(self) -> Vec<TraitOp> {
        self.ops
    }

    /// The operators, in order.
    pub fn ops(&self) -> &[TraitOp] {
        &self.ops
    }

    /// Whether the update has no operators.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Appends an operator.
    pub fn op(mut self, op: TraitOp) -> Self {
        self.ops.push(op);
        self
    }

    /// Appends [`TraitOp::Set`].
    pub fn set(self, name: &str, value: impl Into<TraitValue>) -> Self {
        self.op(TraitOp::Set { name: name.to_owned(), value: value.into() })
    }

    /// Appends [`TraitOp::SetOnce`].
    pub fn set_once(self, name: &str, value: impl Into<TraitValue>) -> Self {
        self.op(TraitOp::SetOnce { name: name.to_owned(), value: value.into() })
    }

    /// Appends [`TraitOp::Unset`].
    pub fn unset(self, name: &str) -> Self {
        self.op(TraitOp::Unset { name: name.to_owned() })
    }

    /// Appends [`TraitOp::Increment`]: adds `by` to a numeric trait
    /// (absent counts as 0).
    ///
    /// `by` takes any [`TraitValue`] (so a value decoded from JSON or
    /// typed at the CLI passes straight through), but only a number is an
    /// amount: anything else compiles and is refused when the update is
    /// validated or applied — [`Error::InvalidTraitValue`] naming the
    /// trait, nothing written. Applying also refuses an increment of a
    /// trait holding a non-number ([`Error::TypeMismatch`]), an integer
    /// overflow and a non-finite sum ([`Error::InvalidTraitValue`]).
    ///
    /// ```
    /// use profiledb::{Error, ProfileDb, Update};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let who = "user_id:1".parse()?;
    /// db.update(&who, Update::new().increment("logins", 1).increment("score", 0.5))?;
    /// let err = db.update(&who, Update::new().increment("logins", "1")).unwrap_err();
    /// assert!(matches!(err, Error::InvalidTraitValue { .. }), "{err}");
    /// assert!(Update::new().increment("logins", "1").validate().is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn increment(self, name: &str, by: impl Into<TraitValue>) -> Self {
        self.op(TraitOp::Increment { name: name.to_owned(), by: by.into() })
    }

    /// Appends [`TraitOp::AddToSet`].
    pub fn add_to_set<S: Into<String>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.op(TraitOp::AddToSet { name: name.to_owned(), values: values.into_iter().map(Into::into).collect() })
    }

    /// Appends [`TraitOp::RemoveFromSet`].
    pub fn remove_from_set<S: Into<String>>(self, name: &str, values: impl IntoIterator<Item = S>) -> Self {
        self.op(TraitOp::RemoveFromSet { name: name.to_owned(), values: values.into_iter().map(Into::into).collect() })
    }

    /// Checks every operator without a profile.
    pub fn validate(&self) -> Result<()> {
        if self.ops.len() > MAX_OPS_PER_UPDATE {
            return Err(Error::invalid(format!(
                "an update carries at most {MAX_OPS_PER_UPDATE} operators, got {}",
                self.ops.len()
            )));
        }
        self.ops.iter().try_for_each(TraitOp::validate)
    }

    /// Applies every operator to a copy of `traits`; returns the new traits,
    /// or the first error (leaving `traits` untouched).
    pub fn apply(&self, traits: &Traits, at: Timestamp) -> Result<Traits> {
        let mut next = traits.clone();
        for op in &self.ops {
            op.apply(&mut next, at)?;
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(update: Update, start: &Traits) -> Result<Traits> {
        update.validate()?;
        update.apply(start, Timestamp(10))
    }

    #[test]
    fn set_once_only_sets_absent() {
        let t = run(Update::new().set_once("a", 1).set_once("a", 2), &Traits::new()).unwrap();
        assert_eq!(t.get("a"), Some(&TraitValue::Int(1)));
    }

    #[test]
    fn increment_mixes_int_and_float_and_rejects_strings() {
        let t = run(Update::new().increment("n", 2).increment("n", 0.5), &Traits::new()).unwrap();
        assert_eq!(t.get("n"), Some(&TraitValue::Float(2.5)));
        let t = run(Update::new().set("s", "x"), &Traits::new()).unwrap();
        let err = run(Update::new().increment("s", 1), &t).unwrap_err();
        assert!(matches!(err, Error::TypeMismatch { op: "increment", found: "string", .. }), "{err}");
        assert!(run(Update::new().increment("n", i64::MAX).increment("n", 1), &Traits::new()).is_err());
        assert!(run(Update::new().increment("n", "1"), &Traits::new()).is_err());
    }

    #[test]
    fn a_float_increment_past_the_largest_float_is_an_error() {
        let err = run(Update::new().increment("n", f64::MAX).increment("n", f64::MAX), &Traits::new()).unwrap_err();
        assert!(matches!(&err, Error::InvalidTraitValue { name, .. } if name == "n"), "{err}");
        assert!(err.to_string().contains("float overflow"), "{err}");
        let t = run(Update::new().set("n", i64::MAX), &Traits::new()).unwrap();
        assert!(run(Update::new().increment("n", f64::MAX), &t).is_ok(), "finite sums stay allowed");
        let t = run(Update::new().set("n", -f64::MAX), &Traits::new()).unwrap();
        assert!(run(Update::new().increment("n", -f64::MAX), &t).is_err());
    }

    #[test]
    fn sets_add_and_remove_without_duplicates() {
        let t =
            run(Update::new().add_to_set("tags", ["a", "b"]).add_to_set("tags", ["b", "c"]), &Traits::new()).unwrap();
        assert_eq!(t.get("tags"), Some(&TraitValue::List(vec!["a".into(), "b".into(), "c".into()])));
        let t = run(Update::new().remove_from_set("tags", ["a", "z"]), &t).unwrap();
        assert_eq!(t.get("tags"), Some(&TraitValue::List(vec!["b".into(), "c".into()])));
        let t = run(Update::new().remove_from_set("absent", ["a"]), &t).unwrap();
        assert!(t.get("absent").is_none());
    }

    #[test]
    fn failed_update_leaves_input_untouched() {
        let start = run(Update::new().set("s", "x"), &Traits::new()).unwrap();
        let before = start.clone();
        assert!(run(Update::new().set("ok", 1).increment("s", 1), &start).is_err());
        assert_eq!(start, before);
    }

    #[test]
    fn validation_rejects_bad_names_and_values() {
        assert!(Update::new().set("a b", 1).validate().is_err());
        assert!(Update::new().set("f", f64::INFINITY).validate().is_err());
        let many = (0..=MAX_OPS_PER_UPDATE).fold(Update::new(), |u, i| u.set(&format!("t{i}"), 1));
        assert!(many.validate().is_err());
    }
}
