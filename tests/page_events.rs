//! Segment `page` and `screen` messages are events named `page` / `screen`
//! with the page name as property `name`: segments count every page view,
//! or one page's (application developer review A4).

use profiledb::event::{parse_line, EventFormat};
use profiledb::{ProfileDb, Timestamp};

mod common;
use common::{id, open_at};

const NOW: i64 = 1_700_000_000_000;

fn track(db: &ProfileDb, line: &str) {
    let e = parse_line(line, EventFormat::SegmentSpec, "line 1", &db.event_limits()).expect("parse");
    db.track(&e).expect("track");
}

#[test]
fn page_views_of_different_pages_count_as_one_event_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let at = Timestamp(NOW - 60_000).to_rfc3339();
    db.define_segment("browsers", "count(page) >= 2").expect("define");
    for (m, name) in [("p1", "Pricing"), ("p2", "Shoe 42")] {
        track(
            &db,
            &format!(
                r#"{{"type":"page","name":"{name}","userId":"1","messageId":"{m}","timestamp":"{at}","properties":{{"path":"/x"}}}}"#
            ),
        );
    }
    track(&db, &format!(r#"{{"type":"screen","name":"Home","userId":"1","messageId":"s1","timestamp":"{at}"}}"#));
    let p = db.resolve(&id("user_id:1")).expect("resolve").expect("profile");
    assert!(db.in_segment("browsers", p).expect("in_segment"), "two page views of different pages");
    assert!(db.query("count(page) = 2").expect("query").contains(p));
    assert!(db.query(r#"count(page where name = "Pricing", 7d) = 1"#).expect("query").contains(p));
    assert!(db.query(r#"count(screen where name = "Home") = 1"#).expect("query").contains(p));
    assert!(!db.query("count(Pricing) >= 1").expect("query").contains(p), "the page name is not an event name");
}
