//! deepcrl `rundir`: one home for what every stage knows about runs on disk (DESIGN.md section 5).
//!
//! - [`layout`]: the files of a training run ([`RunDir`]) and of a student or pruned model
//!   ([`ModelDir`]), and where students and pruned models go inside a run.
//! - [`lineage`]: the checkpoint a path names, and the training run, waypoint bank and planning graph
//!   behind it, found by one rule: beside the checkpoint, then along its recorded `parent` chain.
//! - [`lock`]: one process per run directory, and a fresh run never overwrites an old one.
//! - [`policy`]: a model's deterministic actor as an `envs` evaluation policy.
//! - [`config`]: a stage's configuration resolved from flags, `--config`, a resumed run and defaults.
//! - [`context`]: `error_context!`, the "doing what: why" messages of every stage's error type.
//!
//! Atomic writes live in `models::atomic` (the checkpoint writer needs them below this crate); the
//! `_eval` naming rule lives in the `envs` registry (`envs::eval_env_name`), which owns the names.

pub mod config;
pub mod context;
pub mod error;
pub mod layout;
pub mod lineage;
pub mod lock;
pub mod policy;

pub use error::{Result, RunDirError};
pub use layout::{ModelDir, RunDir};
pub use lineage::{checkpoint_in, find_bank, find_run, Lineage};
pub use lock::{refuse_overwrite, RunLock};
pub use policy::Deterministic;
