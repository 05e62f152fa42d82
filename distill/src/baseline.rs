//! The from-scratch baseline: a network of the student's size trained by `train` with the teacher's
//! recipe and environment-step budget. It answers whether distillation buys anything over simply
//! training the small network.

use std::path::Path;

use crate::error::{bail, Result};
use envs::eval::{evaluate, EvalReport};
use envs::seed::derive;
use envs::{eval_env_name, make_with, EnvOptions};
use models::infer::ActorInfer;
use models::Model;
use rundir::{Deterministic, RunDir};
use train::config::TrainConfig;

use crate::run::DistillConfig;
use crate::teacher::Teacher;

/// The baseline's training configuration: the teacher's run with the student's depth and width.
pub fn baseline_config(teacher: &Teacher, cfg: &DistillConfig) -> Result<TrainConfig> {
    let Some(run) = &teacher.run_config else {
        bail!(
            "{}: the baseline needs the teacher's run directory (its config.toml gives the recipe and budget); \
             pass --teacher runs/NAME or --no-baseline",
            teacher.checkpoint.display()
        );
    };
    Ok(TrainConfig {
        depth: cfg.student_depth,
        actor_depth: Some(cfg.student_depth),
        width: cfg.student_width.unwrap_or(teacher.model.cfg.width),
        seed: cfg.seed,
        // The teacher's whole env-step budget, as its recipe says: not cut short by the stop rule, which
        // a teacher recorded before the rule existed did not run under either.
        patience: 0,
        ..run.clone()
    })
}

/// Trains the baseline into `dir` (resuming a run left there) and evaluates it as the student is.
pub fn train_baseline(teacher: &Teacher, cfg: &DistillConfig, dir: &Path) -> Result<(Model, EvalReport)> {
    let tcfg = baseline_config(teacher, cfg)?;
    let run = RunDir::new(dir);
    // A baseline left by an interrupted distill is continued, not started over.
    let resume = run.train_state().is_file();
    // The teacher's time budget comes with its recipe and may end the baseline first: say so.
    let budget = match tcfg.time_budget {
        Some(s) => format!(
            "{} env steps or {s:.0} s of training (the teacher's --time-budget), whichever ends first",
            tcfg.total_env_steps
        ),
        None => format!("{} env steps", tcfg.total_env_steps),
    };
    tracing::info!(
        "baseline: training depth {} width {} from scratch for {budget} in {}",
        tcfg.depth,
        tcfg.width,
        dir.display()
    );
    train::run::train(&tcfg, dir, resume, ())?;
    let model = models::checkpoint::load(&run.teacher())?;
    let report = evaluate_actor(&model, cfg, &tcfg.env, &tcfg.eval_env_options())?;
    Ok((model, report))
}

/// The closed-loop evaluation every policy in the report gets: deterministic actions, the eval goals,
/// the same seeds.
pub fn evaluate_actor(model: &Model, cfg: &DistillConfig, env: &str, opts: &EnvOptions) -> Result<EvalReport> {
    evaluate_policy(model, env, opts, cfg.eval_episodes, cfg.seed)
}

/// `episodes` deterministic episodes of `model`'s actor on `env`'s eval goals, seeded by `seed` alone,
/// so two calls with the same seed see the same starts and goals.
pub fn evaluate_policy(model: &Model, env: &str, opts: &EnvOptions, episodes: usize, seed: u64) -> Result<EvalReport> {
    let eval_name = eval_env_name(env);
    let mut eval_env = make_with(&eval_name, episodes.min(256), derive(seed, 1), opts)?;
    let mut actor = ActorInfer::new(model);
    Ok(evaluate(eval_env.as_mut(), &mut Deterministic(&mut actor), episodes, derive(seed, 2))?)
}
