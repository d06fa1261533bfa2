//! What an import notices about its events without refusing them: a
//! property that a numeric rollup (sum, min, max, avg — RFM's amount
//! rollup among them) reads but that the event holds as text (`"12.50"`),
//! which the rollup leaves out; and events without a message id, which
//! are never deduplicated.

use std::collections::BTreeMap;

use profiledb::event::Event;
use profiledb::rollup::Aggregate;
use profiledb::ProfileDb;
use serde_json::{json, Value};

/// One numeric rollup: name, event, property, aggregate.
#[derive(Debug)]
struct Numeric {
    rollup: String,
    event: String,
    property: String,
    aggregate: &'static str,
}

/// Counts gathered over an import.
#[derive(Debug, Default)]
pub struct Notices {
    numeric: Vec<Numeric>,
    /// Per numeric rollup (index into `numeric`): events with a non-numeric
    /// value, and the first such value.
    non_numeric: BTreeMap<usize, (u64, String)>,
    /// Events without a message id.
    pub without_message_id: u64,
}

impl Notices {
    /// Watches the numeric rollups declared in `db`.
    pub fn new(db: &ProfileDb) -> Self {
        let numeric = db
            .rollup_defs()
            .into_iter()
            .filter_map(|d| {
                let (aggregate, property) = match &d.aggregate {
                    Aggregate::Sum(p) => ("sum", p),
                    Aggregate::Min(p) => ("min", p),
                    Aggregate::Max(p) => ("max", p),
                    Aggregate::Avg(p) => ("avg", p),
                    _ => return None,
                };
                Some(Numeric { property: property.clone(), rollup: d.name, event: d.event, aggregate })
            })
            .collect();
        Notices { numeric, ..Notices::default() }
    }

    /// Notes what `e` carries.
    pub fn event(&mut self, e: &Event) {
        if e.message_id.is_none() {
            self.without_message_id += 1;
        }
        for (i, n) in self.numeric.iter().enumerate().filter(|(_, n)| n.event == e.name) {
            if let Some(v) = e.property(&n.property).filter(|v| v.as_f64().is_none()) {
                let entry = self.non_numeric.entry(i).or_insert_with(|| (0, v.to_json().to_string()));
                entry.0 += 1;
            }
        }
    }

    /// The warnings to print (on stderr), one per line.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .non_numeric
            .iter()
            .filter_map(|(i, (count, example))| {
                let n = self.numeric.get(*i)?;
                Some(format!(
                    "warning: {count} {:?} events had a non-numeric {:?} (such as {example}), which rollup {:?} \
                     ({}) leaves out{}: send numbers, not strings",
                    n.event,
                    n.property,
                    n.rollup,
                    n.aggregate,
                    if n.rollup.starts_with("rfm_") { ", and so does RFM's monetary value" } else { "" }
                ))
            })
            .collect();
        if self.without_message_id > 0 {
            out.push(format!(
                "note: {} events had no message id: they are never deduplicated, so importing them again counts \
                 them again",
                self.without_message_id
            ));
        }
        out
    }

    /// The notices as JSON.
    pub fn json(&self) -> Value {
        let non_numeric: Vec<Value> = self
            .non_numeric
            .iter()
            .filter_map(|(i, (count, example))| {
                let n = self.numeric.get(*i)?;
                Some(json!({"rollup": n.rollup, "event": n.event, "property": n.property, "events": count,
                            "example": example}))
            })
            .collect();
        json!({"non_numeric": non_numeric, "events_without_message_id": self.without_message_id})
    }
}
