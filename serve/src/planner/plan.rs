//! Plans and how a batch of them is made (DESIGN.md section 8).
//!
//! A [`Plan`] is an ordered list of up to H waypoints in goal space ending with the commanded goal,
//! with its id, version, creation time and the state it was made from. [`PlannerAssets::plan`]
//! makes plans for K sessions with ONE batched network pass: the costs from each session's state
//! to every bank node (K·M rows), from every node to each new goal (M rows per goal not seen before)
//! and the direct costs (K rows), then a Dijkstra per session over the cached node-to-node graph.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use crate::failure::{bail, Result};
use models::bank::WaypointBank;
use serde::Serialize;

use crate::config::ServeConfig;
use crate::loaded::PlannerFiles;
use crate::planner::distances::{row_distances, DistanceNet};
use crate::planner::graph::{self, quantile_cutoff, shortest_path, Graph};

/// How a plan was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanSource {
    /// Through bank waypoints found by the graph search.
    Graph,
    /// Straight to the goal: it is within the cutoff and no detour is cheaper.
    Direct,
    /// No path within the cutoff: straight to the goal, for lack of anything better.
    Unreachable,
}

impl PlanSource {
    pub fn name(self) -> &'static str {
        match self {
            PlanSource::Graph => "graph",
            PlanSource::Direct => "direct",
            PlanSource::Unreachable => "unreachable",
        }
    }
}

/// A plan as sessions hold it and clients see it.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Unique across the server's life.
    pub plan_id: u64,
    /// 1 for a session's first plan, then counting up.
    pub version: u64,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    #[serde(skip)]
    pub made: Instant,
    /// The horizon the plan was cut to (most waypoints, the goal included).
    pub horizon: usize,
    pub waypoints: Vec<Vec<f32>>,
    /// The bank nodes behind the waypoints (all but the last, which is the goal).
    pub nodes: Vec<usize>,
    pub source: PlanSource,
    /// Cost of the path found (`None` when unreachable) and of going straight to the goal.
    pub cost: Option<f32>,
    pub direct_cost: f32,
    /// The state the plan was made from.
    pub state: Vec<f32>,
    pub goal: Vec<f32>,
}

impl Plan {
    pub fn age_ms(&self, now: Instant) -> f64 {
        now.saturating_duration_since(self.made).as_secs_f64() * 1e3
    }
}

pub fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// One session's planning question.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanQuery {
    pub state: Vec<f32>,
    pub goal: Vec<f32>,
}

/// The answer before it becomes a [`Plan`] (which the session table numbers).
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub waypoints: Vec<Vec<f32>>,
    pub nodes: Vec<usize>,
    pub source: PlanSource,
    pub cost: Option<f32>,
    pub direct_cost: f32,
}

/// Everything the planner thread owns: the network, the bank and the graph.
pub struct PlannerAssets {
    pub net: DistanceNet,
    pub bank: WaypointBank,
    pub graph: Graph,
    /// ψ of every bank goal, `[M, repr_dim]`: constant for a checkpoint.
    pub node_psi: Vec<f32>,
    /// The node-to-node costs came from the cache file.
    pub graph_cached: bool,
    /// Costs from every node to a goal, by goal (see [`PlannerAssets::plan`]).
    to_goal: HashMap<Vec<u32>, Vec<f32>>,
}

/// Most goals whose node → goal costs are kept.
pub const GOAL_CACHE: usize = 4096;

/// A goal as a hash key (its exact bits).
fn goal_key(goal: &[f32]) -> Vec<u32> {
    goal.iter().map(|x| x.to_bits()).collect()
}

impl PlannerAssets {
    /// Builds the network and the graph (from the cache beside the checkpoint when valid).
    pub fn build(files: &PlannerFiles, cfg: &ServeConfig) -> Result<Self> {
        let mut net = DistanceNet::new(&files.loaded.model)?;
        let bank = files.bank.clone();
        let dir = files.loaded.checkpoint.parent().unwrap_or(std::path::Path::new("."));
        let key = graph::cache_key(&files.loaded.sha256, &files.bank_sha256);
        let (costs, graph_cached) = graph::load_or_build(&dir.join(graph::CACHE_NAME), &key, &mut net, &bank)?;
        let cutoff = cfg.edge_cutoff.unwrap_or_else(|| quantile_cutoff(&costs, bank.len(), cfg.edge_quantile));
        let node_psi = net.psi(&bank.goals, bank.len())?;
        let graph = Graph::new(bank.len(), costs, cutoff);
        Ok(PlannerAssets { graph, net, bank, node_psi, graph_cached, to_goal: HashMap::new() })
    }

    /// Plans for every query with one batched forward pass; each plan has at most `horizon` waypoints.
    /// The costs from the nodes to a goal depend on the goal alone, so they are computed once per
    /// distinct goal and kept ([`GOAL_CACHE`] goals at most).
    pub fn plan(&mut self, queries: &[PlanQuery], horizon: usize) -> Result<Vec<Planned>> {
        let (k, m) = (queries.len(), self.bank.len());
        let (sd, gd, repr) = (self.bank.state_dim, self.bank.goal_dim(), self.net.repr_dim());
        if k == 0 {
            return Ok(Vec::new());
        }
        // Goals whose node → goal costs are not known yet, each once.
        let mut fresh: Vec<&[f32]> = Vec::new();
        for q in queries {
            if !self.to_goal.contains_key(&goal_key(&q.goal)) && !fresh.contains(&q.goal.as_slice()) {
                fresh.push(&q.goal);
            }
        }
        let f = fresh.len();
        // Rows: state → every node (k·m), every node → each fresh goal (f·m), state → goal (k).
        let rows = k * m + f * m + k;
        let mut obs = Vec::with_capacity(rows * (sd + gd));
        for q in queries {
            for j in 0..m {
                obs.extend_from_slice(&q.state);
                obs.extend_from_slice(&self.bank.goals[j * gd..(j + 1) * gd]);
            }
        }
        for g in &fresh {
            for i in 0..m {
                obs.extend_from_slice(&self.bank.states[i * sd..(i + 1) * sd]);
                obs.extend_from_slice(g);
            }
        }
        for q in queries {
            obs.extend_from_slice(&q.state);
            obs.extend_from_slice(&q.goal);
        }
        let goals: Vec<f32> = queries.iter().flat_map(|q| q.goal.iter().copied()).collect();
        let phi = self.net.phi_pi(&obs, rows)?;
        let psi_goals = self.net.psi(&goals, k)?;

        let repeat =
            |rows: &[f32], times: usize| -> Vec<f32> { (0..times).flat_map(|_| rows.iter().copied()).collect() };
        let from = row_distances(&phi[..k * m * repr], &repeat(&self.node_psi, k), repr);
        let direct = row_distances(&phi[(k + f) * m * repr..], &psi_goals, repr);
        if from.iter().chain(&direct).any(|c| !c.is_finite()) {
            bail!("the planner's critic gave non-finite distances");
        }
        if self.to_goal.len() + f > GOAL_CACHE {
            self.to_goal.clear();
        }
        for (n, g) in fresh.iter().enumerate() {
            let s = queries.iter().position(|q| q.goal.as_slice() == *g).expect("a fresh goal comes from a query");
            let psi = repeat(&psi_goals[s * repr..(s + 1) * repr], m);
            let to = row_distances(&phi[(k + n) * m * repr..(k + n + 1) * m * repr], &psi, repr);
            if to.iter().any(|c| !c.is_finite()) {
                bail!("the planner's critic gave non-finite distances");
            }
            self.to_goal.insert(goal_key(g), to);
        }

        let mut out = Vec::with_capacity(k);
        for (s, q) in queries.iter().enumerate() {
            let to = &self.to_goal[&goal_key(&q.goal)];
            let route = shortest_path(&self.graph, &from[s * m..(s + 1) * m], to, direct[s]);
            let (source, nodes, cost) = match route {
                Some(r) if r.nodes.is_empty() => (PlanSource::Direct, Vec::new(), Some(r.cost)),
                Some(r) => (PlanSource::Graph, r.nodes, Some(r.cost)),
                None => (PlanSource::Unreachable, Vec::new(), None),
            };
            let nodes: Vec<usize> = nodes.into_iter().take(horizon.saturating_sub(1)).collect();
            let mut waypoints: Vec<Vec<f32>> =
                nodes.iter().map(|&n| self.bank.goals[n * gd..(n + 1) * gd].to_vec()).collect();
            waypoints.push(q.goal.clone());
            out.push(Planned { waypoints, nodes, source, cost, direct_cost: direct[s] });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loaded::Loaded;
    use models::bank::BankInfo;
    use models::{Model, ModelConfig};

    fn assets(cutoff: Option<f32>) -> PlannerAssets {
        let dir = tempfile::tempdir().unwrap();
        let model = Model::init(&ModelConfig::point_maze(4).with_width(16), 1).unwrap();
        let states: Vec<f32> = (0..8).flat_map(|i| [i as f32, (i % 3) as f32, 0.0, 0.0]).collect();
        let info = BankInfo { env: "point_u_maze".into(), goal_indices: vec![0, 1], selection: "test".into() };
        let bank = WaypointBank::from_rows(info, 4, &states, &(0..8).collect::<Vec<_>>());
        let checkpoint = dir.path().join("teacher.safetensors");
        let loaded = Loaded { model, checkpoint, sha256: "a".into(), onnx_sha256: None, loaded_at: SystemTime::now() };
        let files = PlannerFiles { loaded, bank, bank_path: dir.path().join("bank"), bank_sha256: "b".into() };
        let mut cfg = ServeConfig::new("", "");
        cfg.edge_cutoff = cutoff;
        PlannerAssets::build(&files, &cfg).unwrap()
    }

    #[test]
    fn a_batch_of_plans_equals_the_plans_made_one_by_one() {
        let mut a = assets(None);
        assert!(!a.graph_cached);
        // Four sessions, two of them with the same goal (its node → goal costs are computed once).
        let queries: Vec<PlanQuery> = (0..4)
            .map(|i| PlanQuery { state: vec![i as f32, 0.5, 0.0, 0.0], goal: vec![7.0 - (i % 3) as f32, 1.0] })
            .collect();
        let batch = a.plan(&queries, 4).unwrap();
        assert_eq!(a.to_goal.len(), 3);
        for (q, p) in queries.iter().zip(&batch) {
            // Fresh assets each time: nothing cached.
            let one = assets(None).plan(std::slice::from_ref(q), 4).unwrap().remove(0);
            assert_eq!(one.nodes, p.nodes);
            assert_eq!(one.source, p.source);
            assert!((one.direct_cost - p.direct_cost).abs() < 1e-4);
            assert!(p.waypoints.len() <= 4);
            assert_eq!(p.waypoints.last().unwrap(), &q.goal);
            assert_eq!(p.waypoints.len(), p.nodes.len() + 1);
        }
    }

    #[test]
    fn a_zero_cutoff_leaves_the_goal_unreachable_and_an_infinite_one_reaches_it() {
        let q = [PlanQuery { state: vec![0.0, 0.0, 0.0, 0.0], goal: vec![7.0, 1.0] }];
        let p = assets(Some(1e-9)).plan(&q, 8).unwrap().remove(0);
        assert_eq!(p.source, PlanSource::Unreachable);
        assert_eq!(p.waypoints, vec![vec![7.0, 1.0]]);
        let p = assets(Some(f32::MAX)).plan(&q, 8).unwrap().remove(0);
        assert_ne!(p.source, PlanSource::Unreachable);
        assert!(p.cost.unwrap() <= p.direct_cost + 1e-6);
    }
}
