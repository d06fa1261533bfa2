//! Live change-feed subscriptions ([`ProfileDb::subscribe`](crate::ProfileDb::subscribe)):
//! the [`FeedReceiver`] an application holds and the list of senders the
//! writer publishes committed records to.
//!
//! Each sender keeps a weak reference to a token its receiver (and every
//! clone of it) holds, so a dropped subscription is seen without sending
//! anything: the list drops such senders whenever a record is published
//! *and* whenever a subscription registers. A service that subscribes per
//! client connection on a database whose writes produce no feed records
//! keeps at most its live subscriptions plus those dropped since the last
//! `subscribe` call.

use std::ops::Deref;
use std::sync::{Arc, Weak};

use crossbeam::channel::{Receiver, Sender};
use parking_lot::Mutex;

use crate::segment::FeedRecord;

/// The receiving end of a change-feed subscription
/// ([`ProfileDb::subscribe`](crate::ProfileDb::subscribe)): a
/// `crossbeam_channel::Receiver` of [`FeedRecord`]s, unbounded, which this
/// type dereferences to — its methods (`recv`, `try_recv`, `recv_timeout`,
/// `iter`, `try_iter`, `len`) are crossbeam's, and
/// [`receiver`](Self::receiver) gives the channel itself (for
/// `crossbeam_channel::select!`). No `crossbeam` dependency is needed to
/// store it.
///
/// The subscription lasts while this value or a clone of it lives; dropping
/// them all unsubscribes. A `crossbeam_channel::Receiver` cloned out of it
/// (`(*rx).clone()`) does not keep the subscription: once every
/// `FeedReceiver` is gone it stops receiving records and then reports
/// `Disconnected`.
#[derive(Clone, Debug)]
pub struct FeedReceiver {
    rx: Receiver<FeedRecord>,
    /// Held while the subscription lives: the sender's [`Subscriber::alive`]
    /// sees it go.
    alive: Arc<()>,
}

impl FeedReceiver {
    /// The channel itself, e.g. for `crossbeam_channel::select!`.
    pub fn receiver(&self) -> &Receiver<FeedRecord> {
        &self.rx
    }
}

impl Deref for FeedReceiver {
    type Target = Receiver<FeedRecord>;

    fn deref(&self) -> &Receiver<FeedRecord> {
        &self.rx
    }
}

impl<'a> IntoIterator for &'a FeedReceiver {
    type Item = FeedRecord;
    type IntoIter = crossbeam::channel::Iter<'a, FeedRecord>;

    /// Blocks for each record, as `Receiver::iter`.
    fn into_iter(self) -> Self::IntoIter {
        self.rx.iter()
    }
}

impl IntoIterator for FeedReceiver {
    type Item = FeedRecord;
    type IntoIter = FeedIntoIter;

    /// Blocks for each record, as `Receiver::into_iter`; the subscription
    /// lasts as long as the iterator.
    fn into_iter(self) -> FeedIntoIter {
        FeedIntoIter { records: self.rx.into_iter(), _alive: self.alive }
    }
}

/// The owning iterator of a [`FeedReceiver`]: blocks for each record and
/// ends when the database closes.
#[derive(Debug)]
pub struct FeedIntoIter {
    records: crossbeam::channel::IntoIter<FeedRecord>,
    _alive: Arc<()>,
}

impl Iterator for FeedIntoIter {
    type Item = FeedRecord;

    fn next(&mut self) -> Option<FeedRecord> {
        self.records.next()
    }
}

/// The sending end of one subscription.
pub(crate) struct Subscriber {
    tx: Sender<FeedRecord>,
    /// Gone once every [`FeedReceiver`] of the subscription dropped.
    alive: Weak<()>,
}

impl Subscriber {
    fn is_alive(&self) -> bool {
        self.alive.strong_count() > 0
    }
}

/// Registers a new subscription, first dropping the senders of
/// subscriptions whose receivers are gone.
pub(crate) fn subscribe(list: &Mutex<Vec<Subscriber>>) -> FeedReceiver {
    let (tx, rx) = crossbeam::channel::unbounded();
    let alive = Arc::new(());
    let mut subs = list.lock();
    subs.retain(Subscriber::is_alive);
    subs.push(Subscriber { tx, alive: Arc::downgrade(&alive) });
    FeedReceiver { rx, alive }
}

/// Sends committed feed records to every live subscriber, dropping those
/// whose receivers are gone.
pub(crate) fn publish(list: &Mutex<Vec<Subscriber>>, records: &[FeedRecord]) {
    let mut subs = list.lock();
    subs.retain(|s| s.is_alive() && records.iter().all(|r| s.tx.send(r.clone()).is_ok()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_subscriptions_are_forgotten_at_the_next_subscribe_without_any_record() {
        let list = Mutex::new(Vec::new());
        for _ in 0..1_000 {
            drop(subscribe(&list));
        }
        assert_eq!(list.lock().len(), 1, "only the last dropped one is still listed");
        let kept = subscribe(&list);
        let clone = kept.clone();
        drop(kept);
        drop(subscribe(&list));
        assert_eq!(list.lock().len(), 2, "a clone keeps the subscription");
        drop(clone);
        let live = subscribe(&list);
        assert_eq!(list.lock().len(), 1);
        publish(&list, &[]);
        assert_eq!(list.lock().len(), 1, "a live subscription stays");
        drop(live);
        publish(&list, &[]);
        assert!(list.lock().is_empty(), "publishing (even nothing) forgets dropped ones");
    }
}
