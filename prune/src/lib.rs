//! deepcrl `prune`: structured depth and width pruning of deep teachers and students, healed by
//! distillation from the unpruned model (DESIGN.md section 7).
//!
//! Only structures whose removal makes inference faster are pruned: whole residual blocks (depth),
//! whole inner units of blocks (width), optionally whole units of the residual stream. The report
//! measures the batch-1 latency it claims.
//!
//! - [`command`]: the `prune` command: flags over `--config`, the pipeline with progress, the summary.
//! - [`config`]: `PruneConfig` (also the CLI), its checks, the operation it resolves to, the output directory.
//! - [`error`]: `PruneError`, the one error type of this library.
//! - [`states`]: evaluation states from the model's own closed-loop rollouts.
//! - [`score`]: block importance (angular distance, drop-one) and unit importance.
//! - [`surgery`]: pure `Model → Model` functions that drop blocks or slice units.
//! - [`plan`]: what a run cuts: block order or kept units, the target, the curve's points.
//! - [`run`]: the pipeline: score, cut, sensitivity curve, heal, evaluate, write.
//! - [`report`], [`plot`]: report.json, report.md, report.png.

pub mod command;
pub mod config;
pub mod error;
pub mod plan;
pub mod plot;
pub mod report;
pub mod run;
pub mod score;
pub mod states;
pub mod surgery;
