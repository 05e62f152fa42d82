//! `cargo run --release -p train -- [flags]`: trains a deep CRL teacher. Flags override
//! `--config FILE.toml`, which overrides the defaults; `--help` lists them all.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use train::config::TrainConfig;
use train::progress::ProgressObserver;

/// Train a goal-conditioned Contrastive RL teacher (DESIGN.md section 3).
#[derive(Parser, Debug)]
#[command(name = "train", version, about, long_about = None)]
struct Cli {
    /// TOML file with any TrainConfig fields; flags given here override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Environment: point_u_maze, point_big_maze, point_hardest_maze, reacher (evaluated on its _eval goals).
    #[arg(long)]
    env: Option<String>,
    /// Steps per episode.
    #[arg(long)]
    episode_length: Option<usize>,
    /// Mazes: start training episodes in any free cell (evaluation always starts at R).
    #[arg(long)]
    random_starts: Option<bool>,
    /// Linear layers in the critic's (and, unless --actor-depth, the actor's) residual blocks; multiple of 4.
    #[arg(long)]
    depth: Option<usize>,
    /// Linear layers in the actor's residual blocks (default: --depth).
    #[arg(long)]
    actor_depth: Option<usize>,
    /// Hidden width of every layer.
    #[arg(long)]
    width: Option<usize>,
    /// Transitions per SGD update.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Adam learning rate of actor, critic and α (default 3e-4). A depth-64 actor collapsed at 3e-4
    /// (its log σ saturated at the floor within the first 6k steps) and trained at 1e-4:
    /// docs/experiments/README.md.
    #[arg(long)]
    lr: Option<f32>,
    /// Environments stepped in parallel.
    #[arg(long)]
    num_envs: Option<usize>,
    /// Steps per environment in each collection round.
    #[arg(long)]
    unroll_length: Option<usize>,
    /// SGD updates after each collection round.
    #[arg(long)]
    sgd_steps_per_round: Option<usize>,
    /// Stop after this many environment steps (all environments counted).
    #[arg(long)]
    total_env_steps: Option<u64>,
    /// Evaluate and checkpoint every this many environment steps.
    #[arg(long)]
    eval_every: Option<u64>,
    /// Episodes per evaluation (on the _eval goal distribution, deterministic actor).
    #[arg(long)]
    eval_episodes: Option<usize>,
    /// Seed of everything random in the run.
    #[arg(long)]
    seed: Option<u64>,
    /// cpu, or cuda / cuda:N for an NVIDIA GPU (needs a build with `--features cuda`).
    #[arg(long)]
    device: Option<String>,
    /// Update path: auto (fused CPU path on cpu, candle's autograd on cuda), fast, or candle (on the
    /// CPU: the slow reference implementation, for cross-checking).
    #[arg(long)]
    backend: Option<String>,
    /// During collection, command a new training goal whenever the commanded one is reached.
    #[arg(long)]
    chain_goals: Option<bool>,
    /// Entropy α is tuned toward (default −0.5 × action dimensions, as DESIGN.md specifies).
    #[arg(long, allow_hyphen_values = true)]
    target_entropy: Option<f32>,
    /// States kept in bank.safetensors for the planner.
    #[arg(long)]
    bank_size: Option<usize>,
    /// Threads for the SGD update (2 runs the actor and critic chains in parallel).
    #[arg(long)]
    threads: Option<usize>,
    /// Run directory (default: runs/<env>-d<depth>-<unix time>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run in --out from its last checkpoint (its config.toml is the base configuration;
    /// flags given here still override it, e.g. a larger --total-env-steps).
    #[arg(long, requires = "out")]
    resume: bool,
}

fn resolve(cli: &Cli) -> Result<TrainConfig, String> {
    let base = match (&cli.config, cli.resume, &cli.out) {
        (Some(path), _, _) => Some(path.clone()),
        (None, true, Some(dir)) => Some(dir.join("config.toml")),
        _ => None,
    };
    let mut c = match base {
        Some(path) => TrainConfig::from_toml_file(&path)?,
        None => TrainConfig::default(),
    };
    macro_rules! set {
        ($($f:ident),*) => { $(if let Some(v) = cli.$f.clone() { c.$f = v; })* };
    }
    set!(env, episode_length, random_starts, depth, width, batch_size, num_envs, unroll_length);
    set!(sgd_steps_per_round, total_env_steps, eval_every, eval_episodes, seed, device, bank_size, threads);
    set!(chain_goals, backend, lr);
    if cli.actor_depth.is_some() {
        c.actor_depth = cli.actor_depth;
    }
    if cli.target_entropy.is_some() {
        c.target_entropy = cli.target_entropy;
    }
    c.validate()?;
    Ok(c)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let progress = ProgressObserver::new();
    // Logs: RUST_LOG overrides; by default this crate's info lines (one per evaluation) and warnings.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,train=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress.log_writer())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cfg = match resolve(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let out = cli.out.clone().unwrap_or_else(|| cfg.default_run_dir());
    // Ctrl-C: finish the current round, save a resumable checkpoint, exit 130. A second Ctrl-C kills
    // at once, which is safe too: every file is written atomically.
    let handler = ctrlc::set_handler(|| {
        if train::run::STOP.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nCtrl-C: saving a checkpoint after this round (press again to quit now)");
    });
    if let Err(e) = handler {
        eprintln!("warning: no Ctrl-C handler ({e}); an interrupt still leaves the last checkpoint intact");
    }
    let verb = if cli.resume { "resuming" } else { "training" };
    tracing::info!(
        "{verb} {} (depth {}, actor depth {}, width {}) for {} env steps in {}",
        cfg.env,
        cfg.depth,
        cfg.actor_depth(),
        cfg.width,
        cfg.total_env_steps,
        out.display()
    );
    let result = train::run::train(&cfg, &out, cli.resume, progress.clone());
    progress.finish();
    match result {
        Ok(summary) => {
            let m = &summary.final_metrics;
            println!(
                "done: success {:.3} [{:.3}, {:.3}], time at goal {:.3}, {} env steps, {} SGD steps, {:.0} s",
                m.success_rate,
                m.success_ci95[0],
                m.success_ci95[1],
                m.time_at_goal,
                m.env_steps,
                m.sgd_steps,
                m.wall_s
            );
            println!("run directory: {}", summary.dir.display());
            println!(
                "  teacher.safetensors (weights), bank.safetensors (planner waypoints), eval.json (final evaluation),\n  \
                 metrics.jsonl / metrics.csv (one row per evaluation), curves.png, trajectories.png (mazes), config.toml, train_state.safetensors"
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.is::<train::run::Interrupted>() => {
            eprintln!("{e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
