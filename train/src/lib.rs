//! deepcrl `train`: Contrastive RL training of deep goal-conditioned teachers (DESIGN.md section 3).
//!
//! - [`config`]: every hyperparameter in one `TrainConfig`.
//! - [`replay`]: per-environment trajectory replay and the hindsight goal sampler.
//! - [`collect`]: the stochastic actor stepping the vectorised environments.
//! - [`run`]: the loop: prefill, collect, update, evaluate, log, checkpoint.
//! - [`state`]: `train_state.safetensors` for `--resume`.
//! - [`curves`]: `curves.png`, redrawn at every evaluation.
//!
//! Still to come (issue 4): a progress bar, the waypoint bank, and the recipe that
//! makes the default run succeed.

pub mod collect;
pub mod config;
pub mod curves;
pub mod replay;
pub mod run;
pub mod state;
