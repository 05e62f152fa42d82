//! The actor probe (issue 26) reports what the update computed, split the way it claims.

mod common;

use common::{perturbed_model, OwnedBatch};
use models::fast::heads::ActorSample;
use models::fast::FastTrainer;
use models::numerics::{LOG_STD_MAX, LOG_STD_MIN};
use models::{AdamConfig, ModelConfig, ResidualInit};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn trainer(lr: f32) -> (FastTrainer, OwnedBatch, ModelConfig) {
    let cfg = ModelConfig::point_maze(8).with_width(32);
    let model = perturbed_model(&cfg, 3);
    let data = OwnedBatch::random(&cfg, 24, 5);
    (FastTrainer::new(model, AdamConfig { lr, ..AdamConfig::default() }, 1).unwrap(), data, cfg)
}

#[test]
fn log_std_terms_add_up_to_the_backward_gradient() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let (rows, a) = (16, 3);
    let mut v = |lo: f32, hi: f32| (0..rows * a).map(|_| rng.random_range(lo..hi)).collect::<Vec<f32>>();
    // Means and pre-activations reach the saturated ends on purpose.
    let (mean, raw, noise, d_action) = (v(-4.0, 4.0), v(-4.0, 4.0), v(-2.0, 2.0), v(-1.0, 1.0));
    let d_log_prob: Vec<f32> = (0..rows).map(|r| 0.1 + 0.05 * r as f32).collect();
    let mut s = ActorSample::default();
    s.compute(&mean, &raw, &noise, a);
    let (mut d_mean, mut d_raw) = (vec![0.0; rows * a], vec![0.0; rows * a]);
    s.backward(&d_action, &d_log_prob, &noise, a, &mut d_mean, &mut d_raw);
    let half_range = 0.5 * (LOG_STD_MAX - LOG_STD_MIN) as f32;
    for k in 0..rows * a {
        let (q, ent) = s.d_log_std_terms(k, &d_action, d_log_prob[k / a], noise[k]);
        let want = d_raw[k];
        let got = (q + ent) * half_range * (1.0 - s.t[k] * s.t[k]);
        assert!((got - want).abs() <= 1e-6 * want.abs().max(1.0), "entry {k}: terms give {got}, backward {want}");
    }
}

#[test]
fn probe_parts_match_the_step() {
    let (mut t, data, cfg) = trainer(1e-3);
    t.step(&data.view()).unwrap();
    let p = t.probe_actor(&data.view()).unwrap();
    let blocks = cfg.actor_depth / 4;
    assert_eq!(p.stream_rms.len(), blocks + 1);
    assert_eq!(p.grad_blocks.len(), blocks);
    assert!(p.stream_rms.iter().all(|r| r.is_finite() && *r > 0.0), "{:?}", p.stream_rms);
    // The actor's gradient is its input layer, its blocks and its two heads, nothing else.
    let parts = p.grad_input.powi(2)
        + p.grad_blocks.iter().map(|g| g.powi(2)).sum::<f32>()
        + p.grad_mean_head.powi(2)
        + p.grad_log_std_head.powi(2);
    let total = p.grad_total.powi(2);
    assert!((parts - total).abs() <= 1e-4 * total, "parts {parts} vs total {total}");
    assert!(p.log_std_min <= p.log_std_mean && p.log_std_mean <= p.log_std_max);
    assert!(p.log_std_min >= LOG_STD_MIN as f32 && p.log_std_max <= LOG_STD_MAX as f32);
    assert!((0.0..=1.0).contains(&p.log_std_saturated) && (0.0..=1.0).contains(&p.log_std_slope));
    assert!(p.step_raw_change > 0.0 && p.step_stream_change > 0.0, "{p:?}");
}

#[test]
fn an_update_that_changes_nothing_shows_no_change() {
    let (mut t, data, _) = trainer(0.0);
    t.step(&data.view()).unwrap();
    let p = t.probe_actor(&data.view()).unwrap();
    assert!(p.step_raw_change < 1e-6 && p.step_stream_change < 1e-6, "{p:?}");
}

#[test]
fn a_batch_of_other_rows_is_refused() {
    let (mut t, data, cfg) = trainer(1e-3);
    t.step(&data.view()).unwrap();
    let other = OwnedBatch::random(&cfg, 8, 9);
    let err = t.probe_actor(&other.view()).unwrap_err().to_string();
    assert!(err.contains("24 rows") && err.contains("8"), "{err}");
}

/// The first Adam step of every parameter is ±lr (m̂/√v̂ = g/|g|), so the change it makes to the log σ
/// head's pre-activation adds up over every parameter on the way to the head: the deeper the
/// actor, the bigger one step is. Printed for the record; the assertion is the growth.
#[test]
fn the_first_adam_step_moves_log_std_further_the_deeper_the_actor() {
    let mut moved = Vec::new();
    for depth in [4, 16, 64] {
        let cfg = ModelConfig::point_maze(depth).with_width(32);
        let model = models::Model::init(&cfg, 3).unwrap();
        let data = OwnedBatch::random(&cfg, 32, 5);
        let mut t = FastTrainer::new(model, AdamConfig::default(), 1).unwrap();
        t.step(&data.view()).unwrap();
        let p = t.probe_actor(&data.view()).unwrap();
        eprintln!(
            "depth {depth}: first step moved raw log σ by {:.4} RMS, heads' input RMS {:.3}",
            p.step_raw_change,
            p.stream_rms.last().unwrap()
        );
        moved.push(p.step_raw_change);
    }
    assert!(moved.windows(2).all(|w| w[1] > w[0]), "{moved:?}");
}

/// Past |x| ≈ 9, 1 − tanh(x)² is exactly 0 in f32: a log σ head pushed that far gets no gradient
/// at all, however hard the entropy term pulls, so nothing brings it back.
#[test]
fn a_log_std_head_pushed_far_enough_gets_exactly_no_gradient() {
    let (a, noise, d_action, dlp) = (1, [0.7f32], [0.3f32], [1.0f32]);
    for (raw, flows) in [(2.0f32, true), (10.0, false), (-10.0, false)] {
        let mut s = ActorSample::default();
        s.compute(&[0.1], &[raw], &noise, a);
        let (mut d_mean, mut d_raw) = ([0.0], [0.0]);
        s.backward(&d_action, &dlp, &noise, a, &mut d_mean, &mut d_raw);
        let (q, ent) = s.d_log_std_terms(0, &d_action, dlp[0], noise[0]);
        assert!(q + ent != 0.0, "raw {raw}: the loss does depend on log σ");
        assert_eq!(d_raw[0] != 0.0, flows, "raw {raw}: d raw = {}", d_raw[0]);
    }
}

/// The probe of `model`'s actor at initialisation (a step at lr 0 changes nothing), and after one
/// Adam step at the default lr with `adam`'s warm-up.
fn init_and_first_step(model: models::Model, warmup_steps: u64) -> (models::fast::probe::ActorProbe, f32) {
    let data = OwnedBatch::random(&model.cfg, 32, 5);
    let mut still = FastTrainer::new(model.clone(), AdamConfig { lr: 0.0, ..AdamConfig::default() }, 1).unwrap();
    still.step(&data.view()).unwrap();
    let at_init = still.probe_actor(&data.view()).unwrap();
    let mut t = FastTrainer::new(model, AdamConfig { warmup_steps, ..AdamConfig::default() }, 1).unwrap();
    t.step(&data.view()).unwrap();
    (at_init, t.probe_actor(&data.view()).unwrap().step_raw_change)
}

/// Issue 26's residual-branch scale: with γ = 0 in every block's last LayerNorm each block adds
/// exactly SiLU(0) = 0, so the stream reaches the heads as the input layer left it, at any depth;
/// the other weights are the standard initialisation's, draw for draw.
#[test]
fn zero_residual_blocks_start_as_the_identity() {
    let cfg = ModelConfig::point_maze(64).with_width(32);
    let (standard, zero) =
        (models::Model::init(&cfg, 3).unwrap(), models::Model::init_with(&cfg, 3, ResidualInit::Zero).unwrap());
    let differ: Vec<&str> = standard
        .layout
        .specs
        .iter()
        .filter(|s| standard.params[s.range()] != zero.params[s.range()])
        .map(|s| s.name.as_str())
        .collect();
    // 16 blocks in each of the three trunks, one LayerNorm scale each.
    assert_eq!(differ.len(), 3 * 16, "{differ:?}");
    assert!(differ.iter().all(|n| n.contains(".3.norm.weight")), "{differ:?}");
    let (p, _) = init_and_first_step(zero, 0);
    assert!(p.stream_rms.iter().all(|&r| r == p.stream_rms[0]), "{:?}", p.stream_rms);
}

/// The residual stream entering the heads grows with depth under the standard initialisation and
/// does not under γ = 1/√blocks; and the first Adam step, which moves a standard depth-64 actor's
/// log σ pre-activation most (see above), moves it far less from identity blocks or with a warm-up
/// of 100 steps (whose first step is lr/100). Printed for the record.
#[test]
fn scaled_or_zero_residual_blocks_and_a_warm_up_tame_depth_at_the_start() {
    let at = |depth: usize, init: ResidualInit, warmup: u64| {
        let cfg = ModelConfig::point_maze(depth).with_width(32);
        let (p, moved) = init_and_first_step(models::Model::init_with(&cfg, 3, init).unwrap(), warmup);
        let rms = *p.stream_rms.last().unwrap();
        eprintln!("depth {depth}, {init:?}, warm-up {warmup}: heads' input RMS {rms:.3}, first step moved raw log σ {moved:.4}");
        (rms, moved)
    };
    let (std4, std64) = (at(4, ResidualInit::Standard, 0), at(64, ResidualInit::Standard, 0));
    let (inv4, inv64) = (at(4, ResidualInit::InvSqrtBlocks, 0), at(64, ResidualInit::InvSqrtBlocks, 0));
    assert!(std64.0 > 2.0 * std4.0, "standard: {std4:?} → {std64:?}");
    assert!(inv64.0 < 1.5 * inv4.0, "1/√blocks: {inv4:?} → {inv64:?}");
    let zero64 = at(64, ResidualInit::Zero, 0);
    let warm64 = at(64, ResidualInit::Standard, 100);
    assert!(zero64.1 < std64.1 / 4.0, "zero {zero64:?} against standard {std64:?}");
    assert!(warm64.1 < std64.1 / 20.0, "warm-up {warm64:?} against standard {std64:?}");
}
