//! The server's shared state ([`App`]: config, metrics, and the [`Engine`] once loaded) and its
//! life cycle: [`start`] binds the address, serves at once (liveness answers while the models load;
//! readiness only after the engine's warm-up), loads the engine on a blocking thread, and returns a
//! [`Running`] handle whose [`Running::shutdown`] drains in-flight requests before stopping the
//! workers. [`run`] is the binary's whole life: start, wait for Ctrl-C, shut down.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::failure::{Result, ServeError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::ServeConfig;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Everything a handler can reach: `Arc<App>` is the router's state.
pub struct App {
    pub cfg: ServeConfig,
    pub metrics: Arc<Metrics>,
    engine: OnceLock<Arc<Engine>>,
    stopping: AtomicBool,
    pub started: Instant,
}

impl App {
    pub fn new(cfg: ServeConfig) -> Arc<App> {
        Arc::new(App {
            cfg,
            metrics: Arc::new(Metrics::new()),
            engine: OnceLock::new(),
            stopping: AtomicBool::new(false),
            started: Instant::now(),
        })
    }

    /// The engine, or 503 while it loads. Requests keep being served while a shutdown drains them.
    pub fn engine(&self) -> Result<&Arc<Engine>, ApiError> {
        self.engine.get().ok_or_else(|| ApiError::not_ready("the models are still loading; retry shortly"))
    }

    /// Ready: loaded, warmed up, and not shutting down.
    pub fn ready(&self) -> Result<(), ApiError> {
        if self.stopping.load(Ordering::Relaxed) {
            return Err(ApiError::not_ready("the server is shutting down"));
        }
        self.engine().map(drop)
    }

    /// Installs the loaded engine: the server is ready from now on.
    pub fn set_engine(&self, engine: Engine) {
        let _ = self.engine.set(Arc::new(engine));
    }

    /// Marks the server as stopping: readiness fails from now on.
    pub fn begin_shutdown(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn stop_engine(&self) {
        if let Some(e) = self.engine.get() {
            e.shutdown();
        }
    }
}

/// Loads the engine on a blocking thread and installs it.
pub async fn load(app: Arc<App>) -> Result<()> {
    let (cfg, metrics) = (app.cfg.clone(), app.metrics.clone());
    let started = Instant::now();
    let (weights, inline_max_rows) = (cfg.weight_precision, cfg.inline_max_rows);
    let engine = tokio::task::spawn_blocking(move || Engine::load(&cfg, metrics))
        .await
        .map_err(|e| ServeError::Stopped(format!("the loader panicked: {e}")))??;
    let graph = &engine.models.load().graph;
    tracing::info!(
        secs = started.elapsed().as_secs_f64(),
        nodes = graph.nodes,
        edges = graph.edges,
        cached = graph.cached,
        advance_radius = graph.advance_radius,
        %weights,
        inline_max_rows,
        "models loaded and warmed up: ready"
    );
    app.set_engine(engine);
    Ok(())
}

/// A started server.
pub struct Running {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    stop: watch::Sender<bool>,
    serve: JoinHandle<std::io::Result<()>>,
    sweeper: JoinHandle<()>,
}

impl Running {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Loads the models and makes the server ready (a server from [`bind`] answers 503 until then).
    pub async fn load(&self) -> Result<()> {
        load(self.app.clone()).await
    }

    /// Stops accepting, waits for in-flight requests, then stops the workers.
    pub async fn shutdown(self) -> Result<()> {
        self.app.begin_shutdown();
        let _ = self.stop.send(true);
        let served = self.serve.await.map_err(|e| ServeError::Stopped(format!("the server task panicked: {e}")))?;
        self.sweeper.abort();
        let app = self.app.clone();
        tokio::task::spawn_blocking(move || app.stop_engine())
            .await
            .map_err(|e| ServeError::Stopped(format!("stopping the workers: {e}")))?;
        served.map_err(|source| ServeError::Stopped(format!("serving: {source}")))
    }
}

/// Binds `cfg.addr`, starts serving, and loads the models; returns once they are ready.
pub async fn start(cfg: ServeConfig) -> Result<Running> {
    let running = bind(cfg).await?;
    if let Err(e) = running.load().await {
        let _ = running.shutdown().await;
        return Err(e);
    }
    Ok(running)
}

/// Binds `cfg.addr` and starts serving without models: health answers, readiness and every model
/// route answer 503 until [`Running::load`] has installed them.
pub async fn bind(cfg: ServeConfig) -> Result<Running> {
    cfg.validate().map_err(ServeError::Config)?;
    let bind = |source| ServeError::Bind { addr: cfg.addr.clone(), source };
    let listener = tokio::net::TcpListener::bind(&cfg.addr).await.map_err(bind)?;
    let addr = listener.local_addr().map_err(bind)?;
    let app = App::new(cfg);
    let (stop, mut stopped) = watch::channel(false);
    let router = crate::routes::router(app.clone());
    // Small frames at a control rate: a stream may write twice before the robot answers (a ping and an
    // action), and Nagle's algorithm would hold the second back until the first is acknowledged.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serve = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });
    let sweeper = tokio::spawn(sweep(app.clone()));
    tracing::info!(%addr, "listening; loading the models");
    Ok(Running { addr, app, stop, serve, sweeper })
}

/// Drops idle sessions once a second and keeps the session gauge current.
async fn sweep(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        if let Ok(engine) = app.engine() {
            let gone = engine.sessions.expire(Instant::now());
            if gone > 0 {
                tracing::info!(gone, "expired idle sessions");
            }
            app.metrics.active_sessions.set(engine.sessions.len() as i64);
        }
    }
}

/// The binary: start, serve until `signal` resolves, shut down gracefully.
pub async fn run(cfg: ServeConfig, signal: impl Future<Output = ()>) -> Result<()> {
    let running = start(cfg).await?;
    tracing::info!(url = running.url(), "ready");
    signal.await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await?;
    tracing::info!("stopped");
    Ok(())
}
