//! The simulated robot client (`robot-sim`, DESIGN.md section 8): each robot is one built-in
//! environment stepped in real time at `control_hz` against the server over HTTP, in one of three
//! modes: `controller` (the student steers straight to the commanded goal: `/v1/act`), `planner`
//! (the deep teacher's actor every tick: `/v1/act` with `model: "planner"`), and `hierarchical` (a
//! session per episode: the planner's waypoints, the student's actions: `/v1/sessions/{id}/act`).
//!
//! Every tick sends one request with the control period as its deadline; an answer that is late, an
//! error or a timeout leaves the robot repeating its last action (counted as `missed`). Each mode
//! reports success rate and time at goal (with 95% intervals, as `envs::eval`), and the round-trip
//! latency percentiles and the server's own timing, as JSON and as a table.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use envs::{EnvOptions, GoalEnv, Stat};
use hdrhistogram::Histogram;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::Client;
use crate::error::{Result, RobotError};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Hierarchical,
    Controller,
    Planner,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Controller, Mode::Planner, Mode::Hierarchical];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Hierarchical => "hierarchical",
            Mode::Controller => "controller",
            Mode::Planner => "planner",
        }
    }
}

/// What `robot-sim` runs.
#[derive(Clone, Debug, Serialize)]
pub struct SimConfig {
    /// Base URL of the server, e.g. `http://127.0.0.1:8080`.
    pub server: String,
    pub env: String,
    /// A maze layout file (`train --layout`), for mazes of the user's own.
    pub layout: Option<std::path::PathBuf>,
    pub robots: usize,
    pub control_hz: f64,
    pub modes: Vec<Mode>,
    /// Episodes per mode, spread over the robots.
    pub episodes: usize,
    /// Steps per episode (`None`: the environment's default).
    pub episode_length: Option<usize>,
    pub seed: u64,
    #[serde(skip)]
    pub api_key: Option<String>,
    /// Each session's plan refresh rate (`None`: the server's default).
    pub plan_hz: Option<f64>,
}

/// Latency percentiles in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    pub fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            count: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// One mode's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct ModeReport {
    pub mode: Mode,
    pub episodes: usize,
    pub success_rate: Stat,
    pub time_at_goal: Stat,
    /// Round trip as the robot saw it.
    pub latency: Latency,
    /// The server's `server_timing.total_us`.
    pub server_latency: Latency,
    pub requests: u64,
    /// Ticks without a usable answer in time (late, error, timeout): the last action was repeated.
    pub missed: u64,
    /// Hierarchical acts that steered to the goal for lack of a fresh plan.
    pub fallbacks: u64,
    pub wall_s: f64,
    /// Control steps per second per robot actually achieved.
    pub achieved_hz: f64,
    /// Success rate per commanded goal (goal printed with one decimal).
    pub per_goal: BTreeMap<String, GoalStat>,
}

/// Episodes and successes for one goal.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GoalStat {
    pub episodes: usize,
    pub successes: usize,
}

/// What one robot measured.
struct RobotLog {
    goals: Vec<Vec<f32>>,
    successes: Vec<bool>,
    time_at_goal: Vec<f64>,
    latency: Histogram<u64>,
    server: Histogram<u64>,
    requests: u64,
    missed: u64,
    fallbacks: u64,
    steps: u64,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

async fn run_robot(cfg: SimConfig, mode: Mode, robot: usize, link: Client, episodes: usize) -> Result<RobotLog> {
    let opts = EnvOptions { episode_length: cfg.episode_length, layout: cfg.layout.clone(), ..EnvOptions::default() };
    let seed = cfg.seed.wrapping_add(robot as u64 * 7919);
    let mut env: Box<dyn GoalEnv> = envs::make_with(&cfg.env, 1, seed, &opts)?;
    env.reset(seed);
    let spec = env.spec().clone();
    let (sd, ad, len) = (spec.state_dim, spec.action_dim, spec.episode_length);
    let mut log = RobotLog {
        goals: Vec::new(),
        successes: Vec::new(),
        time_at_goal: Vec::new(),
        latency: histogram(),
        server: histogram(),
        requests: 0,
        missed: 0,
        fallbacks: 0,
        steps: 0,
    };
    let mut action = vec![0f32; ad];
    let mut tick = tokio::time::interval(link.period());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for _ in 0..episodes {
        let obs = env.observations().to_vec();
        let (state, goal) = (obs[..sd].to_vec(), obs[sd..].to_vec());
        let session = match mode {
            Mode::Hierarchical => {
                let mut body = json!({ "obs": state, "goal": &goal });
                if let Some(hz) = cfg.plan_hz {
                    body["plan_hz"] = json!(hz);
                }
                let (status, v) = link.call(Method::POST, "/v1/sessions", Some(body)).await?;
                if status != 201 {
                    return Err(RobotError::Refused { what: "POST /v1/sessions".into(), status, body: v });
                }
                let Some(id) = v["session_id"].as_str() else {
                    return Err(RobotError::Refused {
                        what: "POST /v1/sessions (no session_id)".into(),
                        status,
                        body: v,
                    });
                };
                Some(id.to_string())
            }
            _ => None,
        };
        let (mut success, mut at_goal) = (false, 0u32);
        action.iter_mut().for_each(|a| *a = 0.0);
        for _ in 0..len {
            tick.tick().await;
            let obs = env.observations();
            let body = match (mode, &session) {
                (Mode::Hierarchical, _) => json!({ "obs": &obs[..sd] }),
                (Mode::Controller, _) => json!({ "obs": &obs[..sd], "goal": &obs[sd..] }),
                (Mode::Planner, _) => json!({ "obs": &obs[..sd], "goal": &obs[sd..], "model": "planner" }),
            };
            let path = match &session {
                Some(id) => format!("/v1/sessions/{id}/act"),
                None => "/v1/act".to_string(),
            };
            let sent = Instant::now();
            let answer = link.act(&path, body).await;
            let rtt = sent.elapsed();
            log.requests += 1;
            match answer {
                Some((a, server_us, fallback)) if a.len() == ad && rtt <= link.period() => {
                    log.latency.saturating_record(rtt.as_micros().max(1) as u64);
                    log.server.saturating_record(server_us.max(1));
                    log.fallbacks += fallback as u64;
                    action = a;
                }
                _ => log.missed += 1,
            }
            let info = env.step(&action)?[0];
            log.steps += 1;
            success |= info.success;
            at_goal += info.success as u32;
            if info.done() {
                break;
            }
        }
        if let Some(id) = session {
            let _ = link.call(Method::DELETE, &format!("/v1/sessions/{id}"), None).await;
        }
        log.goals.push(goal);
        log.successes.push(success);
        log.time_at_goal.push(at_goal as f64 / len as f64);
    }
    Ok(log)
}

/// Runs one mode: every robot at once, `cfg.episodes` episodes in all.
pub async fn run_mode(cfg: &SimConfig, mode: Mode) -> Result<ModeReport> {
    let period = Duration::from_secs_f64(1.0 / cfg.control_hz);
    let link = Client::new(&cfg.server, cfg.api_key.clone(), period, cfg.robots)?;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..cfg.robots {
        let episodes = (cfg.episodes + cfg.robots - 1 - r) / cfg.robots;
        if episodes > 0 {
            tasks.push(tokio::spawn(run_robot(cfg.clone(), mode, r, link.clone(), episodes)));
        }
    }
    let (mut latency, mut server) = (histogram(), histogram());
    let (mut successes, mut tags) = (Vec::new(), Vec::new());
    let mut per_goal: BTreeMap<String, GoalStat> = BTreeMap::new();
    let (mut requests, mut missed, mut fallbacks, mut steps) = (0, 0, 0, 0);
    for t in tasks {
        let log = t.await??;
        latency.add(&log.latency).ok();
        server.add(&log.server).ok();
        for (g, &ok) in log.goals.iter().zip(&log.successes) {
            let key = g.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
            let e = per_goal.entry(key).or_default();
            e.episodes += 1;
            e.successes += ok as usize;
        }
        successes.extend(log.successes);
        tags.extend(log.time_at_goal);
        (requests, missed, fallbacks, steps) =
            (requests + log.requests, missed + log.missed, fallbacks + log.fallbacks, steps + log.steps);
    }
    let wall_s = started.elapsed().as_secs_f64();
    Ok(ModeReport {
        mode,
        episodes: successes.len(),
        success_rate: Stat::wilson(successes.iter().filter(|&&s| s).count(), successes.len()),
        time_at_goal: Stat::mean_fraction(&tags),
        latency: Latency::of(&latency),
        server_latency: Latency::of(&server),
        requests,
        missed,
        fallbacks,
        wall_s,
        achieved_hz: steps as f64 / wall_s / cfg.robots.max(1) as f64,
        per_goal,
    })
}

/// Checks the server is ready, then runs every mode in turn.
pub async fn run(cfg: &SimConfig) -> Result<Vec<ModeReport>> {
    if cfg.robots == 0 || cfg.episodes == 0 || !(cfg.control_hz > 0.0 && cfg.control_hz.is_finite()) {
        return Err(RobotError::Config("--robots, --episodes and --control-hz must be positive".into()));
    }
    let period = Duration::from_secs_f64(1.0 / cfg.control_hz);
    Client::new(&cfg.server, cfg.api_key.clone(), period, 1)?.check_ready().await?;
    let mut out = Vec::new();
    for &mode in &cfg.modes {
        out.push(run_mode(cfg, mode).await?);
    }
    Ok(out)
}

/// The reports as a text table.
pub fn table(reports: &[ModeReport]) -> String {
    let mut s = format!(
        "{:<13} {:>8} {:>16} {:>16} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7}\n",
        "mode",
        "episodes",
        "success",
        "time at goal",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "server99",
        "missed",
        "hz"
    );
    let stat = |st: &Stat| format!("{:.2} [{:.2},{:.2}]", st.mean, st.ci95_low, st.ci95_high);
    for r in reports {
        s += &format!(
            "{:<13} {:>8} {:>16} {:>16} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>7.1}\n",
            r.mode.name(),
            r.episodes,
            stat(&r.success_rate),
            stat(&r.time_at_goal),
            r.latency.p50_us,
            r.latency.p90_us,
            r.latency.p99_us,
            r.latency.max_us,
            r.server_latency.p99_us,
            r.missed,
            r.achieved_hz
        );
    }
    s
}
