//! Structural surgery: pure functions from a [`Model`] to a smaller [`Model`] in the same layout and
//! checkpoint format (DESIGN.md sections 2 and 5), so the result loads wherever a student does.
//!
//! - [`drop_blocks`]: removes whole residual blocks and renumbers the rest (`*.blocks.{b}.*`), keeping
//!   their order. A block whose residual branch is exactly zero leaves the network unchanged when
//!   removed, bit for bit (the skip adds `x + 0`).
//! - [`slice_inner_units`]: keeps some outputs of each block's first three Linear layers (rows of the
//!   weight and bias, the LayerNorm entries, and the next layer's input columns); the stream width stays.
//! - [`slice_stream`]: keeps some units of the residual stream in every trunk (input layer rows, the
//!   first layer's input columns and the last layer's rows of every block, the heads' input columns).
//! - [`drop_critic`]: the actor alone, as an actor-only student.
//!
//! ```
//! use models::{Model, ModelConfig};
//! use prune::surgery::{drop_blocks, PerTrunk};
//! let model = Model::init(&ModelConfig::point_maze(16).with_width(16), 0).unwrap();
//! let removal = PerTrunk { actor: vec![1, 2], ..PerTrunk::default() };
//! let pruned = drop_blocks(&model, &removal).unwrap();
//! assert_eq!((pruned.cfg.actor_depth, pruned.cfg.critic_depth), (8, 16));
//! // Block 1 of the pruned actor is block 3 of the original.
//! let name = |b: usize| format!("actor.trunk.blocks.{b}.0.linear.weight");
//! assert_eq!(pruned.tensor(&name(1)), model.tensor(&name(3)));
//! ```

use std::collections::HashMap;

use crate::error::{bail, ensure, Context, Result};
use models::config::TrunkKind;
use models::{Model, ModelConfig, ModelLayout};
use serde::{Deserialize, Serialize};

/// One value per residual trunk of a model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerTrunk<T> {
    pub actor: T,
    pub critic_sa: T,
    pub critic_g: T,
}

impl<T> PerTrunk<T> {
    pub fn get(&self, trunk: TrunkKind) -> &T {
        match trunk {
            TrunkKind::Actor => &self.actor,
            TrunkKind::CriticSa => &self.critic_sa,
            TrunkKind::CriticG => &self.critic_g,
        }
    }

    pub fn get_mut(&mut self, trunk: TrunkKind) -> &mut T {
        match trunk {
            TrunkKind::Actor => &mut self.actor,
            TrunkKind::CriticSa => &mut self.critic_sa,
            TrunkKind::CriticG => &mut self.critic_g,
        }
    }
}

/// The trunks a model has: the actor, and the two critic encoders unless it is actor-only.
pub fn trunks(cfg: &ModelConfig) -> Vec<TrunkKind> {
    TrunkKind::ALL.into_iter().filter(|&t| cfg.blocks(t) > 0).collect()
}

/// Which rows and columns of a tensor survive (`None`: all of them).
#[derive(Clone, Debug, Default)]
struct Slice {
    rows: Option<Vec<usize>>,
    cols: Option<Vec<usize>>,
}

/// Builds the model of `cfg` by copying, for each of its tensors, the source tensor `rename(name)`
/// with the `slices` registered under the new name applied. Every result must have exactly the shape
/// `cfg`'s layout wants, so a wrong plan is an error here rather than a checkpoint that will not load.
fn rebuild(
    src: &Model,
    cfg: ModelConfig,
    rename: impl Fn(&str) -> String,
    slices: &HashMap<String, Slice>,
) -> Result<Model> {
    let layout = ModelLayout::new(&cfg).context("the pruned model's configuration")?;
    let mut params = vec![0f32; layout.len];
    for spec in &layout.specs {
        let old = rename(&spec.name);
        let from = src.layout.spec(&old).with_context(|| format!("the source model has no tensor {old}"))?;
        let data = &src.params[from.range()];
        let slice = slices.get(&spec.name).cloned().unwrap_or_default();
        let out = select(data, &from.shape, slice.rows.as_deref(), slice.cols.as_deref());
        ensure!(
            out.len() == spec.numel(),
            "{}: {} values after slicing {old} {:?}, the pruned layout needs {:?}",
            spec.name,
            out.len(),
            from.shape,
            spec.shape
        );
        params[spec.range()].copy_from_slice(&out);
    }
    Ok(Model { cfg, layout, params })
}

/// The `rows` (first axis) and `cols` (second axis, 2-D tensors only) of a row-major tensor.
fn select(data: &[f32], shape: &[usize], rows: Option<&[usize]>, cols: Option<&[usize]>) -> Vec<f32> {
    let n_rows = shape.first().copied().unwrap_or(1);
    let row_len = data.len() / n_rows.max(1);
    let all_rows: Vec<usize> = (0..n_rows).collect();
    let rows = rows.unwrap_or(&all_rows);
    let mut out = Vec::with_capacity(rows.len() * cols.map_or(row_len, <[usize]>::len));
    for &r in rows {
        let row = &data[r * row_len..(r + 1) * row_len];
        match cols {
            Some(cols) => out.extend(cols.iter().map(|&c| row[c])),
            None => out.extend_from_slice(row),
        }
    }
    out
}

/// Checks that `idx` are distinct indices below `n`, naming `what` in the error.
fn check_indices(idx: &[usize], n: usize, what: &str) -> Result<()> {
    let mut seen = vec![false; n];
    for &i in idx {
        ensure!(i < n, "{what}: index {i} is out of range (there are {n})");
        ensure!(!seen[i], "{what}: index {i} is listed twice");
        seen[i] = true;
    }
    Ok(())
}

/// Removes the listed blocks (indices into the source's blocks) from each trunk; the remaining blocks
/// keep their order and are renumbered from 0. Both critic encoders share `critic_depth`, so they must
/// lose the same number of blocks (each may lose different ones).
pub fn drop_blocks(model: &Model, removal: &PerTrunk<Vec<usize>>) -> Result<Model> {
    let cfg = &model.cfg;
    ensure!(
        removal.critic_sa.len() == removal.critic_g.len(),
        "both critic encoders share critic_depth, so they must lose the same number of blocks ({} from critic.sa, \
         {} from critic.g)",
        removal.critic_sa.len(),
        removal.critic_g.len()
    );
    let mut new = cfg.clone();
    let mut kept: PerTrunk<Vec<usize>> = PerTrunk::default();
    for trunk in TrunkKind::ALL {
        let (n, drop) = (cfg.blocks(trunk), removal.get(trunk));
        check_indices(drop, n, &format!("blocks to remove from {}", trunk.prefix()))?;
        if n > 0 && drop.len() >= n {
            bail!("{}: removing {} of its {n} blocks would leave none; keep at least one", trunk.prefix(), drop.len());
        }
        *kept.get_mut(trunk) = (0..n).filter(|b| !drop.contains(b)).collect();
    }
    new.actor_depth = 4 * kept.actor.len();
    new.critic_depth = 4 * kept.critic_sa.len();
    for trunk in TrunkKind::ALL {
        let widths = cfg.block_inner_widths(trunk);
        let widths: Vec<[usize; 3]> = kept.get(trunk).iter().map(|&b| widths[b]).collect();
        new.set_block_inner_widths(trunk, &widths);
    }
    let rename = |name: &str| {
        for trunk in TrunkKind::ALL {
            let head = format!("{}.blocks.", trunk.prefix());
            if let Some((b, tail)) = name.strip_prefix(&head).and_then(|rest| rest.split_once('.')) {
                if let Ok(b) = b.parse::<usize>() {
                    return format!("{head}{}.{tail}", kept.get(trunk)[b]);
                }
            }
        }
        name.to_string()
    };
    rebuild(model, new, rename, &HashMap::new())
}

/// Keeps, in every block of `trunk`, the listed outputs of layers 0, 1 and 2 (`keep[b][l]`: indices
/// into that layer's current outputs, in the order they should appear; ascending keeps the original
/// order). Rows of the layer's weight and bias and its LayerNorm entries go, and so do the matching
/// input columns of layer l+1. The stream width (layer 3's outputs) stays.
///
/// Not exact even when the removed units' outgoing weights are zero: LayerNorm l normalises over all
/// of layer l's units, so the kept units see different statistics afterwards (see the crate's tests).
pub fn slice_inner_units(model: &Model, trunk: TrunkKind, keep: &[[Vec<usize>; 3]]) -> Result<Model> {
    let cfg = &model.cfg;
    let (n, prefix) = (cfg.blocks(trunk), trunk.prefix());
    ensure!(keep.len() == n, "{prefix} has {n} blocks but {} keep-lists were given", keep.len());
    let widths = cfg.block_inner_widths(trunk);
    let mut slices = HashMap::new();
    let mut new_widths = Vec::with_capacity(n);
    for (b, (k, w)) in keep.iter().zip(&widths).enumerate() {
        for l in 0..3 {
            check_indices(&k[l], w[l], &format!("{prefix}.blocks.{b}.{l} units"))?;
            ensure!(!k[l].is_empty(), "{prefix}.blocks.{b}.{l}: keep at least one unit");
            let p = format!("{prefix}.blocks.{b}.{l}");
            let cols = if l == 0 { None } else { Some(k[l - 1].clone()) };
            slices.insert(format!("{p}.linear.weight"), Slice { rows: Some(k[l].clone()), cols });
            for t in ["linear.bias", "norm.weight", "norm.bias"] {
                slices.insert(format!("{p}.{t}"), Slice { rows: Some(k[l].clone()), cols: None });
            }
        }
        slices.insert(format!("{prefix}.blocks.{b}.3.linear.weight"), Slice { rows: None, cols: Some(k[2].clone()) });
        new_widths.push([k[0].len(), k[1].len(), k[2].len()]);
    }
    let mut new = cfg.clone();
    new.set_block_inner_widths(trunk, &new_widths);
    rebuild(model, new, str::to_string, &slices)
}

/// Keeps the listed units of the residual stream in each trunk the model has (`keep.get(trunk)`,
/// indices into `width`); every trunk must keep the same number, since `width` is one number for the
/// whole model. Inner block widths must already fit the new width (narrow them first).
pub fn slice_stream(model: &Model, keep: &PerTrunk<Vec<usize>>) -> Result<Model> {
    let cfg = &model.cfg;
    let present = trunks(cfg);
    let width = keep.actor.len();
    ensure!(width > 0, "the residual stream must keep at least one unit");
    let mut slices = HashMap::new();
    let rows = |k: &Vec<usize>| Slice { rows: Some(k.clone()), cols: None };
    let cols = |k: &Vec<usize>| Slice { rows: None, cols: Some(k.clone()) };
    for &trunk in &present {
        let (k, p) = (keep.get(trunk), trunk.prefix());
        check_indices(k, cfg.width, &format!("{p} stream units"))?;
        ensure!(
            k.len() == width,
            "{p} keeps {} stream units but the actor keeps {width}; the width is shared by every trunk",
            k.len()
        );
        for t in ["input.weight", "input.bias", "input_norm.weight", "input_norm.bias"] {
            slices.insert(format!("{p}.{t}"), rows(k));
        }
        for b in 0..cfg.blocks(trunk) {
            slices.insert(format!("{p}.blocks.{b}.0.linear.weight"), cols(k));
            for t in ["linear.weight", "linear.bias", "norm.weight", "norm.bias"] {
                slices.insert(format!("{p}.blocks.{b}.3.{t}"), rows(k));
            }
        }
        let heads: &[&str] = match trunk {
            TrunkKind::Actor => &["actor.mean", "actor.log_std"],
            TrunkKind::CriticSa => &["critic.sa.out"],
            TrunkKind::CriticG => &["critic.g.out"],
        };
        for h in heads {
            slices.insert(format!("{h}.weight"), cols(k));
        }
    }
    let mut new = cfg.clone();
    new.width = width;
    for trunk in TrunkKind::ALL {
        // Re-store the (unchanged) inner widths against the new width: widths equal to it become
        // "uniform", and widths above it are caught by the layout's validation below.
        let widths = cfg.block_inner_widths(trunk);
        new.set_block_inner_widths(trunk, &widths);
    }
    rebuild(model, new, str::to_string, &slices)
}

/// The actor alone (`critic_depth` 0, no critic, no `log_alpha`): the shape of an actor-only student.
pub fn drop_critic(model: &Model) -> Result<Model> {
    let mut new = model.cfg.clone();
    new.critic_depth = 0;
    for trunk in [TrunkKind::CriticSa, TrunkKind::CriticG] {
        new.set_block_inner_widths(trunk, &[]);
    }
    rebuild(model, new, str::to_string, &HashMap::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> Model {
        Model::init(&ModelConfig::point_maze(12).with_width(8), 1).unwrap()
    }

    #[test]
    fn select_takes_rows_and_columns() {
        let data: Vec<f32> = (0..12).map(|v| v as f32).collect();
        assert_eq!(select(&data, &[3, 4], Some(&[2, 0]), Some(&[1, 3])), vec![9.0, 11.0, 1.0, 3.0]);
        assert_eq!(select(&data[..4], &[4], Some(&[3]), None), vec![3.0]);
    }

    #[test]
    fn dropping_renumbers_and_keeps_order() {
        let m = model();
        let r = PerTrunk { actor: vec![0], critic_sa: vec![2], critic_g: vec![1] };
        let p = drop_blocks(&m, &r).unwrap();
        assert_eq!((p.cfg.actor_depth, p.cfg.critic_depth), (8, 8));
        let t = |m: &Model, n: String| m.tensor(&n).unwrap().to_vec();
        assert_eq!(t(&p, "actor.trunk.blocks.0.2.norm.bias".into()), t(&m, "actor.trunk.blocks.1.2.norm.bias".into()));
        let w = |p: &str, b: usize| format!("critic.{p}.trunk.blocks.{b}.1.linear.weight");
        assert_eq!(t(&p, w("sa", 1)), t(&m, w("sa", 1)));
        assert_eq!(t(&p, w("g", 1)), t(&m, w("g", 2)));
        assert_eq!(t(&p, "log_alpha".into()), t(&m, "log_alpha".into()));
    }

    #[test]
    fn bad_removals_are_errors() {
        let m = model();
        let e = |r: PerTrunk<Vec<usize>>| drop_blocks(&m, &r).unwrap_err().to_string();
        assert!(e(PerTrunk { actor: vec![3], ..PerTrunk::default() }).contains("out of range"));
        assert!(e(PerTrunk { actor: vec![0, 1, 2], ..PerTrunk::default() }).contains("leave none"));
        assert!(e(PerTrunk { critic_sa: vec![0], ..PerTrunk::default() }).contains("same number"));
    }

    #[test]
    fn dropping_the_critic_keeps_the_actor() {
        let m = model();
        let a = drop_critic(&m).unwrap();
        assert_eq!(a.cfg.critic_depth, 0);
        assert!(a.layout.critic.is_none() && a.layout.log_alpha.is_none());
        assert_eq!(a.params[..], m.params[m.layout.actor.range.clone()]);
    }
}
