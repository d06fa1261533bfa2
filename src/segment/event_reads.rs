//! [`EventReads`]: which recorded events can change a segment, computed
//! once per definition.
//!
//! [`Dependencies::events`](super::Dependencies::events) names the events
//! a segment reads; an event of such a name changes nothing the segment
//! reads when every selector of that name in its expression has a filter
//! the event fails (`count(page_view where page = "/pricing", 7d)` and a
//! view of `/docs`): every read through a selector — a rollup series
//! holding exactly its events, or the timeline's events filtered by it —
//! leaves such an event out. Segment maintenance then skips the segment
//! for a write that recorded only such events (see
//! [`crate::segment::maintain`]).

use super::ast::{EventSelector, Expr, PropertyFilter};

/// The selectors a segment reads events through, by event name.
#[derive(Clone, Debug, Default)]
pub(crate) struct EventReads {
    /// Per event name: `None` when some selector reads every event of the
    /// name, else the filters of its selectors (each a conjunction).
    by_name: Vec<(String, Option<Vec<Vec<PropertyFilter>>>)>,
}

impl EventReads {
    /// The selectors `expr` reads events through.
    pub fn of(expr: &Expr) -> Self {
        let mut reads = EventReads::default();
        reads.collect(expr);
        reads
    }

    fn collect(&mut self, e: &Expr) {
        match e {
            Expr::And(items) | Expr::Or(items) => items.iter().for_each(|c| self.collect(c)),
            Expr::Not(inner) => self.collect(inner),
            Expr::Rollup(r) => self.add(&r.events),
            Expr::Seq(s) => {
                self.add(&s.first);
                self.add(&s.then);
            }
            Expr::Trait(_) | Expr::Has(_) | Expr::InSegment(_) | Expr::Consent(_) => {}
        }
    }

    fn add(&mut self, s: &EventSelector) {
        let i = match self.by_name.iter().position(|(n, _)| *n == s.event) {
            Some(i) => i,
            None => {
                self.by_name.push((s.event.clone(), Some(Vec::new())));
                self.by_name.len() - 1
            }
        };
        let entry = &mut self.by_name[i].1;
        match entry {
            Some(filters) if !s.filter.is_empty() => {
                if !filters.contains(&s.filter) {
                    filters.push(s.filter.clone());
                }
            }
            _ => *entry = None,
        }
    }

    /// Whether events named `name` recorded by a write may change what
    /// the segment reads: `recorded_passing(filter)` says whether such an
    /// event passing `filter` may have been recorded (it must answer `true`
    /// unless it knows none was).
    pub fn changed_by(&self, name: &str, recorded_passing: impl Fn(&[PropertyFilter]) -> bool) -> bool {
        match self.by_name.iter().find(|(n, _)| n == name) {
            None => false,
            Some((_, None)) => true,
            Some((_, Some(filters))) => filters.iter().any(|f| recorded_passing(f)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::parse;

    #[test]
    fn an_event_changes_a_segment_only_through_a_selector_whose_filter_it_may_pass() {
        let reads = EventReads::of(&parse(r#"count(page_view where page = "/pricing", 7d) >= 2"#).unwrap());
        assert!(!reads.changed_by("purchase", |_| true));
        assert!(reads.changed_by("page_view", |_| true));
        assert!(!reads.changed_by("page_view", |_| false));
        // One unfiltered selector of the name: every event of it counts.
        let both = r#"count(page_view where page = "/pricing", 7d) >= 2 or count(page_view, 7d) > 9"#;
        assert!(EventReads::of(&parse(both).unwrap()).changed_by("page_view", |_| false));
        // Each filter is asked about.
        let two = r#"count(page_view where page = "/a") >= 1 and seq(page_view where page = "/b", purchase, 1h)"#;
        let reads = EventReads::of(&parse(two).unwrap());
        let asked = std::cell::RefCell::new(Vec::new());
        assert!(!reads.changed_by("page_view", |f| {
            asked.borrow_mut().push(f.to_vec());
            false
        }));
        assert_eq!(asked.borrow().len(), 2);
        assert!(reads.changed_by("purchase", |_| false));
    }
}
