//! Rollup definitions: which events a rollup reads and what it computes.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::event::property::PropertyValue;
use crate::event::Event;
use crate::numeric::{cmp_num, Num};

/// What a rollup computes over the events it reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Aggregate {
    /// Number of events.
    Count,
    /// Sum of a numeric property.
    Sum(String),
    /// Smallest value of a numeric property.
    Min(String),
    /// Largest value of a numeric property.
    Max(String),
    /// Average of a numeric property.
    Avg(String),
    /// Time of the first event.
    First,
    /// Time of the last event.
    Last,
    /// Number of distinct days (in buckets) with at least one event.
    ActiveDays,
    /// The most frequent value of a property.
    MostFrequent(String),
    /// The distinct values of a property (bounded) and their count.
    Unique(String),
}

impl Aggregate {
    /// The property this aggregate reads, if any.
    pub fn property(&self) -> Option<&str> {
        match self {
            Aggregate::Sum(p)
            | Aggregate::Min(p)
            | Aggregate::Max(p)
            | Aggregate::Avg(p)
            | Aggregate::MostFrequent(p)
            | Aggregate::Unique(p) => Some(p),
            _ => None,
        }
    }

    /// Whether the property must be numeric.
    pub fn numeric(&self) -> bool {
        matches!(self, Aggregate::Sum(_) | Aggregate::Min(_) | Aggregate::Max(_) | Aggregate::Avg(_))
    }
}

/// A comparison in a rollup's property filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FilterOp {
    /// Equal (numbers compare numerically, strings exactly).
    Eq,
    /// Not equal (an absent property is not equal).
    Ne,
    /// Less than (numbers).
    Lt,
    /// Less than or equal (numbers).
    Le,
    /// Greater than (numbers).
    Gt,
    /// Greater than or equal (numbers).
    Ge,
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    /// A string.
    Str(String),
    /// A number, held as a 64-bit float (an integer property compares
    /// with it by exact value; an integer literal past 2^53 cannot be held
    /// exactly, and the CLI refuses one).
    Num(f64),
    /// A boolean.
    Bool(bool),
}

/// One condition on an event property; a rollup's filter is their conjunction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Filter {
    /// Dotted property path.
    pub property: String,
    /// The comparison.
    pub op: FilterOp,
    /// The value compared with (any of them matches, for `in`-style lists).
    pub values: Vec<Literal>,
}

impl Filter {
    /// Whether `event` passes this condition.
    pub fn matches(&self, event: &Event) -> bool {
        let Some(v) = event.property(&self.property) else { return self.op == FilterOp::Ne };
        if self.op == FilterOp::Ne {
            self.values.iter().all(|lit| compare(v, self.op, lit))
        } else {
            self.values.iter().any(|lit| compare(v, self.op, lit))
        }
    }
}

fn compare(v: &PropertyValue, op: FilterOp, lit: &Literal) -> bool {
    match (lit, op) {
        (Literal::Str(s), FilterOp::Eq) => v.as_str() == Some(s.as_str()),
        (Literal::Str(s), FilterOp::Ne) => v.as_str() != Some(s.as_str()),
        (Literal::Bool(b), FilterOp::Eq) => v.as_bool() == Some(*b),
        (Literal::Bool(b), FilterOp::Ne) => v.as_bool() != Some(*b),
        (Literal::Num(n), op) => match v.as_number() {
            // By exact value: an integer property past 2^53 is not rounded.
            Some(x) => {
                let ord = cmp_num(x, Num::Float(*n));
                match op {
                    FilterOp::Eq => ord == Some(Ordering::Equal),
                    FilterOp::Ne => ord != Some(Ordering::Equal),
                    FilterOp::Lt => ord == Some(Ordering::Less),
                    FilterOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                    FilterOp::Gt => ord == Some(Ordering::Greater),
                    FilterOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                }
            }
            None => op == FilterOp::Ne,
        },
        _ => false,
    }
}

/// What a stored series accumulates: every event named `event` that
/// passes `filter`, with the value of `property` when given. Several
/// rollups share one series (count, sum, first, last of the same events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesDef {
    /// The event name.
    pub event: String,
    /// Property conditions (all must hold).
    pub filter: Vec<Filter>,
    /// The property whose values are accumulated, if any.
    pub property: Option<String>,
}

impl SeriesDef {
    /// Whether `event` belongs to this series.
    pub fn matches(&self, event: &Event) -> bool {
        event.name == self.event && self.filter.iter().all(|f| f.matches(event))
    }
}

/// A declared rollup: a name, the series it reads and its aggregate.
///
/// ```
/// use profiledb::rollup::{Aggregate, RollupDef};
/// let spend = RollupDef::new("spend", "purchase", Aggregate::Sum("amount".into()));
/// assert_eq!(spend.series().property.as_deref(), Some("amount"));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RollupDef {
    /// The rollup's name (`[a-z0-9_]`, ≤ 64 bytes).
    pub name: String,
    /// The event name it reads.
    pub event: String,
    /// Property conditions (all must hold).
    pub filter: Vec<Filter>,
    /// What it computes.
    pub aggregate: Aggregate,
}

impl RollupDef {
    /// A rollup over every `event` without a filter.
    pub fn new(name: &str, event: &str, aggregate: Aggregate) -> Self {
        RollupDef { name: name.to_owned(), event: event.to_owned(), filter: Vec::new(), aggregate }
    }

    /// Adds a filter condition.
    #[must_use]
    pub fn filter(mut self, property: &str, op: FilterOp, value: Literal) -> Self {
        self.filter.push(Filter { property: property.to_owned(), op, values: vec![value] });
        self
    }

    /// The series this rollup reads.
    pub fn series(&self) -> SeriesDef {
        SeriesDef {
            event: self.event.clone(),
            filter: self.filter.clone(),
            property: self.aggregate.property().map(str::to_owned),
        }
    }

    /// Checks the name and the event name.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::invalid(format!("rollup {:?}: {m}", self.name)));
        if self.name.is_empty() || self.name.len() > 64 {
            return bad("names are 1 to 64 bytes".into());
        }
        if let Some(c) = self.name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return bad(format!("names may hold a-z, 0-9 and _, found {c:?}"));
        }
        if self.event.is_empty() || self.event.len() > 256 {
            return bad("the event name must be 1 to 256 bytes".into());
        }
        if self.filter.iter().any(|f| f.values.is_empty()) {
            return bad("a filter condition needs at least one value".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::event::EventKind;
    use crate::Identifier;

    fn ev(id: PropertyValue) -> Event {
        let user = Identifier::new("user_id", "u").expect("a valid identifier");
        let mut e = Event::new(EventKind::Track, "purchase", Timestamp(0), vec![user]);
        e.properties.insert("id", id);
        e
    }

    #[test]
    fn number_filters_compare_integers_past_2_pow_53_exactly() {
        let at = |op| Filter { property: "id".into(), op, values: vec![Literal::Num(9_007_199_254_740_992.0)] };
        let (p53, big) = (ev(PropertyValue::Int(1 << 53)), ev(PropertyValue::Int((1 << 53) + 1)));
        assert!(at(FilterOp::Eq).matches(&p53));
        assert!(!at(FilterOp::Eq).matches(&big));
        assert!(at(FilterOp::Ne).matches(&big));
        assert!(at(FilterOp::Gt).matches(&big));
        assert!(!at(FilterOp::Le).matches(&big));
        assert!(at(FilterOp::Ge).matches(&p53));
        assert!(!at(FilterOp::Lt).matches(&p53));
    }
}
