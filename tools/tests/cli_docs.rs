//! What `--help` and the README promise matches what the commands do:
//! the printed answer of `segment was-member` and `identifier suppressed`,
//! the README's limit on segment and rollup names, and help texts that
//! agree with the README (feed cursors, rollup windows, the audit log,
//! exit codes).

mod common;

use common::{people_by_country as people, profiledb, run_cmd};

/// `--help` of a command, as printed.
fn help(args: &[&str]) -> String {
    let mut c = profiledb();
    c.args(args).arg("--help");
    run_cmd(c, None).ok().stdout
}

#[test]
fn help_describes_the_sentences_was_member_and_suppressed_print() {
    let db = people();
    db.run(&["segment", "define", "de", r#"traits.country = "DE""#]).ok();
    let at = "2100-01-01T00:00:00Z";
    let cases: [(&[&str], &[&str], &str, &str); 2] = [
        (
            &["segment", "was-member"],
            &["segment", "was-member", "user_id:4", "de", "--at", at],
            "member",
            "was not a member",
        ),
        (&["identifier", "suppressed"], &["identifier", "suppressed", "user_id:1"], "suppressed", "is not suppressed"),
    ];
    for (command, run, key, sentence) in cases {
        let text = help(command);
        assert!(!text.contains("yes or no"), "{command:?}: {text}");
        assert!(text.contains("prints a sentence saying which"), "{command:?}: {text}");
        assert!(text.contains(&format!("`{key}` (true or false) from --json")), "{command:?}: {text}");
        assert!(text.contains(sentence), "{command:?}: the help quotes the sentence: {text}");
        let out = db.run(run).ok().stdout;
        assert!(out.contains(sentence), "{command:?} printed {out:?}");
    }
}

#[test]
fn the_readme_limit_on_segment_and_rollup_names_is_the_enforced_one() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let row = readme.lines().find(|l| l.starts_with("| segment or rollup name |")).expect("the limits row");
    let limit: usize = row
        .trim_start_matches("| segment or rollup name |")
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a byte count in {row:?}"));
    assert!(row.contains(&format!("{limit} bytes")), "{row}");
    let db = people();
    let longest = "s".repeat(limit);
    let too_long = "s".repeat(limit + 1);
    db.run(&["segment", "define", &longest, r#"traits.country = "DE""#]).ok();
    db.run(&["segment", "define", &too_long, r#"traits.country = "DE""#]).code(2).err_has(&["64"]);
    db.run(&["rollup", "declare", &longest, "--event", "buy", "--agg", "count"]).ok();
    db.run(&["rollup", "declare", &too_long, "--event", "buy", "--agg", "count"]).code(2).err_has(&["64"]);
}

#[test]
fn help_agrees_with_the_readme_on_feed_windows_audit_and_exit_codes() {
    let feed = help(&["feed"]);
    assert!(!feed.contains("dense") && feed.contains("gaps"), "erase leaves gaps in the feed: {feed}");

    // Every window form the README names is listed by --help and accepted.
    let show = help(&["rollup", "show"]);
    for form in ["all", "Nd", "Nh", "FROM..TO"] {
        assert!(show.contains(form), "rollup show --help lacks {form}: {show}");
    }
    let db = people();
    db.run(&["rollup", "declare", "buys", "--event", "buy", "--agg", "count"]).ok();
    for window in ["all", "7d", "24h", "2024-01-01T00:00:00Z..2024-01-02T00:00:00Z"] {
        db.run(&["rollup", "show", "user_id:1", "buys", "--window", window]).ok();
    }

    let audit = help(&["audit"]);
    assert!(audit.contains("anonymize"), "the audit log records anonymize too: {audit}");

    // The README's exit code 3 list, item by item, in the top-level help.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).expect("README.md");
    let list = readme.split("3 not found (").nth(1).and_then(|r| r.split(')').next()).expect("the exit code 3 list");
    let top = help(&[]);
    let line = top.lines().find(|l| l.trim_start().starts_with("3  not found")).expect("exit code 3 in --help");
    for item in list.split(',').map(str::trim) {
        assert!(line.contains(item), "--help's {line:?} lacks the README's {item:?}");
    }
}
