//! The GPU acceptance run of issue 16: `scripts/gpu-acceptance.sh` runs this on a machine with an
//! NVIDIA GPU and prints one table, and writes every figure to `--out`/gpu-acceptance.json:
//!
//! 1. kernel-by-kernel parity, GPU against the CPU device (the same kernel text on the CPU);
//! 2. a replayed graph equals eager execution bit for bit;
//! 3. one update step on the GPU against the fused CPU path, in FP32 (and TF32's error beside it);
//! 4. SGD steps/s, device memory and launches per step, eager and graphed, FP32 and TF32, at
//!    depths 64, 256 and 1024 (actor 512), batch 512, width 256;
//! 5. a short `train --device cuda` run on the U-maze, which must reach success ≥ 0.9;
//! 6. the data-parallel step at one rank, its exchanges over NCCL in the graph (built with
//!    `--features nccl`), against the plain step, bit for bit.
//!
//! Build: `cargo build --release -p train --features gpu --example gpu_acceptance`. With
//! `--dry-run-on-cpu` every section runs at small sizes on the CPU device instead (the same code
//! path, no GPU): CI runs that, so the first GPU run is not spent finding a bug in this file.

mod one_rank;
mod parity;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use kernels::cpu::CpuDevice;
use kernels::cuda::{CudaDevice, Matmul};
use kernels::device::Device;
use models::fast::FastTrainer;
use models::gpu::{DeviceStep, Mode};
use models::{AdamConfig, CrlBatch, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::{json, Value};
use train::config::{Backend, TrainConfig};

#[derive(Parser)]
#[command(about = "Issue 16's GPU acceptance run: parity, graphs, speed, and a short training run")]
struct Args {
    /// Folder for gpu-acceptance.json and the training run.
    #[arg(long, default_value = "gpu-acceptance")]
    out: PathBuf,
    /// CUDA device ordinal.
    #[arg(long, default_value_t = 0)]
    gpu: usize,
    /// Skip the training run (section 5).
    #[arg(long)]
    no_train: bool,
    /// Environment steps of the training run.
    #[arg(long, default_value_t = 300_000)]
    train_steps: u64,
    /// Timed SGD steps per benchmark row.
    #[arg(long, default_value_t = 20)]
    bench_steps: usize,
    /// Run every section on the CPU device at small sizes (no GPU needed; checks this program).
    #[arg(long)]
    dry_run_on_cpu: bool,
}

/// Where the "GPU" side runs, and at which sizes.
struct Target {
    gpu: Option<usize>,
    /// (critic depth, actor depth) of the benchmark rows.
    bench: Vec<(usize, usize)>,
    width: usize,
    batch: usize,
    /// Depth of the step-parity check.
    parity_depth: usize,
}

impl Target {
    fn new(args: &Args) -> Self {
        if args.dry_run_on_cpu {
            Target { gpu: None, bench: vec![(4, 4), (8, 4)], width: 32, batch: 16, parity_depth: 8 }
        } else {
            Target {
                gpu: Some(args.gpu),
                bench: vec![(64, 64), (256, 256), (1024, 512)],
                width: 256,
                batch: 512,
                parity_depth: 64,
            }
        }
    }

    fn device(&self, m: Matmul) -> Result<Box<dyn Device>> {
        Ok(match self.gpu {
            Some(n) => Box::new(CudaDevice::new(n, m)?),
            None => Box::new(CpuDevice::new()),
        })
    }

    fn cfg(&self, depth: usize, actor_depth: usize) -> ModelConfig {
        let mut c = ModelConfig::point_maze(depth).with_width(self.width);
        c.actor_depth = actor_depth;
        c
    }
}

/// A batch of random transitions for `cfg`.
struct Batch {
    states: Vec<f32>,
    actions: Vec<f32>,
    goals: Vec<f32>,
    noise: Vec<f32>,
}

impl Batch {
    fn random(cfg: &ModelConfig, b: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uni = |n: usize, s: f32| (0..n).map(|_| rng.random_range(-s..s)).collect::<Vec<f32>>();
        let (states, actions, goals) =
            (uni(b * cfg.state_dim, 3.0), uni(b * cfg.action_dim, 1.0), uni(b * cfg.goal_dim, 3.0));
        let mut rng = ChaCha8Rng::seed_from_u64(seed + 1);
        let noise = (0..b * cfg.action_dim).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
        Batch { states, actions, goals, noise }
    }

    fn view(&self) -> CrlBatch<'_> {
        CrlBatch { states: &self.states, actions: &self.actions, goals: &self.goals, noise: &self.noise }
    }
}

/// Per tensor max |a − b| / max |b|, the worst over tensors, and its name.
fn worst_tensor(model: &Model, a: &[f32], b: &[f32]) -> (f64, String) {
    let mut worst = (0.0, String::new());
    for spec in &model.layout.specs {
        let (x, y) = (&a[spec.range()], &b[spec.range()]);
        let scale = y.iter().fold(0f32, |m, v| m.max(v.abs()));
        if scale == 0.0 {
            continue;
        }
        let e = f64::from(x.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0f32, f32::max) / scale);
        if e >= worst.0 {
            worst = (e, spec.name.clone());
        }
    }
    worst
}

/// Writes the report so far: a run cut short by its time limit still leaves every finished section.
fn save(out: &std::path::Path, report: &serde_json::Map<String, Value>) -> Result<()> {
    let path = out.join("gpu-acceptance.json");
    let text = serde_json::to_string_pretty(&Value::Object(report.clone()))?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut report = serde_json::Map::new();
    let mut failures = Vec::new();
    let target = Target::new(&args);
    let probe = target.device(Matmul::Fp32)?;
    println!("device: {}", probe.describe());
    report.insert("device".into(), json!(probe.describe()));
    report.insert("dry_run_on_cpu".into(), json!(args.dry_run_on_cpu));
    drop(probe);

    // 1. Kernel parity.
    let mut gpu = target.device(Matmul::Fp32)?;
    let on_gpu = parity::run_all(gpu.as_mut())?;
    let on_cpu = parity::run_all(&mut CpuDevice::new())?;
    println!("\n1. kernels, GPU against the CPU execution of the same source (worst |Δ| / max(1, |cpu|))");
    let mut rows = Vec::new();
    for ((name, g), (_, c)) in on_gpu.iter().zip(&on_cpu) {
        let e = parity::worst(g, c);
        let ok = e <= 1e-5;
        println!("  {:<58} {e:9.2e}  {}", name, if ok { "ok" } else { "OVER 1e-5" });
        if !ok {
            failures.push(format!("parity: {name} {e:.2e}"));
        }
        rows.push(json!({ "output": name, "worst_scaled_error": e }));
    }
    report.insert("kernel_parity".into(), Value::Array(rows));
    save(&args.out, &report)?;
    drop(gpu);

    // 2. Graph replay against eager execution, bit for bit.
    let (c, rows) = (target.cfg(16, 16), target.batch / 2);
    let model = Model::init(&c, 3)?;
    let adam = AdamConfig::default();
    let mut eager = DeviceStep::new(target.device(Matmul::Fp32)?, model.clone(), adam, rows, Mode::Eager)?;
    let mut graph = DeviceStep::new(target.device(Matmul::Fp32)?, model.clone(), adam, rows, Mode::Graph)?;
    for s in 0..3 {
        let b = Batch::random(&c, rows, 50 + s);
        eager.step(&b.view())?;
        graph.step(&b.view())?;
    }
    let (pe, pg) = (eager.model()?.params.clone(), graph.model()?.params.clone());
    let differing = pe.iter().zip(&pg).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
    println!(
        "\n2. graph replay against eager, depth 16, batch 256, 3 steps: {differing} of {} parameters differ",
        pe.len()
    );
    if differing > 0 {
        failures.push(format!("graph vs eager: {differing} parameters differ"));
    }
    report.insert("graph_equals_eager".into(), json!({ "parameters": pe.len(), "differing": differing }));
    save(&args.out, &report)?;
    drop((eager, graph));

    // 3. One update step against the fused CPU path.
    let (depth, rows) = (target.parity_depth, target.batch);
    let c = target.cfg(depth, depth);
    let model = Model::init(&c, 5)?;
    let b = Batch::random(&c, rows, 9);
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut fast = FastTrainer::new(model.clone(), adam, threads)?;
    let want = fast.step(&b.view())?;
    let mut step_rows = Vec::new();
    println!(
        "\n3. one update, depth {depth}, batch {rows}, against the fused CPU path (worst per-tensor gradient error)"
    );
    for (label, m) in [("fp32", Matmul::Fp32), ("tf32", Matmul::Tf32)] {
        let mut dev = DeviceStep::new(target.device(m)?, model.clone(), adam, rows, Mode::Graph)?;
        let got = dev.step(&b.view())?;
        let (err, name) = worst_tensor(&model, &dev.grads()?, &fast.grads);
        let loss = f64::from((got.critic_loss - want.critic_loss).abs() / want.critic_loss.abs().max(1e-3));
        println!("  {label}: gradients {err:.2e} (in {name}), critic loss {loss:.2e}");
        if label == "fp32" && err > 1e-3 {
            failures.push(format!("step parity fp32: {err:.2e} in {name}"));
        }
        step_rows
            .push(json!({ "matmul": label, "worst_gradient_error": err, "tensor": name, "critic_loss_error": loss }));
    }
    report.insert("step_parity".into(), Value::Array(step_rows));
    save(&args.out, &report)?;

    // 4. Speed, memory, launches.
    println!(
        "\n4. SGD steps at batch {}, width {} ({} timed steps after 3 warm-ups)",
        target.batch, target.width, args.bench_steps
    );
    println!(
        "  {:>6} {:>6} {:>5} {:>6} {:>10} {:>10} {:>9} {:>12}",
        "depth", "actor", "mm", "mode", "ms/step", "steps/s", "launches", "memory MiB"
    );
    let mut bench = Vec::new();
    for &(depth, actor) in &target.bench {
        let c = target.cfg(depth, actor);
        let model = Model::init(&c, 1)?;
        let batches: Vec<Batch> = (0..4).map(|s| Batch::random(&c, target.batch, 100 + s)).collect();
        for (label, m) in [("fp32", Matmul::Fp32), ("tf32", Matmul::Tf32)] {
            for mode in [Mode::Graph, Mode::Eager] {
                let mut step = DeviceStep::new(target.device(m)?, model.clone(), adam, target.batch, mode)?;
                for b in batches.iter().take(3) {
                    step.step(&b.view())?;
                }
                step.dev.synchronize()?;
                let memory = step.dev.memory_used().unwrap_or(0) as f64 / (1 << 20) as f64;
                let t = Instant::now();
                for i in 0..args.bench_steps {
                    step.step(&batches[i % batches.len()].view())?;
                }
                step.dev.synchronize()?;
                let ms = t.elapsed().as_secs_f64() * 1e3 / args.bench_steps as f64;
                let mode_s = if mode == Mode::Graph { "graph" } else { "eager" };
                println!(
                    "  {depth:>6} {actor:>6} {label:>5} {mode_s:>6} {ms:>10.3} {:>10.1} {:>9} {memory:>12.0}",
                    1e3 / ms,
                    step.launches_per_step
                );
                bench.push(json!({ "depth": depth, "actor_depth": actor, "matmul": label, "mode": mode_s, "ms_per_step": ms,
                    "steps_per_s": 1e3 / ms, "launches_per_step": step.launches_per_step, "device_memory_mib": memory }));
                report.insert("bench".into(), Value::Array(bench.clone()));
                save(&args.out, &report)?;
            }
        }
    }
    report.insert("bench".into(), Value::Array(bench));

    // 5. A short training run on the GPU.
    if !args.no_train {
        let run = args.out.join("u-maze");
        let _ = std::fs::remove_dir_all(&run);
        let tc = match target.gpu {
            Some(n) => TrainConfig {
                device: format!("cuda:{n}"),
                backend: Backend::Kernels,
                total_env_steps: args.train_steps,
                ..TrainConfig::default()
            },
            // A tiny run that cannot learn the maze: it checks the plumbing, not the threshold.
            None => TrainConfig { backend: Backend::Kernels, ..TrainConfig::tiny(800) },
        };
        let t = Instant::now();
        let summary = train::run::train(&tc, &run, false, ())?;
        let m = &summary.final_metrics;
        let wall = t.elapsed().as_secs_f64();
        println!(
            "\n5. train --device {} on point_u_maze, {} env steps: success {:.3}, {:.0} s",
            tc.device, m.env_steps, m.success_rate, wall
        );
        if m.success_rate < 0.9 && target.gpu.is_some() {
            failures.push(format!("training reached success {:.3} < 0.9", m.success_rate));
        }
        report.insert(
            "train".into(),
            json!({ "env_steps": m.env_steps, "sgd_steps": m.sgd_steps, "success": m.success_rate, "wall_s": wall }),
        );
    }

    // 6. The data-parallel step at one rank.
    match one_rank::run(&target)? {
        Some((differing, parameters)) => {
            let over = if target.gpu.is_some() { "NCCL, in the graph" } else { "host copies, eager" };
            println!(
                "\n6. data-parallel step at one rank ({over}) against the plain step, depth 16, 3 steps: {differing} \
                 of {parameters} parameters differ"
            );
            if differing > 0 {
                failures.push(format!("one-rank data-parallel step: {differing} parameters differ"));
            }
            report.insert("one_rank".into(), json!({ "parameters": parameters, "differing": differing, "over": over }));
        }
        None => {
            println!("\n6. data-parallel step at one rank: skipped (built without --features nccl)");
            report.insert("one_rank".into(), json!("skipped: built without --features nccl"));
        }
    }

    report.insert("failures".into(), json!(failures));
    save(&args.out, &report)?;
    println!("\nwrote {}", args.out.join("gpu-acceptance.json").display());
    if !failures.is_empty() {
        bail!("{} check(s) failed:\n  {}", failures.len(), failures.join("\n  "));
    }
    println!("all checks passed");
    Ok(())
}
