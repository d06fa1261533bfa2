//! `check`: verifies every invariant of a database.
