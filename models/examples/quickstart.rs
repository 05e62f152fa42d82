//! A tour of the `models` crate until the `train` stage lands: build a depth-16 CRL model, run a
//! few fast update steps on synthetic batches, save and reload the checkpoint, export the actor to
//! ONNX and act at batch 1 through the serving path.
//!
//! `cargo run --release -p models --example quickstart -- [--depth 16] [--steps 20] [--out runs/quickstart]`
//!
//! The batches are random (there is no environment in this crate), so the losses show the update
//! running, not an agent learning.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use models::fast::FastTrainer;
use models::infer::ActorInfer;
use models::{checkpoint, onnx, AdamConfig, CrlBatch, Model, ModelConfig};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// A tour of the models crate: build, update, save, reload, export, act.
#[derive(Parser)]
struct Args {
    /// Linear layers per trunk (a multiple of 4).
    #[arg(long, default_value_t = 16)]
    depth: usize,
    /// Update steps on synthetic batches.
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Where the checkpoint and ONNX file go.
    #[arg(long, default_value = "runs/quickstart")]
    out: PathBuf,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let cfg = ModelConfig::point_maze(args.depth);
    let model = Model::init(&cfg, 0)?;
    println!("model: depth {} width {} — {} parameters", cfg.actor_depth, cfg.width, model.num_params());

    let mut trainer = FastTrainer::new(model, AdamConfig::default(), 2)?;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let b = 256;
    let mut uniform = |n: usize, r: f32| (0..n).map(|_| rng.random_range(-r..r)).collect::<Vec<f32>>();
    let (states, actions, goals) = (uniform(b * 4, 3.0), uniform(b * 2, 1.0), uniform(b * 2, 3.0));
    let mut noise_rng = ChaCha8Rng::seed_from_u64(1);
    let mut times = Vec::new();
    for step in 0..args.steps {
        let noise: Vec<f32> = (0..b * 2).map(|_| noise_rng.sample(StandardNormal)).collect();
        let batch = CrlBatch { states: &states, actions: &actions, goals: &goals, noise: &noise };
        let t = Instant::now();
        let stats = trainer.step(&batch)?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        if step % 5 == 0 || step + 1 == args.steps {
            println!(
                "step {step:>3}: critic loss {:.4}  actor loss {:.4}  alpha {:.4}  {:.1} ms",
                stats.critic_loss, stats.actor_loss, stats.alpha, times[step]
            );
        }
    }
    times.sort_by(f64::total_cmp);
    println!("median update: {:.1} ms (batch {b}, 2 threads)", times[times.len() / 2]);

    let ckpt = args.out.join("teacher.safetensors");
    checkpoint::save(&trainer.model, &ckpt)?;
    let loaded = checkpoint::load(&ckpt)?;
    let exact = loaded.params.iter().zip(&trainer.model.params).all(|(a, b)| a.to_bits() == b.to_bits());
    println!("checkpoint: {} (reloads bit-exact: {exact})", ckpt.display());

    let onnx_path = args.out.join("actor.onnx");
    onnx::export_actor(&loaded, &onnx_path)?;
    println!("onnx: {}", onnx_path.display());

    let mut actor = ActorInfer::new(&loaded);
    let t = Instant::now();
    let reps = 1000;
    let mut action = [0f32; 2];
    for _ in 0..reps {
        action.copy_from_slice(actor.act(&[0.0, 0.0, 0.0, 0.0], &[4.0, 4.0])?);
    }
    let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
    println!("batch-1 action {:?} in {us:.1} µs", action);
    Ok(())
}
