//! `sweep.md`: the sweep as a Markdown table, one row per depth, for people and for the docs.

use std::fmt::Write;

use super::{SeedSpread, SweepPoint};

/// One row per depth: the seeds, each seed's final success and topology, their mean with the
/// between-seed 95% t-interval, the pooled-episode Wilson interval, time at goal and wall time; then
/// the straight-line reference and any skipped runs. The topology metric beyond the straight line
/// gets its two columns only where some run recorded it, so older sweeps table as they did.
pub fn markdown_table(points: &[SweepPoint]) -> String {
    let partial = super::records_partial(points);
    let mut out = String::new();
    out.push_str(
        "| depth | seeds | success per seed | success, mean over seeds [95% t] | pooled episodes [Wilson 95%] \
         | topology ρ per seed | topology ρ, mean [95% t] |",
    );
    if partial {
        out.push_str(" beyond straight line per seed | beyond straight line, mean [95% t] |");
    }
    out.push_str(" time at goal | mean wall s |\n");
    out.push_str(&"|---".repeat(if partial { 11 } else { 9 }));
    out.push_str("|\n");
    for p in points {
        if p.runs.is_empty() {
            let _ = writeln!(out, "| {} | none finished |{}", p.depth, " |".repeat(if partial { 9 } else { 7 }));
            continue;
        }
        let per_seed = |f: &dyn Fn(&super::RunResult) -> Option<f64>| {
            p.runs.iter().map(|r| f(r).map_or("–".to_string(), |v| format!("{v:.2}"))).collect::<Vec<_>>().join(" / ")
        };
        let seeds = p.seeds.iter().map(u64::to_string).collect::<Vec<_>>().join(", ");
        let pooled = p.success.map_or(String::new(), |s| format!("{} of {} = {s:.2}", p.successes, p.episodes));
        let _ = write!(
            out,
            "| {} | {seeds} | {} | {} | {pooled} | {} | {} |",
            p.depth,
            per_seed(&|r| Some(r.success_rate)),
            spread(p.seed_success),
            per_seed(&|r| r.topology),
            spread(p.topology),
        );
        if partial {
            let _ = write!(out, " {} | {} |", per_seed(&|r| r.topology_partial), spread(p.topology_partial));
        }
        let _ = writeln!(
            out,
            " {} | {} |",
            p.time_at_goal.map_or(String::new(), |t| format!("{t:.3}")),
            p.mean_wall_s.map_or(String::new(), |w| format!("{w:.0}")),
        );
    }
    if let Some(e) = points.iter().find_map(|p| p.euclidean_topology) {
        let _ =
            writeln!(out, "\nStraight-line distance scores ρ = {e:.2} on the same probes (a critic blind to walls).");
    }
    let skipped: Vec<String> =
        points.iter().flat_map(|p| &p.skipped).map(|s| format!("{} ({})", s.name, s.reason())).collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped, not counted above: {}.", skipped.join(", "));
    }
    out
}

/// "0.24 [0.05, 0.43]", "0.24 (one seed)" or "–".
fn spread(s: Option<SeedSpread>) -> String {
    match s {
        Some(SeedSpread { mean, ci95: Some([lo, hi]), .. }) => format!("{mean:.2} [{lo:.2}, {hi:.2}]"),
        Some(SeedSpread { mean, .. }) => format!("{mean:.2} (one seed)"),
        None => "–".into(),
    }
}
