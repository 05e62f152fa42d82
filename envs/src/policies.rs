//! Scripted reference policies: [`RandomPolicy`] (the floor any learner must beat) and
//! [`BfsWaypointPolicy`] (a breadth-first-search waypoint controller for the point mazes, the
//! ceiling that shows every evaluation goal is reachable within an episode).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{EnvError, Result};
use crate::eval::Policy;
use crate::point_maze::Layout;

/// Uniform actions in [−1, 1], from a seeded stream (the same seed gives the same actions).
pub struct RandomPolicy {
    rng: ChaCha8Rng,
    action_dim: usize,
}

impl RandomPolicy {
    pub fn new(action_dim: usize, seed: u64) -> Self {
        RandomPolicy { rng: ChaCha8Rng::seed_from_u64(seed), action_dim }
    }
}

impl Policy for RandomPolicy {
    fn act(&mut self, _obs: &[f32], n: usize, actions: &mut [f32]) -> Result<()> {
        check_actions(actions, n, self.action_dim)?;
        for a in actions.iter_mut() {
            *a = self.rng.random_range(-1.0f32..=1.0);
        }
        Ok(())
    }
}

fn check_actions(actions: &[f32], n: usize, action_dim: usize) -> Result<()> {
    if actions.len() != n * action_dim {
        return Err(EnvError::ActionShape { got: actions.len(), num_envs: n, action_dim });
    }
    Ok(())
}

/// Proportional gain of [`BfsWaypointPolicy`]'s default PD controller.
pub const BFS_KP: f32 = 1.0;
/// Derivative (velocity) gain of [`BfsWaypointPolicy`]'s default PD controller.
pub const BFS_KD: f32 = 0.3;

/// Waypoint controller for the point mazes (observation `[x, y, vx, vy, goal x, goal y]`).
///
/// For each environment: BFS distances from the goal's cell (computed once per goal cell), the
/// target is the centre of the 4-neighbour cell one step closer to the goal (the goal itself once in
/// the goal cell), and the action is `clip(kp·(target − pos) − kd·vel, −1, 1)`. Aiming at cell centres
/// keeps the disk clear of wall corners: it only turns once it is inside the cell before the turn.
pub struct BfsWaypointPolicy {
    layout: Layout,
    kp: f32,
    kd: f32,
    /// BFS distances to each goal cell, indexed by the goal cell's `i * cols + j`.
    cache: Vec<Option<Vec<Option<u32>>>>,
}

impl BfsWaypointPolicy {
    pub fn new(layout: Layout) -> Self {
        Self::with_gains(layout, BFS_KP, BFS_KD)
    }

    pub fn with_gains(layout: Layout, kp: f32, kd: f32) -> Self {
        let cache = vec![None; layout.rows * layout.cols];
        BfsWaypointPolicy { layout, kp, kd, cache }
    }

    /// The policy for a registered maze name (`point_big_maze_eval`, ...), built-in layouts only.
    pub fn for_env(name: &str) -> Result<Self> {
        let layout = name.strip_prefix("point_").and_then(Layout::builtin).ok_or_else(|| {
            EnvError::Invalid(format!("{name:?} is not a built-in point maze (point_u_maze, point_big_maze, ...)"))
        })?;
        Ok(Self::new(layout))
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Where an agent at `pos` heading for `goal` should aim next; `None` when `pos` cannot reach the
    /// goal cell (then the controller brakes).
    pub fn waypoint(&mut self, pos: [f32; 2], goal: [f32; 2]) -> Result<Option<[f32; 2]>> {
        let l = &self.layout;
        let (gi, gj) = Layout::cell_of(goal);
        if l.is_wall(gi, gj) {
            return Err(EnvError::Invalid(format!(
                "goal ({}, {}) lies in cell ({gi}, {gj}), a wall or outside the {} maze",
                goal[0], goal[1], l.name
            )));
        }
        let cols = l.cols;
        let dist = self.cache[gi as usize * cols + gj as usize]
            .get_or_insert_with(|| l.bfs_distances((gi as usize, gj as usize)));
        let (ci, cj) = Layout::cell_of(pos);
        let at = |i: i64, j: i64| if l.is_wall(i, j) { None } else { dist[i as usize * cols + j as usize] };
        let Some(here) = at(ci, cj) else { return Ok(None) };
        if here == 0 {
            return Ok(Some(goal));
        }
        let next = [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)]
            .into_iter()
            .filter_map(|(di, dj)| at(ci + di, cj + dj).map(|d| (d, ci + di, cj + dj)))
            .filter(|&(d, _, _)| d < here)
            .min_by_key(|&(d, _, _)| d);
        Ok(next.map(|(_, i, j)| Layout::center(i as usize, j as usize)))
    }
}

impl Policy for BfsWaypointPolicy {
    fn act(&mut self, obs: &[f32], n: usize, actions: &mut [f32]) -> Result<()> {
        const OBS: usize = 6;
        if obs.len() != n * OBS {
            return Err(EnvError::Invalid(format!(
                "the BFS waypoint policy takes point-maze observations [x, y, vx, vy, gx, gy]: got {} values \
                 for {n} environments",
                obs.len()
            )));
        }
        check_actions(actions, n, 2)?;
        for (o, a) in obs.chunks_exact(OBS).zip(actions.chunks_exact_mut(2)) {
            let (pos, vel, goal) = ([o[0], o[1]], [o[2], o[3]], [o[4], o[5]]);
            let target = self.waypoint(pos, goal)?.unwrap_or(pos);
            for k in 0..2 {
                a[k] = (self.kp * (target[k] - pos[k]) - self.kd * vel[k]).clamp(-1.0, 1.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waypoints_follow_the_shortest_path() {
        let mut p = BfsWaypointPolicy::for_env("point_u_maze_eval").unwrap();
        let goal = Layout::center(3, 1);
        // Start (1,1) → (1,2) → (1,3) → (2,3) → (3,3) → (3,2) → (3,1).
        assert_eq!(p.waypoint(Layout::center(1, 1), goal).unwrap(), Some(Layout::center(1, 2)));
        assert_eq!(p.waypoint([4.0, 12.1], goal).unwrap(), Some(Layout::center(2, 3)));
        assert_eq!(p.waypoint([12.0, 8.3], goal).unwrap(), Some(Layout::center(3, 1)));
        assert_eq!(p.waypoint([12.3, 4.2], goal).unwrap(), Some(goal));
        assert!(p.waypoint([0.0, 0.0], [0.0, 0.0]).is_err());
        assert!(BfsWaypointPolicy::for_env("reacher").is_err());
        let mut a = [0.0; 2];
        assert!(p.act(&[0.0; 5], 1, &mut a).is_err());
    }

    #[test]
    fn random_policy_is_seeded_and_bounded() {
        let (mut a, mut b) = (vec![0.0; 20], vec![0.0; 20]);
        RandomPolicy::new(2, 7).act(&[], 10, &mut a).unwrap();
        RandomPolicy::new(2, 7).act(&[], 10, &mut b).unwrap();
        assert_eq!(a, b);
        assert!(a.iter().all(|x| (-1.0..=1.0).contains(x)) && a.iter().any(|x| *x != a[0]));
    }
}
