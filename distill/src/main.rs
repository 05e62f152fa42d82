//! `cargo run --release -p distill -- --teacher runs/NAME --student-depth 8` (or `cargo distill ...`):
//! distils a teacher's actor into a shallow student and reports how much of the teacher it keeps.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use distill::report::Report;
use distill::run::{distill, DistillConfig, Outcome};
use distill::teacher::Teacher;
use indicatif::{ProgressBar, ProgressStyle};
use rundir::ModelDir;
use tracing_subscriber::EnvFilter;

/// Distil a deep CRL teacher into a shallow student actor (DESIGN.md section 6).
#[derive(Parser, Debug)]
#[command(name = "distill", version, about, long_about = None)]
struct Cli {
    /// The teacher: a run directory written by `train` (runs/NAME) or a teacher.safetensors file.
    #[arg(long)]
    teacher: PathBuf,
    /// Linear layers in the student's residual blocks (a multiple of 4).
    #[arg(long, default_value_t = 8)]
    student_depth: usize,
    /// Student width (default: the teacher's).
    #[arg(long)]
    student_width: Option<usize>,
    /// dagger: student rollouts labelled by the teacher (β-mixed early on); bc: teacher rollouts only.
    #[arg(long, default_value = "dagger")]
    method: String,
    /// kl: KL(teacher ‖ student) between pre-tanh Gaussians; mse: squared error of tanh(mean).
    #[arg(long, default_value = "kl")]
    loss: String,
    /// Distil the critic too (φ/ψ MSE + in-batch logit KL), so the planner can use the student's critic.
    #[arg(long)]
    critic: bool,
    /// Environment for rollouts and evaluation (default: the teacher's).
    #[arg(long)]
    env: Option<String>,
    /// SGD steps. 10,000 is where the measured curves flatten: a depth-16 U-maze teacher needed 10k for
    /// full retention (3k kept 61%), a depth-64 one was fully retained from about 4k (docs/distill/).
    #[arg(long, default_value_t = 10000)]
    steps: usize,
    /// Learning rate (Adam).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Evaluation episodes for teacher and student each (the report's numbers).
    #[arg(long, default_value_t = 128)]
    eval_episodes: usize,
    /// Closed-loop episodes of the student at each point of the distillation curve (0: skip).
    #[arg(long, default_value_t = 32)]
    curve_eval_episodes: usize,
    /// Also distil with bc (teacher rollouts only) at the same budget, and compare the two methods at
    /// equal labelled samples in the report (doubles the distillation time).
    #[arg(long)]
    compare_bc: bool,
    /// Seed of everything random in the run.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Skip the baseline: the student's size trained from scratch by `train` with the teacher's recipe
    /// and budget (it costs about as long as training a teacher of that size).
    #[arg(long)]
    no_baseline: bool,
    /// Output directory (default: <teacher run>/students/d<depth>-<method>).
    #[arg(long)]
    out: Option<PathBuf>,
}

fn run(cli: Cli) -> Result<PathBuf> {
    let cfg = DistillConfig {
        teacher: cli.teacher.clone(),
        student_depth: cli.student_depth,
        student_width: cli.student_width,
        method: cli.method.clone(),
        loss: cli.loss.clone(),
        critic: cli.critic,
        env: cli.env.clone(),
        steps: cli.steps,
        lr: cli.lr,
        eval_episodes: cli.eval_episodes,
        curve_eval_episodes: cli.curve_eval_episodes,
        seed: cli.seed,
        ..DistillConfig::default()
    };
    cfg.validate()?;
    let teacher = Teacher::load(&cli.teacher)?;
    let out = match &cli.out {
        Some(dir) => ModelDir::new(dir),
        None => rundir::layout::student_dir(&cli.teacher, &format!("d{}-{}", cli.student_depth, cli.method)),
    };
    // Held to the end: two distills into one directory would overwrite each other's files.
    let _lock = rundir::RunLock::acquire(&out.dir)?;
    tracing::info!(
        "distilling {} (actor depth {}) into a depth-{} student, {} with {} loss, {} steps",
        teacher.checkpoint.display(),
        teacher.model.cfg.actor_depth,
        cfg.student_depth,
        cfg.method,
        cfg.loss,
        cfg.steps
    );
    if cli.compare_bc && cfg.method == "bc" {
        bail!("--compare-bc compares DAgger with bc; drop it or use --method dagger");
    }
    let outcome = distill_with_progress(&cfg, &teacher)?;
    models::checkpoint::save(&outcome.student, &out.checkpoint())?;
    models::onnx::export_actor(&outcome.student, &out.onnx())?;
    let env = cfg.env.clone().unwrap_or_else(|| teacher.model.cfg.env.clone());
    let baseline = if cli.no_baseline {
        None
    } else {
        Some(distill::baseline::train_baseline(&teacher, &cfg, &out.baseline().dir)?.1)
    };
    let mut report = Report::new(&cfg, &env, &teacher.model, &outcome, baseline.as_ref())?;
    if cli.compare_bc {
        let bc_cfg = DistillConfig { method: "bc".into(), ..cfg.clone() };
        tracing::info!("--compare-bc: the same distillation with bc");
        let bc = distill_with_progress(&bc_cfg, &teacher)?;
        models::checkpoint::save(&bc.student, &out.comparison("bc").checkpoint())?;
        report = report.with_comparison("bc", &bc);
    }
    report.write(&out.dir)?;
    println!("{}", report.markdown());
    Ok(out.dir)
}

/// One distillation with a progress bar on a terminal and a log line per curve point.
fn distill_with_progress(cfg: &DistillConfig, teacher: &Teacher) -> Result<Outcome> {
    let bar = if std::io::stderr().is_terminal() { ProgressBar::new(cfg.steps as u64) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} SGD steps, ETA {eta} {msg}")
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .progress_chars("=> "),
    );
    bar.set_prefix(cfg.method.clone());
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn,distill=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    match run(cli) {
        Ok(out) => {
            println!("student: {0}/student.safetensors, {0}/student.onnx; report: {0}/report.md", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
