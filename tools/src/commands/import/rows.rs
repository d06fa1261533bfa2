//! RFC 4180 rows from raw bytes.
//!
//! A row is split off the input on its raw bytes first — quote-aware, so a
//! quoted cell may hold commas, doubled quotes and line breaks — and only
//! then validated: a row with a byte that is not UTF-8 anywhere in it
//! (inside a quoted cell spanning several lines, too) is rejected whole,
//! and reading goes on at the line after it. Splitting never depends on
//! whether the bytes are text: `"`, `,`, `\r` and `\n` are ASCII, and no
//! byte of a multi-byte UTF-8 sequence (nor any other byte) is mistaken
//! for them.

use std::io::BufRead;

use super::line::read_line;
use crate::error::CliError;

/// A UTF-8 byte order mark; spreadsheets write one before the header.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// One row of the input.
#[derive(Debug)]
pub struct Row {
    /// The line the row starts on (1-based).
    pub line: u64,
    /// The bytes the row took, line endings included (for the progress bar).
    pub bytes: u64,
    /// The cells, or why the row is rejected.
    pub cells: Result<Vec<String>, String>,
}

/// Reads rows from a byte stream.
pub struct Rows<R> {
    reader: R,
    source: String,
    line_no: u64,
    buf: Vec<u8>,
    /// The longest physical line read (longer ones are skipped unread).
    limit: usize,
}

impl<R: BufRead> Rows<R> {
    /// Rows of `reader`, named `source` in I/O errors, refusing (without
    /// reading them whole) lines of more than `limit` bytes.
    pub fn new(reader: R, source: String, limit: usize) -> Self {
        Rows { reader, source, line_no: 0, buf: Vec::new(), limit }
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.line_no
    }

    /// The next row, `None` at the end of the input. Only an I/O error is
    /// an `Err`; a malformed row is a [`Row`] whose `cells` say why.
    pub fn next_row(&mut self) -> Result<Option<Row>, CliError> {
        let first = self.line_no + 1;
        let mut bytes = 0u64;
        let mut cells = Cells::default();
        // The first byte that is not UTF-8: its line and 1-based column.
        let mut bad_byte: Option<(u64, usize)> = None;
        loop {
            let read = read_line(&mut self.reader, &mut self.buf, self.limit, &self.source)?;
            let n = read.bytes;
            if n == 0 {
                if bytes == 0 {
                    return Ok(None);
                }
                // The input ended inside a quoted cell.
                let reason = "a quoted cell is not closed before the end of the file".to_owned();
                return Ok(Some(Row { line: first, bytes, cells: Err(reason) }));
            }
            self.line_no += 1;
            bytes += n as u64;
            if read.too_long {
                // The rest of the row is not read: a quoted cell it opened
                // cannot be followed, so the row ends with this line.
                let reason = super::lines::too_long(n, self.limit);
                return Ok(Some(Row { line: first, bytes, cells: Err(reason) }));
            }
            if bad_byte.is_none() {
                if let Err(e) = std::str::from_utf8(&self.buf) {
                    bad_byte = Some((self.line_no, e.valid_up_to() + 1));
                }
            }
            let raw = self.buf.as_slice();
            let text = raw.strip_suffix(b"\n").map_or(raw, |t| t.strip_suffix(b"\r").unwrap_or(t));
            // A byte order mark before the header is not part of its first cell.
            let text = if self.line_no == 1 { text.strip_prefix(BOM).unwrap_or(text) } else { text };
            cells.feed(text);
            if cells.quoted {
                cells.cell.push(b'\n');
                continue;
            }
            let last = self.line_no;
            let result = match bad_byte {
                Some((line, column)) => Err(not_utf8(first, last, line, column)),
                None => cells.finish(),
            };
            return Ok(Some(Row { line: first, bytes, cells: result }));
        }
    }
}

/// Why a row spanning lines `first..=last` with a non-UTF-8 byte at
/// `line`, `column` is rejected.
fn not_utf8(first: u64, last: u64, line: u64, column: usize) -> String {
    let at = format!("not valid UTF-8 at line {line}, column {column} (counting bytes)");
    if first == last {
        at
    } else {
        format!("{at}; the row spans lines {first}-{last} (a quoted cell) and is rejected whole")
    }
}

/// The cells of the row being read.
#[derive(Default)]
struct Cells {
    /// The cells read, each with whether it was quoted.
    done: Vec<(Vec<u8>, bool)>,
    cell: Vec<u8>,
    /// The current cell opened with a quote.
    was_quoted: bool,
    /// Inside a quoted cell.
    quoted: bool,
    /// The current cell's closing quote has been read.
    after_quote: bool,
    /// Why the row is malformed; the row ends with the line this was found on.
    error: Option<String>,
}

impl Cells {
    /// Reads one line of the row (without its line ending).
    fn feed(&mut self, line: &[u8]) {
        let mut i = 0;
        while let Some(&b) = line.get(i) {
            i += 1;
            match (self.quoted, b) {
                (true, b'"') if line.get(i) == Some(&b'"') => {
                    i += 1;
                    self.cell.push(b'"');
                }
                (true, b'"') => {
                    self.quoted = false;
                    self.after_quote = true;
                }
                (true, b) => self.cell.push(b),
                (false, b',') => {
                    self.done.push((std::mem::take(&mut self.cell), self.was_quoted));
                    self.after_quote = false;
                    self.was_quoted = false;
                }
                (false, b'"') if self.cell.is_empty() && !self.after_quote => {
                    self.quoted = true;
                    self.was_quoted = true;
                }
                (false, _) if self.after_quote => {
                    // Only whitespace may follow a closing quote; it is
                    // not part of the cell.
                    match leading_whitespace(&line[i - 1..]) {
                        Some(width) => i += width - 1,
                        None => {
                            self.error = Some(format!("text after a closing quote in cell {}", self.done.len() + 1));
                            return;
                        }
                    }
                }
                (false, b) => self.cell.push(b),
            }
        }
    }

    /// The row's cells as text (the caller has checked that the row's
    /// bytes are UTF-8), or why the row is malformed. An unquoted cell is
    /// trimmed; a quoted one is kept as written between its quotes
    /// (RFC 4180), spaces included.
    fn finish(mut self) -> Result<Vec<String>, String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.done.push((self.cell, self.was_quoted));
        // Cells are the row's bytes less some ASCII ones, so they are UTF-8
        // when the row is; the error is kept rather than assumed away.
        self.done
            .into_iter()
            .map(|(c, quoted)| {
                let text = String::from_utf8(c).map_err(|_| "not valid UTF-8".to_owned())?;
                Ok(if quoted { text } else { text.trim().to_owned() })
            })
            .collect()
    }
}

/// The width in bytes of the whitespace character `bytes` starts with, or
/// `None` when it starts with anything else (a non-UTF-8 byte included).
fn leading_whitespace(bytes: &[u8]) -> Option<usize> {
    let head = &bytes[..bytes.len().min(4)];
    let text = match std::str::from_utf8(head) {
        Ok(t) => t,
        Err(e) => std::str::from_utf8(&head[..e.valid_up_to()]).ok()?,
    };
    text.chars().next().filter(|c| c.is_whitespace()).map(char::len_utf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(input: &[u8]) -> Vec<(u64, Result<Vec<String>, String>)> {
        let mut r = Rows::new(input, "t".into(), 64);
        let mut out = Vec::new();
        while let Ok(Some(row)) = r.next_row() {
            out.push((row.line, row.cells));
        }
        out
    }

    fn cells(v: &[&str]) -> Result<Vec<String>, String> {
        Ok(v.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn reads_quotes_and_line_breaks() {
        let got = rows(b"a,\"b,c\",\"say \"\"hi\"\"\"\n\"two\r\nlines\",x\r\n");
        assert_eq!(got[0], (1, cells(&["a", "b,c", "say \"hi\""])));
        assert_eq!(got[1], (2, cells(&["two\nlines", "x"])));
        assert!(rows(b"\"open\n")[0].1.is_err());
        assert!(rows(b"\"a\"b\n")[0].1.is_err());
        assert_eq!(rows(b"\"a\" ,\"b\"\xc2\xa0\n")[0].1, cells(&["a", "b"]), "whitespace after a quote");
    }

    #[test]
    fn quoted_cells_keep_their_whitespace_and_unquoted_ones_are_trimmed() {
        let got = rows(b"\"pro \", plan ,\" \",\"two\r\n lines \"\r\n");
        assert_eq!(got[0].1, cells(&["pro ", "plan", " ", "two\n lines "]));
    }

    #[test]
    fn a_byte_order_mark_before_the_header_is_dropped() {
        let got = rows("\u{feff}\"mail\",plan\n\u{feff}x,y\n".as_bytes());
        assert_eq!(got[0].1, cells(&["mail", "plan"]));
        assert_eq!(got[1].1, cells(&["\u{feff}x", "y"]), "only the file's first line");
    }

    #[test]
    fn a_bad_byte_in_a_quoted_cell_rejects_its_whole_row_only() {
        let got = rows(b"a,\"x\r\nbad \xff\r\nc,y\r\n\"\r\nb,ok\r\n");
        assert_eq!(got.len(), 2, "{got:?}");
        let (line, reason) = (&got[0].0, got[0].1.as_ref().err());
        assert_eq!(*line, 1);
        let reason = reason.map(String::as_str).unwrap_or_default();
        assert!(reason.contains("line 2, column 5") && reason.contains("lines 1-4"), "{reason}");
        assert_eq!(got[1], (5, cells(&["b", "ok"])));
        // A bad byte after a closing quote is the row's UTF-8 error too.
        let got = rows(b"\"a\"\xff\nb\n");
        assert!(got[0].1.as_ref().is_err_and(|e| e.contains("line 1, column 4")), "{got:?}");
        assert_eq!(got[1], (2, cells(&["b"])));
    }
}
