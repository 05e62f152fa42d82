//! Importance scores, measured on evaluation states ([`crate::states`]) with the candle reference
//! network ([`models::reference::CandleModel`], whose widths come from its tensors).
//!
//! - [`angular_distances`]: per block, the mean over states of arccos(cos(x_in, x_out))/π, the
//!   angle the block turns the residual stream by (0: the block does nothing).
//! - [`drop_one`]: per actor block, the mean squared change of the deterministic action tanh(mean)
//!   when that block alone is skipped.
//! - [`unit_scores`]: per block and inner layer, per unit: mean |activation| × the L2 norm of the
//!   unit's outgoing column in the next layer (0: nothing downstream reads the unit).
//! - [`stream_scores`]: per residual-stream unit: the same product summed over every reader of the
//!   stream (each block's first layer, the heads).
//!
//! Lower is less important everywhere; [`ascending`] orders indices for removal.

use crate::error::{ensure, Result};
use candle_core::Tensor;
use models::config::TrunkKind;
use models::reference::CandleModel;

/// One Linear → LayerNorm → SiLU layer named `p` (`{p}.linear`, `{p}.norm`).
fn layer(net: &CandleModel, linear: &str, norm: &str, x: &Tensor) -> Result<Tensor> {
    Ok(net.layer_norm(norm, &net.linear(linear, x)?)?.silu()?)
}

/// The trunk's input layer.
fn input_layer(net: &CandleModel, trunk: TrunkKind, x: &Tensor) -> Result<Tensor> {
    let p = trunk.prefix();
    layer(net, &format!("{p}.input"), &format!("{p}.input_norm"), x)
}

/// Block `b`'s residual branch on `x`, and the activations of its first three layers.
fn block(net: &CandleModel, trunk: TrunkKind, b: usize, x: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
    let mut acts = Vec::with_capacity(3);
    let mut a = x.clone();
    for l in 0..4 {
        let p = format!("{}.blocks.{b}.{l}", trunk.prefix());
        a = layer(net, &format!("{p}.linear"), &format!("{p}.norm"), &a)?;
        if l < 3 {
            acts.push(a.clone());
        }
    }
    Ok((a, acts))
}

/// The residual stream of `trunk` on inputs `x`: entry `b` is block b's input, the last entry the
/// trunk's output (`blocks + 1` tensors `[rows, width]`).
pub fn stream(net: &CandleModel, trunk: TrunkKind, x: &Tensor) -> Result<Vec<Tensor>> {
    let n = net.cfg.blocks(trunk);
    let mut out = Vec::with_capacity(n + 1);
    out.push(input_layer(net, trunk, x)?);
    for b in 0..n {
        let h = &out[b];
        let next = (h + block(net, trunk, b, h)?.0)?;
        out.push(next);
    }
    Ok(out)
}

/// Rows of a `[rows, dim]` tensor as f64 vectors.
fn rows_f64(t: &Tensor) -> Result<Vec<Vec<f64>>> {
    Ok(t.to_vec2::<f32>()?.into_iter().map(|r| r.into_iter().map(f64::from).collect()).collect())
}

/// The angle between `u` and `v` divided by π, in [0, 1]. Computed as 2·atan2(‖û − v̂‖, ‖û + v̂‖)
/// rather than arccos of the cosine, whose derivative is infinite at 1: a block that leaves the
/// stream unchanged scores exactly 0, and small turns are not lost to rounding.
pub fn angle_over_pi(u: &[f64], v: &[f64]) -> f64 {
    let norm = |x: &[f64]| x.iter().map(|a| a * a).sum::<f64>().sqrt();
    let (nu, nv) = (norm(u), norm(v));
    if nu == 0.0 || nv == 0.0 {
        // A zero vector has no direction; call it orthogonal (the block matters).
        return if nu == nv { 0.0 } else { 0.5 };
    }
    let (mut d, mut s) = (0.0, 0.0);
    for (a, b) in u.iter().zip(v) {
        let (a, b) = (a / nu, b / nv);
        d += (a - b) * (a - b);
        s += (a + b) * (a + b);
    }
    2.0 * d.sqrt().atan2(s.sqrt()) / std::f64::consts::PI
}

/// Per block of a stream from [`stream`]: the mean over rows of the angle between its input and output.
pub fn angular_distances(stream: &[Tensor]) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(stream.len().saturating_sub(1));
    // Two stream entries on the host at a time: a deep trunk's whole stream in f64 would be large.
    let mut prev = match stream.first() {
        Some(t) => rows_f64(t)?,
        None => return Ok(out),
    };
    for t in &stream[1..] {
        let next = rows_f64(t)?;
        let n = prev.len().max(1) as f64;
        out.push(prev.iter().zip(&next).map(|(a, b)| angle_over_pi(a, b)).sum::<f64>() / n);
        prev = next;
    }
    Ok(out)
}

/// The actor's deterministic action tanh(mean) from its trunk output.
fn action(net: &CandleModel, h: &Tensor) -> Result<Tensor> {
    Ok(net.linear("actor.mean", h)?.tanh()?)
}

/// Per actor block: the mean over states and action dimensions of the squared change of tanh(mean)
/// when that block alone is skipped. Costs about blocks²/2 block evaluations (each skip replays the
/// blocks after it from the cached stream), so deep models want fewer scoring states.
pub fn drop_one(net: &CandleModel, obs: &Tensor) -> Result<Vec<f64>> {
    let s = stream(net, TrunkKind::Actor, obs)?;
    let n = s.len() - 1;
    let base = action(net, &s[n])?;
    let mut out = Vec::with_capacity(n);
    for (b, input) in s[..n].iter().enumerate() {
        // Without block b, block b+1 reads block b's input.
        let mut h = input.clone();
        for c in b + 1..n {
            h = (&h + block(net, TrunkKind::Actor, c, &h)?.0)?;
        }
        let diff = (action(net, &h)? - &base)?;
        out.push(f64::from(diff.sqr()?.mean_all()?.to_scalar::<f32>()?));
    }
    Ok(out)
}

/// ‖W[:, j]‖₂ for every input column j of the Linear `name` (weight `[out, in]`).
fn column_norms(net: &CandleModel, name: &str) -> Result<Vec<f32>> {
    Ok(net.get(&format!("{name}.weight"))?.sqr()?.sum(0)?.sqrt()?.to_vec1::<f32>()?)
}

/// mean over rows of |x[:, j]| for a `[rows, dim]` tensor.
fn mean_abs(x: &Tensor) -> Result<Vec<f32>> {
    Ok(x.abs()?.mean(0)?.to_vec1::<f32>()?)
}

/// Per block of `trunk`, per inner layer l = 0, 1, 2, per unit j: mean |a_l[:, j]| × ‖W_{l+1}[:, j]‖₂,
/// where a_l is layer l's activation on the states `x` and W_{l+1} the next layer's weight. A unit
/// whose outgoing column is zero scores 0: nothing downstream reads it.
pub fn unit_scores(net: &CandleModel, trunk: TrunkKind, x: &Tensor) -> Result<Vec<[Vec<f32>; 3]>> {
    let n = net.cfg.blocks(trunk);
    let mut h = input_layer(net, trunk, x)?;
    let mut out = Vec::with_capacity(n);
    for b in 0..n {
        let (branch, acts) = block(net, trunk, b, &h)?;
        let mut scores: [Vec<f32>; 3] = Default::default();
        for (l, a) in acts.iter().enumerate() {
            let next = column_norms(net, &format!("{}.blocks.{b}.{}.linear", trunk.prefix(), l + 1))?;
            scores[l] = mean_abs(a)?.iter().zip(&next).map(|(m, w)| m * w).collect();
        }
        out.push(scores);
        h = (h + branch)?;
    }
    Ok(out)
}

/// Per residual-stream unit j of `trunk`: Σ over the stream's readers (each block's first Linear, on
/// that block's input; the heads, on the trunk's output) of mean |input[:, j]| × ‖W[:, j]‖₂.
pub fn stream_scores(net: &CandleModel, trunk: TrunkKind, x: &Tensor) -> Result<Vec<f32>> {
    let s = stream(net, trunk, x)?;
    let n = s.len() - 1;
    let heads: &[&str] = match trunk {
        TrunkKind::Actor => &["actor.mean", "actor.log_std"],
        TrunkKind::CriticSa => &["critic.sa.out"],
        TrunkKind::CriticG => &["critic.g.out"],
    };
    let mut readers: Vec<(usize, String)> =
        (0..n).map(|b| (b, format!("{}.blocks.{b}.0.linear", trunk.prefix()))).collect();
    readers.extend(heads.iter().map(|h| (n, h.to_string())));
    let mut total = vec![0f32; net.cfg.width];
    for (at, name) in readers {
        let (m, w) = (mean_abs(&s[at])?, column_norms(net, &name)?);
        ensure!(m.len() == total.len() && w.len() == total.len(), "{name}: unexpected input width");
        for ((t, m), w) in total.iter_mut().zip(&m).zip(&w) {
            *t += m * w;
        }
    }
    Ok(total)
}

/// Indices sorted by score, lowest first (ties by index, so the order is deterministic).
pub fn ascending<T: PartialOrd>(scores: &[T]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(std::cmp::Ordering::Equal).then(a.cmp(&b)));
    idx
}

/// The `k` highest-scoring indices, in ascending index order (the kept units keep their order).
pub fn keep_top(scores: &[f32], k: usize) -> Vec<usize> {
    let order = ascending(scores);
    let mut keep = order[order.len().saturating_sub(k)..].to_vec();
    keep.sort_unstable();
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angles() {
        assert_eq!(angle_over_pi(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert_eq!(angle_over_pi(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert!((angle_over_pi(&[1.0, 0.0], &[0.0, 3.0]) - 0.5).abs() < 1e-12);
        assert!((angle_over_pi(&[1.0, 0.0], &[-1.0, 0.0]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn orders() {
        assert_eq!(ascending(&[0.3, 0.1, 0.1, 0.2]), vec![1, 2, 3, 0]);
        assert_eq!(keep_top(&[0.3, 0.1, 0.5, 0.2], 2), vec![0, 2]);
    }
}
