//! Closed-loop evaluation (DESIGN.md section 3): the [`Policy`] interface every stage adapts its
//! networks to, and [`evaluate`], which runs whole episodes on a batch of environments and reports
//! the success rate and the paper's `time_at_goal`, each with a 95% interval, per-episode records and,
//! on request, the first few episodes' paths for plotting.
//!
//! All `num_envs` environments run in lockstep from `env.reset(seed)`: round r is steps
//! `r·L .. (r+1)·L` (L = episode length), and episode (r, i) is environment i's r-th episode. Enough
//! rounds run to finish the requested number of episodes; the surplus of the last round is dropped,
//! always the same way (episodes are taken in (round, environment index) order).

use serde::{Deserialize, Serialize};

use crate::error::{EnvError, Result};
use crate::GoalEnv;

/// A batched controller: `obs` is `[n, obs_dim]`, `actions` (to fill) is `[n, action_dim]`.
pub trait Policy {
    fn act(&mut self, obs: &[f32], n: usize, actions: &mut [f32]) -> Result<()>;
}

impl<F> Policy for F
where
    F: FnMut(&[f32], usize, &mut [f32]) -> Result<()>,
{
    fn act(&mut self, obs: &[f32], n: usize, actions: &mut [f32]) -> Result<()> {
        self(obs, n, actions)
    }
}

/// A mean with a 95% interval.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
}

const Z95: f64 = 1.96;

/// `mean [low, high]`, three decimals unless the format asks for another precision (`{:.2}`).
impl std::fmt::Display for Stat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p = f.precision().unwrap_or(3);
        write!(f, "{:.p$} [{:.p$}, {:.p$}]", self.mean, self.ci95_low, self.ci95_high)
    }
}

impl Stat {
    /// Wilson score interval for `successes` out of `n` trials (sensible at 0% and 100%).
    pub fn wilson(successes: usize, n: usize) -> Stat {
        if n == 0 {
            return Stat { mean: 0.0, ci95_low: 0.0, ci95_high: 1.0 };
        }
        let (k, n) = (successes as f64, n as f64);
        let p = k / n;
        let z2 = Z95 * Z95;
        let denom = 1.0 + z2 / n;
        let centre = (p + z2 / (2.0 * n)) / denom;
        let half = Z95 * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt() / denom;
        // At 0% and 100% the bounds are exactly 0 and 1 (rounding would leave 1 − ε).
        let low = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
        let high = if k == n { 1.0 } else { (centre + half).min(1.0) };
        Stat { mean: p, ci95_low: low, ci95_high: high }
    }

    /// Mean ± 1.96·s/√n (s the sample standard deviation), clipped to [0, 1]: for fractions such as
    /// `time_at_goal`. With fewer than two values the spread is unknown and the interval is [0, 1].
    pub fn mean_fraction(values: &[f64]) -> Stat {
        let n = values.len();
        if n == 0 {
            return Stat { mean: 0.0, ci95_low: 0.0, ci95_high: 1.0 };
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Stat { mean, ci95_low: 0.0, ci95_high: 1.0 };
        }
        let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / (n - 1) as f64;
        let half = Z95 * (var / n as f64).sqrt();
        Stat { mean, ci95_low: (mean - half).clamp(0.0, 1.0), ci95_high: (mean + half).clamp(0.0, 1.0) }
    }
}

/// One evaluated episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpisodeRecord {
    /// Lockstep round (0-based) and environment index: the episode's place in the evaluation.
    pub round: usize,
    pub env_index: usize,
    pub traj_id: u64,
    /// The commanded goal, read from the episode's first observation.
    pub goal: Vec<f32>,
    /// At least one step ended within the success threshold.
    pub success: bool,
    /// 1-based number of the first step that ended in success (`None` if none did).
    pub first_success_step: Option<u32>,
    pub steps_at_goal: u32,
    /// `steps_at_goal / episode_length`: steps after a termination count as away from the goal, as
    /// in the paper.
    pub time_at_goal: f64,
    /// 1-based number of the step that ended the episode early (a fall), if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<u32>,
}

/// The path of one episode in goal space, for plots.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    pub goal: Vec<f32>,
    /// `state[goal_indices]` at each of the episode's `episode_length` decisions: the start, then the
    /// state after each step but the last (the batch resets itself when the last step ends, so that
    /// final state is not observable through [`GoalEnv`]). An episode that terminated early has
    /// its decisions up to the terminating step.
    pub positions: Vec<Vec<f32>>,
    pub success: bool,
}

/// What [`evaluate_with`] runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalOptions {
    pub episodes: usize,
    pub seed: u64,
    /// Record the paths of the first this-many episodes (in (round, environment) order).
    pub trajectories: usize,
}

/// The outcome of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub env: String,
    pub episode_length: usize,
    pub seed: u64,
    pub episodes: usize,
    pub success_rate: Stat,
    pub time_at_goal: Stat,
    pub records: Vec<EpisodeRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trajectories: Vec<Trajectory>,
}

/// Runs `episodes` whole episodes of `policy` on `env` from `env.reset(seed)`.
pub fn evaluate(env: &mut dyn GoalEnv, policy: &mut dyn Policy, episodes: usize, seed: u64) -> Result<EvalReport> {
    evaluate_with(env, policy, &EvalOptions { episodes, seed, trajectories: 0 })
}

/// The seed that restarts the batch before `round` when an earlier round ended some episodes early
/// (the batch left lockstep); rounds that ran whole keep the auto-reset episodes.
fn round_seed(seed: u64, round: usize) -> u64 {
    seed ^ (round as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

/// [`evaluate`] with options (trajectory recording).
pub fn evaluate_with(env: &mut dyn GoalEnv, policy: &mut dyn Policy, opts: &EvalOptions) -> Result<EvalReport> {
    if opts.episodes == 0 {
        return Err(EnvError::Invalid("evaluation needs at least one episode".into()));
    }
    let spec = env.spec().clone();
    let (n, len, obs_dim, a_dim) = (env.num_envs(), spec.episode_length, spec.obs_dim(), spec.action_dim);
    let goal_range = spec.state_dim..spec.state_dim + spec.goal_dim;
    let position = |obs: &[f32]| spec.goal_indices.iter().map(|&k| obs[k]).collect::<Vec<f32>>();
    env.reset(opts.seed);
    let rounds = opts.episodes.div_ceil(n);
    let mut actions = vec![0f32; n * a_dim];
    let mut records = Vec::with_capacity(opts.episodes);
    let mut trajectories = Vec::new();
    let mut in_lockstep = true;
    for round in 0..rounds {
        if !in_lockstep {
            env.reset(round_seed(opts.seed, round));
            in_lockstep = true;
        }
        // Environments whose episode this round is counted, and the episodes whose path is kept.
        let counted = (opts.episodes - round * n).min(n);
        let traced = opts.trajectories.saturating_sub(round * n).min(counted);
        let obs = env.observations();
        let mut round_records: Vec<EpisodeRecord> = (0..counted)
            .map(|i| EpisodeRecord {
                round,
                env_index: i,
                traj_id: 0,
                goal: obs[i * obs_dim..(i + 1) * obs_dim][goal_range.clone()].to_vec(),
                success: false,
                first_success_step: None,
                steps_at_goal: 0,
                time_at_goal: 0.0,
                terminated_at: None,
            })
            .collect();
        // Environments whose episode this round terminated: they have restarted out of step.
        let mut ended = vec![false; n];
        let mut paths: Vec<Vec<Vec<f32>>> = vec![Vec::with_capacity(len); traced];
        for t in 0..len {
            let obs = env.observations();
            if obs.len() != n * obs_dim {
                return Err(EnvError::Invalid(format!(
                    "{}: observation buffer has {} values, expected {n} × {obs_dim}",
                    spec.name,
                    obs.len()
                )));
            }
            for (i, path) in paths.iter_mut().enumerate().filter(|(i, _)| !ended[*i]) {
                path.push(position(&obs[i * obs_dim..(i + 1) * obs_dim]));
            }
            policy.act(obs, n, &mut actions)?;
            if let Some(k) = actions.iter().position(|a| a.is_nan()) {
                return Err(EnvError::Invalid(format!(
                    "{}: the policy returned NaN for environment {} at step {t} of round {round}",
                    spec.name,
                    k / a_dim.max(1)
                )));
            }
            let infos = env.step(&actions)?;
            for (i, info) in infos.iter().enumerate() {
                if ended[i] {
                    continue;
                }
                let last = t + 1 == len;
                if info.t as usize != t || info.truncated != last || (info.terminated && last) {
                    return Err(EnvError::Invalid(format!(
                        "{}: environment {i} left lockstep at step {t} (its step index is {}, truncated {}); \
                         evaluation needs every environment to start together and run whole episodes",
                        spec.name, info.t, info.truncated
                    )));
                }
                if info.terminated {
                    ended[i] = true;
                    in_lockstep = false;
                }
                let Some(rec) = round_records.get_mut(i) else { continue };
                rec.traj_id = info.traj_id;
                if info.success {
                    rec.steps_at_goal += 1;
                    rec.success = true;
                    rec.first_success_step.get_or_insert(t as u32 + 1);
                }
                if info.terminated {
                    rec.terminated_at = Some(t as u32 + 1);
                }
            }
        }
        for rec in &mut round_records {
            rec.time_at_goal = f64::from(rec.steps_at_goal) / len as f64;
        }
        for (i, positions) in paths.into_iter().enumerate() {
            let rec = &round_records[i];
            trajectories.push(Trajectory { goal: rec.goal.clone(), positions, success: rec.success });
        }
        records.extend(round_records);
    }
    let successes = records.iter().filter(|r| r.success).count();
    let tag: Vec<f64> = records.iter().map(|r| r.time_at_goal).collect();
    Ok(EvalReport {
        env: spec.name.clone(),
        episode_length: len,
        seed: opts.seed,
        episodes: records.len(),
        success_rate: Stat::wilson(successes, records.len()),
        time_at_goal: Stat::mean_fraction(&tag),
        records,
        trajectories,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_known_values() {
        // 8/10: Wilson 95% interval (0.4902, 0.9433).
        let s = Stat::wilson(8, 10);
        assert!((s.mean - 0.8).abs() < 1e-12);
        assert!((s.ci95_low - 0.4902).abs() < 1e-3 && (s.ci95_high - 0.9433).abs() < 1e-3, "{s:?}");
        let all = Stat::wilson(100, 100);
        assert_eq!(all.ci95_high, 1.0);
        assert!((all.ci95_low - 0.9630).abs() < 1e-3, "{all:?}");
        assert_eq!(Stat::wilson(0, 50).ci95_low, 0.0);
    }

    #[test]
    fn stat_displays_mean_and_interval() {
        let s = Stat { mean: 0.8, ci95_low: 0.49024, ci95_high: 0.94331 };
        assert_eq!(s.to_string(), "0.800 [0.490, 0.943]");
        assert_eq!(format!("{s:.1}"), "0.8 [0.5, 0.9]");
    }

    #[test]
    fn mean_fraction_interval() {
        let s = Stat::mean_fraction(&[0.0, 0.5, 1.0]);
        // s = 0.5, half = 1.96 · 0.5 / √3 = 0.5658.
        assert!((s.mean - 0.5).abs() < 1e-12);
        assert!((s.ci95_low - 0.0).abs() < 1e-12 && (s.ci95_high - 1.0).abs() < 1e-12);
        let s = Stat::mean_fraction(&[0.2, 0.4]);
        let half = 1.96 * (0.02f64).sqrt() / 2f64.sqrt();
        assert!((s.ci95_low - (0.3 - half)).abs() < 1e-12 && (s.ci95_high - (0.3 + half)).abs() < 1e-12);
    }
}
