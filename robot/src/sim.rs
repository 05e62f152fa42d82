//! The simulated robot client (`robot-sim`, DESIGN.md section 8): each robot is one built-in
//! environment stepped in real time at `control_hz` against the server, in one of four modes:
//! `controller` (the student steers straight to the commanded goal: `/v1/act`), `planner` (the deep
//! teacher's actor every tick: `/v1/act` with `model: "planner"`), `hierarchical` (a session per
//! episode: the planner's waypoints, the student's actions, per tick over HTTP,
//! `/v1/sessions/{id}/act`, or over the session stream with `--transport ws`), and `onboard` (the
//! student runs on the robot and follows plans pushed over the stream: no network round trip per tick).
//!
//! In the per-tick modes a tick waits at most one control period for its answer; a tick without one
//! is `missed` and repeats the last action while it is younger than `hold_after_ms`, then holds zero
//! (`held`). Each mode reports success rate and time at goal (with 95% intervals, as `envs::eval`),
//! the round-trip latency percentiles and the server's own timing, as JSON and as a table.
//! The robots themselves are [`crate::episode`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use envs::Stat;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::client::Client;
use crate::episode::{histogram, Counts, Robot};
use crate::error::{Result, RobotError};
use crate::onboard::Student;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Hierarchical,
    Controller,
    Planner,
    Onboard,
}

/// The error for onboard mode without a student.
pub(crate) const NEEDS_STUDENT: &str = "--mode onboard needs --student DIR_OR_FILE (the served controller)";

/// How the per-tick session mode reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Http,
    /// The session stream (WebSocket, MessagePack).
    Ws,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Controller, Mode::Planner, Mode::Hierarchical];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Hierarchical => "hierarchical",
            Mode::Controller => "controller",
            Mode::Planner => "planner",
            Mode::Onboard => "onboard",
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
    /// How hierarchical mode reaches the server each tick.
    pub transport: Transport,
    /// The student checkpoint for onboard mode (it must be the server's controller).
    pub student: Option<PathBuf>,
    /// A per-tick robot without a fresh answer for this long holds zero instead of its last action.
    pub hold_after_ms: f64,
}

impl SimConfig {
    /// A configuration with the defaults of `robot-sim`'s flags.
    pub fn new(server: &str, env: &str, modes: Vec<Mode>) -> Self {
        SimConfig {
            server: server.to_string(),
            env: env.to_string(),
            layout: None,
            robots: 16,
            control_hz: 200.0,
            modes,
            episodes: 16,
            episode_length: None,
            seed: 0,
            api_key: None,
            plan_hz: None,
            transport: Transport::Http,
            student: None,
            hold_after_ms: 50.0,
        }
    }
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
    /// `http` or `ws` for the per-tick modes; onboard uses the stream for plans only.
    pub transport: Transport,
    pub episodes: usize,
    pub success_rate: Stat,
    pub time_at_goal: Stat,
    /// Round trip as the robot saw it.
    pub latency: Latency,
    /// The server's `server_timing.total_us`.
    pub server_latency: Latency,
    /// The student's forward pass on the robot (onboard mode; empty otherwise).
    pub local_latency: Latency,
    pub requests: u64,
    /// Network round trips a control tick waited for, per tick: 1 in the per-tick modes, 0 onboard.
    pub round_trips_per_tick: f64,
    /// Ticks without a usable answer in time (late, error, timeout, link down).
    pub missed: u64,
    /// Stream ticks that acted on the answer to an earlier observation, which came after its own
    /// tick (the stream pipelines: a late answer is still used, while younger than `hold_after_ms`).
    pub late: u64,
    /// Missed ticks past `hold_after_ms` since the last fresh answer: the robot held zero.
    pub held: u64,
    /// Ticks that steered to the goal for lack of a fresh plan (hierarchical and onboard).
    pub fallbacks: u64,
    /// Plans received over the stream, reconnections of the stream, state reports sent (onboard).
    pub plans: u64,
    pub reconnects: u64,
    pub state_reports: u64,
    /// Robots that stopped before their last episode, and why (each distinct reason once).
    pub stopped: usize,
    pub stop_reasons: Vec<String>,
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

/// Runs one mode: every robot at once, `cfg.episodes` episodes in all.
pub async fn run_mode(cfg: &SimConfig, mode: Mode) -> Result<ModeReport> {
    let period = Duration::from_secs_f64(1.0 / cfg.control_hz);
    let link = Client::new(&cfg.server, cfg.api_key.clone(), period, cfg.robots)?;
    let student = match (mode, &cfg.student) {
        (Mode::Onboard, Some(path)) => Some(Arc::new(Student::load(path)?)),
        (Mode::Onboard, None) => return Err(RobotError::Config(NEEDS_STUDENT.into())),
        _ => None,
    };
    let started = Instant::now();
    let mut tasks = Vec::new();
    for r in 0..cfg.robots {
        let episodes = (cfg.episodes + cfg.robots - 1 - r) / cfg.robots;
        if episodes > 0 {
            let robot = Robot { cfg: cfg.clone(), mode, index: r, http: link.clone(), student: student.clone() };
            tasks.push(tokio::spawn(robot.run(episodes)));
        }
    }
    let (mut latency, mut server, mut local) = (histogram(), histogram(), histogram());
    let (mut successes, mut tags) = (Vec::new(), Vec::new());
    let mut per_goal: BTreeMap<String, GoalStat> = BTreeMap::new();
    let mut counts = Counts::default();
    let mut stop_reasons: Vec<String> = Vec::new();
    let mut stopped = 0;
    for t in tasks {
        let log = t.await??;
        latency.add(&log.latency).ok();
        server.add(&log.server).ok();
        local.add(&log.local).ok();
        counts.add(&log.counts);
        if let Some(why) = &log.stopped {
            stopped += 1;
            if !stop_reasons.contains(why) {
                stop_reasons.push(why.clone());
            }
        }
        for (g, &ok) in log.goals.iter().zip(&log.successes) {
            let key = g.iter().map(|x| format!("{x:.1}")).collect::<Vec<_>>().join(",");
            let e = per_goal.entry(key).or_default();
            e.episodes += 1;
            e.successes += ok as usize;
        }
        successes.extend(log.successes);
        tags.extend(log.time_at_goal);
    }
    let wall_s = started.elapsed().as_secs_f64();
    let transport = match mode {
        Mode::Hierarchical => cfg.transport,
        Mode::Onboard => Transport::Ws,
        Mode::Controller | Mode::Planner => Transport::Http,
    };
    let c = counts;
    Ok(ModeReport {
        mode,
        transport,
        episodes: successes.len(),
        success_rate: Stat::wilson(successes.iter().filter(|&&s| s).count(), successes.len()),
        time_at_goal: Stat::mean_fraction(&tags),
        latency: Latency::of(&latency),
        server_latency: Latency::of(&server),
        local_latency: Latency::of(&local),
        requests: c.requests,
        round_trips_per_tick: c.requests as f64 / c.steps.max(1) as f64,
        missed: c.missed,
        late: c.late,
        held: c.held,
        fallbacks: c.fallbacks,
        plans: c.plans,
        reconnects: c.reconnects,
        state_reports: c.state_reports,
        stopped,
        stop_reasons,
        wall_s,
        achieved_hz: c.steps as f64 / wall_s / cfg.robots.max(1) as f64,
        per_goal,
    })
}

/// Checks the server is ready, then runs every mode in turn.
pub async fn run(cfg: &SimConfig) -> Result<Vec<ModeReport>> {
    if cfg.robots == 0 || cfg.episodes == 0 || !(cfg.control_hz > 0.0 && cfg.control_hz.is_finite()) {
        return Err(RobotError::Config("--robots, --episodes and --control-hz must be positive".into()));
    }
    if !(cfg.hold_after_ms.is_finite() && cfg.hold_after_ms >= 0.0) {
        return Err(RobotError::Config("--hold-after-ms must be a number of milliseconds, 0 or more".into()));
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
        "{:<18} {:>8} {:>16} {:>16} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>6} {:>8} {:>7} {:>7}\n",
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
        "held",
        "rt/tick",
        "hz",
        "stopped"
    );
    let stat = |st: &Stat| format!("{:.2} [{:.2},{:.2}]", st.mean, st.ci95_low, st.ci95_high);
    for r in reports {
        let name = match (r.mode, r.transport) {
            (Mode::Hierarchical, Transport::Ws) => "hierarchical (ws)".to_string(),
            (m, _) => m.name().to_string(),
        };
        // Onboard: the latency columns are the student's forward pass on the robot.
        let l = if r.mode == Mode::Onboard { &r.local_latency } else { &r.latency };
        s += &format!(
            "{:<18} {:>8} {:>16} {:>16} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>6} {:>8.2} {:>7.1} {:>7}\n",
            name,
            r.episodes,
            stat(&r.success_rate),
            stat(&r.time_at_goal),
            l.p50_us,
            l.p90_us,
            l.p99_us,
            l.max_us,
            r.server_latency.p99_us,
            r.missed,
            r.held,
            r.round_trips_per_tick,
            r.achieved_hz,
            r.stopped
        );
    }
    for r in reports.iter().filter(|r| r.stopped > 0) {
        s += &format!("{}: {} robot(s) stopped: {}\n", r.mode.name(), r.stopped, r.stop_reasons.join("; "));
    }
    if reports.iter().any(|r| r.mode == Mode::Onboard) {
        s += "onboard: latency columns are the student's forward pass on the robot; rt/tick counts network round trips a tick waited for\n";
    }
    s
}
