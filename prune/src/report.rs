//! `report.json` (for machines) and `report.md` (for people): the sensitivity curve, closed-loop
//! success and time at goal before and after with 95% intervals, retention, parameters, FLOPs and the
//! measured latency of the actor before and after.

use std::cmp::Ordering;
use std::path::Path;

use crate::error::Result;
use distill::report::{ActorCost, Closed};
use distill::run::CurvePoint;
use models::config::InnerWidths;
use models::Model;
use rundir::ModelDir;
use serde::Serialize;

use crate::config::PruneConfig;
use crate::surgery::PerTrunk;

/// The x axis of the sensitivity curve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// Depth pruning: residual blocks removed from the actor, in ascending score order.
    BlocksRemoved,
    /// Width pruning: the fraction of each block's inner units kept.
    InnerUnitsKept,
}

impl Axis {
    pub fn name(self) -> &'static str {
        match self {
            Axis::BlocksRemoved => "blocks removed",
            Axis::InnerUnitsKept => "inner units kept",
        }
    }

    /// Points in the order of increasing removal.
    pub fn order(self, a: f64, b: f64) -> Ordering {
        match self {
            Axis::BlocksRemoved => a.total_cmp(&b),
            Axis::InnerUnitsKept => b.total_cmp(&a),
        }
    }
}

/// One point of the sensitivity curve: the actor cut at `x`, closed loop, without and with healing.
#[derive(Clone, Debug, Serialize)]
pub struct SensitivityPoint {
    pub x: f64,
    pub actor_depth: usize,
    pub actor_parameters: usize,
    pub unhealed: Closed,
    /// After healing by distillation (only at the target and, with `heal_curve`, a few more points).
    pub healed: Option<Closed>,
}

impl SensitivityPoint {
    pub fn new(x: f64, model: &Model, unhealed: Closed) -> Self {
        SensitivityPoint {
            x,
            actor_depth: model.cfg.actor_depth,
            actor_parameters: model.layout.actor.range.len(),
            unhealed,
            healed: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// The resolved configuration of the run.
    pub config: PruneConfig,
    /// The checkpoint that was pruned.
    pub source: String,
    pub env: String,
    /// What was done, as in the default output directory name (`keep12-angular`, `w0.50`).
    pub operation: String,
    pub axis: Axis,
    /// Where the output sits on the axis.
    pub target: f64,
    /// Depth pruning: each block's importance (lower = removed first), per trunk.
    pub block_scores: Option<PerTrunk<Vec<f64>>>,
    /// Depth pruning: the source's block indices that were removed, per trunk.
    pub removed_blocks: Option<PerTrunk<Vec<usize>>>,
    /// Width pruning: the output's inner widths (as in its checkpoint's config).
    pub inner_widths: Option<InnerWidths>,
    pub sensitivity: Vec<SensitivityPoint>,
    /// Whether `after` was healed by distillation.
    pub healed: bool,
    pub before: Closed,
    pub after: Closed,
    /// After / before (None when the source never succeeds).
    pub retention_success: Option<f64>,
    pub retention_time_at_goal: Option<f64>,
    pub before_cost: ActorCost,
    pub after_cost: ActorCost,
    pub batch1_speedup: f64,
    /// The distillation curve of the target's healing.
    pub heal_curve: Vec<CurvePoint>,
    pub wall_s: f64,
}

impl Report {
    pub fn markdown(&self) -> String {
        let pct = |v: Option<f64>| v.map(|r| format!("{:.1}%", 100.0 * r)).unwrap_or_else(|| "n/a".into());
        let row = |name: &str, c: &Closed, k: &ActorCost| {
            format!(
                "| {name} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |\n",
                k.actor_depth,
                k.width,
                c.success_rate,
                c.time_at_goal,
                k.actor_parameters,
                k.flops_per_action,
                k.batch1_us,
                k.batch256_us
            )
        };
        let heal = if self.healed {
            format!("healed by {} distillation steps from the unpruned model", self.config.heal_steps)
        } else {
            "not healed".into()
        };
        let mut md = format!(
            "# Pruning report\n\n`{}` on `{}`: {} (target: {} {}), {heal}, {:.0} s.\n\n| model | actor depth | width | \
             success (95% CI) | time at goal (95% CI) | actor parameters | FLOPs/action | batch-1 µs | batch-256 µs \
             |\n|---|---|---|---|---|---|---|---|---|\n{}{}\nRetention (after / before): success {}, time at goal {}. \
             Batch-1 speed-up {:.2}× (measured, one thread). {} evaluation episodes each, deterministic actions, same \
             seeds.\n",
            self.source,
            self.env,
            self.operation,
            self.axis.name(),
            self.target,
            self.wall_s,
            row("before", &self.before, &self.before_cost),
            row("after", &self.after, &self.after_cost),
            pct(self.retention_success),
            pct(self.retention_time_at_goal),
            self.batch1_speedup,
            self.before.episodes
        );
        if let Some(iw) = &self.inner_widths {
            md += &format!("\nInner widths of the output (layers 0, 1, 2 of each block): actor {:?}", iw.actor);
            if !iw.critic_sa.is_empty() {
                md += &format!(", critic.sa {:?}, critic.g {:?}", iw.critic_sa, iw.critic_g);
            }
            md += ".\n";
        }
        if let (Some(r), Some(s)) = (&self.removed_blocks, &self.block_scores) {
            md += &format!(
                "\nRemoved actor blocks (by {} score, least important first): {:?}. Actor block scores: {}.\n",
                self.config.score.name(),
                r.actor,
                s.actor.iter().map(|v| format!("{v:.4}")).collect::<Vec<_>>().join(", ")
            );
            if !r.critic_sa.is_empty() {
                md += &format!("Removed critic blocks (angular): sa {:?}, g {:?}.\n", r.critic_sa, r.critic_g);
            }
        }
        md += &format!(
            "\n## Sensitivity\n\nClosed-loop success against {}, {} episodes per point (the actor alone is cut at \
             each point).\n\n| {} | actor depth | actor parameters | success, not healed | success, healed |\n\
             |---|---|---|---|---|\n",
            self.axis.name(),
            self.config.curve_episodes,
            self.axis.name()
        );
        for p in &self.sensitivity {
            md += &format!(
                "| {}{} | {} | {} | {} | {} |\n",
                p.x,
                if p.x == self.target { " (target)" } else { "" },
                p.actor_depth,
                p.actor_parameters,
                p.unhealed.success_rate,
                p.healed.as_ref().map(|h| h.success_rate.to_string()).unwrap_or_else(|| "–".into())
            );
        }
        md
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        models::atomic::write_bytes_atomic(&ModelDir::new(dir).report_json(), json.as_bytes())?;
        models::atomic::write_bytes_atomic(&ModelDir::new(dir).report_md(), self.markdown().as_bytes())?;
        Ok(crate::plot::plot_report(self, &ModelDir::new(dir).report_png())?)
    }
}
