//! A [`ProfileCtx`] reads each bucket-backed answer once: segments of
//! one maintenance pass asking the same window of the same series, or the
//! next event after now, share the first read.

use std::cell::Cell;
use std::sync::Arc;

use crate::clock::Timestamp;
use crate::error::Result;
use crate::event::{Event, EventKind};
use crate::identity::identifier::Identifier;
use crate::profile::id::ProfileId;
use crate::profile::state::Profile;
use crate::rollup::range::BucketSource;
use crate::rollup::Acc;
use crate::segment::context::{ProfileCtx, Source};
use crate::segment::{evaluate, parse, PropertyFilter};

const DAY: i64 = Timestamp::DAY;
const NOW: i64 = 20_000 * DAY + 13 * 3_600_000;

/// One series (`purchase`, id 0) of three events, counting its reads.
#[derive(Default)]
struct Counting {
    all_time: Cell<u32>,
    days: Cell<u32>,
}

fn events() -> Vec<Event> {
    [NOW - 40 * DAY, NOW - 3 * DAY, NOW - DAY]
        .iter()
        .map(|t| Event::new(EventKind::Track, "purchase", Timestamp(*t), Vec::new()))
        .collect()
}

impl BucketSource for Counting {
    fn all_time(&self, _: ProfileId, _: u32, _: bool) -> Result<Acc> {
        self.all_time.set(self.all_time.get() + 1);
        let mut acc = Acc::default();
        events().iter().for_each(|e| acc.fold(&Acc::of_event(e, None)));
        Ok(acc)
    }
    fn days(&self, _: ProfileId, _: u32, from: i64, to: i64) -> Result<Vec<(i64, Acc)>> {
        self.days.set(self.days.get() + 1);
        let held = events().into_iter().filter(|e| (from..=to).contains(&e.timestamp.day()));
        Ok(held.map(|e| (e.timestamp.day(), Acc::of_event(&e, None))).collect())
    }
    fn events(&self, _: ProfileId, _: &str, from: Timestamp, to: Timestamp) -> Result<Vec<Event>> {
        Ok(events().into_iter().filter(|e| e.timestamp >= from && e.timestamp < to).collect())
    }
    fn retired(&self, _: ProfileId, _: u32, _: bool) -> Result<Acc> {
        Ok(Acc::default())
    }
    fn timeline_floor(&self, _: ProfileId) -> i64 {
        i64::MIN
    }
    fn bucket_floor_day(&self) -> i64 {
        i64::MIN
    }
}

impl Source for Counting {
    fn profile(&self, _: ProfileId) -> Result<Option<Arc<Profile>>> {
        Ok(None)
    }
    fn identifiers(&self, _: ProfileId) -> Result<Vec<Identifier>> {
        Ok(Vec::new())
    }
    fn member(&self, _: &str, _: ProfileId) -> bool {
        false
    }
    fn series(&self, event: &str, property: Option<&str>, filter: &[PropertyFilter]) -> Option<u32> {
        (event == "purchase" && property.is_none() && filter.is_empty()).then_some(0)
    }
    fn timeline_kept(&self) -> bool {
        true
    }
}

#[test]
fn segments_asking_the_same_window_of_a_series_share_one_read() {
    let src = Counting::default();
    let ctx = ProfileCtx::new(&src, ProfileId(1), Timestamp(NOW)).unwrap();
    let (a, b) = (parse("count(purchase, 30d) >= 3").unwrap(), parse("count(purchase, 30d) = 2").unwrap());
    assert!(!evaluate(&a, &ctx).value);
    let (all_time, days) = (src.all_time.get(), src.days.get());
    assert_eq!((all_time, days), (1, 1));
    // The same window and the next purchase after now again: no read.
    assert!(evaluate(&b, &ctx).value);
    assert_eq!((src.all_time.get(), src.days.get()), (all_time, days));
    // Another window reads its days.
    assert!(evaluate(&parse("count(purchase, 7d) = 2").unwrap(), &ctx).value);
    assert_eq!(src.days.get(), days + 1);
    ctx.finish().unwrap();
}
