//! The planner's network queries: the CRL distance d(x, g) = ‖φ(x, π(x, g)) − ψ(g)‖ (DESIGN.md
//! section 8) for many (state, goal) pairs at once.
//!
//! The action π(x, g) comes from the fast allocation-free actor ([`ActorInfer`]), φ and ψ from the
//! matching critic path ([`CriticInfer`]); both run on the planner's own thread, so a planning pass
//! leaves the other core to the controller. Large batches are cut into chunks so memory stays
//! bounded whatever the bank size.

use crate::failure::{bail, Result};
use models::critic_infer::CriticInfer;
use models::infer::ActorInfer;
use models::numerics::DIST_EPS;
use models::{Model, ModelConfig};

/// Rows per network call.
const CHUNK: usize = 4096;

/// A planner model ready to answer distance queries; owned by the planner thread.
pub struct DistanceNet {
    cfg: ModelConfig,
    actor: ActorInfer,
    critic: CriticInfer,
}

impl DistanceNet {
    pub fn new(model: &Model) -> Result<Self> {
        if model.cfg.critic_depth == 0 {
            bail!("the planner needs a critic (critic_depth is 0)");
        }
        Ok(DistanceNet { cfg: model.cfg.clone(), actor: ActorInfer::new(model), critic: CriticInfer::new(model)? })
    }

    pub fn cfg(&self) -> &ModelConfig {
        &self.cfg
    }

    pub fn repr_dim(&self) -> usize {
        self.cfg.repr_dim
    }

    /// ψ(g) of `n` goals: `[n, repr_dim]`.
    pub fn psi(&mut self, goals: &[f32], n: usize) -> Result<Vec<f32>> {
        let gd = self.cfg.goal_dim;
        let mut out = Vec::with_capacity(n * self.cfg.repr_dim);
        for start in (0..n).step_by(CHUNK) {
            let k = CHUNK.min(n - start);
            out.extend_from_slice(self.critic.psi(&goals[start * gd..(start + k) * gd], k)?);
        }
        Ok(out)
    }

    /// φ(s, π(s, g)) of `n` (state, goal) pairs given as `[state, goal]` rows: `[n, repr_dim]`.
    pub fn phi_pi(&mut self, obs: &[f32], n: usize) -> Result<Vec<f32>> {
        let (sd, gd, ad) = (self.cfg.state_dim, self.cfg.goal_dim, self.cfg.action_dim);
        let od = sd + gd;
        let mut out = Vec::with_capacity(n * self.cfg.repr_dim);
        let mut sa = Vec::with_capacity(CHUNK.min(n) * (sd + ad));
        for start in (0..n).step_by(CHUNK) {
            let k = CHUNK.min(n - start);
            let rows = &obs[start * od..(start + k) * od];
            let actions = self.actor.act_obs(rows, k)?;
            sa.clear();
            for i in 0..k {
                sa.extend_from_slice(&rows[i * od..i * od + sd]);
                sa.extend_from_slice(&actions[i * ad..(i + 1) * ad]);
            }
            out.extend_from_slice(self.critic.phi(&sa, k)?);
        }
        Ok(out)
    }

    /// The deterministic action of the planner's own actor for `[state, goal]` rows.
    pub fn act_obs(&mut self, obs: &[f32], n: usize) -> Result<Vec<f32>> {
        Ok(self.actor.act_obs(obs, n)?.to_vec())
    }
}

/// ‖a_k − b_k‖ row by row (with the critic's 1e-6 inside the root), for `[n, dim]` matrices.
pub fn row_distances(a: &[f32], b: &[f32], dim: usize) -> Vec<f32> {
    a.chunks_exact(dim)
        .zip(b.chunks_exact(dim))
        .map(|(x, y)| (x.iter().zip(y).map(|(p, q)| (p - q) * (p - q)).sum::<f32>() + DIST_EPS as f32).sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device, Tensor};
    use models::reference::{q_values, CandleModel};

    #[test]
    fn distances_are_minus_the_critic_q_of_the_actor_action() {
        let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 5).unwrap();
        let mut net = DistanceNet::new(&model).unwrap();
        let obs = [0.5f32, 1.0, 0.0, 0.1, 4.0, 8.0, -1.0, 2.0, 0.3, 0.0, 0.0, 0.0];
        let goals = [4.0f32, 8.0, 0.0, 0.0];
        let phi = net.phi_pi(&obs, 2).unwrap();
        let psi = net.psi(&goals, 2).unwrap();
        let d = row_distances(&phi, &psi, net.repr_dim());

        // The same quantity through the reference networks alone.
        let c = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
        let (mean, _) = c.actor(&Tensor::from_slice(&obs, (2, 6), &Device::Cpu).unwrap()).unwrap();
        let states = Tensor::from_slice(&obs, (2, 6), &Device::Cpu).unwrap().narrow(1, 0, 4).unwrap();
        let sa = Tensor::cat(&[&states, &mean.tanh().unwrap()], 1).unwrap();
        let g = Tensor::from_slice(&goals, (2, 2), &Device::Cpu).unwrap();
        let q = q_values(&c.phi(&sa).unwrap(), &c.psi(&g).unwrap()).unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in d.iter().zip(&q) {
            assert!((a + b).abs() < 1e-4, "{a} vs {}", -b);
        }
    }
}
