//! Segments: the expression language, evaluation, bitmap indexes and queries.
