//! A progress bar for long applies, drawn on stderr.
//!
//! Shown only when stderr is a terminal, the command was not asked to be
//! quiet or verbose (log lines would tear the bar), and the apply has enough
//! writes to be worth watching. Otherwise every handle is hidden and costs
//! nothing, so the apply code advances it without asking. stdout is never
//! touched: the plan or report stays clean for pipes.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::labels::printable;

/// Fewer writes than this finish before a bar would tell anyone anything.
const MIN_WRITES: usize = 50;

/// How often the bar redraws on its own, so the elapsed time moves while a
/// slow call (retries, a 429) holds the count still.
const TICK: Duration = Duration::from_millis(200);

/// A shared handle to the bar of one environment's apply; clones advance the
/// same bar.
#[derive(Debug, Clone)]
pub struct Progress {
    bar: ProgressBar,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress::hidden()
    }
}

impl Progress {
    /// A handle that draws nothing.
    pub fn hidden() -> Progress {
        Progress {
            bar: ProgressBar::hidden(),
        }
    }

    /// The bar of an apply of `writes` items in `environment`; hidden unless
    /// `wanted` and stderr is a terminal and the apply is long.
    pub fn for_apply(environment: &str, writes: usize, wanted: bool) -> Progress {
        if !wanted || writes < MIN_WRITES || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let style = ProgressStyle::with_template(
            "{prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} items ({eta} left)",
        )
        .expect("the template is valid")
        .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(writes as u64), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(format!("applying {}", printable(environment)));
        bar.enable_steady_tick(TICK);
        Progress { bar }
    }

    /// Counts `items` more as done.
    pub fn advance(&self, items: usize) {
        self.bar.inc(items as u64);
    }

    /// Removes the bar, leaving the terminal as it was.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    pub fn is_hidden(&self) -> bool {
        self.bar.is_hidden()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_or_unwanted_apply_gets_no_bar() {
        assert!(Progress::for_apply("Production", 10, true).is_hidden());
        assert!(Progress::for_apply("Production", 10_000, false).is_hidden());
    }
}
