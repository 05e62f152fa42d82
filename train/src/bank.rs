//! The waypoint bank written at the end of a run: `bank_size` replay states chosen by farthest-point
//! sampling in goal space, so the planner's graph covers every region the agent has visited rather
//! than the few it visited most (DESIGN.md sections 5 and 8).

use std::path::Path;

use crate::error::{Context, Result};
use models::bank::{farthest_point_sampling, BankInfo, WaypointBank};
use rand::Rng;

use crate::replay::Replay;

/// Chooses up to `m` states of `replay` and writes them to `path`; returns the bank.
pub fn write_bank(
    replay: &Replay,
    env: &str,
    state_dim: usize,
    goal_indices: &[usize],
    m: usize,
    rng: &mut impl Rng,
    path: &Path,
) -> Result<WaypointBank> {
    let states = replay.stored_states();
    let n = states.len() / state_dim;
    let goals: Vec<f32> =
        states.chunks_exact(state_dim).flat_map(|row| goal_indices.iter().map(move |&k| row[k])).collect();
    let first = if n == 0 { 0 } else { rng.random_range(0..n) };
    let chosen = farthest_point_sampling(&goals, goal_indices.len(), m, first);
    let info = BankInfo {
        env: env.to_string(),
        goal_indices: goal_indices.to_vec(),
        selection: format!("farthest-point sampling in goal space from {n} replay states"),
    };
    let bank = WaypointBank::from_rows(info, state_dim, states, &chosen);
    bank.save(path).with_context(|| format!("writing the waypoint bank {}", path.display()))?;
    Ok(bank)
}
