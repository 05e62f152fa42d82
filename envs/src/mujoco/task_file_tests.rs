use std::path::{Path, PathBuf};

use crate::registry::{eval_env_name, make_with, EnvOptions};
use crate::GoalEnv;

/// The repository's example task files.
fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/robots").join(name).join("task.toml")
}

fn env(path: &Path, n: usize, seed: u64) -> crate::Result<Box<dyn GoalEnv>> {
    let opts = EnvOptions { episode_length: Some(9), random_starts: true, ..EnvOptions::default() };
    make_with(&format!("mjcf:{}", path.display()), n, seed, &opts)
}

/// Observation bits over `steps` steps of a fixed action pattern.
fn run(env: &mut dyn GoalEnv, steps: usize) -> Vec<u32> {
    let (n, a) = (env.num_envs(), env.spec().action_dim);
    let mut out = Vec::new();
    for k in 0..steps {
        let actions: Vec<f32> = (0..n * a).map(|i| ((i * 5 + k * 3) % 9) as f32 / 4.0 - 1.0).collect();
        env.step(&actions).unwrap();
        out.extend(env.observations().iter().map(|x| x.to_bits()));
    }
    out
}

#[test]
fn the_ant_task_file_is_the_built_in_ant_u_maze() {
    let mut from_file = env(&example("ant"), 4, 3).unwrap();
    let opts = EnvOptions { episode_length: Some(9), random_starts: true, ..EnvOptions::default() };
    let mut built_in = make_with("ant_u_maze", 4, 3, &opts).unwrap();
    let (a, b) = (from_file.spec().clone(), built_in.spec().clone());
    assert_eq!((a.state_dim, a.goal_dim, a.action_dim, &a.goal_indices), (29, 2, 8, &vec![0, 1]));
    assert_eq!(
        (a.state_dim, a.goal_indices.clone(), a.success_threshold),
        (b.state_dim, b.goal_indices, b.success_threshold)
    );
    // Same walls, starts, goals, noise, physics and falls: bit-identical trajectories.
    assert_eq!(run(from_file.as_mut(), 25), run(built_in.as_mut(), 25));
}

#[test]
fn the_arm_task_file_observes_its_fingertip() {
    let path = example("arm");
    let mut arm = env(&path, 3, 0).unwrap();
    let s = arm.spec().clone();
    // qpos 2, qvel 2, then the fingertip's (x, y), which is the goal slice.
    assert_eq!((s.state_dim, s.goal_dim, s.action_dim, s.goal_indices.clone()), (6, 2, 2, vec![4, 5]));
    assert_eq!(s.success_threshold, 0.03);
    for row in arm.observations().chunks(s.obs_dim()) {
        // Forward kinematics of the two links from the joint angles.
        let (q0, q1) = (row[0], row[1]);
        let tip = [0.3 * q0.cos() + 0.25 * (q0 + q1).cos(), 0.3 * q0.sin() + 0.25 * (q0 + q1).sin()];
        assert!((row[4] - tip[0]).abs() < 1e-5 && (row[5] - tip[1]).abs() < 1e-5, "{row:?} vs {tip:?}");
        assert!(row[6].abs() <= 0.3 && row[7].abs() <= 0.3, "goals come from the box");
    }
    run(arm.as_mut(), 12);
    assert!(arm.observations().iter().all(|x| x.is_finite()));
    assert_eq!(crate::success_threshold(&format!("mjcf:{}", path.display())), Some(0.03));
    let eval = eval_env_name(&format!("mjcf:{}", path.display()));
    assert_eq!(eval, format!("mjcf_eval:{}", path.display()));
    assert!(crate::is_eval_env(&eval));
    assert_eq!(crate::base_env_name(&eval), format!("mjcf:{}", path.display()));
}

/// Writes the arm's model and a task file with `edit` applied next to it; returns the task's path.
fn broken(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let arm = example("arm");
    std::fs::copy(arm.with_file_name("arm.xml"), dir.join("arm.xml")).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, edit(std::fs::read_to_string(&arm).unwrap())).unwrap();
    path
}

/// A change to the example task file's text.
type Edit = Box<dyn Fn(String) -> String>;

fn error_of(path: &Path) -> String {
    match env(path, 1, 0) {
        Ok(_) => panic!("{} should be refused", path.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn task_file_mistakes_are_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        ("typo.toml", Box::new(|t| t.replace("frame_skip", "frameskip")), &["unknown field", "frameskip"]),
        (
            "nobody.toml",
            Box::new(|t| t.replace("site = \"fingertip\"", "body = \"hand\"")),
            &["goal.body", "no body named \"hand\"", "upper, lower"],
        ),
        ("threshold.toml", Box::new(|t| t.replace("0.03", "-1")), &["success_threshold", "-1"]),
        (
            "dims.toml",
            Box::new(|t| t.replace("lo = [-0.3, -0.3]", "lo = [-0.3]")),
            &["goal.sampler.lo", "1 numbers but the goal has 2"],
        ),
        (
            "range.toml",
            Box::new(|t| {
                t.replace("site = \"fingertip\"\naxes = [0, 1]", "qpos = [0, 1]")
                    .replace("hi = [0.3, 0.3]", "hi = [0.3, 3.5]")
            }),
            &["goal.sampler", "outside joint 1's range", "qpos 1"],
        ),
        (
            "two_goals.toml",
            Box::new(|t| t.replace("axes = [0, 1]", "axes = [0, 1]\nqpos = [0]")),
            &["exactly one of body"],
        ),
        ("model.toml", Box::new(|t| t.replace("arm.xml", "missing.xml")), &["model", "missing.xml", "fix the MJCF"]),
    ];
    for (name, edit, expected) in cases {
        let path = broken(dir, name, edit);
        let e = error_of(&path);
        assert!(e.contains(&path.display().to_string()), "{name}: names the file: {e}");
        for x in expected {
            assert!(e.contains(x), "{name}: {e:?} should mention {x:?}");
        }
    }
    // Malformed MJCF: MuJoCo's own message comes through.
    std::fs::write(dir.join("bad.xml"), "<mujoco><worldbody><body></mujoco>").unwrap();
    let path = broken(dir, "bad_model.toml", |t| t.replace("arm.xml", "bad.xml"));
    let e = error_of(&path);
    assert!(e.contains("MuJoCo could not load") && e.contains("bad.xml"), "{e}");
    let e = error_of(&dir.join("absent.toml"));
    assert!(e.contains("cannot read the task file") && e.contains("absent.toml"), "{e}");
}
