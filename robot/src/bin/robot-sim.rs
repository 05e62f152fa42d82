//! `cargo run --release -p robot --bin robot-sim -- --server http://127.0.0.1:8080 --env point_big_maze_eval
//! --robots 16 --control-hz 200 --mode hierarchical --episodes 32`: simulated robots against a running
//! server. Prints a table on stderr and the JSON report on stdout (see `robot::sim`). With
//! `--mode onboard --student DIR_OR_FILE` the student runs on the robot and only plans cross the network.

use clap::Parser;
use robot::client::API_KEY_ENV;
use robot::sim::{self, Mode, SimConfig, Transport};

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum ModeArg {
    /// Plans from the deep teacher, actions from the student on the server, per tick.
    Hierarchical,
    /// The student on the server steers straight to the goal, per tick.
    Controller,
    /// The deep teacher's own actor on the server, per tick.
    Planner,
    /// The student on the robot (--student) follows plans pushed over the session stream.
    Onboard,
    /// Controller, planner and hierarchical (and onboard, when --student is given).
    All,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum TransportArg {
    /// One HTTP request per tick.
    Http,
    /// The session stream: a WebSocket of MessagePack frames.
    Ws,
}

/// Simulated robots stepping built-in environments in real time against a deepcrl server.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    /// The server's base URL.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Environment (an `_eval` name evaluates on the evaluation goals).
    #[arg(long, default_value = "point_u_maze_eval")]
    env: String,
    /// A maze layout file, as given to `train --layout` (needed by `--env point_maze`).
    #[arg(long)]
    layout: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 16)]
    robots: usize,
    /// Control steps per second per robot.
    #[arg(long, default_value_t = 200.0)]
    control_hz: f64,
    /// Which modes to run (repeatable).
    #[arg(long, value_enum, default_values_t = [ModeArg::All])]
    mode: Vec<ModeArg>,
    /// Episodes per mode, spread over the robots.
    #[arg(long, default_value_t = 16)]
    episodes: usize,
    /// Steps per episode (default: the environment's, 1000).
    #[arg(long)]
    episode_length: Option<usize>,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Plan refreshes per second for each hierarchical session (default: the server's --plan-hz).
    #[arg(long)]
    plan_hz: Option<f64>,
    /// How hierarchical mode reaches the server each tick (controller and planner modes are
    /// stateless HTTP requests either way).
    #[arg(long, value_enum, default_value_t = TransportArg::Http)]
    transport: TransportArg,
    /// The student for onboard mode: a student directory or its student.safetensors. It must be the
    /// file the server's controller runs (checked by SHA-256 before the robot moves).
    #[arg(long, value_name = "DIR_OR_FILE")]
    student: Option<std::path::PathBuf>,
    /// In the per-tick modes, a robot with no fresh answer for this many milliseconds stops repeating
    /// its last action and holds zero (counted as held).
    #[arg(long, default_value_t = 50.0)]
    hold_after_ms: f64,
    /// Threads that run the simulated robots (an async runtime's workers). One is steadier when the
    /// robots share two cores with their server (docs/serve/stream-2026-12-07).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
    /// API key (default: the DEEPCRL_API_KEY environment variable).
    #[arg(long, env = API_KEY_ENV, hide_env_values = true)]
    api_key: Option<String>,
}

/// What a debug build of this stage costs (measured: `docs/performance.md`, "Debug and release builds").
const STAGE: buildinfo::Stage = buildinfo::Stage {
    bin: "robot-sim",
    release: "cargo run --release -p robot --bin robot-sim --",
    measured: "16 robots still held 200 Hz with no missed tick, round-trip p50 239 us against 216 us built with --release, on a 2-vCPU Zen 4",
};

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    buildinfo::warn_if_unoptimised!(STAGE);
    let mut modes = Vec::new();
    for m in &cli.mode {
        match m {
            ModeArg::All => {
                modes.extend(Mode::ALL);
                if cli.student.is_some() {
                    modes.push(Mode::Onboard);
                }
            }
            ModeArg::Onboard => modes.push(Mode::Onboard),
            ModeArg::Hierarchical => modes.push(Mode::Hierarchical),
            ModeArg::Controller => modes.push(Mode::Controller),
            ModeArg::Planner => modes.push(Mode::Planner),
        }
    }
    modes.dedup();
    let cfg = SimConfig {
        server: cli.server,
        env: cli.env,
        layout: cli.layout,
        robots: cli.robots,
        control_hz: cli.control_hz,
        modes,
        episodes: cli.episodes,
        episode_length: cli.episode_length,
        seed: cli.seed,
        api_key: cli.api_key,
        plan_hz: cli.plan_hz,
        transport: match cli.transport {
            TransportArg::Http => Transport::Http,
            TransportArg::Ws => Transport::Ws,
        },
        student: cli.student,
        hold_after_ms: cli.hold_after_ms,
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cli.threads.into()).enable_all().build()?;
    let reports = runtime.block_on(sim::run(&cfg))?;
    eprint!("{}", sim::table(&reports));
    println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "config": cfg, "modes": reports }))?);
    Ok(())
}
