//! Surgery is exact where it should be: removing a block whose branch is zero changes nothing (bit for
//! bit), removing inner units nothing reads matches a forward of the unpruned model with LayerNorm
//! statistics over the kept units (within 1e-6), scores find what is unimportant, and pruned models
//! round-trip through checkpoints and load as students.

mod common;

use candle_core::{DType, Device, Tensor};
use common::{model, observations, write_run, zero_branch};
use distill::teacher::Teacher;
use models::config::TrunkKind;
use models::infer::ActorInfer;
use models::reference::{CandleModel, LN_EPS, LOG_STD_MAX, LOG_STD_MIN};
use models::Model;
use prune::score;
use prune::surgery::{drop_blocks, slice_inner_units, slice_stream, PerTrunk};

const ROWS: usize = 32;

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// (mean, log_std) of the serving path and of the candle reference, on the same observations.
fn outputs(m: &Model, obs: &[f32]) -> [Vec<f32>; 4] {
    let mut actor = ActorInfer::new(m);
    let (mean, log_std) = actor.distribution_obs(obs, ROWS).unwrap();
    let (mean, log_std) = (mean.to_vec(), log_std.to_vec());
    let net = CandleModel::from_model(m, &Device::Cpu, DType::F32).unwrap();
    let (cm, cl) = net.actor(&Tensor::from_slice(obs, (ROWS, 6), &Device::Cpu).unwrap()).unwrap();
    let flat = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    [mean, log_std, flat(cm), flat(cl)]
}

#[test]
fn removing_a_zero_branch_block_is_bit_exact() {
    let mut m = model(16, 16, 1);
    zero_branch(&mut m, "actor.trunk", 2);
    let pruned = drop_blocks(&m, &PerTrunk { actor: vec![2], ..PerTrunk::default() }).unwrap();
    assert_eq!(pruned.cfg.actor_depth, 12);
    let obs = observations(ROWS, 2);
    let (before, after) = (outputs(&m, &obs), outputs(&pruned, &obs));
    for (what, (b, a)) in
        ["ActorInfer mean", "ActorInfer log_std", "candle mean", "candle log_std"].iter().zip(before.iter().zip(&after))
    {
        assert_eq!(bits(b), bits(a), "{what} changed");
    }
    // Removing a block that does something is visible (the check above is not vacuous).
    let other = drop_blocks(&m, &PerTrunk { actor: vec![1], ..PerTrunk::default() }).unwrap();
    assert_ne!(bits(&outputs(&other, &obs)[0]), bits(&before[0]));
}

#[test]
fn a_zero_branch_block_scores_zero_and_goes_first() {
    let mut m = model(16, 16, 3);
    zero_branch(&mut m, "actor.trunk", 1);
    zero_branch(&mut m, "critic.g.trunk", 3);
    let net = CandleModel::from_model(&m, &Device::Cpu, DType::F32).unwrap();
    let obs = Tensor::from_slice(&observations(ROWS, 4), (ROWS, 6), &Device::Cpu).unwrap();
    let angular = score::angular_distances(&score::stream(&net, TrunkKind::Actor, &obs).unwrap()).unwrap();
    assert_eq!(angular[1], 0.0, "{angular:?}");
    assert!(angular.iter().enumerate().all(|(b, &a)| b == 1 || a > 1e-4), "{angular:?}");
    assert_eq!(score::ascending(&angular)[0], 1);
    let drop = score::drop_one(&net, &obs).unwrap();
    assert_eq!(drop[1], 0.0, "{drop:?}");
    assert_eq!(score::ascending(&drop)[0], 1);
    let goals = obs.narrow(1, 4, 2).unwrap().contiguous().unwrap();
    let g = score::angular_distances(&score::stream(&net, TrunkKind::CriticG, &goals).unwrap()).unwrap();
    assert_eq!(score::ascending(&g)[0], 3, "{g:?}");
}

/// Block `b`, layer `l`: the 8 of 16 units that nothing downstream reads (a different set each time).
fn dead_units(b: usize, l: usize) -> Vec<usize> {
    let mut v: Vec<usize> = (0..16).filter(|j| (j * 7 + b * 5 + l * 3) % 16 < 8).collect();
    v.sort_unstable();
    v
}

fn tensor<'a>(m: &'a Model, name: &str) -> &'a [f32] {
    m.tensor(name).unwrap_or_else(|| panic!("no tensor {name}"))
}

/// Linear → LayerNorm → SiLU in f64, with the LayerNorm's mean and variance taken over the units in
/// `kept` only (all units when `None`); units outside `kept` output 0.
fn layer(m: &Model, linear: &str, norm: &str, x: &[f64], kept: Option<&[usize]>) -> Vec<f64> {
    let (w, bias) = (tensor(m, &format!("{linear}.weight")), tensor(m, &format!("{linear}.bias")));
    let (g, beta) = (tensor(m, &format!("{norm}.weight")), tensor(m, &format!("{norm}.bias")));
    let n_out = bias.len();
    let z: Vec<f64> = (0..n_out)
        .map(|o| f64::from(bias[o]) + x.iter().zip(&w[o * x.len()..]).map(|(a, &b)| a * f64::from(b)).sum::<f64>())
        .collect();
    let all: Vec<usize> = (0..n_out).collect();
    let kept = kept.unwrap_or(&all);
    let mean = kept.iter().map(|&j| z[j]).sum::<f64>() / kept.len() as f64;
    let var = kept.iter().map(|&j| (z[j] - mean).powi(2)).sum::<f64>() / kept.len() as f64;
    let mut y = vec![0.0; n_out];
    for &j in kept {
        let v = f64::from(g[j]) * (z[j] - mean) / (var + LN_EPS).sqrt() + f64::from(beta[j]);
        y[j] = v / (1.0 + (-v).exp());
    }
    y
}

/// The unpruned actor's rows [mean, log_std] with each inner LayerNorm's statistics over `keep` only.
fn masked_actor(m: &Model, obs: &[f32], keep: Option<&[[Vec<usize>; 3]]>) -> Vec<f64> {
    let mut out = Vec::new();
    for row in obs.chunks(6) {
        let x: Vec<f64> = row.iter().map(|&v| f64::from(v)).collect();
        let mut h = layer(m, "actor.trunk.input", "actor.trunk.input_norm", &x, None);
        for b in 0..m.cfg.actor_depth / 4 {
            let mut a = h.clone();
            for l in 0..4 {
                let p = format!("actor.trunk.blocks.{b}.{l}");
                let kept = keep.filter(|_| l < 3).map(|k| k[b][l].as_slice());
                a = layer(m, &format!("{p}.linear"), &format!("{p}.norm"), &a, kept);
            }
            h.iter_mut().zip(&a).for_each(|(h, a)| *h += a);
        }
        for head in ["actor.mean", "actor.log_std"] {
            let (w, bias) = (tensor(m, &format!("{head}.weight")), tensor(m, &format!("{head}.bias")));
            for (o, &b) in bias.iter().enumerate() {
                let v = f64::from(b) + h.iter().zip(&w[o * h.len()..]).map(|(a, &w)| a * f64::from(w)).sum::<f64>();
                let half = 0.5 * (LOG_STD_MAX - LOG_STD_MIN);
                out.push(if head == "actor.mean" { v } else { LOG_STD_MIN + half * (v.tanh() + 1.0) });
            }
        }
    }
    out
}

/// Width pruning is not exact even when the removed units' outgoing weights are zero: each inner
/// LayerNorm normalises over all of its layer's units, so dropping units changes the mean and
/// variance the kept units are normalised by. What *is* exact is the pruned network against the
/// unpruned one with those statistics taken over the kept units only, which this test checks (to
/// 1e-6, the f32 rounding of the pruned network), and that the score removes the unread units first.
#[test]
fn width_pruning_matches_the_kept_unit_layernorm_reference() {
    let mut m = model(8, 16, 5);
    let blocks = 2;
    for b in 0..blocks {
        for l in 0..3 {
            let spec = m.layout.spec(&format!("actor.trunk.blocks.{b}.{}.linear.weight", l + 1)).unwrap().clone();
            let n_in = spec.shape[1];
            for j in dead_units(b, l) {
                for o in 0..spec.shape[0] {
                    m.params[spec.offset + o * n_in + j] = 0.0;
                }
            }
        }
    }
    let obs = observations(ROWS, 6);
    let net = CandleModel::from_model(&m, &Device::Cpu, DType::F32).unwrap();
    let scores =
        score::unit_scores(&net, TrunkKind::Actor, &Tensor::from_slice(&obs, (ROWS, 6), &Device::Cpu).unwrap())
            .unwrap();
    let keep: Vec<[Vec<usize>; 3]> = scores.iter().map(|s| s.clone().map(|l| score::keep_top(&l, 8))).collect();
    for b in 0..blocks {
        for l in 0..3 {
            let alive: Vec<usize> = (0..16).filter(|j| !dead_units(b, l).contains(j)).collect();
            assert_eq!(keep[b][l], alive, "block {b} layer {l}: the score must remove the unread units first");
            assert!(dead_units(b, l).iter().all(|&j| scores[b][l][j] == 0.0));
        }
    }
    let pruned = slice_inner_units(&m, TrunkKind::Actor, &keep).unwrap();
    assert_eq!(pruned.cfg.block_inner_widths(TrunkKind::Actor), vec![[8, 8, 8]; 2]);
    // The structural claim in f64 (the candle reference takes every width from the tensors), so that
    // f32 rounding cannot hide or fake a difference.
    let net = CandleModel::from_model(&pruned, &Device::Cpu, DType::F64).unwrap();
    let obs64 = Tensor::from_slice(&obs, (ROWS, 6), &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap();
    let (mean, log_std) = net.actor(&obs64).unwrap();
    let got: Vec<f64> = Tensor::cat(&[&mean, &log_std], 1).unwrap().flatten_all().unwrap().to_vec1().unwrap();
    let want = masked_actor(&m, &obs, Some(&keep));
    let max_err = |got: &[f64], want: &[f64]| got.iter().zip(want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
    let masked = max_err(&got, &want);
    eprintln!("pruned (f64) vs kept-unit LayerNorm reference: max error {masked:.2e}");
    assert!(masked <= 1e-6, "pruned vs kept-unit LayerNorm reference: max error {masked}");
    // The serving path (f32) gives the same actions.
    let mut actor = ActorInfer::new(&pruned);
    let actions: Vec<f64> = actor.act_obs(&obs, ROWS).unwrap().iter().map(|&a| f64::from(a)).collect();
    let want_actions: Vec<f64> = want.chunks(4).flat_map(|r| [r[0].tanh(), r[1].tanh()]).collect();
    let served = max_err(&actions, &want_actions);
    eprintln!("served actions (f32) vs the reference: max error {served:.2e}");
    assert!(served <= 1e-6, "served actions vs the reference: max error {served}");
    // The plain unpruned network differs: the LayerNorm statistics changed (the point of the masked reference).
    let plain = max_err(&got, &masked_actor(&m, &obs, None));
    assert!(plain > 1e-3, "pruned vs unpruned: max error {plain}");
}

#[test]
fn pruned_checkpoints_round_trip_and_load_as_students() {
    let dir = tempfile::tempdir().unwrap();
    let m = model(16, 16, 7);
    write_run(dir.path(), &m);
    let obs = Tensor::from_slice(&observations(ROWS, 8), (ROWS, 6), &Device::Cpu).unwrap();
    let net = CandleModel::from_model(&m, &Device::Cpu, DType::F32).unwrap();
    let scores = score::unit_scores(&net, TrunkKind::Actor, &obs).unwrap();
    let keep: Vec<[Vec<usize>; 3]> = scores.iter().map(|s| s.clone().map(|l| score::keep_top(&l, 5))).collect();
    let deep = drop_blocks(&m, &PerTrunk { actor: vec![0, 3], critic_sa: vec![1], critic_g: vec![2] }).unwrap();
    let wide = slice_inner_units(&m, TrunkKind::Actor, &keep).unwrap();
    let stream = (0..12).collect::<Vec<usize>>();
    let mut narrow = wide.clone();
    for t in [TrunkKind::CriticSa, TrunkKind::CriticG] {
        let first: Vec<usize> = (0..12).collect();
        narrow = slice_inner_units(&narrow, t, &vec![[first.clone(), first.clone(), first]; 4]).unwrap();
    }
    let narrow =
        slice_stream(&narrow, &PerTrunk { actor: stream.clone(), critic_sa: stream.clone(), critic_g: stream })
            .unwrap();
    assert_eq!(narrow.cfg.width, 12);
    // Critic layers now as wide as the stream are stored as uniform again.
    assert!(narrow.cfg.inner_widths.as_ref().is_some_and(|iw| iw.critic_sa.is_empty() && iw.actor.len() == 12));
    for (name, mut p) in [("deep", deep), ("wide", wide), ("narrow", narrow)] {
        p.cfg.parent = Some(dir.path().join("teacher.safetensors").display().to_string());
        let out = dir.path().join("pruned").join(name);
        models::checkpoint::save(&p, &out.join("student.safetensors")).unwrap();
        let back = models::checkpoint::load(&out.join("student.safetensors")).unwrap();
        assert_eq!(back.cfg, p.cfg, "{name}");
        assert_eq!(bits(&back.params), bits(&p.params), "{name}");
        let t = Teacher::load(&out).unwrap();
        assert_eq!(t.run_dir.as_deref(), Some(dir.path()), "{name} finds its run through its parent");
        assert_eq!(t.episode_length(), 50);
    }
}
