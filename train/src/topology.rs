//! The critic-topology metric at every evaluation (issue 18, maze family): over fixed (state, goal)
//! pairs spread over the layout's free cells, the Spearman rank correlation between the critic's
//! distance ‖φ(s, π(s, g)) − ψ(g)‖ and the shortest path through the maze, beside the same
//! correlation for straight-line distance (what a critic blind to walls would score), and the
//! partial correlation given straight-line distance: what the critic knows of the maze beyond it.

use envs::point_maze::topology::{partial_spearman, probes, spearman, Probe};
use envs::point_maze::Layout;
use models::critic_infer::CriticInfer;
use models::infer::ActorInfer;
use models::Model;

use crate::collect::ActorSource;
use crate::error::Result;
use crate::updater::Updater;

/// Pairs per evaluation: every ordered pair of free cells in the U-maze, an even spread of them in
/// the bigger mazes.
pub const MAX_PROBES: usize = 1024;

/// The probes of a layout, laid out as the networks read them, and the straight-line score: all
/// fixed for a run, so every evaluation only runs the networks.
pub struct Topology {
    probes: usize,
    /// `[probes, state + goal]`, the actor's input.
    obs: Vec<f32>,
    /// `[probes, state]`.
    states: Vec<[f32; 4]>,
    /// `[probes, goal]`, ψ's input.
    goals: Vec<f32>,
    geodesic: Vec<f64>,
    straight: Vec<f64>,
    pub euclidean: f32,
}

/// A critic's two scores on the probes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TopologyScore {
    /// Spearman's ρ of the critic's distance with the shortest path.
    pub topology: f32,
    /// The same, partial given straight-line distance: about 0 for a critic that knows only the
    /// straight line, 1 for one that ranks by path length.
    pub partial: f32,
}

impl Topology {
    /// The probes for a run on `env` over `layout`, or `None` where the metric does not apply: the
    /// probes are point-mass states, so only the point mazes get it.
    pub fn for_env(env: &str, layout: Option<&Layout>) -> Option<Self> {
        layout.filter(|_| env.starts_with("point_")).map(Topology::new)
    }

    pub fn new(layout: &Layout) -> Self {
        let probes: Vec<Probe> = probes(layout, MAX_PROBES);
        let geodesic: Vec<f64> = probes.iter().map(|p| f64::from(p.geodesic)).collect();
        let euc: Vec<f64> = probes.iter().map(|p| f64::from(p.euclidean)).collect();
        Topology {
            probes: probes.len(),
            obs: probes.iter().flat_map(|p| p.state.iter().chain(&p.goal).copied()).collect(),
            goals: probes.iter().flat_map(|p| p.goal).collect(),
            states: probes.iter().map(|p| p.state).collect(),
            euclidean: spearman(&euc, &geodesic) as f32,
            geodesic,
            straight: euc,
        }
    }

    /// The critic's scores now: the deterministic actor picks each probe's action, the critic
    /// measures the distance from (state, action) to the goal.
    pub fn critic(&self, trainer: &mut Updater, host_actor: &mut ActorInfer) -> Result<TopologyScore> {
        let actions = self.actions(trainer.actor(host_actor)?)?;
        self.score(&actions, trainer.model()?)
    }

    /// The deterministic action tanh(mean) at each probe, `[probes, action]`.
    pub fn actions(&self, actor: &mut dyn ActorSource) -> Result<Vec<f32>> {
        let (mean, _) = actor.distribution(&self.obs, self.probes)?;
        Ok(mean.iter().map(|m| m.tanh()).collect())
    }

    /// Scores `model`'s critic at the probes, given the actions [`Topology::actions`] chose.
    pub fn score(&self, actions: &[f32], model: &Model) -> Result<TopologyScore> {
        let n = self.probes;
        let a_dim = actions.len() / n.max(1);
        let sa: Vec<f32> =
            self.states.iter().zip(actions.chunks_exact(a_dim)).flat_map(|(s, a)| s.iter().chain(a).copied()).collect();
        let mut critic = CriticInfer::new(model)?;
        let dim = critic.repr_dim();
        let phi = critic.phi(&sa, n)?.to_vec();
        let psi = critic.psi(&self.goals, n)?;
        let dist: Vec<f64> = phi
            .chunks_exact(dim)
            .zip(psi.chunks_exact(dim))
            .map(|(p, s)| p.iter().zip(s).map(|(a, b)| f64::from(a - b).powi(2)).sum::<f64>().sqrt())
            .collect();
        Ok(TopologyScore {
            topology: spearman(&dist, &self.geodesic) as f32,
            partial: partial_spearman(&dist, &self.geodesic, &self.straight) as f32,
        })
    }
}
