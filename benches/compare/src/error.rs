//! A small error type: a message with context, converted from every
//! client library's error.

use std::fmt;

/// An error with a human-readable chain of context.
pub struct Error(String);

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with just a message.
    pub fn msg(m: impl fmt::Display) -> Self {
        Error(m.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! from_error {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error(e.to_string())
            }
        }
    )*};
}

from_error!(
    std::io::Error,
    rusqlite::Error,
    redis::RedisError,
    profiledb::Error,
    serde_json::Error,
    std::num::ParseIntError,
    std::num::ParseFloatError
);

impl From<postgres::Error> for Error {
    /// `postgres::Error` displays only "db error"; show the server's message.
    fn from(e: postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => Error(format!("db error: {db}")),
            None => Error(e.to_string()),
        }
    }
}

/// Adds context to any displayable error.
pub trait Context<T> {
    /// Prefixes the error with `what`.
    fn context(self, what: impl fmt::Display) -> Result<T>;
    /// Prefixes the error with a lazily built message.
    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }

    fn with_context<D: fmt::Display>(self, what: impl FnOnce() -> D) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}
