//! The pipeline end to end, within CI's budget: train a tiny teacher (`train`), distil a tiny student
//! (`distill`), serve them (`serve`) on an ephemeral port, drive hierarchical episodes over HTTP, and
//! check the answers' shapes, the plan refresh, the stale-plan fallback and a clean shutdown. With
//! the `mujoco` feature, the same for the ant maze and for a robot from a task file; with `gym`, for a
//! Gymnasium env of our own in Python.

use std::path::Path;
use std::time::Duration;

use distill::run::{distill, DistillConfig};
use distill::teacher::Teacher;
use robot::sim::{self, Mode, SimConfig};
use serde_json::{json, Value};
use train::config::TrainConfig;

/// Trains the teacher into `run` (teacher.safetensors, bank.safetensors) and distils a student into
/// `run/students/e2e`, as `cargo train` and `cargo distill` lay them out.
fn pipeline(run: &Path, env: &str) -> std::path::PathBuf {
    let cfg = TrainConfig { bank_size: 24, env: env.into(), ..TrainConfig::tiny(1200) };
    train::run::train(&cfg, run, false, ()).unwrap();
    assert!(run.join("teacher.safetensors").is_file() && run.join("bank.safetensors").is_file());
    let teacher = Teacher::load(run).unwrap();
    let dcfg = DistillConfig {
        teacher: run.to_path_buf(),
        student_depth: 4,
        student_width: Some(16),
        steps: 32,
        batch_size: 64,
        num_envs: 8,
        unroll_length: 8,
        sgd_steps_per_round: 16,
        eval_episodes: 2,
        curve_eval_episodes: 0,
        ..DistillConfig::default()
    };
    let out = distill(&dcfg, &teacher, |_| {}).unwrap();
    let student = run.join("students").join("e2e");
    models::checkpoint::save(&out.student, &student.join("student.safetensors")).unwrap();
    student
}

/// Two simulated robots at 100 Hz over HTTP, two episodes of `episode_length` steps in each of `modes`.
fn sim_config(server: &str, env: &str, modes: Vec<Mode>, episode_length: usize) -> SimConfig {
    SimConfig {
        server: server.to_string(),
        env: env.to_string(),
        layout: None,
        robots: 2,
        control_hz: 100.0,
        modes,
        episodes: 2,
        episode_length: Some(episode_length),
        seed: 3,
        api_key: None,
        plan_hz: None,
        transport: sim::Transport::Http,
        student: None,
        hold_after_ms: 50.0,
    }
}

async fn post(http: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = http.post(url).json(&body).send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

fn len(v: &Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn train_distill_serve_and_drive_robots_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let student = tokio::task::spawn_blocking({
        let run = run.clone();
        move || pipeline(&run, "point_u_maze")
    })
    .await
    .unwrap();

    let mut cfg = serve::ServeConfig::new(&run, &student);
    cfg.addr = "127.0.0.1:0".into();
    cfg.plan_hz = 20.0;
    cfg.horizon = 4;
    cfg.max_plan_age_ms = 600;
    let server = serve::start(cfg).await.unwrap();
    let base = server.url();
    let http = reqwest::Client::new();

    let models: Value = http.get(format!("{base}/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(models["planner"]["critic_depth"], 4);
    assert_eq!(
        (models["controller"]["actor_depth"].as_u64(), models["controller"]["width"].as_u64()),
        (Some(4), Some(16))
    );
    assert!(models["graph"]["nodes"].as_u64().unwrap() > 1);

    // A session: its first plan, acts toward its waypoints, refreshes at 20 Hz.
    let (state, goal) = (json!([0.0, 0.0, 0.0, 0.0]), json!([8.0, 8.0]));
    let (status, s) = post(&http, format!("{base}/v1/sessions"), json!({ "obs": state, "goal": goal })).await;
    assert_eq!(status, 201, "{s}");
    let plan = &s["plan"];
    assert!(plan["plan_id"].is_u64() && plan["created_at"].is_u64() && plan["horizon"] == 4, "{s}");
    assert!((1..=4).contains(&len(&plan["waypoints"])));
    assert_eq!(plan["waypoints"].as_array().unwrap().last().unwrap(), &goal);
    let act = format!("{base}/v1/sessions/{}/act", s["session_id"].as_str().unwrap());
    let (status, a) = post(&http, act.clone(), json!({ "obs": state })).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!((len(&a["action"]), len(&a["waypoint"]), a["fallback"].as_bool()), (2, 2, Some(false)));
    assert!(a["action"].as_array().unwrap().iter().all(|x| x.as_f64().unwrap().abs() <= 1.0));
    assert!(a["server_timing"]["total_us"].is_u64() && a["waypoint_index"].is_u64());
    tokio::time::sleep(Duration::from_millis(250)).await;
    let (_, a) = post(&http, act, json!({ "obs": state })).await;
    assert!(a["plan_version"].as_u64().unwrap() > 1, "the plan was not refreshed: {a}");

    // A session planned once every 100 s: after the 600 ms plan age it falls back to the goal.
    let slow = json!({ "obs": state, "goal": goal, "plan_hz": 0.01 });
    let (_, s) = post(&http, format!("{base}/v1/sessions"), slow).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (status, a) =
        post(&http, format!("{base}/v1/sessions/{}/act", s["session_id"].as_str().unwrap()), json!({ "obs": state }))
            .await;
    assert_eq!(status, 200);
    assert_eq!((a["fallback"].as_bool(), a["fallback_reason"].as_str()), (Some(true), Some("stale_plan")), "{a}");
    assert_eq!(a["waypoint"], goal);

    // Simulated robots: hierarchical episodes over HTTP, one session per episode.
    let sim_cfg = sim_config(&base, "point_u_maze_eval", vec![Mode::Hierarchical], 50);
    let report = sim::run(&sim_cfg).await.unwrap().remove(0);
    assert_eq!((report.episodes, report.requests), (2, 100), "{report:?}");
    assert!(report.latency.count > 0, "{report:?}");

    tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await.unwrap().unwrap();
    assert!(http.get(format!("{base}/healthz")).send().await.is_err(), "still listening after shutdown");
}

/// Trains, distils and serves `env` by name into a fresh directory, then drives two simulated robots
/// over HTTP in hierarchical and controller modes; the planner must have the dimensions `dims`.
#[cfg(any(feature = "mujoco", feature = "gym"))]
async fn by_name(env: &str, dims: (u64, u64, u64), advance_radius: Option<f32>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let student = tokio::task::spawn_blocking({
        let (run, env) = (run.clone(), env.to_string());
        move || pipeline(&run, &env)
    })
    .await
    .unwrap();
    let mut cfg = serve::ServeConfig::new(&run, &student);
    cfg.addr = "127.0.0.1:0".into();
    cfg.advance_radius = advance_radius;
    let server = serve::start(cfg).await.unwrap();
    let base = server.url();
    let models: Value = reqwest::get(format!("{base}/v1/models")).await.unwrap().json().await.unwrap();
    let p = &models["planner"];
    assert_eq!(
        (p["state_dim"].as_u64(), p["goal_dim"].as_u64(), p["action_dim"].as_u64()),
        (Some(dims.0), Some(dims.1), Some(dims.2)),
        "{env}: {models}"
    );
    let sim_cfg = sim_config(&base, &envs::eval_env_name(env), vec![Mode::Hierarchical, Mode::Controller], 20);
    for report in sim::run(&sim_cfg).await.unwrap() {
        assert_eq!(report.episodes, 2, "{env}: {report:?}");
        assert!(report.requests > 0 && report.latency.count > 0, "{env}: {report:?}");
    }
    tokio::time::timeout(Duration::from_secs(10), server.shutdown()).await.unwrap().unwrap();
    dir
}

/// Each MuJoCo robot family (the ant, the humanoid, a task file) trains, distils and serves by name, and
/// simulated robots drive it.
#[cfg(feature = "mujoco")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_train_distill_and_serve_by_name() {
    let arm = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/robots/arm/task.toml");
    let arm = format!("mjcf:{}", arm.canonicalize().unwrap().display());
    let families = [("ant_u_maze", (29, 2, 8)), ("humanoid_big_maze", (278, 3, 17)), (arm.as_str(), (6, 2, 2))];
    for (env, dims) in families {
        let dir = by_name(env, dims, None).await;
        // The evaluation paths: over the maze's walls for the ant, from above for the arm.
        assert!(dir.path().join("run/trajectories.png").is_file(), "{env}: no trajectories.png");
    }
}

/// A Gymnasium env written in Python (examples/gym/point_goal.py, found from the current folder as a
/// user's own module would be) trains, distils, serves and drives simulated robots by name. serve has
/// no interpreter, so the advance radius is given, as its error asks.
#[cfg(feature = "gym")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gymnasium_env_trains_distils_and_serves_by_name() {
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/gym")).unwrap();
    let dir = by_name("gym:point_goal:make", (6, 2, 2), Some(0.1)).await;
    let recorded = TrainConfig::from_toml_file(&dir.path().join("run/config.toml")).unwrap();
    assert_eq!(recorded.env, "gym:point_goal:make");
}
