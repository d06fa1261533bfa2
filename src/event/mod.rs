//! Events: the event model, JSON and Segment Spec parsing, schemas.
