//! What a run cuts, decided from the scores: the order in which blocks go (depth) or the units each
//! layer keeps at a ratio (width), the target, and the points of the sensitivity curve.

use crate::error::Result;
use models::config::TrunkKind;
use models::reference::CandleModel;
use models::Model;

use crate::config::{kept_units, PruneConfig, Score};
use crate::report::Axis;
use crate::score;
use crate::states::EvalStates;
use crate::surgery::{drop_blocks, slice_inner_units, slice_stream, trunks, PerTrunk};

/// Fractions of inner units kept at the points of the width sensitivity curve.
const WIDTH_POINTS: [f64; 8] = [1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125];
/// Fractions of the way to full removal where `heal_curve` heals too.
const HEAL_FRACTIONS: [f64; 3] = [0.25, 0.5, 0.75];
/// Points of the depth sensitivity curve (roughly; the target and the last point are added).
const DEPTH_POINTS: usize = 9;

/// How a model is cut: by blocks (in ascending score order) or by a fraction of units.
pub enum Cutter {
    Depth { order: PerTrunk<Vec<usize>> },
    Width { scores: PerTrunk<Vec<[Vec<f32>; 3]>>, stream: Option<PerTrunk<Vec<f32>>> },
}

impl Cutter {
    /// `model` cut at `x` on the curve's axis: without the first `x` blocks of the actor's order (and
    /// the first `critic` blocks of each encoder's), or keeping the top fraction `x` of units.
    pub fn cut(&self, model: &Model, x: f64, critic: usize) -> Result<Model> {
        match self {
            Cutter::Depth { .. } => drop_blocks(model, &self.removed(x as usize, critic).unwrap_or_default()),
            Cutter::Width { scores, stream } => width_cut(model, x, scores, stream.as_ref()),
        }
    }

    /// Depth: the source's blocks removed when `k` actor blocks and `critic` blocks of each encoder go.
    pub fn removed(&self, k: usize, critic: usize) -> Option<PerTrunk<Vec<usize>>> {
        let Cutter::Depth { order } = self else { return None };
        let first = |v: &Vec<usize>, n: usize| v[..n.min(v.len())].to_vec();
        Some(PerTrunk {
            actor: first(&order.actor, k),
            critic_sa: first(&order.critic_sa, critic),
            critic_g: first(&order.critic_g, critic),
        })
    }
}

/// Keeps the top fraction `ratio` of every block's inner units in each trunk of `model`, and of the
/// residual stream when `stream` scores are given.
fn width_cut(
    model: &Model,
    ratio: f64,
    scores: &PerTrunk<Vec<[Vec<f32>; 3]>>,
    stream: Option<&PerTrunk<Vec<f32>>>,
) -> Result<Model> {
    if ratio >= 1.0 {
        return Ok(model.clone());
    }
    let mut out = model.clone();
    for trunk in trunks(&model.cfg) {
        let keep: Vec<[Vec<usize>; 3]> = scores
            .get(trunk)
            .iter()
            .map(|s| s.clone().map(|l| score::keep_top(&l, kept_units(l.len(), ratio))))
            .collect();
        out = slice_inner_units(&out, trunk, &keep)?;
    }
    if let Some(stream) = stream {
        let mut keep = PerTrunk::default();
        for trunk in trunks(&model.cfg) {
            let s = stream.get(trunk);
            *keep.get_mut(trunk) = score::keep_top(s, kept_units(s.len(), ratio));
        }
        out = slice_stream(&out, &keep)?;
    }
    Ok(out)
}

/// The cut, the target on the curve's axis, and the curve's points.
pub struct Plan {
    pub cutter: Cutter,
    pub axis: Axis,
    /// Where the output sits on the axis.
    pub target: f64,
    /// Blocks the target removes from each critic encoder (depth with --critic).
    pub critic_cut: usize,
    /// Points of the sensitivity curve (each evaluated without healing).
    pub xs: Vec<f64>,
    /// Points also healed with `heal_curve`.
    pub heal_xs: Vec<f64>,
    /// Depth: every block's score, per trunk.
    pub block_scores: Option<PerTrunk<Vec<f64>>>,
}

/// The critic trunks a run touches (both encoders with --critic, none otherwise).
fn critic_trunks(cfg: &PruneConfig) -> &'static [TrunkKind] {
    if cfg.critic {
        &[TrunkKind::CriticSa, TrunkKind::CriticG]
    } else {
        &[]
    }
}

impl Plan {
    /// Depth pruning to `keep` blocks: the actor scored by `cfg.score`, the critic encoders by angle.
    pub fn depth(cfg: &PruneConfig, net: &CandleModel, states: &EvalStates, keep: usize) -> Result<Plan> {
        let n = net.cfg.actor_depth / 4;
        let angular = |t: TrunkKind| score::angular_distances(&score::stream(net, t, &states.input(t)?)?);
        let mut scores = PerTrunk {
            actor: match cfg.score {
                Score::Angular => angular(TrunkKind::Actor)?,
                Score::DropOne => score::drop_one(net, &states.input(TrunkKind::Actor)?)?,
            },
            ..PerTrunk::default()
        };
        for &t in critic_trunks(cfg) {
            *scores.get_mut(t) = angular(t)?;
        }
        let order = PerTrunk {
            actor: score::ascending(&scores.actor),
            critic_sa: score::ascending(&scores.critic_sa),
            critic_g: score::ascending(&scores.critic_g),
        };
        let k = n - keep;
        let step = (n - 1).div_ceil(DEPTH_POINTS - 1).max(1);
        let mut xs: Vec<usize> = (0..n - 1).step_by(step).chain([n - 1, k]).collect();
        xs.sort_unstable();
        xs.dedup();
        let heal_xs = HEAL_FRACTIONS.map(|f| (f * n as f64).round().clamp(1.0, (n - 1) as f64)).to_vec();
        Ok(Plan {
            cutter: Cutter::Depth { order },
            axis: Axis::BlocksRemoved,
            target: k as f64,
            critic_cut: if cfg.critic { net.cfg.critic_depth / 4 - keep } else { 0 },
            xs: xs.into_iter().map(|x| x as f64).collect(),
            heal_xs,
            block_scores: Some(scores),
        })
    }

    /// Width pruning to `ratio` of each layer's inner units (and of the stream with `stream`).
    pub fn width(cfg: &PruneConfig, net: &CandleModel, states: &EvalStates, ratio: f64, stream: bool) -> Result<Plan> {
        let mut scores = PerTrunk::default();
        let mut stream_scores = PerTrunk::default();
        for t in std::iter::once(TrunkKind::Actor).chain(critic_trunks(cfg).iter().copied()) {
            let x = states.input(t)?;
            *scores.get_mut(t) = score::unit_scores(net, t, &x)?;
            if stream {
                *stream_scores.get_mut(t) = score::stream_scores(net, t, &x)?;
            }
        }
        let mut xs: Vec<f64> = WIDTH_POINTS.iter().copied().chain([ratio]).collect();
        xs.sort_by(|a, b| b.total_cmp(a));
        xs.dedup();
        Ok(Plan {
            cutter: Cutter::Width { scores, stream: stream.then_some(stream_scores) },
            axis: Axis::InnerUnitsKept,
            target: ratio,
            critic_cut: 0,
            xs,
            heal_xs: HEAL_FRACTIONS.map(|f| 1.0 - f).to_vec(),
            block_scores: None,
        })
    }
}
