//! Redacting an erased person out of the histories of the profiles that
//! remain: the rules erase applies to every other profile's delta log.
//!
//! An erased person (the erased profile and the ids merged into it) can
//! appear in another profile's log in three ways:
//!
//! - **identifiers**: `via`, `linked` and `unlinked` lists name the erased
//!   identifiers (an identify whose email was refused by a limit, a merge
//!   that moved them, an unmerge that sent them back). They are removed
//!   from the lists; the delta stays. Its trait operators that wrote an
//!   erased identifier's value (Segment's `traits.email` is both an
//!   identifier and a trait) are removed and the log replayed without them;
//!   a write that came only through erased identifiers loses its event's
//!   message id.
//! - **a merge window**: the erased profile merged into this one and was
//!   split off again. Between the `Merge` and its `Unmerge` every state of
//!   the log held the erased person's traits and consent. The `Merge` keeps
//!   its loser id but its `loser_state` becomes the *redacted marker*
//!   (version 0, times 0, no traits, no consent, floors 0: a real state is
//!   never at version 0), and every state of the window is recomputed
//!   without the erased person: the merge's `result` is the profile's own
//!   state before it; an update or consent change that came only through
//!   the erased identifiers (or the ones the window's unmerge sent back)
//!   loses its operators (it went to the erased profile); any other one
//!   keeps the operators that still apply to the redacted state (as an
//!   unmerge skips those that no longer apply); a later merge folds into
//!   the redacted state. The `Unmerge` that closes the window recorded the
//!   profile's own state already and is kept. Snapshots in the window are
//!   rewritten to the redacted states, so as-of reads of those versions
//!   return the profile's own state, never the erased person's traits.
//! - **a merge of a profile that held the erased person** (a chain: the
//!   erased profile merged into `S`, `S` into `T`, both split off again):
//!   `T`'s merge of `S` carries `S`'s state with the erased person in it.
//!   The loser state becomes `S`'s redacted state at that version, and the
//!   window is recomputed as above (updates that came only through erased
//!   identifiers lose their operators; `S`'s own stay).
//!
//! A state that an unmerge or split *inside* a window recorded (a nested
//! merge of someone else undone while the erased person was still merged
//! in) cannot be recomputed from the log alone: it keeps only the trait
//! and consent entries that the recorded state and the redacted state
//! hold alike — never an erased value, at the cost of the profile's own
//! entries the erased person had overwritten.
//!
//! A state recorded by an unmerge or split once no window is open is the
//! profile's own — except when that unmerge fell back on a state recorded
//! earlier (the history of the profile it had been split from was gone,
//! e.g. erased), which may hold the erased person's entries. So every
//! such state is cleaned of the *taint*: the entries of the erased (or
//! redacted-away) merged states, and the entries written by operators
//! that came only through the erased identifiers (same name, same time).
//! A tainted entry takes the redacted state's entry of that name, or goes.
//! A fold that combined both sides (sum, union strategies) is not
//! recognised as taint; an unmerge that replayed normally never records
//! one.
//!
//! When retention folded a window's merge into the history floor (the
//! floor snapshot holds the erased person), a live profile's floor moves up
//! to the window's `Unmerge`: earlier versions become
//! `Error::HistoryTruncated`.
//!
//! Every rewritten log still replays: each delta's replay yields the
//! redacted state, and the live record (after the last window closed) is
//! unchanged.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::identity::identifier::Identifier;
use crate::keys;
use crate::profile::consent::{merge_consents, Consents};
use crate::profile::delta::{Cause, Change, Delta};
use crate::profile::id::ProfileId;
use crate::profile::merge_rules::MergeRules;
use crate::profile::operator::TraitOp;
use crate::profile::state::Profile;
use crate::profile::traits::Traits;
use crate::profile::value::TraitValue;
use crate::schema;

/// Traits and consent: what replay reconstructs.
pub(crate) type State = (Traits, Consents);

/// How deep lookups of other logs' states may nest (each goes to an
/// earlier merge; this bounds a damaged history).
const MAX_DEPTH: usize = 64;

/// Whether a merge delta's loser state is the redacted marker (its loser
/// was erased; it can never be restored by an unmerge).
pub(crate) fn is_redacted_merge(change: &Change) -> bool {
    matches!(change, Change::Merge { loser_state, .. } if loser_state.version == 0)
}

/// The marker that replaces an erased loser's state in a merge delta.
fn redacted_marker(loser: ProfileId) -> Profile {
    Profile {
        id: loser,
        version: 0,
        created_at: Timestamp(0),
        updated_at: Timestamp(0),
        traits: Traits::new(),
        consent: Consents::new(),
    }
}

/// The erased person.
pub(crate) struct Erased<'a> {
    /// The erased profile and every id merged into it.
    pub profiles: &'a BTreeSet<ProfileId>,
    /// The identifiers it had.
    pub identifiers: &'a HashSet<Identifier>,
}

/// A merge of a log, in effect at a point, whose loser was or held the
/// erased person.
#[derive(Clone)]
struct Window {
    loser: ProfileId,
    /// The loser is one of the erased ids (else it held one).
    erased: bool,
    /// The identifiers the unmerge that closes it sent back.
    back: Vec<Identifier>,
}

/// One profile's log being redacted.
pub(crate) struct Log {
    /// Whether the profile is live (it has a record; its floor can move).
    live: bool,
    /// The version of `base` (0: the empty state before version 1).
    base_version: u64,
    base: State,
    /// The retained deltas after `base_version`, as stored.
    deltas: Vec<Delta>,
    /// The redacted deltas, computed so far.
    out: Vec<Delta>,
    /// The redacted state after each of `out`.
    states: Vec<State>,
    /// The state the stored deltas replay to, after the last of `out`.
    stored: State,
    /// Windows open after the last of `out`.
    open: Vec<Window>,
    /// What the erased person put into this log's states so far.
    taint: Taint,
    /// The new history floor and the time of the unmerge there, when the
    /// log started inside a window whose merge retention folded.
    raised_floor: Option<(u64, Timestamp)>,
}

/// What redaction changed in one log.
pub(crate) struct Redacted {
    /// Deltas to rewrite (version → new delta).
    pub deltas: Vec<Delta>,
    /// The state after each retained delta, by version (for snapshots).
    pub states: BTreeMap<u64, State>,
    /// The new history floor and its state, when it moved.
    pub raised_floor: Option<(u64, State, Timestamp)>,
}

impl Log {
    /// A log to redact: the profile's retained deltas, and the state at its
    /// history floor (`floor`, with the floor snapshot's state; `(0, empty)`
    /// when nothing was folded).
    pub(crate) fn new(live: bool, floor: (u64, State), deltas: Vec<Delta>, erased: &Erased<'_>) -> Log {
        let (mut base_version, mut base) = floor;
        let mut deltas = deltas;
        let mut raised_floor = None;
        if live {
            // A window open at the start of the log: its merge was folded
            // into the floor snapshot, which holds the erased person.
            let mut merged: Vec<ProfileId> = Vec::new();
            let mut cut = None;
            for (i, d) in deltas.iter().enumerate() {
                match &d.change {
                    Change::Merge { loser, .. } => merged.push(*loser),
                    Change::Unmerge { split_off, .. } => match merged.iter().rposition(|l| l == split_off) {
                        Some(pos) => {
                            merged.remove(pos);
                        }
                        None if erased.profiles.contains(split_off) => cut = Some(i),
                        None => {}
                    },
                    _ => {}
                }
            }
            if let Some(i) = cut {
                if let Change::Unmerge { result, consent, .. } = &deltas[i].change {
                    base = (result.clone(), consent.clone());
                    base_version = deltas[i].version;
                    raised_floor = Some((base_version, deltas[i].at));
                }
                deltas.drain(..=i);
            }
        }
        Log {
            live,
            base_version,
            stored: base.clone(),
            base,
            deltas,
            out: Vec::new(),
            states: Vec::new(),
            open: Vec::new(),
            taint: Taint::default(),
            raised_floor,
        }
    }

    fn current(&self) -> &State {
        self.states.last().unwrap_or(&self.base)
    }

    /// The identifiers the first unmerge of `loser` after index `from` sent back.
    fn back_of(&self, from: usize, loser: ProfileId) -> Vec<Identifier> {
        self.deltas[from + 1..]
            .iter()
            .find(|d| matches!(d.change, Change::Unmerge { split_off, .. } if split_off == loser))
            .map(|d| d.unlinked.clone())
            .unwrap_or_default()
    }
}

/// Applies `ops` to `traits` at `at`, skipping those that no longer apply
/// (as an unmerge's replay skips them); returns the traits and the
/// operators kept.
fn apply_kept<'o>(
    ops: impl IntoIterator<Item = &'o TraitOp>,
    mut traits: Traits,
    at: Timestamp,
) -> (Traits, Vec<TraitOp>) {
    let mut kept = Vec::new();
    for op in ops {
        let mut next = traits.clone();
        if op.apply(&mut next, at).is_ok() {
            traits = next;
            kept.push(op.clone());
        }
    }
    (traits, kept)
}

/// Whether `s`, read as the kind of one of `idents`, is that identifier
/// (normalized alike: ` Ann@Example.com ` is `email:ann@example.com`).
pub(crate) fn is_identifier_value(s: &str, idents: &HashSet<Identifier>) -> bool {
    idents.iter().any(|i| Identifier::new(i.kind(), s).is_ok_and(|n| n == *i))
}

/// Whether `op` writes the value of one of `idents` (see
/// [`is_identifier_value`]), alone or in a list.
pub(crate) fn writes_identifier(op: &TraitOp, idents: &HashSet<Identifier>) -> bool {
    let is = |s: &str| is_identifier_value(s, idents);
    match op {
        TraitOp::Set { value, .. } | TraitOp::SetOnce { value, .. } => match value {
            TraitValue::Str(s) => is(s),
            TraitValue::Int(n) => is(&n.to_string()),
            TraitValue::List(l) => l.iter().any(|s| is(s)),
            _ => false,
        },
        TraitOp::AddToSet { values, .. } | TraitOp::RemoveFromSet { values, .. } => values.iter().any(|s| is(s)),
        TraitOp::Unset { .. } | TraitOp::Increment { .. } => false,
    }
}

/// Redacts a set of logs together (a merge in one reads another's state).
pub(crate) struct Redactor<'a> {
    erased: Erased<'a>,
    rules: &'a MergeRules,
    logs: BTreeMap<ProfileId, Log>,
}

impl<'a> Redactor<'a> {
    pub(crate) fn new(erased: Erased<'a>, rules: &'a MergeRules) -> Self {
        Redactor { erased, rules, logs: BTreeMap::new() }
    }

    pub(crate) fn erased(&self) -> &Erased<'a> {
        &self.erased
    }

    pub(crate) fn add(&mut self, id: ProfileId, log: Log) {
        self.logs.insert(id, log);
    }

    /// Redacts every log; returns, per profile, what changed.
    pub(crate) fn run(mut self) -> Result<BTreeMap<ProfileId, Redacted>> {
        let ids: Vec<ProfileId> = self.logs.keys().copied().collect();
        for id in &ids {
            while self.logs.get(id).is_some_and(|l| l.states.len() < l.deltas.len()) {
                self.step(*id, 0)?;
            }
        }
        let mut out = BTreeMap::new();
        for (id, log) in self.logs {
            let mut deltas = Vec::new();
            let mut states = BTreeMap::new();
            for ((d, new), state) in log.deltas.iter().zip(log.out).zip(log.states) {
                states.insert(d.version, state);
                if *d != new {
                    deltas.push(new);
                }
            }
            let raised_floor = log.raised_floor.filter(|_| log.live).map(|(v, at)| (v, log.base, at));
            out.insert(id, Redacted { deltas, states, raised_floor });
        }
        Ok(out)
    }

    /// The redacted state of `p` at `version`: `None` when that version is
    /// not in its retained log (or `p`'s log is not being redacted).
    fn state_at(&mut self, p: ProfileId, version: u64, depth: usize) -> Result<Option<State>> {
        loop {
            let Some(log) = self.logs.get(&p) else { return Ok(None) };
            if version < log.base_version {
                return Ok(None);
            }
            let i = (version - log.base_version) as usize;
            if i == 0 {
                return Ok(Some(log.base.clone()));
            }
            if let Some(s) = log.states.get(i - 1) {
                return Ok(Some(s.clone()));
            }
            if log.states.len() >= log.deltas.len() {
                return Ok(None);
            }
            if depth > MAX_DEPTH {
                return Err(Error::invalid(format!(
                    "erase: profile {p}: more than {MAX_DEPTH} nested merges to follow while redacting history"
                )));
            }
            self.step(p, depth + 1)?;
        }
    }

    /// Redacts the next delta of `p`'s log.
    fn step(&mut self, p: ProfileId, depth: usize) -> Result<()> {
        let (i, d, cur, stored, mut open, mut taint) = {
            let Some(log) = self.logs.get(&p) else { return Ok(()) };
            let i = log.states.len();
            let Some(d) = log.deltas.get(i) else { return Ok(()) };
            (i, d.clone(), log.current().clone(), log.stored.clone(), log.open.clone(), log.taint.clone())
        };
        let corrupt = |e: Error| Error::Corrupt {
            cf: schema::DELTAS.name,
            what: "history",
            key_hex: crate::error::hex_prefix(&keys::versioned(p, d.version)),
            reason: format!("erase could not replay it: {e}"),
        };
        let stored_next = d.replay(&stored.0, &stored.1).map_err(corrupt)?;
        let same = cur == stored;
        let idents = self.erased.identifiers;
        let mut out = d.clone();
        out.via.retain(|x| !idents.contains(x));
        out.linked.retain(|x| !idents.contains(x));
        out.unlinked.retain(|x| !idents.contains(x));
        let gave_away = !open.is_empty()
            && !d.via.is_empty()
            && d.via.iter().all(|v| idents.contains(v) || open.iter().any(|w| w.erased && w.back.contains(v)));
        let named = d.via.iter().any(|v| idents.contains(v));
        // A write that came only through the person's identifiers was
        // theirs: its event's message id goes with them (erase deletes
        // their dedup entries for the same reason).
        if gave_away || (!d.via.is_empty() && d.via.iter().all(|v| idents.contains(v))) {
            if let Cause::Event { message_id, .. } = &mut out.cause {
                *message_id = None;
            }
        }
        let next: State = match &d.change {
            Change::Update(ops) if gave_away => {
                taint.ops.extend(ops.iter().map(|op| (op.name().to_owned(), d.at)));
                out.change = Change::Update(Vec::new());
                cur
            }
            Change::Consent(ops) if gave_away => {
                taint.ops.extend(ops.iter().map(|op| (op.purpose.clone(), d.at)));
                out.change = Change::Consent(Vec::new());
                cur
            }
            // A write that named the person's identifiers beside the
            // profile's own (an identify whose email a limit refused): the
            // operators that wrote an identifier's value as a trait
            // (Segment's `traits.email`) held the person's data.
            Change::Update(ops) if named && ops.iter().any(|op| writes_identifier(op, idents)) => {
                let (mine, theirs): (Vec<&TraitOp>, Vec<&TraitOp>) =
                    ops.iter().partition(|op| !writes_identifier(op, idents));
                taint.ops.extend(theirs.iter().map(|op| (op.name().to_owned(), d.at)));
                let (traits, kept) = apply_kept(mine, cur.0, d.at);
                out.change = Change::Update(kept);
                (traits, cur.1)
            }
            Change::Update(_) | Change::Consent(_) if same && open.is_empty() => stored_next.clone(),
            Change::Update(ops) => {
                let (traits, kept) = apply_kept(ops.iter(), cur.0, d.at);
                out.change = Change::Update(kept);
                (traits, cur.1)
            }
            Change::Consent(ops) => {
                let mut consent = cur.1;
                for op in ops {
                    op.apply(&mut consent, d.at);
                }
                (cur.0, consent)
            }
            Change::Merge { loser, loser_state, .. } if self.erased.profiles.contains(loser) => {
                taint.add_state(&loser_state.traits, &loser_state.consent, None);
                open.push(Window { loser: *loser, erased: true, back: self.back_of(p, i, *loser) });
                out.change = Change::Merge {
                    loser: *loser,
                    loser_state: redacted_marker(*loser),
                    loser_history_floor: 0,
                    loser_last_snapshot: 0,
                    result: cur.0.clone(),
                    consent: cur.1.clone(),
                };
                cur
            }
            Change::Merge { loser, loser_state, loser_history_floor, loser_last_snapshot, .. } => {
                let theirs = (loser_state.traits.clone(), loser_state.consent.clone());
                let redacted = self.state_at(*loser, loser_state.version, depth + 1)?.unwrap_or(theirs.clone());
                let tainted = redacted != theirs;
                if tainted {
                    taint.add_state(&theirs.0, &theirs.1, Some(&redacted));
                    open.push(Window { loser: *loser, erased: false, back: self.back_of(p, i, *loser) });
                }
                if same && !tainted {
                    stored_next.clone()
                } else {
                    let result = self.rules.fold(&cur.0, &redacted.0)?;
                    let consent = merge_consents(&cur.1, &redacted.1);
                    let mut state = loser_state.clone();
                    (state.traits, state.consent) = redacted;
                    out.change = Change::Merge {
                        loser: *loser,
                        loser_state: state,
                        loser_history_floor: *loser_history_floor,
                        loser_last_snapshot: *loser_last_snapshot,
                        result: result.clone(),
                        consent: consent.clone(),
                    };
                    (result, consent)
                }
            }
            Change::Unmerge { split_off, .. } => {
                if let Some(pos) = open.iter().rposition(|w| w.loser == *split_off) {
                    open.remove(pos);
                }
                // Once no window is open the state it recorded is the
                // profile's own — but for what the erased person put in
                // it (an unmerge that fell back on a recorded state).
                self.settle(&mut out, open.is_empty() || same, &taint, &stored_next, &cur)
            }
            Change::SplitFrom { .. } => self.settle(&mut out, open.is_empty() || same, &taint, &stored_next, &cur),
        };
        if let Some(log) = self.logs.get_mut(&p) {
            log.out.push(out);
            log.states.push(next);
            log.stored = stored_next;
            log.open = open;
            log.taint = taint;
        }
        Ok(())
    }

    /// The state after an unmerge or a split, recorded in `out`: once no
    /// merge window is open (`closed`), the stored one stripped of what the
    /// erased person put in it; else what it shares with the running state.
    fn settle(&self, out: &mut Delta, closed: bool, taint: &Taint, stored_next: &State, cur: &State) -> State {
        let next = if closed { taint.strip(stored_next.clone(), cur) } else { common(stored_next, cur) };
        self.set_change(out, stored_next, &next);
        next
    }

    /// Makes the recorded state of a merge, unmerge or split in `out` be
    /// `next` when it differs from what was stored (`stored`).
    fn set_change(&self, out: &mut Delta, stored: &State, next: &State) {
        if stored == next {
            return;
        }
        let (t, c) = (next.0.clone(), next.1.clone());
        match &mut out.change {
            Change::Merge { result, consent, .. }
            | Change::Unmerge { result, consent, .. }
            | Change::SplitFrom { result, consent, .. } => {
                *result = t;
                *consent = c;
            }
            // An update or consent change replays onto the (redacted)
            // state before it, which already differs where this differs.
            Change::Update(_) | Change::Consent(_) => {}
        }
    }

    fn back_of(&self, p: ProfileId, from: usize, loser: ProfileId) -> Vec<Identifier> {
        self.logs.get(&p).map(|l| l.back_of(from, loser)).unwrap_or_default()
    }
}

/// What the erased person put into a log's states: entries of its merged
/// states, and the names its operators wrote at their delta's time. A
/// state recorded by an unmerge or split is cleaned of these before it is
/// taken as the profile's own.
#[derive(Clone, Default)]
struct Taint {
    traits: Vec<(String, crate::profile::traits::TraitEntry)>,
    consent: Vec<(String, crate::profile::consent::ConsentRecord)>,
    /// (trait name or consent purpose, the time its operator ran).
    ops: Vec<(String, Timestamp)>,
}

impl Taint {
    /// Adds the entries of `traits` and `consent` (those not in `except`).
    fn add_state(&mut self, traits: &Traits, consent: &Consents, except: Option<&State>) {
        for (name, entry) in traits.iter() {
            if except.is_none_or(|s| s.0.entry(name) != Some(entry)) {
                self.traits.push((name.to_owned(), entry.clone()));
            }
        }
        for (purpose, record) in consent {
            if except.is_none_or(|s| s.1.get(purpose) != Some(record)) {
                self.consent.push((purpose.clone(), record.clone()));
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.traits.is_empty() && self.consent.is_empty() && self.ops.is_empty()
    }

    fn trait_tainted(&self, name: &str, e: &crate::profile::traits::TraitEntry) -> bool {
        self.traits.iter().any(|(n, t)| n == name && t == e)
            || self.ops.iter().any(|(n, at)| n == name && *at == e.updated_at)
    }

    fn consent_tainted(&self, purpose: &str, r: &crate::profile::consent::ConsentRecord) -> bool {
        self.consent.iter().any(|(n, c)| n == purpose && c == r)
            || self.ops.iter().any(|(n, at)| n == purpose && *at == r.at)
    }

    /// `state` with every tainted entry replaced by `own`'s entry of that
    /// name (when that one is clean) or removed.
    fn strip(&self, state: State, own: &State) -> State {
        if self.is_empty() {
            return state;
        }
        let (traits, mut consent) = state;
        let mut clean = Traits::new();
        for (name, entry) in traits.iter() {
            if !self.trait_tainted(name, entry) {
                clean.insert_entry(name, entry.clone());
            } else if let Some(o) = own.0.entry(name).filter(|o| !self.trait_tainted(name, o)) {
                clean.insert_entry(name, o.clone());
            }
        }
        let purposes: Vec<String> = consent.keys().cloned().collect();
        for purpose in purposes {
            if consent.get(&purpose).is_some_and(|r| self.consent_tainted(&purpose, r)) {
                match own.1.get(&purpose).filter(|o| !self.consent_tainted(&purpose, o)) {
                    Some(o) => consent.insert(purpose, o.clone()),
                    None => consent.remove(&purpose),
                };
            }
        }
        (clean, consent)
    }
}

/// The trait and consent entries `a` and `b` hold alike.
fn common(a: &State, b: &State) -> State {
    let mut traits = Traits::new();
    for (name, entry) in a.0.iter() {
        if b.0.entry(name) == Some(entry) {
            traits.insert_entry(name, entry.clone());
        }
    }
    let consent = a.1.iter().filter(|(k, v)| b.1.get(*k) == Some(*v)).map(|(k, v)| (k.clone(), v.clone())).collect();
    (traits, consent)
}
