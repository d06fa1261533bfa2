//! Paged timeline reads (`events_page`): pages in either order, joined,
//! are the timeline exactly — equal times included, across writes between
//! pages and across a merge — and bad requests are refused.

use profiledb::event::{Event, EventKind, PropertyValue};
use profiledb::{
    Cause, Error, EventCursor, EventOrder, EventsPage, Identifier, NotFoundKind, ProfileDb, ProfileId, Timestamp,
};

mod common;
use common::{id, open_at};

const NOW: i64 = 1_700_000_000_000;

/// An event of `who` at `at` tagged `i` (property `i`).
fn ev(who: &Identifier, at: i64, i: i64) -> Event {
    Event::new(EventKind::Track, "e", Timestamp(at), vec![who.clone()]).with_property("i", i)
}

fn tag(e: &Event) -> i64 {
    match e.property("i") {
        Some(PropertyValue::Int(i)) => *i,
        other => panic!("event without its tag: {other:?}"),
    }
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// Every page of `request` joined, each page checked to hold at most its
/// limit; `limits` gives each page's limit.
fn read_all(db: &ProfileDb, p: ProfileId, request: EventsPage, mut limit: impl FnMut() -> usize) -> Vec<i64> {
    let mut out = Vec::new();
    let mut after = request.after;
    for _ in 0..10_000 {
        let page = EventsPage { limit: limit(), ..request }.after(after);
        let (events, next) = db.events_page(p, page).expect("events_page");
        assert!(events.len() <= page.limit && (!events.is_empty() || next.is_none()), "{page:?}");
        out.extend(events.iter().map(tag));
        match next {
            Some(c) => after = Some(c),
            None => return out,
        }
    }
    panic!("paging did not end");
}

#[test]
fn pages_in_either_order_join_into_the_sorted_timeline() {
    for seed in 1..=24u64 {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, _clock) = open_at(dir.path(), NOW);
        let who = id(&format!("user_id:{seed}"));
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let n = (xorshift(&mut x) % 400) as i64 + 1;
        // Few distinct times (many equal), or spread over 200 days.
        let spread = [20, 5_000, 200 * Timestamp::DAY][(seed % 3) as usize] as u64;
        let times: Vec<i64> = (0..n).map(|_| NOW - 1 - (xorshift(&mut x) % spread) as i64).collect();
        let events: Vec<Event> = times.iter().enumerate().map(|(i, t)| ev(&who, *t, i as i64)).collect();
        for chunk in events.chunks(50) {
            db.ingest_batch(chunk, true).expect("ingest");
        }
        let p = db.resolve(&who).expect("resolve").expect("profile");
        let mut sorted: Vec<(i64, i64)> = times.iter().enumerate().map(|(i, t)| (*t, i as i64)).collect();
        sorted.sort();
        let full: Vec<i64> = sorted.iter().map(|(_, i)| *i).collect();
        let whole = db.events(p, Timestamp(0), Timestamp(NOW)).expect("events");
        assert_eq!(whole.iter().map(tag).collect::<Vec<_>>(), full, "seed {seed}: events");

        // A random range (sometimes all time), both orders, random page sizes.
        for round in 0..4 {
            let (from, to) = match round {
                0 => (Timestamp(i64::MIN), Timestamp(i64::MAX)),
                _ => {
                    let a = times[(xorshift(&mut x) % n as u64) as usize];
                    let b = times[(xorshift(&mut x) % n as u64) as usize] + (round - 1);
                    (Timestamp(a.min(b)), Timestamp(a.max(b)))
                }
            };
            let within: Vec<i64> = sorted.iter().filter(|(t, _)| from.0 <= *t && *t < to.0).map(|(_, i)| *i).collect();
            let mut y = x;
            let limit = move || (xorshift(&mut y) % 25) as usize + 1;
            let oldest = read_all(&db, p, EventsPage::oldest(1).between(from, to), limit);
            assert_eq!(oldest, within, "seed {seed} round {round}: oldest first");
            let newest = read_all(&db, p, EventsPage::newest(1).between(from, to), limit);
            let mut reversed = within.clone();
            reversed.reverse();
            assert_eq!(newest, reversed, "seed {seed} round {round}: newest first");
            // One page as large as the range: all of it, no cursor.
            let (one, next) =
                db.events_page(p, EventsPage::newest(within.len().max(1)).between(from, to)).expect("events_page");
            assert_eq!((one.iter().map(tag).collect::<Vec<_>>(), next), (reversed, None));
        }
    }
}

#[test]
fn a_cursor_continues_exactly_across_writes_between_pages() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let who = id("user_id:1");
    let base = NOW - Timestamp::DAY;
    // Ten events, two per millisecond.
    let first: Vec<Event> = (0..10).map(|i| ev(&who, base + i / 2, i)).collect();
    db.ingest_batch(&first, true).expect("ingest");
    let p = db.resolve(&who).expect("resolve").expect("profile");

    // Oldest first: 0..4 read (the last at base + 1), then three writes.
    let (page, next) = db.events_page(p, EventsPage::oldest(4)).expect("page 1");
    assert_eq!(page.iter().map(tag).collect::<Vec<_>>(), [0, 1, 2, 3]);
    let late = [ev(&who, base - 5, 100), ev(&who, base + 1, 101), ev(&who, base + 3, 102)];
    db.ingest_batch(&late, true).expect("ingest");
    let rest = read_all(&db, p, EventsPage::oldest(1).after(next), || 3);
    // Before the cursor: not read; at its millisecond but later: read.
    assert_eq!(rest, [101, 4, 5, 6, 7, 102, 8, 9]);

    // Newest first: 9, 8, 102, 7 read (the last at base + 3), then three writes.
    let (page, next) = db.events_page(p, EventsPage::newest(4)).expect("page 1");
    assert_eq!(page.iter().map(tag).collect::<Vec<_>>(), [9, 8, 102, 7]);
    let more = [ev(&who, base + 9, 200), ev(&who, base + 3, 201), ev(&who, base + 2, 202)];
    db.ingest_batch(&more, true).expect("ingest");
    let rest = read_all(&db, p, EventsPage::newest(1).after(next), || 2);
    // 201 is at the cursor's millisecond but arrived after 7: newer, passed.
    assert_eq!(rest, [6, 202, 5, 4, 101, 3, 2, 1, 0, 100]);
}

#[test]
fn a_merged_profile_pages_on_through_its_survivor_and_an_erased_one_is_not_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let (ann, bob) = (id("user_id:ann"), id("anonymous_id:bob"));
    let base = NOW - Timestamp::HOUR;
    let anns: Vec<Event> = (0..6).map(|i| ev(&ann, base + 10 * i, i)).collect();
    let bobs: Vec<Event> = (0..6).map(|i| ev(&bob, base + 10 * i + 5, 10 + i)).collect();
    db.ingest_batch(&anns, true).expect("ingest");
    db.ingest_batch(&bobs, true).expect("ingest");
    let a = db.resolve(&ann).expect("resolve").expect("ann");
    let b = db.resolve(&bob).expect("resolve").expect("bob");

    let (page, next) = db.events_page(a, EventsPage::newest(2)).expect("page 1");
    assert_eq!(page.iter().map(tag).collect::<Vec<_>>(), [5, 4]);
    let survivor = db.merge_profiles(b, a, Cause::Api).expect("merge");
    // Whichever survives, ann's id reads the union, from where it stopped.
    let rest = read_all(&db, a, EventsPage::newest(1).after(next), || 3);
    assert_eq!(rest, [13, 3, 12, 2, 11, 1, 10, 0], "survivor {survivor}");
    // The other id of the merged pair continues ann's cursor too.
    let other = if survivor == a { b } else { survivor };
    assert_eq!(read_all(&db, other, EventsPage::newest(1).after(next), || 5), rest);
    let all = read_all(&db, survivor, EventsPage::oldest(1), || 4);
    assert_eq!(all, [0, 10, 1, 11, 2, 12, 3, 13, 4, 14, 5, 15]);

    let (_, next) = db.events_page(survivor, EventsPage::oldest(2)).expect("page 1");
    db.erase(&ann, None).expect("erase");
    let err = db.events_page(survivor, EventsPage::oldest(2).after(next)).expect_err("erased");
    assert_eq!(err.not_found_kind(), Some(NotFoundKind::Profile), "{err}");
}

#[test]
fn bad_page_requests_are_refused_saying_what() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let who = id("user_id:1");
    db.ingest_batch(&(0..3).map(|i| ev(&who, NOW - 10 + i, i)).collect::<Vec<_>>(), true).expect("ingest");
    let p = db.resolve(&who).expect("resolve").expect("profile");
    let refused = |page: EventsPage, says: &str| {
        let err = db.events_page(p, page).expect_err("refused");
        assert!(matches!(err, Error::InvalidInput(_)) && err.to_string().contains(says), "{err}");
    };
    refused(EventsPage::newest(0), "limit of 0");
    refused(EventsPage::oldest(5).between(Timestamp(NOW), Timestamp(NOW - 1)), "is after to");
    let (_, newest) = db.events_page(p, EventsPage::newest(1)).expect("page");
    refused(EventsPage::oldest(1).after(newest), "the cursor continues NewestFirst");
    let other = db.events_page(p, EventsPage::newest(1)).expect("page").1.expect("more");
    let text = other.to_string();
    let elsewhere: EventCursor = text.replacen(&format!("n{}.", p.0), "n999.", 1).parse().expect("parses");
    refused(EventsPage::newest(1).after(Some(elsewhere)), "read from profile 999, whose timeline is not");
    // Empty range: empty page, no cursor.
    let (none, next) = db.events_page(p, EventsPage::newest(5).between(Timestamp(NOW), Timestamp(NOW))).expect("empty");
    assert!(none.is_empty() && next.is_none());

    // The cursor as text round-trips; anything else is refused.
    assert_eq!(text.parse::<EventCursor>().expect("parses"), other);
    assert_eq!(other.order(), EventOrder::NewestFirst);
    for bad in ["", "x1.00", "n.0", "nabc.00000000000000000000000000000000", "n1.123", "n1.zz"] {
        let err = bad.parse::<EventCursor>().expect_err(bad);
        assert!(err.to_string().contains("event cursor"), "{err}");
    }
}
