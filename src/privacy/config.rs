//! [`PrivacyConfig`]: consent purposes, export purposes, the suppression
//! policy and default anonymization rules, chosen at open.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};
use crate::privacy::anonymize::AnonymizeRules;
use crate::profile::consent::validate_purpose;

/// What happens to a write that carries an erased (suppressed) identifier.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SuppressionPolicy {
    /// Refuse it with [`Error::Suppressed`]; nothing is written. The
    /// default: a write about an erased person is a bug or a
    /// re-identification, and the caller should learn of it.
    #[default]
    Reject,
    /// Acknowledge it and store nothing: `track` answers
    /// [`IngestOutcome::Dropped`](crate::IngestOutcome::Dropped),
    /// `ingest_batch` counts it in [`BatchReport::dropped`](crate::BatchReport::dropped),
    /// `update`/`identify`/`set_consent` return a
    /// [`WriteReceipt`](crate::WriteReceipt) whose `dropped` field is set.
    /// For event pipelines that keep sending about people who left.
    Drop,
}

/// Privacy behaviour chosen at open (not stored in the database).
#[derive(Clone, Debug, Default)]
pub(crate) struct PrivacyConfig {
    /// Known consent purposes.
    pub purposes: BTreeSet<String>,
    /// Refuse purposes not in `purposes`.
    pub strict_purposes: bool,
    /// Export purpose → the consents it requires.
    pub export_purposes: BTreeMap<String, Vec<String>>,
    /// Writes carrying a suppressed identifier.
    pub suppression: SuppressionPolicy,
    /// Rules used by `anonymize` when the caller passes none.
    pub anonymize: AnonymizeRules,
}

impl PrivacyConfig {
    /// Checks the configuration at open: every name valid, and in strict
    /// mode every consent an export purpose requires is a known purpose.
    pub fn validate(&self) -> Result<()> {
        for p in &self.purposes {
            validate_purpose(p)?;
        }
        for (export, requires) in &self.export_purposes {
            crate::identity::identifier::validate_lower_name("export purpose", export)
                .map_err(|r| Error::invalid(format!("export purpose {}: {r}", crate::error::quote_input(export))))?;
            for p in requires {
                self.check_purpose(p)?;
            }
        }
        self.anonymize.validate()
    }

    /// Checks a consent purpose named by a write or a segment: a valid
    /// name, and a known one in strict mode.
    pub fn check_purpose(&self, purpose: &str) -> Result<()> {
        validate_purpose(purpose)?;
        if self.strict_purposes && !self.purposes.contains(purpose) {
            return Err(Error::UnknownPurpose { purpose: purpose.to_owned(), known: self.known_purposes() });
        }
        Ok(())
    }

    /// Of `purposes` (those a stored segment reads), the ones strict mode
    /// refuses: not in the configured list. None without strict mode.
    pub fn unknown_purposes<'a>(&self, purposes: impl IntoIterator<Item = &'a String>) -> Vec<&'a str> {
        if !self.strict_purposes {
            return Vec::new();
        }
        purposes.into_iter().filter(|p| !self.purposes.contains(*p)).map(String::as_str).collect()
    }

    /// The configured purposes, comma-separated (for messages).
    pub fn known_purposes(&self) -> String {
        self.purposes.iter().cloned().collect::<Vec<_>>().join(", ")
    }

    /// The consents an export purpose requires.
    pub fn export_requires(&self, export: &str) -> Result<&[String]> {
        self.export_purposes.get(export).map(Vec::as_slice).ok_or_else(|| Error::UnknownExportPurpose {
            purpose: export.to_owned(),
            known: self.export_purposes.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}
