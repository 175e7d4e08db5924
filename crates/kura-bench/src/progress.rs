//! The progress bar on stderr (hidden with `--json` or when stderr is not a terminal), fed from the
//! workers' shared counters by a ticker task so workers never touch the terminal.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::task::JoinHandle;

use crate::workload::Shared;

const COUNT_TEMPLATE: &str = "{prefix:>9} [{bar:30}] {pos}/{len} {per_sec} {msg}";
const TIMED_TEMPLATE: &str = "{prefix:>9} [{bar:30}] {msg}";
const SPINNER_TEMPLATE: &str = "{spinner} {msg}";

/// A progress display across the phases of a run.
#[derive(Debug)]
pub struct Progress {
    enabled: bool,
    bar: Option<ProgressBar>,
    ticker: Option<JoinHandle<()>>,
}

impl Progress {
    /// A display that draws only if `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Self {
        Self { enabled: enabled && std::io::stderr().is_terminal(), bar: None, ticker: None }
    }

    fn start(&mut self, style: &str, len: u64, label: &str) -> Option<ProgressBar> {
        self.finish();
        if !self.enabled {
            return None;
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(style) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(label.to_owned());
        self.bar = Some(bar.clone());
        Some(bar)
    }

    /// A phase that ends after `total` operations (preload, delete, cleanup).
    pub fn count_phase(&mut self, label: &str, total: u64, shared: &Arc<Shared>) {
        let Some(bar) = self.start(COUNT_TEMPLATE, total, label) else {
            return;
        };
        let shared = Arc::clone(shared);
        self.ticker = Some(tokio::spawn(async move {
            loop {
                let ops = shared.ops.load(Ordering::Relaxed);
                let errors = shared.errors.load(Ordering::Relaxed);
                bar.set_position(ops + errors);
                if errors > 0 {
                    bar.set_message(format!("{errors} errors"));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    /// A phase that runs for `duration`.
    pub fn timed_phase(&mut self, label: &str, duration: Duration, shared: &Arc<Shared>) {
        let len = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX).max(1);
        let Some(bar) = self.start(TIMED_TEMPLATE, len, label) else {
            return;
        };
        let shared = Arc::clone(shared);
        let started = Instant::now();
        let total = duration;
        self.ticker = Some(tokio::spawn(async move {
            loop {
                let elapsed = started.elapsed();
                let ops = shared.ops.load(Ordering::Relaxed);
                let errors = shared.errors.load(Ordering::Relaxed);
                let rate = ops as f64 / elapsed.as_secs_f64().max(1e-3);
                bar.set_position(u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX).min(len));
                bar.set_message(format!(
                    "{:.0}s/{:.0}s  {ops} ops, {rate:.0} ops/s, {errors} errors",
                    elapsed.as_secs_f64().floor(),
                    total.as_secs_f64()
                ));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }

    /// A phase without a known length (listing for cleanup, bucket setup).
    pub fn spinner(&mut self, message: &str) {
        if let Some(bar) = self.start(SPINNER_TEMPLATE, 0, "") {
            bar.set_message(message.to_owned());
            bar.enable_steady_tick(Duration::from_millis(100));
        }
    }

    /// Ends the current phase and clears its bar.
    pub fn finish(&mut self) {
        if let Some(t) = self.ticker.take() {
            t.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_valid() {
        for t in [COUNT_TEMPLATE, TIMED_TEMPLATE, SPINNER_TEMPLATE] {
            assert!(ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }

    #[tokio::test]
    async fn hidden_progress_is_a_no_op() {
        let shared = Arc::new(Shared::default());
        let mut p = Progress::new(false);
        p.count_phase("upload", 10, &shared);
        p.timed_phase("get", Duration::from_secs(1), &shared);
        p.spinner("cleaning up");
        assert!(p.bar.is_none() && p.ticker.is_none());
        p.finish();
    }
}
