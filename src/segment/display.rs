//! Canonical text for expressions.
//!
//! The printed form re-parses to an equal tree (for trees that pass
//! [`check`](fn@super::check)): `and` inside `or` needs no parentheses, an
//! `and`/`or` operand of the same or a looser operator gets them, names
//! that are not plain words (or are keywords) are quoted, floats always
//! show a `.` or an exponent, durations use the largest exact unit and a
//! window of `all` is left out.

use std::fmt::{self, Write};

use super::ast::{
    CmpOp, Duration, EventSelector, Expr, FilterTest, Literal, Operand, PropertyFilter, RollupCond, SeqCond, TraitCond,
    TraitTest, Window,
};
use super::lexer::{is_path_char, is_word_char, is_word_start, KEYWORDS};

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self, None).0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.as_millis();
        const UNITS: [(i64, &str); 5] =
            [(7 * 86_400_000, "w"), (86_400_000, "d"), (3_600_000, "h"), (60_000, "m"), (1_000, "s")];
        if ms != 0 {
            for (scale, unit) in UNITS {
                if ms % scale == 0 {
                    return write!(f, "{}{unit}", ms / scale);
                }
            }
        }
        write!(f, "{ms}ms")
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.symbol())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => f.write_str(&quote(s)),
            Literal::Int(i) => write!(f, "{i}"),
            // Debug keeps a `.0` or uses an exponent, so it re-lexes as a float.
            Literal::Float(x) => write!(f, "{x:?}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Time(t) => write!(f, "t{}", quote(&t.to_rfc3339())),
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Lit(l) => l.fmt(f),
            Operand::Now(d) if d.as_millis() == 0 => f.write_str("now"),
            Operand::Now(d) if d.as_millis() > 0 => write!(f, "now + {d}"),
            Operand::Now(d) => write!(f, "now - {}", Duration::millis(d.as_millis().saturating_neg())),
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Window::All => f.write_str("all"),
            Window::Last(d) => d.fmt(f),
        }
    }
}

impl fmt::Display for PropertyFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&property(&self.property))?;
        match &self.test {
            FilterTest::Cmp(op, lit) => write!(f, " {op} {lit}"),
            FilterTest::In(list) => write!(f, " in {}", ListText(list)),
        }
    }
}

impl fmt::Display for EventSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&name(&self.event))?;
        write_filters(f, &self.filter)
    }
}

fn write_filters(f: &mut impl Write, filters: &[PropertyFilter]) -> fmt::Result {
    for (i, filter) in filters.iter().enumerate() {
        f.write_str(if i == 0 { " where " } else { " and " })?;
        write!(f, "{filter}")?;
    }
    Ok(())
}

struct ListText<'a>(&'a [Literal]);

impl fmt::Display for ListText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, lit) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            lit.fmt(f)?;
        }
        f.write_str("]")
    }
}

/// `s` as a string literal, escaping quotes, backslashes and control
/// characters.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `w` can be written as a bare word.
fn is_bare_word(w: &str) -> bool {
    let mut chars = w.chars();
    chars.next().is_some_and(is_word_start) && chars.all(is_word_char) && !KEYWORDS.contains(&w)
}

/// A name (event, segment, identifier kind, consent purpose) as text.
pub(crate) fn name(n: &str) -> String {
    if is_bare_word(n) {
        n.to_owned()
    } else {
        quote(n)
    }
}

/// An event property (`page`, `product.price`) as text.
pub(crate) fn property(p: &str) -> String {
    if p.split('.').all(is_bare_word) {
        p.to_owned()
    } else {
        quote(p)
    }
}

/// `traits.<name>` as text.
pub(crate) fn trait_ref(n: &str) -> String {
    if !n.is_empty() && n.chars().all(is_path_char) && !n.split('.').any(str::is_empty) {
        format!("traits.{n}")
    } else {
        format!("traits.{}", quote(n))
    }
}

/// Prints `expr`; when `target` is given, also returns the character
/// offset at which that node (compared by address) starts.
pub(crate) fn render(expr: &Expr, target: Option<&Expr>) -> (String, Option<usize>) {
    let mut p = Printer { out: String::new(), target, found: None };
    p.expr(expr);
    (p.out, p.found)
}

struct Printer<'t> {
    out: String,
    target: Option<&'t Expr>,
    found: Option<usize>,
}

impl Printer<'_> {
    fn expr(&mut self, e: &Expr) {
        if self.found.is_none() && self.target.is_some_and(|t| std::ptr::eq(t, e)) {
            self.found = Some(self.out.chars().count());
        }
        match e {
            Expr::And(items) => self.joined(items, " and ", |c| matches!(c, Expr::And(_) | Expr::Or(_))),
            Expr::Or(items) => self.joined(items, " or ", |c| matches!(c, Expr::Or(_))),
            Expr::Not(inner) => {
                self.out.push_str("not ");
                self.operand(inner, matches!(**inner, Expr::And(_) | Expr::Or(_)));
            }
            Expr::Trait(t) => self.trait_cond(t),
            Expr::Rollup(r) => self.rollup(r),
            Expr::Seq(s) => self.seq(s),
            Expr::Has(kind) => {
                let _ = write!(self.out, "has {}", name(kind));
            }
            Expr::InSegment(seg) => {
                let _ = write!(self.out, "in {}", name(seg));
            }
            Expr::Consent(purpose) => {
                let _ = write!(self.out, "consent({})", name(purpose));
            }
        }
    }

    fn joined(&mut self, items: &[Expr], sep: &str, needs_parens: impl Fn(&Expr) -> bool) {
        if items.is_empty() {
            // Not a valid tree (check rejects it); printed so it cannot
            // be mistaken for anything that parses.
            self.out.push_str("()");
        }
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push_str(sep);
            }
            self.operand(item, needs_parens(item));
        }
    }

    fn operand(&mut self, e: &Expr, parens: bool) {
        if parens {
            self.out.push('(');
        }
        self.expr(e);
        if parens {
            self.out.push(')');
        }
    }

    fn trait_cond(&mut self, t: &TraitCond) {
        self.out.push_str(&trait_ref(&t.name));
        let _ = match &t.test {
            TraitTest::Cmp(op, operand) => write!(self.out, " {op} {operand}"),
            TraitTest::In(list) => write!(self.out, " in {}", ListText(list)),
            TraitTest::Contains(lit) => write!(self.out, " contains {lit}"),
            TraitTest::StartsWith(lit) => write!(self.out, " starts_with {lit}"),
            TraitTest::Exists => write!(self.out, " exists"),
            TraitTest::IsNull => write!(self.out, " is null"),
        };
    }

    fn rollup(&mut self, r: &RollupCond) {
        let _ = write!(self.out, "{}({}", r.metric.function(), name(&r.events.event));
        if let Some(p) = r.metric.property() {
            let _ = write!(self.out, ".{}", property(p));
        }
        let _ = write_filters(&mut self.out, &r.events.filter);
        if let Window::Last(d) = r.window {
            let _ = write!(self.out, ", {d}");
        }
        let _ = write!(self.out, ") {} {}", r.op, r.operand);
    }

    fn seq(&mut self, s: &SeqCond) {
        let not = if s.negated { "not " } else { "" };
        let _ = write!(self.out, "seq({}, {not}{}, {})", s.first, s.then, s.within);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;

    #[test]
    fn durations_use_the_largest_exact_unit() {
        let cases = [
            (Duration::days(14), "2w"),
            (Duration::days(3), "3d"),
            (Duration::hours(36), "36h"),
            (Duration::millis(90_000), "90s"),
            (Duration::millis(1_500), "1500ms"),
            (Duration::ZERO, "0ms"),
            (Duration::minutes(-5), "-5m"),
        ];
        for (d, text) in cases {
            assert_eq!(d.to_string(), text);
        }
    }

    #[test]
    fn literals_and_names_print_re_lexably() {
        assert_eq!(Literal::Float(1.0).to_string(), "1.0");
        assert_eq!(Literal::Float(1e300).to_string(), "1e300");
        assert_eq!(Literal::Time(Timestamp(0)).to_string(), "t\"1970-01-01T00:00:00.000Z\"");
        assert_eq!(quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\u{1}""#);
        assert_eq!(name("page_view"), "page_view");
        assert_eq!(name("Order Completed"), "\"Order Completed\"");
        assert_eq!(name("count"), "\"count\"");
        assert_eq!(property("product.price"), "product.price");
        assert_eq!(property("traits.x"), "\"traits.x\"");
        assert_eq!(trait_ref("address.city"), "traits.address.city");
        assert_eq!(trait_ref("a b"), "traits.\"a b\"");
        assert_eq!(Operand::Now(Duration::days(-30)).to_string(), "now - 30d");
        assert_eq!(Operand::Now(Duration::days(3)).to_string(), "now + 3d");
    }
}
