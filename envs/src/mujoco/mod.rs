//! Rigid-body robots simulated by MuJoCo 3.17.0 (through `mujoco-rs` 7.0.0; the `mujoco` feature,
//! installed by `scripts/mujoco.sh`): the paper's ant and humanoid, their mazes, and a user's robot
//! from an MJCF file plus a task file.
//!
//! Each environment of a batch owns one `mjData` over a model shared by the batch, so environments
//! step in parallel and a seed gives the same trajectories whatever the thread count. A control step
//! writes the action (clipped to [−1, 1], mapped linearly onto each actuator's control range) and
//! advances `frame_skip` physics steps.
//!
//! The physics is MuJoCo's, not the brax "spring" pipeline the reference trains on: success rates
//! and times at goal are ours and are not comparable with the paper's as if equal.

pub mod robots;
pub mod task_file;

use std::sync::Arc;

use mujoco_rs::mujoco_c::mjtState;
use mujoco_rs::prelude::{MjData, MjModel};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::error::{EnvError, Result};
use crate::vec_env::Dynamics;
use crate::EnvSpec;

pub use robots::{builtin, MODEL_DIR_VAR};

/// The state words that restore an `mjData` exactly (MuJoCo's integration state: time, qpos,
/// qvel, act, warm start, controls, applied forces, ...).
const STATE_SIG: u32 = mjtState::mjSTATE_INTEGRATION as u32;

type Model = Arc<MjModel>;
type Data = MjData<Model>;

/// One number the task reads from the simulation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coord {
    /// `qpos[i]`.
    Qpos(usize),
    /// Axis `axis` (0 = x, 1 = y, 2 = z) of a body's world position.
    Body { id: usize, axis: usize },
    /// The same for a site.
    Site { id: usize, axis: usize },
}

/// A block of the observed state, in the order the state lists them.
#[derive(Clone, Debug, PartialEq)]
pub enum ObsPart {
    /// These `qpos` entries.
    Qpos(Vec<usize>),
    /// These `qvel` entries.
    Qvel(Vec<usize>),
    /// The 10 inertia numbers of every body but the world (`cinert`).
    BodyInertia,
    /// The 6 velocity numbers of every body but the world (`cvel`).
    BodyVelocity,
    /// The actuator forces in joint space (`qfrc_actuator`).
    ActuatorForce,
    /// Positions read from the simulation (a body's xyz when the goal is a body).
    Coords(Vec<Coord>),
}

/// Where commanded goals come from.
#[derive(Clone, Debug, PartialEq)]
pub enum GoalSampler {
    /// A point at a uniform angle around `center`, at a radius uniform in [`r_min`, `r_max`] (a
    /// circle when they are equal), with coordinates after the first two fixed to `rest`.
    Ring { center: [f32; 2], r_min: f32, r_max: f32, rest: Vec<f32> },
    /// Uniform in a box.
    Box { lo: Vec<f32>, hi: Vec<f32> },
    /// One of these points, uniformly.
    Points(Vec<Vec<f32>>),
}

impl GoalSampler {
    fn sample(&self, rng: &mut ChaCha8Rng) -> Vec<f32> {
        match self {
            GoalSampler::Ring { center, r_min, r_max, rest } => {
                let r = if r_max > r_min { rng.random_range(*r_min..*r_max) } else { *r_min };
                let angle = rng.random_range(0.0..std::f32::consts::TAU);
                let mut g = vec![center[0] + r * angle.cos(), center[1] + r * angle.sin()];
                g.extend(rest);
                g
            }
            GoalSampler::Box { lo, hi } => {
                lo.iter().zip(hi).map(|(&l, &h)| if h > l { rng.random_range(l..h) } else { l }).collect()
            }
            GoalSampler::Points(points) => points[rng.random_range(0..points.len())].clone(),
        }
    }
}

/// The episode ends when `coord` leaves [`min`, `max`] (a legged robot's torso height).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Termination {
    pub coord: Coord,
    pub min: f64,
    pub max: f64,
}

/// Everything that defines a MuJoCo goal-reaching task, resolved against its model.
#[derive(Clone, Debug)]
pub struct Task {
    pub spec: EnvSpec,
    pub model: Model,
    /// Physics steps per control step.
    pub frame_skip: usize,
    pub obs: Vec<ObsPart>,
    pub goals: GoalSampler,
    /// Episodes start from the model's `qpos0` moved by one of these offsets (added to
    /// `qpos[offset_indices]`; a maze's start cells), chosen uniformly; none = `qpos0` itself.
    pub starts: Vec<Vec<f64>>,
    pub offset_indices: Vec<usize>,
    /// Reset noise: `qpos += U(−a, a)`, `qvel = b·N(0, 1)`.
    pub qpos_noise: f64,
    pub qvel_noise: f64,
    pub termination: Option<Termination>,
}

/// One environment: MuJoCo's state and the commanded goal.
#[derive(Debug)]
pub struct MjState {
    data: Data,
    goal: Vec<f32>,
    /// MuJoCo found the simulation unstable during the last step and reset it itself.
    unstable: bool,
}

impl MjState {
    pub fn data(&self) -> &Data {
        &self.data
    }

    pub fn goal(&self) -> &[f32] {
        &self.goal
    }
}

/// How many numbers `obs` makes of `model`'s state: the one count behind every task's `state_dim`.
pub fn observation_len(model: &MjModel, obs: &[ObsPart]) -> usize {
    let (nbody, nv) = (model.ffi().nbody as usize, model.ffi().nv as usize);
    obs.iter()
        .map(|p| match p {
            ObsPart::Qpos(i) | ObsPart::Qvel(i) => i.len(),
            ObsPart::BodyInertia => 10 * (nbody - 1),
            ObsPart::BodyVelocity => 6 * (nbody - 1),
            ObsPart::ActuatorForce => nv,
            ObsPart::Coords(c) => c.len(),
        })
        .sum()
}

/// A [`Task`] as [`Dynamics`].
#[derive(Clone, Debug)]
pub struct MjEnv {
    task: Task,
    /// Whether the observation or termination reads body positions, which need the kinematics
    /// recomputed after the last physics step.
    needs_kinematics: bool,
    /// (low, high) control of each actuator, or `None` where it is not limited.
    ctrl_range: Vec<Option<(f64, f64)>>,
}

impl MjEnv {
    pub fn new(task: Task) -> Result<Self> {
        let m = task.model.ffi();
        let reads_body = |c: &Coord| !matches!(c, Coord::Qpos(_));
        let needs_kinematics = task.obs.iter().any(|p| matches!(p, ObsPart::Coords(c) if c.iter().any(reads_body)))
            || task.termination.as_ref().is_some_and(|t| reads_body(&t.coord));
        let limited = task.model.actuator_ctrllimited();
        let ctrl_range =
            task.model.actuator_ctrlrange().iter().zip(limited).map(|(r, &l)| l.then_some((r[0], r[1]))).collect();
        if m.nu as usize != task.spec.action_dim {
            return Err(EnvError::Invalid(format!(
                "{}: the model has {} actuators but the task declares {} actions",
                task.spec.name, m.nu, task.spec.action_dim
            )));
        }
        let env = MjEnv { task, needs_kinematics, ctrl_range };
        let state_dim = observation_len(&env.task.model, &env.task.obs);
        if state_dim != env.task.spec.state_dim {
            return Err(EnvError::Invalid(format!(
                "{}: the observation has {state_dim} numbers but the task declares {}",
                env.task.spec.name, env.task.spec.state_dim
            )));
        }
        Ok(env)
    }

    pub fn task(&self) -> &Task {
        &self.task
    }

    fn read(data: &Data, c: Coord) -> f64 {
        match c {
            Coord::Qpos(i) => data.qpos()[i],
            Coord::Body { id, axis } => data.xpos()[id][axis],
            Coord::Site { id, axis } => data.site_xpos()[id][axis],
        }
    }

    fn start_episode(&self, data: &mut Data, rng: &mut ChaCha8Rng) -> Vec<f32> {
        let t = &self.task;
        data.reset();
        let qpos = data.qpos_mut();
        if !t.starts.is_empty() {
            let offset = &t.starts[rng.random_range(0..t.starts.len())];
            for (&i, o) in t.offset_indices.iter().zip(offset) {
                qpos[i] += o;
            }
        }
        for q in qpos.iter_mut() {
            *q += rng.random_range(-t.qpos_noise..=t.qpos_noise);
        }
        for v in data.qvel_mut() {
            *v = t.qvel_noise * rng.sample::<f64, _>(StandardNormal);
        }
        let goal = t.goals.sample(rng);
        // Positions, inertias and velocities for the first observation.
        data.forward();
        goal
    }
}

impl Dynamics for MjEnv {
    type State = MjState;

    fn spec(&self) -> &EnvSpec {
        &self.task.spec
    }

    fn reset(&self, rng: &mut ChaCha8Rng) -> MjState {
        let mut data = MjData::new(self.task.model.clone());
        let goal = self.start_episode(&mut data, rng);
        MjState { data, goal, unstable: false }
    }

    fn reset_into(&self, state: &mut MjState, rng: &mut ChaCha8Rng) {
        state.goal = self.start_episode(&mut state.data, rng);
        state.unstable = false;
    }

    fn step(&self, s: &mut MjState, action: &[f32], _rng: &mut ChaCha8Rng) {
        for ((c, &a), range) in s.data.ctrl_mut().iter_mut().zip(action).zip(&self.ctrl_range) {
            let a = f64::from(a);
            *c = match range {
                Some((lo, hi)) => lo + 0.5 * (a + 1.0) * (hi - lo),
                None => a,
            };
        }
        let bad_before = bad_acceleration_count(&s.data);
        for _ in 0..self.task.frame_skip {
            s.data.step();
        }
        // MuJoCo resets an unstable simulation to qpos0 by itself; that is no longer this episode.
        s.unstable = bad_acceleration_count(&s.data) != bad_before;
        if self.needs_kinematics {
            s.data.kinematics();
        }
    }

    fn observe(&self, s: &MjState, out: &mut [f32]) {
        let d = &s.data;
        let mut k = 0;
        let mut put = |x: f64| {
            out[k] = x as f32;
            k += 1;
        };
        for part in &self.task.obs {
            match part {
                ObsPart::Qpos(idx) => idx.iter().for_each(|&i| put(d.qpos()[i])),
                ObsPart::Qvel(idx) => idx.iter().for_each(|&i| put(d.qvel()[i])),
                ObsPart::BodyInertia => d.cinert()[1..].iter().flatten().for_each(|&x| put(x)),
                ObsPart::BodyVelocity => d.cvel()[1..].iter().flatten().for_each(|&x| put(x)),
                ObsPart::ActuatorForce => d.qfrc_actuator().iter().for_each(|&x| put(x)),
                ObsPart::Coords(cs) => cs.iter().for_each(|&c| put(Self::read(d, c))),
            }
        }
        out[k..k + s.goal.len()].copy_from_slice(&s.goal);
    }

    fn terminated(&self, s: &MjState) -> bool {
        s.unstable
            || self.task.termination.is_some_and(|t| {
                let z = Self::read(&s.data, t.coord);
                // A NaN height is a fall too.
                !(t.min..=t.max).contains(&z)
            })
    }

    fn min_per_thread(&self) -> usize {
        // A control step is tens of microseconds: worth a thread from two environments on.
        1
    }

    fn state_words(&self) -> usize {
        self.task.model.state_size(STATE_SIG) + self.task.spec.goal_dim + 1
    }

    fn write_state(&self, s: &MjState, out: &mut Vec<u64>) {
        out.extend(s.data.state(STATE_SIG).iter().map(|x| x.to_bits()));
        out.extend(s.goal.iter().map(|g| u64::from(g.to_bits())));
        out.push(u64::from(s.unstable));
    }

    fn read_state(&self, words: &[u64]) -> Result<MjState> {
        let n = self.task.model.state_size(STATE_SIG);
        let state: Vec<f64> = words[..n].iter().map(|&w| f64::from_bits(w)).collect();
        let mut data = MjData::new(self.task.model.clone());
        data.set_state(&state, STATE_SIG).map_err(|e| {
            EnvError::Invalid(format!("{}: a snapshot's MuJoCo state does not fit the model: {e}", self.task.spec.name))
        })?;
        data.forward();
        let goal = words[n..n + self.task.spec.goal_dim].iter().map(|&w| f32::from_bits(w as u32)).collect();
        Ok(MjState { data, goal, unstable: words[n + self.task.spec.goal_dim] != 0 })
    }
}

/// Sends MuJoCo's messages (an unstable simulation, say) to the `log` crate, which the binaries'
/// `tracing` subscriber prints, instead of to stdout and a `MUJOCO_LOG.TXT` in the working folder.
/// Every path in this crate that reaches MuJoCo calls it first.
pub(crate) fn route_mujoco_messages() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: MuJoCo is only reached through this crate's model loading, which calls this first,
    // and `Once` holds every other caller until the hook is in: no thread uses MuJoCo meanwhile.
    ONCE.call_once(|| unsafe { mujoco_rs::prelude::install_logging_hook() });
}

/// How many times MuJoCo has found this data's accelerations non-finite (and reset it).
fn bad_acceleration_count(data: &Data) -> i32 {
    data.warning()[mujoco_rs::mujoco_c::mjtWarning::mjWARN_BADQACC as usize].number
}

#[cfg(test)]
mod tests;
