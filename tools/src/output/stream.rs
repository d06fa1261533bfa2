//! JSON written as it is produced, for outputs that can be large
//! (`segment members --json`, `feed --json`): the object's small fields
//! first, then one array whose elements are written one at a time, so
//! memory does not grow with the output. The text is what
//! `serde_json::to_string_pretty` prints for the same object, except for
//! the order of the fields (the array, and any field known only after it,
//! come last).

use std::io::{BufWriter, StdoutLock, Write};

use serde_json::Value;

use super::stdout_error;
use crate::error::CliError;

/// An object being written to standard output.
pub struct JsonStream {
    out: BufWriter<StdoutLock<'static>>,
    /// Whether a field was written (the next one needs a comma).
    fields: bool,
    /// Elements written in the open array (`None`: no array open).
    elements: Option<u64>,
}

impl JsonStream {
    /// Starts the object.
    pub fn begin() -> Result<Self, CliError> {
        let mut s = JsonStream { out: BufWriter::new(std::io::stdout().lock()), fields: false, elements: None };
        s.write("{")?;
        Ok(s)
    }

    /// Writes one field.
    pub fn field(&mut self, key: &str, value: &Value) -> Result<(), CliError> {
        self.key(key)?;
        let text = pretty(value, 2)?;
        self.write(&text)
    }

    /// Opens the array field `key`: [`element`](Self::element) adds to it.
    pub fn begin_array(&mut self, key: &str) -> Result<(), CliError> {
        self.key(key)?;
        self.elements = Some(0);
        self.write("[")
    }

    /// Writes one element of the open array.
    pub fn element(&mut self, value: &Value) -> Result<(), CliError> {
        let n = self.elements.unwrap_or(0);
        let text = pretty(value, 4)?;
        self.write(if n == 0 { "\n    " } else { ",\n    " })?;
        self.write(&text)?;
        self.elements = Some(n + 1);
        Ok(())
    }

    /// Closes the open array.
    pub fn end_array(&mut self) -> Result<(), CliError> {
        match self.elements.take() {
            Some(n) if n > 0 => self.write("\n  ]"),
            _ => self.write("]"),
        }
    }

    /// Closes the object and flushes.
    pub fn finish(mut self) -> Result<(), CliError> {
        self.write(if self.fields { "\n}\n" } else { "}\n" })?;
        self.out.flush().map_err(stdout_error)
    }

    fn key(&mut self, key: &str) -> Result<(), CliError> {
        let sep = if self.fields { ",\n  " } else { "\n  " };
        self.fields = true;
        let key = serde_json::to_string(key).map_err(encoding_error)?;
        self.write(&format!("{sep}{key}: "))
    }

    fn write(&mut self, s: &str) -> Result<(), CliError> {
        self.out.write_all(s.as_bytes()).map_err(stdout_error)
    }
}

/// `value` pretty-printed, its lines after the first indented by `indent`
/// spaces (JSON strings hold no raw line breaks, so every line break is
/// the printer's).
fn pretty(value: &Value, indent: usize) -> Result<String, CliError> {
    let text = serde_json::to_string_pretty(value).map_err(encoding_error)?;
    Ok(text.replace('\n', &format!("\n{}", " ".repeat(indent))))
}

fn encoding_error(e: serde_json::Error) -> CliError {
    CliError::Io { what: "encoding the output as JSON".into(), source: std::io::Error::other(e) }
}

#[cfg(test)]
mod tests {
    use super::pretty;
    use serde_json::json;

    #[test]
    fn nested_lines_are_indented_like_the_pretty_printer() -> Result<(), Box<dyn std::error::Error>> {
        let v = json!({"a": [1, {"b": "x\ny"}]});
        let whole = serde_json::to_string_pretty(&json!({"k": [v.clone()]}))?;
        let streamed = format!("{{\n  \"k\": [\n    {}\n  ]\n}}", pretty(&v, 4).map_err(|e| e.to_string())?);
        assert_eq!(streamed, whole);
        Ok(())
    }
}
