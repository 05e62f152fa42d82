//! The critic-topology metric at every evaluation (issue 18, maze family): over fixed (state, goal)
//! pairs spread over the layout's free cells, the Spearman rank correlation between the critic's
//! distance ‖φ(s, π(s, g)) − ψ(g)‖ and the shortest path through the maze, beside the same
//! correlation for straight-line distance (what a critic blind to walls would score).

use envs::point_maze::topology::{probes, spearman, Probe};
use envs::point_maze::Layout;
use models::critic_infer::CriticInfer;
use models::infer::ActorInfer;

use crate::error::Result;
use crate::updater::Updater;

/// Pairs per evaluation: every ordered pair of free cells in the U-maze, an even spread of them in
/// the bigger mazes.
pub const MAX_PROBES: usize = 1024;

/// The probes of a layout and their straight-line score, fixed for a run.
pub struct Topology {
    probes: Vec<Probe>,
    pub euclidean: f32,
}

impl Topology {
    pub fn new(layout: &Layout) -> Self {
        let probes = probes(layout, MAX_PROBES);
        let geo: Vec<f64> = probes.iter().map(|p| f64::from(p.geodesic)).collect();
        let euc: Vec<f64> = probes.iter().map(|p| f64::from(p.euclidean)).collect();
        Topology { euclidean: spearman(&euc, &geo) as f32, probes }
    }

    /// The critic's score now: the deterministic actor picks each probe's action, the critic
    /// measures the distance from (state, action) to the goal.
    pub fn critic(&self, trainer: &mut Updater, host_actor: &mut ActorInfer) -> Result<f32> {
        let n = self.probes.len();
        let obs: Vec<f32> = self.probes.iter().flat_map(|p| p.state.iter().chain(&p.goal).copied()).collect();
        let actions: Vec<f32> = {
            let (mean, _) = trainer.actor(host_actor)?.distribution(&obs, n)?;
            mean.iter().map(|m| m.tanh()).collect()
        };
        let a_dim = actions.len() / n.max(1);
        let sa: Vec<f32> = self
            .probes
            .iter()
            .zip(actions.chunks_exact(a_dim))
            .flat_map(|(p, a)| p.state.iter().chain(a).copied())
            .collect();
        let goals: Vec<f32> = self.probes.iter().flat_map(|p| p.goal).collect();
        let mut critic = CriticInfer::new(trainer.model()?)?;
        let dim = critic.repr_dim();
        let phi = critic.phi(&sa, n)?.to_vec();
        let psi = critic.psi(&goals, n)?;
        let dist: Vec<f64> = phi
            .chunks_exact(dim)
            .zip(psi.chunks_exact(dim))
            .map(|(p, s)| p.iter().zip(s).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt())
            .collect();
        let geo: Vec<f64> = self.probes.iter().map(|p| f64::from(p.geodesic)).collect();
        Ok(spearman(&dist, &geo) as f32)
    }
}
