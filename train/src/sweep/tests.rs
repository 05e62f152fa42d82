//! The sweep's gathering, statistics, table and plot, on fake run directories.

use super::*;
use serde_json::json;
use std::path::PathBuf;

const PNG: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// A fake run directory: `config.toml` for (depth, seed, budget), and unless `eval` is `None`
/// an `eval.json` at `env_steps` with `successes` of `episodes` and the given time at goal.
fn fake_run(sweep: &Path, depth: usize, seed: u64, budget: u64, eval: Option<(u64, usize, usize, f64)>) -> PathBuf {
    let dir = sweep.join(format!("d{depth}-s{seed}"));
    fs::create_dir_all(&dir).unwrap();
    let cfg = TrainConfig { depth, seed, total_env_steps: budget, ..Default::default() };
    fs::write(dir.join("config.toml"), cfg.to_toml().unwrap()).unwrap();
    if let Some((env_steps, successes, episodes, tag)) = eval {
        let s = Stat::wilson(successes, episodes);
        let records: Vec<_> = (0..episodes).map(|i| json!({ "success": i < successes, "time_at_goal": tag })).collect();
        let eval = json!({
            "metrics": { "env_steps": env_steps, "sgd_steps": env_steps / 16, "wall_s": 10.0 * (seed + 1) as f64,
                         "success_rate": s.mean, "success_ci95": [s.ci95_low, s.ci95_high],
                         "time_at_goal": tag, "per_goal": { "(3,1)": s.mean },
                         "topology": tag, "euclidean_topology": 0.8 },
            "report": { "env": "point_u_maze_eval", "episodes": episodes, "records": records },
        });
        fs::write(dir.join("eval.json"), serde_json::to_string_pretty(&eval).unwrap()).unwrap();
    }
    dir
}

/// Depth 4: two finished seeds; depth 8: one finished, one short of its budget; depth 16: one run
/// not evaluated yet; plus a directory that is no run at all.
fn fake_sweep() -> tempfile::TempDir {
    let sweep = tempfile::tempdir().unwrap();
    fake_run(sweep.path(), 4, 1, 20_000, Some((20_480, 5, 8, 0.5)));
    fake_run(sweep.path(), 4, 0, 20_000, Some((20_000, 3, 8, 0.25)));
    fake_run(sweep.path(), 8, 0, 20_000, Some((20_000, 8, 8, 0.75)));
    fake_run(sweep.path(), 8, 1, 20_000, Some((10_000, 1, 8, 0.0)));
    fake_run(sweep.path(), 16, 0, 20_000, None);
    fs::create_dir_all(sweep.path().join("notes")).unwrap();
    fs::write(sweep.path().join("README.txt"), "not a run").unwrap();
    sweep
}

#[test]
fn sweep_pools_seeds_per_depth() {
    let sweep = fake_sweep();
    let points = collect_sweep(sweep.path()).unwrap();
    assert_eq!(points.iter().map(|p| p.depth).collect::<Vec<_>>(), [4, 8, 16]);

    let p = &points[0];
    assert_eq!(p.seeds, [0, 1]);
    assert_eq!((p.successes, p.episodes), (8, 16));
    assert_eq!(p.success, Some(Stat::wilson(8, 16)));
    assert_eq!(p.success.unwrap().mean, 0.5);
    assert_eq!(p.time_at_goal, Some(0.375));
    assert_eq!(p.mean_wall_s, Some(15.0));
    assert_eq!(p.runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["d4-s0", "d4-s1"]);
    assert_eq!((p.runs[0].successes, p.runs[0].episodes, p.runs[0].success_rate), (3, 8, 0.375));
    assert_eq!((p.runs[1].env_steps, p.runs[1].total_env_steps), (20_480, 20_000));
    assert!(p.skipped.is_empty());
    let seeds = p.seed_success.unwrap();
    assert_eq!((seeds.seeds, seeds.mean), (2, 0.5));
    let topology = p.topology.unwrap();
    assert_eq!((topology.seeds, topology.mean), (2, 0.375));
    assert_eq!(p.runs[0].topology, Some(0.25));
    assert_eq!(p.euclidean_topology, Some(0.8));

    let p = &points[1];
    assert_eq!(p.seeds, [0]);
    assert_eq!((p.successes, p.episodes, p.success), (8, 8, Some(Stat::wilson(8, 8))));
    let unfinished = SkippedRun { name: "d8-s1".into(), seed: 1, env_steps: Some(10_000), total_env_steps: 20_000 };
    assert_eq!(p.skipped, [unfinished]);
    assert_eq!(p.skipped[0].reason(), "unfinished: 10000 of 20000 env steps");

    let p = &points[2];
    assert!(p.runs.is_empty() && p.seeds.is_empty());
    assert_eq!((p.successes, p.episodes, p.success, p.time_at_goal, p.mean_wall_s), (0, 0, None, None, None));
    assert_eq!((p.seed_success, p.topology, p.euclidean_topology), (None, None, None));
    assert_eq!(p.skipped.len(), 1);
    assert_eq!(p.skipped[0].env_steps, None);
}

#[test]
fn sweep_json_round_trip() {
    let sweep = fake_sweep();
    let points = collect_sweep(sweep.path()).unwrap();
    let path = sweep.path().join("sweep.json");
    write_sweep_json(&points, &path).unwrap();
    let back: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let p = &back["points"];
    assert_eq!(p.as_array().unwrap().len(), 3);
    assert_eq!(
        (p[0]["depth"].as_u64(), p[0]["successes"].as_u64(), p[0]["episodes"].as_u64()),
        (Some(4), Some(8), Some(16))
    );
    assert_eq!(p[0]["success"]["mean"].as_f64(), Some(0.5));
    assert_eq!(p[1]["skipped"][0]["name"], "d8-s1");
    assert!(p[2]["success"].is_null());
}

#[test]
fn sweep_errors_name_the_file() {
    let expect_err = |dir: &Path, needle: &Path| {
        let e = format!("{:#}", collect_sweep(dir).unwrap_err());
        assert!(e.contains(&needle.display().to_string()), "{e}");
    };
    let sweep = tempfile::tempdir().unwrap();
    expect_err(&sweep.path().join("missing"), &sweep.path().join("missing"));

    let run = fake_run(sweep.path(), 4, 0, 20_000, Some((20_000, 3, 8, 0.25)));
    fs::write(run.join("eval.json"), "{\"metrics\": 3").unwrap();
    expect_err(sweep.path(), &run.join("eval.json"));

    // The records must be the whole evaluation, since successes are counted from them.
    let eval = json!({ "metrics": { "env_steps": 20_000, "wall_s": 1.0, "success_rate": 0.5, "time_at_goal": 0.1 },
                       "report": { "episodes": 8, "records": [{ "success": true }] } });
    fs::write(run.join("eval.json"), eval.to_string()).unwrap();
    expect_err(sweep.path(), &run.join("eval.json"));

    fs::write(run.join("config.toml"), "depth = \"deep\"\n").unwrap();
    expect_err(sweep.path(), &run.join("config.toml"));
}

fn plot_ok(points: &[SweepPoint], title: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("depth_sweep.png");
    plot_sweep(points, title, &path).unwrap();
    let bytes = fs::read(&path).unwrap();
    assert!(bytes.len() > 1000);
    assert_eq!(bytes[..8], PNG);
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1, "the temporary file is gone");
}

#[test]
fn sweep_plot_zero_one_and_three_depths() {
    let sweep = fake_sweep();
    let points = collect_sweep(sweep.path()).unwrap();
    plot_ok(&[], "no points");
    plot_ok(&points[2..], "only an unfinished depth");
    plot_ok(&points[..1], "one depth");
    plot_ok(&points, "three depths, one unfinished");
}

/// Renders the fake sweep to /tmp/sweep_sample.png for a look.
#[test]
#[ignore]
fn sweep_sample() {
    let sweep = fake_sweep();
    let points = collect_sweep(sweep.path()).unwrap();
    plot_sweep(&points, "point_u_maze: success vs depth", Path::new("/tmp/sweep_sample.png")).unwrap();
}

#[test]
fn seed_spread_is_a_student_t_interval_over_seeds() {
    assert_eq!(SeedSpread::of(&[], [0.0, 1.0]), None);
    // One seed: a mean, but no spread and no interval.
    assert_eq!(SeedSpread::of(&[0.4], [0.0, 1.0]), Some(SeedSpread { seeds: 1, mean: 0.4, sd: None, ci95: None }));
    // 1, 2, 3: mean 2, sd 1, t(0.975, 2 df) = 4.302653 (tables), half width 4.302653 / √3 = 2.484138.
    let s = SeedSpread::of(&[1.0, 2.0, 3.0], [-10.0, 10.0]).unwrap();
    assert_eq!((s.seeds, s.mean, s.sd), (3, 2.0, Some(1.0)));
    let [lo, hi] = s.ci95.unwrap();
    assert!((lo - (2.0 - 2.484138)).abs() < 1e-5 && (hi - (2.0 + 2.484138)).abs() < 1e-5, "{lo} {hi}");
    // The same values as success rates would run past [0, 1]: the interval is clipped, the mean is not.
    let s = SeedSpread::of(&[0.0, 0.5, 1.0], [0.0, 1.0]).unwrap();
    assert_eq!((s.mean, s.ci95), (0.5, Some([0.0, 1.0])));
    // Two seeds that agree exactly have a zero-width interval.
    let s = SeedSpread::of(&[0.25, 0.25], [0.0, 1.0]).unwrap();
    assert_eq!((s.sd, s.ci95), (Some(0.0), Some([0.25, 0.25])));
}

#[test]
fn a_run_without_the_topology_metric_reads_as_none() {
    let sweep = tempfile::tempdir().unwrap();
    let run = fake_run(sweep.path(), 4, 0, 20_000, Some((20_000, 3, 8, 0.25)));
    // NaN is written as null (a non-maze environment); runs made before the metric have no key.
    for written_as_null in [true, false] {
        let text = fs::read_to_string(run.join("eval.json")).unwrap();
        let mut eval: serde_json::Value = serde_json::from_str(&text).unwrap();
        let metrics = eval["metrics"].as_object_mut().unwrap();
        metrics.remove("euclidean_topology");
        if written_as_null {
            metrics.insert("topology".into(), json!(null));
        } else {
            metrics.remove("topology");
        }
        fs::write(run.join("eval.json"), eval.to_string()).unwrap();
        let p = &collect_sweep(sweep.path()).unwrap()[0];
        assert_eq!((p.runs[0].topology, p.topology, p.euclidean_topology), (None, None, None));
        assert_eq!(p.seed_success.unwrap().mean, 0.375);
    }
}

#[test]
fn the_table_gives_each_seed_and_both_intervals() {
    let sweep = fake_sweep();
    let table = markdown_table(&collect_sweep(sweep.path()).unwrap());
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("| depth | seeds | success per seed |"), "{table}");
    // Depth 4: seeds 0 and 1 at 3/8 and 5/8; with two seeds t(0.975, 1) = 12.71, clipped to [0, 1].
    assert!(rows[2].starts_with("| 4 | 0, 1 | 0.38 / 0.62 | 0.50 [0.00, 1.00] | 8 of 16 = 0.50 ["), "{table}");
    assert!(rows[2].ends_with("| 0.25 / 0.50 | 0.38 [-1.00, 1.00] | 0.375 | 15 |"), "{table}");
    assert!(rows[3].starts_with("| 8 | 0 | 1.00 | 1.00 (one seed) |"), "{table}");
    assert!(rows[4].starts_with("| 16 | none finished |"), "{table}");
    assert!(table.contains("ρ = 0.80 on the same probes"), "{table}");
    let skipped = "Skipped, not counted above: d8-s1 (unfinished: 10000 of 20000 env steps), d16-s0";
    assert!(table.contains(skipped), "{table}");
}

#[test]
fn the_metric_beyond_the_straight_line_gets_columns_and_a_panel_only_where_recorded() {
    let sweep = fake_sweep();
    let width_of = |path: &Path| {
        let bytes = fs::read(path).unwrap();
        u32::from_be_bytes(bytes[16..20].try_into().unwrap())
    };
    let png = sweep.path().join("plot.png");
    let before = collect_sweep(sweep.path()).unwrap();
    assert!(!markdown_table(&before).contains("beyond straight line"));
    plot_sweep(&before, "three panels", &png).unwrap();
    assert_eq!(width_of(&png), 1560);
    // Seeds 0 and 1 of depth 4 recorded it; depth 8's seed is from before it existed.
    for (seed, partial) in [(0, -0.25), (1, 0.75)] {
        let path = sweep.path().join(format!("d4-s{seed}")).join("eval.json");
        let mut eval: serde_json::Value = serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
        eval["metrics"]["topology_partial"] = json!(partial);
        fs::write(&path, eval.to_string()).unwrap();
    }
    let points = collect_sweep(sweep.path()).unwrap();
    let spread = points[0].topology_partial.unwrap();
    assert_eq!((spread.seeds, spread.mean), (2, 0.25));
    assert_eq!((points[1].runs[0].topology_partial, points[1].topology_partial), (None, None));
    let table = markdown_table(&points);
    let rows: Vec<&str> = table.lines().take_while(|l| l.starts_with('|')).collect();
    assert!(rows[0].contains("| beyond straight line per seed | beyond straight line, mean [95% t] |"), "{table}");
    assert!(rows[2].contains("| -0.25 / 0.75 | 0.25 [-1.00, 1.00] |"), "{table}");
    assert!(rows[3].contains("| 0.75 (one seed) | – | – |"), "{table}");
    let columns = |row: &str| row.matches('|').count();
    assert!(rows.iter().all(|r| columns(r) == 12), "every row has the two extra columns:\n{table}");
    plot_sweep(&points, "four panels", &png).unwrap();
    assert_eq!(width_of(&png), 2080);
}
