//! Critic inference for the planner: φ(s, a) and ψ(g) of many rows on plain contiguous `f32`, with
//! no autograd graph and no allocation once the scratch has grown (the same trunk kernels as
//! [`crate::infer::ActorInfer`]).
//!
//! The planner asks for thousands of rows at a time (every bank node against every session). On
//! candle's CPU backend each of those passes allocated per op and spread over every core, which
//! took the controller's core away from it; here a pass runs on the caller's thread alone.

use crate::error::{ModelError, Result};
use crate::fast::heads::linear_forward;
use crate::fast::trunk::{forward_no_tape, InferScratch, LinearWeights, Threads};
use crate::infer::check_rows;
use crate::layout::{CriticLayout, EncoderLayout, Model};

/// The critic's two encoders, ready to answer many-row queries; one per planning thread.
#[derive(Clone, Debug)]
pub struct CriticInfer {
    /// Slots relative to the start of `params`.
    layout: CriticLayout,
    params: Vec<f32>,
    sa_dim: usize,
    goal_dim: usize,
    repr_dim: usize,
    h: Vec<f32>,
    out: Vec<f32>,
    scratch: InferScratch,
}

impl CriticInfer {
    /// Copies the critic's parameters out of `model`; an actor-only model has none to copy.
    pub fn new(model: &Model) -> Result<Self> {
        let Some(critic) = &model.layout.critic else {
            return Err(ModelError::Config("this model has no critic (critic_depth is 0)".into()));
        };
        let c = &model.cfg;
        Ok(CriticInfer {
            layout: critic.local(),
            params: model.params[critic.range.clone()].to_vec(),
            sa_dim: c.state_dim + c.action_dim,
            goal_dim: c.goal_dim,
            repr_dim: c.repr_dim,
            h: Vec::new(),
            out: Vec::new(),
            scratch: InferScratch::default(),
        })
    }

    pub fn repr_dim(&self) -> usize {
        self.repr_dim
    }

    /// φ(s, a) of `n` rows `[state, action]`: `[n, repr_dim]`.
    pub fn phi(&mut self, sa: &[f32], n: usize) -> Result<&[f32]> {
        check_rows("state-action input", sa, n, self.sa_dim)?;
        let enc = &self.layout.sa;
        encode(enc, &self.params, sa, n, &mut self.h, &mut self.out, &mut self.scratch);
        Ok(&self.out)
    }

    /// ψ(g) of `n` goals: `[n, repr_dim]`.
    pub fn psi(&mut self, goals: &[f32], n: usize) -> Result<&[f32]> {
        check_rows("goal input", goals, n, self.goal_dim)?;
        let enc = &self.layout.g;
        encode(enc, &self.params, goals, n, &mut self.h, &mut self.out, &mut self.scratch);
        Ok(&self.out)
    }
}

/// One encoder on `n` validated rows: the trunk into `h`, then the output Linear into `out`
/// (`[n, repr_dim]`). A free function so the caller can lend the layout and the buffers of the same
/// [`CriticInfer`] at once, without copying the layout.
fn encode(
    enc: &EncoderLayout,
    params: &[f32],
    x: &[f32],
    n: usize,
    h: &mut Vec<f32>,
    out: &mut Vec<f32>,
    scratch: &mut InferScratch,
) {
    h.resize(n * enc.trunk.width, 0.0);
    forward_no_tape(&enc.trunk, params, LinearWeights::Params, x, n, h, scratch, Threads::ONE);
    out.resize(n * enc.out.n_out, 0.0);
    linear_forward(&enc.out, params, h, n, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::CandleModel;
    use crate::ModelConfig;
    use candle_core::{DType, Device, Tensor};

    fn max_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
    }

    #[test]
    fn phi_and_psi_match_the_candle_reference() {
        let model = Model::init(&ModelConfig::point_maze(8).with_width(32), 3).unwrap();
        let mut fast = CriticInfer::new(&model).unwrap();
        let c = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
        let n = 37;
        let sa: Vec<f32> = (0..n * 6).map(|i| ((i * 7919) % 101) as f32 / 25.0 - 2.0).collect();
        let g: Vec<f32> = (0..n * 2).map(|i| ((i * 104_729) % 97) as f32 / 8.0).collect();
        let want_phi = c.phi(&Tensor::from_slice(&sa, (n, 6), &Device::Cpu).unwrap()).unwrap();
        let want_psi = c.psi(&Tensor::from_slice(&g, (n, 2), &Device::Cpu).unwrap()).unwrap();
        let want_phi = want_phi.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let want_psi = want_psi.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let phi = fast.phi(&sa, n).unwrap().to_vec();
        assert_eq!(phi.len(), n * fast.repr_dim());
        assert!(max_diff(&phi, &want_phi) < 1e-5, "φ differs by {}", max_diff(&phi, &want_phi));
        let psi = fast.psi(&g, n).unwrap().to_vec();
        assert!(max_diff(&psi, &want_psi) < 1e-5, "ψ differs by {}", max_diff(&psi, &want_psi));
        // A smaller batch after a larger one reuses the scratch and answers the same row (batch 1
        // takes the matvec kernel, so the last bits may differ).
        let r = fast.repr_dim();
        assert!(max_diff(fast.phi(&sa[..6], 1).unwrap(), &phi[..r]) < 1e-5);
    }

    #[test]
    fn bad_rows_and_actor_only_models_are_refused() {
        let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 0).unwrap();
        let mut fast = CriticInfer::new(&model).unwrap();
        let e = fast.phi(&[0.0; 5], 1).unwrap_err().to_string();
        assert!(e.contains("5 values") && e.contains("1 × 6"), "{e}");
        let e = fast.psi(&[0.0, f32::NAN], 1).unwrap_err().to_string();
        assert!(e.contains("NaN"), "{e}");
        let mut cfg = ModelConfig::point_maze(4).with_width(16);
        cfg.critic_depth = 0;
        let actor_only = Model::init(&cfg, 0).unwrap();
        assert!(CriticInfer::new(&actor_only).unwrap_err().to_string().contains("no critic"));
    }
}
