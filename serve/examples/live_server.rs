//! `cargo run -p serve --example live_server -- COMMAND [ARGS...]`: starts a server on tiny models (the
//! tests' fixture: a depth-4 teacher with its bank and a student, width 16) on an ephemeral loopback
//! port (the student with its ONNX export, `student.onnx`, beside it, as `distill` writes them),
//! runs COMMAND with `DEEPCRL_URL` set to it and `DEEPCRL_STUDENT` to the student's directory, shuts
//! the server down and exits with COMMAND's status. With `DEEPCRL_API_KEY` set, the server needs that key. `scripts/python_clients.sh` runs
//! the Python clients' tests (Triton's and ours) this way.

#[path = "../tests/common/mod.rs"]
mod common;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: live_server COMMAND [ARGS...]: runs COMMAND with DEEPCRL_URL set to a live server");
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: no async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let fixture = common::fixture();
    if let Err(e) = export_student(&fixture.student) {
        eprintln!("error: the fixture's student.onnx: {e}");
        return ExitCode::FAILURE;
    }
    let mut cfg = fixture.config();
    cfg.api_key = std::env::var(serve::config::API_KEY_ENV).ok().filter(|k| !k.is_empty());
    let running = match runtime.block_on(serve::start(cfg)) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: the server did not start: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let keyed = if running.app.cfg.api_key.is_some() { ", API key required" } else { "" };
    eprintln!("serving tiny models at {}{keyed}", running.url());
    let status = std::process::Command::new(program)
        .args(rest)
        .env("DEEPCRL_URL", running.url())
        .env("DEEPCRL_STUDENT", &fixture.student)
        .status();
    if let Err(e) = runtime.block_on(running.shutdown()) {
        eprintln!("warning: shutdown: {e:#}");
    }
    match status {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(s) => {
            eprintln!("{program} exited with {s}");
            ExitCode::from(s.code().map_or(1, |c| c.clamp(1, 255) as u8))
        }
        Err(e) => {
            eprintln!("error: could not run {program}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `student.onnx` beside the fixture's `student.safetensors`: the server names its hash in the stream's
/// contract, and the Python `OnboardPolicy` runs it.
fn export_student(dir: &std::path::Path) -> models::Result<()> {
    let model = models::checkpoint::load(&dir.join("student.safetensors"))?;
    models::onnx::export_actor(&model, &dir.join("student.onnx"))
}
