//! A teacher trained on a maze of the user's own (`train --layout`): distill finds the layout in the
//! run's config.toml and evaluates on it.

use distill::teacher::Teacher;
use train::config::TrainConfig;

#[test]
fn a_teacher_trained_on_a_layout_file_is_evaluated_on_it() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("corridor.txt");
    std::fs::write(&layout, "1 1 1 1 1 1\n1 R 0 0 G 1\n1 1 1 1 1 1\n").unwrap();
    let layout = std::fs::canonicalize(&layout).unwrap();
    let run = dir.path().join("run");
    let cfg = TrainConfig { env: "point_maze".into(), layout: Some(layout.clone()), ..TrainConfig::tiny(800) };
    train::run::train(&cfg, &run, false, ()).unwrap();

    let teacher = Teacher::load(&run).unwrap();
    let opts = teacher.env_options();
    assert_eq!(opts.layout.as_deref(), Some(layout.as_path()));
    assert_eq!(opts.episode_length, Some(cfg.episode_length));
    let report = teacher.evaluate("point_maze", 4, 0).unwrap();
    assert_eq!(report.records.len(), 4);
    // Every episode's goal is the corridor's one G cell, at column 4.
    assert!(report.records.iter().all(|r| envs::point_maze::Layout::cell_of([r.goal[0], r.goal[1]]) == (1, 4)));
}
