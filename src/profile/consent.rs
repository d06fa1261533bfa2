//! Consent: per profile and purpose, granted, denied or withdrawn, with a
//! source, a time and an optional expiry. Every change is a delta
//! ([`Change::Consent`](crate::Change::Consent)); the current states live
//! in [`Profile::consent`](crate::Profile::consent).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::error::{Error, Result};

/// The longest consent source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 256;
/// The most consent changes one operation may carry.
pub const MAX_CONSENT_OPS: usize = 64;

/// What the person said about a purpose.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentState {
    /// Consent given (until its expiry, if any).
    Granted,
    /// Consent refused.
    Denied,
    /// Consent given earlier and taken back.
    Withdrawn,
}

impl ConsentState {
    /// The state's name (`granted`, `denied`, `withdrawn`).
    pub fn name(self) -> &'static str {
        match self {
            ConsentState::Granted => "granted",
            ConsentState::Denied => "denied",
            ConsentState::Withdrawn => "withdrawn",
        }
    }
}

/// A purpose's consent as it stands at some instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentStatus {
    /// Granted and not expired.
    Granted,
    /// Granted, but the expiry has passed: counts as not granted.
    Expired,
    /// Denied.
    Denied,
    /// Withdrawn.
    Withdrawn,
}

impl ConsentStatus {
    /// Whether this status allows the purpose.
    pub fn allows(self) -> bool {
        self == ConsentStatus::Granted
    }
}

/// A change of one purpose's consent, as a caller gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChange {
    /// The new state.
    pub state: ConsentState,
    /// Where it came from (`cookie_banner`, `signup_form`, a ticket...): 1–256 bytes.
    pub source: String,
    /// When a grant stops counting (grants only).
    pub expires_at: Option<Timestamp>,
    /// When the person said it, if not when the database records it: an
    /// event's time, or a past statement being imported (format 7). A
    /// change given earlier than the purpose's recorded state is kept in
    /// the history but does not replace that state (see
    /// [`ConsentRecord::at`]); `None` always does.
    pub given_at: Option<Timestamp>,
}

impl ConsentChange {
    fn new(state: ConsentState, source: impl Into<String>, expires_at: Option<Timestamp>) -> Self {
        ConsentChange { state, source: source.into(), expires_at, given_at: None }
    }

    /// A grant without expiry.
    pub fn granted(source: impl Into<String>) -> Self {
        Self::new(ConsentState::Granted, source, None)
    }

    /// A grant that stops counting at `expires_at`.
    pub fn granted_until(source: impl Into<String>, expires_at: Timestamp) -> Self {
        Self::new(ConsentState::Granted, source, Some(expires_at))
    }

    /// A refusal.
    pub fn denied(source: impl Into<String>) -> Self {
        Self::new(ConsentState::Denied, source, None)
    }

    /// A withdrawal.
    pub fn withdrawn(source: impl Into<String>) -> Self {
        Self::new(ConsentState::Withdrawn, source, None)
    }

    /// The same change, said at `at` (see [`given_at`](Self::given_at)).
    ///
    /// ```
    /// use profiledb::privacy::{ConsentChange, ConsentState};
    /// use profiledb::{Identifier, ProfileDb, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let (monday, tuesday) = (Timestamp(1_700_000_000_000), Timestamp(1_700_086_400_000));
    /// db.set_consent(&ann, "ads", ConsentChange::withdrawn("support_ticket").given_at(tuesday))?;
    /// // An import replaying Monday's grant afterwards does not grant again.
    /// db.set_consent(&ann, "ads", ConsentChange::granted("cookie_banner").given_at(monday))?;
    /// assert_eq!(db.consent(&ann)?.expect("ann exists")[0].record.state, ConsentState::Withdrawn);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn given_at(mut self, at: Timestamp) -> Self {
        self.given_at = Some(at);
        self
    }
}

/// One purpose's change inside a [`Change::Consent`](crate::Change::Consent) delta.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentOp {
    /// The purpose (`marketing_email`).
    pub purpose: String,
    /// The change.
    pub change: ConsentChange,
}

/// The current consent of one purpose.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRecord {
    /// The state.
    pub state: ConsentState,
    /// Where it came from.
    pub source: String,
    /// When it was said: the change's
    /// [`given_at`](ConsentChange::given_at) (never later than the delta
    /// that recorded it), else the delta's time. A change given before
    /// this does not replace the record.
    pub at: Timestamp,
    /// When a grant stops counting.
    pub expires_at: Option<Timestamp>,
}

impl ConsentRecord {
    /// The status at `now`: an expired grant is [`ConsentStatus::Expired`].
    pub fn status_at(&self, now: Timestamp) -> ConsentStatus {
        match (self.state, self.expires_at) {
            (ConsentState::Granted, Some(e)) if now >= e => ConsentStatus::Expired,
            (ConsentState::Granted, _) => ConsentStatus::Granted,
            (ConsentState::Denied, _) => ConsentStatus::Denied,
            (ConsentState::Withdrawn, _) => ConsentStatus::Withdrawn,
        }
    }

    /// The record as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "state": self.state.name(),
            "source": self.source,
            "at": self.at.to_rfc3339(),
            "expires_at": self.expires_at.map(Timestamp::to_rfc3339),
        })
    }
}

/// A profile's consent, by purpose.
pub type Consents = BTreeMap<String, ConsentRecord>;

/// Checks a purpose name: the rules of identifier kinds (`[a-z][a-z0-9_]*`,
/// at most 64 bytes).
pub fn validate_purpose(purpose: &str) -> Result<()> {
    crate::identity::identifier::validate_lower_name("consent purpose", purpose)
        .map_err(|reason| Error::invalid(format!("consent purpose {}: {reason}", crate::error::quote_input(purpose))))
}

impl ConsentOp {
    /// Checks what can be checked without the profile: the purpose name,
    /// the source, and that only a grant has an expiry, after `now`.
    pub fn validate(&self, now: Timestamp) -> Result<()> {
        validate_purpose(&self.purpose)?;
        let bad = |why: String| Error::invalid(format!("consent for {:?}: {why}", self.purpose));
        if self.change.given_at.is_some_and(|t| t.0 < 0) {
            return Err(bad("the time it was given is before 1970".into()));
        }
        // Before 1970 is refused above (given) or below (an expiry not after now).
        if let Some(t) =
            [self.change.given_at, self.change.expires_at].into_iter().flatten().find(|t| *t > Timestamp::MAX_RFC3339)
        {
            return Err(bad(format!("time {} ms is after the year 9999", t.0)));
        }
        let source = &self.change.source;
        if source.is_empty() || source.len() > MAX_SOURCE_BYTES || source.contains('\0') {
            return Err(bad(format!("the source must be 1–{MAX_SOURCE_BYTES} bytes without NUL")));
        }
        match (self.change.state, self.change.expires_at) {
            (ConsentState::Granted, Some(e)) if e <= now => {
                Err(bad(format!("the expiry {} is not after now ({})", e.to_rfc3339(), now.to_rfc3339())))
            }
            (ConsentState::Denied | ConsentState::Withdrawn, Some(_)) => {
                Err(bad(format!("only a grant can expire, not a {} state", self.change.state.name())))
            }
            _ => Ok(()),
        }
    }

    /// The change as JSON: purpose, state, source, expiry.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "purpose": self.purpose,
            "state": self.change.state.name(),
            "source": self.change.source,
            "expires_at": self.change.expires_at.map(Timestamp::to_rfc3339),
            "given_at": self.change.given_at.map(Timestamp::to_rfc3339),
        })
    }

    /// One line: `consent marketing_email granted (form, until …, given …)`.
    pub fn summary(&self) -> String {
        let until = self.change.expires_at.map(|e| format!(", until {}", e.to_rfc3339())).unwrap_or_default();
        let given = self.change.given_at.map(|g| format!(", given {}", g.to_rfc3339())).unwrap_or_default();
        format!("consent {} {} ({}{until}{given})", self.purpose, self.change.state.name(), self.change.source)
    }

    /// Applies the change, recorded by a delta at `at`, to `consent`; false
    /// when it was given before the purpose's recorded state, which it
    /// then leaves as it is. A time given after `at` counts as `at` (an
    /// event's time may run ahead of the clock; consent is not given in
    /// the future). Without a given time the change always applies: the
    /// caller states it now (and every delta of formats 1–6 replays as
    /// it was written).
    pub(crate) fn apply(&self, consent: &mut Consents, at: Timestamp) -> bool {
        let c = &self.change;
        let given = c.given_at.map_or(at, |g| g.min(at));
        if c.given_at.is_some() && consent.get(&self.purpose).is_some_and(|r| r.at > given) {
            return false;
        }
        let rec = ConsentRecord { state: c.state, source: c.source.clone(), at: given, expires_at: c.expires_at };
        consent.insert(self.purpose.clone(), rec);
        true
    }
}

/// Folds the loser's consent into the survivor's when profiles merge: per
/// purpose, the most restrictive wins. Denied or withdrawn beats granted;
/// between two grants the earliest expiry wins (no expiry is the latest);
/// between two refusals the later one is kept. A purpose recorded on one
/// side only is kept. Ties keep the survivor's.
pub fn merge_consents(survivor: &Consents, loser: &Consents) -> Consents {
    let mut out = survivor.clone();
    for (purpose, theirs) in loser {
        let keep_theirs = match out.get(purpose) {
            None => true,
            Some(ours) => more_restrictive(theirs, ours),
        };
        if keep_theirs {
            out.insert(purpose.clone(), theirs.clone());
        }
    }
    out
}

/// Whether `a` is strictly more restrictive than `b`.
fn more_restrictive(a: &ConsentRecord, b: &ConsentRecord) -> bool {
    let granted = |r: &ConsentRecord| r.state == ConsentState::Granted;
    match (granted(a), granted(b)) {
        (false, true) => true,
        (true, false) => false,
        (false, false) => a.at > b.at,
        (true, true) => match (a.expires_at, b.expires_at) {
            (Some(x), Some(y)) => x < y,
            (Some(_), None) => true,
            (None, _) => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(state: ConsentState, at: i64, expires: Option<i64>) -> ConsentRecord {
        ConsentRecord { state, source: "t".into(), at: Timestamp(at), expires_at: expires.map(Timestamp) }
    }

    #[test]
    fn the_most_restrictive_state_wins_a_merge() {
        use ConsentState::*;
        let s: Consents = [
            ("a".to_string(), rec(Granted, 1, None)),
            ("b".to_string(), rec(Denied, 1, None)),
            ("c".to_string(), rec(Granted, 1, Some(50))),
            ("d".to_string(), rec(Granted, 1, Some(10))),
            ("only_s".to_string(), rec(Granted, 1, None)),
        ]
        .into();
        let l: Consents = [
            ("a".to_string(), rec(Withdrawn, 5, None)),
            ("b".to_string(), rec(Granted, 9, None)),
            ("c".to_string(), rec(Granted, 1, Some(20))),
            ("d".to_string(), rec(Granted, 1, None)),
            ("only_l".to_string(), rec(Denied, 1, None)),
        ]
        .into();
        let m = merge_consents(&s, &l);
        assert_eq!(m["a"].state, Withdrawn);
        assert_eq!(m["b"].state, Denied);
        assert_eq!(m["c"].expires_at, Some(Timestamp(20)));
        assert_eq!(m["d"].expires_at, Some(Timestamp(10)));
        assert_eq!(m["only_s"].state, Granted);
        assert_eq!(m["only_l"].state, Denied);
    }

    #[test]
    fn an_expired_grant_does_not_allow() {
        let r = rec(ConsentState::Granted, 0, Some(100));
        assert_eq!(r.status_at(Timestamp(99)), ConsentStatus::Granted);
        assert_eq!(r.status_at(Timestamp(100)), ConsentStatus::Expired);
        assert!(!r.status_at(Timestamp(100)).allows());
    }

    #[test]
    fn bad_changes_are_refused() {
        let now = Timestamp(1_000);
        let op = |purpose: &str, change: ConsentChange| ConsentOp { purpose: purpose.into(), change };
        assert!(op("marketing_email", ConsentChange::granted("form")).validate(now).is_ok());
        assert!(op("Marketing", ConsentChange::granted("form")).validate(now).is_err());
        assert!(op("", ConsentChange::granted("form")).validate(now).is_err());
        assert!(op("x", ConsentChange::granted("")).validate(now).is_err());
        assert!(op("x", ConsentChange::granted_until("f", Timestamp(1_000))).validate(now).is_err());
        let mut denied = ConsentChange::denied("f");
        denied.expires_at = Some(Timestamp(5_000));
        assert!(op("x", denied).validate(now).is_err());
    }
}
