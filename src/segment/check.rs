//! Static checks, dependencies and cycle detection for segment expressions.
//!
//! [`check`] validates a tree from any source (parsed, built, decoded)
//! before it is stored: known segment names, operand types, positive
//! windows, well-formed names, structure and size limits. Errors point
//! into the canonical text of the expression (`expr.to_string()`).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::error::{Error, Result};
use crate::profile::traits::validate_name;

use super::ast::{
    EventSelector, Expr, FilterTest, Literal, Operand, RollupCond, SeqCond, TraitCond, TraitTest, Window, MAX_DEPTH,
    MAX_DURATION_MS, MAX_EXPR_BYTES,
};
use super::display::render;

/// The longest event, property, segment or consent name accepted, in bytes.
pub const MAX_NAME_BYTES: usize = 256;

/// What the checker needs to know about the world outside the expression.
pub trait Catalog {
    /// Whether a segment with this name is defined.
    fn segment_exists(&self, name: &str) -> bool;
}

impl Catalog for BTreeSet<String> {
    fn segment_exists(&self, name: &str) -> bool {
        self.contains(name)
    }
}

impl Catalog for HashSet<String> {
    fn segment_exists(&self, name: &str) -> bool {
        self.contains(name)
    }
}

/// Checks `expr` for everything that would make it wrong to store:
/// unknown segments (per `catalog`), type errors (`count(…) > "abc"`,
/// `traits.x contains 3`, `last(…) > 5`), non-positive or too long
/// windows, malformed names, `and`/`or` with fewer than two operands,
/// nesting deeper than [`MAX_DEPTH`] and canonical text over
/// [`MAX_EXPR_BYTES`].
///
/// The error's `expr` is the canonical text and `position` the start of
/// the offending condition in it. Segment cycles need every definition:
/// see [`find_cycle`].
pub fn check(expr: &Expr, catalog: &dyn Catalog) -> Result<()> {
    if let Some((node, message)) = find_problem(expr, catalog, 0) {
        if message.starts_with("expression nests deeper") {
            return Err(Error::InvalidExpression { expr: String::new(), position: 0, message });
        }
        let (text, at) = render(expr, Some(node));
        return Err(Error::InvalidExpression { expr: text, position: at.unwrap_or(0), message });
    }
    let text = expr.to_string();
    if text.len() > MAX_EXPR_BYTES {
        return Err(Error::InvalidExpression {
            expr: crate::error::quote_input(&text),
            position: 0,
            message: format!("expression is {} bytes as text, the limit is {MAX_EXPR_BYTES}", text.len()),
        });
    }
    Ok(())
}

fn find_problem<'e>(e: &'e Expr, catalog: &dyn Catalog, depth: usize) -> Option<(&'e Expr, String)> {
    if depth > MAX_DEPTH {
        return Some((e, format!("expression nests deeper than {MAX_DEPTH} levels of and/or/not")));
    }
    match e {
        Expr::And(items) | Expr::Or(items) => {
            if items.len() < 2 {
                let op = if matches!(e, Expr::And(_)) { "and" } else { "or" };
                return Some((e, format!("\"{op}\" needs at least two operands, found {}", items.len())));
            }
            items.iter().find_map(|c| find_problem(c, catalog, depth + 1))
        }
        Expr::Not(inner) => find_problem(inner, catalog, depth + 1),
        Expr::InSegment(name) if leaf_problem(e).is_none() && !catalog.segment_exists(name) => {
            Some((e, format!("unknown segment {name:?}")))
        }
        leaf => leaf_problem(leaf).map(|(_, message)| (e, message)),
    }
}

/// Which part of a condition a problem is in (so the parser can point
/// at it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// The condition as a whole (or its names).
    Start,
    /// A trait condition's name, after `traits.`.
    TraitName,
    /// The right-hand side of the comparison or test.
    Operand,
    /// The window or `seq` duration.
    Window,
    /// The k-th `where` filter, counted across the condition's selectors.
    Filter(usize),
}

/// The catalog-free problem with one condition, if any. `and`/`or`/`not`
/// nodes are not looked into.
pub(crate) fn leaf_problem(e: &Expr) -> Option<(Part, String)> {
    match e {
        Expr::And(_) | Expr::Or(_) | Expr::Not(_) => None,
        Expr::Trait(t) => trait_problem(t),
        Expr::Rollup(r) => rollup_problem(r),
        Expr::Seq(s) => seq_problem(s),
        Expr::Has(kind) => kind_problem(kind).map(|m| (Part::Start, m)),
        Expr::InSegment(name) => name_problem("segment", name).map(|m| (Part::Start, m)),
        Expr::Consent(name) => name_problem("consent purpose", name).map(|m| (Part::Start, m)),
    }
}

fn trait_problem(t: &TraitCond) -> Option<(Part, String)> {
    if let Err(e) = validate_name(&t.name) {
        let reason = match e {
            Error::InvalidTraitName { reason, .. } => reason,
            other => other.to_string(),
        };
        return Some((Part::TraitName, format!("invalid trait name {:?}: {reason}", t.name)));
    }
    let operand = |m: String| Some((Part::Operand, m));
    match &t.test {
        TraitTest::Cmp(op, Operand::Lit(lit)) => {
            if let Some(m) = literal_problem(lit) {
                return operand(m);
            }
            if op.is_ordering() && matches!(lit, Literal::Bool(_)) {
                return operand(format!("booleans can only be compared with = or !=, not {}", op.symbol()));
            }
            None
        }
        TraitTest::Cmp(_, Operand::Now(d)) => offset_problem(d.as_millis()).map(|m| (Part::Operand, m)),
        TraitTest::In(list) => list_problem(list).map(|m| (Part::Operand, m)),
        TraitTest::Contains(lit) | TraitTest::StartsWith(lit) => match lit {
            Literal::Str(_) => None,
            other => {
                let test = if matches!(t.test, TraitTest::Contains(_)) { "contains" } else { "starts_with" };
                operand(format!("{test} needs a string, found {}", other.type_name()))
            }
        },
        TraitTest::Exists | TraitTest::IsNull => None,
    }
}

fn rollup_problem(r: &RollupCond) -> Option<(Part, String)> {
    if let Some(m) = name_problem("event", &r.events.event) {
        return Some((Part::Start, m));
    }
    if let Some(m) = r.metric.property().and_then(|p| name_problem("property", p)) {
        return Some((Part::Start, m));
    }
    if let Some(found) = selector_problems(&r.events, 0) {
        return Some(found);
    }
    if let Window::Last(d) = r.window {
        if let Some(m) = window_problem("the window", d.as_millis()) {
            return Some((Part::Window, m));
        }
    }
    let function = r.metric.function();
    let problem = if r.metric.yields_time() {
        match &r.operand {
            Operand::Lit(Literal::Time(_)) => None,
            Operand::Now(d) => offset_problem(d.as_millis()),
            Operand::Lit(other) => Some(format!(
                "{function}(…) compares to a time (t\"…\" or now ± a duration), found {}",
                other.type_name()
            )),
        }
    } else {
        match &r.operand {
            Operand::Lit(lit @ (Literal::Int(_) | Literal::Float(_))) => literal_problem(lit),
            Operand::Lit(other) => Some(format!("{function}(…) compares to a number, found {}", other.type_name())),
            Operand::Now(_) => Some(format!("{function}(…) compares to a number, found a relative time")),
        }
    };
    problem.map(|m| (Part::Operand, m))
}

fn seq_problem(s: &SeqCond) -> Option<(Part, String)> {
    for sel in [&s.first, &s.then] {
        if let Some(m) = name_problem("event", &sel.event) {
            return Some((Part::Start, m));
        }
    }
    if let Some(found) = selector_problems(&s.first, 0) {
        return Some(found);
    }
    if let Some(found) = selector_problems(&s.then, s.first.filter.len()) {
        return Some(found);
    }
    window_problem("the seq duration", s.within.as_millis()).map(|m| (Part::Window, m))
}

/// Problems in a selector's filters; `offset` numbers them after the
/// filters of earlier selectors.
fn selector_problems(sel: &EventSelector, offset: usize) -> Option<(Part, String)> {
    sel.filter.iter().enumerate().find_map(|(k, f)| {
        let problem = name_problem("property", &f.property).or_else(|| match &f.test {
            FilterTest::Cmp(op, lit) => literal_problem(lit).or_else(|| {
                (op.is_ordering() && matches!(lit, Literal::Bool(_)))
                    .then(|| format!("booleans can only be compared with = or !=, not {}", op.symbol()))
            }),
            FilterTest::In(list) => list_problem(list),
        });
        problem.map(|m| (Part::Filter(offset + k), m))
    })
}

fn literal_problem(lit: &Literal) -> Option<String> {
    match lit {
        Literal::Float(x) if !x.is_finite() => Some(format!("numbers must be finite, found {x}")),
        _ => None,
    }
}

fn list_problem(list: &[Literal]) -> Option<String> {
    if list.is_empty() {
        return Some("an in list needs at least one value".to_owned());
    }
    list.iter().find_map(literal_problem)
}

fn window_problem(what: &str, ms: i64) -> Option<String> {
    if ms <= 0 {
        Some(format!("{what} must be positive"))
    } else if ms > MAX_DURATION_MS {
        Some(format!("{what} is too long (the limit is 100000d)"))
    } else {
        None
    }
}

fn offset_problem(ms: i64) -> Option<String> {
    (ms.checked_abs().is_none_or(|a| a > MAX_DURATION_MS))
        .then(|| "the offset from now is too long (the limit is 100000d)".to_owned())
}

fn name_problem(what: &str, name: &str) -> Option<String> {
    if name.is_empty() {
        Some(format!("empty {what} name"))
    } else if name.len() > MAX_NAME_BYTES {
        Some(format!("{what} name is {} bytes, the limit is {MAX_NAME_BYTES}", name.len()))
    } else {
        None
    }
}

/// Identifier kinds are `[a-z][a-z0-9_]*`, at most 64 bytes.
fn kind_problem(kind: &str) -> Option<String> {
    let mut chars = kind.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && kind.len() <= 64;
    (!ok).then(|| format!("{kind:?} is not an identifier kind (1-64 of a-z, 0-9, _, starting with a letter)"))
}

/// What an expression reads: re-evaluate it when one of these changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dependencies {
    /// Trait names read (`plan`, `address.city`).
    pub traits: BTreeSet<String>,
    /// Event names read by rollups and sequences.
    pub events: BTreeSet<String>,
    /// Identifier kinds tested with `has`.
    pub identifier_kinds: BTreeSet<String>,
    /// Segments whose membership is read.
    pub segments: BTreeSet<String>,
    /// Consent purposes read.
    pub consents: BTreeSet<String>,
    /// Whether the result can change as time passes with no write:
    /// relative times (`now ± d`), rollups (windows slide, future-dated
    /// events come due), sequences and consents (expiry). Such segments
    /// need wake-ups at [`Evaluation::next_change`](super::Evaluation::next_change).
    /// Membership of a time-dependent segment reaches dependents through
    /// [`Dependencies::segments`], not this flag.
    pub time_dependent: bool,
}

/// Everything `expr` reads.
pub fn dependencies(expr: &Expr) -> Dependencies {
    let mut deps = Dependencies::default();
    collect(expr, &mut deps);
    deps
}

fn collect(e: &Expr, deps: &mut Dependencies) {
    match e {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|c| collect(c, deps)),
        Expr::Not(inner) => collect(inner, deps),
        Expr::Trait(t) => {
            deps.traits.insert(t.name.clone());
            if matches!(t.test, TraitTest::Cmp(_, Operand::Now(_))) {
                deps.time_dependent = true;
            }
        }
        Expr::Rollup(r) => {
            deps.events.insert(r.events.event.clone());
            deps.time_dependent = true;
        }
        Expr::Seq(s) => {
            deps.events.insert(s.first.event.clone());
            deps.events.insert(s.then.event.clone());
            deps.time_dependent = true;
        }
        Expr::Has(kind) => {
            deps.identifier_kinds.insert(kind.clone());
        }
        Expr::InSegment(name) => {
            deps.segments.insert(name.clone());
        }
        Expr::Consent(purpose) => {
            deps.consents.insert(purpose.clone());
            deps.time_dependent = true;
        }
    }
}

/// A cycle of segment definitions reading each other's membership, as
/// the names along it with the first repeated at the end
/// (`["a", "b", "a"]`), or `None`. References to segments outside `defs`
/// are ignored.
pub fn find_cycle(defs: &BTreeMap<String, Expr>) -> Option<Vec<String>> {
    let edges: BTreeMap<&str, Vec<String>> = defs
        .iter()
        .map(|(name, e)| {
            let next = dependencies(e).segments.into_iter().filter(|s| defs.contains_key(s)).collect();
            (name.as_str(), next)
        })
        .collect();
    // 1 = on the current path, 2 = finished.
    let mut state: BTreeMap<&str, u8> = BTreeMap::new();
    for root in defs.keys() {
        if state.contains_key(root.as_str()) {
            continue;
        }
        let mut path: Vec<(&str, usize)> = vec![(root.as_str(), 0)];
        state.insert(root.as_str(), 1);
        while let Some((node, next_edge)) = path.last_mut() {
            let node: &str = node;
            let next = edges.get(node).and_then(|v| v.get(*next_edge));
            *next_edge += 1;
            match next {
                None => {
                    state.insert(node, 2);
                    path.pop();
                }
                Some(child) => match state.get(child.as_str()) {
                    Some(1) => {
                        let from = path.iter().position(|(n, _)| *n == child.as_str()).unwrap_or(0);
                        let mut cycle: Vec<String> = path[from..].iter().map(|(n, _)| (*n).to_owned()).collect();
                        cycle.push(child.clone());
                        return Some(cycle);
                    }
                    Some(_) => {}
                    None => {
                        let (key, _) = edges.get_key_value(child.as_str())?;
                        state.insert(key, 1);
                        path.push((key, 0));
                    }
                },
            }
        }
    }
    None
}
