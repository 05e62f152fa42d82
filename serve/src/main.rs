//! `cargo serve --planner runs/NAME --controller runs/NAME/students/ID`: parses the flags and runs
//! the server until Ctrl-C or SIGTERM, then drains in-flight requests (see the `serve` library).

use std::path::PathBuf;

use clap::Parser;
use serve::config::{ServeConfig, API_KEY_ENV};

/// The hierarchical planner/controller server: the deep teacher plans, the student acts.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The planner: a training run directory (teacher.safetensors + bank.safetensors) or a checkpoint.
    #[arg(long)]
    planner: PathBuf,
    /// The controller: a student directory (runs/NAME/students/ID), a run directory or a checkpoint.
    #[arg(long)]
    controller: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Plan refreshes per second per session (sessions may ask for their own rate).
    #[arg(long, default_value_t = 2.0)]
    plan_hz: f64,
    /// Most waypoints in a plan, the goal included.
    #[arg(long, default_value_t = 8)]
    horizon: usize,
    /// Most sessions open at once; creating one more answers 429 (idle sessions expire after --session-ttl).
    #[arg(long, default_value_t = 256)]
    max_sessions: usize,
    /// Seconds of inactivity after which a session is dropped.
    #[arg(long, default_value_t = 60.0)]
    session_ttl: f64,
    /// A plan older than this (ms) is not used: the controller steers to the goal and says so.
    #[arg(long, default_value_t = 2000)]
    max_plan_age_ms: u64,
    /// Bearer token required on /v1 routes (default: the DEEPCRL_API_KEY environment variable).
    #[arg(long, env = API_KEY_ENV, hide_env_values = true)]
    api_key: Option<String>,
    /// Most rows in one controller forward pass.
    #[arg(long, default_value_t = 64)]
    max_batch: usize,
    /// Microseconds the controller waits for more requests after the first of a batch.
    #[arg(long, default_value_t = 25)]
    batch_wait_us: u64,
    /// Requests of at most this many rows are answered on the request's own thread when the queue
    /// is empty, skipping the hand-off to the batcher thread; 0 batches every request.
    #[arg(long, default_value_t = 8)]
    inline_max_rows: usize,
    /// Requests that may wait for the controller before new ones get 429.
    #[arg(long, default_value_t = 4096)]
    queue_capacity: usize,
    /// Largest request body in bytes.
    #[arg(long, default_value_t = 65536)]
    body_limit: usize,
    /// Goal-space distance at which a waypoint counts as reached and the robot steers to the next
    /// one (default: 4 × the environment's success threshold, 2.0 on the point mazes).
    #[arg(long)]
    advance_radius: Option<f32>,
    /// Drop graph edges longer than this critic distance (default: --edge-quantile).
    #[arg(long)]
    edge_cutoff: Option<f32>,
    /// Keep the shortest this-fraction of node-to-node edges.
    #[arg(long, default_value_t = 0.2)]
    edge_quantile: f32,
    /// Most sessions planned in one batched pass.
    #[arg(long, default_value_t = 16)]
    planner_batch: usize,
    /// How the controller's and the planner actor's trunk weights are stored: f32, or bf16/f16 for
    /// about half the batch-1 latency of a deep actor with actions within 1e-2 of f32
    /// (docs/performance.md).
    #[arg(long, default_value = "f32")]
    weight_precision: models::infer::WeightPrecision,
}

impl Cli {
    fn into_config(self) -> ServeConfig {
        ServeConfig {
            planner: self.planner,
            controller: self.controller,
            addr: self.addr,
            plan_hz: self.plan_hz,
            horizon: self.horizon,
            max_sessions: self.max_sessions,
            session_ttl_s: self.session_ttl,
            max_plan_age_ms: self.max_plan_age_ms,
            api_key: self.api_key,
            max_batch: self.max_batch,
            batch_wait_us: self.batch_wait_us,
            inline_max_rows: self.inline_max_rows,
            queue_capacity: self.queue_capacity,
            body_limit: self.body_limit,
            advance_radius: self.advance_radius,
            edge_cutoff: self.edge_cutoff,
            edge_quantile: self.edge_quantile,
            planner_batch: self.planner_batch,
            weight_precision: self.weight_precision,
        }
    }
}

fn main() -> anyhow::Result<()> {
    // Two small thread pools collapse under contention (DESIGN.md section 10): pin them unless asked.
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "1");
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cfg = Cli::parse().into_config();
    cfg.validate().map_err(anyhow::Error::msg)?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    runtime.block_on(serve::server::run(cfg, shutdown_signal()))
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
