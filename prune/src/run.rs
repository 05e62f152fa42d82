//! The pruning pipeline: load the model, gather evaluation states, score, cut, measure the sensitivity
//! curve (closed-loop success against how much is removed, without and with healing), heal the target
//! by distillation from the unpruned model, evaluate before and after, and write the pruned model in a
//! student's layout (`student.safetensors`, `student.onnx`) with `prune.toml` and the report.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{Context, PruneError, Result};
use candle_core::{DType, Device};
use distill::baseline::evaluate_policy;
use distill::report::{actor_cost, closed, Closed};
use distill::run::{distill_into, CurvePoint, DistillConfig, Outcome};
use distill::teacher::Teacher;
use models::reference::CandleModel;
use models::Model;
use rundir::ModelDir;

use crate::config::{Operation, PruneConfig};
use crate::plan::Plan;
use crate::report::{Report, SensitivityPoint};
use crate::states::EvalStates;
use crate::surgery::drop_critic;

/// What the pipeline reports as it goes (for logs and progress bars).
pub enum Event<'a> {
    /// A stage begins.
    Stage(&'a str),
    /// Healing `what` measured a point of its distillation curve, out of `steps` SGD steps.
    Heal { what: &'a str, steps: usize, point: &'a CurvePoint },
}

/// The result of a run: the pruned (and healed) model, its report, and where both were written.
pub struct Pruned {
    pub model: Model,
    pub report: Report,
    pub out: PathBuf,
}

/// Runs the whole pipeline and writes its files; `on_event` sees its progress.
pub fn prune(cfg: &PruneConfig, mut on_event: impl FnMut(Event)) -> Result<Pruned> {
    let start = Instant::now();
    cfg.validate()?;
    let teacher = Teacher::load(&cfg.model).context("--model")?;
    let op = cfg.operation(&teacher.model.cfg, &teacher.checkpoint)?;
    // Held to the end: two prunes into one directory would overwrite each other's files.
    let out = ModelDir::new(cfg.out_dir(op));
    let _lock = rundir::RunLock::acquire(&out.dir)?;
    let env = cfg.env.clone().unwrap_or_else(|| teacher.model.cfg.env.clone());
    let opts = teacher.env_options();
    let evaluate = |m: &Model, episodes: usize| -> Result<Closed> {
        Ok(closed(&evaluate_policy(m, &env, &opts, episodes, cfg.seed)?))
    };

    on_event(Event::Stage("gathering evaluation states and scoring"));
    let states = EvalStates::gather(&teacher.model, &env, &opts, cfg.score_states, cfg.seed)?;
    let net = CandleModel::from_model(&teacher.model, &Device::Cpu, DType::F32)?;
    // The curve measures closed-loop success, which only the actor decides: its points cut (and heal)
    // the actor alone. Only the target keeps (and prunes) the critic, with --critic.
    let actor_only =
        if teacher.model.cfg.critic_depth > 0 { drop_critic(&teacher.model)? } else { teacher.model.clone() };
    let source = if cfg.critic { &teacher.model } else { &actor_only };
    let Plan { cutter, axis, target, critic_cut, xs, heal_xs, block_scores } = match op {
        Operation::Depth { keep_blocks } => Plan::depth(cfg, &net, &states, keep_blocks)?,
        Operation::Width { ratio, stream } => Plan::width(cfg, &net, &states, ratio, stream)?,
    };
    // The candle copy of a deep model is as large as the model; only scoring needed it.
    drop(net);

    on_event(Event::Stage("measuring the sensitivity curve"));
    let mut sensitivity = Vec::with_capacity(xs.len());
    for &x in &xs {
        let m = cutter.cut(&actor_only, x, 0)?;
        let unhealed = evaluate(&m, cfg.curve_episodes)?;
        tracing::info!("{} {x}: success {:.3} without healing", axis.name(), unhealed.success_rate.mean);
        sensitivity.push(SensitivityPoint::new(x, &m, unhealed));
    }

    let mut pruned = cutter.cut(source, target, critic_cut)?;
    pruned.cfg.parent = Some(teacher.checkpoint.display().to_string());
    pruned.cfg.training_step = 0;
    let heal = |model: Model, critic: bool, episodes: usize, what: &str, on_event: &mut dyn FnMut(Event)| {
        let dcfg = DistillConfig {
            teacher: teacher.checkpoint.clone(),
            critic,
            env: cfg.env.clone(),
            steps: cfg.heal_steps,
            batch_size: cfg.heal_batch_size,
            num_envs: cfg.heal_num_envs,
            unroll_length: cfg.heal_unroll_length,
            sgd_steps_per_round: cfg.heal_sgd_steps_per_round,
            lr: cfg.heal_lr,
            eval_episodes: episodes,
            curve_eval_episodes: 0,
            seed: cfg.seed,
            ..DistillConfig::default()
        };
        on_event(Event::Stage(what));
        distill_into(&dcfg, &teacher, model, |p| on_event(Event::Heal { what, steps: cfg.heal_steps, point: p }))
    };

    let (model, before, after, heal_curve) = if cfg.heal_steps > 0 {
        let what = format!("healing the target ({} {target})", axis.name());
        let Outcome { student, teacher_eval, student_eval, curve, .. } =
            heal(pruned, cfg.critic, cfg.eval_episodes, &what, &mut on_event)?;
        (student, closed(&teacher_eval), closed(&student_eval), curve)
    } else {
        on_event(Event::Stage("evaluating before and after"));
        let before = closed(&teacher.evaluate(&env, cfg.eval_episodes, cfg.seed)?);
        (pruned.clone(), before, evaluate(&pruned, cfg.eval_episodes)?, vec![])
    };

    if cfg.heal_steps > 0 {
        let mut healed_xs = vec![target];
        if cfg.heal_curve {
            healed_xs.extend(heal_xs.iter().filter(|&&x| x != target));
        }
        for x in healed_xs {
            let healed = if x == target {
                evaluate(&model, cfg.curve_episodes)?
            } else {
                let what = format!("healing the curve point {} {x}", axis.name());
                let m = cutter.cut(&actor_only, x, 0)?;
                // Healing already evaluated its student on exactly these episodes.
                closed(&heal(m, false, cfg.curve_episodes, &what, &mut on_event)?.student_eval)
            };
            match sensitivity.iter_mut().find(|p| p.x == x) {
                Some(p) => p.healed = Some(healed),
                None => {
                    let m = cutter.cut(&actor_only, x, 0)?;
                    let mut p = SensitivityPoint::new(x, &m, evaluate(&m, cfg.curve_episodes)?);
                    p.healed = Some(healed);
                    sensitivity.push(p);
                }
            }
        }
        sensitivity.sort_by(|a, b| axis.order(a.x, b.x));
    }

    on_event(Event::Stage("measuring latency"));
    let before_cost = actor_cost(&teacher.model)?;
    let after_cost = actor_cost(&model)?;
    let removed_blocks = cutter.removed(target as usize, critic_cut);
    let report = Report {
        config: cfg.clone(),
        source: teacher.checkpoint.display().to_string(),
        env,
        operation: cfg.id(op),
        axis,
        target,
        block_scores,
        removed_blocks,
        inner_widths: model.cfg.inner_widths.clone(),
        sensitivity,
        healed: cfg.heal_steps > 0,
        retention_success: ratio(after.success_rate.mean, before.success_rate.mean),
        retention_time_at_goal: ratio(after.time_at_goal.mean, before.time_at_goal.mean),
        before,
        after,
        batch1_speedup: before_cost.batch1_us / after_cost.batch1_us.max(1e-9),
        before_cost,
        after_cost,
        heal_curve,
        wall_s: start.elapsed().as_secs_f64(),
    };
    write(&out, cfg, &model, &report)?;
    Ok(Pruned { model, report, out: out.dir })
}

fn ratio(after: f64, before: f64) -> Option<f64> {
    (before > 0.0).then_some(after / before)
}

/// Writes the model in a student's layout, the resolved configuration and the report into `out`.
fn write(out: &ModelDir, cfg: &PruneConfig, model: &Model, report: &Report) -> Result<()> {
    models::checkpoint::save(model, &out.checkpoint())?;
    models::onnx::export_actor(model, &out.onnx())?;
    let toml = toml::to_string_pretty(cfg)
        .map_err(|e| PruneError::Invalid(format!("writing the configuration as TOML: {e}")))?;
    models::atomic::write_bytes_atomic(&out.dir.join("prune.toml"), toml.as_bytes())?;
    report.write(&out.dir)
}
