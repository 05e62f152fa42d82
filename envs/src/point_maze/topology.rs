//! Does a critic know the maze? The probes and the rank correlation behind the topology metric
//! (issue 18): over (state, goal) pairs spread over a layout's free cells, how well a distance ranks
//! the pairs the way the shortest path through the maze does. A critic that learned the topology
//! ranks them by path length; one that learned straight-line distance ranks them as the Euclidean
//! distance does, which is wrong exactly where walls force detours.

use super::layout::{Layout, CELL};

/// One (state, goal) pair and its two reference distances, in world units.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// Position at a free cell's centre, at rest: `[x, y, 0, 0]`.
    pub state: [f32; 4],
    /// Another free cell's centre.
    pub goal: [f32; 2],
    /// Shortest path through free cells (4-connected), cells × cell size.
    pub geodesic: f32,
    pub euclidean: f32,
}

/// Ordered pairs of distinct free cells, the goal reachable from the state; when there are more
/// than `max_pairs`, an evenly strided subset (deterministic: the same probes at every
/// evaluation and in every run on this layout).
pub fn probes(layout: &Layout, max_pairs: usize) -> Vec<Probe> {
    let cells = layout.free_cells();
    let mut all = Vec::new();
    for &from in &cells {
        let dist = layout.bfs_distances(from);
        let [sx, sy] = Layout::center(from.0, from.1);
        for &to in &cells {
            let Some(steps) = dist[to.0 * layout.cols + to.1].filter(|_| to != from) else {
                continue;
            };
            let [gx, gy] = Layout::center(to.0, to.1);
            all.push(Probe {
                state: [sx, sy, 0.0, 0.0],
                goal: [gx, gy],
                geodesic: steps as f32 * CELL,
                euclidean: ((gx - sx).powi(2) + (gy - sy).powi(2)).sqrt(),
            });
        }
    }
    if all.len() <= max_pairs || max_pairs == 0 {
        return all;
    }
    let stride = all.len() as f64 / max_pairs as f64;
    (0..max_pairs).map(|k| all[(k as f64 * stride) as usize].clone()).collect()
}

/// Ranks from 1, ties sharing the mean of the ranks they span.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's rank correlation of `a` and `b` (Pearson's on their tie-averaged ranks); NaN when
/// either is constant, shorter than two, a different length, or holds a non-finite value.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    if a.len() != b.len() || a.len() < 2 || a.iter().chain(b).any(|v| !v.is_finite()) {
        return f64::NAN;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    if va == 0.0 || vb == 0.0 {
        return f64::NAN;
    }
    cov / (va * vb).sqrt()
}

/// Spearman's partial correlation of `a` and `b` given `c`: how well `a` ranks like `b` beyond what
/// `c` already explains. With `b` the geodesic and `c` the straight line, a critic that knows only
/// straight-line distance scores about 0 and one that ranks by path length about 1, on any maze,
/// while the plain correlation of the former can be high wherever few pairs take a detour. NaN
/// where `spearman` is, and where `a` or `b` ranks exactly as `c` does (nothing left to explain).
pub fn partial_spearman(a: &[f64], b: &[f64], c: &[f64]) -> f64 {
    let (ab, ac, bc) = (spearman(a, b), spearman(a, c), spearman(b, c));
    let rest = (1.0 - ac * ac) * (1.0 - bc * bc);
    if rest.is_nan() || rest <= 0.0 {
        return f64::NAN;
    }
    ((ab - ac * bc) / rest.sqrt()).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u_maze() -> Layout {
        Layout::builtin("u_maze").unwrap()
    }

    #[test]
    fn the_geodesic_scores_one_and_a_reversal_minus_one() {
        let p = probes(&u_maze(), 1000);
        let g: Vec<f64> = p.iter().map(|p| f64::from(p.geodesic)).collect();
        assert_eq!(spearman(&g, &g), 1.0);
        let reversed: Vec<f64> = g.iter().map(|x| -x).collect();
        assert!((spearman(&reversed, &g) + 1.0).abs() < 1e-12);
        // Any increasing function of the geodesic ranks the same.
        let squashed: Vec<f64> = g.iter().map(|x| x.sqrt() + 3.0).collect();
        assert_eq!(spearman(&squashed, &g), 1.0);
    }

    #[test]
    fn a_hand_computed_example_with_ties() {
        // a ranks 1, 2.5, 2.5, 4; b ranks 2, 1, 3, 4 (worked by hand):
        // means 2.5, deviations a (−1.5, 0, 0, 1.5), b (−0.5, −1.5, 0.5, 1.5);
        // cov = 0.75 + 0 + 0 + 2.25 = 3; var_a = 4.5, var_b = 5; ρ = 3 / √22.5.
        let rho = spearman(&[1.0, 5.0, 5.0, 9.0], &[2.0, 1.0, 3.0, 4.0]);
        assert!((rho - 3.0 / 22.5f64.sqrt()).abs() < 1e-12, "{rho}");
        assert!(spearman(&[1.0, 1.0], &[1.0, 2.0]).is_nan(), "a constant distance has no ranking");
        assert!(spearman(&[1.0], &[1.0]).is_nan());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_nan());
    }

    #[test]
    fn the_metric_separates_a_geodesic_critic_from_a_euclidean_one_on_the_u_maze() {
        // In the U-maze the arms' ends are close in a straight line and far along the corridor. Over
        // all pairs straight-line distance still ranks most of them right; over the 8 pairs a wall
        // makes at least 1.5× longer than the straight line, it cannot rank them at all. Measured:
        // all pairs 0.98 (geodesic-like) against 0.82 (euclidean-like); detours 0.93 against 0.00.
        // (The geodesic-like critic is below 1 only because its noise breaks the geodesic's ties.)
        let all = probes(&u_maze(), 1000);
        let noise = |k: usize| ((k * 7919) % 13) as f64 * 0.01;
        let score = |p: &[Probe]| {
            let g: Vec<f64> = p.iter().map(|p| f64::from(p.geodesic)).collect();
            let geo_critic: Vec<f64> = g.iter().enumerate().map(|(k, x)| x + noise(k)).collect();
            let euc_critic: Vec<f64> = p.iter().enumerate().map(|(k, p)| f64::from(p.euclidean) + noise(k)).collect();
            (spearman(&geo_critic, &g), spearman(&euc_critic, &g))
        };
        let (geo, euc) = score(&all);
        assert!(geo > 0.95 && euc < 0.9 && geo - euc > 0.1, "all pairs: geodesic-like {geo}, euclidean-like {euc}");
        let detours: Vec<Probe> = all.iter().filter(|p| p.geodesic >= 1.5 * p.euclidean).cloned().collect();
        assert!(detours.len() >= 8, "{} detour pairs", detours.len());
        let (geo, euc) = score(&detours);
        assert!(geo > 0.9 && euc < 0.5, "detour pairs: geodesic-like {geo}, euclidean-like {euc}");
    }

    #[test]
    fn the_partial_correlation_by_hand_and_at_its_limits() {
        // No ties, so ρ = 1 − 6Σd²/(n(n² − 1)) with n(n² − 1) = 60: a = (1, 2, 4, 3), b = (2, 1, 3, 4),
        // c = (1, 2, 3, 4) give ρ_ab = 1 − 24/60 = 0.6, ρ_ac = ρ_bc = 1 − 12/60 = 0.8, so the partial
        // correlation is (0.6 − 0.64) / (1 − 0.64) = −1/9.
        let (a, b, c) = ([1.0, 2.0, 4.0, 3.0], [2.0, 1.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]);
        let rho = partial_spearman(&a, &b, &c);
        assert!((rho + 1.0 / 9.0).abs() < 1e-12, "{rho}");
        // b itself scores 1; a copy of c has nothing beyond c; NaN input stays NaN.
        assert!((partial_spearman(&b, &b, &c) - 1.0).abs() < 1e-12);
        assert!(partial_spearman(&c, &b, &c).is_nan());
        assert!(partial_spearman(&[1.0, 2.0, f64::NAN, 3.0], &b, &c).is_nan());
    }

    #[test]
    fn beyond_the_straight_line_the_big_maze_separates_the_two_critics() {
        // On the big maze straight-line distance ranks most pairs like the shortest path (0.89), so
        // the plain correlation barely separates a critic that knows only the straight line from
        // one that knows the maze (measured: 0.99 against 0.89). The partial correlation given the
        // straight line does (0.97 against 0.05).
        let all = probes(&Layout::builtin("big_maze").unwrap(), 0);
        let noise = |k: usize| ((k * 7919) % 13) as f64 * 0.1;
        let g: Vec<f64> = all.iter().map(|p| f64::from(p.geodesic)).collect();
        let e: Vec<f64> = all.iter().map(|p| f64::from(p.euclidean)).collect();
        let geo_critic: Vec<f64> = g.iter().enumerate().map(|(k, x)| x + noise(k)).collect();
        let euc_critic: Vec<f64> = e.iter().enumerate().map(|(k, x)| x + noise(k)).collect();
        let (geo, euc) = (spearman(&geo_critic, &g), spearman(&euc_critic, &g));
        assert!(geo > 0.95 && euc > 0.85, "plain: geodesic-like {geo}, euclidean-like {euc}");
        let (geo, euc) = (partial_spearman(&geo_critic, &g, &e), partial_spearman(&euc_critic, &g, &e));
        assert!(geo > 0.8 && euc.abs() < 0.15, "partial: geodesic-like {geo}, euclidean-like {euc}");
    }

    #[test]
    fn probes_are_distinct_reachable_pairs_and_a_cap_keeps_a_deterministic_spread() {
        let maze = Layout::builtin("big_maze").unwrap();
        let all = probes(&maze, 0);
        let free = maze.free_cells().len();
        assert_eq!(all.len(), free * (free - 1), "every ordered pair of distinct free cells");
        assert!(all.iter().all(|p| p.geodesic >= p.euclidean - 1e-4 && p.geodesic > 0.0));
        let some = probes(&maze, 500);
        assert_eq!(some.len(), 500);
        assert_eq!(some, probes(&maze, 500), "the same probes every time");
        assert!(some.first() != some.last());
    }
}
