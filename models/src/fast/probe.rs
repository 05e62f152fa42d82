//! A look inside the actor's last update, for studying why deep actors collapse (issue 26): the
//! scale of the residual stream on its way to the heads, how far the heads sit on the flat ends of
//! their tanh, which way the critic and the entropy term pull log σ, the gradient each block
//! receives, and how far one Adam step moved the log σ head on the batch it was taken on.
//!
//! It reads what the step left in the trainer (the actor's tape, head outputs and gradients), so it
//! costs one extra actor forward, for the change the step made; call it right after
//! [`FastTrainer::step`] with the same batch. Single-process only: across ranks the head buffers hold
//! one rank's rows.

use serde::{Deserialize, Serialize};

use super::head_norm;
use super::heads::linear_forward;
use super::trunk::{forward_no_tape, InferScratch, LinearWeights, Threads};
use super::update::FastTrainer;
use crate::crl::{CrlBatch, Dims};
use crate::error::{ModelError, Result};
use crate::layout::{LayerSlot, LinearSlot};
use crate::numerics::{LOG_STD_MAX, LOG_STD_MIN};

/// A pre-activation beyond this sits where tanh' = 1 − tanh² < 0.01: a head there barely moves.
pub const SATURATED: f32 = 3.0;

/// What one update looked like inside the actor. Gradients are those of the batch-mean loss times
/// the batch size, i.e. per sample, so they compare across batch sizes.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ActorProbe {
    /// RMS of the residual stream entering each block, then of the trunk's output (the heads'
    /// input): blocks + 1 values.
    pub stream_rms: Vec<f32>,
    pub log_std_mean: f32,
    pub log_std_min: f32,
    pub log_std_max: f32,
    /// Fraction of the log σ head's pre-activations beyond ±[`SATURATED`].
    pub log_std_saturated: f32,
    /// Mean of 1 − tanh² over the log σ head: the factor every gradient to its weights passes.
    pub log_std_slope: f32,
    /// Mean |μ| (the Gaussian's mean before the action's tanh) and the fraction beyond ±3.
    pub mean_abs: f32,
    pub mean_saturated: f32,
    /// Mean d loss / d log σ from the critic's term (−Q) and from the entropy term (α log π); a
    /// positive mean pushes log σ down under gradient descent.
    pub d_log_std_q: f32,
    pub d_log_std_entropy: f32,
    /// RMS of the gradient that reaches the log σ head's pre-activation (after its tanh).
    pub d_raw_rms: f32,
    /// L2 norms of the actor's gradient: its input layer, each block, each head, all of it.
    pub grad_input: f32,
    pub grad_blocks: Vec<f32>,
    pub grad_mean_head: f32,
    pub grad_log_std_head: f32,
    pub grad_total: f32,
    /// RMS change of the log σ pre-activation on this batch made by the step's parameter update.
    pub step_raw_change: f32,
    /// RMS change of the heads' input made by the update, over the RMS of that input.
    pub step_stream_change: f32,
}

fn rms(v: impl ExactSizeIterator<Item = f32>) -> f32 {
    let n = v.len().max(1);
    (v.map(|x| f64::from(x) * f64::from(x)).sum::<f64>() / n as f64).sqrt() as f32
}

fn mean(v: impl ExactSizeIterator<Item = f32>) -> f32 {
    let n = v.len().max(1);
    (v.map(f64::from).sum::<f64>() / n as f64) as f32
}

fn fraction(v: &[f32], beyond: f32) -> f32 {
    v.iter().filter(|x| x.abs() > beyond).count() as f32 / v.len().max(1) as f32
}

fn sum_sq(g: &[f32]) -> f64 {
    g.iter().map(|&x| f64::from(x) * f64::from(x)).sum()
}

fn linear_sq(g: &[f32], s: &LinearSlot) -> f64 {
    sum_sq(&g[s.w..s.w + s.n_in * s.n_out]) + sum_sq(&g[s.b..s.b + s.n_out])
}

fn layer_sq(g: &[f32], l: &LayerSlot) -> f64 {
    let n = l.linear.n_out;
    linear_sq(g, &l.linear) + sum_sq(&g[l.norm.g..l.norm.g + n]) + sum_sq(&g[l.norm.b..l.norm.b + n])
}

impl FastTrainer {
    /// The probe of the update just taken on `batch` (see the module's doc).
    pub fn probe_actor(&mut self, batch: &CrlBatch) -> Result<ActorProbe> {
        let b = batch.size(&self.model.cfg)?;
        let d = Dims::new(&self.model.cfg, b);
        let aw = &self.actor_ws;
        if aw.raw.len() != b * d.a {
            return Err(ModelError::Shape(format!(
                "the actor probe reads the last step's rows: it took {} rows, this batch has {b}",
                aw.raw.len() / d.a.max(1)
            )));
        }
        let lay = &self.model.layout.actor;
        let per_sample = b as f32;
        // The step's own log σ, not ln(σ), which can round past the range's ends.
        let half_range = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
        let log_std = aw.sample.t.iter().map(|t| LOG_STD_MIN as f32 + half_range * (t + 1.0));
        let (mut d_q, mut d_ent) = (0f64, 0f64);
        for k in 0..aw.raw.len() {
            let (q, ent) = aw.sample.d_log_std_terms(k, &aw.d_action, aw.d_log_prob[k / d.a], batch.noise[k]);
            d_q += f64::from(q);
            d_ent += f64::from(ent);
        }
        let per_entry = f64::from(per_sample) / aw.raw.len().max(1) as f64;

        let g = &self.grads;
        let blocks = lay.trunk.blocks();
        let grad_blocks = (0..blocks)
            .map(|blk| lay.trunk.layers[1 + 4 * blk..5 + 4 * blk].iter().map(|l| layer_sq(g, l)).sum::<f64>())
            .map(|s| (s.sqrt() as f32) * per_sample)
            .collect();

        // The same rows through the updated actor.
        let th = Threads::new(self.threads);
        let h_old = aw.trunk.output();
        let mut h_new = vec![0.0; h_old.len()];
        let mut scratch = InferScratch::default();
        let p = &self.model.params;
        forward_no_tape(&lay.trunk, p, LinearWeights::Params, &aw.obs, b, &mut h_new, &mut scratch, th);
        let (mut normed, mut rstd) = (Vec::new(), Vec::new());
        let heads_in = head_norm::heads_input(lay.head_norm, &h_new, lay.trunk.width, &mut normed, &mut rstd);
        let mut raw_new = vec![0.0; aw.raw.len()];
        linear_forward(&lay.log_std, p, heads_in, b, &mut raw_new);

        Ok(ActorProbe {
            stream_rms: aw.trunk.streams().map(|s| rms(s.iter().copied())).collect(),
            log_std_mean: mean(log_std.clone()),
            log_std_min: log_std.clone().fold(f32::INFINITY, f32::min),
            log_std_max: log_std.fold(f32::NEG_INFINITY, f32::max),
            log_std_saturated: fraction(&aw.raw, SATURATED),
            log_std_slope: mean(aw.sample.t.iter().map(|t| 1.0 - t * t)),
            mean_abs: mean(aw.mean.iter().map(|m| m.abs())),
            mean_saturated: fraction(&aw.mean, SATURATED),
            d_log_std_q: (d_q * per_entry) as f32,
            d_log_std_entropy: (d_ent * per_entry) as f32,
            d_raw_rms: rms(aw.d_raw.iter().map(|x| x * per_sample)),
            grad_input: (layer_sq(g, &lay.trunk.layers[0]).sqrt() as f32) * per_sample,
            grad_blocks,
            grad_mean_head: (linear_sq(g, &lay.mean).sqrt() as f32) * per_sample,
            grad_log_std_head: (linear_sq(g, &lay.log_std).sqrt() as f32) * per_sample,
            grad_total: (sum_sq(&g[lay.range.clone()]).sqrt() as f32) * per_sample,
            step_raw_change: rms(raw_new.iter().zip(&aw.raw).map(|(n, o)| n - o)),
            step_stream_change: rms(h_new.iter().zip(h_old).map(|(n, o)| n - o))
                / rms(h_old.iter().copied()).max(1e-30),
        })
    }
}
