//! deepcrl `distill`: compresses a deep CRL teacher's actor into a shallow student (DESIGN.md section 6).
//!
//! - [`config`]: `DistillConfig`, which is also the CLI, and how flags and `--config` combine.
//! - [`pipeline`]: the `distill` command: distil, write the student, the baseline, the comparison, the report.
//! - [`baseline`]: the same-size network trained from scratch by `train`, and the shared evaluation.
//! - [`teacher`]: finds and loads a teacher from a run directory or a checkpoint, with clear errors.
//! - [`error`]: `DistillError`, the one error type of this library.
//! - [`loss`]: the KL between pre-tanh Gaussians and the MSE on tanh(mean), on candle's autograd.
//! - [`dagger`]: student (or teacher) rollouts labelled by the teacher, aggregated into one buffer.
//! - [`plot`]: report.png, the distillation curve and the closed-loop bars.
//! - [`report`]: report.json and report.md: closed-loop results, sizes, latency.
//! - [`run`]: the loop, the evaluation of teacher and student, and the files it writes.

pub mod baseline;
pub mod config;
pub mod dagger;
pub mod error;
pub mod loss;
pub mod pipeline;
pub mod plot;
pub mod report;
pub mod run;
pub mod teacher;
