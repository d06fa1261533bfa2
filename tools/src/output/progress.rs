//! The progress bar of a pass over every profile (a backfill: `segment
//! define`, `rollup declare`; `retain`): drawn on stderr when it is a
//! terminal, hidden otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar counting the profiles a backfill has done.
pub fn backfill() -> ProgressBar {
    profiles("backfill")
}

/// A bar counting the profiles a pass called `what` has done.
pub fn profiles(what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    let template = format!("{what} {{wide_bar}} {{pos}}/{{len}} profiles {{per_sec}} eta {{eta}}");
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style);
    }
    bar
}

/// The callback a backfill reports `(done, total)` to, moving `bar`.
pub fn reporter(bar: &ProgressBar) -> impl FnMut(u64, u64) + '_ {
    move |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    }
}
