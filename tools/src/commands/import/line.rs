//! Reading one physical line with bounded memory: a line longer than the
//! limit is not buffered whole (a 200 MB export written on one line would
//! otherwise be held in memory before being refused), only its first bytes
//! are kept and the rest is read past up to the next newline.

use std::io::{BufRead, ErrorKind};

use crate::error::CliError;

/// What [`read_line`] read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRead {
    /// Bytes of the input the line took, its newline included; 0 at the
    /// end of the input.
    pub bytes: usize,
    /// The line holds more than the limit: `buf` has only its first bytes.
    pub too_long: bool,
}

/// Reads the next line of `reader` (named `source` in errors) into `buf`,
/// its newline included, keeping at most `limit + 2` bytes (a line of
/// `limit` bytes and a `\r\n`): the rest of a longer line is read and
/// dropped, so memory stays bounded whatever the input.
pub fn read_line(
    reader: &mut impl BufRead,
    buf: &mut Vec<u8>,
    limit: usize,
    source: &str,
) -> Result<LineRead, CliError> {
    buf.clear();
    let keep = limit.saturating_add(2);
    let mut bytes = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(CliError::Io { what: format!("reading {source}"), source: e }),
        };
        if available.is_empty() {
            break;
        }
        let (chunk, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (&available[..=i], true),
            None => (available, false),
        };
        let room = keep.saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let used = chunk.len();
        reader.consume(used);
        bytes = bytes.saturating_add(used);
        if done {
            break;
        }
    }
    Ok(LineRead { bytes, too_long: bytes > buf.len() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_skipped_with_bounded_memory() {
        const LIMIT: usize = 1 << 20;
        let mut input = vec![b'{'; 20 << 20];
        input.extend_from_slice(b"\r\nnext\nlast");
        // A small reader buffer: the long line arrives in many chunks.
        let mut reader = std::io::BufReader::with_capacity(8 << 10, input.as_slice());
        let mut buf = Vec::new();
        let first = read_line(&mut reader, &mut buf, LIMIT, "t").ok();
        assert_eq!(first, Some(LineRead { bytes: (20 << 20) + 2, too_long: true }));
        assert_eq!(buf.len(), LIMIT + 2, "only the first bytes are kept");
        assert!(buf.capacity() <= 4 * LIMIT, "the buffer stays bounded: {}", buf.capacity());
        let next = read_line(&mut reader, &mut buf, LIMIT, "t").ok();
        assert_eq!((next, buf.as_slice()), (Some(LineRead { bytes: 5, too_long: false }), &b"next\n"[..]));
        let last = read_line(&mut reader, &mut buf, LIMIT, "t").ok();
        assert_eq!((last, buf.as_slice()), (Some(LineRead { bytes: 4, too_long: false }), &b"last"[..]));
        let end = read_line(&mut reader, &mut buf, LIMIT, "t").ok();
        assert_eq!(end, Some(LineRead { bytes: 0, too_long: false }));
    }

    #[test]
    fn a_line_of_exactly_the_limit_is_kept_whole() {
        let mut buf = Vec::new();
        let mut reader = &b"abcd\r\nabcde\n"[..];
        let r = read_line(&mut reader, &mut buf, 4, "t").ok();
        assert_eq!((r, buf.as_slice()), (Some(LineRead { bytes: 6, too_long: false }), &b"abcd\r\n"[..]));
        // 5 bytes and \n fit in limit + 2: the caller's own check refuses it.
        let r = read_line(&mut reader, &mut buf, 4, "t").ok();
        assert_eq!((r, buf.as_slice()), (Some(LineRead { bytes: 6, too_long: false }), &b"abcde\n"[..]));
    }
}
