//! Tokens of the segment expression language.
//!
//! Positions are character offsets (not bytes) into the expression text.

use crate::clock::Timestamp;

use super::ast::{CmpOp, MAX_DURATION_MS};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    /// A word: keyword or bare name (`and`, `count`, `page_view`).
    Word(String),
    /// `traits.<path>` or `traits."<name>"`: the trait name.
    TraitPath(String),
    /// A string literal, unescaped.
    Str(String),
    /// `t"…"`: a timestamp literal.
    Time(Timestamp),
    /// An unsigned number as written (`42`, `2.5`, `1e-3`).
    Number(String),
    /// A duration literal (`7d`) in milliseconds.
    Duration(i64),
    /// A comparison operator.
    Op(CmpOp),
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `.`
    Dot,
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// The end of the text.
    Eof,
}

impl Tok {
    /// How the token is shown in "found …" messages.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Word(w) => format!("{w:?}"),
            Tok::TraitPath(p) => format!("\"traits.{p}\""),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Time(t) => format!("timestamp {t}"),
            Tok::Number(n) => format!("number {n}"),
            Tok::Duration(_) => "a duration".to_owned(),
            Tok::Op(op) => format!("\"{}\"", op.symbol()),
            Tok::LParen => "\"(\"".to_owned(),
            Tok::RParen => "\")\"".to_owned(),
            Tok::LBracket => "\"[\"".to_owned(),
            Tok::RBracket => "\"]\"".to_owned(),
            Tok::Comma => "\",\"".to_owned(),
            Tok::Dot => "\".\"".to_owned(),
            Tok::Plus => "\"+\"".to_owned(),
            Tok::Minus => "\"-\"".to_owned(),
            Tok::Eof => "end of input".to_owned(),
        }
    }
}

/// A token and where it starts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Token {
    /// The token.
    pub(crate) tok: Tok,
    /// Character offset of its first character.
    pub(crate) pos: usize,
}

/// A lexing error: character offset and message.
pub(crate) type LexError = (usize, String);

/// Words with a meaning in the language: names spelled like them are
/// printed quoted.
pub(crate) const KEYWORDS: &[&str] = &[
    "active_days",
    "all",
    "and",
    "avg",
    "consent",
    "contains",
    "count",
    "distinct",
    "exists",
    "false",
    "first",
    "has",
    "in",
    "is",
    "last",
    "max",
    "min",
    "not",
    "now",
    "null",
    "or",
    "segment",
    "seq",
    "starts_with",
    "sum",
    "traits",
    "true",
    "where",
];

/// Whether `c` may start a bare word.
pub(crate) fn is_word_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

/// Whether `c` may continue a bare word.
pub(crate) fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Whether `c` may appear in a bare trait path (`traits.a.b-c$`).
pub(crate) fn is_path_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '$' | '.')
}

/// Splits `text` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let chars: Vec<char> = text.chars().collect();
    let mut lx = Lexer { chars: &chars, i: 0 };
    let mut out = Vec::new();
    loop {
        let t = lx.next()?;
        let end = t.tok == Tok::Eof;
        out.push(t);
        if end {
            return Ok(out);
        }
    }
}

struct Lexer<'a> {
    chars: &'a [char],
    i: usize,
}

impl Lexer<'_> {
    fn peek(&self, k: usize) -> Option<char> {
        self.chars.get(self.i + k).copied()
    }

    fn next(&mut self) -> Result<Token, LexError> {
        while self.peek(0).is_some_and(char::is_whitespace) {
            self.i += 1;
        }
        let pos = self.i;
        let Some(c) = self.peek(0) else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        let single = |tok| Ok(Token { tok, pos });
        let tok = match c {
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            '.' => Tok::Dot,
            '+' => Tok::Plus,
            '-' => Tok::Minus,
            '=' => {
                self.i += if self.peek(1) == Some('=') { 2 } else { 1 };
                return single(Tok::Op(CmpOp::Eq));
            }
            '!' if self.peek(1) == Some('=') => {
                self.i += 2;
                return single(Tok::Op(CmpOp::Ne));
            }
            '<' | '>' => {
                let eq = self.peek(1) == Some('=');
                self.i += if eq { 2 } else { 1 };
                let op = match (c, eq) {
                    ('<', false) => CmpOp::Lt,
                    ('<', true) => CmpOp::Le,
                    ('>', false) => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                return single(Tok::Op(op));
            }
            '"' => {
                let s = self.string()?;
                return single(Tok::Str(s));
            }
            c if c.is_ascii_digit() => return self.number(),
            c if is_word_start(c) => return self.word(),
            other => return Err((pos, format!("unexpected character {other:?}"))),
        };
        self.i += 1;
        single(tok)
    }

    /// A `"…"` string starting at the current quote.
    fn string(&mut self) -> Result<String, LexError> {
        let start = self.i;
        self.i += 1;
        let mut s = String::new();
        loop {
            let Some(c) = self.peek(0) else {
                return Err((start, "unterminated string: expected a closing '\"'".to_owned()));
            };
            self.i += 1;
            match c {
                '"' => return Ok(s),
                '\\' => {
                    let at = self.i - 1;
                    let Some(e) = self.peek(0) else {
                        return Err((start, "unterminated string: expected a closing '\"'".to_owned()));
                    };
                    self.i += 1;
                    match e {
                        '"' => s.push('"'),
                        '\\' => s.push('\\'),
                        'n' => s.push('\n'),
                        'r' => s.push('\r'),
                        't' => s.push('\t'),
                        'u' => s.push(self.unicode_escape(at)?),
                        other => {
                            return Err((
                                at,
                                format!("unknown escape \\{other} (use \\\" \\\\ \\n \\r \\t or \\u{{hex}})"),
                            ))
                        }
                    }
                }
                c => s.push(c),
            }
        }
    }

    /// The `{hex}` part of a `\u{hex}` escape that started at `at`.
    fn unicode_escape(&mut self, at: usize) -> Result<char, LexError> {
        let bad = || (at, "malformed \\u escape: expected \\u{hex digits}".to_owned());
        if self.peek(0) != Some('{') {
            return Err(bad());
        }
        self.i += 1;
        let mut hex = String::new();
        while let Some(c) = self.peek(0) {
            self.i += 1;
            if c == '}' {
                let code = u32::from_str_radix(&hex, 16).map_err(|_| bad())?;
                return char::from_u32(code).ok_or_else(|| (at, format!("\\u{{{hex}}} is not a Unicode scalar value")));
            }
            if !c.is_ascii_hexdigit() || hex.len() >= 6 {
                return Err(bad());
            }
            hex.push(c);
        }
        Err(bad())
    }

    /// A number or duration starting at the current digit.
    fn number(&mut self) -> Result<Token, LexError> {
        let pos = self.i;
        let mut text = String::new();
        let mut fractional = false;
        self.digits(&mut text);
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            fractional = true;
            text.push('.');
            self.i += 1;
            self.digits(&mut text);
        }
        if matches!(self.peek(0), Some('e' | 'E')) {
            let signed = matches!(self.peek(1), Some('+' | '-'));
            let digit_at = if signed { 2 } else { 1 };
            if self.peek(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                fractional = true;
                text.push('e');
                if signed {
                    text.extend(self.peek(1));
                }
                self.i += digit_at;
                self.digits(&mut text);
            }
        }
        if !self.peek(0).is_some_and(is_word_start) {
            return Ok(Token { tok: Tok::Number(text), pos });
        }
        let unit_at = self.i;
        let mut unit = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_word_char(*c)) {
            unit.push(c);
            self.i += 1;
        }
        if fractional {
            return Err((pos, format!("durations are whole numbers of a unit, found {text}{unit}")));
        }
        let scale: i64 = match unit.as_str() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ if text == "0" && unit.starts_with(['x', 'X']) => {
                let value = i64::from_str_radix(&unit[1..], 16).map_or(String::new(), |n| format!(" (write {n})"));
                return Err((pos, format!("numbers are decimal: found 0{unit}, a hexadecimal number{value}")));
            }
            _ => {
                return Err((unit_at, format!("unknown duration unit {unit:?}: expected ms, s, m, h, d or w")));
            }
        };
        let too_big = || (pos, format!("duration {text}{unit} is too long (the limit is 100000d)"));
        let n: i64 = text.parse().map_err(|_| too_big())?;
        let ms = n.checked_mul(scale).filter(|ms| *ms <= MAX_DURATION_MS).ok_or_else(too_big)?;
        Ok(Token { tok: Tok::Duration(ms), pos })
    }

    fn digits(&mut self, out: &mut String) {
        while let Some(c) = self.peek(0).filter(char::is_ascii_digit) {
            out.push(c);
            self.i += 1;
        }
    }

    /// A word, `traits.<path>` or `t"<timestamp>"`.
    fn word(&mut self) -> Result<Token, LexError> {
        let pos = self.i;
        let mut w = String::new();
        while let Some(c) = self.peek(0).filter(|c| is_word_char(*c)) {
            w.push(c);
            self.i += 1;
        }
        if w == "t" && self.peek(0) == Some('"') {
            let s = self.string()?;
            let t = Timestamp::parse(&s).map_err(|e| (pos, format!("invalid timestamp: {e}")))?;
            return Ok(Token { tok: Tok::Time(t), pos });
        }
        if w == "traits" && self.peek(0) == Some('.') {
            self.i += 1;
            if self.peek(0) == Some('"') {
                let name = self.string()?;
                return Ok(Token { tok: Tok::TraitPath(name), pos });
            }
            let path_at = self.i;
            let mut path = String::new();
            while let Some(c) = self.peek(0).filter(|c| is_path_char(*c)) {
                path.push(c);
                self.i += 1;
            }
            if path.is_empty() {
                return Err((path_at, "expected a trait name after \"traits.\"".to_owned()));
            }
            if path.split('.').any(str::is_empty) {
                return Err((path_at, format!("trait name {path:?} has an empty segment between dots")));
            }
            return Ok(Token { tok: Tok::TraitPath(path), pos });
        }
        Ok(Token { tok: Tok::Word(w), pos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn lexes_operators_numbers_and_durations() {
        assert_eq!(
            toks("now - 30d >= 1.5e3 != 3ms"),
            vec![
                Tok::Word("now".into()),
                Tok::Minus,
                Tok::Duration(30 * 86_400_000),
                Tok::Op(CmpOp::Ge),
                Tok::Number("1.5e3".into()),
                Tok::Op(CmpOp::Ne),
                Tok::Duration(3),
                Tok::Eof
            ]
        );
        assert_eq!(toks("2m")[0], Tok::Duration(120_000));
        assert_eq!(toks("1w")[0], Tok::Duration(7 * 86_400_000));
    }

    #[test]
    fn lexes_trait_paths_strings_and_times() {
        assert_eq!(toks("traits.a.b-c$")[0], Tok::TraitPath("a.b-c$".into()));
        assert_eq!(toks("traits.\"x y\"")[0], Tok::TraitPath("x y".into()));
        assert_eq!(toks(r#""a\"b\\\n\u{e9}""#)[0], Tok::Str("a\"b\\\n\u{e9}".into()));
        assert_eq!(toks("t\"1970-01-01T00:00:01Z\"")[0], Tok::Time(Timestamp(1000)));
        assert_eq!(toks("t \"x\"")[0], Tok::Word("t".into()));
    }

    #[test]
    fn reports_positions_in_characters() {
        assert_eq!(tokenize("é é #").unwrap_err().0, 4);
        assert_eq!(tokenize("\"abc").unwrap_err().0, 0);
        assert!(tokenize("3min").unwrap_err().1.contains("unknown duration unit"));
        assert!(tokenize("1.5d").is_err());
        assert!(tokenize("99999999999999999999d").is_err());
        assert!(tokenize("traits.a..b").is_err());
        assert!(tokenize("traits.").is_err());
        assert!(tokenize(r#""\u{110000}""#).is_err());
        assert!(tokenize(r#""\q""#).is_err());
        assert!(tokenize("t\"yesterday\"").is_err());
    }
}
