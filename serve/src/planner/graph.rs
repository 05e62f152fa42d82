//! The waypoint graph of "Search on the Replay Buffer" (Eysenbach et al., 2019) over the planner's
//! bank (DESIGN.md section 8): node i is bank state s_i, the edge i → j costs
//! d(s_i, g_j) = ‖φ(s_i, π(s_i, g_j)) − ψ(g_j)‖, edges above a cutoff are dropped, and a plan is the
//! shortest path from the current state to the goal.
//!
//! The M × M node-to-node costs depend only on the checkpoint and the bank, so they are computed once
//! and cached beside the checkpoint in [`CACHE_NAME`], keyed by the SHA-256 of both files: a changed
//! checkpoint or bank invalidates the cache. The cutoff is applied when the graph is used, so it can
//! change without recomputing anything.
//!
//! ```
//! use serve::planner::graph::{shortest_path, Graph};
//! // Three nodes in a line: 0 → 1 → 2 cheap, 0 → 2 too long for the cutoff.
//! let graph = Graph::new(3, vec![0.0, 1.0, 9.0, 1.0, 0.0, 1.0, 9.0, 1.0, 0.0], 2.0);
//! let from = [0.5, 5.0, 9.0]; // current state → node j
//! let to = [9.0, 5.0, 0.5]; // node i → goal
//! let route = shortest_path(&graph, &from, &to, 20.0).unwrap();
//! assert_eq!(route.nodes, vec![0, 1, 2]);
//! ```

use std::collections::HashMap;
use std::path::Path;

use crate::failure::{bail, Context, Result};
use models::bank::WaypointBank;
use models::checkpoint::{read_safetensors, write_safetensors_atomic};
use sha2::{Digest, Sha256};

use crate::loaded::hex;
use crate::planner::distances::{row_distances, DistanceNet};

/// The cache file beside the planner's checkpoint.
pub const CACHE_NAME: &str = rundir::layout::PLAN_GRAPH;
const KEY: &str = "deepcrl.plan_graph.key";
/// Bump when the meaning of the cached costs changes.
const CACHE_VERSION: &str = "1";

/// Node-to-node costs and the cutoff above which an edge does not exist.
#[derive(Clone, Debug, PartialEq)]
pub struct Graph {
    pub nodes: usize,
    /// `costs[i * nodes + j]` = d(s_i, g_j); the diagonal is 0.
    pub costs: Vec<f32>,
    pub cutoff: f32,
}

impl Graph {
    pub fn new(nodes: usize, costs: Vec<f32>, cutoff: f32) -> Self {
        assert_eq!(costs.len(), nodes * nodes, "a graph of {nodes} nodes needs {nodes}² costs");
        Graph { nodes, costs, cutoff }
    }

    /// Directed edges that survive the cutoff (the diagonal excluded).
    pub fn edges(&self) -> usize {
        let n = self.nodes;
        (0..n * n).filter(|&k| k / n != k % n && self.costs[k] <= self.cutoff).count()
    }
}

/// The cutoff keeping the shortest `quantile` of the off-diagonal costs.
pub fn quantile_cutoff(costs: &[f32], nodes: usize, quantile: f32) -> f32 {
    let mut off: Vec<f32> =
        (0..nodes * nodes).filter(|&k| k / nodes != k % nodes).map(|k| costs[k]).filter(|c| c.is_finite()).collect();
    if off.is_empty() {
        return f32::INFINITY;
    }
    off.sort_by(f32::total_cmp);
    let k = ((quantile.clamp(0.0, 1.0) * off.len() as f32).ceil() as usize).clamp(1, off.len());
    off[k - 1]
}

/// The cache key of a checkpoint and a bank (their SHA-256 digests).
pub fn cache_key(checkpoint_sha256: &str, bank_sha256: &str) -> String {
    let mut h = Sha256::new();
    for part in [CACHE_VERSION, checkpoint_sha256, bank_sha256] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    hex(&h.finalize())
}

/// Computes every node-to-node cost of `bank` with the planner network: M² queries, batched.
pub fn node_costs(net: &mut DistanceNet, bank: &WaypointBank) -> Result<Vec<f32>> {
    let (m, sd, gd) = (bank.len(), bank.state_dim, bank.goal_dim());
    let psi_nodes = net.psi(&bank.goals, m)?;
    let repr = net.repr_dim();
    let mut costs = vec![0f32; m * m];
    // One source row i at a time against every node goal j keeps the buffers at M rows.
    let rows_per_call = (4096 / m).max(1);
    let mut obs = Vec::new();
    let mut psi = Vec::new();
    for first in (0..m).step_by(rows_per_call) {
        let sources = rows_per_call.min(m - first);
        obs.clear();
        psi.clear();
        for i in first..first + sources {
            for j in 0..m {
                obs.extend_from_slice(&bank.states[i * sd..(i + 1) * sd]);
                obs.extend_from_slice(&bank.goals[j * gd..(j + 1) * gd]);
            }
            psi.extend_from_slice(&psi_nodes);
        }
        let phi = net.phi_pi(&obs, sources * m)?;
        let d = row_distances(&phi, &psi, repr);
        costs[first * m..(first + sources) * m].copy_from_slice(&d);
    }
    for i in 0..m {
        costs[i * m + i] = 0.0;
    }
    if costs.iter().any(|c| !c.is_finite()) {
        bail!("the planner's critic gives non-finite distances between bank states");
    }
    Ok(costs)
}

/// The cached costs at `path` if they were made for `key` and `nodes` nodes.
pub fn load_cache(path: &Path, key: &str, nodes: usize) -> Option<Vec<f32>> {
    let (meta, tensors) = read_safetensors(path).ok()?;
    if meta.get(KEY).map(String::as_str) != Some(key) {
        return None;
    }
    let (_, shape, costs) = tensors.into_iter().find(|t| t.0 == "costs")?;
    (shape == [nodes, nodes] && costs.iter().all(|c| c.is_finite())).then_some(costs)
}

/// Writes the costs atomically with their key.
pub fn save_cache(path: &Path, key: &str, nodes: usize, costs: &[f32]) -> Result<()> {
    let meta = HashMap::from([(KEY.to_string(), key.to_string())]);
    write_safetensors_atomic(path, &[("costs".to_string(), vec![nodes, nodes], costs)], &meta)
        .with_context(|| format!("writing the planning graph cache {}", path.display()))
}

/// The cached costs when valid, else freshly computed ones (and a new cache file; a read-only run
/// directory only costs a warning). The flag says whether the cache was used.
pub fn load_or_build(path: &Path, key: &str, net: &mut DistanceNet, bank: &WaypointBank) -> Result<(Vec<f32>, bool)> {
    if let Some(costs) = load_cache(path, key, bank.len()) {
        return Ok((costs, true));
    }
    let started = std::time::Instant::now();
    let costs = node_costs(net, bank)?;
    tracing::info!(nodes = bank.len(), secs = started.elapsed().as_secs_f64(), "computed the planning graph");
    if let Err(e) = save_cache(path, key, bank.len(), &costs) {
        tracing::warn!("{e:#}: the graph will be recomputed at the next start");
    }
    Ok((costs, false))
}

/// A path through the graph: the bank nodes to visit, in order, before the goal.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    pub nodes: Vec<usize>,
    pub cost: f32,
}

/// Dijkstra from the current state to the goal. `from[j]` is the cost state → node j, `to[i]` the
/// cost node i → goal, `direct` the cost state → goal; every edge above the cutoff is dropped, the
/// direct one included. `None` when the goal cannot be reached; an empty route when going straight
/// to the goal is cheapest.
pub fn shortest_path(graph: &Graph, from: &[f32], to: &[f32], direct: f32) -> Option<Route> {
    let (m, cut) = (graph.nodes, graph.cutoff);
    let ok = |c: f32| c.is_finite() && c <= cut;
    // Vertices 0..m are bank nodes, m is the goal; the source is implicit in the initial distances.
    let mut dist = vec![f32::INFINITY; m + 1];
    let mut prev = vec![usize::MAX; m + 1];
    let mut done = vec![false; m + 1];
    for j in 0..m {
        if ok(from[j]) {
            dist[j] = from[j];
        }
    }
    if ok(direct) {
        dist[m] = direct;
    }
    loop {
        let u = (0..=m).filter(|&v| !done[v] && dist[v].is_finite()).min_by(|&a, &b| dist[a].total_cmp(&dist[b]))?;
        if u == m {
            break;
        }
        done[u] = true;
        let du = dist[u];
        let edges = graph.costs[u * m..(u + 1) * m].iter().copied().chain([to[u]]);
        for (v, c) in edges.enumerate() {
            if v != u && !done[v] && ok(c) && du + c < dist[v] {
                dist[v] = du + c;
                prev[v] = u;
            }
        }
    }
    let mut nodes = Vec::new();
    let mut v = prev[m];
    while v != usize::MAX {
        nodes.push(v);
        v = prev[v];
    }
    nodes.reverse();
    Some(Route { nodes, cost: dist[m] })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes on a line at x = 0..n with cost |i − j|.
    fn line(n: usize, cutoff: f32) -> Graph {
        let costs = (0..n * n).map(|k| ((k / n) as f32 - (k % n) as f32).abs()).collect();
        Graph::new(n, costs, cutoff)
    }

    #[test]
    fn dijkstra_hops_along_short_edges_and_goes_direct_when_close() {
        let g = line(5, 1.2);
        // State at x = −0.5, goal at x = 4.5: only neighbours (cost 1) are connected.
        let from: Vec<f32> = (0..5).map(|j| j as f32 + 0.5).collect();
        let to: Vec<f32> = (0..5).map(|i| 4.5 - i as f32).collect();
        let r = shortest_path(&g, &from, &to, 5.0).unwrap();
        assert_eq!(r.nodes, vec![0, 1, 2, 3, 4]);
        assert!((r.cost - 5.0).abs() < 1e-6);
        // The goal within the cutoff and no cheaper detour: straight there.
        let r = shortest_path(&g, &from, &to, 1.0).unwrap();
        assert!(r.nodes.is_empty() && r.cost == 1.0);
        // Cut the line between 2 and 3: unreachable.
        let mut cut = g.clone();
        cut.costs[2 * 5 + 3] = 10.0;
        assert_eq!(shortest_path(&cut, &from, &to, 5.0), None);
    }

    #[test]
    fn quantile_cutoff_counts_off_diagonal_edges() {
        let g = line(4, 0.0);
        // Off-diagonal costs: six 1s, four 2s, two 3s.
        assert_eq!(quantile_cutoff(&g.costs, 4, 0.5), 1.0);
        assert_eq!(quantile_cutoff(&g.costs, 4, 0.75), 2.0);
        assert_eq!(quantile_cutoff(&g.costs, 4, 1.0), 3.0);
        assert_eq!(Graph { cutoff: 1.0, ..g }.edges(), 6);
    }

    #[test]
    fn the_cache_round_trips_and_a_new_key_invalidates_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CACHE_NAME);
        let costs: Vec<f32> = (0..9).map(|i| i as f32).collect();
        let key = cache_key("ckpt-a", "bank");
        save_cache(&path, &key, 3, &costs).unwrap();
        assert_eq!(load_cache(&path, &key, 3), Some(costs));
        assert_eq!(load_cache(&path, &cache_key("ckpt-b", "bank"), 3), None);
        assert_eq!(load_cache(&path, &key, 4), None);
        assert_eq!(load_cache(&dir.path().join("missing"), &key, 3), None);
    }
}
