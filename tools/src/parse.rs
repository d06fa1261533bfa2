//! Turning command-line text into library values: identifiers, trait
//! values, amounts, times, versions and schema files. Every failure is bad
//! input (exit 2).

use std::path::Path;

use profiledb::event::limits::MIN_PLAUSIBLE_EPOCH_MS;
use profiledb::event::SchemaRegistry;
use profiledb::rollup::{Filter, FilterOp, Literal, Window};
use profiledb::{Identifier, ProfileId, Timestamp, TraitValue};
use serde_json::Value;

use crate::cli::{ProfileRef, ValueType};
use crate::error::CliError;

/// A profile named on the command line.
#[derive(Clone, Debug)]
pub enum Target {
    /// By one of its identifiers.
    Identifier(Identifier),
    /// By internal id.
    Id(ProfileId),
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Identifier(i) => write!(f, "identifier {i}"),
            Target::Id(id) => write!(f, "profile id {id}"),
        }
    }
}

/// Parses `kind:value`; the error names the input.
pub fn identifier(s: &str) -> Result<Identifier, CliError> {
    s.parse::<Identifier>().map_err(CliError::from)
}

/// Parses a [`ProfileRef`] (identifier or `--id`).
pub fn target(r: &ProfileRef) -> Result<Target, CliError> {
    match (&r.identifier, r.id) {
        (Some(s), _) => Ok(Target::Identifier(identifier(s)?)),
        (None, Some(id)) => Ok(Target::Id(ProfileId(id))),
        (None, None) => Err(CliError::Usage("give an IDENTIFIER or --id N".into())),
    }
}

/// `--as-of`: a version, or a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOf {
    /// A version number.
    Version(u64),
    /// A point in time.
    Time(Timestamp),
}

/// Parses `--as-of`: a plain number is a version, anything else must be an
/// RFC 3339 time or a date (`YYYY-MM-DD`: 00:00 UTC of that day).
pub fn as_of(s: &str) -> Result<AsOf, CliError> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t
            .parse::<u64>()
            .map(AsOf::Version)
            .map_err(|_| CliError::Usage(format!("--as-of {s:?}: version number out of range")));
    }
    time_or_date(t).map(AsOf::Time).map_err(|e| {
        CliError::Usage(format!("--as-of {s:?}: expected a version number, an RFC 3339 time or a date ({e})"))
    })
}

/// Parses a time for option `what`: RFC 3339, epoch milliseconds, or a
/// date (`YYYY-MM-DD`, 00:00 UTC of that day).
pub fn time(what: &str, s: &str) -> Result<Timestamp, CliError> {
    time_or_date(s).map_err(|e| CliError::Usage(format!("{what}: {e}")))
}

/// [`Timestamp::parse`] (RFC 3339 or epoch milliseconds), or a plain date
/// `YYYY-MM-DD` as the first instant of that UTC day. Command-line times
/// only: an event's timestamp stays refused as a date (its time zone is
/// unknown), while on the command line a date names the whole UTC days the
/// windows and ranges work in.
pub fn time_or_date(s: &str) -> Result<Timestamp, String> {
    let t = s.trim();
    let b = t.as_bytes();
    let is_date = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if is_date {
        return Timestamp::parse(&format!("{t}T00:00:00Z"))
            .map_err(|_| format!("{s:?} is not a valid date (expected YYYY-MM-DD, such as 2026-11-05)"));
    }
    refuse_ambiguous_epoch(t)?;
    Timestamp::parse(t).map_err(|e| format!("{e}; a date YYYY-MM-DD (00:00 UTC) is accepted too"))
}

/// Refuses a plain number below [`MIN_PLAUSIBLE_EPOCH_MS`] (early 1973 as
/// milliseconds), as `import` does: `$(date +%s)` is epoch *seconds*, and
/// read as milliseconds it names a day in January 1970. The error gives
/// both readings and how to write either.
fn refuse_ambiguous_epoch(t: &str) -> Result<(), String> {
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(());
    }
    let Ok(n) = t.parse::<i64>() else { return Ok(()) };
    if n >= MIN_PLAUSIBLE_EPOCH_MS {
        return Ok(());
    }
    let as_ms = Timestamp(n).to_rfc3339();
    let as_s = n.checked_mul(1000).map(|ms| Timestamp(ms).to_rfc3339()).unwrap_or_else(|| "out of range".into());
    Err(format!(
        "{t} is ambiguous: epoch numbers are milliseconds, and as milliseconds it is {as_ms}, as seconds {as_s}; \
         write milliseconds ({t}000 for the seconds reading) or an RFC 3339 time (numbers below \
         {MIN_PLAUSIBLE_EPOCH_MS}, before 1973 as milliseconds, are refused)"
    ))
}

/// Parses `--from` and `--to` (either may be absent: unbounded) and
/// refuses a reversed pair; equal times are an empty range.
pub fn time_range(from: Option<&str>, to: Option<&str>) -> Result<(Timestamp, Timestamp), CliError> {
    let start = from.map(|s| time("--from", s)).transpose()?.unwrap_or(Timestamp(i64::MIN));
    let end = to.map(|s| time("--to", s)).transpose()?.unwrap_or(Timestamp(i64::MAX));
    if let (Some(f), Some(t)) = (from, to) {
        if start > end {
            return Err(CliError::Usage(format!("--from {f} is after --to {t} (write the earlier time as --from)")));
        }
    }
    Ok((start, end))
}

/// Parses `trait set`'s VALUE under `name`; a JSON object yields one
/// trait per leaf, with dotted names.
pub fn trait_values(name: &str, raw: &str, ty: ValueType) -> Result<Vec<(String, TraitValue)>, CliError> {
    let bad = |reason: String| CliError::Usage(format!("invalid value for trait {name:?}: {reason}"));
    match ty {
        ValueType::String => Ok(vec![(name.to_owned(), TraitValue::Str(raw.into()))]),
        ValueType::Timestamp => {
            let t = Timestamp::parse(raw).map_err(bad)?;
            Ok(vec![(name.to_owned(), TraitValue::Time(t))])
        }
        ValueType::Auto => {
            let Ok(json) = serde_json::from_str::<Value>(raw) else {
                return Ok(vec![(name.to_owned(), TraitValue::Str(raw.into()))]);
            };
            let mut out = Vec::new();
            flatten_traits(name, &json, &mut out).map_err(bad)?;
            if out.is_empty() {
                return Err(bad("an empty object sets nothing".into()));
            }
            Ok(out)
        }
    }
}

/// Flattens a JSON value into `(dotted name, value)` pairs: objects nest
/// under `prefix`, every other value converts with [`TraitValue::from_json`].
pub fn flatten_traits(prefix: &str, v: &Value, out: &mut Vec<(String, TraitValue)>) -> Result<(), String> {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_traits(&name, child, out)?;
            }
            Ok(())
        }
        other => {
            let value = TraitValue::from_json(other).map_err(|e| format!("trait {prefix:?}: {e}"))?;
            out.push((prefix.to_owned(), value));
            Ok(())
        }
    }
}

/// Reads a `--schemas` file: the library's [`SchemaRegistry`] as JSON
/// (unknown fields are refused, so a typo does not silently check nothing).
pub fn schemas(path: &Path) -> Result<SchemaRegistry, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("--schemas: cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| CliError::Usage(format!("--schemas {}: {e}", path.display())))
}

/// Parses an increment: an integer, else a finite decimal.
pub fn amount(s: &str) -> Result<TraitValue, CliError> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Ok(TraitValue::Int(i));
    }
    match t.parse::<f64>() {
        Ok(f) if f.is_finite() => Ok(TraitValue::Float(f)),
        _ => Err(CliError::Usage(format!("invalid amount {s:?}: expected an integer or a decimal number"))),
    }
}

/// Parses a rollup window: `all`, `Nd` (whole UTC days, today included),
/// `Nh` (the last N hours exactly, a rolling window), or `FROM..TO` (two
/// times or dates: the UTC days from FROM's to TO's, both included, so
/// `2026-11-01..2026-11-05` is five days).
pub fn window(s: &str) -> Result<Window, CliError> {
    let t = s.trim();
    let bad = |why: String| {
        CliError::Usage(format!("--window {s:?}: {why} (expected all, 7d, 30d..., 24h, 48h... or FROM..TO)"))
    };
    if t == "all" {
        return Ok(Window::All);
    }
    if let Some((from_text, to_text)) = t.split_once("..") {
        let (from_text, to_text) = (from_text.trim(), to_text.trim());
        let from = time_or_date(from_text).map_err(|e| bad(format!("FROM: {e}")))?;
        let to = time_or_date(to_text).map_err(|e| bad(format!("TO: {e}")))?;
        // The library reads a reversed range as the forward one; refuse it
        // rather than guess which end was meant.
        if from > to {
            return Err(CliError::Usage(format!(
                "--window {s:?}: FROM {from_text} is after TO {to_text} (write the earlier time first)"
            )));
        }
        return Ok(Window::Between(from, to));
    }
    if let Some(h) = t.strip_suffix('h') {
        return match h.parse::<i64>() {
            Ok(n) if (1..=876_000).contains(&n) => Ok(Window::hours(n)),
            _ => Err(bad("the number of hours must be 1 to 876000".into())),
        };
    }
    match t.strip_suffix('d').map(str::parse::<i64>) {
        Some(Ok(n)) if (1..=36_500).contains(&n) => Ok(Window::days(n)),
        Some(Ok(_)) => Err(bad("the number of days must be 1 to 36500".into())),
        _ => Err(bad("not a window".into())),
    }
}

/// Parses the duration of option `flag` (`--max-future-skew`,
/// `--dedup-horizon`): `Nd`, `Nh`, `Nm`, `Ns` or `Nms` (N ≥ 0), or `0`, as
/// milliseconds.
pub fn duration(flag: &str, s: &str) -> Result<i64, CliError> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let bad = || CliError::Usage(format!("{flag} {s:?}: expected a duration such as 1d, 6h, 30m, 90s, 500ms or 0"));
    let (n, unit) = [("ms", 1), ("d", Timestamp::DAY), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)]
        .into_iter()
        .find_map(|(suffix, unit)| t.strip_suffix(suffix).map(|n| (n, unit)))
        .ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    if n < 0 {
        return Err(bad());
    }
    n.checked_mul(unit).ok_or_else(bad)
}

/// Refuses an integer literal that the float `n` it parsed as does not hold
/// exactly (past 2^53): a rollup filter holds numbers as 64-bit floats, so
/// `id=9007199254740993` would silently compare with 9007199254740992.
fn inexact_integer(s: &str, raw: &str, n: f64) -> Result<(), CliError> {
    let Ok(i) = raw.parse::<i128>() else { return Ok(()) };
    // `n` is finite and whole here (it came from an integer), so the cast is exact below 2^127.
    if n.abs() < 1e38 && n as i128 == i {
        return Ok(());
    }
    Err(CliError::Usage(format!(
        "--where {s:?}: the integer {raw} is past 2^53 and a rollup filter holds numbers as 64-bit floats, \
         which would compare it as {n}; filter on the property as text or with a smaller number"
    )))
}

/// Parses a rollup filter condition: `PROP=V`, `PROP!=V`, `PROP<V`,
/// `PROP<=V`, `PROP>V`, `PROP>=V`. V is a number, `true`/`false`, or text
/// (quotes optional).
pub fn filter(s: &str) -> Result<Filter, CliError> {
    const OPS: [(&str, FilterOp); 6] = [
        ("!=", FilterOp::Ne),
        ("<=", FilterOp::Le),
        (">=", FilterOp::Ge),
        ("=", FilterOp::Eq),
        ("<", FilterOp::Lt),
        (">", FilterOp::Gt),
    ];
    let (at, text, op) = OPS
        .iter()
        .filter_map(|(text, op)| s.find(text).map(|at| (at, *text, *op)))
        .min_by_key(|(at, text, _)| (*at, std::cmp::Reverse(text.len())))
        .ok_or_else(|| CliError::Usage(format!("--where {s:?}: expected PROPERTY=VALUE (or != < <= > >=)")))?;
    let property = s[..at].trim();
    let raw = s[at + text.len()..].trim();
    if property.is_empty() || raw.is_empty() {
        return Err(CliError::Usage(format!("--where {s:?}: both a property and a value are needed")));
    }
    let value = match raw {
        "true" => Literal::Bool(true),
        "false" => Literal::Bool(false),
        _ => match raw.parse::<f64>() {
            Ok(n) if n.is_finite() => {
                inexact_integer(s, raw, n)?;
                Literal::Num(n)
            }
            _ => Literal::Str(raw.trim_matches('"').to_owned()),
        },
    };
    if !matches!(value, Literal::Num(_)) && !matches!(op, FilterOp::Eq | FilterOp::Ne) {
        return Err(CliError::Usage(format!("--where {s:?}: < <= > >= compare numbers")));
    }
    Ok(Filter { property: property.to_owned(), op, values: vec![value] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_of_tells_versions_from_times() {
        assert_eq!(as_of("3").ok(), Some(AsOf::Version(3)));
        assert_eq!(as_of("1970-01-01T00:00:01Z").ok(), Some(AsOf::Time(Timestamp(1000))));
        assert!(as_of("yesterday").is_err());
        assert_eq!(as_of("1970-01-02").ok(), Some(AsOf::Time(Timestamp(Timestamp::DAY))));
    }

    #[test]
    fn command_line_times_accept_plain_dates_as_utc_midnight() {
        let nov_1 = Timestamp::parse("2026-11-01T00:00:00Z").ok();
        assert_eq!(time("--from", "2026-11-01").ok(), nov_1);
        assert_eq!(time("--from", " 2026-11-01 ").ok(), nov_1);
        let err = time("--to", "2026-02-30").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("not a valid date"), "{err}");
        assert!(time("--to", "2026-1-5").is_err(), "not a date");
        // 8 digits: epoch ms in 1970, refused as probably seconds (or a date without dashes).
        let err = time("--to", "20261105").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("ambiguous") && err.contains("20261105000"), "{err}");
        assert!(time("--to", "1700000000000").is_ok(), "13 digits are epoch ms");
        let err = time("--to", "Nov 5").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("YYYY-MM-DD"), "{err}");
        // A window of dates covers the UTC days from FROM's to TO's, TO's included.
        let w = window("2026-11-01..2026-11-05").ok();
        let nov_5 = Timestamp::parse("2026-11-05T00:00:00Z").ok();
        assert_eq!(w, nov_1.zip(nov_5).map(|(a, b)| Window::Between(a, b)));
        let days = w.and_then(|w| w.day_range(Timestamp(0)));
        assert_eq!(days.map(|(a, b)| b - a + 1), Some(5));
        assert!(window("2026-11-05..2026-11-01").is_err(), "reversed");
        assert_eq!(time_range(Some("2026-11-01"), Some("2026-11-05")).ok(), nov_1.zip(nov_5));
    }

    #[test]
    fn values_parse_as_json_else_string() {
        let v = |s| trait_values("t", s, ValueType::Auto).ok();
        assert_eq!(v("42"), Some(vec![("t".into(), TraitValue::Int(42))]));
        assert_eq!(v("\"42\""), Some(vec![("t".into(), TraitValue::Str("42".into()))]));
        assert_eq!(v("pro"), Some(vec![("t".into(), TraitValue::Str("pro".into()))]));
        assert_eq!(v("{\"city\":\"Oslo\"}"), Some(vec![("t.city".into(), TraitValue::Str("Oslo".into()))]));
        assert!(v("[1,2]").is_none());
        assert!(v("{}").is_none());
    }

    #[test]
    fn windows_and_filters() {
        assert_eq!(window("all").ok(), Some(Window::All));
        assert_eq!(window("7d").ok(), Some(Window::days(7)));
        assert_eq!(window("24h").ok(), Some(Window::Rolling(86_400_000)));
        assert!(window("0h").is_err());
        assert_eq!(
            window("1700000000000..1700086400000").ok(),
            Some(Window::Between(Timestamp(1700000000000), Timestamp(1700086400000)))
        );
        assert!(window("0..86400000").is_err(), "1970 as ms: probably seconds");
        assert!(window("7x").is_err() && window("0d").is_err());
        assert!(window("1700086400000..1700000000000").is_err(), "reversed");
        assert_eq!(
            window("1700000000000..1700000000000").ok(),
            Some(Window::Between(Timestamp(1700000000000), Timestamp(1700000000000)))
        );
        let f = filter("page = /pricing").ok();
        assert_eq!(
            f.map(|f| (f.property, f.op, f.values)),
            Some(("page".into(), FilterOp::Eq, vec![Literal::Str("/pricing".into())]))
        );
        assert_eq!(filter("amount>=10").ok().map(|f| (f.op, f.values)), Some((FilterOp::Ge, vec![Literal::Num(10.0)])));
        let err = filter("id=9007199254740993").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("9007199254740993") && err.contains("2^53"), "{err}");
        assert_eq!(
            filter("id=9007199254740992").ok().map(|f| f.values),
            Some(vec![Literal::Num(9_007_199_254_740_992.0)])
        );
        assert!(filter("id=-9007199254740993").is_err());
        assert!(filter("n=1e300").is_ok(), "a float literal is a float");
        assert_eq!(filter("a!=b").ok().map(|f| f.op), Some(FilterOp::Ne));
        assert!(filter("amount > x").is_err() && filter("=1").is_err() && filter("nothing").is_err());
    }

    #[test]
    fn time_ranges_refuse_reversed_bounds() {
        assert_eq!(time_range(None, None).ok(), Some((Timestamp(i64::MIN), Timestamp(i64::MAX))));
        assert_eq!(
            time_range(Some("1700000000000"), Some("1700000000000")).ok(),
            Some((Timestamp(1700000000000), Timestamp(1700000000000)))
        );
        assert_eq!(time_range(None, Some("1700000000000")).ok(), Some((Timestamp(i64::MIN), Timestamp(1700000000000))));
        assert!(time_range(Some("1700086400000"), Some("1700000000000")).is_err());
    }

    #[test]
    fn amounts_are_ints_or_finite_floats() {
        assert_eq!(amount("-2").ok(), Some(TraitValue::Int(-2)));
        assert_eq!(amount("2.5").ok(), Some(TraitValue::Float(2.5)));
        assert!(amount("inf").is_err());
        assert!(amount("x").is_err());
    }
}
