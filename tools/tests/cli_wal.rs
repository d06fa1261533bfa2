//! A missing write-ahead log: every command refuses the database with a
//! message for an admin (what the `*.log` files are, that nothing was read
//! or changed, and the ways out), exit 1, instead of answering from older
//! data.

mod common;

use common::TestDb;

#[test]
fn a_deleted_write_ahead_log_is_refused_with_the_ways_out() {
    let db = TestDb::init();
    for i in 0..20 {
        db.run(&["trait", "set", &format!("user_id:u{i}"), "n", &i.to_string()]).ok();
    }
    let mut logs: Vec<_> = std::fs::read_dir(db.path())
        .expect("list the database")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .filter(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
        .collect();
    logs.sort();
    let newest = logs.pop().expect("a write-ahead log holds the writes");
    std::fs::remove_file(&newest).expect("delete the log");
    for args in [&["get", "user_id:u3"][..], &["stats"][..], &["trait", "set", "user_id:u1", "n", "0"][..]] {
        db.run(args).code(1).err_has(&["write-ahead log", "Nothing was read or changed", "backup", "Salvage"]);
    }
}
