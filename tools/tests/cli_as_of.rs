//! `get --id N --as-of …` of an id that merged away: the library's as-of
//! rules for the id asked for, not for the profile it reaches now.

mod common;

use common::TestDb;
use serde_json::json;

fn pause() {
    std::thread::sleep(std::time::Duration::from_millis(5));
}

#[test]
fn get_as_of_a_time_before_the_merge_shows_the_merged_away_profile_itself() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    pause();
    db.run(&["trait", "set", "device_id:d1", "color", "red"]).ok();
    let h = db.json(&["history", "device_id:d1"]);
    assert_eq!(h["deltas"].as_array().map(Vec::len), Some(1), "{h}");
    let before_merge = h["deltas"][0]["at"].as_str().expect("a delta time").to_owned();
    pause();
    let r = db.json(&["merge", "email:a@x.com", "device_id:d1"]);
    assert_eq!((r["profile"].clone(), r["merged"].clone()), (json!(0), json!([1])));

    let then = db.json(&["get", "--id", "1", "--as-of", &before_merge]);
    assert_eq!(then["id"], json!(1), "{then}");
    assert_eq!(then["traits"], json!({"color": "red"}), "its own traits then, not the survivor's");
    let text = db.run(&["get", "--id", "1", "--as-of", &before_merge]).ok().stdout;
    assert!(text.contains("profile 1 version 1; now part of profile 0"), "{text}");

    // The survivor as of the same time, and the alias now, read profile 0.
    let zero = db.json(&["get", "--id", "0", "--as-of", &before_merge]);
    assert_eq!((zero["id"].clone(), zero["traits"].clone()), (json!(0), json!({"plan": "pro"})));
    let now = db.json(&["get", "--id", "1"]);
    assert_eq!(now["id"], json!(0));
    assert_eq!(now["traits"], json!({"plan": "pro", "color": "red"}));
    // Versions count in the history of the profile the id reaches now.
    let v1 = db.json(&["get", "--id", "1", "--as-of", "1"]);
    assert_eq!((v1["id"].clone(), v1["traits"].clone()), (json!(0), json!({"plan": "pro"})));
}
