//! Identity: identifiers, links, rules, stitching and merge.

pub(crate) mod cache_key;
pub(crate) mod detach;
pub(crate) mod graph;
pub mod identifier;
pub(crate) mod kinds;
pub mod link;
pub(crate) mod merge;
pub mod rules;
pub mod stitch;
pub mod unmerge;
mod unmerge_data;
