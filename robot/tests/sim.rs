//! The simulated robot client against a live server: every mode runs its episodes and reports, and on a
//! maze whose answer is known each mode reports exactly that answer.

// The server's own test fixture (a tiny teacher, its bank and a student), shared rather than copied.
#[path = "../../serve/tests/common/mod.rs"]
mod common;

use models::Model;
use robot::sim::{self, Mode, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_run_every_mode_and_report_latency_and_success() {
    let f = common::fixture();
    let running = serve::start(f.config()).await.unwrap();
    let cfg = SimConfig {
        server: running.url(),
        env: "point_u_maze_eval".into(),
        layout: None,
        robots: 2,
        control_hz: 200.0,
        modes: Mode::ALL.to_vec(),
        episodes: 3,
        episode_length: Some(20),
        seed: 1,
        api_key: None,
        plan_hz: Some(10.0),
    };
    let reports = sim::run(&cfg).await.unwrap();
    assert_eq!(reports.iter().map(|r| r.mode).collect::<Vec<_>>(), Mode::ALL.to_vec());
    for r in &reports {
        assert_eq!(r.episodes, 3);
        assert_eq!(r.requests, 3 * 20, "{r:?}");
        assert_eq!(r.latency.count + r.missed, r.requests, "{r:?}");
        assert!(r.latency.count > 0 && r.latency.p50_us <= r.latency.p99_us && r.latency.p99_us <= r.latency.max_us);
        assert!(r.achieved_hz > 0.0);
    }
    let table = sim::table(&reports);
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("hierarchical"));
    // Sessions were closed at the end of each episode.
    assert_eq!(running.app.engine().unwrap().sessions.len(), 0);
    running.shutdown().await.unwrap();
}

#[test]
fn the_robot_and_the_server_read_the_api_key_from_one_variable() {
    assert_eq!(robot::client::API_KEY_ENV, serve::config::API_KEY_ENV);
}

#[test]
fn robot_sim_refuses_zero_robots_and_a_debug_build_says_first_that_it_is_one() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_robot-sim")).args(["--robots", "0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--robots, --episodes and --control-hz must be positive"), "{stderr}");
    assert_eq!(buildinfo::warned(&stderr), cfg!(debug_assertions), "a debug build says so, a release build does not");
}

/// `model` with an actor that computes a known control law: every actor weight zero (so each residual
/// block adds nothing) except an input layer whose units are ±(goal − position), ±velocity and a
/// constant ±C pair, and a mean head over them. The pairs keep the LayerNorm's mean at zero and the
/// constant dominates its scale, so the normalised units are the inputs over a fixed σ, and
/// SiLU(u) − SiLU(−u) = u recovers them exactly: the action is tanh(kp·(goal − position) − kd·velocity)
/// up to the ≈1% the inputs add to σ. kp = kd = 0 gives an actor that never moves.
fn with_pd_actor(mut model: Model, kp: f32, kd: f32) -> Model {
    let width = model.cfg.width;
    for spec in model.layout.specs.clone().iter().filter(|s| s.name.starts_with("actor.")) {
        let v = if spec.name.ends_with("norm.weight") { 1.0 } else { 0.0 };
        model.params[spec.range()].iter_mut().for_each(|p| *p = v);
    }
    let mut set = |name: &str, row: usize, col: usize, v: f32| {
        let s = model.layout.spec(name).unwrap().clone();
        let cols = s.shape.get(1).copied().unwrap_or(0); // a bias is one row
        model.params[s.range()][row * cols + col] = v;
    };
    // obs = [x, y, vx, vy, gx, gy]; hidden units 0..8 as (column, sign) pairs, 8 and 9 the constant.
    let units: [&[(usize, f32)]; 8] = [
        &[(4, 1.0), (0, -1.0)],
        &[(4, -1.0), (0, 1.0)],
        &[(5, 1.0), (1, -1.0)],
        &[(5, -1.0), (1, 1.0)],
        &[(2, 1.0)],
        &[(2, -1.0)],
        &[(3, 1.0)],
        &[(3, -1.0)],
    ];
    for (u, inputs) in units.iter().enumerate() {
        for &(col, v) in inputs.iter() {
            set("actor.trunk.input.weight", u, col, v);
        }
    }
    const C: f32 = 100.0;
    set("actor.trunk.input.bias", 0, 8, C);
    set("actor.trunk.input.bias", 0, 9, -C);
    let sigma = C * (2.0 / width as f32).sqrt();
    // Action axis, its ±(goal − position) units and its ±velocity units.
    for (axis, pos, vel) in [(0usize, 0usize, 4usize), (1, 2, 6)] {
        set("actor.mean.weight", axis, pos, kp * sigma);
        set("actor.mean.weight", axis, pos + 1, -kp * sigma);
        set("actor.mean.weight", axis, vel, -kd * sigma);
        set("actor.mean.weight", axis, vel + 1, kd * sigma);
    }
    model
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_are_compared_on_the_u_maze_where_the_answer_is_known() {
    // The planner's actor steers straight at the goal; the student never moves. From R on the U-maze
    // (goals (3,1), (3,2), (3,3) below the wall) a straight-line controller slides along the wall into
    // the open corner and reaches (3,3) at [12, 12] within 150 steps, and never the two goals behind
    // the wall, as the same network evaluated in process shows. So: planner mode 1 at [12, 12] and 0
    // elsewhere; controller and hierarchical modes (the still student acts in both) 0 everywhere.
    let f = common::fixture();
    let teacher = models::checkpoint::load(&f.run.join("teacher.safetensors")).unwrap();
    models::checkpoint::save(&with_pd_actor(teacher, 1.0, 1.0), &f.run.join("teacher.safetensors")).unwrap();
    let student_path = f.student.join("student.safetensors");
    let student = models::checkpoint::load(&student_path).unwrap();
    models::checkpoint::save(&with_pd_actor(student, 0.0, 0.0), &student_path).unwrap();
    let running = serve::start(f.config()).await.unwrap();
    let cfg = SimConfig {
        server: running.url(),
        env: "point_u_maze_eval".into(),
        layout: None,
        robots: 3,
        control_hz: 500.0,
        modes: Mode::ALL.to_vec(),
        episodes: 9,
        episode_length: Some(200),
        seed: 3,
        api_key: None,
        plan_hz: Some(10.0),
    };
    let reports = sim::run(&cfg).await.unwrap();
    for r in &reports {
        let expected = |goal: &str| if r.mode == Mode::Planner && goal == "12.0,12.0" { 1 } else { 0 };
        assert!(r.per_goal.contains_key("12.0,12.0") && r.per_goal.len() >= 2, "{:?}: goals {:?}", r.mode, r.per_goal);
        for (goal, g) in &r.per_goal {
            assert_eq!(g.successes, expected(goal) * g.episodes, "{:?} at {goal}: {g:?}", r.mode);
        }
    }
    running.shutdown().await.unwrap();
}
