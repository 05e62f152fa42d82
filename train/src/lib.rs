//! deepcrl `train`: Contrastive RL training of deep goal-conditioned teachers (DESIGN.md section 3).
//!
//! - [`config`]: every hyperparameter in one `TrainConfig`, which is also the CLI ([`cli`]).
//! - [`replay`]: per-environment trajectory replay and the hindsight goal sampler.
//! - [`collect`]: the stochastic actor stepping the vectorised environments.
//! - [`run`]: the loop: prefill, collect, update, evaluate, log, checkpoint.
//! - [`launch`]: the process alone or a rank of an MPI job (`--distributed`).
//! - [`evaluation`]: one evaluation: episodes, the maze plot, the topology metric, the metrics row.
//! - [`metrics`]: the metrics rows of a run (its files are named in the `rundir` crate).
//! - [`updater`]: the fused CPU update or candle's (CUDA, or the CPU as a reference).
//! - [`state`]: `train_state.safetensors` for `--resume`; [`snapshot`]: the replay buffer, environments
//!   and collector with `--save-replay`, for a resume that continues bit for bit.
//! - [`bank`]: `bank.safetensors`, the planner's waypoints.
//! - [`curves`]: `curves.png`, redrawn at every evaluation.
//! - `mpi_comm` (the `mpi` feature): the collective over the system's MPI.
//! - [`ranks`]: what the ranks of a data-parallel run agree on (`--distributed mpi`).
//! - [`progress`]: observer hooks and the terminal progress bar.
//! - [`error`]: `TrainError`, the one error type of this library.
//! - [`topology`]: the critic-topology metric (Spearman against the maze's shortest paths).
//! - [`sweep`]: a depth sweep's finished runs pooled per depth, `sweep.json` and `depth_sweep.png`.

pub mod bank;
pub mod cli;
pub mod collect;
pub mod config;
pub mod curves;
pub mod error;
pub mod evaluation;
pub mod launch;
pub mod metrics;
#[cfg(feature = "mpi")]
pub mod mpi_comm;
pub mod probe;
pub mod probe_plot;
pub mod progress;
pub mod ranks;
pub mod replay;
pub mod run;
pub mod snapshot;
pub mod state;
pub mod sweep;
pub mod topology;
pub mod updater;
