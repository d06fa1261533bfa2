//! Events, rollups, RFM and segments, as JSON and as readable text.

use std::collections::BTreeMap;

use profiledb::event::{to_native_json, Event};
use profiledb::rollup::{Aggregate, Filter, FilterOp, Literal, RfmReport, RfmScore, RollupDef, RollupValue};
use profiledb::{SegmentInfo, Timestamp};
use serde_json::{json, Value};

use super::table::{truncate, Table};

/// The widest the properties column of the events table gets.
const PROPERTIES_WIDTH: usize = 80;

/// An aggregate as written on the command line: `sum(amount)`, `count`.
pub fn aggregate(a: &Aggregate) -> String {
    match a {
        Aggregate::Count => "count".into(),
        Aggregate::Sum(p) => format!("sum({p})"),
        Aggregate::Min(p) => format!("min({p})"),
        Aggregate::Max(p) => format!("max({p})"),
        Aggregate::Avg(p) => format!("avg({p})"),
        Aggregate::First => "first".into(),
        Aggregate::Last => "last".into(),
        Aggregate::ActiveDays => "active_days".into(),
        Aggregate::MostFrequent(p) => format!("most_frequent({p})"),
        Aggregate::Unique(p) => format!("unique({p})"),
    }
}

/// A filter as `page = "/pricing"`; conditions joined by `and`.
pub fn filters(fs: &[Filter]) -> String {
    let one = |f: &Filter| {
        let op = match f.op {
            FilterOp::Eq => "=",
            FilterOp::Ne => "!=",
            FilterOp::Lt => "<",
            FilterOp::Le => "<=",
            FilterOp::Gt => ">",
            FilterOp::Ge => ">=",
        };
        let values: Vec<String> = f
            .values
            .iter()
            .map(|v| match v {
                Literal::Str(s) => Value::String(s.clone()).to_string(),
                Literal::Num(n) => n.to_string(),
                Literal::Bool(b) => b.to_string(),
            })
            .collect();
        format!("{} {op} {}", f.property, values.join(" | "))
    };
    fs.iter().map(one).collect::<Vec<_>>().join(" and ")
}

/// A rollup definition as JSON.
pub fn rollup_def(d: &RollupDef) -> Value {
    json!({"name": d.name, "event": d.event, "aggregate": aggregate(&d.aggregate), "filter": filters(&d.filter)})
}

/// Rollup definitions as a table.
pub fn rollup_defs_table(defs: &[RollupDef]) -> String {
    if defs.is_empty() {
        return "no rollups declared (see `profiledb rollup declare --help`)".into();
    }
    let mut t = Table::new(&["ROLLUP", "EVENT", "AGGREGATE", "WHERE"]);
    for d in defs {
        t.row(vec![d.name.clone(), d.event.clone(), aggregate(&d.aggregate), filters(&d.filter)]);
    }
    t.render()
}

/// A rollup value for people.
pub fn rollup_value(v: &RollupValue) -> String {
    match v {
        RollupValue::Count(n) => n.to_string(),
        RollupValue::Number(Some(x)) => super::text::value(&profiledb::TraitValue::Float(*x)),
        RollupValue::Time(Some(t)) => t.to_rfc3339(),
        RollupValue::MostFrequent { value: Some(s), .. } => Value::String(s.clone()).to_string(),
        RollupValue::MostFrequent { value: None, complete: false } => {
            format!("unknown (over {} distinct values)", profiledb::rollup::MAX_UNIQUE_VALUES)
        }
        RollupValue::Number(None) | RollupValue::Time(None) | RollupValue::MostFrequent { value: None, .. } => {
            "-".into()
        }
        RollupValue::Unique { count, values, complete } => {
            let more = if *complete { "" } else { ", ..." };
            truncate(&format!("{count}: {}{more}", values.join(", ")), 60)
        }
    }
}

/// Named rollup values as a JSON object.
pub fn rollups_json(values: &[(String, RollupValue)]) -> Value {
    Value::Object(values.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

/// Named rollup values as a table.
pub fn rollups_table(values: &[(String, RollupValue)]) -> String {
    if values.is_empty() {
        return "ROLLUPS\n  (none)".into();
    }
    let mut t = Table::new(&["ROLLUP", "VALUE (ALL TIME)"]);
    for (name, v) in values {
        t.row(vec![name.clone(), rollup_value(v)]);
    }
    t.render()
}

/// An event as JSON (the native format, which `import` reads back).
pub fn event(e: &Event) -> Value {
    to_native_json(e)
}

/// Events as a table, oldest first.
pub fn events_table(events: &[Event]) -> String {
    let mut t = Table::new(&["TIME", "TYPE", "NAME", "MESSAGE ID", "PROPERTIES / TRAITS"]);
    for e in events {
        let native = to_native_json(e);
        // Properties can be long (truncated); trait operations are what a
        // reader looks for ("which event set this?"): every one, in full.
        let props = native.get("properties").map_or(String::new(), |p| truncate(&p.to_string(), PROPERTIES_WIDTH));
        let ops = e.traits.iter().map(super::text::op).collect::<Vec<_>>().join("; ");
        let detail = match (props.is_empty(), ops.is_empty()) {
            (_, true) => props,
            (true, false) => ops,
            (false, false) => format!("{props}; {ops}"),
        };
        t.row(vec![
            e.timestamp.to_rfc3339(),
            e.kind.to_string(),
            e.name.clone(),
            e.message_id.clone().unwrap_or_default(),
            detail,
        ]);
    }
    t.render()
}

/// An RFM score as JSON.
pub fn rfm_score(s: &RfmScore) -> Value {
    json!({
        "code": s.code(), "r": s.r, "f": s.f, "m": s.m,
        "recency_days": s.recency_ms as f64 / Timestamp::DAY as f64,
        "frequency": s.frequency, "monetary": s.monetary,
    })
}

/// An RFM score in one line.
pub fn rfm_line(s: &RfmScore) -> String {
    format!(
        "RFM {}  (recency {:.1} days: R{}; {} purchases: F{}; spent {}: M{})",
        s.code(),
        s.recency_ms as f64 / Timestamp::DAY as f64,
        s.r,
        s.frequency,
        s.f,
        super::text::value(&profiledb::TraitValue::Float(s.monetary)),
        s.m
    )
}

/// An RFM report (model and distribution) as JSON.
pub fn rfm_report(r: &RfmReport) -> Value {
    let m = &r.model;
    json!({
        "event": m.config.event, "amount": m.config.amount,
        "computed_at": m.computed_at.to_rfc3339(),
        "profiles_scored": m.profiles,
        "recency_cuts_days": m.recency_cuts.iter().map(|c| *c as f64 / Timestamp::DAY as f64).collect::<Vec<_>>(),
        "frequency_cuts": m.frequency_cuts,
        "monetary_cuts": m.monetary_cuts,
        "distribution": r.distribution,
    })
}

/// An RFM report for people: the model, an R × F grid, the top codes.
pub fn rfm_text(r: &RfmReport, top: usize) -> String {
    let m = &r.model;
    let days: Vec<String> =
        m.recency_cuts.iter().map(|c| format!("{:.1}", *c as f64 / Timestamp::DAY as f64)).collect();
    let money: Vec<String> = m.monetary_cuts.iter().map(|c| format!("{c:.2}")).collect();
    let freq: Vec<String> = m.frequency_cuts.iter().map(ToString::to_string).collect();
    let mut out = format!(
        "RFM of {} ({}), computed {}: {} profiles scored\n  quintile cuts: recency days [{}], purchases [{}], spend [{}]\n\n",
        m.config.event,
        m.config.amount,
        m.computed_at,
        m.profiles,
        days.join(", "),
        freq.join(", "),
        money.join(", ")
    );
    let mut grid: BTreeMap<(char, char), u64> = BTreeMap::new();
    for (code, n) in &r.distribution {
        let mut c = code.chars();
        if let (Some(rc), Some(fc)) = (c.next(), c.next()) {
            *grid.entry((rc, fc)).or_insert(0) += n;
        }
    }
    let mut t = Table::new(&["R \\ F", "F1", "F2", "F3", "F4", "F5"]);
    for rc in ['5', '4', '3', '2', '1'] {
        let mut row = vec![format!("R{rc}")];
        row.extend(['1', '2', '3', '4', '5'].iter().map(|fc| grid.get(&(rc, *fc)).copied().unwrap_or(0).to_string()));
        t.row(row);
    }
    out.push_str("profiles by recency (R5 = most recent) and frequency (F5 = most purchases):\n");
    out.push_str(&t.render());
    let mut codes: Vec<(&String, &u64)> = r.distribution.iter().collect();
    codes.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut t = Table::new(&["RFM", "PROFILES"]);
    for (code, n) in codes.iter().take(top) {
        t.row(vec![(*code).clone(), n.to_string()]);
    }
    out.push_str(&format!("\n\nmost common scores (of {}):\n{}", r.distribution.len(), t.render()));
    out
}

/// A segment's summary as JSON.
pub fn segment(s: &SegmentInfo) -> Value {
    json!({"name": s.name, "members": s.members, "expression": s.text, "defined_at": s.defined_at.to_rfc3339()})
}

/// Segments as a table.
pub fn segments_table(segs: &[SegmentInfo]) -> String {
    if segs.is_empty() {
        return "no segments defined (see `profiledb segment define --help`)".into();
    }
    let mut t = Table::new(&["SEGMENT", "MEMBERS", "EXPRESSION"]);
    for s in segs {
        t.row(vec![s.name.clone(), super::thousands(s.members), truncate(&s.text, 90)]);
    }
    t.render()
}
