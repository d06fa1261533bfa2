//! JSONL lines into [`Record`]s: events (native or Segment Spec, through
//! the library's parsers) and profile lines. Nothing is written here.

use std::io::BufRead;

use profiledb::event::spec::SPEC_MARKER_FIELDS;
use profiledb::event::{
    describe_json_error, identifier_text, json_with_unique_keys, parse_line_reporting, parse_value_reporting,
    EventFormat, EventLimits,
};
use profiledb::{Identifier, Update};
use serde_json::{Map, Value};

use super::line::read_line;
use super::{Item, Record, Source};
use crate::cli::ImportFormat;
use crate::error::CliError;
use crate::parse::flatten_traits;

/// Reads JSONL, one record per non-blank line.
pub struct Jsonl<R> {
    reader: R,
    source: String,
    format: ImportFormat,
    limits: EventLimits,
    line_no: u64,
    buf: Vec<u8>,
}

impl<R: BufRead> Jsonl<R> {
    /// Lines from `reader` (named `source` in errors), read as `format`.
    pub fn new(reader: R, source: String, format: ImportFormat, limits: EventLimits) -> Self {
        Jsonl { reader, source, format, limits, line_no: 0, buf: Vec::new() }
    }
}

impl<R: BufRead> Source for Jsonl<R> {
    fn next_item(&mut self) -> Result<Option<Item>, CliError> {
        let mut bytes = 0u64;
        loop {
            let read = read_line(&mut self.reader, &mut self.buf, self.limits.max_line_bytes, &self.source)?;
            if read.bytes == 0 {
                return Ok(None);
            }
            self.line_no += 1;
            bytes += read.bytes as u64;
            let line = self.line_no;
            if line == 1 {
                if let Some(what) = not_jsonl(&self.buf) {
                    return Err(CliError::Usage(format!("{}: {what}; nothing was imported", self.source)));
                }
            }
            if read.too_long {
                let reason = too_long(read.bytes, self.limits.max_line_bytes);
                return Ok(Some(Item { line, bytes, parsed: Err(reason) }));
            }
            let text = match line_text(&self.buf, line == 1) {
                Ok(t) => t,
                Err(reason) => return Ok(Some(Item { line, bytes, parsed: Err(reason) })),
            };
            if text.trim().is_empty() {
                continue;
            }
            let parsed = parse(text, self.format, line, &self.limits);
            return Ok(Some(Item { line, bytes, parsed }));
        }
    }

    fn lines_read(&self) -> u64 {
        self.line_no
    }
}

/// Why a line of `bytes` bytes (its line ending included) over `limit` is
/// rejected; it was read past, never held whole.
pub(super) fn too_long(bytes: usize, limit: usize) -> String {
    format!("line is {bytes} bytes (with its line ending), the limit is {limit}; it was skipped unread")
}

/// The line as UTF-8 without its line ending and, on the `first` line of
/// the input, without a UTF-8 byte order mark (editors on Windows write one).
/// A byte that is not UTF-8 is reported by its 1-based column in the line
/// as stored (counting bytes, a byte order mark included), as CSV rows are.
fn line_text(buf: &[u8], first: bool) -> Result<&str, String> {
    let text = if first { buf.strip_prefix("\u{feff}".as_bytes()).unwrap_or(buf) } else { buf };
    let skipped = buf.len() - text.len();
    let trimmed = text.strip_suffix(b"\n").unwrap_or(text);
    let trimmed = trimmed.strip_suffix(b"\r").unwrap_or(trimmed);
    std::str::from_utf8(trimmed)
        .map_err(|e| format!("not valid UTF-8 at column {} (counting bytes)", skipped + e.valid_up_to() + 1))
}

/// What the input is, when its first bytes show it is not JSONL text at
/// all: gzip, or UTF-16 (by its byte order mark).
fn not_jsonl(first: &[u8]) -> Option<&'static str> {
    if first.starts_with(&[0x1f, 0x8b]) {
        Some("the input is gzip-compressed: decompress it first (zcat FILE | profiledb import -)")
    } else if first.starts_with(&[0xff, 0xfe]) || first.starts_with(&[0xfe, 0xff]) {
        Some("the input is UTF-16 (it starts with a UTF-16 byte order mark): convert it to UTF-8 first (iconv -f UTF-16 -t UTF-8 FILE)")
    } else {
        None
    }
}

/// The reason a line that holds several messages is refused: a JSON array
/// (a pretty-printed array's opening line too) or a Segment `{"batch": [...]}`
/// envelope.
const ARRAY_HINT: &str = "a JSON array, not one object per line: write one message per line (jq -c '.[]' FILE)";

/// Parses and validates one line as `format`; nothing is written.
fn parse(text: &str, format: ImportFormat, line: u64, limits: &EventLimits) -> Result<Record, String> {
    let position = format!("line {line}");
    if text.trim_start().starts_with('[') {
        return Err(ARRAY_HINT.into());
    }
    let event = |f: EventFormat| {
        parse_line_reporting(text, f, &position, limits)
            .map(|(e, skipped)| Record::Event(Box::new(e), skipped))
            .map_err(|e| e.to_string())
    };
    match format {
        ImportFormat::Native => event(EventFormat::Native),
        ImportFormat::Segment => event(EventFormat::SegmentSpec),
        ImportFormat::Profile | ImportFormat::Auto | ImportFormat::Csv => {
            if text.len() > limits.max_line_bytes {
                return Err(format!("line is {} bytes, the limit is {}", text.len(), limits.max_line_bytes));
            }
            let v: Value = json_with_unique_keys(text)
                .map_err(|e| format!("not valid JSON: {}", describe_json_error(&e, text)))?;
            let Value::Object(obj) = &v else { return Err("expected a JSON object".into()) };
            if matches!(obj.get("batch"), Some(Value::Array(_))) {
                return Err(
                    "a batch envelope {\"batch\": [...]}: write one message per line (jq -c '.batch[]' FILE)".into()
                );
            }
            let is_event = obj.contains_key("type") || SPEC_MARKER_FIELDS.iter().any(|f| obj.contains_key(*f));
            if format == ImportFormat::Auto && is_event {
                return parse_value_reporting(&v, EventFormat::Auto, &position, limits)
                    .map(|(e, skipped)| Record::Event(Box::new(e), skipped))
                    .map_err(|e| e.to_string());
            }
            parse_profile_line(obj)
        }
    }
}

/// A profile line: `{"identifiers": {...}, "traits": {...}}`.
fn parse_profile_line(obj: &Map<String, Value>) -> Result<Record, String> {
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "identifiers" | "traits")) {
        return Err(format!(
            "unknown field {k:?}; a profile line has \"identifiers\" and \"traits\" (an event line has \"type\")"
        ));
    }
    let identifiers = match obj.get("identifiers") {
        Some(Value::Object(ids)) => parse_identifiers(ids)?,
        Some(_) => return Err("\"identifiers\" must be an object of kind: value".into()),
        None => return Err("missing \"identifiers\"".into()),
    };
    let mut traits = Vec::new();
    match obj.get("traits") {
        None | Some(Value::Null) => {}
        Some(t @ Value::Object(_)) => flatten_traits("", t, &mut traits)?,
        Some(_) => return Err("\"traits\" must be an object".into()),
    }
    let update = traits.into_iter().fold(Update::new(), |u, (name, value)| u.set(&name, value));
    update.validate().map_err(|e| e.to_string())?;
    Ok(Record::Profile { identifiers, update })
}

/// `{"email": "a@x.com", "user_id": 1, "device_id": ["d1", "d2"]}`: values
/// are strings or integers, read as events read `userId`; `null` means
/// absent.
fn parse_identifiers(ids: &Map<String, Value>) -> Result<Vec<Identifier>, String> {
    let mut out = Vec::new();
    for (kind, v) in ids {
        let values = match v {
            Value::Null => continue,
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for value in values {
            let text = identifier_text(value).map_err(|reason| format!("identifier {kind:?}: {reason}"))?;
            out.push(Identifier::new(kind, &text).map_err(|e| e.to_string())?);
        }
    }
    if out.is_empty() {
        return Err("\"identifiers\" is empty; a line needs at least one".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_byte_is_reported_by_its_column_in_the_stored_line() {
        let bad = |column: usize| Err(format!("not valid UTF-8 at column {column} (counting bytes)"));
        assert_eq!(line_text(b"ab\xff\n", false), bad(3));
        assert_eq!(line_text(b"\xef\xbb\xbfab\xff\n", true), bad(6), "the byte order mark counts");
        assert_eq!(line_text(b"\xef\xbb\xbf{}\r\n", true), Ok("{}"));
    }
}
