//! What `--help` and the README promise matches what the commands do:
//! the printed answer of `segment was-member` and `identifier suppressed`,
//! and the README's limit on segment and rollup names.

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
