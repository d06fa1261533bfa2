//! Parses segment expression text into an [`Expr`].
//!
//! # Grammar (EBNF)
//!
//! ```text
//! expr        = and_expr , { "or" , and_expr } ;
//! and_expr    = not_expr , { "and" , not_expr } ;
//! not_expr    = "not" , not_expr | primary ;
//! primary     = "(" , expr , ")"
//!             | trait_cond | rollup_cond | seq_cond
//!             | "has" , name                          (* identifier kind *)
//!             | "in" , name                           (* segment membership *)
//!             | "segment" , "(" , name , ")"          (* same as "in" name *)
//!             | "consent" , "(" , name , ")" ;
//!
//! trait_cond  = trait_ref , ( cmp_op , operand
//!                           | "in" , list
//!                           | "contains" , literal
//!                           | "starts_with" , literal
//!                           | "exists"
//!                           | "is" , "null" ) ;
//! trait_ref   = "traits." , ( trait_path | string ) ;   (* no spaces around the dot *)
//! trait_path  = path_char , { path_char } ;            (* letters, digits, _ - $ and
//!                                                         non-empty dot-separated parts *)
//!
//! rollup_cond = aggregate , cmp_op , operand ;
//! aggregate   = ( "count" | "active_days" | "first" | "last" ) ,
//!                   "(" , selector , [ "," , window ] , ")"
//!             | ( "sum" | "min" | "max" | "avg" | "distinct" ) ,
//!                   "(" , name , "." , property , filters , [ "," , window ] , ")" ;
//! window      = duration | "all" ;                      (* default: all *)
//!
//! seq_cond    = "seq" , "(" , selector , "," , [ "not" ] , selector , "," , duration , ")" ;
//!
//! selector    = name , filters ;
//! filters     = [ "where" , filter , { "and" , filter } ] ;
//! filter      = property , ( cmp_op , literal | "in" , list ) ;
//! property    = word , { "." , word } | string ;
//!
//! operand     = literal | "now" , [ ( "+" | "-" ) , duration ] ;
//! literal     = string | [ "-" ] , number | "true" | "false" | "t" , string ;
//!                                                     (* t"2024-05-01T00:00:00Z" *)
//! list        = "[" , [ literal , { "," , literal } ] , "]" ;
//! cmp_op      = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" ;
//! name        = word | string ;   (* a word other than and/or/not/in/where/
//!                                    true/false/null/now/all *)
//! word        = ( letter | "_" ) , { letter | digit | "_" } ;
//! string      = '"' , { char | "\" , ( '"' | "\" | "n" | "r" | "t" | "u{" , hex , "}" ) } , '"' ;
//! number      = digit , { digit } , [ "." , digit , { digit } ] ,
//!               [ ( "e" | "E" ) , [ "+" | "-" ] , digit , { digit } ] ;
//! duration    = digit , { digit } , ( "ms" | "s" | "m" | "h" | "d" | "w" ) ;
//! ```
//!
//! Precedence: `not` binds tighter than `and`, which binds tighter than
//! `or`. Expressions are at most 16 KiB and nest at most 64 parentheses or
//! `not`s deep. Besides syntax, the parser applies every check that needs
//! no catalog (see [`check`](fn@super::check)) at the position of the
//! offending part, e.g. `count(…) > "abc"` is refused at `"abc"`.

use crate::error::{quote_input, Error, Result};

use super::ast::{
    Duration, EventSelector, Expr, FilterTest, Literal, Metric, Operand, PropertyFilter, RollupCond, SeqCond,
    TraitCond, TraitTest, Window, MAX_DEPTH, MAX_EXPR_BYTES,
};
use super::check::{leaf_problem, Catalog, Part};
use super::display::trait_ref;
use super::lexer::{tokenize, Tok, Token};

/// Words that can never be bare names.
pub(crate) const RESERVED: &[&str] = &["and", "or", "not", "in", "where", "true", "false", "null", "now", "all"];

/// Parses `text`, applying every check that needs no catalog.
///
/// ```
/// use profiledb::segment::parse;
/// let e = parse(r#"traits.plan = "pro" and count(page_view where page = "/pricing", 7d) >= 3"#)?;
/// assert_eq!(e.to_string(), r#"traits.plan = "pro" and count(page_view where page = "/pricing", 1w) >= 3"#);
/// let err = parse("traits.plan (").unwrap_err().to_string();
/// assert!(err.contains(r#"expected a comparison operator after traits.plan, found "(""#));
/// # Ok::<(), profiledb::Error>(())
/// ```
pub fn parse(text: &str) -> Result<Expr> {
    Parser::run(text, None)
}

/// Parses `text` like [`parse`] and also refuses segment names that
/// `catalog` does not know, at their position in the text.
pub fn parse_with_catalog(text: &str, catalog: &dyn Catalog) -> Result<Expr> {
    Parser::run(text, Some(catalog))
}

type PResult<T> = std::result::Result<T, (usize, String)>;

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    nesting: usize,
    catalog: Option<&'a dyn Catalog>,
}

/// Where the checkable parts of one condition start.
#[derive(Default)]
struct Spots {
    operand: usize,
    window: usize,
    filters: Vec<usize>,
}

impl<'a> Parser<'a> {
    fn run(text: &str, catalog: Option<&'a dyn Catalog>) -> Result<Expr> {
        if text.len() > MAX_EXPR_BYTES {
            return Err(Error::InvalidExpression {
                expr: quote_input(text),
                position: 0,
                message: format!("expression is {} bytes, the limit is {MAX_EXPR_BYTES}", text.len()),
            });
        }
        let fail = |(position, message): (usize, String)| Error::InvalidExpression {
            expr: text.to_owned(),
            position,
            message,
        };
        let toks = tokenize(text).map_err(fail)?;
        let mut p = Parser { toks, i: 0, nesting: 0, catalog };
        let parsed = p.or_expr().and_then(|(e, _)| match p.tok() {
            Tok::Eof => Ok(e),
            other => Err((
                p.pos(),
                format!("expected \"and\", \"or\" or the end of the expression, found {}", other.describe()),
            )),
        });
        parsed.map_err(fail)
    }

    fn tok(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.tok)
    }

    fn pos(&self) -> usize {
        self.toks.get(self.i).or(self.toks.last()).map_or(0, |t| t.pos)
    }

    fn advance(&mut self) {
        if self.i + 1 < self.toks.len() {
            self.i += 1;
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.tok(), Tok::Word(x) if x == w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.advance();
        }
        yes
    }

    fn expect(&mut self, want: &Tok, message: impl FnOnce(&Tok) -> String) -> PResult<()> {
        if self.tok() == want {
            self.advance();
            Ok(())
        } else {
            Err((self.pos(), message(self.tok())))
        }
    }

    fn found<T>(&self, expected: &str) -> PResult<T> {
        Err((self.pos(), format!("expected {expected}, found {}", self.tok().describe())))
    }

    fn enter(&mut self, pos: usize) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_DEPTH {
            return Err((pos, format!("expression nests deeper than {MAX_DEPTH} levels of parentheses and \"not\"")));
        }
        Ok(())
    }

    fn too_deep(pos: usize, depth: usize) -> PResult<()> {
        if depth > MAX_DEPTH {
            return Err((pos, format!("expression nests deeper than {MAX_DEPTH} levels of and/or/not")));
        }
        Ok(())
    }

    /// `and_expr { "or" and_expr }`, with the tree depth of the result.
    fn or_expr(&mut self) -> PResult<(Expr, usize)> {
        let start = self.pos();
        let (first, mut depth) = self.and_expr()?;
        if !self.is_word("or") {
            return Ok((first, depth));
        }
        let mut items = vec![first];
        while self.eat_word("or") {
            let (e, d) = self.and_expr()?;
            items.push(e);
            depth = depth.max(d);
        }
        Self::too_deep(start, depth + 1)?;
        Ok((Expr::Or(items), depth + 1))
    }

    fn and_expr(&mut self) -> PResult<(Expr, usize)> {
        let start = self.pos();
        let (first, mut depth) = self.not_expr()?;
        if !self.is_word("and") {
            return Ok((first, depth));
        }
        let mut items = vec![first];
        while self.eat_word("and") {
            let (e, d) = self.not_expr()?;
            items.push(e);
            depth = depth.max(d);
        }
        Self::too_deep(start, depth + 1)?;
        Ok((Expr::And(items), depth + 1))
    }

    fn not_expr(&mut self) -> PResult<(Expr, usize)> {
        let start = self.pos();
        if !self.eat_word("not") {
            return self.primary();
        }
        self.enter(start)?;
        let (inner, depth) = self.not_expr()?;
        self.nesting -= 1;
        Self::too_deep(start, depth + 1)?;
        Ok((Expr::Not(Box::new(inner)), depth + 1))
    }

    fn primary(&mut self) -> PResult<(Expr, usize)> {
        let start = self.pos();
        let mut spots = Spots::default();
        let leaf = match self.tok().clone() {
            Tok::LParen => {
                self.enter(start)?;
                self.advance();
                let inner = self.or_expr()?;
                self.expect(&Tok::RParen, |t| {
                    format!(
                        "expected \"and\", \"or\" or \")\" to close the \"(\" at position {start}, found {}",
                        t.describe()
                    )
                })?;
                self.nesting -= 1;
                return Ok(inner);
            }
            Tok::TraitPath(name) => {
                self.advance();
                self.trait_cond(name, &mut spots)?
            }
            Tok::Word(w) => match w.as_str() {
                "has" => {
                    self.advance();
                    Expr::Has(self.name("an identifier kind (such as email)")?)
                }
                "in" => {
                    self.advance();
                    Expr::InSegment(self.segment_name()?)
                }
                "segment" | "consent" => {
                    self.advance();
                    self.expect(&Tok::LParen, |t| format!("expected \"(\" after {w}, found {}", t.describe()))?;
                    let e = if w == "segment" {
                        Expr::InSegment(self.segment_name()?)
                    } else {
                        let at = self.pos();
                        let purpose = self.name("a consent purpose")?;
                        crate::identity::identifier::validate_lower_name("consent purpose", &purpose)
                            .map_err(|reason| (at, format!("{purpose:?}: {reason}")))?;
                        Expr::Consent(purpose)
                    };
                    self.expect(&Tok::RParen, |t| format!("expected \")\" after the name, found {}", t.describe()))?;
                    e
                }
                "seq" => {
                    self.advance();
                    self.seq(&mut spots)?
                }
                "count" | "active_days" | "first" | "last" | "sum" | "min" | "max" | "avg" | "distinct" => {
                    self.advance();
                    self.rollup(&w, &mut spots)?
                }
                _ => return self.found(EXPECTED_CONDITION),
            },
            _ => return self.found(EXPECTED_CONDITION),
        };
        if let Some((part, message)) = leaf_problem(&leaf) {
            let at = match part {
                Part::Start => start,
                Part::TraitName => start + "traits.".len(),
                Part::Operand => spots.operand,
                Part::Window => spots.window,
                Part::Filter(k) => spots.filters.get(k).copied().unwrap_or(start),
            };
            return Err((at, message));
        }
        Ok((leaf, 0))
    }

    /// A bare word (not reserved) or a string.
    fn name(&mut self, what: &str) -> PResult<String> {
        match self.tok().clone() {
            Tok::Word(w) if !RESERVED.contains(&w.as_str()) => {
                self.advance();
                Ok(w)
            }
            Tok::Str(s) => {
                self.advance();
                Ok(s)
            }
            _ => self.found(what),
        }
    }

    fn segment_name(&mut self) -> PResult<String> {
        let at = self.pos();
        let name = self.name("a segment name")?;
        if let Some(catalog) = self.catalog {
            if !catalog.segment_exists(&name) {
                return Err((at, format!("unknown segment {name:?}")));
            }
        }
        Ok(name)
    }

    /// `word { "." word }` or a string.
    fn property(&mut self) -> PResult<String> {
        match self.tok().clone() {
            Tok::Str(s) => {
                self.advance();
                Ok(s)
            }
            Tok::Word(w) => {
                self.advance();
                let mut path = w;
                while *self.tok() == Tok::Dot {
                    self.advance();
                    match self.tok().clone() {
                        Tok::Word(w) => {
                            self.advance();
                            path.push('.');
                            path.push_str(&w);
                        }
                        _ => return self.found(&format!("a property name after \"{path}.\"")),
                    }
                }
                Ok(path)
            }
            _ => self.found("a property name"),
        }
    }

    fn trait_cond(&mut self, name: String, spots: &mut Spots) -> PResult<Expr> {
        spots.operand = self.pos();
        let test = match self.tok().clone() {
            Tok::Op(op) => {
                self.advance();
                spots.operand = self.pos();
                TraitTest::Cmp(op, self.operand()?)
            }
            Tok::Word(w) if w == "in" => {
                self.advance();
                spots.operand = self.pos();
                TraitTest::In(self.list()?)
            }
            Tok::Word(w) if w == "contains" || w == "starts_with" => {
                self.advance();
                spots.operand = self.pos();
                let lit = self.literal()?;
                if w == "contains" {
                    TraitTest::Contains(lit)
                } else {
                    TraitTest::StartsWith(lit)
                }
            }
            Tok::Word(w) if w == "exists" => {
                self.advance();
                TraitTest::Exists
            }
            Tok::Word(w) if w == "is" => {
                self.advance();
                if !self.eat_word("null") {
                    return self.found("null after \"is\"");
                }
                TraitTest::IsNull
            }
            other => {
                let message =
                    format!("expected a comparison operator after {}, found {}", trait_ref(&name), other.describe());
                return Err((self.pos(), message));
            }
        };
        Ok(Expr::Trait(TraitCond { name, test }))
    }

    fn rollup(&mut self, function: &str, spots: &mut Spots) -> PResult<Expr> {
        self.expect(&Tok::LParen, |t| format!("expected \"(\" after {function}, found {}", t.describe()))?;
        let event = self.name("an event name")?;
        let metric = match function {
            "count" => Metric::Count,
            "active_days" => Metric::ActiveDays,
            "first" => Metric::First,
            "last" => Metric::Last,
            _ => {
                self.expect(&Tok::Dot, |t| {
                    format!(
                        "expected \".\" and a property after the event name, as in {function}(purchase.amount, 30d), found {}",
                        t.describe()
                    )
                })?;
                let p = self.property()?;
                match function {
                    "sum" => Metric::Sum(p),
                    "min" => Metric::Min(p),
                    "max" => Metric::Max(p),
                    "avg" => Metric::Avg(p),
                    _ => Metric::Distinct(p),
                }
            }
        };
        let filter = self.filters(spots)?;
        let mut window = Window::All;
        if *self.tok() == Tok::Comma {
            self.advance();
            spots.window = self.pos();
            window = match self.tok() {
                Tok::Duration(ms) => Window::Last(Duration::millis(*ms)),
                Tok::Word(w) if w == "all" => Window::All,
                _ => return self.found("a window (a duration such as 7d, or all)"),
            };
            self.advance();
            self.expect(&Tok::RParen, |t| format!("expected \")\" after the window, found {}", t.describe()))?;
        } else {
            let what = if filter.is_empty() { "\"where\", \",\" or \")\"" } else { "\"and\", \",\" or \")\"" };
            self.expect(&Tok::RParen, |t| format!("expected {what} in {function}(…), found {}", t.describe()))?;
        }
        let Tok::Op(op) = *self.tok() else {
            return self.found(&format!("a comparison operator after {function}(…)"));
        };
        self.advance();
        spots.operand = self.pos();
        let operand = self.operand()?;
        Ok(Expr::Rollup(RollupCond { metric, events: EventSelector { event, filter }, window, op, operand }))
    }

    fn seq(&mut self, spots: &mut Spots) -> PResult<Expr> {
        self.expect(&Tok::LParen, |t| format!("expected \"(\" after seq, found {}", t.describe()))?;
        let first = self.selector(spots)?;
        self.expect(&Tok::Comma, |t| {
            format!("expected \",\" and the following event in seq(…), found {}", t.describe())
        })?;
        let negated = self.eat_word("not");
        let then = self.selector(spots)?;
        self.expect(&Tok::Comma, |t| format!("expected \",\" and a duration in seq(…), found {}", t.describe()))?;
        spots.window = self.pos();
        let Tok::Duration(ms) = *self.tok() else {
            return self.found("a duration (such as 24h) in seq(…)");
        };
        self.advance();
        self.expect(&Tok::RParen, |t| format!("expected \")\" after the duration, found {}", t.describe()))?;
        Ok(Expr::Seq(SeqCond { first, then, negated, within: Duration::millis(ms) }))
    }

    fn selector(&mut self, spots: &mut Spots) -> PResult<EventSelector> {
        let event = self.name("an event name")?;
        let filter = self.filters(spots)?;
        Ok(EventSelector { event, filter })
    }

    fn filters(&mut self, spots: &mut Spots) -> PResult<Vec<PropertyFilter>> {
        let mut out = Vec::new();
        if !self.eat_word("where") {
            return Ok(out);
        }
        loop {
            spots.filters.push(self.pos());
            let property = self.property()?;
            let test = match self.tok().clone() {
                Tok::Op(op) => {
                    self.advance();
                    FilterTest::Cmp(op, self.literal()?)
                }
                Tok::Word(w) if w == "in" => {
                    self.advance();
                    FilterTest::In(self.list()?)
                }
                _ => return self.found(&format!("a comparison operator (or in) after {property}")),
            };
            out.push(PropertyFilter { property, test });
            if !self.eat_word("and") {
                return Ok(out);
            }
        }
    }

    fn operand(&mut self) -> PResult<Operand> {
        if !self.eat_word("now") {
            if matches!(self.tok(), Tok::Word(w) if w == "null") {
                return Err((
                    self.pos(),
                    "null is not a value to compare with: write `traits.x is null` (set to null) or \
                     `not traits.x exists` (never set)"
                        .to_owned(),
                ));
            }
            return match self.literal_or_none()? {
                Some(l) => Ok(Operand::Lit(l)),
                None => self.found("a value (string, number, true, false, t\"…\") or a time relative to now"),
            };
        }
        let sign = match self.tok() {
            Tok::Plus => 1,
            Tok::Minus => -1,
            _ => return Ok(Operand::Now(Duration::ZERO)),
        };
        self.advance();
        let Tok::Duration(ms) = *self.tok() else {
            return self.found("a duration (such as 3d) after now +/-");
        };
        self.advance();
        Ok(Operand::Now(Duration::millis(sign * ms)))
    }

    fn literal(&mut self) -> PResult<Literal> {
        match self.literal_or_none()? {
            Some(l) => Ok(l),
            None => self.found("a value (a string, number, true, false or t\"…\")"),
        }
    }

    /// A literal, or `None` (consuming nothing) when the token cannot
    /// start one.
    fn literal_or_none(&mut self) -> PResult<Option<Literal>> {
        let at = self.pos();
        let lit = match self.tok().clone() {
            Tok::Str(s) => Literal::Str(s),
            Tok::Time(t) => Literal::Time(t),
            Tok::Number(n) => number(&n, false).map_err(|m| (at, m))?,
            Tok::Minus => {
                self.advance();
                match self.tok().clone() {
                    Tok::Number(n) => number(&n, true).map_err(|m| (at, m))?,
                    _ => return self.found("a number after \"-\""),
                }
            }
            Tok::Word(w) if w == "true" => Literal::Bool(true),
            Tok::Word(w) if w == "false" => Literal::Bool(false),
            _ => return Ok(None),
        };
        self.advance();
        Ok(Some(lit))
    }

    fn list(&mut self) -> PResult<Vec<Literal>> {
        self.expect(&Tok::LBracket, |t| format!("expected \"[\" to start a list, found {}", t.describe()))?;
        let mut out = Vec::new();
        if *self.tok() == Tok::RBracket {
            self.advance();
            return Ok(out);
        }
        loop {
            out.push(self.literal()?);
            match self.tok() {
                Tok::Comma => self.advance(),
                Tok::RBracket => {
                    self.advance();
                    return Ok(out);
                }
                _ => return self.found("\",\" or \"]\" in the list"),
            }
        }
    }
}

const EXPECTED_CONDITION: &str = "a condition (traits.…, count(…), seq(…), has …, in …, consent(…), not or \"(\")";

/// Converts number text (with an optional leading minus) to a literal.
fn number(text: &str, negative: bool) -> std::result::Result<Literal, String> {
    let signed = if negative { format!("-{text}") } else { text.to_owned() };
    if text.contains(['.', 'e', 'E']) {
        match signed.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Literal::Float(x)),
            _ => Err(format!("number {signed} is out of range")),
        }
    } else {
        signed
            .parse::<i64>()
            .map(Literal::Int)
            .map_err(|_| format!("integer {signed} is out of range (use a decimal point for large numbers)"))
    }
}
