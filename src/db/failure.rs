//! [`ProfileFailure`]: a profile that a tick or a retention pass could not
//! process, reported while the rest went on.

use std::fmt;

use crate::error::Error;
use crate::profile::id::ProfileId;

/// A profile that a [`tick`](crate::ProfileDb::tick) or a retention pass
/// could not process: evaluating one of its segments failed (the error
/// names the segment), so what needed it — a due wake-up, a timeline trim,
/// a bucket fold — was left undone for that profile alone and is retried
/// by the next tick or pass. Nothing of it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProfileFailure {
    /// The profile.
    pub profile: ProfileId,
    /// What was left undone: `wake-up` or `retention`.
    pub work: &'static str,
    /// Why (the error's message).
    pub error: String,
}

impl ProfileFailure {
    pub(crate) fn new(profile: ProfileId, work: &'static str, error: &Error) -> Self {
        ProfileFailure { profile, work, error: error.to_string() }
    }
}

impl fmt::Display for ProfileFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of profile {} left for the next try: {}", self.work, self.profile, self.error)
    }
}
