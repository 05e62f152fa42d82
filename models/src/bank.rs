//! `bank.safetensors`: the waypoint bank a run leaves for the planner (DESIGN.md sections 5 and 8).
//!
//! M states from the replay buffer chosen for coverage of goal space by farthest-point sampling, with
//! their goal projections. Tensors `states` `[M, state_dim]` and `goals` `[M, goal_dim]`; metadata
//! `deepcrl.format`, `deepcrl.bank` (JSON: env, goal_indices, selection).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{read_safetensors, write_safetensors_atomic, FORMAT_KEY, FORMAT_VERSION};
use crate::error::{ModelError, Result};

/// Metadata key of the bank's description.
pub const BANK_KEY: &str = "deepcrl.bank";

/// What a bank was made from; stored as JSON in the file's metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BankInfo {
    pub env: String,
    pub goal_indices: Vec<usize>,
    /// How the states were chosen, e.g. "farthest-point sampling in goal space from 640000 replay states".
    pub selection: String,
}

/// A waypoint bank: `len()` states and their goal-space projections, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct WaypointBank {
    pub info: BankInfo,
    pub state_dim: usize,
    pub states: Vec<f32>,
    pub goals: Vec<f32>,
}

impl WaypointBank {
    /// The bank of the rows `chosen` of `states` (`[N, state_dim]`).
    pub fn from_rows(info: BankInfo, state_dim: usize, states: &[f32], chosen: &[usize]) -> Self {
        let mut s = Vec::with_capacity(chosen.len() * state_dim);
        let mut g = Vec::with_capacity(chosen.len() * info.goal_indices.len());
        for &i in chosen {
            let row = &states[i * state_dim..(i + 1) * state_dim];
            s.extend_from_slice(row);
            g.extend(info.goal_indices.iter().map(|&k| row[k]));
        }
        WaypointBank { info, state_dim, states: s, goals: g }
    }

    pub fn len(&self) -> usize {
        self.states.len() / self.state_dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn goal_dim(&self) -> usize {
        self.info.goal_indices.len()
    }

    /// Writes the bank atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string(&self.info).map_err(|e| ModelError::checkpoint(path, e.to_string()))?;
        let meta = HashMap::from([(FORMAT_KEY.to_string(), FORMAT_VERSION.to_string()), (BANK_KEY.to_string(), json)]);
        let m = self.len();
        let tensors = [
            ("states".to_string(), vec![m, self.state_dim], self.states.as_slice()),
            ("goals".to_string(), vec![m, self.goal_dim()], self.goals.as_slice()),
        ];
        write_safetensors_atomic(path, &tensors, &meta)
    }

    /// Reads and validates a bank written by [`WaypointBank::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |msg: String| ModelError::checkpoint(path, msg);
        let (meta, tensors) = read_safetensors(path)?;
        match meta.get(FORMAT_KEY).map(String::as_str) {
            Some(v) if v == FORMAT_VERSION.to_string() => {}
            other => {
                return Err(bad(format!(
                    "format version {other:?}, expected {FORMAT_VERSION}: not a deepcrl bank of this version"
                )))
            }
        }
        let info: BankInfo = match meta.get(BANK_KEY) {
            Some(json) => serde_json::from_str(json).map_err(|e| bad(format!("bad {BANK_KEY} metadata: {e}")))?,
            None => return Err(bad(format!("no {BANK_KEY} metadata: not a waypoint bank (is it a checkpoint?)"))),
        };
        let find = |name: &str| {
            tensors
                .iter()
                .find(|t| t.0 == name)
                .ok_or_else(|| bad(format!("missing tensor {name:?} (a bank has `states` and `goals`)")))
        };
        let (states, goals) = (find("states")?, find("goals")?);
        let (gd, m) = (info.goal_indices.len(), states.1.first().copied().unwrap_or(0));
        if states.1.len() != 2 || goals.1 != [m, gd] {
            return Err(bad(format!(
                "shapes states {:?} and goals {:?} do not match: expected [M, state_dim] and [M, {gd}]",
                states.1, goals.1
            )));
        }
        let state_dim = states.1[1];
        if let Some(&k) = info.goal_indices.iter().find(|&&k| k >= state_dim) {
            return Err(bad(format!("goal index {k} is outside the state (state_dim {state_dim})")));
        }
        if states.2.iter().chain(&goals.2).any(|x| !x.is_finite()) {
            return Err(bad("holds non-finite values".into()));
        }
        Ok(WaypointBank { info, state_dim, states: states.2.clone(), goals: goals.2.clone() })
    }
}

/// Greedy farthest-point sampling: indices of up to `m` rows of `points` (`[N, dim]`), starting at row
/// `first` and each time adding the row farthest (Euclidean) from those already chosen. Exact
/// duplicates are never chosen twice; fewer than `m` come back when there are fewer distinct rows.
pub fn farthest_point_sampling(points: &[f32], dim: usize, m: usize, first: usize) -> Vec<usize> {
    let n = points.len().checked_div(dim).unwrap_or(0);
    if n == 0 || m == 0 {
        return Vec::new();
    }
    let row = |i: usize| &points[i * dim..(i + 1) * dim];
    let dist2 = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f32>();
    let mut chosen = vec![first.min(n - 1)];
    let mut nearest: Vec<f32> = (0..n).map(|i| dist2(row(i), row(chosen[0]))).collect();
    while chosen.len() < m.min(n) {
        let (far, d) = nearest.iter().enumerate().fold((0, -1.0f32), |b, (i, &d)| if d > b.1 { (i, d) } else { b });
        if d <= 0.0 {
            break;
        }
        chosen.push(far);
        let p = row(far);
        for (i, nd) in nearest.iter_mut().enumerate() {
            *nd = nd.min(dist2(row(i), p));
        }
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fps_picks_the_corners_of_a_grid_first() {
        // A 5×5 grid; from the centre the farthest points are the four corners.
        let pts: Vec<f32> = (0..25).flat_map(|i| [(i % 5) as f32, (i / 5) as f32]).collect();
        let idx = farthest_point_sampling(&pts, 2, 5, 12);
        assert_eq!(idx[0], 12);
        let mut corners = idx[1..5].to_vec();
        corners.sort();
        assert_eq!(corners, vec![0, 4, 20, 24]);
    }

    #[test]
    fn fps_stops_at_the_distinct_rows() {
        let pts = [1.0f32, 1.0, 1.0, 1.0, 2.0, 2.0];
        let idx = farthest_point_sampling(&pts, 2, 10, 0);
        assert_eq!(idx, vec![0, 2]);
        assert!(farthest_point_sampling(&[], 2, 4, 0).is_empty());
    }

    #[test]
    fn fps_covers_an_unevenly_sampled_line() {
        // Points along a line, dense at one end: the first 11 rows span 0.0001, FPS spans it all.
        let pts: Vec<f32> = (0..1000).map(|i| ((i as f32) / 1000.0).powi(3) * 100.0).collect();
        let idx = farthest_point_sampling(&pts, 1, 11, 0);
        let mut v: Vec<f32> = idx.iter().map(|&i| pts[i]).collect();
        v.sort_by(f32::total_cmp);
        let gap = v.windows(2).map(|w| w[1] - w[0]).fold(0.0, f32::max);
        // On an interval FPS halves the gaps: 0, 100, 50, 25, 75, then eighths, so gaps ≤ 12.5 (+ grid spacing).
        assert!(gap <= 12.9, "largest gap {gap}");
        assert!((v[10] - 99.7).abs() < 0.1 && v[0] == 0.0);
    }

    #[test]
    fn bank_round_trips_and_rejects_a_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let info = BankInfo { env: "point_u_maze".into(), goal_indices: vec![0, 1], selection: "test".into() };
        let states: Vec<f32> = (0..40).map(|i| i as f32 * 0.5).collect();
        let bank = WaypointBank::from_rows(info, 4, &states, &[9, 0, 3]);
        assert_eq!(bank.goals, vec![18.0, 18.5, 0.0, 0.5, 6.0, 6.5]);
        let path = dir.path().join("bank.safetensors");
        bank.save(&path).unwrap();
        assert_eq!(WaypointBank::load(&path).unwrap(), bank);

        let model = crate::Model::init(&crate::ModelConfig::point_maze(4).with_width(16), 0).unwrap();
        let ckpt = dir.path().join("teacher.safetensors");
        crate::checkpoint::save(&model, &ckpt).unwrap();
        let err = WaypointBank::load(&ckpt).unwrap_err().to_string();
        assert!(err.contains("not a waypoint bank"), "{err}");
    }
}
