//! The serving path gives the training path's actions.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{perturbed_model, OwnedBatch};
use models::infer::ActorInfer;
use models::reference::CandleModel;
use models::ModelConfig;

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max)
}

#[test]
fn inference_matches_candle_actor_batch_1_and_batch_16() {
    // The last: with the norm before the heads (issue 26).
    for (depth, width, head_norm) in [(8, 256, false), (16, 64, false), (8, 32, true)] {
        let cfg = ModelConfig { head_norm, ..ModelConfig::point_maze(depth).with_width(width) };
        let model = perturbed_model(&cfg, 5);
        let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
        let mut actor = ActorInfer::new(&model);
        for batch in [1usize, 16] {
            let data = OwnedBatch::random(&cfg, batch.max(2), 9);
            let (s, g) = (&data.states[..batch * 4], &data.goals[..batch * 2]);
            let obs = Tensor::cat(
                &[
                    Tensor::from_slice(s, (batch, 4), &Device::Cpu).unwrap(),
                    Tensor::from_slice(g, (batch, 2), &Device::Cpu).unwrap(),
                ],
                1,
            )
            .unwrap();
            let (mean, log_std) = net.actor(&obs).unwrap();
            let mean = mean.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let log_std = log_std.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let action: Vec<f32> = mean.iter().map(|m| m.tanh()).collect();
            let got = actor.act_batch(s, g, batch).unwrap().to_vec();
            assert!(max_diff(&got, &action) <= 1e-5, "depth {depth} batch {batch}: action");
            let (m, l) = actor.distribution(s, g, batch).unwrap();
            assert!(max_diff(m, &mean) <= 1e-5, "depth {depth} batch {batch}: mean");
            assert!(max_diff(l, &log_std) <= 1e-5, "depth {depth} batch {batch}: log_std");
        }
    }
}

#[test]
fn inference_rejects_bad_input() {
    let model = models::Model::init(&ModelConfig::point_maze(4).with_width(16), 0).unwrap();
    let mut actor = ActorInfer::new(&model);
    let err = actor.act(&[0.0; 3], &[0.0; 2]).unwrap_err().to_string();
    assert!(err.contains("state has 3 values, expected 1 × 4"), "{err}");
    let err = actor.act(&[0.0, f32::NAN, 0.0, 0.0], &[0.0; 2]).unwrap_err().to_string();
    assert!(err.contains("state[1] is NaN"), "{err}");
    let err = actor.act(&[0.0; 4], &[f32::INFINITY, 0.0]).unwrap_err().to_string();
    assert!(err.contains("goal[0] is inf"), "{err}");
}

#[test]
fn observation_rows_give_the_same_actions_as_separate_states_and_goals() {
    let cfg = ModelConfig::point_maze(8).with_width(32);
    let model = perturbed_model(&cfg, 2);
    let mut actor = ActorInfer::new(&model);
    let data = OwnedBatch::random(&cfg, 5, 3);
    let obs: Vec<f32> =
        (0..5).flat_map(|i| [&data.states[i * 4..i * 4 + 4], &data.goals[i * 2..i * 2 + 2]].concat()).collect();
    let split = actor.act_batch(&data.states, &data.goals, 5).unwrap().to_vec();
    assert_eq!(actor.act_obs(&obs, 5).unwrap(), split.as_slice());
    let e = actor.act_obs(&obs[..29], 5).unwrap_err().to_string();
    assert!(e.contains("observation has 29 values, expected 5 × 6"), "{e}");
}

/// Half-precision weights keep the deterministic action within 1e-2 of f32 (the serving contract
/// `--weight-precision` documents), on the batch-1 path and on the widened-gemm path of larger batches.
#[test]
fn half_precision_weights_stay_within_1e_2_of_f32() {
    use models::infer::WeightPrecision;
    let cfg = ModelConfig { critic_depth: 0, ..ModelConfig::point_maze(64).with_width(256) };
    let model = perturbed_model(&cfg, 4);
    let data = OwnedBatch::random(&cfg, 16, 6);
    let mut exact = ActorInfer::new(&model);
    for batch in [1usize, 16] {
        let (s, g) = (&data.states[..batch * 4], &data.goals[..batch * 2]);
        let want = exact.act_batch(s, g, batch).unwrap().to_vec();
        for p in [WeightPrecision::Bf16, WeightPrecision::F16] {
            let mut half = ActorInfer::with_precision(&model, p);
            assert_eq!(half.precision(), p);
            let got = half.act_batch(s, g, batch).unwrap().to_vec();
            let err = max_diff(&got, &want);
            // The rounding must actually change something, or this test checks nothing.
            assert!(err > 0.0 && err <= 1e-2, "{p} batch {batch}: max |Δaction| {err:e}");
        }
    }
    assert_eq!("BF16".parse::<WeightPrecision>().unwrap(), WeightPrecision::Bf16);
    assert!("f8".parse::<WeightPrecision>().unwrap_err().contains("f32, bf16 or f16"));
}
