//! The `profiledb` binary, run against temporary databases: every command,
//! its `--json` output, bad input and exit codes.

mod common;

use common::{profiledb, run_cmd, s, TestDb};
use serde_json::json;

#[test]
fn init_is_idempotent_and_stats_reports_an_empty_database() {
    let db = TestDb::empty();
    assert_eq!(db.json(&["init"])["created"], json!(true));
    assert_eq!(db.json(&["init"])["created"], json!(false));
    let st = db.json(&["stats"]);
    assert_eq!(st["profiles"], json!(0));
    assert_eq!(st["identifiers"], json!(0));
    assert_eq!(st["format_version"], json!(profiledb::FORMAT_VERSION));
    let cfs: Vec<&str> =
        st["column_families"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(cfs, profiledb::ProfileDb::column_families());
    // Nearly nothing on disk: `init`'s close flushed `meta` (the format
    // version) into a table file, which seals the write-ahead log it was in
    // (README, "Damaged or missing write-ahead logs"); the rest of an empty
    // database is memtable arenas, shown apart from the files.
    for c in st["column_families"].as_array().unwrap() {
        let (disk, mem) = (c["disk_bytes"].as_u64().unwrap(), c["memtable_bytes"].as_u64().unwrap());
        assert_eq!(c["bytes"].as_u64().unwrap(), disk + mem, "{c}");
        if c["name"] != json!("meta") {
            assert_eq!(disk, 0, "{c}");
        }
    }
    assert!(st["total_disk_bytes"].as_u64().unwrap() < 10_000, "{st}");
    let text = db.run(&["stats"]).ok().stdout;
    assert!(text.contains("profiles     0") && text.contains("COLUMN FAMILY") && text.contains("MEMTABLES"), "{text}");
}

#[test]
fn init_refuses_a_non_empty_directory_that_is_not_a_database() {
    let db = TestDb::empty();
    std::fs::create_dir_all(db.path()).unwrap();
    std::fs::write(db.path().join("notes.txt"), "keep me").unwrap();
    db.run(&["init"]).code(2).err_has(&["not empty"]);
    assert!(db.path().join("notes.txt").exists());
}

#[test]
fn a_missing_database_is_a_clear_not_found_error() {
    let db = TestDb::empty();
    for args in [&["stats"][..], &["get", "email:a@x.com"], &["history", "--id", "0"], &["dump", "--cf", "meta"]] {
        db.run(args).code(3).err_has(&["error: no database at", "profiledb init"]);
    }
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).code(3).err_has(&["no database at"]);
    assert!(!db.path().exists(), "a failed command must not create the database");
}

#[test]
fn trait_set_reads_json_values_else_strings() {
    let db = TestDb::init();
    let id = "email:ann@example.com";
    let set = db.json(&["trait", "set", id, "plan", "pro"]);
    assert_eq!(set["created"], json!(true));
    assert_eq!(set["trait"], json!({"name": "plan", "value": "pro"}));
    for (name, value) in
        [("n", "42"), ("flag", "true"), ("s", "\"42\""), ("tags", "[\"a\",\"b\"]"), ("neg", "-3"), ("none", "null")]
    {
        db.run(&["trait", "set", id, name, value]).ok();
    }
    db.run(&["trait", "set", id, "address", "{\"city\": \"Oslo\", \"zip\": \"0150\"}"]).ok();
    db.run(&["trait", "set", id, "signup_at", "2024-01-02T03:04:05Z", "--type", "timestamp"]).ok();
    db.run(&["trait", "set", id, "code", "007", "--type", "string"]).ok();
    let p = db.get(id);
    let t = &p["traits"];
    assert_eq!(t["plan"], json!("pro"));
    assert_eq!(t["n"], json!(42));
    assert_eq!(t["flag"], json!(true));
    assert_eq!(t["s"], json!("42"));
    assert_eq!(t["tags"], json!(["a", "b"]));
    assert_eq!(t["neg"], json!(-3));
    assert_eq!(t["none"], json!(null));
    assert_eq!(t["address"], json!({"city": "Oslo", "zip": "0150"}));
    assert_eq!(t["signup_at"], json!("2024-01-02T03:04:05.000Z"));
    assert_eq!(t["code"], json!("007"));
    assert_eq!(p["identifiers"], json!([id]));
    assert_eq!(p["version"], json!(10));
    let text = db.run(&["get", id]).ok().stdout;
    assert!(text.contains("address\n  city") && text.contains("\"Oslo\""), "{text}");
}

#[test]
fn trait_incr_add_remove_unset() {
    let db = TestDb::init();
    let id = "user_id:7";
    assert_eq!(db.json(&["trait", "incr", id, "logins"])["trait"]["value"], json!(1));
    assert_eq!(db.json(&["trait", "incr", id, "logins", "2"])["trait"]["value"], json!(3));
    assert_eq!(db.json(&["trait", "incr", id, "logins", "-1"])["trait"]["value"], json!(2));
    assert_eq!(db.json(&["trait", "incr", id, "ltv", "2.5"])["trait"]["value"], json!(2.5));
    db.run(&["trait", "add", id, "tags", "a", "b"]).ok();
    assert_eq!(db.json(&["trait", "add", id, "tags", "b", "c"])["trait"]["value"], json!(["a", "b", "c"]));
    assert_eq!(db.json(&["trait", "remove", id, "tags", "a"])["trait"]["value"], json!(["b", "c"]));
    assert_eq!(db.json(&["trait", "unset", id, "ltv"])["trait"]["value"], json!(null));
    let t = &db.get(id)["traits"];
    assert_eq!(t, &json!({"logins": 2, "tags": ["b", "c"]}));
    let text = db.run(&["trait", "incr", id, "logins"]).ok().stdout;
    assert!(text.starts_with("logins = 3\nprofile 0  version 9"), "{text}");
}

#[test]
fn trait_unset_and_remove_of_an_unknown_identifier_are_not_found_and_create_nothing() {
    let db = TestDb::init();
    db.run(&["trait", "unset", "email:nobody@x.com", "plan"]).code(3).err_has(&["not found", "email:nobody@x.com"]);
    db.run(&["trait", "remove", "email:nobody@x.com", "tags", "a"]).code(3).err_has(&["not found"]);
    assert_eq!(db.json(&["stats"])["profiles"], json!(0), "no profile was created");
    assert_eq!(db.json(&["trait", "add", "email:new@x.com", "tags", "a"])["created"], json!(true));
    assert_eq!(db.json(&["trait", "incr", "email:new2@x.com", "n"])["created"], json!(true));
}

#[test]
fn trait_errors_are_bad_input_and_write_nothing() {
    let db = TestDb::init();
    let id = "user_id:7";
    db.run(&["trait", "set", id, "plan", "pro"]).ok();
    db.run(&["trait", "set", id, "nums", "[1,2]"]).code(2).err_has(&["nums", "lists hold strings only"]);
    db.run(&["trait", "incr", id, "plan"]).code(2).err_has(&["cannot increment trait \"plan\""]);
    db.run(&["trait", "incr", id, "n", "abc"]).code(2).err_has(&["invalid amount \"abc\""]);
    db.run(&["trait", "set", id, "bad name", "1"]).code(2).err_has(&["invalid trait name \"bad name\""]);
    db.run(&["trait", "set", id, "plan.tier", "1"]).code(2).err_has(&["plan.tier"]);
    db.run(&["trait", "set", id, "t", "x", "--type", "timestamp"]).code(2).err_has(&["\"x\""]);
    db.run(&["trait", "set", id, "o", "{}"]).code(2).err_has(&["empty object"]);
    assert_eq!(db.get(id)["version"], json!(1));
}

#[test]
fn malformed_identifiers_exit_2_and_name_the_input() {
    let db = TestDb::init();
    db.run(&["get", "nocolon"]).code(2).err_has(&["error: invalid identifier \"nocolon\"", "kind:value"]);
    db.run(&["get", "email:not-an-email"]).code(2).err_has(&["\"email:not-an-email\""]);
    db.run(&["trait", "set", "Email:a@x.com", "plan", "pro"]).code(2).err_has(&["\"Email:a@x.com\""]);
    db.run(&["identify", "user_id:1", "bad"]).code(2).err_has(&["\"bad\""]);
    db.run(&["get", "user_id:1"]).code(3);
    // Input is checked before the database is opened.
    TestDb::empty().run(&["get", "nocolon"]).code(2);
}

#[test]
fn usage_errors_and_help() {
    let db = TestDb::init();
    db.run(&["frobnicate"]).code(2);
    db.run(&["get"]).code(2);
    db.run(&["get", "user_id:1", "--id", "3"]).code(2);
    let help = db.run(&["--help"]).ok().stdout;
    assert!(help.contains("Exit codes") && help.contains("5  the database is locked"), "{help}");
    let commands: &[&[&str]] = &[
        &["init"],
        &["stats"],
        &["get"],
        &["history"],
        &["identities"],
        &["trait"],
        &["trait", "set"],
        &["trait", "unset"],
        &["trait", "incr"],
        &["trait", "add"],
        &["trait", "remove"],
        &["identify"],
        &["merge"],
        &["unmerge"],
        &["identifier", "remove"],
        &["identifier", "link"],
        &["retain"],
        &["dump"],
        &["backup"],
        &["compact"],
        &["import"],
        &["track"],
        &["events"],
        &["rollup", "declare"],
        &["rollup", "drop"],
        &["rollup", "list"],
        &["rollup", "show"],
        &["rfm", "compute"],
        &["rfm", "score"],
        &["segment", "define"],
        &["segment", "list"],
        &["segment", "show"],
        &["segment", "drop"],
        &["segment", "members"],
        &["segment", "count"],
        &["query"],
        &["feed"],
        &["tick"],
        &["check"],
        &["export"],
        &["erase"],
        &["audit"],
        &["demo"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = db.run(&args).ok().stdout;
        assert!(out.contains("Safety:"), "{c:?} --help must say whether it is safe on a live database:\n{out}");
    }
}

#[test]
fn get_as_of_version_and_time_and_history() {
    let db = TestDb::init();
    let id = "email:ann@example.com";
    for plan in ["free", "starter", "pro"] {
        db.run(&["trait", "set", id, "plan", plan]).ok();
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let v1 = db.json(&["get", id, "--as-of", "1"]);
    assert_eq!((v1["version"].clone(), v1["current_version"].clone()), (json!(1), json!(3)));
    assert_eq!(v1["traits"]["plan"], json!("free"));
    assert_eq!(v1["as_of"], json!({"version": 1}));

    let h = db.json(&["history", id]);
    let deltas = h["deltas"].as_array().unwrap();
    assert_eq!(deltas.len(), 3);
    assert_eq!(deltas[0]["linked"], json!([id]));
    assert_eq!(deltas[0]["cause"]["kind"], json!("admin"));
    assert_eq!(deltas[0]["cause"]["command"], json!("trait set"));
    assert_eq!(deltas[1]["change"]["ops"], json!([{"op": "set", "name": "plan", "value": "starter"}]));
    assert_eq!(deltas[2]["summary"], json!("set plan = \"pro\""));

    let at2 = deltas[1]["at"].as_str().unwrap();
    let then = db.json(&["get", id, "--as-of", at2]);
    assert_eq!((then["version"].clone(), then["traits"]["plan"].clone()), (json!(2), json!("starter")));
    let text = db.run(&["get", id, "--as-of", at2]).ok().stdout;
    assert!(text.contains("version 2; current version 3"), "{text}");

    db.run(&["get", id, "--as-of", "9"]).code(3).err_has(&["version 9"]);
    db.run(&["get", id, "--as-of", "2001-01-01T00:00:00Z"]).code(3).err_has(&["did not exist yet"]);
    db.run(&["get", id, "--as-of", "last tuesday"]).code(2).err_has(&["--as-of \"last tuesday\""]);

    let last = db.json(&["history", id, "--limit", "1"]);
    assert_eq!((last["retained"].clone(), last["deltas"][0]["version"].clone()), (json!(3), json!(3)));
    let text = db.run(&["history", id]).ok().stdout;
    assert!(text.contains("admin trait set") && text.contains("+email:ann@example.com"), "{text}");
}

#[test]
fn identify_merges_into_the_older_profile_and_identities_show_the_graph() {
    let db = TestDb::init();
    let anon = db.json(&["trait", "incr", "anonymous_id:a-1", "page_views", "3"])["profile"].clone();
    let email = db.json(&["trait", "set", "email:ann@example.com", "plan", "pro"])["profile"].clone();
    let r = db.json(&["identify", "anonymous_id:a-1", "email:ann@example.com", "user_id:42"]);
    assert_eq!(r["profile"], anon);
    assert_eq!(r["merged"], json!([email]));
    assert_eq!(r["linked"], json!(["user_id:42"]));
    assert_eq!(r["ignored"], json!([]));

    let g = db.json(&["identities", "user_id:42"]);
    assert_eq!(g["profile"], anon);
    let ids = g["identifiers"].as_array().unwrap();
    assert_eq!(ids.len(), 3);
    let by = |name: &str| ids.iter().find(|i| i["identifier"] == json!(name)).unwrap().clone();
    assert_eq!(by("email:ann@example.com")["origin"], email);
    assert_eq!(by("anonymous_id:a-1")["origin"], anon);
    assert_eq!(by("user_id:42")["cause"]["command"], json!("identify"));
    assert_eq!(by("user_id:42")["detached"], json!(false));

    // The merged-away id still resolves, to the survivor.
    let p = db.json(&["get", "--id", &email.to_string()]);
    assert_eq!(p["id"], anon);
    assert_eq!(p["traits"], json!({"page_views": 3, "plan": "pro"}));
    let h = db.json(&["history", "--id", &anon.to_string()]);
    assert!(h["deltas"].as_array().unwrap().iter().any(|d| d["change"]["type"] == json!("merge")));

    let text = db.run(&["identities", "email:ann@example.com"]).ok().stdout;
    assert!(text.contains("IDENTIFIER") && text.contains("(own)"), "{text}");
}

#[test]
fn identify_reports_identifiers_the_rules_ignore() {
    let db = TestDb::init();
    db.run(&["trait", "set", "user_id:1", "plan", "pro"]).ok();
    db.run(&["trait", "set", "user_id:2", "plan", "free"]).ok();
    let r = db.json(&["identify", "user_id:1", "user_id:2"]);
    assert_eq!(r["merged"], json!([]));
    assert_eq!(r["ignored"][0]["identifier"], json!("user_id:2"));
    assert_eq!(r["ignored"][0]["reason"], json!("gave_way"));
    let text = db.run(&["identify", "user_id:1", "user_id:2"]).ok().stdout;
    assert!(text.contains("ignored:  user_id:2: merging its profile would exceed the user_id limit"), "{text}");
}

#[test]
fn merge_joins_two_known_profiles_or_says_why_not() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    db.run(&["trait", "set", "device_id:d1", "os", "ios"]).ok();
    let r = db.json(&["merge", "device_id:d1", "email:a@x.com"]);
    assert_eq!((r["profile"].clone(), r["merged"].clone()), (json!(0), json!([1])));
    assert_eq!(db.get("device_id:d1")["traits"], json!({"os": "ios", "plan": "pro"}));
    assert_eq!(db.json(&["merge", "device_id:d1", "email:a@x.com"])["already_merged"], json!(true));
    let h = db.json(&["history", "email:a@x.com"]);
    assert_eq!(h["deltas"][1]["cause"]["command"], json!("merge"));

    db.run(&["merge", "email:a@x.com", "email:nobody@x.com"]).code(3).err_has(&["email:nobody@x.com"]);
    db.run(&["trait", "set", "user_id:1", "plan", "pro"]).ok();
    db.run(&["trait", "set", "user_id:2", "plan", "pro"]).ok();
    db.run(&["merge", "user_id:1", "user_id:2"]).code(1).err_has(&["refused", "user_id limit"]);
}

#[test]
fn unmerge_and_identifier_remove_and_link() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    db.run(&["trait", "set", "anonymous_id:v1", "page_views", "4"]).ok();
    db.run(&["merge", "email:a@x.com", "anonymous_id:v1"]).ok();
    let u = db.json(&["unmerge", "anonymous_id:v1", "--yes"]);
    assert_eq!((u["restored"].clone(), u["from"].clone()), (json!(1), json!(0)));
    assert_eq!(u["identifiers"], json!(["anonymous_id:v1"]));
    assert_eq!(db.get("anonymous_id:v1")["traits"], json!({"page_views": 4}));
    assert_eq!(db.get("email:a@x.com")["traits"], json!({"plan": "pro"}));
    db.run(&["unmerge", "email:a@x.com", "--yes"]).code(2).err_has(&["native to profile 0"]);

    db.run(&["identify", "email:a@x.com", "device_id:shared"]).ok();
    let r = db.json(&["identifier", "remove", "device_id:shared", "--yes"]);
    assert_eq!((r["from"].clone(), r["detached"].clone()), (json!(0), json!(true)));
    let own = r["profile"].clone();
    assert_eq!(db.json(&["identities", "device_id:shared"])["identifiers"][0]["detached"], json!(true));
    let r = db.json(&["identify", "email:a@x.com", "device_id:shared"]);
    assert_eq!(r["ignored"][0]["reason"], json!("detached"));

    let l = db.json(&["identifier", "link", "device_id:shared", "--to", "email:a@x.com"]);
    assert_eq!((l["profile"].clone(), l["was_on"].clone()), (json!(0), own));
    assert_eq!(db.json(&["get", "device_id:shared"])["id"], json!(0));
    db.run(&["identifier", "link", "device_id:x", "--to-id", "999"]).code(3);
}

#[test]
fn retain_folds_history_before_a_time() {
    let db = TestDb::init();
    let id = "user_id:1";
    db.run(&["trait", "set", id, "plan", "free"]).ok();
    db.run(&["trait", "set", id, "plan", "pro"]).ok();
    db.run(&["retain", "--before", "yesterday"]).code(2).err_has(&["--before"]);
    // A time after now would fold every version: refused, nothing folded.
    db.run(&["retain", "--before", "2999-01-01T00:00:00Z"]).code(2).err_has(&["--before", "after now (20"]);
    assert_eq!(db.json(&["history", id])["retained"], json!(2));
    std::thread::sleep(std::time::Duration::from_millis(5));
    let now = common::now_ms().to_string();
    // Without --yes: refused (exit 2), nothing folded.
    db.run(&["retain", "--before", &now]).code(2).err_has(&["cannot be undone", "--yes"]);
    assert_eq!(db.json(&["history", id])["retained"], json!(2));
    let r = db.json(&["retain", "--before", &now, "--yes"]);
    assert_eq!(r["profiles_folded"], json!(1));
    db.run(&["get", id, "--as-of", "1"]).code(3).err_has(&["folded by retention"]);
    assert_eq!(db.get(id)["traits"]["plan"], json!("pro"));
    let h = db.json(&["history", id]);
    assert_eq!((h["retained"].clone(), h["folded_through_version"].clone()), (json!(0), json!(2)));
    assert_eq!(h["missing_because"], json!("retain_or_erase"));
    let text = db.run(&["history", id]).ok().stdout;
    assert!(text.contains("versions 1..=2 can no longer be read: folded by `retain`, or redacted"), "{text}");
}

#[test]
fn dump_escapes_keys_like_ldb_or_prints_hex() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    let meta = db.run(&["dump", "--cf", "meta"]).ok().stdout;
    assert!(meta.lines().any(|l| l.starts_with("format_version ==> \\x")), "{meta}");
    let ident = db.run(&["dump", "--cf", "identity"]).ok().stdout;
    assert!(ident.starts_with("email\\x00a@x.com ==> "), "{ident}");
    let hex = db.run(&["dump", "--cf", "meta", "--hex"]).ok().stdout;
    assert!(hex.contains("0x666F726D61745F76657273696F6E ==> 0x"), "{hex}");
    let j = db.json(&["dump", "--cf", "identity", "--hex"]);
    assert_eq!(j[0]["key"], json!("0x656D61696C006140782E636F6D"));
    let limited = db.run(&["dump", "--cf", "meta", "--limit", "1"]).ok().stdout;
    assert!(limited.contains("... more pairs after these 1 (raise --limit)"), "{limited}");
    let limited = db.json(&["dump", "--cf", "meta", "--limit", "1"]);
    assert_eq!(limited.as_array().map(Vec::len), Some(2), "one pair, then the marker: {limited}");
    assert_eq!(limited[1], json!({"more": true}));
    db.run(&["dump", "--cf", "delta", "--limit", "0"]).code(2).err_has(&["0 would show nothing"]);
    db.run(&["dump", "--cf", "nope"]).code(2).err_has(&["unknown column family \"nope\"", "identity"]);
}

#[test]
fn backup_is_an_openable_copy_and_compact_runs() {
    let db = TestDb::init();
    db.run(&["trait", "set", "email:a@x.com", "plan", "pro"]).ok();
    let dir = db.beside("backup");
    assert_eq!(db.json(&["backup", s(&dir)])["backup"], json!(s(&dir)));
    let mut c = profiledb();
    c.args(["--json", "--db", s(&dir), "get", "email:a@x.com"]);
    let copy = run_cmd(c, None).ok().json();
    assert_eq!(copy["traits"]["plan"], json!("pro"));
    db.run(&["backup", s(&dir)]).code(2).err_has(&["already exists"]);
    let c = db.json(&["compact"]);
    assert!(c["bytes_after"].as_u64().is_some());
    assert_eq!(db.get("email:a@x.com")["traits"]["plan"], json!("pro"));
}

#[test]
fn reads_work_beside_a_running_writer_and_writes_report_the_lock() {
    let db = TestDb::init();
    let app = profiledb::ProfileDb::open(db.path()).unwrap();
    let ann: profiledb::Identifier = "email:ann@x.com".parse().unwrap();
    app.update(&ann, profiledb::Update::new().set("plan", "pro")).unwrap();

    assert_eq!(db.get("email:ann@x.com")["traits"]["plan"], json!("pro"));
    assert_eq!(db.json(&["history", "email:ann@x.com"])["retained"], json!(1));
    assert_eq!(db.json(&["identities", "email:ann@x.com"])["identifiers"][0]["identifier"], json!("email:ann@x.com"));
    assert_eq!(db.json(&["stats"])["profiles"], json!(1));
    db.run(&["dump", "--cf", "identity"]).ok();

    let locked = db.run(&["trait", "set", "email:ann@x.com", "plan", "free"]).code(5);
    let locked = locked.err_has(&["already open in another process", "Read commands", "still work"]);
    assert!(!locked.stderr.contains("clone the open ProfileDb"), "library advice: {}", locked.stderr);
    db.run(&["compact"]).code(5);
    db.run(&["backup", s(&db.beside("b"))]).code(5);
    drop(app);
    db.run(&["trait", "set", "email:ann@x.com", "plan", "free"]).ok();
}

#[test]
fn the_database_path_comes_from_the_environment() {
    let db = TestDb::empty();
    let mut c = profiledb();
    c.env("PROFILEDB_PATH", db.path()).args(["--json", "init"]);
    assert_eq!(run_cmd(c, None).ok().json()["path"], json!(s(&db.path())));
    assert!(db.path().join("CURRENT").exists());
}

#[test]
fn consent_erase_export_and_anonymize_from_the_command_line() {
    let db = TestDb::init();
    let ann = "email:ann@example.com";
    db.run(&["trait", "set", ann, "plan", "pro"]).ok();
    let set = db.json(&["consent", "set", ann, "marketing_email", "granted", "--source", "signup_form"]);
    assert_eq!(set["created"], json!(false));
    db.run(&["consent", "set", ann, "sms", "granted", "--source", "app", "--until", "2000-01-01T00:00:00Z"])
        .code(2)
        .err_has(&["not after now"]);
    db.run(&["consent", "set", ann, "Bad Purpose", "granted", "--source", "x"]).code(2).err_has(&["consent purpose"]);
    let got = db.json(&["consent", "get", ann]);
    assert_eq!(got[0]["purpose"], json!("marketing_email"));
    assert_eq!(got[0]["status"], json!("granted"));
    let text = db.run(&["consent", "get", ann]).ok().stdout;
    assert!(text.contains("marketing_email") && text.contains("signup_form"), "{text}");
    db.run(&["consent", "get", "email:nobody@example.com"]).code(3);

    let doc = db.json(&["export", ann, "--request-id", "dsar-1"]);
    assert_eq!(doc["consent"]["marketing_email"]["state"], json!("granted"));

    let bo = "email:bo@example.com";
    db.run(&["trait", "set", bo, "plan", "pro"]).ok();
    db.run(&["trait", "set", bo, "name", "Bo"]).ok();
    // A misspelt name is warned about (anonymize cannot be undone); a real one is not.
    let run = db.run(&["anonymize", bo, "--keep", "plan", "--keep", "nmae", "--request-id", "t-2", "--yes"]).ok();
    assert!(run.stderr.contains("warning: --keep \"nmae\" names no trait or event property"), "{}", run.stderr);
    assert!(!run.stderr.contains("\"plan\""), "{}", run.stderr);
    assert!(run.stdout.contains("traits kept 1") && run.stdout.contains("dropped 1"), "{}", run.stdout);
    db.run(&["get", bo]).code(3);

    let erased = db.json(&["erase", ann, "--yes", "--request-id", "dsar-2"]);
    assert_eq!(erased["identifiers"], json!(1));
    db.run(&["get", ann]).code(3);
    db.run(&["trait", "set", ann, "plan", "free"]).code(2).err_has(&["erased person"]);
    db.run(&["erase", ann, "--yes"]).code(3);
    db.run(&["export", ann]).code(3);
}

#[test]
fn a_database_path_that_is_a_file_is_bad_input_for_every_command() {
    let db = TestDb::empty();
    std::fs::write(db.path(), "hi\n").unwrap();
    let events = db.file("events.jsonl", "");
    let commands: [&[&str]; 8] = [
        &["init"],
        &["stats"],
        &["get", "email:a@x.com"],
        &["trait", "set", "email:a@x.com", "plan", "pro"],
        &["import", s(&events)],
        &["feed"],
        &["check"],
        &["compact"],
    ];
    for args in commands {
        db.run(args).code(2).err_has(&["is a file, not a database directory"]);
    }
    let mut under = profiledb();
    under.arg("--db").arg(db.path().join("sub")).arg("init");
    run_cmd(under, None).code(2).err_has(&["is a file, not a directory"]);
    assert_eq!(std::fs::read_to_string(db.path()).unwrap(), "hi\n", "the file is left as it was");
}
