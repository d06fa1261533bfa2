//! Privacy: consent-aware exports, erasure that leaves no trace,
//! suppression of erased identifiers, anonymization for analytics-only
//! retention, export of everything stored about a person, and an audit
//! log of privacy operations that holds no personal data.

pub(crate) mod anonymize;
mod audit;
pub(crate) mod config;
pub(crate) mod key;
pub(crate) mod redact;
pub(crate) mod suppression;

pub use crate::profile::consent::{
    ConsentChange, ConsentOp, ConsentRecord, ConsentState, ConsentStatus, Consents, MAX_SOURCE_BYTES,
};
pub use anonymize::{AnonymizeRules, Generalization, ValueRule};
pub use audit::{AuditAction, AuditRecord};
pub use config::SuppressionPolicy;
pub use key::new_secret_key;
