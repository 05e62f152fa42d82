//! `--layout FILE`: a maze of the user's own, end to end through `train`'s command line: recorded
//! absolute in config.toml, trained and evaluated on its own goal cells, plotted, resumed; and the
//! layout errors a user meets.

mod common;

use common::temp_dir;

/// Two rooms joined by a door in the middle wall; the goals are in the far room.
const TWO_ROOMS: &str = "\
# two rooms
1 1 1 1 1 1 1
1 R 0 1 G G 1
1 0 0 0 0 G 1
1 0 0 1 G G 1
1 1 1 1 1 1 1
";

#[test]
fn a_layout_file_trains_evaluates_plots_and_resumes() {
    let dir = temp_dir("layout");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("two_rooms.txt");
    std::fs::write(&file, TWO_ROOMS).unwrap();
    let out = dir.join("run");
    let args = |total: &str, resume: bool| {
        let mut a =
            vec!["train", "--env", "point_maze", "--layout", file.to_str().unwrap(), "--out", out.to_str().unwrap()];
        a.extend(["--width", "32", "--batch-size", "32", "--num-envs", "8", "--unroll-length", "10"]);
        a.extend(["--sgd-steps-per-round", "4", "--episode-length", "50", "--prefill-env-steps", "400"]);
        a.extend(["--eval-every", "400", "--eval-episodes", "8", "--replay-steps", "500", "--threads", "1"]);
        a.extend(["--total-env-steps", total]);
        if resume {
            a.push("--resume");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    let inv = train::cli::parse_from(args("800", false)).unwrap();
    let abs = std::fs::canonicalize(&file).unwrap();
    assert_eq!(inv.cfg.layout.as_deref(), Some(abs.as_path()), "the layout is resolved to an absolute path");
    let s = train::run::train(&inv.cfg, &inv.out, false, ()).unwrap();
    assert!(s.final_metrics.sgd_steps > 0);
    let recorded = train::config::TrainConfig::from_toml_file(&out.join("config.toml")).unwrap();
    assert_eq!(recorded.layout.as_deref(), Some(abs.as_path()), "config.toml records the layout");
    assert!(out.join("trajectories.png").is_file(), "the maze plot is drawn over the user's layout");
    // Evaluation ran on the layout's own goal cells: the per-goal keys are its G cells.
    let eval: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    let goals: Vec<String> =
        eval["metrics"]["per_goal"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    let g_cells = ["(1,4)", "(1,5)", "(2,5)", "(3,4)", "(3,5)"];
    assert!(!goals.is_empty() && goals.iter().all(|g| g_cells.contains(&g.as_str())), "{goals:?}");

    // --resume finds the layout in config.toml without the flag.
    let resumed =
        train::cli::parse_from(["train", "--out", out.to_str().unwrap(), "--resume", "--total-env-steps", "1200"])
            .unwrap();
    assert_eq!(resumed.cfg.layout.as_deref(), Some(abs.as_path()));
    let again = train::run::train(&resumed.cfg, &resumed.out, true, ()).unwrap();
    assert!(again.final_metrics.env_steps >= 1_200);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn layout_mistakes_are_clear_errors() {
    let dir = temp_dir("layout-errors");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("never");
    let run = |layout: &str| {
        let e = train::cli::parse_from([
            "train",
            "--env",
            "point_maze",
            "--layout",
            layout,
            "--out",
            out.to_str().unwrap(),
        ])
        .and_then(|inv| train::run::train(&inv.cfg, &inv.out, false, ()).map(|_| ()));
        e.unwrap_err().to_string()
    };
    let e = run(dir.join("missing.txt").to_str().unwrap());
    assert!(e.contains("--layout") && e.contains("missing.txt"), "{e}");
    for (name, text, want) in [
        ("ragged.txt", "1 1 1\n1 R G 1\n1 1 1\n", "ragged rows"),
        ("walled.txt", "1 1 1 1 1\n1 R 1 G 1\n1 1 1 1 1\n", "cannot be reached"),
        ("letters.txt", "1 1 1\n1 R X\n1 1 1\n", "unknown cell"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let e = run(path.to_str().unwrap());
        assert!(e.contains(name) && e.contains(want), "{name}: {e}");
    }
    let e = train::cli::parse_from(["train", "--env", "point_maze", "--out", out.to_str().unwrap()])
        .and_then(|inv| train::run::train(&inv.cfg, &inv.out, false, ()).map(|_| ()))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--layout"), "{e}");
    assert!(!out.join("metrics.jsonl").exists(), "nothing was written for a bad layout");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_topology_metric_is_in_every_maze_row_and_nan_elsewhere() {
    use train::config::TrainConfig;
    use train::metrics::read_history;
    let dir = temp_dir("topology-rows");
    for (env, maze) in [("point_u_maze", true), ("reacher", false)] {
        let out = dir.join(env);
        train::run::train(&TrainConfig { env: env.into(), ..TrainConfig::tiny(800) }, &out, false, ()).unwrap();
        for m in read_history(&out.join("metrics.jsonl")).unwrap() {
            if maze {
                assert!((-1.0..=1.0).contains(&m.topology), "{env}: topology {}", m.topology);
                assert!((-1.0..=1.0).contains(&m.euclidean_topology), "{env}: {}", m.euclidean_topology);
                assert!((-1.0..=1.0).contains(&m.topology_partial), "{env}: {}", m.topology_partial);
            } else {
                let nan = m.topology.is_nan() && m.euclidean_topology.is_nan() && m.topology_partial.is_nan();
                assert!(nan, "{env}: {m:?}");
            }
        }
        let csv = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
        assert!(csv.starts_with(train::metrics::CSV_HEADER) && csv.contains("topology"));
        if maze {
            // Scoring the saved teacher afterwards (the topology example's way) gives exactly what
            // the last evaluation recorded.
            let last = read_history(&out.join("metrics.jsonl")).unwrap().pop().unwrap();
            let model = models::checkpoint::load(&out.join("teacher.safetensors")).unwrap();
            let (layout, _) = envs::maze_layout("point_u_maze_eval", None).unwrap().unwrap();
            let probes = train::topology::Topology::new(&layout);
            let actions = probes.actions(&mut models::infer::ActorInfer::new(&model)).unwrap();
            let score = probes.score(&actions, &model).unwrap();
            assert_eq!((score.topology, score.partial), (last.topology, last.topology_partial));
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
