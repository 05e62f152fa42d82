//! `ServeConfig`: everything the server is started with (DESIGN.md section 8), one struct that is also
//! the command line ([`ServeCli`]: flags over `--config FILE.toml` over the defaults) and that tests
//! fill, serde-(de)serialisable so it can be logged and written out.
//!
//! ```
//! let mut cfg = serve::config::ServeConfig::new("runs/teacher", "runs/teacher/students/s8");
//! cfg.plan_hz = 4.0;
//! cfg.validate().unwrap();
//! cfg.plan_hz = 0.0;
//! assert!(cfg.validate().is_err());
//! ```

use std::path::PathBuf;
use std::time::Duration;

use models::infer::WeightPrecision;
use serde::{Deserialize, Serialize};

/// The environment variable read for the API key when `--api-key` is not given.
pub const API_KEY_ENV: &str = "DEEPCRL_API_KEY";

/// Everything the server is started with. The struct is also `serve`'s command line (`clap::Args`):
/// each field's doc comment is its flag's help and [`Default`] gives every default.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// The planner: a training run directory (teacher.safetensors + bank.safetensors) or a checkpoint.
    #[arg(long)]
    pub planner: PathBuf,
    /// The controller: a student directory (runs/NAME/students/ID), a run directory or a checkpoint.
    #[arg(long)]
    pub controller: PathBuf,
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    #[arg(long, default_value_t = ServeConfig::default().addr)]
    pub addr: String,
    /// Plan refreshes per second per session (sessions may ask for their own rate).
    #[arg(long, default_value_t = ServeConfig::default().plan_hz)]
    pub plan_hz: f64,
    /// Most waypoints in a plan, the goal included.
    #[arg(long, default_value_t = ServeConfig::default().horizon)]
    pub horizon: usize,
    /// Most sessions open at once; creating one more answers 429 (idle sessions expire after --session-ttl).
    #[arg(long, default_value_t = ServeConfig::default().max_sessions)]
    pub max_sessions: usize,
    /// Seconds of inactivity after which a session is dropped.
    #[arg(long = "session-ttl", value_name = "SECONDS", default_value_t = ServeConfig::default().session_ttl_s)]
    pub session_ttl_s: f64,
    /// A plan older than this (ms) is not used: the controller steers to the goal and says so.
    #[arg(long, default_value_t = ServeConfig::default().max_plan_age_ms)]
    pub max_plan_age_ms: u64,
    /// Bearer token required on /v1 and /v2/models routes (default: the DEEPCRL_API_KEY environment variable). Never
    /// serialised, and not accepted from a config file.
    #[serde(skip)]
    #[arg(long, env = API_KEY_ENV, hide_env_values = true)]
    pub api_key: Option<String>,
    /// Most rows in one controller forward pass.
    #[arg(long, default_value_t = ServeConfig::default().max_batch)]
    pub max_batch: usize,
    /// Microseconds the controller waits for more requests after the first of a batch.
    #[arg(long, default_value_t = ServeConfig::default().batch_wait_us)]
    pub batch_wait_us: u64,
    /// Requests of at most this many rows are answered on the request's own thread when the queue
    /// is empty, skipping the hand-off to the batcher thread; 0 batches every request.
    #[arg(long, default_value_t = ServeConfig::default().inline_max_rows)]
    pub inline_max_rows: usize,
    /// Requests that may wait for the controller before new ones get 429.
    #[arg(long, default_value_t = ServeConfig::default().queue_capacity)]
    pub queue_capacity: usize,
    /// Largest request body in bytes (larger → 413).
    #[arg(long, default_value_t = ServeConfig::default().body_limit)]
    pub body_limit: usize,
    /// Goal-space distance at which a waypoint counts as reached and the robot steers to the next
    /// one (default: 4 × the environment's success threshold, 2.0 on the point mazes).
    #[arg(long)]
    pub advance_radius: Option<f32>,
    /// Drop planning-graph edges longer than this critic distance (default: --edge-quantile).
    #[arg(long)]
    pub edge_cutoff: Option<f32>,
    /// Without --edge-cutoff: keep the shortest this-fraction of node-to-node edges.
    #[arg(long, default_value_t = ServeConfig::default().edge_quantile)]
    pub edge_quantile: f32,
    /// Most sessions planned in one batched pass.
    #[arg(long, default_value_t = ServeConfig::default().planner_batch)]
    pub planner_batch: usize,
    /// How the controller's and the planner actor's trunk weights are stored: f32, or bf16 / f16 for
    /// about half the batch-1 latency of a deep actor with actions within 1e-2 of f32
    /// (docs/performance.md). Half precision needs AVX2 (with F16C) or AVX-512, and is refused
    /// where it would be slower than f32.
    #[arg(long, default_value_t = ServeConfig::default().weight_precision, value_parser = parse_precision)]
    pub weight_precision: WeightPrecision,
    /// Session streams: an observation stamped longer ago than this (ms) is refused as stale.
    #[arg(long, default_value_t = ServeConfig::default().stream_max_obs_age_ms)]
    pub stream_max_obs_age_ms: f64,
    /// Session streams: an observation's default budget (ms from its arrival) for its action.
    #[arg(long, default_value_t = ServeConfig::default().stream_deadline_ms)]
    pub stream_deadline_ms: f64,
    /// Session streams: server frames that may wait for a robot that does not read, before the
    /// stream is closed; the largest frame read is --body-limit.
    #[arg(long, default_value_t = ServeConfig::default().stream_queue_frames)]
    pub stream_queue_frames: usize,
    /// Session streams: the server pings this often (ms) and closes a stream silent for three pings.
    #[arg(long, default_value_t = ServeConfig::default().stream_ping_ms)]
    pub stream_ping_ms: u64,
    /// Threads of the async runtime that answers HTTP and the streams (the controller and the planner
    /// have their own). One keeps a request on one thread and is steadier where the server shares two
    /// cores with its robots (docs/serve/stream-2026-12-07: 16 robots at 500 Hz missed 3-29 ticks of
    /// 48,000 over the stream with 1, 157-313 with 2); more serve more connections on more cores.
    #[arg(long, default_value_t = ServeConfig::default().workers)]
    pub workers: usize,
}

fn parse_precision(s: &str) -> Result<WeightPrecision, String> {
    s.parse()
}

/// The default advance radius in units of the environment's success threshold. A waypoint is a bank
/// state, often beside a wall, where the student need not settle as precisely as at the goal: with
/// 2× (1.0 on the point mazes) the robot hovered short of some waypoints, 4× (2.0) matched the
/// controller's time at goal on the U-maze and gave the best big-maze success of 1×–6× (docs/serve).
pub const ADVANCE_RADIUS_PER_THRESHOLD: f32 = 4.0;

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            planner: PathBuf::new(),
            controller: PathBuf::new(),
            addr: "127.0.0.1:8080".into(),
            plan_hz: 2.0,
            horizon: 8,
            max_sessions: 256,
            session_ttl_s: 60.0,
            max_plan_age_ms: 2000,
            api_key: None,
            max_batch: 64,
            batch_wait_us: 25,
            inline_max_rows: 8,
            queue_capacity: 4096,
            body_limit: 64 * 1024,
            advance_radius: None,
            edge_cutoff: None,
            edge_quantile: 0.2,
            planner_batch: 16,
            weight_precision: WeightPrecision::F32,
            stream_max_obs_age_ms: 100.0,
            stream_deadline_ms: 50.0,
            stream_queue_frames: 64,
            stream_ping_ms: 1000,
            workers: 2,
        }
    }
}

impl ServeConfig {
    /// The defaults for a planner and a controller path.
    pub fn new(planner: impl Into<PathBuf>, controller: impl Into<PathBuf>) -> Self {
        ServeConfig { planner: planner.into(), controller: controller.into(), ..ServeConfig::default() }
    }

    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs_f64(self.session_ttl_s)
    }

    pub fn max_plan_age(&self) -> Duration {
        Duration::from_millis(self.max_plan_age_ms)
    }

    /// Checks every value; the message names the flag to change.
    pub fn validate(&self) -> Result<(), String> {
        let positive = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(format!("--{name} must be a positive number (got {v})"))
            }
        };
        positive("plan-hz", self.plan_hz)?;
        positive("session-ttl", self.session_ttl_s)?;
        positive("stream-max-obs-age-ms", self.stream_max_obs_age_ms)?;
        positive("stream-deadline-ms", self.stream_deadline_ms)?;
        if let Some(r) = self.advance_radius {
            positive("advance-radius", r as f64)?;
        }
        if let Some(c) = self.edge_cutoff {
            positive("edge-cutoff", c as f64)?;
        }
        if !(self.edge_quantile > 0.0 && self.edge_quantile <= 1.0) {
            return Err(format!("--edge-quantile must be in (0, 1] (got {})", self.edge_quantile));
        }
        for (name, v) in [
            ("horizon", self.horizon),
            ("max-sessions", self.max_sessions),
            ("max-batch", self.max_batch),
            ("queue-capacity", self.queue_capacity),
            ("body-limit", self.body_limit),
            ("planner-batch", self.planner_batch),
            ("stream-queue-frames", self.stream_queue_frames),
            ("stream-ping-ms", self.stream_ping_ms as usize),
            ("workers", self.workers),
        ] {
            if v == 0 {
                return Err(format!("--{name} must be at least 1"));
            }
        }
        if self.max_plan_age_ms == 0 {
            return Err("--max-plan-age-ms must be at least 1".into());
        }
        if let Err(why) = self.weight_precision.check_here() {
            return Err(format!("--weight-precision {}: {why}", self.weight_precision));
        }
        if self.api_key.as_deref().is_some_and(str::is_empty) {
            return Err(format!("--api-key (or {API_KEY_ENV}) must not be empty"));
        }
        Ok(())
    }
}

/// The hierarchical planner/controller server: the deep teacher plans, the student acts.
#[derive(clap::Parser, Debug)]
#[command(name = "serve", version, about, long_about = None)]
pub struct ServeCli {
    /// TOML file with any of the flags below as keys (`plan_hz = 4.0`), except the API key; flags given
    /// here override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub cfg: ServeConfig,
}

/// Resolves parsed flags over `--config` and checks every value before a model is loaded.
pub fn resolve(matches: &clap::ArgMatches) -> crate::failure::Result<ServeConfig> {
    let mut cfg: ServeConfig = rundir::config::resolve(matches, &rundir::config::config_flag(matches)?)?;
    // The key is never serialised, so the layering cannot carry it: it comes from the flag or its variable.
    cfg.api_key = matches.get_one::<String>("api_key").cloned();
    cfg.validate().map_err(crate::failure::ServeError::Config)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> crate::failure::Result<ServeConfig> {
        let base = ["serve", "--planner", "p", "--controller", "c"];
        let matches = ServeCli::command().try_get_matches_from(base.iter().chain(args));
        resolve(&matches.map_err(|e| crate::failure::ServeError::Config(e.to_string()))?)
    }

    #[test]
    fn flags_override_the_config_file_and_the_key_comes_from_the_flag_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("s.toml");
        // bf16 where this CPU's kernels widen it (AVX2 or AVX-512); elsewhere (ARM, or a capped
        // DEEPCRL_MAX_ISA) it is refused, and f16 with it, so the file sets f32 explicitly instead.
        let precision = match WeightPrecision::Bf16.check_here() {
            Ok(()) => WeightPrecision::Bf16,
            Err(_) => {
                let e = parse(&["--weight-precision", "bf16"]).unwrap_err().to_string();
                assert!(e.contains("kernels run at the") && e.contains("use f32"), "{e}");
                WeightPrecision::F32
            }
        };
        let text = format!("plan_hz = 4.0\nsession_ttl_s = 5.0\nweight_precision = \"{precision}\"\n");
        std::fs::write(&file, text).unwrap();
        let f = file.to_str().unwrap();
        let cfg = parse(&["--config", f, "--plan-hz", "3", "--api-key", "k"]).unwrap();
        let want = ServeConfig {
            plan_hz: 3.0,
            session_ttl_s: 5.0,
            weight_precision: precision,
            api_key: Some("k".into()),
            ..ServeConfig::new("p", "c")
        };
        assert_eq!(cfg, want);
        assert_eq!(parse(&[]).unwrap(), ServeConfig::new("p", "c"), "clap's defaults are ServeConfig::default()");
        std::fs::write(&file, "api_key = \"secret\"\n").unwrap();
        let e = parse(&["--config", f]).unwrap_err().to_string();
        assert!(e.contains("unknown key `api_key`"), "{e}");
        let e = parse(&["--weight-precision", "f8"]).unwrap_err().to_string();
        assert!(e.contains("bf16"), "{e}");
        let e = parse(&["--horizon", "0"]).unwrap_err().to_string();
        assert!(e.contains("--horizon"), "{e}");
    }

    #[test]
    fn defaults_validate_and_bad_values_name_their_flag() {
        let cfg = ServeConfig::new("a", "b");
        cfg.validate().unwrap();
        let mut c = cfg.clone();
        c.horizon = 0;
        assert!(c.validate().unwrap_err().contains("--horizon"));
        let mut c = cfg.clone();
        c.edge_quantile = 1.5;
        assert!(c.validate().unwrap_err().contains("--edge-quantile"));
        let mut c = cfg;
        c.api_key = Some(String::new());
        assert!(c.validate().unwrap_err().contains("DEEPCRL_API_KEY"));
    }

    #[test]
    fn the_api_key_is_never_serialised() {
        let mut cfg = ServeConfig::new("a", "b");
        cfg.api_key = Some("secret".into());
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(!json.contains("secret"), "{json}");
    }
}
