//! `cargo serve --planner runs/NAME --controller runs/NAME/students/ID`: parses the flags and runs
//! the server until Ctrl-C or SIGTERM, then drains in-flight requests (see the `serve` library).

use std::process::ExitCode;

use clap::CommandFactory;
use serve::config::ServeCli;

/// What a debug build of this stage costs (measured: `docs/performance.md`, "Debug and release builds").
const STAGE: buildinfo::Stage = buildinfo::Stage {
    bin: "serve",
    release: "cargo serve",
    measured: "2.7x slower per act: 35 us server-side p50 for 16 robots at 200 Hz, against 13 us built with --release, on a 2-vCPU Zen 4",
};

fn main() -> ExitCode {
    let matches = ServeCli::command().get_matches();
    buildinfo::warn_if_unoptimised!(STAGE);
    // Two small thread pools collapse under contention (DESIGN.md section 10): pin them unless asked.
    for var in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, "1");
        }
    }
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let cfg = match serve::config::resolve(&matches) {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let served = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cfg.workers)
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)
        .and_then(|runtime| Ok(runtime.block_on(serve::server::run(cfg, shutdown_signal()))?));
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
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
