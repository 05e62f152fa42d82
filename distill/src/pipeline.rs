//! The `distill` command from resolved flags to files: load the teacher, distil (with a progress bar
//! on a terminal), write the student's checkpoint and ONNX file, train the from-scratch baseline, run
//! the bc comparison, and write the report (`rundir::ModelDir` names every file).

use std::io::IsTerminal;
use std::path::PathBuf;

use crate::error::{DistillError, Result};
use indicatif::{ProgressBar, ProgressStyle};
use rundir::{ModelDir, RunLock};

use crate::config::{DistillConfig, Invocation, Method};
use crate::report::Report;
use crate::run::{distill, Outcome};
use crate::teacher::Teacher;

/// What a finished `distill` wrote.
pub struct Written {
    pub dir: PathBuf,
    pub report: Report,
}

/// Runs the whole command: every file goes into the student's directory, which is held locked.
pub fn run(inv: &Invocation) -> Result<Written> {
    let cfg = &inv.cfg;
    let teacher = Teacher::load(&cfg.teacher)?;
    let out = match &inv.out {
        Some(dir) => ModelDir::new(dir),
        None => rundir::layout::student_dir(&cfg.teacher, &cfg.student_id()),
    };
    // Held to the end: two distills into one directory would overwrite each other's files.
    let _lock = RunLock::acquire(&out.dir)?;
    tracing::info!(
        "distilling {} (actor depth {}) into a depth-{} student, {} with {} loss, {} steps",
        teacher.checkpoint.display(),
        teacher.model.cfg.actor_depth,
        cfg.student_depth,
        cfg.method,
        cfg.loss,
        cfg.steps
    );
    let outcome = distill_with_progress(cfg, &teacher)?;
    models::checkpoint::save(&outcome.student, &out.checkpoint())?;
    models::onnx::export_actor(&outcome.student, &out.onnx())?;
    let env = cfg.env.clone().unwrap_or_else(|| teacher.model.cfg.env.clone());
    let baseline = if inv.no_baseline {
        None
    } else {
        Some(crate::baseline::train_baseline(&teacher, cfg, &out.baseline().dir)?.1)
    };
    let mut report = Report::new(cfg, &env, &teacher.model, &outcome, baseline.as_ref())?;
    if inv.compare_bc {
        let bc_cfg = DistillConfig { method: Method::Bc, ..cfg.clone() };
        tracing::info!("--compare-bc: the same distillation with bc");
        let bc = distill_with_progress(&bc_cfg, &teacher)?;
        models::checkpoint::save(&bc.student, &out.comparison("bc").checkpoint())?;
        report = report.with_comparison("bc", &bc);
    }
    report.write(&out.dir)?;
    Ok(Written { dir: out.dir, report })
}

/// One distillation with a progress bar on a terminal and a log line per curve point.
fn distill_with_progress(cfg: &DistillConfig, teacher: &Teacher) -> Result<Outcome> {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(cfg.steps as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} SGD steps, ETA {eta} {msg}")
            .map_err(|e| DistillError::Invalid(e.to_string()))?
            .progress_chars("=> "),
    );
    bar.set_prefix(cfg.method.to_string());
    let outcome = distill(cfg, teacher, |p| {
        bar.set_position(p.sgd_steps as u64);
        let success = p.success_rate.map(|s| format!("  success {s:.2}")).unwrap_or_default();
        bar.set_message(format!("held-out mse {:.5}{success}", p.heldout_action_mse));
        bar.suspend(|| {
            tracing::info!(
                "{} sgd {:>6}  labelled {:>8}  loss {:.4}  held-out action mse {:.5}{success}",
                cfg.method,
                p.sgd_steps,
                p.labelled,
                p.loss,
                p.heldout_action_mse
            )
        });
    });
    bar.finish_and_clear();
    outcome
}
