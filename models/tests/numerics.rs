//! Numerical checks of the CRL losses and their gradients against quantities that do not come from
//! either implementation: a critic loss worked out by hand, central finite differences in f64, a
//! closed parameter-count formula, and the fast path at the design's full depth of 1024.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use common::{assert_stats_close, perturbed_model, worst_tensor_error, OwnedBatch};
use models::candle_update::candle_grads;
use models::fast::heads::CriticLoss;
use models::fast::FastTrainer;
use models::reference::{self, CandleModel};
use models::{AdamConfig, Model, ModelConfig, ModelLayout};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------------
// 1. The critic loss on a 3×3 batch worked out by hand.
// ---------------------------------------------------------------------------------------------

/// φ and ψ with integer coordinates, so every distance is a simple root.
const PHI: [[f64; 2]; 3] = [[0.0, 0.0], [3.0, 4.0], [1.0, 0.0]];
const PSI: [[f64; 2]; 3] = [[0.0, 0.0], [0.0, 4.0], [1.0, 1.0]];

/// The loss of DESIGN.md section 3 in plain f64 arithmetic.
fn hand_critic_loss(phi: &[[f64; 2]], psi: &[[f64; 2]]) -> f64 {
    let n = phi.len();
    let logit = |i: usize, j: usize| {
        let (dx, dy) = (phi[i][0] - psi[j][0], phi[i][1] - psi[j][1]);
        -(dx * dx + dy * dy + 1e-6).sqrt()
    };
    let mut nce = 0.0;
    let mut penalty = 0.0;
    for i in 0..n {
        let lse = (0..n).map(|j| logit(i, j).exp()).sum::<f64>().ln();
        nce += -logit(i, i) + lse;
        penalty += lse * lse;
    }
    nce / n as f64 + 0.1 * penalty / n as f64
}

fn flat(rows: &[[f64; 2]]) -> Vec<f64> {
    rows.iter().flatten().copied().collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|x| *x as f32).collect()
}

/// Loss and (dL/dφ, dL/dψ) of `reference::critic_loss` in f64 through candle's autograd.
fn candle_critic_loss_and_grads(phi: &[f64], psi: &[f64], b: usize, dim: usize) -> (f64, Vec<f64>, Vec<f64>) {
    let dev = Device::Cpu;
    let phi = Var::from_tensor(&Tensor::from_slice(phi, (b, dim), &dev).unwrap()).unwrap();
    let psi = Var::from_tensor(&Tensor::from_slice(psi, (b, dim), &dev).unwrap()).unwrap();
    let loss = reference::critic_loss(phi.as_tensor(), psi.as_tensor()).unwrap();
    let grads = loss.backward().unwrap();
    let g = |v: &Var| grads.get(v.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    (loss.to_scalar::<f64>().unwrap(), g(&phi), g(&psi))
}

/// Loss and (dL/dφ, dL/dψ) of the fast path's `CriticLoss` (f32).
fn fast_critic_loss_and_grads(phi: &[f64], psi: &[f64], b: usize, dim: usize) -> (f32, Vec<f32>, Vec<f32>) {
    let (mut d_phi, mut d_psi) = (vec![0f32; b * dim], vec![0f32; b * dim]);
    let mut cl = CriticLoss::default();
    cl.compute(&to_f32(phi), &to_f32(psi), b, dim, &mut d_phi, &mut d_psi);
    (cl.loss, d_phi, d_psi)
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (*x as f64 - y).abs()).fold(0.0, f64::max)
}

#[test]
fn critic_loss_matches_hand_computed_3x3() {
    // Distances d_ij = ‖φ_i − ψ_j‖, logit_ij = −sqrt(d_ij² + 1e-6):
    //   row 0, φ = (0,0): d = 0, 4, √2   logits = −0.001, −4.000000125, −1.414213916
    //   row 1, φ = (3,4): d = 5, 3, √13  logits = −5.000000100, −3.000000167, −3.605551414
    //   row 2, φ = (1,0): d = 1, √17, 1  logits = −1.000000500, −4.123105747, −1.000000500
    // Σ_j exp(logit_ij) = 0.999000 + 0.018316 + 0.243117 = 1.260433  → lse_0 =  0.231455
    //                     0.006738 + 0.049787 + 0.027172 = 0.083697  → lse_1 = −2.480547
    //                     0.367879 + 0.016194 + 0.367879 = 0.751953  → lse_2 = −0.285082
    // lse_i − logit_ii = 0.232455, 0.519454, 0.714919 → mean 0.488942430
    // lse_i²           = 0.053571, 6.153111, 0.081272 → 0.1·mean 0.209598488
    // L = 0.488942430 + 0.209598488 = 0.698540918
    // The same loss from the distance table above alone (no φ or ψ): an independent check that
    // `hand_critic_loss` reads PHI and PSI as the table says.
    let d = [[0.0, 4.0, 2f64.sqrt()], [5.0, 3.0, 13f64.sqrt()], [1.0, 17f64.sqrt(), 1.0]];
    let logit = |x: f64| -(x * x + 1e-6).sqrt();
    let lse: Vec<f64> = d.iter().map(|row| row.iter().map(|&x| logit(x).exp()).sum::<f64>().ln()).collect();
    let from_table =
        (0..3).map(|i| lse[i] - logit(d[i][i])).sum::<f64>() / 3.0 + 0.1 * lse.iter().map(|l| l * l).sum::<f64>() / 3.0;
    let expected = hand_critic_loss(&PHI, &PSI);
    eprintln!("hand-computed loss {expected:.12}, from the distance table {from_table:.12}");
    assert!((expected - from_table).abs() < 1e-12, "hand formula gives {expected}, the table {from_table}");

    let (phi, psi) = (flat(&PHI), flat(&PSI));
    let (loss, g_phi, g_psi) = candle_critic_loss_and_grads(&phi, &psi, 3, 2);
    let err = (loss - expected).abs();
    eprintln!("reference::critic_loss {loss:.12}, |error| {err:e}");
    assert!(err <= 1e-9, "reference::critic_loss = {loss}, by hand {expected}");

    // The same loss on the fast path (f32), and its hand-written gradients against autograd (f64).
    let (fast_loss, d_phi, d_psi) = fast_critic_loss_and_grads(&phi, &psi, 3, 2);
    let loss_err = (fast_loss as f64 - expected).abs();
    let grad_err = max_abs_diff(&d_phi, &g_phi).max(max_abs_diff(&d_psi, &g_psi));
    eprintln!("fast CriticLoss: loss {fast_loss} (|error| {loss_err:e}), worst gradient |error| {grad_err:e}");
    eprintln!("autograd dL/dφ {g_phi:?}\nautograd dL/dψ {g_psi:?}");
    assert!(loss_err <= 1e-5, "fast critic loss {fast_loss}, by hand {expected}");
    assert!(grad_err <= 1e-5, "fast critic gradients differ from autograd by {grad_err:e}\n{d_phi:?} {d_psi:?}");
    // The comparison is not vacuous: every coordinate of φ and ψ moves the loss.
    assert!(g_phi.iter().chain(&g_psi).all(|g| g.abs() > 1e-3), "{g_phi:?} {g_psi:?}");
}

/// The loss only depends on φ_i − ψ_j, so moving every point by the same vector changes nothing. In
/// f32 the fast path should still match the f64 gradients when a positive pair is close (d ≈ 1e-3,
/// where the coefficients 1/d are large) and the points are far from the origin.
#[test]
fn fast_critic_gradients_are_translation_invariant() {
    let shift = |rows: &[[f64; 2]]| -> Vec<f64> { rows.iter().flat_map(|r| [r[0] + 100.0, r[1] - 50.0]).collect() };
    let (phi, psi) = (shift(&PHI), shift(&PSI));
    let (loss, g_phi, g_psi) = candle_critic_loss_and_grads(&phi, &psi, 3, 2);
    let (loss0, g_phi0, g_psi0) = candle_critic_loss_and_grads(&flat(&PHI), &flat(&PSI), 3, 2);
    assert!((loss - loss0).abs() < 1e-12);
    assert!(g_phi.iter().chain(&g_psi).zip(g_phi0.iter().chain(&g_psi0)).all(|(a, b)| (a - b).abs() < 1e-9));

    let (fast_loss, d_phi, d_psi) = fast_critic_loss_and_grads(&phi, &psi, 3, 2);
    let grad_err = max_abs_diff(&d_phi, &g_phi).max(max_abs_diff(&d_psi, &g_psi));
    eprintln!("shifted by (100, −50): fast loss {fast_loss} vs {loss}, worst gradient |error| {grad_err:e}");
    assert!((fast_loss as f64 - loss).abs() <= 1e-5);
    assert!(grad_err <= 1e-5, "fast critic gradients off by {grad_err:e} after a translation\n{d_phi:?}\n{g_phi:?}");
}

// ---------------------------------------------------------------------------------------------
// 2–3. Gradients against central finite differences of the f64 candle losses.
// ---------------------------------------------------------------------------------------------

/// A batch as f64 tensors.
struct Inputs {
    s: Tensor,
    a: Tensor,
    g: Tensor,
    eps: Tensor,
}

impl Inputs {
    fn new(cfg: &ModelConfig, data: &OwnedBatch) -> Self {
        let b = data.states.len() / cfg.state_dim;
        let t = |v: &[f32], cols: usize| {
            Tensor::from_slice(v, (b, cols), &Device::Cpu).unwrap().to_dtype(DType::F64).unwrap()
        };
        Inputs {
            s: t(&data.states, cfg.state_dim),
            a: t(&data.actions, cfg.action_dim),
            g: t(&data.goals, cfg.goal_dim),
            eps: t(&data.noise, cfg.action_dim),
        }
    }
}

/// reference::critic_loss(φ(s ⊕ a), ψ(g)).
fn critic_loss(net: &CandleModel, x: &Inputs) -> Tensor {
    let phi = net.phi(&Tensor::cat(&[&x.s, &x.a], 1).unwrap()).unwrap();
    let psi = net.psi(&x.g).unwrap();
    reference::critic_loss(&phi, &psi).unwrap()
}

/// mean(α·log π − Q(s, a_π, g)) with α = exp(log α) and ψ(g) detached, a_π reparameterised on the
/// batch's fixed noise (DESIGN.md section 3).
fn actor_loss(net: &CandleModel, x: &Inputs, with_entropy: bool) -> Tensor {
    let alpha = net.get("log_alpha").unwrap().exp().unwrap().detach().reshape(()).unwrap();
    let (mean, log_std) = net.actor(&Tensor::cat(&[&x.s, &x.g], 1).unwrap()).unwrap();
    let (a_pi, log_prob) = reference::sample_action(&mean, &log_std, &x.eps).unwrap();
    let psi = net.psi(&x.g).unwrap().detach();
    let q = reference::q_values(&net.phi(&Tensor::cat(&[&x.s, &a_pi], 1).unwrap()).unwrap(), &psi).unwrap();
    let entropy_term = (log_prob.broadcast_mul(&alpha).unwrap() * if with_entropy { 1.0 } else { 0.0 }).unwrap();
    (entropy_term - q).unwrap().mean_all().unwrap()
}

fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// Autograd gradients of `loss` for every named tensor that receives one (flattened, f64).
fn autograd(net: &CandleModel, loss: &Tensor) -> HashMap<String, Vec<f64>> {
    let grads = loss.backward().unwrap();
    let mut out = HashMap::new();
    for name in &net.names {
        if let Some(g) = grads.get(net.vars[name].as_tensor()) {
            out.insert(name.clone(), g.flatten_all().unwrap().to_vec1::<f64>().unwrap());
        }
    }
    out
}

const FD_STEP: f64 = 1e-5;

/// Central difference of `f` along `dir` (a unit vector over tensor `name`), all other parameters
/// fixed; the tensor is restored afterwards.
fn fd_along(net: &CandleModel, name: &str, dir: &[(usize, f64)], f: &dyn Fn(&CandleModel) -> f64) -> f64 {
    let var = &net.vars[name];
    let base = var.as_tensor().flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let set = |sign: f64| {
        let mut v = base.clone();
        for &(i, d) in dir {
            v[i] += sign * FD_STEP * d;
        }
        var.set(&Tensor::from_vec(v, var.as_tensor().shape(), &Device::Cpu).unwrap()).unwrap();
    };
    set(1.0);
    let plus = f(net);
    set(-1.0);
    let minus = f(net);
    set(0.0);
    (plus - minus) / (2.0 * FD_STEP)
}

/// One finite-difference probe: a single entry of a tensor, or a random unit direction over all of
/// its entries (which checks every entry at once, in aggregate).
#[derive(Clone, Debug)]
struct Probe {
    name: String,
    what: String,
    dir: Vec<(usize, f64)>,
}

impl Probe {
    fn dot(&self, grad: &[f64]) -> f64 {
        self.dir.iter().map(|&(i, d)| grad[i] * d).sum()
    }
}

/// For each tensor whose name passes `keep`: two single entries and one random direction.
fn probes(model: &Model, keep: &dyn Fn(&str) -> bool, seed: u64) -> Vec<Probe> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut out = Vec::new();
    for spec in model.layout.specs.iter().filter(|s| keep(&s.name)) {
        let n = spec.numel();
        for _ in 0..2.min(n) {
            let i = rng.random_range(0..n);
            out.push(Probe { name: spec.name.clone(), what: format!("[{i}]"), dir: vec![(i, 1.0)] });
        }
        let mut dir: Vec<(usize, f64)> = (0..n).map(|i| (i, rng.random_range(-1.0..1.0))).collect();
        let norm = dir.iter().map(|(_, d)| d * d).sum::<f64>().sqrt();
        dir.iter_mut().for_each(|(_, d)| *d /= norm);
        out.push(Probe { name: spec.name.clone(), what: "·v".into(), dir });
    }
    out
}

/// Finite-difference values of every probe.
fn fd_values(net: &CandleModel, probes: &[Probe], f: &dyn Fn(&CandleModel) -> f64) -> Vec<f64> {
    probes.iter().map(|p| fd_along(net, &p.name, &p.dir, f)).collect()
}

/// The worst of |g − fd| / (|fd| + floor) over the probes, with the probe's label.
fn worst_relative(probes: &[Probe], grads: &dyn Fn(&str) -> Vec<f64>, fd: &[f64], floor: f64) -> (f64, String) {
    let mut worst = (0.0, String::new());
    let mut worst_abs = 0f64;
    for (p, fd) in probes.iter().zip(fd) {
        let g = p.dot(&grads(&p.name));
        let err = (g - fd).abs() / (fd.abs() + floor);
        worst_abs = worst_abs.max((g - fd).abs());
        if err >= worst.0 {
            worst = (err, format!("{}{} (grad {g:e}, fd {fd:e})", p.name, p.what));
        }
    }
    eprintln!("  ({} probes, worst absolute error {worst_abs:e})", probes.len());
    worst
}

fn is_critic(name: &str) -> bool {
    name.starts_with("critic.")
}

fn is_actor(name: &str) -> bool {
    name.starts_with("actor.")
}

/// Every kind of tensor of a trunk, plus the heads, is among `names`.
fn covers_every_kind(names: &[&str], trunk: &str, blocks: usize, heads: &[&str]) {
    let mut want = vec![
        format!("{trunk}.input.weight"),
        format!("{trunk}.input.bias"),
        format!("{trunk}.input_norm.weight"),
        format!("{trunk}.input_norm.bias"),
    ];
    for b in 0..blocks {
        for l in 0..4 {
            for t in ["linear.weight", "linear.bias", "norm.weight", "norm.bias"] {
                want.push(format!("{trunk}.blocks.{b}.{l}.{t}"));
            }
        }
    }
    want.extend(heads.iter().map(|h| h.to_string()));
    for w in want {
        assert!(names.contains(&w.as_str()), "no probe of {w}");
    }
}

/// Tolerance of f64 autograd against f64 central differences: |g − fd| ≤ F64_TOL·(|fd| + F64_FLOOR).
/// Central differences with h = 1e-5 are good to about 1e-9 absolute here (truncation ~h², rounding
/// ~ε·L/h); the measured worst is about 1e-7 on this scale, while dropping the critic's logsumexp²
/// penalty or the actor's entropy term gives errors of order 1 (checked at the end of the test).
const F64_TOL: f64 = 1e-6;
/// Keeps the smallest gradients (≈ 1e-4) from being compared against finite-difference noise.
const F64_FLOOR: f64 = 1e-3;

#[test]
fn depth8_gradients_match_finite_differences_f64() {
    let cfg = ModelConfig::point_maze(8).with_width(16);
    let model = perturbed_model(&cfg, 21);
    let data = OwnedBatch::random(&cfg, 8, 22);
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F64).unwrap();
    let x = Inputs::new(&cfg, &data);

    // ---- critic loss, critic parameters ----
    let critic_grads = autograd(&net, &critic_loss(&net, &x));
    let critic_probes = probes(&model, &is_critic, 1);
    let names: Vec<&str> = critic_probes.iter().map(|p| p.name.as_str()).collect();
    covers_every_kind(&names, "critic.sa.trunk", 2, &["critic.sa.out.weight", "critic.sa.out.bias"]);
    covers_every_kind(&names, "critic.g.trunk", 2, &["critic.g.out.weight", "critic.g.out.bias"]);
    let critic_f = |n: &CandleModel| scalar(&critic_loss(n, &x));
    let critic_fd = fd_values(&net, &critic_probes, &critic_f);
    let get = |g: &HashMap<String, Vec<f64>>, name: &str| g.get(name).cloned().unwrap_or_default();
    let (err, at) = worst_relative(&critic_probes, &|n| get(&critic_grads, n), &critic_fd, F64_FLOOR);
    eprintln!("critic: {} probes, worst relative error {err:e} at {at}", critic_probes.len());
    assert!(err <= F64_TOL, "critic gradient vs finite differences: {err:e} at {at}");

    // ---- actor loss, actor parameters ----
    let actor_grads = autograd(&net, &actor_loss(&net, &x, true));
    let actor_probes = probes(&model, &is_actor, 2);
    let names: Vec<&str> = actor_probes.iter().map(|p| p.name.as_str()).collect();
    let heads = ["actor.mean.weight", "actor.mean.bias", "actor.log_std.weight", "actor.log_std.bias"];
    covers_every_kind(&names, "actor.trunk", 2, &heads);
    let actor_f = |n: &CandleModel| scalar(&actor_loss(n, &x, true));
    let actor_fd = fd_values(&net, &actor_probes, &actor_f);
    let (err, at) = worst_relative(&actor_probes, &|n| get(&actor_grads, n), &actor_fd, F64_FLOOR);
    eprintln!("actor: {} probes, worst relative error {err:e} at {at}", actor_probes.len());
    assert!(err <= F64_TOL, "actor gradient vs finite differences: {err:e} at {at}");

    // ---- every parameter gets a gradient from its own loss ----
    for spec in &model.layout.specs {
        let g = if is_critic(&spec.name) {
            get(&critic_grads, &spec.name)
        } else if is_actor(&spec.name) {
            get(&actor_grads, &spec.name)
        } else {
            continue; // log_alpha: its gradient is the α loss, not autograd's
        };
        assert_eq!(g.len(), spec.numel(), "{} has no gradient", spec.name);
        let zeros = g.iter().filter(|v| **v == 0.0).count();
        assert_eq!(zeros, 0, "{}: {zeros} of {} gradient entries are exactly zero", spec.name, g.len());
    }

    // ---- the check can fail: a gradient missing one term of the loss is far off ----
    let no_penalty = {
        let phi = net.phi(&Tensor::cat(&[&x.s, &x.a], 1).unwrap()).unwrap();
        let psi = net.psi(&x.g).unwrap();
        let logits = reference::pairwise_logits(&phi, &psi).unwrap();
        let diag = reference::diagonal(&logits).unwrap();
        (reference::logsumexp_rows(&logits).unwrap() - diag).unwrap().mean_all().unwrap()
    };
    let wrong = autograd(&net, &no_penalty);
    let (err, at) = worst_relative(&critic_probes, &|n| get(&wrong, n), &critic_fd, F64_FLOOR);
    eprintln!("critic without the logsumexp² term: worst relative error {err:e} at {at}");
    assert!(err > 1e3 * F64_TOL, "dropping the logsumexp² penalty went unnoticed ({err:e})");
    let wrong = autograd(&net, &actor_loss(&net, &x, false));
    let (err, at) = worst_relative(&actor_probes, &|n| get(&wrong, n), &actor_fd, F64_FLOOR);
    eprintln!("actor without the entropy term: worst relative error {err:e} at {at}");
    assert!(err > 1e3 * F64_TOL, "dropping the entropy term went unnoticed ({err:e})");
}

/// Relative tolerance of the fast path's f32 gradients against f64 finite differences.
const F32_TOL: f64 = 1e-3;

#[test]
fn fast_path_gradients_match_finite_differences() {
    let cfg = ModelConfig::point_maze(8).with_width(16);
    let model = perturbed_model(&cfg, 31);
    let data = OwnedBatch::random(&cfg, 8, 32);
    let mut fast = FastTrainer::new(model.clone(), AdamConfig::default(), 1).unwrap();
    fast.compute_grads(&data.view()).unwrap();
    let fast_grads = |name: &str| -> Vec<f64> {
        let spec = model.layout.spec(name).unwrap();
        fast.grads[spec.range()].iter().map(|v| *v as f64).collect()
    };

    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F64).unwrap();
    let x = Inputs::new(&cfg, &data);

    let critic_probes = probes(&model, &is_critic, 3);
    let critic_fd = fd_values(&net, &critic_probes, &|n| scalar(&critic_loss(n, &x)));
    // The floor is the largest gradient probed times 1e-3: f32 arithmetic cannot resolve a
    // gradient much below the loss's largest ones.
    let floor = critic_fd.iter().fold(0f64, |m, v| m.max(v.abs())) * 1e-3;
    let (err, at) = worst_relative(&critic_probes, &fast_grads, &critic_fd, floor);
    eprintln!("fast critic: {} probes, worst relative error {err:e} at {at}", critic_probes.len());
    assert!(err <= F32_TOL, "fast critic gradient vs f64 finite differences: {err:e} at {at}");

    let actor_probes = probes(&model, &is_actor, 4);
    let actor_fd = fd_values(&net, &actor_probes, &|n| scalar(&actor_loss(n, &x, true)));
    let floor = actor_fd.iter().fold(0f64, |m, v| m.max(v.abs())) * 1e-3;
    let (err, at) = worst_relative(&actor_probes, &fast_grads, &actor_fd, floor);
    eprintln!("fast actor: {} probes, worst relative error {err:e} at {at}", actor_probes.len());
    assert!(err <= F32_TOL, "fast actor gradient vs f64 finite differences: {err:e} at {at}");
}

// ---------------------------------------------------------------------------------------------
// 4. Parameter count.
// ---------------------------------------------------------------------------------------------

/// Closed-form parameter count at width 256, point-maze sizes, repr 64 (DESIGN.md section 2).
fn param_formula(depth: usize) -> usize {
    const W: usize = 256;
    // One hidden layer: Linear(W, W) weight and bias, LayerNorm scale and bias.
    const PER_LAYER: usize = W * W + W + 2 * W;
    assert_eq!(PER_LAYER, 66_304);
    let trunk = |n_in: usize| (n_in * W + W + 2 * W) + depth * PER_LAYER;
    let actor = trunk(4 + 2) + 2 * (W * 2 + 2);
    let out = W * 64 + 64;
    let critic = trunk(4 + 2) + out + trunk(2) + out;
    actor + critic + 1
}

#[test]
fn parameter_count_formula() {
    for depth in [4, 64] {
        let model = Model::init(&ModelConfig::point_maze(depth), 0).unwrap();
        assert_eq!(model.num_params(), param_formula(depth), "depth {depth}");
        assert_eq!(model.params.len(), model.num_params());
    }
    let layout = ModelLayout::new(&ModelConfig::point_maze(1024)).unwrap();
    assert_eq!(layout.len, param_formula(1024), "depth 1024");
    let sum: usize = layout.specs.iter().map(|s| s.numel()).sum();
    assert_eq!(sum, layout.len, "the named tensors tile the flat buffer");

    // One depth-1024 trunk ≈ 68 M parameters (DESIGN.md section 2).
    let trunk: usize = layout.specs.iter().filter(|s| s.name.starts_with("actor.trunk.")).map(|s| s.numel()).sum();
    eprintln!("depth-1024 trunk: {trunk} parameters; whole model {}", layout.len);
    assert_eq!(trunk, 6 * 256 + 256 + 512 + 1024 * 66_304);
    assert!((67_500_000..68_500_000).contains(&trunk), "depth-1024 trunk has {trunk} parameters");
}

// ---------------------------------------------------------------------------------------------
// 5. The full depth of the paper.
// ---------------------------------------------------------------------------------------------

/// At depth 1024 (256 residual blocks, no norm after the adds) the residual stream grows to ≈ 55 per
/// feature at init (each block adds SiLU outputs of mean ≈ 0.2), so the actor's log-std tanh is
/// saturated to exactly −5 in f32 and `actor.log_std.*` get exactly zero gradient on both paths;
/// critic distances are large too (critic loss ≈ 1.3e4). The paths must still agree.
#[test]
fn depth_1024_fast_path_runs_and_matches_candle() {
    let depth = 1024;
    let cfg = ModelConfig::point_maze(depth).with_width(8);
    let model = perturbed_model(&cfg, 41);
    let data = OwnedBatch::random(&cfg, 4, 42);
    let mut fast = FastTrainer::new(model.clone(), AdamConfig::default(), 1).unwrap();
    let stats = fast.compute_grads(&data.view()).unwrap();
    assert!(fast.grads.iter().all(|g| g.is_finite()), "non-finite fast gradient");
    let s = [stats.critic_loss, stats.actor_loss, stats.alpha_loss, stats.alpha, stats.entropy, stats.logits_pos];
    assert!(s.iter().all(|v| v.is_finite()), "non-finite stats {stats:?}");

    // candle's backward sorts the graph with a recursive walk (≈ 13 nodes per layer, ~40k frames
    // deep here) and dropping a deep graph recurses too: on a 2 MiB stack that aborts the process.
    // `candle_grads` moves deep models onto a large-stack thread itself; this test runs on the test
    // harness's default (2 MiB) thread to prove it.
    let net = CandleModel::from_model(&model, &Device::Cpu, DType::F32).unwrap();
    let (ref_grads, ref_stats) = candle_grads(&net, &model, &data.view()).unwrap();
    let (err, name) = worst_tensor_error(&model, &fast.grads, &ref_grads);
    eprintln!(
        "depth {depth}: worst per-tensor relative error {err:e} in {name}; critic loss fast {} candle {}",
        stats.critic_loss, ref_stats.critic_loss
    );
    assert!(err <= 1e-3, "depth {depth}: fast gradient of {name} differs from candle by {err:e}");
    assert_stats_close(&stats, &ref_stats, 1e-3, &format!("depth {depth}"));
}
