//! The planner loop (DESIGN.md section 8): a dedicated thread that owns the deep planner and, every
//! time sessions are due, collects up to `planner_batch` of them, plans for all of them in ONE batched
//! pass ([`PlannerAssets::plan`]) and installs the plans. It sleeps until the next session is due or
//! it is woken (a new session or goal). Nothing here is on the controller's path: a slow pass only
//! makes plans older, and the controller falls back to the goal once a plan is past its age.
//!
//! A model swap arrives as a message and takes effect between two passes; every session is then due.
//! The thread runs at a lower scheduling priority than the rest of the server.

use std::sync::mpsc::{self, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::planner::plan::{PlanQuery, PlannerAssets};
use crate::sessions::Sessions;

/// The longest the thread sleeps without looking at the table.
const IDLE: Duration = Duration::from_millis(250);
/// How long a session waits before a failed pass is retried.
const RETRY: Duration = Duration::from_secs(1);

enum Msg {
    Wake,
    Swap(Box<PlannerAssets>, oneshot::Sender<()>),
    Stop,
}

/// Handle to the planner thread.
pub struct PlannerHandle {
    tx: Mutex<Sender<Msg>>,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl PlannerHandle {
    /// Starts the thread. `horizon` caps each plan's waypoints, `batch` the sessions per pass.
    pub fn spawn(
        assets: PlannerAssets,
        sessions: Arc<Sessions>,
        horizon: usize,
        batch: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (tx, rx) = mpsc::channel();
        let mut worker = Worker { assets, sessions, horizon, batch, metrics };
        let join = std::thread::Builder::new()
            .name("planner".into())
            .spawn(move || {
                lower_priority();
                worker.run(rx)
            })
            .expect("spawning a thread");
        PlannerHandle { tx: Mutex::new(tx), join: Mutex::new(Some(join)) }
    }

    fn send(&self, msg: Msg) {
        let _ = self.tx.lock().unwrap_or_else(|e| e.into_inner()).send(msg);
    }

    /// Asks the thread to look at the table now (a session became due).
    pub fn wake(&self) {
        self.send(Msg::Wake);
    }

    /// Replaces the planner; the channel fires once the thread uses the new one.
    pub fn swap(&self, assets: PlannerAssets) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Msg::Swap(Box::new(assets), tx));
        rx
    }

    /// Stops the thread after its current pass and waits for it.
    pub fn stop(&self) {
        self.send(Msg::Stop);
        if let Some(join) = self.join.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = join.join();
        }
    }
}

/// Planner threads run at nice 10 so that, on a machine with few cores, the controller's thread
/// (and the HTTP workers) win the CPU whenever both want it: acts never wait for plans, not even for
/// a core. Best effort; a failure only means equal priority.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority has no memory effects; `who = 0` is the calling thread on Linux.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
}

impl Drop for PlannerHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Worker {
    assets: PlannerAssets,
    sessions: Arc<Sessions>,
    horizon: usize,
    batch: usize,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(&mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            loop {
                match rx.try_recv() {
                    Ok(msg) => {
                        if self.handle(msg) {
                            return;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            if self.pass() {
                continue;
            }
            let now = Instant::now();
            let wait = self.sessions.next_due().map_or(IDLE, |t| t.saturating_duration_since(now)).min(IDLE);
            match rx.recv_timeout(wait) {
                Ok(msg) => {
                    if self.handle(msg) {
                        return;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// True when the thread should stop.
    fn handle(&mut self, msg: Msg) -> bool {
        match msg {
            Msg::Wake => false,
            Msg::Swap(assets, ack) => {
                self.assets = *assets;
                self.sessions.all_due(Instant::now());
                let _ = ack.send(());
                false
            }
            Msg::Stop => true,
        }
    }

    /// Plans every due session (up to the batch size); false when none was due.
    fn pass(&mut self) -> bool {
        let started = Instant::now();
        let jobs = self.sessions.take_due(started, self.batch);
        if jobs.is_empty() {
            return false;
        }
        let queries: Vec<PlanQuery> =
            jobs.iter().map(|j| PlanQuery { state: j.state.clone(), goal: j.goal.clone() }).collect();
        match self.assets.plan(&queries, self.horizon) {
            Ok(plans) => {
                for (job, planned) in jobs.into_iter().zip(plans) {
                    self.metrics.plans.with_label_values(&[planned.source.name()]).inc();
                    self.sessions.install(job, planned, started);
                }
            }
            Err(e) => {
                tracing::error!("planning pass failed: {e:#}");
                self.metrics.errors.with_label_values(&["planner_failed"]).inc();
                for job in &jobs {
                    self.sessions.failed(job, RETRY);
                }
            }
        }
        self.metrics.planner_pass_seconds.observe(started.elapsed().as_secs_f64());
        self.metrics.planner_pass_sessions.observe(queries.len() as f64);
        true
    }
}
