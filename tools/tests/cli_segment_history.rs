//! Segment membership history and the change feed through the CLI:
//! `segment was-member` for ids that merged away (by identifier and by
//! `--id`), with its notes for future times and unlinked identifiers, and
//! the `exited` records `segment drop` writes, and how `get --as-of`
//! labels the identifiers it lists.

mod common;

use common::{now_ms, TestDb, DAY_MS};
use serde_json::{json, Value};

fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(20));
}

/// email:a (free) and email:b (pro), `pro` defined; returns a time when b
/// was a member, then merges b into a.
fn merged_after_t() -> (TestDb, String) {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "free"]).ok();
    db.run(&["trait", "set", "email:b@x.com", "plan", "pro"]).ok();
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    pause();
    let t = now_ms().to_string();
    pause();
    db.run(&["merge", "email:a@x.com", "email:b@x.com"]).ok();
    (db, t)
}

#[test]
fn was_member_of_a_merged_away_identifier_answers_from_its_own_past() {
    let (db, t) = merged_after_t();
    let v = db.json(&["segment", "was-member", "email:b@x.com", "pro", "--at", &t]);
    assert_eq!((v["member"].clone(), v["profile"].clone()), (json!(true), json!(1)), "{v}");
    assert_eq!((v["now_part_of"].clone(), v["history"].clone()), (json!(0), json!("recorded")), "{v}");
    let text = db.run(&["segment", "was-member", "email:b@x.com", "pro", "--at", &t]).ok().stdout;
    assert!(text.contains("profile 1 (email:b@x.com) was a member of pro"), "{text}");
    assert!(text.contains("part of profile 0 now"), "{text}");
    // The survivor's own identifier: it was not a member then.
    assert_eq!(db.json(&["segment", "was-member", "email:a@x.com", "pro", "--at", &t])["member"], json!(false));
    // After the merge, b's identifier answers from the survivor's rows: the
    // merged profile took the newer "pro" and entered.
    let later = (now_ms() + 5).to_string();
    pause();
    db.run(&["trait", "set", "email:a@x.com", "plan", "free"]).ok();
    assert_eq!(db.json(&["segment", "was-member", "email:b@x.com", "pro", "--at", &later])["member"], json!(true));
    let last = (now_ms() + 5).to_string();
    pause();
    assert_eq!(db.json(&["segment", "was-member", "email:b@x.com", "pro", "--at", &last])["member"], json!(false));
}

#[test]
fn was_member_by_id_reads_a_merged_away_id() {
    let (db, t) = merged_after_t();
    let v = db.json(&["segment", "was-member", "--id", "1", "pro", "--at", &t]);
    assert_eq!((v["member"].clone(), v["profile"].clone()), (json!(true), json!(1)), "{v}");
    assert_eq!(db.json(&["segment", "was-member", "--id", "0", "pro", "--at", &t])["member"], json!(false));
    db.run(&["segment", "was-member", "--id", "77", "pro", "--at", &t]).code(3);
    db.run(&["segment", "was-member", "--id", "1", "email:b@x.com", "pro", "--at", &t]).code(2).err_has(&["--id"]);
    db.run(&["segment", "was-member", "pro", "--at", &t]).code(2).err_has(&["IDENTIFIER"]);
}

#[test]
fn was_member_says_when_the_time_is_not_in_the_recorded_history() {
    let (db, _) = merged_after_t();
    let future = (now_ms() + DAY_MS).to_string();
    let v = db.json(&["segment", "was-member", "email:a@x.com", "pro", "--at", &future]);
    assert_eq!(v["history"], json!("future"));
    let text = db.run(&["segment", "was-member", "email:a@x.com", "pro", "--at", &future]).ok().stdout;
    assert!(text.contains("in the future") && text.contains("can still change"), "{text}");

    let past = "2000-01-01T00:00:00Z";
    let v = db.json(&["segment", "was-member", "email:b@x.com", "pro", "--at", past]);
    assert_eq!((v["member"].clone(), v["history"].clone()), (json!(false), json!("identifier_not_linked")));
    let text = db.run(&["segment", "was-member", "email:b@x.com", "pro", "--at", past]).ok().stdout;
    assert!(text.contains("was linked to a profile only at"), "{text}");

    // A profile that existed before the segment was defined.
    let v = db.json(&["segment", "was-member", "--id", "0", "pro", "--at", past]);
    assert_eq!(v["history"], json!("before_definition"), "{v}");
    let text = db.run(&["segment", "was-member", "--id", "0", "pro", "--at", past]).ok().stdout;
    assert!(text.contains("before pro's current definition"), "{text}");
}

fn feed(db: &TestDb) -> Vec<(String, Option<String>, u64)> {
    let v: Value = db.json(&["feed", "--limit", "1000"]);
    v["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            let seg = r["segment"].as_str().map(str::to_owned);
            (r["kind"].as_str().unwrap_or_default().to_owned(), seg, r["profile"].as_u64().unwrap_or(u64::MAX))
        })
        .collect()
}

#[test]
fn drop_writes_an_exit_for_every_member_and_a_redefinition_reads_as_exit_then_enter() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    db.run(&["trait", "set", "email:b@x.com", "plan", "pro"]).ok();
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    let text = db.run(&["segment", "drop", "pro", "--yes"]).ok().stdout;
    assert!(text.contains("dropped segment pro (2 members"), "{text}");
    assert!(text.contains("2 exited records"), "{text}");
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    let pro = Some("pro".to_owned());
    let rec = |kind: &str, p: u64| (kind.to_owned(), pro.clone(), p);
    assert_eq!(
        feed(&db),
        vec![
            rec("entered", 0),
            rec("entered", 1),
            rec("exited", 0),
            rec("exited", 1),
            rec("entered", 0),
            rec("entered", 1)
        ]
    );
}

/// `get --as-of` lists the current identifiers (there is no history of
/// links to read them from); the heading and the JSON say so.
#[test]
fn get_as_of_labels_its_identifiers_as_the_current_ones() {
    let (db, ms) = merged_after_t();
    // The same instant in RFC 3339 (a plain number is a version for --as-of).
    let at = db.json(&["segment", "was-member", "--id", "1", "pro", "--at", &ms])["at"].clone();
    let t = at.as_str().expect("an RFC 3339 time").to_owned();
    let text = db.run(&["get", "--id", "1", "--as-of", &t]).ok().stdout;
    assert!(text.contains("IDENTIFIERS (current: those of profile 0 now, not as of then)"), "{text}");
    let v = db.json(&["get", "--id", "1", "--as-of", &t]);
    assert_eq!(v["identifiers_of"], json!({"profile": 0, "as_of": "now"}));
    let now = db.run(&["get", "email:a@x.com"]).ok().stdout;
    assert!(now.contains("\n\nIDENTIFIERS\n"), "{now}");
}

/// `segment list` is by name, whatever order the segments depend on each other in.
#[test]
fn segment_list_is_by_name() {
    let db = TestDb::init();
    db.run(&["segment", "define", "zeta", "has email"]).ok();
    db.run(&["segment", "define", "beta", "in zeta"]).ok();
    db.run(&["segment", "define", "alpha", "in beta"]).ok();
    let v = db.json(&["segment", "list"]);
    let names: Vec<&str> =
        v["segments"].as_array().expect("segments").iter().filter_map(|s| s["name"].as_str()).collect();
    assert_eq!(names, ["alpha", "beta", "zeta"]);
}

/// A time-dependent membership that fell due with no tick since: reading
/// the stored membership (`segment count`, `members`, `export --segment`)
/// warns that it can be behind, until `tick` processes it.
#[test]
fn reads_of_a_stored_membership_warn_while_a_change_is_due_and_untaken() {
    let db = TestDb::init();
    // The purchase leaves `recent` 1.5 s from now.
    let at = (now_ms() - DAY_MS + 1_500).to_string();
    let event = format!(r#"{{"type":"track","event":"buy","timestamp":{at},"identifiers":{{"email":"a@x.com"}}}}"#);
    db.run(&["track", &event]).ok();
    db.run(&["segment", "define", "recent", "last(buy) > now - 1d"]).ok();
    let fresh = db.run(&["segment", "count", "recent"]).ok();
    assert_eq!(fresh.stdout.trim(), "1");
    assert!(!fresh.stderr.contains("fell due"), "{}", fresh.stderr);
    std::thread::sleep(std::time::Duration::from_millis(2_000));
    let warned = ["fell due", "run `profiledb tick` first"];
    let stale = db.run(&["segment", "count", "recent"]).ok().err_has(&warned);
    assert_eq!(stale.stdout.trim(), "1", "the stored membership is behind until a tick");
    db.run(&["segment", "members", "recent"]).ok().err_has(&warned);
    db.run(&["export", "--segment", "recent"]).ok().err_has(&warned);
    db.run(&["tick"]).ok();
    let ticked = db.run(&["segment", "count", "recent"]).ok();
    assert_eq!(ticked.stdout.trim(), "0");
    assert!(!ticked.stderr.contains("fell due"), "{}", ticked.stderr);
}

/// Review L12: before a redefinition, `was-member` says that the answer is
/// the earlier definition's, without hedging; before a first definition it
/// says the profile was a member under none.
#[test]
fn was_member_before_a_redefinition_answers_from_the_earlier_definition_without_hedging() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    let before_any = now_ms().to_string();
    std::thread::sleep(std::time::Duration::from_millis(20));
    db.run(&["segment", "define", "pro", r#"traits.plan = "pro""#]).ok();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let under_first = now_ms().to_string();
    std::thread::sleep(std::time::Duration::from_millis(20));
    db.run(&["segment", "define", "pro", r#"traits.plan = "enterprise""#, "--yes"]).ok();

    let ask = |at: &str| db.json(&["segment", "was-member", "email:a@x.com", "pro", "--at", at]);
    let v = ask(&under_first);
    assert_eq!((v["member"].clone(), v["history"].clone()), (json!(true), json!("earlier_definition")), "{v}");
    let text = db.run(&["segment", "was-member", "email:a@x.com", "pro", "--at", &under_first]).ok().stdout;
    assert!(
        text.contains("replaced an earlier one of the same name: the answer is the earlier definition's"),
        "{text}"
    );
    assert!(!text.contains("unless"), "no hedging: {text}");
    // Earlier still, before the first definition: still answered from the
    // membership history, which shows no membership then.
    let v = ask(&before_any);
    assert_eq!((v["member"].clone(), v["history"].clone()), (json!(false), json!("earlier_definition")), "{v}");

    // A name defined once: before it, a member under no definition.
    db.run(&["segment", "define", "fresh", r#"traits.plan = "pro""#]).ok();
    let text = db.run(&["segment", "was-member", "email:a@x.com", "fresh", "--at", &before_any]).ok().stdout;
    assert!(text.contains("was not a member") && text.contains("a member under no definition of fresh then"), "{text}");
    assert!(!text.contains("unless"), "{text}");
}
