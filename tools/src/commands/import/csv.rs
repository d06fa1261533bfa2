//! CSV rows into profile [`Record`]s, through a column mapping.
//!
//! The mapping (`--map`, repeatable) is a comma-separated list of
//! `COLUMN=TARGET` (a column whose name holds a comma or a quote is
//! written in double quotes, a quote in it doubled: `"Plan, tier"=...`):
//! `TARGET` is an identifier kind the identity rules know (`email`,
//! `user_id`, `phone`, `device_id`, `anonymous_id`), `identifiers.KIND` for
//! any other kind (explicitly: a bare unknown kind is refused, since
//! `country=country` meant as a trait would stitch every customer of a
//! country into one profile), or `traits.NAME`, optionally typed
//! `traits.NAME:string|number|bool|time`. The first row
//! names the columns. Rows are read by [`Rows`] (RFC 4180: quoted cells
//! may hold commas, doubled quotes and line breaks).

use std::io::BufRead;

use profiledb::event::{EpochUnit, EventLimits};
use profiledb::{Identifier, Timestamp, TraitValue, Update};

use super::rows::{Row, Rows};
use super::{Item, Record, Source};
use crate::error::CliError;

/// How a trait column's cells are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellType {
    /// Integers and decimals as numbers, true/false (any case) as booleans,
    /// else text.
    Auto,
    /// Always text.
    Text,
    /// A number (an error otherwise).
    Number,
    /// true/false in any case (an error otherwise).
    Bool,
    /// RFC 3339, or an integer in the import's epoch unit (`--epoch-unit`,
    /// milliseconds by default, refusing values that look like seconds).
    Time,
}

/// What one column becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An identifier of this kind.
    Identifier(String),
    /// A trait with this (dotted) name.
    Trait(String, CellType),
}

/// Parses the `--map` options (each a comma-separated list of mappings);
/// a bare `KIND` must be one of `known` (the identity rules' kinds), any
/// other kind is written `identifiers.KIND`.
pub fn parse_map(specs: &[String], known: &[String]) -> Result<Vec<(String, Target)>, CliError> {
    let bad = |m: String| {
        CliError::Usage(format!("--map: {m} (expected COLUMN=KIND, COLUMN=identifiers.KIND or COLUMN=traits.NAME[:TYPE], TYPE one of string, number, bool, time; a column holding a comma in double quotes: \"Plan, tier\"=traits.plan)"))
    };
    let mut out: Vec<(String, Target)> = Vec::new();
    let mut parts = Vec::new();
    for spec in specs {
        parts.extend(split_outside_quotes(spec).map_err(bad)?);
    }
    for part in parts.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let (col, target) = column_and_target(part).map_err(bad)?;
        let (col, target) = (col.as_str(), target.trim());
        if col.is_empty() || target.is_empty() {
            return Err(bad(format!("{part:?} needs a column and a target")));
        }
        if out.iter().any(|(c, _)| c == col) {
            return Err(bad(format!("column {col:?} is mapped twice")));
        }
        let t = match target.strip_prefix("traits.") {
            Some(rest) => {
                let (name, ty) = match rest.rsplit_once(':') {
                    Some((n, ty)) => (n, cell_type(ty).ok_or_else(|| bad(format!("unknown type {ty:?}")))?),
                    None => (rest, CellType::Auto),
                };
                if name.is_empty() {
                    return Err(bad(format!("{part:?} names no trait")));
                }
                Target::Trait(name.to_owned(), ty)
            }
            None => {
                let (kind, explicit) = match target.strip_prefix("identifiers.") {
                    Some(kind) => (kind, true),
                    None => (target, false),
                };
                // The kind's shape is checked now; the library checks each value.
                let ok = kind.starts_with(|c: char| c.is_ascii_lowercase())
                    && kind.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !ok {
                    return Err(bad(format!(
                        "{part:?}: {target:?} is neither traits.NAME nor an identifier kind (a-z, 0-9, _)"
                    )));
                }
                if !explicit && !known.iter().any(|k| k == kind) {
                    return Err(CliError::Usage(format!(
                        "--map: {part:?}: {kind:?} is not a known identifier kind ({}); an identifier column \
                         stitches every row sharing its value into one profile. To map a trait, write \
                         {col}=traits.{kind}; to make it an identifier of a new kind, write {col}=identifiers.{kind}",
                        known.join(", ")
                    )));
                }
                Target::Identifier(kind.to_owned())
            }
        };
        out.push((col.to_owned(), t));
    }
    if !out.iter().any(|(_, t)| matches!(t, Target::Identifier(_))) {
        return Err(bad("no column is mapped to an identifier".into()));
    }
    Ok(out)
}

/// `spec` split at the commas outside double quotes.
fn split_outside_quotes(spec: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in spec.char_indices() {
        match c {
            // A doubled quote inside quotes toggles twice: it stays inside.
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&spec[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quoted {
        return Err(format!("{spec:?} opens a double quote it does not close"));
    }
    parts.push(&spec[start..]);
    Ok(parts)
}

/// A mapping's column (unquoted: `"Plan, tier"` is `Plan, tier`, `""` a
/// quote; trimmed, as header names are) and its target text.
fn column_and_target(part: &str) -> Result<(String, &str), String> {
    let Some(rest) = part.strip_prefix('"') else {
        let (col, target) = part.split_once('=').ok_or_else(|| format!("{part:?} has no '='"))?;
        return Ok((col.trim().to_owned(), target));
    };
    let mut col = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            col.push(c);
        } else if chars.next_if(|(_, c)| *c == '"').is_some() {
            col.push('"');
        } else {
            let target = rest[i + 1..]
                .trim_start()
                .strip_prefix('=')
                .ok_or_else(|| format!("{part:?}: expected '=' after the quoted column"))?;
            return Ok((col.trim().to_owned(), target));
        }
    }
    Err(format!("{part:?}: the quoted column is not closed"))
}

fn cell_type(s: &str) -> Option<CellType> {
    Some(match s {
        "string" | "text" => CellType::Text,
        "number" => CellType::Number,
        "bool" => CellType::Bool,
        "time" | "timestamp" => CellType::Time,
        "auto" => CellType::Auto,
        _ => return None,
    })
}

/// Reads CSV rows as profile records.
pub struct Csv<R> {
    rows: Rows<R>,
    columns: Vec<(usize, Target)>,
    width: usize,
    epoch_unit: EpochUnit,
}

impl<R: BufRead> Csv<R> {
    /// Reads the header row and matches it against the mapping; integer
    /// `:time` cells are read in `limits.epoch_unit`, and a line of more
    /// than `limits.max_line_bytes` is rejected unread. An input without
    /// any row (not even a header) reads as no rows.
    pub fn new(reader: R, source: String, map: Vec<(String, Target)>, limits: &EventLimits) -> Result<Self, CliError> {
        let epoch_unit = limits.epoch_unit;
        let mut rows = Rows::new(reader, source.clone(), limits.max_line_bytes);
        let header = loop {
            match rows.next_row()? {
                // An empty input has nothing to import, as an empty JSONL
                // file: 0 lines, exit 0 (the mapping is not checked).
                None => return Ok(Csv { rows, columns: Vec::new(), width: 0, epoch_unit }),
                Some(Row { cells: Ok(cells), .. }) if cells.iter().all(|c| c.trim().is_empty()) => continue,
                Some(Row { cells: Ok(cells), .. }) => break cells,
                Some(Row { line, cells: Err(e), .. }) => {
                    return Err(CliError::Usage(format!("{source} line {line}: {e}")))
                }
            }
        };
        let names: Vec<&str> = header.iter().map(|c| c.trim()).collect();
        let mut columns = Vec::new();
        for (col, target) in map {
            let at = names.iter().position(|n| *n == col).ok_or_else(|| {
                CliError::Usage(format!(
                    "--map names column {col:?}, which the header does not have: {}",
                    names.join(",")
                ))
            })?;
            let same: Vec<String> =
                names.iter().enumerate().filter(|(_, n)| **n == col).map(|(i, _)| (i + 1).to_string()).collect();
            if same.len() > 1 {
                return Err(CliError::Usage(format!(
                    "--map names column {col:?}, which the header has {} times (columns {}): rename all but one \
                     in the header, or leave the column unmapped",
                    same.len(),
                    same.join(", ")
                )));
            }
            columns.push((at, target));
        }
        Ok(Csv { rows, columns, width: names.len(), epoch_unit })
    }

    fn record(&self, cells: &[String]) -> Result<Record, String> {
        if cells.len() != self.width {
            return Err(format!("expected {} cells (as the header), found {}", self.width, cells.len()));
        }
        let mut identifiers = Vec::new();
        let mut update = Update::new();
        for (at, target) in &self.columns {
            // Unquoted cells come trimmed, quoted ones as written.
            let cell = cells.get(*at).map_or("", String::as_str);
            if cell.is_empty() {
                continue;
            }
            match target {
                Target::Identifier(kind) => {
                    let cell = cell.trim();
                    if cell.is_empty() {
                        continue;
                    }
                    identifiers.push(Identifier::new(kind, cell).map_err(|e| e.to_string())?);
                }
                Target::Trait(name, ty) => {
                    // Only text keeps a cell of spaces (quoted: "  ").
                    if *ty != CellType::Text && cell.trim().is_empty() {
                        continue;
                    }
                    let value =
                        typed(cell, *ty, self.epoch_unit).map_err(|e| format!("column for trait {name:?}: {e}"))?;
                    update = update.set(name, value);
                }
            }
        }
        if identifiers.is_empty() {
            return Err("no identifier: every identifier column is empty".into());
        }
        update.validate().map_err(|e| e.to_string())?;
        Ok(Record::Profile { identifiers, update })
    }
}

/// A cell as a trait value of type `ty` (integer times in `unit`): text
/// as it is (whitespace a quoted cell holds included), numbers, booleans
/// and times from the cell without its surrounding whitespace.
fn typed(cell: &str, ty: CellType, unit: EpochUnit) -> Result<TraitValue, String> {
    let (text, cell) = (cell, cell.trim());
    let number = |s: &str| {
        s.parse::<i64>()
            .map(TraitValue::Int)
            .ok()
            .or_else(|| s.parse::<f64>().ok().filter(|f| f.is_finite()).map(TraitValue::Float))
    };
    // Any case: spreadsheets write TRUE and FALSE.
    let boolean = |s: &str| match s {
        _ if s.eq_ignore_ascii_case("true") => Some(TraitValue::Bool(true)),
        _ if s.eq_ignore_ascii_case("false") => Some(TraitValue::Bool(false)),
        _ => None,
    };
    match ty {
        CellType::Text => Ok(TraitValue::Str(text.into())),
        CellType::Auto => Ok(number(cell).or_else(|| boolean(cell)).unwrap_or_else(|| TraitValue::Str(text.into()))),
        CellType::Number => number(cell).ok_or_else(|| format!("{cell:?} is not a number")),
        CellType::Bool => boolean(cell).ok_or_else(|| format!("{cell:?} is not true or false")),
        CellType::Time => match cell.parse::<i64>() {
            Ok(n) => unit.read(n).map(TraitValue::Time),
            Err(_) => Timestamp::parse(cell).map(TraitValue::Time),
        },
    }
}

impl<R: BufRead> Source for Csv<R> {
    fn next_item(&mut self) -> Result<Option<Item>, CliError> {
        loop {
            let Some(Row { line, bytes, cells }) = self.rows.next_row()? else {
                return Ok(None);
            };
            let parsed = match cells {
                Ok(cells) if cells.iter().all(|c| c.trim().is_empty()) => continue,
                Ok(cells) => self.record(&cells),
                Err(e) => Err(e),
            };
            return Ok(Some(Item { line, bytes, parsed }));
        }
    }

    fn lines_read(&self) -> u64 {
        self.rows.lines_read()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_parse() {
        let known = known();
        let parse_map = |m: &str| parse_map(&[m.to_owned()], &known);
        let m = parse_map("mail=email, plan=traits.plan,zip=traits.zip:string").ok();
        assert_eq!(
            m,
            Some(vec![
                ("mail".into(), Target::Identifier("email".into())),
                ("plan".into(), Target::Trait("plan".into(), CellType::Auto)),
                ("zip".into(), Target::Trait("zip".into(), CellType::Text)),
            ])
        );
        assert!(parse_map("plan=traits.plan").is_err(), "no identifier");
        assert!(parse_map("a=email,a=user_id").is_err(), "mapped twice");
        assert!(parse_map("a=traits.x:weird,b=email").is_err());
        assert!(parse_map("a").is_err());
    }

    #[test]
    fn quoted_columns_and_repeated_maps() {
        let known = known();
        let m = parse_map(
            &[r#"email=email,"Plan, tier"=traits.plan"#.into(), r#" "say ""hi"""  = traits.hi"#.into()],
            &known,
        );
        let cols: Option<Vec<String>> = m.ok().map(|m| m.into_iter().map(|(c, _)| c).collect());
        assert_eq!(cols, Some(vec!["email".into(), "Plan, tier".into(), "say \"hi\"".into()]));
        let err = |m: &str| {
            parse_map(&["email=email".into(), m.into()], &known).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(err(r#""Plan, tier=traits.plan"#).contains("does not close"), "{}", err(r#""Plan=x"#));
        assert!(err(r#""Plan" traits.plan"#).contains("expected '=' after the quoted column"));
        assert!(err("email=user_id").contains("mapped twice"), "across --map options too");
    }

    fn known() -> Vec<String> {
        ["user_id", "email", "phone", "device_id", "anonymous_id"].map(String::from).to_vec()
    }

    #[test]
    fn an_unknown_identifier_kind_needs_the_explicit_form() {
        let map = |m: &str| parse_map(&[m.to_owned()], &known());
        let err = map("email=email,country=country").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("\"country\" is not a known identifier kind (user_id, email"), "{err}");
        assert!(err.contains("country=traits.country") && err.contains("country=identifiers.country"), "{err}");
        assert!(map("id=userid").is_err(), "a misspelt kind");
        let m = map("email=email,card=identifiers.loyalty_id").ok();
        assert_eq!(m.map(|m| m[1].1.clone()), Some(Target::Identifier("loyalty_id".into())));
        let m = map("d=identifiers.device_id").ok();
        assert_eq!(m.map(|m| m[0].1.clone()), Some(Target::Identifier("device_id".into())));
    }

    const MS: EpochUnit = EpochUnit::Milliseconds;

    #[test]
    fn integer_times_are_read_in_the_epoch_unit() {
        let err = typed("1714557600", CellType::Time, MS).err().unwrap_or_default();
        assert!(err.contains("looks like epoch seconds") && err.contains("--epoch-unit s"), "{err}");
        let secs = typed("1714557600", CellType::Time, EpochUnit::Seconds);
        assert_eq!(secs, Ok(TraitValue::Time(Timestamp(1_714_557_600_000))));
        let ms = typed("1714557600000", CellType::Time, MS);
        assert_eq!(ms, Ok(TraitValue::Time(Timestamp(1_714_557_600_000))));
    }

    #[test]
    fn cells_are_typed() {
        assert_eq!(typed("42", CellType::Auto, MS), Ok(TraitValue::Int(42)));
        assert_eq!(typed("2.5", CellType::Auto, MS), Ok(TraitValue::Float(2.5)));
        assert_eq!(typed("true", CellType::Auto, MS), Ok(TraitValue::Bool(true)));
        assert_eq!(typed("007", CellType::Text, MS), Ok(TraitValue::Str("007".into())));
        assert!(typed("x", CellType::Number, MS).is_err());
        assert_eq!(typed("TRUE", CellType::Bool, MS), Ok(TraitValue::Bool(true)));
        assert_eq!(typed("False", CellType::Auto, MS), Ok(TraitValue::Bool(false)));
        // Whitespace a quoted cell holds stays in text; typed values ignore it.
        assert_eq!(typed("pro ", CellType::Auto, MS), Ok(TraitValue::Str("pro ".into())));
        assert_eq!(typed(" 007", CellType::Text, MS), Ok(TraitValue::Str(" 007".into())));
        assert_eq!(typed(" 42 ", CellType::Auto, MS), Ok(TraitValue::Int(42)));
        assert_eq!(typed(" true", CellType::Bool, MS), Ok(TraitValue::Bool(true)));
    }
}
