//! `cargo run --release -p train -- [flags]`: trains a deep CRL teacher. The flags and how they combine
//! with `--config` and `--resume` are `train::cli`'s; `--help` lists them all.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use tracing_subscriber::EnvFilter;
use train::cli::TrainCli;
use train::launch::Comm;
use train::progress::ProgressObserver;

/// What a debug build of this stage costs (measured: `docs/performance.md`, "Debug and release builds").
const STAGE: buildinfo::Stage = buildinfo::Stage {
    bin: "train",
    release: "cargo run --release -p train --",
    measured: "4.2x slower: 64k env steps of the default recipe took 147 s, against 35 s built with --release, on a 2-vCPU Zen 4",
};

fn main() -> ExitCode {
    let matches = TrainCli::command().get_matches();
    buildinfo::warn_if_unoptimised!(STAGE);
    let train::cli::Invocation { cfg, out, resume, distributed, rank_timeout } = match train::cli::resolve(&matches) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut comm = match Comm::open(distributed, rank_timeout) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let (rank, ranks) = (comm.rank(), comm.size());
    let progress = ProgressObserver::new();
    // Logs: RUST_LOG overrides; by default this crate's info lines (one per evaluation) and warnings,
    // from rank 0 only (the other ranks report errors).
    let default = if rank == 0 { "warn,train=info" } else { "error" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(progress.log_writer())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
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
    let verb = if resume { "resuming" } else { "training" };
    tracing::info!(
        "{verb} {} (depth {}, actor depth {}, width {}) for {} env steps in {}{}",
        cfg.env,
        cfg.depth,
        cfg.actor_depth(),
        cfg.width,
        cfg.total_env_steps,
        out.display(),
        if ranks > 1 { format!(" on {ranks} ranks") } else { String::new() }
    );
    let result = if rank == 0 {
        train::run::train_ranks(&cfg, &out, resume, progress.clone(), comm.as_dyn())
    } else {
        train::run::train_ranks(&cfg, &out, resume, (), comm.as_dyn())
    };
    progress.finish();
    match result {
        Ok(_) if rank > 0 => ExitCode::SUCCESS,
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
            println!("{}", summary.stopped);
            println!("run directory: {}", summary.dir.display());
            println!(
                "  teacher.safetensors (weights), bank.safetensors (planner waypoints), eval.json (final evaluation),\n  \
                 metrics.jsonl / metrics.csv (one row per evaluation), curves.png, trajectories.png (mazes), config.toml, train_state.safetensors"
            );
            ExitCode::SUCCESS
        }
        Err(e) if e.interrupted().is_some() => {
            if rank == 0 {
                eprintln!("{e}");
            }
            ExitCode::from(130)
        }
        Err(e) => {
            let who = if ranks > 1 { format!(" (rank {rank} of {ranks})") } else { String::new() };
            // One write per message: the ranks of a job share the terminal.
            let msg = format!("error{who}: {e:#}\n");
            let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), msg.as_bytes());
            comm.abort_job(1);
            ExitCode::FAILURE
        }
    }
}
