//! Progress of import, validation and export as a bar on stderr, only when stderr is a
//! terminal: `--json` output and logs stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::Progress;

/// A progress bar on stderr, only when stderr is a terminal.
pub struct TerminalProgress {
    bar: Option<ProgressBar>,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        TerminalProgress {
            bar: std::io::stderr().is_terminal().then(ProgressBar::hidden),
        }
    }
}

impl Progress for TerminalProgress {
    fn start(&self, what: &str, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar.set_length(total);
            bar.set_position(0);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} {wide_bar} {human_pos}/{human_len} ({rate}, {eta} left)",
            ) {
                // Whole items per second: indicatif's own `per_sec` shows four decimals.
                bar.set_style(style.with_key(
                    "rate",
                    |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0}/s", s.per_sec());
                    },
                ));
            }
            bar.set_message(what.to_string());
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
