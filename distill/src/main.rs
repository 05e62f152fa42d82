//! `cargo run --release -p distill -- --teacher runs/NAME --student-depth 8` (or `cargo distill ...`):
//! distils a teacher's actor into a shallow student and reports how much of the teacher it keeps. The
//! flags are `distill::config`'s, the work `distill::pipeline`'s.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::CommandFactory;
use distill::config::DistillCli;
use tracing_subscriber::EnvFilter;

/// What a debug build of this stage costs (measured: `docs/performance.md`, "Debug and release builds").
const STAGE: buildinfo::Stage = buildinfo::Stage {
    bin: "distill",
    release: "cargo distill",
    measured:
        "1.4x slower: a 2,000-step depth-4 student took 24 s, against 18 s built with --release, on a 2-vCPU Zen 4",
};

fn main() -> ExitCode {
    let matches = DistillCli::command().get_matches();
    buildinfo::warn_if_unoptimised!(STAGE);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,distill=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let inv = match distill::config::resolve(&matches) {
        Ok(inv) => inv,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    match distill::pipeline::run(&inv) {
        Ok(w) => {
            println!("{}", w.report.markdown());
            println!("student: {0}/student.safetensors, {0}/student.onnx; report: {0}/report.md", w.dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
