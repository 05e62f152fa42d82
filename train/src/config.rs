//! `TrainConfig`: every hyperparameter of a training run in one place, with its default and meaning.
//!
//! The struct is also `train`'s command line (`clap::Args`): each field's doc comment is its flag's help
//! and [`Default`] gives every flag's default. How flags, `--config FILE.toml` and a resumed run's
//! `config.toml` combine is `crate::cli`'s. The resolved configuration is written to
//! `runs/<name>/config.toml`.

use std::path::{Path, PathBuf};

use clap::ArgAction;
use serde::{Deserialize, Serialize};

use crate::error::{bail, Context, Result, TrainError};

/// The update path (`--backend`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The fused CPU path on `cpu`, our CUDA kernels on `cuda`.
    Auto,
    /// The fused CPU path (CPU only).
    Fast,
    /// Our fused GPU update (CUDA kernels, cuBLAS, the whole step captured as a CUDA graph) with the
    /// actor's collection forward on the GPU too. On `cpu` it runs the kernels' CPU execution, slowly:
    /// only in builds with the `cpu-sim` feature, for tests.
    Kernels,
    /// Candle's autograd on `--device`: the reference, and the fallback on a GPU (on the CPU: the slow
    /// reference implementation, for cross-checks).
    Candle,
}

/// How the GPU multiplies f32 matrices (`--gpu-matmul`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GpuMatmul {
    /// Full FP32: the CPU path's arithmetic.
    Fp32,
    /// TF32 tensor cores: faster, inputs rounded to 10 mantissa bits (about 1e-3 relative error; docs/gpu.md).
    Tf32,
}

impl From<GpuMatmul> for models::gpu::Matmul {
    fn from(m: GpuMatmul) -> Self {
        match m {
            GpuMatmul::Fp32 => models::gpu::Matmul::Fp32,
            GpuMatmul::Tf32 => models::gpu::Matmul::Tf32,
        }
    }
}

/// The residual blocks' starting output scale (`--residual-init`); [`models::ResidualInit`] says what
/// each does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ResidualInit {
    /// γ = 1, the reference's initialisation.
    Standard,
    /// γ = 0: every block starts as the identity.
    Zero,
    /// γ = 1/√blocks: smaller branches, so the stream grows more slowly with depth.
    InvSqrtBlocks,
}

impl From<ResidualInit> for models::ResidualInit {
    fn from(r: ResidualInit) -> Self {
        match r {
            ResidualInit::Standard => models::ResidualInit::Standard,
            ResidualInit::Zero => models::ResidualInit::Zero,
            ResidualInit::InvSqrtBlocks => models::ResidualInit::InvSqrtBlocks,
        }
    }
}

/// The resolved configuration of one training run. Every field is a flag of `train` (its doc comment is
/// the flag's help, its [`Default`] the flag's default) and a key of `config.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, clap::Args)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Environment: point_u_maze, point_big_maze, point_hardest_maze, reacher (evaluated on its _eval goals);
    /// with the gym feature, gym:ID (a registered Gymnasium id) or gym:MODULE:FACTORY (evaluated on itself).
    #[arg(long, default_value_t = TrainConfig::default().env)]
    pub env: String,
    /// Steps per episode.
    #[arg(long, default_value_t = TrainConfig::default().episode_length)]
    pub episode_length: usize,
    /// Mazes: start training episodes in any free cell (evaluation always starts at R).
    #[arg(long, default_value_t = TrainConfig::default().random_starts, action = ArgAction::Set)]
    pub random_starts: bool,
    /// Linear layers in the critic's (and, unless --actor-depth, the actor's) residual blocks; a multiple of 4.
    #[arg(long, default_value_t = TrainConfig::default().depth)]
    pub depth: usize,
    /// Linear layers in the actor's residual blocks (default: --depth).
    #[arg(long)]
    pub actor_depth: Option<usize>,
    /// Hidden width of every layer.
    #[arg(long, default_value_t = TrainConfig::default().width)]
    pub width: usize,
    /// Transitions per SGD update.
    #[arg(long, default_value_t = TrainConfig::default().batch_size)]
    pub batch_size: usize,
    /// Environments stepped in parallel during collection.
    #[arg(long, default_value_t = TrainConfig::default().num_envs)]
    pub num_envs: usize,
    /// Steps per environment in each collection round.
    #[arg(long, default_value_t = TrainConfig::default().unroll_length)]
    pub unroll_length: usize,
    /// SGD updates after each collection round.
    #[arg(long, default_value_t = TrainConfig::default().sgd_steps_per_round)]
    pub sgd_steps_per_round: usize,
    /// Stop after this many environment steps (all environments counted).
    #[arg(long, default_value_t = TrainConfig::default().total_env_steps)]
    pub total_env_steps: u64,
    /// Environment steps collected with the initial policy before the first update.
    #[arg(long, default_value_t = TrainConfig::default().prefill_env_steps)]
    pub prefill_env_steps: u64,
    /// Replay capacity per environment, in time steps.
    #[arg(long, default_value_t = TrainConfig::default().replay_steps)]
    pub replay_steps: usize,
    /// Discount of the hindsight goal offsets (geometric future-state sampling).
    #[arg(long, default_value_t = TrainConfig::default().gamma)]
    pub gamma: f64,
    /// Adam learning rate of actor, critic and α. A depth-64 actor collapsed at 3e-4 (its log σ saturated
    /// at the floor within the first 6k steps) and trained at 1e-4: docs/experiments/README.md. With
    /// --residual-init zero it did not collapse at 3e-4 in 20k updates on one seed
    /// (docs/experiments/2026-12-08-u_maze-deep-actor-fixes).
    #[arg(long, default_value_t = TrainConfig::default().lr)]
    pub lr: f32,
    /// Ramp Adam's learning rate linearly over this many SGD steps (step t uses lr·t/N), so the first
    /// steps, which move every parameter by about the learning rate at once, move a deep actor's heads
    /// less (issue 26; it does not change where they start). 0 = none.
    #[arg(long, default_value_t = TrainConfig::default().lr_warmup)]
    pub lr_warmup: u64,
    /// The initial scale γ of the LayerNorm of each residual block's last layer, i.e. of what the
    /// block adds to the residual stream, in every trunk: standard (1, the reference's), zero (every
    /// block starts as the identity; the stream entering the heads is the input layer's at any depth),
    /// inv-sqrt-blocks (1/√blocks: the stream grows more slowly with depth). Only the starting weights
    /// change; checkpoints and every later stage are as before.
    #[arg(long, value_enum, default_value_t = TrainConfig::default().residual_init)]
    pub residual_init: ResidualInit,
    /// Normalise the actor trunk's output (a LayerNorm without parameters) before its mean and log σ
    /// heads, so they read a unit-scale input however much the residual stream grows with depth
    /// (issue 26). Changes the network: recorded in the checkpoint's config, and distill's students
    /// keep it.
    #[arg(long, default_value_t = TrainConfig::default().head_norm, action = ArgAction::Set)]
    pub head_norm: bool,
    /// Evaluate and checkpoint every this many environment steps.
    #[arg(long, default_value_t = TrainConfig::default().eval_every)]
    pub eval_every: u64,
    /// Episodes per evaluation (on the _eval goal distribution, deterministic actor).
    #[arg(long, default_value_t = TrainConfig::default().eval_episodes)]
    pub eval_episodes: usize,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    pub seed: u64,
    /// cpu, or cuda / cuda:N for an NVIDIA GPU (needs a build with `--features cuda`).
    #[arg(long, default_value_t = TrainConfig::default().device)]
    pub device: String,
    /// Update path.
    #[arg(long, value_enum, default_value_t = TrainConfig::default().backend)]
    pub backend: Backend,
    /// Matrix products of the GPU update (`--backend kernels`).
    #[arg(long, value_enum, default_value_t = TrainConfig::default().gpu_matmul)]
    pub gpu_matmul: GpuMatmul,
    /// Run the GPU update call by call instead of replaying it as one captured CUDA graph (for
    /// debugging; much slower at depth).
    #[arg(long, default_value_t = TrainConfig::default().gpu_eager, action = ArgAction::Set)]
    pub gpu_eager: bool,
    /// During collection, command a new training goal whenever the commanded one is reached.
    #[arg(long, default_value_t = TrainConfig::default().chain_goals, action = ArgAction::Set)]
    pub chain_goals: bool,
    /// Entropy α is tuned toward (default −0.5 × action dimensions, as DESIGN.md specifies). Higher keeps
    /// the collecting policy more random for longer.
    #[arg(long, allow_hyphen_values = true)]
    pub target_entropy: Option<f32>,
    /// States kept in bank.safetensors for the planner (farthest-point sampled from replay at the end).
    #[arg(long, default_value_t = TrainConfig::default().bank_size)]
    pub bank_size: usize,
    /// Threads for the SGD update (2 runs the actor and critic chains in parallel; 1 runs them in turn).
    #[arg(long, default_value_t = TrainConfig::default().threads)]
    pub threads: usize,
    /// A maze layout file (`1` wall, `0` free, `R` start, `G` goals; README "Environments"): training and
    /// evaluation run on it, and every later stage finds it in config.toml. Needed by `--env point_maze`;
    /// replaces the built-in layout of the other point mazes.
    #[arg(long)]
    pub layout: Option<PathBuf>,
    /// Stop early once the evaluation success has been at or above this for `--patience` evaluations
    /// in a row (the last evaluation is the run's final one, with its checkpoint).
    #[arg(long, default_value_t = TrainConfig::default().stop_at_success)]
    pub stop_at_success: f64,
    /// Consecutive evaluations at or above `--stop-at-success` that end the run; 0 turns the stop rule
    /// off (every run then trains its whole `--total-env-steps`, as equal-budget comparisons need).
    #[arg(long, default_value_t = TrainConfig::default().patience)]
    pub patience: usize,
    /// End the run cleanly, with a final evaluation and checkpoint, once its training wall time
    /// (resumed parts included) passes this many seconds.
    #[arg(long)]
    pub time_budget: Option<f64>,
    /// Also checkpoint the replay buffer, the environments and the collector (collection.safetensors,
    /// about 4 × num_envs × replay_steps × (state + action + 3) bytes), so --resume continues exactly
    /// as if the run had never stopped. Without it a resumed run refills its replay with fresh episodes.
    #[arg(long)]
    pub save_replay: bool,
    /// Every N SGD steps, write the actor's insides at that update to probe.jsonl in the run directory
    /// (the residual stream's scale, the heads' saturation, the gradient per block, how far the step
    /// moved log σ; see models::fast::probe), for studying deep actors. Costs one actor forward per
    /// row. The fused CPU path in one process only. 0 = off.
    #[arg(long, default_value_t = 0)]
    pub probe_every: u64,
    /// Keyword arguments for a Gymnasium environment (`--env gym:...`), a JSON object passed to
    /// `gymnasium.make` or the factory, e.g. '{"continuing_task": false}'. Recorded in config.toml, so
    /// --resume, distill and prune make the same environment.
    #[arg(long)]
    pub gym_kwargs: Option<String>,
    /// Step a Gymnasium batch in worker processes (Gymnasium's AsyncVectorEnv) rather than in turn.
    #[arg(long)]
    pub gym_async: bool,
    /// A Gymnasium env's success distance in goal space, for goal chaining (--chain-goals) and the
    /// plots' radius, where the env has no `distance_threshold` attribute (PointMaze and AntMaze count a
    /// goal reached within 0.45 in their code but do not say so); given, it overrides the env's.
    /// Success is still what the env reports. [default: the env's distance_threshold, else none, and
    /// then no goal chaining]
    #[arg(long)]
    pub gym_success_radius: Option<f32>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        // The default recipe solves point_u_maze_eval on 2 CPU cores in about 10 minutes; how each
        // choice was measured (failures included) is in docs/experiments/.
        TrainConfig {
            env: "point_u_maze".into(),
            // Long episodes and starts in every free cell give the critic trajectories that cross the
            // maze; 200-step episodes from R never showed it the goals behind the wall.
            episode_length: 1000,
            random_starts: true,
            depth: 4,
            actor_depth: None,
            // Width 128 takes an update in 5.5 ms instead of 12.7 ms at 256: twice the updates in
            // the budget, and it solved the maze sooner.
            width: 128,
            batch_size: 256,
            num_envs: 64,
            unroll_length: 16,
            // One SGD step per 8 environment steps.
            sgd_steps_per_round: 128,
            total_env_steps: 800_000,
            prefill_env_steps: 12_800,
            replay_steps: 10_000,
            gamma: 0.99,
            lr: 3e-4,
            lr_warmup: 0,
            residual_init: ResidualInit::Standard,
            head_norm: false,
            eval_every: 50_000,
            eval_episodes: 64,
            seed: 0,
            device: "cpu".into(),
            backend: Backend::Auto,
            gpu_matmul: GpuMatmul::Fp32,
            gpu_eager: false,
            // Without it the policy reached two of the three eval goals and stopped there.
            chain_goals: true,
            target_entropy: None,
            bank_size: 256,
            threads: 2,
            // The default run's curves (docs/experiments/2026-11-21-u_maze-default-recipe-*): one
            // evaluation at 1.00 was followed by 0.69 (seed 1), so one is not enough; from three in a
            // row at or above 0.95 on, neither success nor time at goal moved again (seed 0: 1.00 and
            // 0.80–0.83 from 264k to 800k steps). So the default run stops at about 364k steps.
            layout: None,
            stop_at_success: 0.95,
            patience: 3,
            time_budget: None,
            save_replay: false,
            probe_every: 0,
            gym_kwargs: None,
            gym_async: false,
            gym_success_radius: None,
        }
    }
}

impl TrainConfig {
    /// A configuration that trains in well under a second (width 32, 8 environments, 50-step episodes):
    /// for tests, here and in the crates built on `train`.
    pub fn tiny(total_env_steps: u64) -> Self {
        TrainConfig {
            width: 32,
            batch_size: 32,
            num_envs: 8,
            unroll_length: 10,
            sgd_steps_per_round: 4,
            episode_length: 50,
            prefill_env_steps: 400,
            total_env_steps,
            eval_every: 400,
            eval_episodes: 8,
            replay_steps: 500,
            threads: 1,
            ..TrainConfig::default()
        }
    }

    /// The training run behind `checkpoint` (whose model config is `model`): the directory of the
    /// `config.toml` found beside it or along its parents (`rundir::lineage`), and that configuration.
    /// `None` when no run is found, e.g. for a checkpoint copied out of its run.
    pub fn of_checkpoint(checkpoint: &Path, model: &models::ModelConfig) -> Result<Option<(PathBuf, Self)>> {
        match rundir::find_run(&rundir::Lineage::of(checkpoint, model)) {
            Some(dir) => {
                let cfg = Self::from_toml_file(&rundir::RunDir::new(&dir).config())?;
                Ok(Some((dir, cfg)))
            }
            None => Ok(None),
        }
    }

    /// Reads a TOML file of overrides on top of the defaults.
    pub fn from_toml_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).map_err(|e| TrainError::Config(format!("{}: {e}", path.display())))
    }

    /// The configuration as `config.toml` holds it. An error rather than an empty file: a run whose
    /// config.toml is empty would resume with the defaults.
    pub fn to_toml(&self) -> Result<String> {
        toml::to_string_pretty(self)
            .map_err(|e| TrainError::Invalid(format!("cannot write the configuration as TOML: {e}")))
    }

    pub fn actor_depth(&self) -> usize {
        self.actor_depth.unwrap_or(self.depth)
    }

    /// Environment steps of one collection round.
    pub fn round_env_steps(&self) -> u64 {
        (self.num_envs * self.unroll_length) as u64
    }

    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("width", self.width),
            ("batch_size", self.batch_size),
            ("num_envs", self.num_envs),
            ("unroll_length", self.unroll_length),
            ("episode_length", self.episode_length),
            ("replay_steps", self.replay_steps),
            ("eval_episodes", self.eval_episodes),
            ("threads", self.threads),
            ("bank_size", self.bank_size),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            bail!(config: "{name} must be positive");
        }
        for (name, d) in [("depth", self.depth), ("actor_depth", self.actor_depth())] {
            if d == 0 || d % 4 != 0 {
                bail!(config: "{name} = {d}: must be a positive multiple of 4 (4, 8, 16, ..., 1024)");
            }
        }
        if self.batch_size < 2 {
            bail!(config: "batch_size must be at least 2 (the critic contrasts within the batch)");
        }
        if !(0.0..1.0).contains(&self.gamma) || self.gamma == 0.0 {
            bail!(config: "gamma = {} must be in (0, 1)", self.gamma);
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!(config: "lr = {} must be a positive number", self.lr);
        }
        if self.target_entropy.is_some_and(|t| !t.is_finite()) {
            bail!(config: "target_entropy must be a finite number");
        }
        if let Err(e) = self.device.parse::<models::device::DeviceSpec>() {
            bail!(config: "{e}");
        }
        if !(0.0..=1.0).contains(&self.stop_at_success) {
            bail!(config: "--stop-at-success {} must be a success rate in [0, 1]", self.stop_at_success);
        }
        if self.time_budget.is_some_and(|t| !(t >= 0.0 && t.is_finite())) {
            bail!(config: "--time-budget must be a number of seconds, at least 0");
        }
        if self.eval_every == 0 {
            bail!(config: "eval_every must be positive");
        }
        if let Some(kwargs) = &self.gym_kwargs {
            match serde_json::from_str::<serde_json::Value>(kwargs) {
                Ok(serde_json::Value::Object(_)) => {}
                Ok(other) => bail!(config: "--gym-kwargs {kwargs}: a JSON object is needed, not {other}"),
                Err(e) => {
                    bail!(config: "--gym-kwargs {kwargs}: not JSON ({e}); pass an object like '{{\"continuing_task\": false}}'")
                }
            }
            if !envs::is_gym_env(&self.env) {
                bail!(config: "--gym-kwargs is for Gymnasium environments (--env gym:...), not {}", self.env);
            }
        }
        if let Some(r) = self.gym_success_radius {
            if !(r > 0.0 && r.is_finite()) {
                bail!(config: "--gym-success-radius {r} must be a positive distance in goal space");
            }
            if !envs::is_gym_env(&self.env) {
                bail!(config: "--gym-success-radius is for Gymnasium environments (--env gym:...), not {}", self.env);
            }
        }
        Ok(())
    }

    /// The environments' options this run trains with (`random_starts` for training episodes only).
    pub fn env_options(&self) -> envs::EnvOptions {
        envs::EnvOptions {
            episode_length: Some(self.episode_length),
            random_starts: self.random_starts,
            layout: self.layout.clone(),
            gym_kwargs: self.gym_kwargs.clone(),
            gym_async: self.gym_async,
            gym_success_radius: self.gym_success_radius,
        }
    }

    /// The options its policies are evaluated with: the same episodes and maze, starts at `R`.
    pub fn eval_env_options(&self) -> envs::EnvOptions {
        envs::EnvOptions { random_starts: false, ..self.env_options() }
    }

    /// A run directory name from the environment, depth and the current time.
    pub fn default_run_dir(&self) -> PathBuf {
        let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        PathBuf::from("runs").join(format!("{}-d{}-{secs}", self.env, self.depth))
    }
}
