//! The training loop of DESIGN.md section 3, readable top to bottom:
//! prefill → repeat { collect a round → `sgd_steps_per_round` updates → every `eval_every` env
//! steps: evaluate, log, checkpoint } → final evaluation.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use envs::seed::derive;
use envs::{eval_env_name, make_with, GoalEnv};
use models::atomic::write_bytes_atomic;
use models::infer::ActorInfer;
use models::{checkpoint, Adam, AdamConfig, CrlBatch, CrlStats, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::Serialize;

use crate::bank::write_bank;
use crate::collect::Collector;
use crate::config::TrainConfig;
use crate::evaluation::{Evaluator, Progress};
use crate::metrics::{repair_torn_tail, Metrics, CSV_HEADER};
use crate::probe::ProbeLog;
use crate::progress::Observer;
use crate::ranks::{Ranks, CHECK_EVERY};
use crate::replay::{Replay, Sample};
use crate::snapshot;
use crate::state::{self, Counters};
use crate::updater::Updater;
use models::collective::{Collective, Solo};
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
    pub stopped: Stopped,
}

/// What ended a run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Stopped {
    /// It trained its whole `--total-env-steps`.
    Budget,
    /// `--stop-at-success` held for `--patience` evaluations in a row.
    Success { at_or_above: f64, evaluations: usize },
    /// `--time-budget` ran out.
    Time { budget_s: f64 },
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::Budget => write!(f, "trained the whole env-step budget"),
            Stopped::Success { at_or_above, evaluations } => write!(
                f,
                "stopped early: success at or above {at_or_above} for {evaluations} evaluations in a row (--patience 0 trains on)"
            ),
            Stopped::Time { budget_s } => write!(f, "stopped at the time budget of {budget_s} s"),
        }
    }
}

/// Evaluations in a row, counted back from the last, whose success is at or above `threshold`.
pub fn success_streak(history: &[Metrics], threshold: f64) -> usize {
    history.iter().rev().take_while(|m| m.success_rate >= threshold).count()
}

/// Trains a teacher as `cfg` says, writing everything under `out`. With `resume`, continues the run
/// in `out` from its `train_state.safetensors` (parameters, Adam, counters, sampler RNG). With
/// `cfg.save_replay` the replay buffer, environments and collector continue from the checkpoint too
/// (`crate::snapshot`), bit for bit; without it the replay is refilled with `prefill_env_steps` fresh
/// steps of the restored policy (not counted in the run's env steps) and the environments start new
/// episodes.
pub fn train(cfg: &TrainConfig, out: &Path, resume: bool, observer: impl Observer) -> Result<Summary> {
    train_ranks(cfg, out, resume, observer, &mut Solo)
}

/// [`train`] as one rank of a data-parallel job over `comm` (`--distributed mpi`; DESIGN.md section
/// 3's update, exact to one process with every rank's batch): each rank collects with its own
/// environments and samples its own `batch_size`; rank 0 alone touches `out`, evaluates and decides
/// when to stop, and the other ranks return its [`Stopped`] with default metrics. `total_env_steps`
/// and every counter are the whole job's.
pub fn train_ranks(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    mut observer: impl Observer,
    comm: &mut dyn Collective,
) -> Result<Summary> {
    cfg.validate()?;
    let mut ranks = Ranks::new(comm);
    let root = ranks.is_root();
    if ranks.size() > 1 {
        ranks.check_same_config(&cfg.to_toml()?)?;
        if cfg.save_replay {
            bail!(
                "--save-replay is not supported with --distributed yet (each rank has its own replay); leave it out: \
                 --resume then refills every rank's replay"
            );
        }
    }
    let opts = cfg.env_options();
    // An unknown environment is refused before the run directory is touched, and so is
    // --save-replay on one that cannot snapshot (a Gymnasium env), not at its first checkpoint.
    let probe = make_with(&cfg.env, 1, cfg.seed, &opts)?;
    if cfg.save_replay {
        probe.snapshot()?;
    }
    drop(probe);
    let files = RunDir::new(out);
    // Held to the end of the run: a second process on this directory is refused, not interleaved.
    let _lock = root.then(|| RunLock::acquire(out)).transpose()?;
    if root {
        rundir::layout::remove_stale_temp_files(out);
    }
    let restored = if !root {
        None
    } else if resume {
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
        crate::metrics::sync_csv(&files)?;
        Some(state::load(&path)?)
    } else {
        rundir::refuse_overwrite(&files)?;
        None
    };
    let mut counters = restored.as_ref().map(|r| r.counters).unwrap_or_default();
    if ranks.size() > 1 {
        let c = ranks.share_u64s(&[counters.env_steps, counters.sgd_steps, counters.next_eval, counters.wall_ms])?;
        counters = Counters { env_steps: c[0], sgd_steps: c[1], next_eval: c[2], wall_ms: c[3] };
    }
    let seed = ranks.seed(cfg.seed);

    // A resumed run starts fresh episodes from a seed of its own.
    let mut env = make_with(&cfg.env, cfg.num_envs, derive(seed, counters.env_steps), &opts)?;
    let eval_opts = cfg.eval_env_options();
    let mut evaluator = if root {
        let eval_env =
            make_with(&eval_env_name(&cfg.env), cfg.eval_episodes.min(256), derive(cfg.seed, 1), &eval_opts)?;
        Some(Evaluator::new(cfg, &files, eval_env)?)
    } else {
        None
    };
    let spec = env.spec().clone();

    let mut mcfg =
        ModelConfig::new(&cfg.env, spec.state_dim, spec.goal_dim, spec.action_dim, cfg.depth).with_width(cfg.width);
    mcfg.goal_indices = spec.goal_indices.clone();
    mcfg.actor_depth = cfg.actor_depth();
    mcfg.head_norm = cfg.head_norm;
    let adam = AdamConfig { lr: cfg.lr, warmup_steps: cfg.lr_warmup, ..AdamConfig::default() };
    // Another rank resumes with a fresh stream: only rank 0's position is in the train state.
    let rng_seed = if root { seed } else { derive(seed, counters.env_steps) };
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed ^ 0xC011EC7);
    let (mut model, mut saved_adam) = match restored {
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
            rng.set_word_pos(r.rng_word_pos);
            (r.model, Some(Adam { cfg: adam, m: r.adam_m, v: r.adam_v, t: r.adam_t }))
        }
        None => (Model::init_with(&mcfg, cfg.seed, cfg.residual_init.into())?, None),
    };
    if ranks.size() > 1 {
        // Rank 0's model and optimiser state, resumed or fresh, on every rank.
        let resumed = ranks.share_u64s(&[u64::from(saved_adam.is_some())])?[0] == 1;
        let mut state = saved_adam.take().unwrap_or_else(|| Adam::new(adam, model.params.len()));
        ranks.share_state(&mut model.params, &mut state)?;
        saved_adam = resumed.then_some(state);
    }
    let mut trainer = Updater::for_ranks(model, adam, cfg, &mut ranks)?;
    if let Some(a) = saved_adam {
        trainer.restore_adam(a.m, a.v, a.t)?;
    }
    if let Some(t) = cfg.target_entropy {
        trainer.set_target_entropy(t);
    }
    let mut probe =
        ProbeLog::open(cfg.probe_every, &files.dir, &trainer, ranks.size(), resume.then_some(counters.sgd_steps))?;
    // Only now, with the device open and the model built, does the run directory get its files: a
    // missing GPU or driver leaves no half-started run behind.
    if root && !resume {
        fs::write(files.metrics_jsonl(), "").context("creating metrics.jsonl")?;
        fs::write(files.metrics_csv(), format!("{CSV_HEADER}\n")).context("creating metrics.csv")?;
    }
    // On resume too: flags may have changed the budget, and a later resume should see the new one.
    if root {
        write_bytes_atomic(&files.config(), cfg.to_toml()?.as_bytes())?;
    }
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
    // Every rank collects as much per round, so the job's counters are this rank's times the ranks;
    // each rank's replay is prefilled as one process's would be.
    let per_round = ranks.size() as u64;
    let mut refill = 0u64;
    while !continued && refill < cfg.prefill_env_steps {
        refill +=
            collector.round(env.as_mut(), trainer.actor(&mut actor)?, &mut replay, cfg.unroll_length, &mut rng)?;
    }
    refill *= per_round;
    if !resume {
        env_steps = refill;
        next_eval = env_steps;
    }
    if root {
        tracing::info!(
            "{} replay steps prefilled; {} parameters on the {}, {} SGD steps per {} env steps{}",
            refill,
            trainer.model()?.params.len(),
            trainer.describe(),
            cfg.sgd_steps_per_round,
            cfg.round_env_steps() * per_round,
            match ranks.size() {
                1 => String::new(),
                n => format!(" on {n} ranks, each with {} envs and a batch of {}", cfg.num_envs, cfg.batch_size),
            }
        );
    }
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
    // On resume the streak goes on from the evaluations already in metrics.jsonl.
    let mut streak = if root && resume {
        success_streak(&crate::metrics::read_history(&files.metrics_jsonl())?, cfg.stop_at_success)
    } else {
        0
    };
    let (final_metrics, stopped) = loop {
        let out_of_time = root && cfg.time_budget.is_some_and(|b| clock.wall_s() >= b);
        let stop = STOP.load(Ordering::SeqCst);
        // Every rank takes the same branch: rank 0's clock, and a Ctrl-C on any rank.
        let (out_of_time, stop) = if ranks.size() > 1 {
            (ranks.count(out_of_time)? > 0, ranks.count(stop)? > 0)
        } else {
            (out_of_time, stop)
        };
        let out_of_time = cfg.time_budget.filter(|_| out_of_time);
        if env_steps >= next_eval || env_steps >= cfg.total_env_steps || out_of_time.is_some() {
            if ranks.size() > 1 {
                ranks.check_params(&trainer.model()?.params, sgd_steps)?;
            }
            let mut decision = Decision::Go;
            let mut metrics = Metrics::default();
            if let Some(evaluator) = evaluator.as_mut() {
                let m = evaluator.evaluate(
                    &mut trainer,
                    &mut actor,
                    Progress { env_steps, sgd_steps, last: &last, wall_s: clock.wall_s(), sps: clock.sps(env_steps) },
                )?;
                observer.evaluated(&m);
                let counters = clock.counters(env_steps, sgd_steps, env_steps + cfg.eval_every);
                let collection = cfg.save_replay.then_some((&replay, env.as_ref(), &collector));
                save_run(&files, &mut trainer, counters, &rng, collection)?;
                probe.as_mut().map(ProbeLog::flush).transpose()?;
                streak = if m.success_rate >= cfg.stop_at_success { streak + 1 } else { 0 };
                decision = if env_steps >= cfg.total_env_steps {
                    Decision::Stop(Stopped::Budget)
                } else if cfg.patience > 0 && streak >= cfg.patience {
                    Decision::Stop(Stopped::Success { at_or_above: cfg.stop_at_success, evaluations: streak })
                } else if let Some(budget_s) = out_of_time {
                    Decision::Stop(Stopped::Time { budget_s })
                } else {
                    Decision::Go
                };
                metrics = m;
            }
            next_eval = env_steps + cfg.eval_every;
            if ranks.size() > 1 {
                decision = Decision::decode(&ranks.share_u64s(&decision.encode())?, cfg);
            }
            if let Decision::Stop(stopped) = decision {
                break (metrics, stopped);
            }
        }
        if stop {
            if root {
                let counters = clock.counters(env_steps, sgd_steps, next_eval);
                let collection = cfg.save_replay.then_some((&replay, env.as_ref(), &collector));
                save_run(&files, &mut trainer, counters, &rng, collection)?;
                probe.as_mut().map(ProbeLog::flush).transpose()?;
            }
            return Err(Interrupted { dir: files.dir.clone(), env_steps, sgd_steps }.into());
        }
        env_steps += per_round
            * collector.round(env.as_mut(), trainer.actor(&mut actor)?, &mut replay, cfg.unroll_length, &mut rng)?;
        for _ in 0..cfg.sgd_steps_per_round {
            replay.sample(cfg.batch_size, cfg.gamma, &mut rng, &mut sample);
            noise.iter_mut().for_each(|e| *e = rng.sample(StandardNormal));
            let batch =
                CrlBatch { states: &sample.states, actions: &sample.actions, goals: &sample.goals, noise: &noise };
            last = trainer.step_with(&batch, ranks.comm())?;
            sgd_steps += 1;
            if let Some(p) = probe.as_mut() {
                p.after_step(&mut trainer, &batch, &last, sgd_steps, env_steps)?;
            }
            if !(last.critic_loss.is_finite() && last.actor_loss.is_finite()) {
                bail!(
                    "non-finite loss at SGD step {sgd_steps} (critic {}, actor {}): training stopped; the last good \
                     checkpoint is {}",
                    last.critic_loss,
                    last.actor_loss,
                    files.teacher().display()
                );
            }
            if ranks.size() > 1 && sgd_steps % CHECK_EVERY == 0 {
                ranks.check_params(&trainer.model()?.params, sgd_steps)?;
            }
        }
        observer.round(env_steps, sgd_steps);
    };
    if !root {
        return Ok(Summary { dir: files.dir, final_metrics, stopped });
    }
    let bank =
        write_bank(&replay, &cfg.env, spec.state_dim, &spec.goal_indices, cfg.bank_size, &mut rng, &files.bank())?;
    tracing::info!("waypoint bank: {} states in {}", bank.len(), files.bank().display());
    Ok(Summary { dir: files.dir, final_metrics, stopped })
}

/// What rank 0 decided after an evaluation, as every rank learns it.
enum Decision {
    Go,
    Stop(Stopped),
}

impl Decision {
    /// Two words: the kind, and the streak of a stop by the stop rule.
    fn encode(&self) -> [u64; 2] {
        match self {
            Decision::Go => [0, 0],
            Decision::Stop(Stopped::Budget) => [1, 0],
            Decision::Stop(Stopped::Success { evaluations, .. }) => [2, *evaluations as u64],
            Decision::Stop(Stopped::Time { .. }) => [3, 0],
        }
    }

    fn decode(words: &[u64], cfg: &TrainConfig) -> Self {
        match words {
            [1, _] => Decision::Stop(Stopped::Budget),
            [2, n] => Decision::Stop(Stopped::Success { at_or_above: cfg.stop_at_success, evaluations: *n as usize }),
            [3, _] => Decision::Stop(Stopped::Time { budget_s: cfg.time_budget.unwrap_or_default() }),
            _ => Decision::Go,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_success_streak_counts_back_from_the_last_evaluation() {
        let rows = |rates: &[f64]| -> Vec<Metrics> {
            rates.iter().map(|&r| Metrics { success_rate: r, ..Metrics::default() }).collect()
        };
        assert_eq!(success_streak(&rows(&[0.5, 1.0, 0.97, 0.95]), 0.95), 3);
        assert_eq!(success_streak(&rows(&[1.0, 1.0, 0.94]), 0.95), 0);
        assert_eq!(success_streak(&rows(&[]), 0.95), 0);
    }
}
