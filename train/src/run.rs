//! The training loop of DESIGN.md section 3, readable top to bottom:
//! prefill → repeat { collect a round → `sgd_steps_per_round` updates → every `eval_every` env
//! steps: evaluate, log, checkpoint } → final evaluation.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use envs::eval::{evaluate_with, EvalOptions};
use envs::point_maze::Layout;
use envs::seed::derive;
use envs::{eval_env_name, make_with, EnvOptions, GoalEnv};
use models::atomic::write_bytes_atomic;
use models::infer::ActorInfer;
use models::{checkpoint, AdamConfig, CrlBatch, CrlStats, Model, ModelConfig};
use plots::plot_maze_trajectories;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::bank::write_bank;
use crate::collect::{Collector, Deterministic};
use crate::config::TrainConfig;
use crate::metrics::{append_line, csv_row, per_goal_success, plot_history, repair_torn_tail, Metrics, CSV_HEADER};
use crate::progress::Observer;
use crate::replay::{Replay, Sample};
use crate::snapshot;
use crate::state::{self, Counters};
use crate::updater::Updater;
use rundir::{RunDir, RunLock};

/// The run's clock across resumes: wall time includes earlier processes, SPS counts only this one.
struct Clock {
    start: Instant,
    earlier_s: f64,
    start_env_steps: u64,
}

impl Clock {
    fn wall_s(&self) -> f64 {
        self.earlier_s + self.start.elapsed().as_secs_f64()
    }

    /// The counters a checkpoint saves, with the wall time so far.
    fn counters(&self, env_steps: u64, sgd_steps: u64, next_eval: u64) -> Counters {
        Counters { env_steps, sgd_steps, next_eval, wall_ms: (self.wall_s() * 1e3) as u64 }
    }

    fn sps(&self, env_steps: u64) -> f64 {
        env_steps.saturating_sub(self.start_env_steps) as f64 / self.start.elapsed().as_secs_f64().max(1e-9)
    }
}

/// The outcome of a finished run.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub dir: PathBuf,
    pub final_metrics: Metrics,
}

/// Trains a teacher as `cfg` says, writing everything under `out`. With `resume`, continues the run
/// in `out` from its `train_state.safetensors` (parameters, Adam, counters, sampler RNG). With
/// `cfg.save_replay` the replay buffer, environments and collector continue from the checkpoint too
/// (`crate::snapshot`), bit for bit; without it the replay is refilled with `prefill_env_steps` fresh
/// steps of the restored policy (not counted in the run's env steps) and the environments start new
/// episodes.
pub fn train(cfg: &TrainConfig, out: &Path, resume: bool, mut observer: impl Observer) -> Result<Summary> {
    cfg.validate()?;
    let opts = EnvOptions { episode_length: Some(cfg.episode_length), random_starts: cfg.random_starts, layout: None };
    // An unknown environment is refused before the run directory is touched.
    make_with(&cfg.env, 1, cfg.seed, &opts)?;
    let files = RunDir::new(out);
    // Held to the end of the run: a second process on this directory is refused, not interleaved.
    let _lock = RunLock::acquire(out)?;
    rundir::layout::remove_stale_temp_files(out);
    let restored = if resume {
        let path = files.train_state();
        if !path.is_file() {
            bail!(
                "nothing to resume in {}: no train_state.safetensors (start the run without --resume)",
                out.display()
            );
        }
        // A kill in the middle of appending leaves half a line; the evaluation it belonged to is
        // repeated after the restore, so the fragment is dropped.
        repair_torn_tail(&files.metrics_jsonl())?;
        repair_torn_tail(&files.metrics_csv())?;
        Some(state::load(&path)?)
    } else {
        rundir::refuse_overwrite(&files)?;
        None
    };
    let counters = restored.as_ref().map(|r| r.counters).unwrap_or_default();

    // A resumed run starts fresh episodes from a seed of its own.
    let mut env = make_with(&cfg.env, cfg.num_envs, derive(cfg.seed, counters.env_steps), &opts)?;
    let eval_opts = EnvOptions { random_starts: false, ..opts };
    let mut eval_env =
        make_with(&eval_env_name(&cfg.env), cfg.eval_episodes.min(256), derive(cfg.seed, 1), &eval_opts)?;
    let spec = env.spec().clone();

    let mut mcfg =
        ModelConfig::new(&cfg.env, spec.state_dim, spec.goal_dim, spec.action_dim, cfg.depth).with_width(cfg.width);
    mcfg.goal_indices = spec.goal_indices.clone();
    mcfg.actor_depth = cfg.actor_depth();
    let adam = AdamConfig { lr: cfg.lr, ..AdamConfig::default() };
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xC011EC7);
    let mut trainer = match restored {
        Some(r) => {
            if (ModelConfig { training_step: 0, ..r.model.cfg.clone() }) != mcfg {
                bail!(
                    "{}: the saved model ({:?}) does not match this configuration ({:?}); resume with the run's own \
                     config.toml",
                    files.train_state().display(),
                    r.model.cfg,
                    mcfg
                );
            }
            let mut t = Updater::new(r.model, adam, cfg)?;
            t.restore_adam(r.adam_m, r.adam_v, r.adam_t)?;
            rng.set_word_pos(r.rng_word_pos);
            t
        }
        None => Updater::new(Model::init(&mcfg, cfg.seed)?, adam, cfg)?,
    };
    if let Some(t) = cfg.target_entropy {
        trainer.set_target_entropy(t);
    }
    // Only now, with the device open and the model built, does the run directory get its files: a
    // missing GPU or driver leaves no half-started run behind.
    if !resume {
        fs::write(files.metrics_jsonl(), "").context("creating metrics.jsonl")?;
        fs::write(files.metrics_csv(), format!("{CSV_HEADER}\n")).context("creating metrics.csv")?;
    }
    // On resume too: flags may have changed the budget, and a later resume should see the new one.
    write_bytes_atomic(&files.config(), cfg.to_toml()?.as_bytes())?;
    let mut actor = ActorInfer::new(trainer.model()?);
    let mut replay = Replay::new(
        cfg.num_envs,
        cfg.replay_steps,
        spec.state_dim,
        spec.action_dim,
        spec.goal_indices.clone(),
        cfg.episode_length,
    );
    let mut collector = Collector::new(cfg.chain_goals);

    let start = Instant::now();
    let Counters { mut env_steps, mut sgd_steps, mut next_eval, wall_ms } = counters;
    let clock = Clock { start, earlier_s: wall_ms as f64 / 1e3, start_env_steps: env_steps };
    // With --save-replay a resumed run takes up the saved collection state instead of refilling.
    let continued = match (resume && cfg.save_replay).then(|| snapshot::matching(&files, env_steps)) {
        Some(Some(path)) => {
            snapshot::restore(&path, &mut replay, env.as_mut(), &mut collector)?;
            tracing::info!("continuing the saved replay, environments and collector from {}", path.display());
            true
        }
        Some(None) => {
            tracing::warn!(
                "no collection snapshot at {env_steps} env steps in {}: refilling the replay (the resumed run will \
                 not match an uninterrupted one bit for bit)",
                out.display()
            );
            false
        }
        None => false,
    };
    let mut refill = 0u64;
    while !continued && refill < cfg.prefill_env_steps {
        refill +=
            collector.round(env.as_mut(), trainer.actor(&mut actor)?, &mut replay, cfg.unroll_length, &mut rng)?;
    }
    if !resume {
        env_steps = refill;
        next_eval = env_steps;
    }
    tracing::info!(
        "{} replay steps prefilled; {} parameters on the {}, {} SGD steps per {} env steps",
        refill,
        trainer.model()?.params.len(),
        trainer.describe(),
        cfg.sgd_steps_per_round,
        cfg.round_env_steps()
    );
    observer.started(env_steps, cfg.total_env_steps);
    let mut sample = Sample::default();
    let mut noise = vec![0f32; cfg.batch_size * spec.action_dim];
    // No update has run before the first evaluation: its loss columns are NaN, not zeros.
    let nan = f32::NAN;
    let mut last = CrlStats {
        critic_loss: nan,
        actor_loss: nan,
        alpha_loss: nan,
        alpha: nan,
        entropy: nan,
        critic_accuracy: nan,
        logits_pos: nan,
        logits_neg: nan,
    };
    let final_metrics = loop {
        if env_steps >= next_eval || env_steps >= cfg.total_env_steps {
            let m = evaluate_and_log(
                cfg,
                &files,
                eval_env.as_mut(),
                &mut actor,
                &mut trainer,
                env_steps,
                sgd_steps,
                &last,
                &clock,
            )?;
            observer.evaluated(&m);
            next_eval = env_steps + cfg.eval_every;
            let counters = clock.counters(env_steps, sgd_steps, next_eval);
            let collection = cfg.save_replay.then_some((&replay, env.as_ref(), &collector));
            save_run(&files, &mut trainer, counters, &rng, collection)?;
            if env_steps >= cfg.total_env_steps {
                break m;
            }
        }
        if STOP.load(Ordering::SeqCst) {
            let counters = clock.counters(env_steps, sgd_steps, next_eval);
            let collection = cfg.save_replay.then_some((&replay, env.as_ref(), &collector));
            save_run(&files, &mut trainer, counters, &rng, collection)?;
            return Err(Interrupted { dir: files.dir.clone(), env_steps, sgd_steps }.into());
        }
        env_steps +=
            collector.round(env.as_mut(), trainer.actor(&mut actor)?, &mut replay, cfg.unroll_length, &mut rng)?;
        for _ in 0..cfg.sgd_steps_per_round {
            replay.sample(cfg.batch_size, cfg.gamma, &mut rng, &mut sample);
            noise.iter_mut().for_each(|e| *e = rng.sample(StandardNormal));
            let batch =
                CrlBatch { states: &sample.states, actions: &sample.actions, goals: &sample.goals, noise: &noise };
            last = trainer.step(&batch)?;
            sgd_steps += 1;
            if !(last.critic_loss.is_finite() && last.actor_loss.is_finite()) {
                bail!(
                    "non-finite loss at SGD step {sgd_steps} (critic {}, actor {}): training stopped; the last good \
                     checkpoint is {}",
                    last.critic_loss,
                    last.actor_loss,
                    files.teacher().display()
                );
            }
        }
        observer.round(env_steps, sgd_steps);
    };
    let bank =
        write_bank(&replay, &cfg.env, spec.state_dim, &spec.goal_indices, cfg.bank_size, &mut rng, &files.bank())?;
    tracing::info!("waypoint bank: {} states in {}", bank.len(), files.bank().display());
    Ok(Summary { dir: files.dir, final_metrics })
}

/// Set (e.g. by a Ctrl-C handler) to make [`train`] checkpoint and return [`Interrupted`] at the end
/// of the current collection round and its updates.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// The run was stopped through [`STOP`] after saving a resumable checkpoint.
#[derive(Debug, thiserror::Error)]
#[error("interrupted at {env_steps} env steps / {sgd_steps} SGD steps; saved in {dir:?}: continue with --resume")]
pub struct Interrupted {
    pub dir: PathBuf,
    pub env_steps: u64,
    pub sgd_steps: u64,
}

/// The collection state a checkpoint also saves with `--save-replay`.
type Collection<'a> = (&'a Replay, &'a dyn GoalEnv, &'a Collector);

/// Writes the teacher, the collection snapshot (with `--save-replay`) and the train state, in that
/// order and each atomically; the train state commits the checkpoint (see `crate::snapshot`).
fn save_run(
    files: &RunDir,
    trainer: &mut Updater,
    counters: Counters,
    rng: &ChaCha8Rng,
    collection: Option<Collection<'_>>,
) -> Result<()> {
    let model = with_step(trainer.model()?, counters.sgd_steps);
    checkpoint::save(&model, &files.teacher())?;
    if let Some((replay, env, collector)) = collection {
        snapshot::save(&files.collection_next(), counters.env_steps, replay, env, collector)?;
    }
    state::save(&files.train_state(), &model, &*trainer.adam()?, counters, rng)?;
    if collection.is_some() {
        fs::rename(files.collection_next(), files.collection()).context("installing collection.safetensors")?;
    }
    Ok(())
}

fn with_step(model: &Model, sgd_steps: u64) -> Model {
    let mut m = model.clone();
    m.cfg.training_step = sgd_steps;
    m
}

/// Eval episodes drawn in trajectories.png: enough to see each goal's typical path, few enough to read.
const TRAJECTORIES_PLOTTED: usize = 12;

#[allow(clippy::too_many_arguments)]
fn evaluate_and_log(
    cfg: &TrainConfig,
    files: &RunDir,
    eval_env: &mut dyn GoalEnv,
    actor: &mut ActorInfer,
    trainer: &mut Updater,
    env_steps: u64,
    sgd_steps: u64,
    last: &CrlStats,
    clock: &Clock,
) -> Result<Metrics> {
    let mut policy = Deterministic(trainer.actor(actor)?);
    let layout = cfg.env.strip_prefix("point_").and_then(|name| Layout::builtin(&eval_env_name(name)));
    // Paths of the first episodes, for trajectories.png (mazes only).
    let opts = EvalOptions {
        episodes: cfg.eval_episodes,
        seed: derive(cfg.seed, 2),
        trajectories: if layout.is_some() { TRAJECTORIES_PLOTTED } else { 0 },
    };
    let mut report = evaluate_with(eval_env, &mut policy, &opts)?;
    if let Some(layout) = &layout {
        let title = format!("{} after {env_steps} env steps: eval episodes from R", eval_env_name(&cfg.env));
        plot_maze_trajectories(layout, &report.trajectories, &title, &files.trajectories())?;
        // The paths are in the picture; eval.json keeps the per-episode records only.
        report.trajectories.clear();
    }
    let wall_s = clock.wall_s();
    let m = Metrics {
        env_steps,
        sgd_steps,
        wall_s,
        sps: clock.sps(env_steps),
        critic_loss: last.critic_loss,
        actor_loss: last.actor_loss,
        alpha: last.alpha,
        entropy: last.entropy,
        critic_accuracy: last.critic_accuracy,
        success_rate: report.success_rate.mean,
        success_ci95: [report.success_rate.ci95_low, report.success_rate.ci95_high],
        time_at_goal: report.time_at_goal.mean,
        time_at_goal_ci95: [report.time_at_goal.ci95_low, report.time_at_goal.ci95_high],
        per_goal: per_goal_success(&cfg.env, &report),
    };
    log_eval(&m);
    append_line(&files.metrics_jsonl(), &serde_json::to_string(&m)?)?;
    plot_history(cfg, files)?;
    append_line(&files.metrics_csv(), &csv_row(&m))?;
    let eval = serde_json::json!({ "metrics": &m, "report": &report });
    write_bytes_atomic(&files.eval_json(), serde_json::to_string_pretty(&eval)?.as_bytes())?;
    Ok(m)
}

fn log_eval(m: &Metrics) {
    let goals: Vec<String> = m.per_goal.iter().map(|(k, v)| format!("{k}:{v:.2}")).collect();
    tracing::info!(
        "env steps {:>9}  sgd {:>7}  {:>6.0}s  {:>6.0} sps  critic {:.3} acc {:.2}  alpha {:.3}  success {:.2} [{:.2}, {:.2}]  {}",
        m.env_steps,
        m.sgd_steps,
        m.wall_s,
        m.sps,
        m.critic_loss,
        m.critic_accuracy,
        m.alpha,
        m.success_rate,
        m.success_ci95[0],
        m.success_ci95[1],
        goals.join(" ")
    );
}
