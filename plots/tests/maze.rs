//! Trajectory plots are written as PNG files, atomically, and bad input is a clear error.

use envs::eval::Trajectory;
use envs::point_maze::Layout;
use plots::{plot_field_trajectories, plot_maze_trajectories};

#[test]
fn maze_plot_is_a_png_and_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let path = dir.join("nested/u.png");
    let layout = Layout::builtin("u_maze_eval").unwrap();
    let line = |goal: [f32; 2], success| Trajectory {
        goal: goal.to_vec(),
        positions: vec![vec![4.0, 4.0], vec![4.0, 12.0], vec![12.0, 12.0], goal.to_vec()],
        success,
    };
    let trajs = [line([12.0, 4.0], true), line([12.0, 8.0], false)];
    plot_maze_trajectories(&layout, 4.0, &trajs, "u maze", &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let names: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("u.png")]);

    let bad = Trajectory { goal: vec![0.1], positions: vec![], success: false };
    let e = plot_maze_trajectories(&layout, 4.0, &[bad], "x", &dir.join("bad.png")).unwrap_err().to_string();
    assert!(e.contains("2-D goal"), "{e}");
    assert!(!dir.join("bad.png").exists());
    for cell in [0.0, -2.0, f32::NAN] {
        let e = plot_maze_trajectories(&layout, cell, &trajs, "x", &dir.join("bad.png")).unwrap_err().to_string();
        assert!(e.contains("cell size"), "{e}");
    }
    // A humanoid maze (cells 2 units wide): the same paths at half the scale draw too.
    let half: Vec<Trajectory> = trajs
        .iter()
        .map(|t| Trajectory {
            goal: t.goal.iter().map(|x| x / 2.0).collect(),
            positions: t.positions.iter().map(|p| p.iter().map(|x| x / 2.0).collect()).collect(),
            success: t.success,
        })
        .collect();
    plot_maze_trajectories(&layout, 2.0, &half, "humanoid u maze", &dir.join("h.png")).unwrap();
}

#[test]
fn field_plot_draws_paths_from_above_and_refuses_what_it_cannot_draw() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("field.png");
    let t = |goal: [f32; 2], success| Trajectory {
        goal: goal.to_vec(),
        positions: vec![vec![0.0, 0.0, 0.5], vec![1.0, 0.5, 0.5], vec![2.0, 1.5, 0.5]],
        success,
    };
    plot_field_trajectories(&[t([10.0, 0.0], false), t([2.0, 1.5], true)], 0.5, "ant", &path).unwrap();
    assert_eq!(&std::fs::read(&path).unwrap()[..8], b"\x89PNG\r\n\x1a\n");
    let e = plot_field_trajectories(&[], 0.5, "x", &tmp.path().join("none.png")).unwrap_err().to_string();
    assert!(e.contains("no trajectories"), "{e}");
    let flat = Trajectory { goal: vec![1.0], positions: vec![vec![0.0]], success: false };
    let e = plot_field_trajectories(&[flat], 0.5, "x", &tmp.path().join("flat.png")).unwrap_err().to_string();
    assert!(e.contains("fewer than 2 coordinates"), "{e}");
    assert!(!tmp.path().join("flat.png").exists());
}
