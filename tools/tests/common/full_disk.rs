//! A small tmpfs, mounted in a private mount namespace (`unshare -m`, or
//! `unshare -rm` without root) so nothing outside the test sees it, to run
//! the CLI on a full disk or a read-only mount. Where namespaces are not
//! allowed, the runners return `None` and the tests say they skipped.

use std::process::Command;

use super::{run_cmd, Run, TestDb};

/// Runs `profiledb --db MNT/db ARGS` on a tmpfs holding a copy of `DB` with
/// `LEAVE` KiB free (`ro`: mounted read-only instead), frees the space and
/// copies the database back over `DB`.
const ON_A_FULL_DISK: &str = r#"
mnt=$1; db=$2; bin=$3; leave=$4; shift 4
mount -t tmpfs -o size=64m tmpfs "$mnt" || exit 90
cp -a "$db" "$mnt/db" || exit 91
if [ "$leave" = ro ]; then
  mount -o remount,ro "$mnt" || exit 91
else
  avail=$(df -k "$mnt" | tail -1 | awk '{print $4}')
  dd if=/dev/zero of="$mnt/filler" bs=1k count=$((avail - leave)) 2>/dev/null || exit 91
fi
"$bin" --db "$mnt/db" "$@"
rc=$?
rm -f "$mnt/filler"
rm -rf "$db" && cp -a "$mnt/db" "$db" || exit 92
exit $rc
"#;

/// `profiledb ARGS` against a copy of `db` on a disk with `leave_kib` KiB
/// free (the database is copied back afterwards); `None` when this machine
/// does not let the test mount a private tmpfs.
pub fn on_a_full_disk(db: &TestDb, leave_kib: u32, args: &[&str]) -> Option<Run> {
    on_a_tmpfs(db, &leave_kib.to_string(), args)
}

/// [`on_a_full_disk`], or with `leave` = `ro` on a read-only mount.
pub fn on_a_tmpfs(db: &TestDb, leave: &str, args: &[&str]) -> Option<Run> {
    let script = db.file("full.sh", ON_A_FULL_DISK);
    let mnt = db.beside("mnt");
    std::fs::create_dir_all(&mnt).expect("mount point");
    let bin = env!("CARGO_BIN_EXE_profiledb");
    for unshare in [&["-m"][..], &["-r", "-m"][..]] {
        let mut c = Command::new("unshare");
        c.args(unshare).arg("sh").arg(&script).arg(&mnt).arg(db.path()).arg(bin).arg(leave);
        c.args(args);
        let run = run_cmd(c, None);
        if run.code != 90 && !run.stderr.contains("unshare failed") && !run.stderr.contains("unshare:") {
            assert!(![91, 92].contains(&run.code), "the test's setup failed: {run:?}");
            return Some(run);
        }
    }
    eprintln!("skipped: this machine does not allow a private tmpfs mount (unshare -m)");
    None
}
