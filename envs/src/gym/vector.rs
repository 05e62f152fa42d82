//! [`GymEnv`]: a Gymnasium vector env behind the [`GoalEnv`] trait, stepped with one Python call per
//! batch. Trajectory ids and step indices are kept here, as [`crate::vec_env::VecEnv`] keeps them, from
//! the terminated and truncated flags Gymnasium reports.

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;

use super::python::{attach, bridge, python_error};
use super::Target;
use crate::error::{EnvError, Result};
use crate::{EnvOptions, EnvSpec, GoalEnv, StepInfo};

/// A batch of Gymnasium environments; see the module docs of [`crate::gym`].
pub struct GymEnv {
    spec: EnvSpec,
    bridge: Py<PyAny>,
    obs: Vec<f32>,
    info: Vec<StepInfo>,
    /// Per environment: the step within the episode and the episodes started.
    t: Vec<u32>,
    episode: Vec<u64>,
    clipped: Vec<f32>,
    /// A reset that raised: [`GoalEnv::reset`] cannot fail, so the next step reports it.
    failed_reset: Option<EnvError>,
}

impl GymEnv {
    pub(crate) fn new(target: &Target, num_envs: usize, seed: u64, opts: &EnvOptions) -> Result<Self> {
        if num_envs == 0 {
            return Err(EnvError::Invalid("num_envs must be at least 1".into()));
        }
        let name = target.name();
        let episode_length = match opts.episode_length {
            Some(n) => n,
            None => target.registered_episode_length()?.unwrap_or(crate::registry::DEFAULT_EPISODE_LENGTH),
        };
        let (bridge, (obs_dim, goal_dim, action_dim, threshold)) = attach(|py| {
            let kwargs = opts.gym_kwargs.as_deref().unwrap_or("");
            let args = (target.target(), target.is_factory(), kwargs, num_envs, opts.gym_async, episode_length);
            let made = bridge(py)?.getattr("Bridge").and_then(|b| b.call1(args));
            let bridge = made.map_err(|e| python_error(py, &format!("making {name}"), &e))?;
            let dims: (usize, usize, usize, f64) = bridge
                .call_method0("describe")
                .and_then(|d| d.extract())
                .map_err(|e| python_error(py, &format!("describing {name}"), &e))?;
            Ok((bridge.unbind(), dims))
        })?;
        let state_dim = obs_dim + goal_dim;
        let spec = EnvSpec {
            name,
            state_dim,
            goal_dim,
            goal_indices: (obs_dim..state_dim).collect(),
            action_dim,
            episode_length,
            // Goal chaining and plots need a radius: the user's, else the env's; none is made up.
            success_threshold: match opts.gym_success_radius {
                Some(r) => r,
                None if threshold.is_finite() => threshold as f32,
                None => 0.0,
            },
        };
        let mut env = GymEnv {
            spec,
            bridge,
            obs: Vec::new(),
            info: Vec::new(),
            t: Vec::new(),
            episode: Vec::new(),
            clipped: Vec::new(),
            failed_reset: None,
        };
        env.reset_checked(num_envs, seed)?;
        Ok(env)
    }

    fn reset_checked(&mut self, n: usize, seed: u64) -> Result<()> {
        let name = &self.spec.name;
        let obs = attach(|py| {
            let obs = self.bridge.bind(py).call_method1("reset", (seed,));
            let obs = obs.map_err(|e| python_error(py, &format!("resetting {name}"), &e))?;
            read_f32(py, &obs, name)
        })?;
        self.check_obs(&obs, n)?;
        self.obs = obs;
        self.t = vec![0; n];
        self.episode = vec![0; n];
        self.info = (0..n).map(|i| StepInfo { traj_id: i as u64, ..StepInfo::default() }).collect();
        Ok(())
    }

    fn check_obs(&self, obs: &[f32], n: usize) -> Result<()> {
        if obs.len() != n * self.spec.obs_dim() {
            return Err(EnvError::Python(format!(
                "{} returned {} observation values, expected {n} environments × {}",
                self.spec.name,
                obs.len(),
                self.spec.obs_dim()
            )));
        }
        match obs.iter().position(|v| !v.is_finite()) {
            Some(k) => Err(EnvError::Python(format!(
                "{} returned a non-finite observation ({} at environment {}, entry {}); deepcrl cannot learn from it",
                self.spec.name,
                obs[k],
                k / self.spec.obs_dim(),
                k % self.spec.obs_dim()
            ))),
            None => Ok(()),
        }
    }
}

fn read_f32(py: Python<'_>, array: &Bound<'_, PyAny>, name: &str) -> Result<Vec<f32>> {
    let array = array
        .extract::<PyReadonlyArray2<'_, f32>>()
        .map_err(|e| python_error(py, &format!("reading {name}'s observations"), &e))?;
    array.as_slice().map(<[f32]>::to_vec).map_err(|e| EnvError::Python(format!("{name}: {e}")))
}

fn read_flags(py: Python<'_>, flags: &Bound<'_, PyAny>, name: &str) -> Result<Vec<bool>> {
    let flags = flags
        .extract::<PyReadonlyArray1<'_, bool>>()
        .map_err(|e| python_error(py, &format!("reading {name}'s step flags"), &e))?;
    Ok(flags.as_array().to_vec())
}

impl GoalEnv for GymEnv {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn num_envs(&self) -> usize {
        self.t.len()
    }

    fn reset(&mut self, seed: u64) {
        self.failed_reset = self.reset_checked(self.t.len(), seed).err();
    }

    fn observations(&self) -> &[f32] {
        &self.obs
    }

    fn step(&mut self, actions: &[f32]) -> Result<&[StepInfo]> {
        if let Some(e) = self.failed_reset.take() {
            return Err(e);
        }
        let (n, a_dim) = (self.t.len(), self.spec.action_dim);
        crate::vec_env::clip_actions(actions, n, a_dim, &mut self.clipped)?;
        let name = &self.spec.name;
        let (obs, terminated, truncated, success) = attach(|py| {
            let actions = PyArray1::from_slice(py, &self.clipped)
                .reshape([n, a_dim])
                .map_err(|e| python_error(py, "shaping the actions", &e))?;
            let out = self.bridge.bind(py).call_method1("step", (actions,));
            let out = out.map_err(|e| python_error(py, &format!("stepping {name}"), &e))?;
            let get = |i: usize| out.get_item(i).map_err(|e| python_error(py, &format!("reading {name}'s step"), &e));
            Ok((
                read_f32(py, &get(0)?, name)?,
                read_flags(py, &get(1)?, name)?,
                read_flags(py, &get(2)?, name)?,
                read_flags(py, &get(3)?, name)?,
            ))
        })?;
        self.check_obs(&obs, n)?;
        if [&terminated, &truncated, &success].iter().any(|f| f.len() != n) {
            return Err(EnvError::Python(format!("{name} returned step flags for other than {n} environments")));
        }
        self.obs = obs;
        for i in 0..n {
            let traj_id = i as u64 + n as u64 * self.episode[i];
            let t = self.t[i];
            self.t[i] += 1;
            if terminated[i] || truncated[i] {
                self.t[i] = 0;
                self.episode[i] += 1;
            }
            self.info[i] =
                StepInfo { traj_id, t, truncated: truncated[i], terminated: terminated[i], success: success[i] };
        }
        Ok(&self.info)
    }
}

impl Drop for GymEnv {
    fn drop(&mut self) {
        // Async envs own worker processes: close them rather than leave them to the interpreter's exit.
        let _ = attach(|py| Ok(self.bridge.bind(py).call_method0("close").map(drop)));
    }
}
