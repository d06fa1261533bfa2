//! Privacy: erasure that leaves no trace, export of everything stored
//! about a person, and an audit log of both that holds no personal data.

mod audit;

pub use audit::{AuditAction, AuditRecord};
pub(crate) mod suppression;
