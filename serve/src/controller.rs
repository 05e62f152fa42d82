//! The controller micro-batcher: concurrent act requests go through a bounded channel to one worker
//! thread that owns an [`ActorInfer`]; it takes every request already waiting (waiting at most
//! `batch_wait` for more after the first, up to `max_batch` rows), runs ONE forward pass, and answers
//! each request through its oneshot channel with its queue and inference times.
//!
//! The worker never blocks on anything but its channel, so a request waits only for the requests
//! ahead of it. A small request that finds the queue empty skips the worker altogether
//! ([`Batcher::try_inline`]): at a robot's request rates that is most of them, and the hand-off
//! (channel send, thread wake-up, oneshot back) costs more than a shallow student's forward pass.
//! A full queue refuses new requests at once (overload → 429); a request whose deadline
//! has passed by the time its batch starts is answered `DeadlineExceeded` without being computed; a
//! model swap ([`Batcher::swap`]) takes effect between two batches, so no request sees half a model.
//!
//! ```
//! use models::{infer::ActorInfer, Model, ModelConfig};
//! use serve::controller::{Batcher, BatcherConfig};
//! let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 0).unwrap();
//! let batcher = Batcher::spawn("doc", ActorInfer::new(&model), 6, 2, BatcherConfig::default(), None);
//! let rx = batcher.submit(vec![0.0, 0.0, 0.0, 0.0, 4.0, 4.0], 1, None).unwrap();
//! let reply = rx.blocking_recv().unwrap().unwrap();
//! assert_eq!(reply.actions.len(), 2);
//! batcher.stop();
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use models::infer::ActorInfer;
use prometheus::Histogram;
use tokio::sync::oneshot;

/// Waits up to this long are spent yielding rather than sleeping.
const SPIN_WAIT: Duration = Duration::from_micros(200);

/// How the worker batches.
#[derive(Clone, Copy, Debug)]
pub struct BatcherConfig {
    pub max_batch: usize,
    pub batch_wait: Duration,
    /// Requests that may wait in the channel.
    pub capacity: usize,
    /// Requests of at most this many rows may be answered on the caller's thread when nothing is
    /// queued ([`Batcher::try_inline`]); 0 sends every request through the worker.
    pub inline_max_rows: usize,
}

impl Default for BatcherConfig {
    fn default() -> Self {
        BatcherConfig { max_batch: 64, batch_wait: Duration::from_micros(25), capacity: 4096, inline_max_rows: 8 }
    }
}

/// Forward passes slower than this are never run inline: they would hold an async worker thread.
const INLINE_MAX_FORWARD: Duration = Duration::from_micros(200);

/// One answered request.
#[derive(Clone, Debug)]
pub struct ActReply {
    /// `[n, action_dim]`, row-major.
    pub actions: Vec<f32>,
    /// From submission to the start of the batch's forward pass.
    pub queue_us: u64,
    /// The batch's forward pass.
    pub inference_us: u64,
    /// Rows in the batch this request was part of.
    pub batch_rows: usize,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ActError {
    #[error("the controller queue is full ({0} requests waiting); retry shortly")]
    Overloaded(usize),
    #[error("the deadline passed before the request could be computed")]
    DeadlineExceeded,
    #[error("the model failed: {0}")]
    Model(String),
    #[error("the server is shutting down")]
    Closed,
}

/// The channel end of a request's answer.
pub type ReplyRx = oneshot::Receiver<Result<ActReply, ActError>>;

struct Job {
    rows: Vec<f32>,
    n: usize,
    enqueued: Instant,
    deadline: Option<Instant>,
    reply: oneshot::Sender<Result<ActReply, ActError>>,
}

enum Msg {
    Job(Job),
    Stop,
}

/// Shared between the handle and the worker.
struct Shared {
    queued: AtomicUsize,
    /// Exponential moving average of a batch's forward pass, in ns (for deadline admission).
    batch_ns: AtomicU64,
    pending: Mutex<Option<ActorInfer>>,
    /// The copy of the actor that answers inline requests.
    inline: Mutex<ActorInfer>,
    stopped: AtomicBool,
    batch_sizes: Option<Histogram>,
}

impl Shared {
    fn record(&self, inference: Duration, n: usize) {
        let ns = inference.as_nanos().min(u64::MAX as u128) as u64;
        let old = self.batch_ns.load(Ordering::Relaxed);
        let ewma = if old == 0 { ns } else { (old * 7 + ns) / 8 };
        self.batch_ns.store(ewma, Ordering::Relaxed);
        if let Some(h) = &self.batch_sizes {
            h.observe(n as f64);
        }
    }
}

/// Handle to a micro-batching worker thread; cheap to share behind an `Arc`.
pub struct Batcher {
    name: String,
    tx: SyncSender<Msg>,
    shared: Arc<Shared>,
    obs_dim: usize,
    action_dim: usize,
    inline_max_rows: usize,
    join: Mutex<Option<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts the worker for `actor`, whose observations are `obs_dim = state_dim + goal_dim` wide.
    /// `batch_sizes` (optional) observes the rows of every forward pass.
    pub fn spawn(
        name: &str,
        actor: ActorInfer,
        obs_dim: usize,
        action_dim: usize,
        cfg: BatcherConfig,
        batch_sizes: Option<Histogram>,
    ) -> Self {
        let (tx, rx) = mpsc::sync_channel(cfg.capacity.max(1));
        let shared = Arc::new(Shared {
            queued: AtomicUsize::new(0),
            batch_ns: AtomicU64::new(0),
            pending: Mutex::new(None),
            inline: Mutex::new(actor.clone()),
            stopped: AtomicBool::new(false),
            batch_sizes,
        });
        let worker = Worker { actor, rx, shared: shared.clone(), cfg, action_dim };
        let join = std::thread::Builder::new()
            .name(format!("{name}-batcher"))
            .spawn(move || worker.run())
            .expect("spawning a thread");
        let inline_max_rows = cfg.inline_max_rows;
        Batcher {
            name: name.to_string(),
            tx,
            shared,
            obs_dim,
            action_dim,
            inline_max_rows,
            join: Mutex::new(Some(join)),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn action_dim(&self) -> usize {
        self.action_dim
    }

    /// Requests waiting or being computed.
    pub fn queued(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// A rough bound on how long a request submitted now would take: one forward pass per batch
    /// ahead of it, plus its own.
    pub fn estimated_latency(&self, max_batch: usize) -> Duration {
        let batches = self.queued() / max_batch.max(1) + 1;
        Duration::from_nanos(self.shared.batch_ns.load(Ordering::Relaxed).saturating_mul(batches as u64))
    }

    /// Queues `n` validated `[state, goal]` rows; the answer arrives on the returned channel.
    pub fn submit(&self, rows: Vec<f32>, n: usize, deadline: Option<Instant>) -> Result<ReplyRx, ActError> {
        if self.shared.stopped.load(Ordering::Relaxed) {
            return Err(ActError::Closed);
        }
        debug_assert_eq!(rows.len(), n * self.obs_dim);
        let (reply, rx) = oneshot::channel();
        let job = Job { rows, n, enqueued: Instant::now(), deadline, reply };
        self.shared.queued.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(Msg::Job(job)) {
            Ok(()) => Ok(rx),
            Err(e) => {
                self.shared.queued.fetch_sub(1, Ordering::Relaxed);
                Err(match e {
                    TrySendError::Full(_) => ActError::Overloaded(self.queued()),
                    TrySendError::Disconnected(_) => ActError::Closed,
                })
            }
        }
    }

    /// Answers `n` validated rows on the calling thread if nothing is queued, the inline actor is
    /// free, `n` is small and the last forward pass was fast; `None` means: [`Batcher::submit`].
    pub fn try_inline(&self, rows: &[f32], n: usize) -> Option<Result<ActReply, ActError>> {
        let fast = self.shared.batch_ns.load(Ordering::Relaxed) <= INLINE_MAX_FORWARD.as_nanos() as u64;
        if n == 0
            || n > self.inline_max_rows
            || !fast
            || self.queued() > 0
            || self.shared.stopped.load(Ordering::Relaxed)
        {
            return None;
        }
        let mut actor = self.shared.inline.try_lock().ok()?;
        let start = Instant::now();
        let result = act(&mut actor, rows, n);
        let inference = start.elapsed();
        drop(actor);
        self.shared.record(inference, n);
        Some(result.map(|actions| ActReply {
            actions,
            queue_us: 0,
            inference_us: inference.as_micros() as u64,
            batch_rows: n,
        }))
    }

    /// Replaces the actor; inline requests use it from the next one on, the worker from its next
    /// batch.
    pub fn swap(&self, actor: ActorInfer) {
        *self.shared.inline.lock().unwrap_or_else(|e| e.into_inner()) = actor.clone();
        *self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()) = Some(actor);
    }

    /// Stops the worker after the requests already queued, and waits for it.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        // A blocking send: the queue may be full, and the worker drains it.
        let _ = self.tx.send(Msg::Stop);
        if let Some(join) = self.join.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = join.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One forward pass of `n` rows: the actions, or the model's error for every request in it.
fn act(actor: &mut ActorInfer, rows: &[f32], n: usize) -> Result<Vec<f32>, ActError> {
    actor.act_obs(rows, n).map(|a| a.to_vec()).map_err(|e| ActError::Model(e.to_string()))
}

struct Worker {
    actor: ActorInfer,
    rx: mpsc::Receiver<Msg>,
    shared: Arc<Shared>,
    cfg: BatcherConfig,
    action_dim: usize,
}

impl Worker {
    fn run(mut self) {
        let (mut jobs, mut live, mut rows) = (Vec::new(), Vec::new(), Vec::new());
        loop {
            let first = match self.rx.recv() {
                Ok(Msg::Job(job)) => job,
                Ok(Msg::Stop) | Err(_) => return,
            };
            let stop = self.gather(first, &mut jobs);
            self.run_batch(&mut jobs, &mut live, &mut rows);
            if stop {
                return;
            }
        }
    }

    /// Collects the batch that starts with `first` into `jobs`; true when a stop message was seen.
    fn gather(&self, first: Job, jobs: &mut Vec<Job>) -> bool {
        let mut n = first.n;
        jobs.push(first);
        let until = Instant::now() + self.cfg.batch_wait;
        while n < self.cfg.max_batch {
            let msg = match self.rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => {
                    let now = Instant::now();
                    if now >= until {
                        break;
                    }
                    // A sleeping thread wakes tens of µs late: yield through short waits instead.
                    if until - now <= SPIN_WAIT {
                        std::thread::yield_now();
                        continue;
                    }
                    match self.rx.recv_timeout(until - now) {
                        Ok(m) => m,
                        Err(RecvTimeoutError::Timeout) => break,
                        Err(RecvTimeoutError::Disconnected) => return true,
                    }
                }
            };
            match msg {
                Msg::Job(job) => {
                    n += job.n;
                    jobs.push(job);
                }
                Msg::Stop => return true,
            }
        }
        false
    }

    fn run_batch(&mut self, jobs: &mut Vec<Job>, live: &mut Vec<Job>, rows: &mut Vec<f32>) {
        if let Some(actor) = self.shared.pending.lock().unwrap_or_else(|e| e.into_inner()).take() {
            self.actor = actor;
        }
        let start = Instant::now();
        let done = jobs.len();
        // Skip requests nobody waits for any more, and answer those already past their deadline.
        for job in jobs.drain(..) {
            if job.reply.is_closed() {
                continue;
            }
            if job.deadline.is_some_and(|d| d <= start) {
                let _ = job.reply.send(Err(ActError::DeadlineExceeded));
                continue;
            }
            live.push(job);
        }
        if !live.is_empty() {
            rows.clear();
            let mut n = 0;
            for job in live.iter() {
                rows.extend_from_slice(&job.rows);
                n += job.n;
            }
            let result = act(&mut self.actor, rows, n);
            let inference = start.elapsed();
            self.shared.record(inference, n);
            let mut offset = 0;
            for job in live.drain(..) {
                let k = job.n * self.action_dim;
                let answer = result.as_ref().map_err(Clone::clone).map(|all| ActReply {
                    actions: all[offset..offset + k].to_vec(),
                    queue_us: start.duration_since(job.enqueued).as_micros() as u64,
                    inference_us: inference.as_micros() as u64,
                    batch_rows: n,
                });
                offset += k;
                let _ = job.reply.send(answer);
            }
        }
        self.shared.queued.fetch_sub(done, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use models::{Model, ModelConfig};

    fn batcher(cfg: BatcherConfig) -> (Batcher, Model) {
        let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 3).unwrap();
        (Batcher::spawn("test", ActorInfer::new(&model), 6, 2, cfg, None), model)
    }

    fn obs(i: usize) -> Vec<f32> {
        let x = i as f32 * 0.1;
        vec![x, -x, 0.1, 0.0, 4.0 - x, 4.0]
    }

    #[test]
    fn concurrent_requests_share_a_batch_and_match_batch_one() {
        let cfg =
            BatcherConfig { max_batch: 8, batch_wait: Duration::from_millis(50), capacity: 64, inline_max_rows: 0 };
        let (b, model) = batcher(cfg);
        let rxs: Vec<_> = (0..8).map(|i| b.submit(obs(i), 1, None).unwrap()).collect();
        let mut single = ActorInfer::new(&model);
        let mut max_rows = 0;
        for (i, rx) in rxs.into_iter().enumerate() {
            let r = rx.blocking_recv().unwrap().unwrap();
            let expect = single.act_obs(&obs(i), 1).unwrap();
            for (a, e) in r.actions.iter().zip(expect) {
                assert!((a - e).abs() < 1e-5, "{a} vs {e}");
            }
            max_rows = max_rows.max(r.batch_rows);
        }
        assert!(max_rows > 1, "requests submitted together were never batched");
        b.stop();
    }

    #[test]
    fn a_full_queue_refuses_and_a_past_deadline_is_not_computed() {
        let cfg = BatcherConfig { max_batch: 1, batch_wait: Duration::ZERO, capacity: 1, inline_max_rows: 0 };
        let (b, _) = batcher(cfg);
        let past = Instant::now();
        let mut refused = 0;
        let mut rxs = Vec::new();
        for i in 0..200 {
            match b.submit(obs(i), 1, Some(past)) {
                Ok(rx) => rxs.push(rx),
                Err(ActError::Overloaded(_)) => refused += 1,
                Err(e) => panic!("{e}"),
            }
        }
        assert!(refused > 0, "a queue of capacity 1 never filled");
        for rx in rxs {
            assert_eq!(rx.blocking_recv().unwrap().unwrap_err(), ActError::DeadlineExceeded);
        }
        b.stop();
        assert_eq!(b.submit(obs(0), 1, None).unwrap_err(), ActError::Closed);
    }

    #[test]
    fn a_swapped_actor_answers_the_next_batch() {
        let (b, _) = batcher(BatcherConfig::default());
        let other = Model::init(&ModelConfig::point_maze(4).with_width(16), 99).unwrap();
        let before = b.submit(obs(1), 1, None).unwrap().blocking_recv().unwrap().unwrap().actions;
        b.swap(ActorInfer::new(&other));
        let after = b.submit(obs(1), 1, None).unwrap().blocking_recv().unwrap().unwrap().actions;
        let expect = ActorInfer::new(&other).act_obs(&obs(1), 1).unwrap().to_vec();
        assert_ne!(before, after);
        assert_eq!(after, expect);
    }

    #[test]
    fn small_requests_on_an_empty_queue_are_answered_inline_by_the_same_model() {
        let (b, model) = batcher(BatcherConfig::default());
        let got = b.try_inline(&obs(2), 1).expect("an idle batcher answers inline").unwrap();
        assert_eq!((got.queue_us, got.batch_rows), (0, 1));
        assert_eq!(got.actions, ActorInfer::new(&model).act_obs(&obs(2), 1).unwrap().to_vec());
        let rows: Vec<f32> = (0..9).flat_map(obs).collect();
        assert!(b.try_inline(&rows, 9).is_none(), "9 rows exceed inline_max_rows = 8");
        // After a swap the inline path answers with the new model, as the worker does.
        let other = Model::init(&ModelConfig::point_maze(4).with_width(16), 99).unwrap();
        b.swap(ActorInfer::new(&other));
        let swapped = match b.try_inline(&obs(2), 1) {
            Some(reply) => reply.unwrap().actions,
            // Where a forward pass is slow (qemu runs the aarch64 tests), the first one turned the
            // inline path off by design; the worker must then answer with the new model too.
            None => {
                let slow = b.shared.batch_ns.load(Ordering::Relaxed) > INLINE_MAX_FORWARD.as_nanos() as u64;
                assert!(slow, "an idle batcher with a fast model declined to answer inline");
                b.submit(obs(2), 1, None).unwrap().blocking_recv().unwrap().unwrap().actions
            }
        };
        assert_eq!(swapped, ActorInfer::new(&other).act_obs(&obs(2), 1).unwrap().to_vec());
        let off = batcher(BatcherConfig { inline_max_rows: 0, ..BatcherConfig::default() }).0;
        assert!(off.try_inline(&obs(2), 1).is_none(), "inline_max_rows = 0 disables the inline path");
        b.stop();
        assert!(b.try_inline(&obs(2), 1).is_none(), "a stopped batcher answers nothing");
    }
}
