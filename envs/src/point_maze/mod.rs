//! `point_maze`: a point mass in a maze of square wall cells (a port of JaxGCRL's `simple_maze`,
//! DESIGN.md section 4).
//!
//! The point (radius 0.25) is pushed by force 5·action against damping −v with inertia
//! 0.327 + 1 (mass + armature); a control step is 10 substeps of 0.005 s (semi-implicit Euler).
//! Contact with walls is inelastic: after each substep the disk is pushed out of every overlapping
//! wall box and loses the velocity component into it. The fastest the point can go is 5 units/s, or
//! 0.025 per substep, a tenth of its radius, so it can never tunnel through a wall.
//!
//! State (x, y, vx, vy); goal (x, y); success within 0.5 of the goal.

pub mod layout;
pub mod topology;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

pub use layout::{Cell, Layout, CELL};

use crate::vec_env::{state_words_snapshot, Dynamics, StateWords};
use crate::EnvSpec;

pub const RADIUS: f32 = 0.25;
pub const FORCE: f32 = 5.0;
pub const INERTIA: f32 = 0.327 + 1.0;
pub const SUBSTEPS: usize = 10;
pub const DT: f32 = 0.005;
pub const SUCCESS: f32 = 0.5;

/// One maze episode's state.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PointState {
    pub pos: [f32; 2],
    pub vel: [f32; 2],
    pub goal: [f32; 2],
}

impl StateWords for PointState {
    const WORDS: usize = 6;
    fn write_words(&self, out: &mut Vec<u64>) {
        out.extend(self.pos.iter().chain(&self.vel).chain(&self.goal).map(|x| u64::from(x.to_bits())));
    }
    fn read_words(w: &[u64]) -> Self {
        let f = |i: usize| f32::from_bits(w[i] as u32);
        PointState { pos: [f(0), f(1)], vel: [f(2), f(3)], goal: [f(4), f(5)] }
    }
}

/// The dynamics of one maze: its layout, goal cells and where episodes start.
#[derive(Clone, Debug)]
pub struct PointMaze {
    spec: EnvSpec,
    layout: Layout,
    goals: Vec<(usize, usize)>,
    starts: Vec<(usize, usize)>,
}

impl PointMaze {
    /// `random_starts`: start each episode in a uniformly chosen free cell instead of `R` (a lever
    /// for exploration in training; evaluation always starts at `R`).
    pub fn new(name: &str, layout: Layout, episode_length: usize, random_starts: bool) -> Self {
        let spec = EnvSpec {
            name: name.to_string(),
            state_dim: 4,
            goal_dim: 2,
            goal_indices: vec![0, 1],
            action_dim: 2,
            episode_length,
            success_threshold: SUCCESS,
        };
        let starts = if random_starts { layout.free_cells() } else { vec![layout.start()] };
        PointMaze { spec, goals: layout.goal_cells(), starts, layout }
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Pushes the disk at `pos` out of every wall cell it overlaps, removing the velocity into
    /// each wall it touches.
    pub fn collide(&self, pos: &mut [f32; 2], vel: &mut [f32; 2]) {
        let (ci, cj) = Layout::cell_of(*pos);
        // Almost always the disk lies inside its own free cell and touches nothing.
        let slack = CELL / 2.0 - RADIUS;
        let (ox, oy) = (pos[0] - CELL * ci as f32, pos[1] - CELL * cj as f32);
        if ox.abs() <= slack && oy.abs() <= slack && !self.layout.is_wall(ci, cj) {
            return;
        }
        for di in -1..=1 {
            for dj in -1..=1 {
                let (i, j) = (ci + di, cj + dj);
                if !self.layout.is_wall(i, j) {
                    continue;
                }
                let (cx, cy) = (CELL * i as f32, CELL * j as f32);
                let h = CELL / 2.0;
                let q = [pos[0].clamp(cx - h, cx + h), pos[1].clamp(cy - h, cy + h)];
                let d = [pos[0] - q[0], pos[1] - q[1]];
                let dist2 = d[0] * d[0] + d[1] * d[1];
                if dist2 >= RADIUS * RADIUS {
                    continue;
                }
                let dist = dist2.sqrt();
                let n = if dist > 1e-6 {
                    [d[0] / dist, d[1] / dist]
                } else {
                    // The centre is inside the box (only possible from a bad initial state): leave
                    // by the nearest face.
                    let pen = [h - (pos[0] - cx).abs(), h - (pos[1] - cy).abs()];
                    if pen[0] < pen[1] {
                        [(pos[0] - cx).signum(), 0.0]
                    } else {
                        [0.0, (pos[1] - cy).signum()]
                    }
                };
                let q = if dist > 1e-6 { q } else { [cx + n[0] * h, cy + n[1] * h] };
                pos[0] = q[0] + n[0] * RADIUS;
                pos[1] = q[1] + n[1] * RADIUS;
                let vn = vel[0] * n[0] + vel[1] * n[1];
                if vn < 0.0 {
                    vel[0] -= vn * n[0];
                    vel[1] -= vn * n[1];
                }
            }
        }
    }
}

impl Dynamics for PointMaze {
    type State = PointState;

    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&self, rng: &mut ChaCha8Rng) -> PointState {
        let (si, sj) = self.starts[rng.random_range(0..self.starts.len())];
        let c = Layout::center(si, sj);
        let pos = [c[0] + rng.random_range(-0.1..0.1), c[1] + rng.random_range(-0.1..0.1)];
        let vel = [0.1 * rng.sample::<f32, _>(StandardNormal), 0.1 * rng.sample::<f32, _>(StandardNormal)];
        let (gi, gj) = self.goals[rng.random_range(0..self.goals.len())];
        PointState { pos, vel, goal: Layout::center(gi, gj) }
    }

    fn step(&self, s: &mut PointState, action: &[f32], _rng: &mut ChaCha8Rng) {
        for _ in 0..SUBSTEPS {
            for ((v, p), a) in s.vel.iter_mut().zip(s.pos.iter_mut()).zip(action) {
                *v += DT * (FORCE * a - *v) / INERTIA;
                *p += DT * *v;
            }
            self.collide(&mut s.pos, &mut s.vel);
        }
    }

    fn observe(&self, s: &PointState, out: &mut [f32]) {
        out[..6].copy_from_slice(&[s.pos[0], s.pos[1], s.vel[0], s.vel[1], s.goal[0], s.goal[1]]);
    }

    state_words_snapshot!();
}

#[cfg(test)]
mod tests;
