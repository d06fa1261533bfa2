//! What `ingest_batch` did: counts, and one outcome per event.

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::identity::stitch::Ignored;
use crate::profile::id::ProfileId;

use super::ingest::IngestOutcome;

/// What a batch ingest did: counts, the rejected events with their errors,
/// and what became of each event ([`outcomes`](Self::outcomes), in batch
/// order).
///
/// A batch with rejected events is still `Ok` (the valid ones committed,
/// or, `strict`, none did): [`is_complete`](Self::is_complete) tells, and
/// [`into_result`](Self::into_result) turns a refused event into an error
/// for `?`.
///
/// ```
/// use profiledb::event::{Event, EventKind};
/// use profiledb::{EventOutcome, Identifier, ProfileDb};
/// let dir = tempfile::tempdir()?;
/// let db = ProfileDb::open(dir.path())?;
/// let ann: Identifier = "email:ann@example.com".parse()?;
/// let mut buy = Event::new(EventKind::Track, "purchase", db.now(), vec![ann.clone()]);
/// buy.message_id = Some("m-1".into());
/// let nobody = Event::new(EventKind::Track, "page_view", db.now(), vec![]); // no identifier
/// let report = db.ingest_batch(&[buy.clone(), buy, nobody], false)?;
/// let ann_id = db.resolve(&ann)?.expect("ann has a profile");
/// // Per event, in batch order: which profile it reached, or why not.
/// assert!(matches!(report.outcomes[0], EventOutcome::Applied { profile, created: true, .. } if profile == ann_id));
/// assert!(matches!(report.outcomes[1], EventOutcome::Duplicate { profile, .. } if profile == ann_id));
/// assert!(matches!(report.outcomes[2], EventOutcome::Rejected { error: 0 }));
/// assert!(report.error_at(2).is_some_and(|e| e.to_string().contains("identifier")));
/// // The existing counts are unchanged.
/// assert_eq!((report.applied, report.duplicates, report.rejected.len()), (1, 1, 1));
/// // A refused event as an error, naming its position.
/// assert!(!report.is_complete());
/// let err = report.into_result().unwrap_err();
/// assert!(err.to_string().starts_with("event 2 of the batch was rejected"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Events applied.
    pub applied: u64,
    /// Duplicates acknowledged without change.
    pub duplicates: u64,
    /// Events carrying an erased identifier, acknowledged and not stored
    /// ([`SuppressionPolicy::Drop`](crate::privacy::SuppressionPolicy::Drop)).
    pub dropped: u64,
    /// Rejected events: their position in the batch and why, in batch
    /// order. Nothing of a rejected event was written.
    pub rejected: Vec<(usize, Error)>,
    /// Identifiers of applied events that were not linked, with the
    /// event's position and why ([`Ignored`]: blocklisted values, links a
    /// kind's limit refused, lower-priority identifiers that gave way,
    /// detached ones), in batch order.
    pub ignored: Vec<(usize, Identifier, Ignored)>,
    /// Profiles the applied events created
    /// ([`WriteReceipt::created`](crate::WriteReceipt::created)).
    pub created: u64,
    /// Profiles the applied events merged into others (the sum of
    /// [`WriteReceipt::merged`](crate::WriteReceipt::merged): stitching,
    /// alias events).
    pub merged: u64,
    /// What became of each event, one per event of the batch, in batch
    /// order (`outcomes[i]` is the event at position `i`).
    pub outcomes: Vec<EventOutcome>,
}

/// What became of one event of a batch ([`BatchReport::outcomes`]). The
/// same as [`track`](crate::ProfileDb::track) gives for the event alone
/// ([`IngestOutcome`]), without the identifier lists of its receipt, plus
/// the two ways a batch leaves an event out.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventOutcome {
    /// The event was applied to `profile` (counted in
    /// [`BatchReport::applied`]).
    #[non_exhaustive]
    Applied {
        /// The live profile the event was applied to (what
        /// [`resolve`](crate::ProfileDb::resolve) gives for its identifiers
        /// right after it, unless a later event merged it away).
        profile: ProfileId,
        /// The profile's version after the event.
        version: u64,
        /// Whether the event created the profile.
        created: bool,
        /// Profiles the event merged into `profile` (stitching, an alias
        /// event), as [`WriteReceipt::merged`](crate::WriteReceipt::merged).
        merged: Vec<ProfileId>,
    },
    /// Its message id was seen within the dedup horizon: acknowledged,
    /// nothing changed (counted in [`BatchReport::duplicates`]).
    #[non_exhaustive]
    Duplicate {
        /// When the first copy was accepted (for a copy earlier in the same
        /// batch, the batch's ingest time).
        first_seen: Timestamp,
        /// The profile the first copy was applied to, as it was then: it
        /// may have merged into another since
        /// ([`resolve_id`](crate::ProfileDb::resolve_id) gives the live
        /// one).
        profile: ProfileId,
    },
    /// It carried an erased identifier and the suppression policy is
    /// [`Drop`](crate::privacy::SuppressionPolicy::Drop): acknowledged,
    /// nothing stored (counted in [`BatchReport::dropped`]).
    Dropped,
    /// It was rejected and wrote nothing: why is
    /// `rejected[error].1` ([`BatchReport::error_at`]).
    Rejected {
        /// Its entry in [`BatchReport::rejected`].
        error: usize,
    },
    /// A `strict` batch was refused as a whole for another event's sake:
    /// this one is valid as far as the batch got, and nothing of it was
    /// written. Send it again (without the rejected events). A batch that
    /// is not strict leaves no event `NotApplied`.
    NotApplied,
}

impl EventOutcome {
    /// The profile the event reached: the one it was applied to, or the
    /// one its first copy was (a duplicate). `None` for an event dropped,
    /// rejected or not applied.
    pub fn profile(&self) -> Option<ProfileId> {
        match self {
            EventOutcome::Applied { profile, .. } | EventOutcome::Duplicate { profile, .. } => Some(*profile),
            _ => None,
        }
    }

    /// The event's outcome from what applying it gave, and the identifiers
    /// its receipt did not link (for [`BatchReport::ignored`]).
    pub(crate) fn of(outcome: IngestOutcome) -> (EventOutcome, Vec<(Identifier, Ignored)>) {
        match outcome {
            IngestOutcome::Applied(r) => {
                let o = EventOutcome::Applied {
                    profile: r.profile,
                    version: r.version,
                    created: r.created,
                    merged: r.merged,
                };
                (o, r.ignored)
            }
            IngestOutcome::Duplicate { first_seen, profile } => {
                (EventOutcome::Duplicate { first_seen, profile }, Vec::new())
            }
            IngestOutcome::Dropped => (EventOutcome::Dropped, Vec::new()),
        }
    }
}

/// What `track` gave, as a batch reports it (the receipt's identifier
/// lists left out).
impl From<IngestOutcome> for EventOutcome {
    fn from(outcome: IngestOutcome) -> Self {
        EventOutcome::of(outcome).0
    }
}

impl BatchReport {
    /// An empty report for a batch of `n` events, each
    /// [`NotApplied`](EventOutcome::NotApplied) until it is.
    pub(crate) fn for_batch(n: usize) -> Self {
        let mut outcomes = Vec::with_capacity(n);
        outcomes.resize(n, EventOutcome::NotApplied);
        BatchReport { outcomes, ..BatchReport::default() }
    }

    /// Sorts the rejected events into batch order and points their
    /// outcomes at them.
    pub(crate) fn finish(mut self) -> Self {
        self.rejected.sort_by_key(|(i, _)| *i);
        for (error, (i, _)) in self.rejected.iter().enumerate() {
            if let Some(slot) = self.outcomes.get_mut(*i) {
                *slot = EventOutcome::Rejected { error };
            }
        }
        self
    }

    /// Whether no event was rejected: every event was applied or
    /// acknowledged (a duplicate, or dropped under the suppression policy).
    pub fn is_complete(&self) -> bool {
        self.rejected.is_empty()
    }

    /// Why the event at `position` was rejected, if it was.
    pub fn error_at(&self, position: usize) -> Option<&Error> {
        match self.outcomes.get(position) {
            Some(EventOutcome::Rejected { error }) => self.rejected.get(*error).map(|(_, e)| e),
            // A report assembled by hand may have no outcomes.
            _ => self.rejected.iter().find(|(i, _)| *i == position).map(|(_, e)| e),
        }
    }

    /// The report, or [`Error::BatchRejected`] if an event was rejected:
    /// naming the first rejected position and carrying its error, with
    /// how many were rejected and applied (0 for a `strict` batch, which
    /// then wrote nothing). The events that were not rejected are
    /// committed all the same (unless `strict`); use the report itself to
    /// know which.
    pub fn into_result(mut self) -> Result<BatchReport> {
        if self.rejected.is_empty() {
            return Ok(self);
        }
        let rejected = self.rejected.len();
        let (position, error) = self.rejected.swap_remove(0);
        Err(Error::BatchRejected { position, rejected, applied: self.applied, source: Box::new(error) })
    }
}
