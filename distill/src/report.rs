//! `report.json` and `report.md`: teacher against student, closed loop, with sizes and measured latency.

use std::path::Path;

use crate::error::Result;
use envs::eval::EvalReport;
use envs::Stat;
use models::infer::ActorInfer;
use models::timing::time_calls;
use models::Model;
use rundir::ModelDir;
use serde::Serialize;

use crate::run::{CurvePoint, DistillConfig, Outcome};

/// Size and speed of one actor.
#[derive(Clone, Debug, Serialize)]
pub struct ActorCost {
    pub actor_depth: usize,
    pub width: usize,
    pub actor_parameters: usize,
    /// Multiply-adds × 2 of the actor's linear layers for one action.
    pub flops_per_action: usize,
    /// Median microseconds for one action (one thread, in process).
    pub batch1_us: f64,
    /// Median microseconds for 256 actions in one call.
    pub batch256_us: f64,
}

/// Closed-loop results of one policy.
#[derive(Clone, Debug, Serialize)]
pub struct Closed {
    pub success_rate: Stat,
    pub time_at_goal: Stat,
    pub episodes: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub config: DistillConfig,
    pub env: String,
    pub teacher: Closed,
    pub student: Closed,
    /// Student success / teacher success (None when the teacher never succeeds).
    pub retention_success: Option<f64>,
    pub retention_time_at_goal: Option<f64>,
    /// The student's size trained from scratch by `train` with the teacher's budget (None: skipped).
    pub baseline: Option<Closed>,
    pub teacher_cost: ActorCost,
    pub student_cost: ActorCost,
    pub batch1_speedup: f64,
    pub labelled_samples: u64,
    pub wall_s: f64,
    pub curve: Vec<CurvePoint>,
    /// The other method (bc for a DAgger run) with the same budget, when `--compare-bc` asked for it.
    pub comparison: Option<Comparison>,
}

/// A second distillation of the same teacher by another method, same steps and labelled-sample rate.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub method: String,
    pub student: Closed,
    pub retention_success: Option<f64>,
    pub labelled_samples: u64,
    pub wall_s: f64,
    pub curve: Vec<CurvePoint>,
}

pub fn closed(r: &EvalReport) -> Closed {
    Closed { success_rate: r.success_rate, time_at_goal: r.time_at_goal, episodes: r.episodes }
}

/// Parameters, FLOPs and measured latency of `model`'s actor.
pub fn actor_cost(model: &Model) -> Result<ActorCost> {
    let lay = &model.layout.actor;
    let params = lay.range.len();
    let flops: usize = model
        .layout
        .specs
        .iter()
        .filter(|s| s.name.starts_with("actor.") && s.name.ends_with(".weight") && s.shape.len() == 2)
        .map(|s| 2 * s.shape[0] * s.shape[1])
        .sum();
    let mut actor = ActorInfer::new(model);
    let od = model.cfg.state_dim + model.cfg.goal_dim;
    let obs: Vec<f32> = (0..256 * od).map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0).collect();
    let median_us = |s: models::timing::Samples| s.median() * 1e6;
    let batch1_us = median_us(time_calls(0, 2000, |_| actor.act_obs(&obs[..od], 1).map(|_| ()))?);
    let batch256_us = median_us(time_calls(0, 50, |_| actor.act_obs(&obs, 256).map(|_| ()))?);
    Ok(ActorCost {
        actor_depth: model.cfg.actor_depth,
        width: model.cfg.width,
        actor_parameters: params,
        flops_per_action: flops,
        batch1_us,
        batch256_us,
    })
}

impl Report {
    /// `baseline`: the from-scratch network's evaluation, if it was trained.
    pub fn new(
        cfg: &DistillConfig,
        env: &str,
        teacher: &Model,
        out: &Outcome,
        baseline: Option<&EvalReport>,
    ) -> Result<Self> {
        let (t, s) = (closed(&out.teacher_eval), closed(&out.student_eval));
        let ratio = |a: f64, b: f64| (b > 0.0).then_some(a / b);
        let teacher_cost = actor_cost(teacher)?;
        let student_cost = actor_cost(&out.student)?;
        Ok(Report {
            config: cfg.clone(),
            env: env.to_string(),
            retention_success: ratio(s.success_rate.mean, t.success_rate.mean),
            retention_time_at_goal: ratio(s.time_at_goal.mean, t.time_at_goal.mean),
            batch1_speedup: teacher_cost.batch1_us / student_cost.batch1_us.max(1e-9),
            teacher: t,
            student: s,
            baseline: baseline.map(closed),
            teacher_cost,
            student_cost,
            labelled_samples: out.labelled,
            wall_s: out.wall_s,
            curve: out.curve.clone(),
            comparison: None,
        })
    }

    /// Adds the run of `method` on the same teacher (evaluated on the same episodes).
    pub fn with_comparison(mut self, method: &str, other: &Outcome) -> Self {
        let student = closed(&other.student_eval);
        let t = self.teacher.success_rate.mean;
        self.comparison = Some(Comparison {
            method: method.to_string(),
            retention_success: (t > 0.0).then(|| student.success_rate.mean / t),
            student,
            labelled_samples: other.labelled,
            wall_s: other.wall_s,
            curve: other.curve.clone(),
        });
        self
    }

    /// The markdown table of the two methods' curves, point by point.
    fn comparison_markdown(&self) -> String {
        let Some(c) = &self.comparison else { return String::new() };
        let opt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "–".into());
        let mut md = format!(
            "\n## {} against {} at equal labelled samples\n\nBoth runs label the same number of samples per \
             round (environments × unroll length), so each row compares them at equal labelled samples. \
             Closed-loop success on {} eval episodes per point; held-out error = mean ‖tanh μ_student − tanh \
             μ_teacher‖².\n\n| SGD steps | labelled ({}) | labelled ({}) | success ({}) | success ({}) | held-out \
             error ({}) | held-out error ({}) |\n|---|---|---|---|---|---|---|\n",
            self.config.method,
            c.method,
            self.config.curve_eval_episodes,
            self.config.method,
            c.method,
            self.config.method,
            c.method,
            self.config.method,
            c.method
        );
        for (a, b) in self.curve.iter().zip(&c.curve) {
            md += &format!(
                "| {} | {} | {} | {} | {} | {:.5} | {:.5} |\n",
                a.sgd_steps,
                a.labelled,
                b.labelled,
                opt(a.success_rate),
                opt(b.success_rate),
                a.heldout_action_mse,
                b.heldout_action_mse
            );
        }
        md += &format!(
            "\nFinal closed-loop success ({} episodes): {} {}, {} {}.\n",
            self.student.episodes, self.config.method, self.student.success_rate, c.method, c.student.success_rate
        );
        md
    }

    pub fn markdown(&self) -> String {
        let pct = |v: Option<f64>| v.map(|r| format!("{:.1}%", 100.0 * r)).unwrap_or_else(|| "n/a".into());
        let row = |name: &str, c: &Closed, k: &ActorCost| {
            format!(
                "| {name} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
                k.actor_depth,
                c.success_rate,
                c.time_at_goal,
                k.actor_parameters,
                k.flops_per_action,
                k.batch1_us,
                k.batch256_us
            )
        };
        format!(
            "# Distillation report\n\n{} → depth-{} student on `{}` ({}, {} loss), {} SGD steps, {} labelled \
             samples, {:.0} s.\n\n| policy | actor depth | success (95% CI) | time at goal (95% CI) | parameters | \
             FLOPs/action | batch-1 µs | batch-256 µs |\n|---|---|---|---|---|---|---|---|\n{}{}{}\nRetention \
             (student / teacher): success {}, time at goal {}. Batch-1 speed-up {:.1}×. {} evaluation episodes \
             each, deterministic actions, same seeds.\n",
            self.config.teacher.display(),
            self.config.student_depth,
            self.env,
            self.config.method,
            self.config.loss,
            self.config.steps,
            self.labelled_samples,
            self.wall_s,
            row("teacher", &self.teacher, &self.teacher_cost),
            row("student", &self.student, &self.student_cost),
            self.baseline
                .as_ref()
                .map(|b| row("same size from scratch", b, &self.student_cost))
                .unwrap_or_else(|| "| same size from scratch | skipped (--no-baseline) | | | | | | |\n".into()),
            pct(self.retention_success),
            pct(self.retention_time_at_goal),
            self.batch1_speedup,
            self.teacher.episodes
        ) + &self.comparison_markdown()
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        models::atomic::write_bytes_atomic(&ModelDir::new(dir).report_json(), json.as_bytes())?;
        models::atomic::write_bytes_atomic(&ModelDir::new(dir).report_md(), self.markdown().as_bytes())?;
        Ok(crate::plot::plot_report(self, &ModelDir::new(dir).report_png())?)
    }
}
