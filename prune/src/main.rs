//! `cargo run --release -p prune -- --model runs/NAME --target-depth 16` (or `cargo prune ...`): removes
//! the least important residual blocks (or inner units) of a teacher or student, heals it by
//! distillation from the unpruned model, and reports success, size and measured latency before and after.
//! The flags and the work are `prune::command`'s.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use prune::command::PruneCli;
use tracing_subscriber::EnvFilter;

/// What a debug build of this stage costs (measured: `docs/performance.md`, "Debug and release builds").
const STAGE: buildinfo::Stage = buildinfo::Stage {
    bin: "prune",
    release: "cargo prune",
    measured: "1.5x slower: halving a teacher's width with 300 healing steps took 3.9 s, against 2.5 s built with --release, on a 2-vCPU Zen 4",
};

fn main() -> ExitCode {
    let matches = PruneCli::command().get_matches();
    buildinfo::warn_if_unoptimised!(STAGE);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,prune=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let cfg = match prune::command::resolve(&matches) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match prune::command::run(&cfg) {
        Ok(p) => {
            println!("{}", prune::command::summary(&p));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
