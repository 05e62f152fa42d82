//! What a caller sees while [`crate::run::train`] works: the [`Observer`] hooks, and the terminal
//! progress bar the binary uses (ETA, environment steps per second, the latest success rate), with a
//! `tracing` writer that prints log lines above the bar instead of through it.

use std::io::Write;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::metrics::Metrics;

/// Hooks called by the training loop; every method has a do-nothing default. A closure
/// `FnMut(&Metrics)` is an observer of evaluations.
pub trait Observer {
    /// Once, before the first round: the run's current and final environment steps.
    fn started(&mut self, _env_steps: u64, _total_env_steps: u64) {}
    /// After each collection round and its updates.
    fn round(&mut self, _env_steps: u64, _sgd_steps: u64) {}
    /// After each evaluation (its row is already in metrics.jsonl).
    fn evaluated(&mut self, _metrics: &Metrics) {}
}

impl<F: FnMut(&Metrics)> Observer for F {
    fn evaluated(&mut self, metrics: &Metrics) {
        self(metrics)
    }
}

/// No observer.
impl Observer for () {}

/// The progress bar of `cargo run -p train`. indicatif hides it when stderr is not a terminal, so logs
/// redirected to a file stay clean.
#[derive(Clone)]
pub struct ProgressObserver {
    bar: ProgressBar,
    success: String,
}

impl ProgressObserver {
    /// A bar drawing on stderr at most 4 times a second.
    pub fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        ProgressObserver { bar, success: "success -".into() }
    }

    /// A `tracing` writer that suspends this bar while a line is printed.
    pub fn log_writer(&self) -> BarWriter {
        BarWriter(self.bar.clone())
    }

    /// Clears the bar (call before printing the final summary).
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Default for ProgressObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer for ProgressObserver {
    fn started(&mut self, env_steps: u64, total_env_steps: u64) {
        let style = ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30.cyan/blue}] {human_pos}/{human_len} env steps  ETA {eta}  {per_sec}  {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        self.bar.set_style(style);
        self.bar.set_length(total_env_steps);
        self.bar.set_position(env_steps);
        // A resumed run's rate and ETA count only this process's steps.
        self.bar.reset_eta();
        self.bar.enable_steady_tick(Duration::from_millis(500));
    }

    fn round(&mut self, env_steps: u64, sgd_steps: u64) {
        self.bar.set_position(env_steps);
        self.bar.set_message(format!("sgd {sgd_steps}  {}", self.success));
    }

    fn evaluated(&mut self, m: &Metrics) {
        self.success = format!("success {:.2}", m.success_rate);
        self.bar.set_position(m.env_steps);
    }
}

/// See [`ProgressObserver::log_writer`].
#[derive(Clone)]
pub struct BarWriter(ProgressBar);

/// One log line, buffered and printed when dropped.
pub struct BarLine(ProgressBar, Vec<u8>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BarWriter {
    type Writer = BarLine;
    fn make_writer(&'a self) -> BarLine {
        BarLine(self.0.clone(), Vec::new())
    }
}

impl Write for BarLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.1.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for BarLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.1);
        self.0.suspend(|| {
            let _ = std::io::stderr().write_all(&line);
        });
    }
}
