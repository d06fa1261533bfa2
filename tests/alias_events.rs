//! Segment-style alias events: `previousId` may hold the anonymous id, which
//! the parser maps to `user_id`; the alias must join the anonymous profile,
//! not mint a `user_id` nobody has.

use profiledb::event::{parse_line, EventFormat};
use profiledb::{IngestOutcome, ProfileDb, Timestamp};

mod common;
use common::{id, open_at};

const NOW: i64 = 1_700_000_000_000;

fn track(db: &ProfileDb, line: &str) -> IngestOutcome {
    let e = parse_line(line, EventFormat::SegmentSpec, "line 1", &db.event_limits()).expect("parse");
    db.track(&e).expect("track")
}

#[test]
fn an_alias_from_an_anonymous_id_joins_the_anonymous_profile() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let at = Timestamp(NOW - 60_000).to_rfc3339();
    track(&db, &format!(r#"{{"type":"track","event":"page","anonymousId":"a-1","timestamp":"{at}"}}"#));
    let anon = db.get(&id("anonymous_id:a-1")).expect("get").expect("anonymous profile").id;

    let out = track(&db, &format!(r#"{{"type":"alias","previousId":"a-1","userId":"u-9","timestamp":"{at}"}}"#));
    let IngestOutcome::Applied(receipt) = out else { panic!("alias applied, got {out:?}") };
    assert!(receipt.ignored.is_empty(), "nothing ignored: {:?}", receipt.ignored);

    let user = db.get(&id("user_id:u-9")).expect("get").expect("user profile");
    assert_eq!(user.id, anon, "the user id joined the anonymous profile");
    assert!(db.get(&id("user_id:a-1")).expect("get").is_none(), "no user_id was made from the anonymous id");
    let mut ids: Vec<String> = db.identifiers(anon).expect("ids").iter().map(ToString::to_string).collect();
    ids.sort();
    assert_eq!(ids, ["anonymous_id:a-1", "user_id:u-9"]);
}

#[test]
fn an_alias_from_a_known_user_id_uses_that_user_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, _clock) = open_at(dir.path(), NOW);
    let at = Timestamp(NOW - 60_000).to_rfc3339();
    // Both user_id:x-1 and anonymous_id:x-1 exist: the user id named is the one meant.
    track(&db, &format!(r#"{{"type":"track","event":"page","userId":"x-1","timestamp":"{at}"}}"#));
    track(&db, &format!(r#"{{"type":"track","event":"page","anonymousId":"x-1","timestamp":"{at}"}}"#));
    let user = db.get(&id("user_id:x-1")).expect("get").expect("user profile").id;
    let anon = db.get(&id("anonymous_id:x-1")).expect("get").expect("anonymous profile").id;
    assert_ne!(user, anon);

    track(&db, &format!(r#"{{"type":"alias","previousId":"x-1","anonymousId":"d-7","timestamp":"{at}"}}"#));
    assert_eq!(db.get(&id("anonymous_id:d-7")).expect("get").expect("linked").id, user);
    assert_ne!(db.get(&id("anonymous_id:x-1")).expect("get").expect("still there").id, user, "left alone");
}
