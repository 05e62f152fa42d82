//! The loaded server: both models behind their workers (controller micro-batcher, planner-actor
//! micro-batcher, planner thread), the session table, and what `/v1/models` reports.
//!
//! [`Engine::load`] reads and validates everything, builds (or reads the cached) planning graph,
//! starts the workers and runs a warm-up inference through each before it returns, so an engine
//! that exists is ready. [`Engine::reload`] validates a new file completely (load, sizes against the
//! other model, warm-up output) before swapping it in between two batches; on any failure the old
//! model keeps serving. All of this blocks: call it from a blocking thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::failure::{bail, Context, Result, ServeError};
use arc_swap::ArcSwap;
use models::infer::ActorInfer;
use models::ModelConfig;
use serde::Serialize;

use crate::config::{ServeConfig, ADVANCE_RADIUS_PER_THRESHOLD};
use crate::controller::{Batcher, BatcherConfig};
use crate::loaded::{check_pair, load_model, load_planner, Loaded, ModelInfo, PlannerFiles};
use crate::metrics::Metrics;
use crate::planner::plan::{PlanQuery, PlannerAssets};
use crate::planner::PlannerHandle;
use crate::sessions::{SessionPolicy, Sessions};

/// The environment's sizes, as both models agree on them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Dims {
    pub state_dim: usize,
    pub goal_dim: usize,
    pub action_dim: usize,
    pub goal_indices: Vec<usize>,
}

/// The planning graph as `/v1/models` reports it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GraphInfo {
    pub bank: String,
    pub nodes: usize,
    pub edges: usize,
    pub cutoff: f32,
    /// The node-to-node costs came from the cache file.
    pub cached: bool,
    /// Goal-space distance at which a session steers on to its next waypoint.
    pub advance_radius: f32,
}

/// `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelsInfo {
    pub env: String,
    pub dims: Dims,
    pub planner: ModelInfo,
    pub graph: GraphInfo,
    pub controller: ModelInfo,
}

/// Which model a reload replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Planner,
    Controller,
}

pub struct Engine {
    pub dims: Dims,
    pub controller: Batcher,
    /// The planner's own actor, for `/v1/act` with `model: "planner"` (planner-only control).
    pub planner_actor: Batcher,
    pub planner: PlannerHandle,
    pub sessions: Arc<Sessions>,
    pub models: ArcSwap<ModelsInfo>,
    cfg: ServeConfig,
    metrics: Arc<Metrics>,
    /// The configs in service, for checking a reload against the other model; also serialises reloads.
    current: Mutex<(ModelConfig, ModelConfig)>,
    /// A valid `[state, goal]` row (a bank state and a bank goal) for warm-up inferences.
    probe: Vec<f32>,
}

fn batcher_config(cfg: &ServeConfig) -> BatcherConfig {
    BatcherConfig {
        max_batch: cfg.max_batch,
        batch_wait: Duration::from_micros(cfg.batch_wait_us),
        capacity: cfg.queue_capacity,
        inline_max_rows: cfg.inline_max_rows,
    }
}

/// One inference on `probe` straight through an actor; fails unless the action is finite.
fn warm_actor(actor: &mut ActorInfer, probe: &[f32]) -> Result<()> {
    let a = actor.act_obs(probe, 1)?;
    if a.iter().any(|x| !x.is_finite()) {
        bail!("the actor's warm-up action is not finite: {a:?}");
    }
    Ok(())
}

/// One inference through a running batcher.
fn warm_batcher(b: &Batcher, probe: &[f32]) -> Result<()> {
    let failed = |e| ServeError::Invalid(format!("the {} warm-up act failed: {e}", b.name()));
    let rx = b.submit(probe.to_vec(), 1, None).map_err(failed)?;
    let reply = rx.blocking_recv().map_err(|_| ServeError::Stopped("the batcher stopped".into()))?.map_err(failed)?;
    if reply.actions.iter().any(|x| !x.is_finite()) {
        bail!("the {} warm-up action is not finite", b.name());
    }
    Ok(())
}

/// Builds the planner's assets and plans once from the bank's first state to its last goal.
fn planner_assets(files: &PlannerFiles, cfg: &ServeConfig, probe: &[f32]) -> Result<PlannerAssets> {
    let mut assets = PlannerAssets::build(files, cfg)?;
    let sd = files.bank.state_dim;
    let query = PlanQuery { state: probe[..sd].to_vec(), goal: probe[sd..].to_vec() };
    assets.plan(&[query], cfg.horizon).context("the planner's warm-up plan failed")?;
    Ok(assets)
}

fn graph_info(files: &PlannerFiles, assets: &PlannerAssets, advance_radius: f32) -> GraphInfo {
    GraphInfo {
        bank: files.bank_path.display().to_string(),
        nodes: assets.graph.nodes,
        edges: assets.graph.edges(),
        cutoff: assets.graph.cutoff,
        cached: assets.graph_cached,
        advance_radius,
    }
}

/// `--advance-radius`, or its default for the planner's environment.
fn advance_radius(cfg: &ServeConfig, env: &str) -> Result<f32> {
    if let Some(r) = cfg.advance_radius {
        return Ok(r);
    }
    let threshold = envs::success_threshold(env).ok_or_else(|| {
        // serve embeds no Python, so a Gymnasium env's own success radius is not known here.
        let hint = if envs::is_gym_env(env) {
            format!(
                " ({ADVANCE_RADIUS_PER_THRESHOLD} times the env's success distance by the default rule, e.g. {} for \
                 Gymnasium-Robotics' PointMaze, whose goals count within 0.45)",
                ADVANCE_RADIUS_PER_THRESHOLD * 0.45
            )
        } else {
            String::new()
        };
        ServeError::Config(format!("no default --advance-radius for environment {env:?}; pass one{hint}"))
    })?;
    Ok(ADVANCE_RADIUS_PER_THRESHOLD * threshold)
}

impl Engine {
    /// Loads, validates and warms up both models and starts the workers.
    pub fn load(cfg: &ServeConfig, metrics: Arc<Metrics>) -> Result<Engine> {
        let files = load_planner(&cfg.planner)?;
        let controller = load_model(&cfg.controller).context("loading the controller")?;
        let (p, c) = (&files.loaded.model.cfg, &controller.model.cfg);
        check_pair(p, c)?;
        let dims = Dims {
            state_dim: p.state_dim,
            goal_dim: p.goal_dim,
            action_dim: p.action_dim,
            goal_indices: p.goal_indices.clone(),
        };
        let bank = &files.bank;
        let mut probe = bank.states[..bank.state_dim].to_vec();
        probe.extend_from_slice(&bank.goals[(bank.len() - 1) * bank.goal_dim()..]);

        let assets = planner_assets(&files, cfg, &probe)?;
        let advance_radius = advance_radius(cfg, &p.env)?;
        let models = ModelsInfo {
            env: p.env.clone(),
            dims: dims.clone(),
            planner: files.loaded.info(),
            graph: graph_info(&files, &assets, advance_radius),
            controller: controller.info(),
        };
        let sessions = Arc::new(Sessions::new(SessionPolicy {
            max_sessions: cfg.max_sessions,
            ttl: cfg.session_ttl(),
            horizon: cfg.horizon,
            follow: link::follow::Rule {
                advance_radius,
                goal_indices: dims.goal_indices.clone(),
                max_plan_age: cfg.max_plan_age(),
            },
        }));
        let obs_dim = dims.state_dim + dims.goal_dim;
        let bcfg = batcher_config(cfg);
        let mut student = ActorInfer::with_precision(&controller.model, cfg.weight_precision);
        let mut teacher = ActorInfer::with_precision(&files.loaded.model, cfg.weight_precision);
        warm_actor(&mut student, &probe).context("the controller failed its warm-up")?;
        warm_actor(&mut teacher, &probe).context("the planner's actor failed its warm-up")?;
        let engine = Engine {
            controller: Batcher::spawn(
                "controller",
                student,
                obs_dim,
                dims.action_dim,
                bcfg,
                Some(metrics.controller_batch_rows.clone()),
            ),
            planner_actor: Batcher::spawn(
                "planner-actor",
                teacher,
                obs_dim,
                dims.action_dim,
                bcfg,
                Some(metrics.planner_actor_batch_rows.clone()),
            ),
            planner: PlannerHandle::spawn(assets, sessions.clone(), cfg.horizon, cfg.planner_batch, metrics.clone()),
            sessions,
            models: ArcSwap::from_pointee(models),
            cfg: cfg.clone(),
            metrics,
            current: Mutex::new((p.clone(), c.clone())),
            probe,
            dims,
        };
        warm_batcher(&engine.controller, &engine.probe)?;
        warm_batcher(&engine.planner_actor, &engine.probe)?;
        Ok(engine)
    }

    /// The path a reload of `target` reads when none is given: the one the server started with.
    pub fn default_path(&self, target: Target) -> PathBuf {
        match target {
            Target::Planner => self.cfg.planner.clone(),
            Target::Controller => self.cfg.controller.clone(),
        }
    }

    /// Replaces `target` by the model at `path` once it has passed every check; returns its info.
    /// On error nothing changed.
    pub fn reload(&self, target: Target, path: &Path) -> Result<ModelInfo> {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let result = match target {
            Target::Controller => self.reload_controller(path, &mut current),
            Target::Planner => self.reload_planner(path, &mut current),
        };
        let label = match target {
            Target::Planner => "planner",
            Target::Controller => "controller",
        };
        let outcome = if result.is_ok() { "ok" } else { "rejected" };
        self.metrics.reloads.with_label_values(&[label, outcome]).inc();
        result
    }

    fn reload_controller(&self, path: &Path, current: &mut (ModelConfig, ModelConfig)) -> Result<ModelInfo> {
        let loaded: Loaded = load_model(path)?;
        check_pair(&current.0, &loaded.model.cfg)?;
        let mut actor = ActorInfer::with_precision(&loaded.model, self.cfg.weight_precision);
        warm_actor(&mut actor, &self.probe)?;
        self.controller.swap(actor);
        current.1 = loaded.model.cfg.clone();
        let info = loaded.info();
        self.models.rcu(|m| ModelsInfo { controller: info.clone(), ..(**m).clone() });
        Ok(info)
    }

    fn reload_planner(&self, path: &Path, current: &mut (ModelConfig, ModelConfig)) -> Result<ModelInfo> {
        let files = load_planner(path)?;
        check_pair(&files.loaded.model.cfg, &current.1)?;
        let assets = planner_assets(&files, &self.cfg, &self.probe)?;
        let mut actor = ActorInfer::with_precision(&files.loaded.model, self.cfg.weight_precision);
        warm_actor(&mut actor, &self.probe)?;
        // check_pair kept the environment, so the sessions' advance radius stays as it is.
        let graph = graph_info(&files, &assets, self.models.load().graph.advance_radius);
        // Wait until the planner thread has the new model, so the answer means "in service".
        let ack = self.planner.swap(assets);
        ack.blocking_recv().map_err(|_| ServeError::Stopped("the planner thread stopped".into()))?;
        self.planner_actor.swap(actor);
        current.0 = files.loaded.model.cfg.clone();
        let info = files.loaded.info();
        self.models.rcu(|m| ModelsInfo { planner: info.clone(), graph: graph.clone(), ..(**m).clone() });
        Ok(info)
    }

    /// Stops the planner thread and both batchers (after the requests they hold).
    pub fn shutdown(&self) {
        self.planner.stop();
        self.controller.stop();
        self.planner_actor.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_advance_radius_defaults_to_four_success_thresholds_of_the_environment() {
        let mut cfg = ServeConfig::new("p", "c");
        // Point mazes: success within 0.5 of the goal.
        assert_eq!(advance_radius(&cfg, "point_u_maze").unwrap(), 2.0);
        assert_eq!(advance_radius(&cfg, "point_big_maze_eval").unwrap(), 2.0);
        // A maze of the user's own (`train --layout`): no layout file is needed for the radius.
        assert_eq!(advance_radius(&cfg, "point_maze").unwrap(), 2.0);
        let reacher = envs::make("reacher", 1, 0).unwrap().spec().success_threshold;
        assert_eq!(advance_radius(&cfg, "reacher").unwrap(), 4.0 * reacher);
        let e = format!("{:#}", advance_radius(&cfg, "no_such_env").unwrap_err());
        assert!(e.contains("--advance-radius") && e.contains("no_such_env"), "{e}");
        // serve has no interpreter to ask a Gymnasium env for its radius: the error says what to pass.
        let e = format!("{:#}", advance_radius(&cfg, "gym:PointMaze_UMaze-v3").unwrap_err());
        assert!(e.contains("pass one (4 times the env's success distance") && e.contains("e.g. 1.8 for"), "{e}");
        cfg.advance_radius = Some(0.75);
        assert_eq!(advance_radius(&cfg, "no_such_env").unwrap(), 0.75);
    }
}
