//! Batch-1 latency of the deterministic actor (the controller's path) on one thread: our
//! `ActorInfer` in f32 and with half-precision weights, against the same actor exported to ONNX and
//! run by `tract`. Prints one JSON line per (depth, engine) and a table.
//!
//! `cargo run --release -p models --example bench_infer -- --width 256 --depths 8,64`
//!
//! Each figure is the median of `--iters` calls after a warm-up, with the observation varied per
//! call so no engine can answer from a cache. Pin the process to one core for the "one core"
//! figures: `taskset -c 0 target/release/examples/bench_infer`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use models::infer::{ActorInfer, WeightPrecision};
use models::onnx::actor_to_onnx;
use models::timing::time_calls;
use models::{Model, ModelConfig};
use tract_onnx::prelude::*;

/// One way of acting: observation index → action.
type Engine = Box<dyn FnMut(usize) -> Result<Vec<f32>>>;

/// Batch-1 latency of the deterministic actor: ours in f32 / bf16 / f16 against tract.
#[derive(Parser)]
struct Args {
    /// Width of the fresh actors.
    #[arg(long, default_value_t = 256)]
    width: usize,
    /// Depths of the fresh actors, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    depths: Vec<usize>,
    /// Timed calls per engine (after a tenth as many warm-up calls).
    #[arg(long, default_value_t = 2000)]
    iters: usize,
    /// Skip the tract engine.
    #[arg(long)]
    no_tract: bool,
    /// Time a trained actor instead of fresh ones (its depth and width).
    #[arg(long)]
    checkpoint: Option<PathBuf>,
}

/// Median and p99 in µs of `iters` calls of `run(i)`, after `iters / 10 + 1` warm-up calls.
fn time(iters: usize, run: &mut Engine) -> Result<(f64, f64)> {
    let t = time_calls(iters / 10 + 1, iters, |i| run(i).map(std::hint::black_box).map(|_| ()))?;
    Ok((t.median() * 1e6, t.quantile(0.99) * 1e6))
}

fn obs(i: usize) -> ([f32; 4], [f32; 2]) {
    let x = (i % 97) as f32 * 0.01;
    ([x, -x, 0.1, 0.0], [4.0 - x, 4.0])
}

fn main() -> Result<()> {
    let a = Args::parse();
    let mut rows = Vec::new();
    let models: Vec<Model> = match &a.checkpoint {
        Some(path) => vec![models::checkpoint::load(path).with_context(|| format!("loading {}", path.display()))?],
        None => a
            .depths
            .iter()
            .map(|&d| {
                Model::init(&ModelConfig { critic_depth: 0, ..ModelConfig::point_maze(d).with_width(a.width) }, 0)
            })
            .collect::<Result<_, _>>()?,
    };
    for model in models {
        let cfg = model.cfg.clone();
        let (depth, width) = (cfg.actor_depth, cfg.width);
        let flop = 2.0 * (cfg.state_dim + cfg.goal_dim + depth * width + 2 * cfg.action_dim) as f64 * width as f64;
        let mut f32_actor = ActorInfer::new(&model);
        let reference: Vec<Vec<f32>> = (0..97)
            .map(|i| {
                let (s, g) = obs(i);
                f32_actor.act(&s, &g).map(|x| x.to_vec())
            })
            .collect::<Result<_, _>>()?;
        let mut engines: Vec<(&str, Engine)> = Vec::new();
        for (name, p) in [
            ("ours_f32", WeightPrecision::F32),
            ("ours_bf16", WeightPrecision::Bf16),
            ("ours_f16", WeightPrecision::F16),
        ] {
            let mut actor = ActorInfer::with_precision(&model, p);
            engines.push((
                name,
                Box::new(move |i| {
                    let (s, g) = obs(i);
                    Ok(actor.act(&s, &g)?.to_vec())
                }),
            ));
        }
        if !a.no_tract {
            let bytes = actor_to_onnx(&model)?;
            let plan = tract_onnx::onnx()
                .model_for_read(&mut bytes.as_slice())?
                .with_input_fact(0, f32::fact([1, cfg.state_dim]).into())?
                .with_input_fact(1, f32::fact([1, cfg.goal_dim]).into())?
                .into_optimized()?
                .into_runnable()?;
            engines.push((
                "tract",
                Box::new(move |i| {
                    let (s, g) = obs(i);
                    let st = Tensor::from_shape(&[1, s.len()], &s)?;
                    let gt = Tensor::from_shape(&[1, g.len()], &g)?;
                    let out = plan.run(tvec!(st.into(), gt.into()))?;
                    Ok(out[0].to_plain_array_view::<f32>()?.iter().copied().collect())
                }),
            ));
        }
        for (name, mut run) in engines {
            let mut err = 0f32;
            for (i, want) in reference.iter().enumerate() {
                let got = run(i)?;
                err = got.iter().zip(want).map(|(x, y)| (x - y).abs()).fold(err, f32::max);
            }
            let (p50, p99) = time(a.iters, &mut run)?;
            println!(
                "{{\"engine\":\"{name}\",\"depth\":{depth},\"width\":{width},\"batch\":1,\"us_p50\":{p50:.2},\"us_p99\":{p99:.2},\"gflops\":{:.1},\"max_abs_action_diff_vs_f32\":{err:.2e}}}",
                flop / p50 / 1e3
            );
            rows.push((depth, width, name, p50, p99, err));
        }
    }
    println!(
        "\n{:>6} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "depth", "width", "engine", "p50 µs", "p99 µs", "|Δa| vs f32"
    );
    for (d, w, n, p50, p99, e) in rows {
        println!("{d:>6} {w:>6} {n:>10} {p50:>10.1} {p99:>10.1} {e:>12.1e}");
    }
    Ok(())
}
