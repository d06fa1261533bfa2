//! Whether the stored events use a name: so that a definition naming an
//! event or property that never occurred (most often a misspelling) can be
//! caught before it is stored.

use crate::error::Result;
use crate::schema;

use super::ProfileDb;

/// An event name, and optionally a property of it (a dotted path), that
/// [`ProfileDb::stored_events_match`] looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRef<'a> {
    /// The event name (`purchase`, `identify`).
    pub name: &'a str,
    /// A property path the event must have (`amount`, `product.price`).
    pub property: Option<&'a str>,
}

impl ProfileDb {
    /// Which of `wanted` some stored event matches, in order: an
    /// [`EventRef`] without a property is matched by any stored event of
    /// that name, one with a property by such an event that has a value at
    /// that path. One scan of the stored events, which stops as soon as
    /// every one is matched (so a name that never occurred reads them
    /// all). Events trimmed by timeline retention, or never stored, are
    /// not seen. Works on read-only and secondary handles.
    ///
    /// ```
    /// use profiledb::{event::{Event, EventKind}, EventRef, Identifier, ProfileDb, Timestamp};
    /// let dir = tempfile::tempdir()?;
    /// let db = ProfileDb::open(dir.path())?;
    /// let ann: Identifier = "email:ann@example.com".parse()?;
    /// let mut e = Event::new(EventKind::Track, "purchase", db.now(), vec![ann]);
    /// e.properties.insert("amount", 30.0);
    /// db.track(&e)?;
    /// let seen = db.stored_events_match(&[
    ///     EventRef { name: "purchase", property: Some("amount") },
    ///     EventRef { name: "purchase", property: Some("amuont") },
    ///     EventRef { name: "purhcase", property: None },
    /// ])?;
    /// assert_eq!(seen, [true, false, false]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stored_events_match(&self, wanted: &[EventRef<'_>]) -> Result<Vec<bool>> {
        let mut seen = vec![false; wanted.len()];
        if wanted.is_empty() {
            return Ok(seen);
        }
        let view = self.core.store.snapshot();
        for kv in view.range(schema::EVENTS.name, &[], None)? {
            let (k, v) = kv?;
            let event = schema::EVENTS.decode(&k, &v)?;
            for (w, s) in wanted.iter().zip(seen.iter_mut()) {
                *s = *s || (w.name == event.name && w.property.is_none_or(|p| event.properties.get_path(p).is_some()));
            }
            if seen.iter().all(|s| *s) {
                break;
            }
        }
        Ok(seen)
    }
}
