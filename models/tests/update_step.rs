//! One update does what the losses promise: the critic loss falls on a fixed batch, and α moves
//! toward the target entropy.

mod common;

use common::{perturbed_model, OwnedBatch};
use models::fast::FastTrainer;
use models::reference::target_entropy;
use models::{AdamConfig, ModelConfig};

#[test]
fn one_sgd_step_lowers_the_critic_loss_on_a_fixed_batch() {
    let cfg = ModelConfig::point_maze(4).with_width(64);
    let data = OwnedBatch::random(&cfg, 64, 21);
    for seed in 0..3 {
        let mut t = FastTrainer::new(perturbed_model(&cfg, seed), AdamConfig::default(), 1).unwrap();
        let before = t.step(&data.view()).unwrap().critic_loss; // stats are taken before the update
        let after = t.compute_grads(&data.view()).unwrap().critic_loss;
        assert!(after < before, "seed {seed}: critic loss {before} -> {after}");
    }
}

#[test]
fn alpha_moves_toward_the_target_entropy() {
    let cfg = ModelConfig::point_maze(4).with_width(32);
    let target = target_entropy(cfg.action_dim) as f32;
    let mut moved_up = false;
    let mut moved_down = false;
    // With zero head weights the pre-tanh Gaussian is N(mean bias, exp(log_std)) for every input.
    // A raw log-std bias of −4 gives log_std ≈ −5 (narrow: entropy far below target); 0.46 gives
    // log_std ≈ 0 (x ~ N(0, 1): entropy ≈ 1.1, above the target −1). Much wider policies saturate
    // the tanh and lose entropy again.
    for (seed, log_std_bias) in [(0u64, -4.0f32), (1, 0.46), (2, -4.0), (3, 0.46)] {
        let mut model = perturbed_model(&cfg, seed);
        for (name, value) in [
            ("actor.mean.weight", 0.0),
            ("actor.mean.bias", 0.0),
            ("actor.log_std.weight", 0.0),
            ("actor.log_std.bias", log_std_bias),
        ] {
            let spec = model.layout.spec(name).unwrap().clone();
            model.params[spec.range()].fill(value);
        }
        let la = model.layout.log_alpha.unwrap();
        let mut t = FastTrainer::new(model, AdamConfig::default(), 1).unwrap();
        let before = t.model.params[la];
        let stats = t.step(&OwnedBatch::random(&cfg, 64, 30 + seed).view()).unwrap();
        let after = t.model.params[la];
        let gap = stats.entropy - target;
        eprintln!("seed {seed} bias {log_std_bias}: entropy {} alpha {before} -> {after}", stats.entropy);
        assert!(gap.abs() > 0.05, "seed {seed}: entropy {} too close to target {target} to test", stats.entropy);
        // α loss = α·mean(−log π − target): entropy above target pushes α down, below pushes it up.
        assert_eq!(
            (after - before).signum(),
            -gap.signum(),
            "seed {seed}: entropy {}, α {before} -> {after}",
            stats.entropy
        );
        moved_up |= after > before;
        moved_down |= after < before;
    }
    assert!(moved_up && moved_down, "the test should see α move both ways");
}
