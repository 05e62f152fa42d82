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
        transport: sim::Transport::Http,
        student: None,
        hold_after_ms: 50.0,
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
        transport: sim::Transport::Http,
        student: None,
        hold_after_ms: 50.0,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_student_on_board_follows_streamed_plans_with_no_round_trip_per_tick() {
    let f = common::fixture();
    let running = serve::start(f.config()).await.unwrap();
    let mut cfg = SimConfig::new(&running.url(), "point_u_maze_eval", vec![Mode::Hierarchical, Mode::Onboard]);
    (cfg.robots, cfg.episodes, cfg.episode_length, cfg.seed, cfg.plan_hz) = (2, 3, Some(40), 1, Some(10.0));
    (cfg.transport, cfg.student) = (sim::Transport::Ws, Some(f.student.clone()));
    let reports = sim::run(&cfg).await.unwrap();
    let (ws, onboard) = (&reports[0], &reports[1]);
    assert_eq!((ws.mode, ws.transport), (Mode::Hierarchical, sim::Transport::Ws));
    assert_eq!(ws.requests, 3 * 40, "one observation per tick over the stream: {ws:?}");
    assert_eq!(ws.latency.count + ws.missed, ws.requests, "{ws:?}");
    assert!(ws.latency.count > 0, "{ws:?}");
    assert_eq!(onboard.episodes, 3);
    assert_eq!((onboard.requests, onboard.round_trips_per_tick, onboard.missed), (0, 0.0, 0), "{onboard:?}");
    assert_eq!(onboard.local_latency.count, 3 * 40, "the student ran on the robot every tick: {onboard:?}");
    assert!(onboard.plans >= 3, "at least the current plan for each episode's stream: {onboard:?}");
    assert!(onboard.state_reports > 0, "{onboard:?}");
    assert!(sim::table(&reports).contains("hierarchical (ws)"));
    assert_eq!(running.app.engine().unwrap().sessions.len(), 0, "each episode deleted its session");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_plan_stale_each_mode_steers_to_the_goal_with_the_same_known_answer() {
    // A PD student (see with_pd_actor) reaches [12, 12] from the start cell and never the goals
    // behind the wall. With a 1 ms plan age every plan is stale on arrival, so the shared rule falls
    // back to the commanded goal: hierarchical (HTTP and stream) and onboard robots must then score
    // exactly as the controller does. Onboard gets there only if it runs the student itself.
    let f = common::fixture();
    let student_path = f.student.join("student.safetensors");
    let student = models::checkpoint::load(&student_path).unwrap();
    let pd = with_pd_actor(student, 1.0, 1.0);
    models::checkpoint::save(&pd, &student_path).unwrap();
    // Its ONNX export beside it, as distill writes one: the contract then names its hash too.
    let onnx_path = f.student.join("student.onnx");
    models::onnx::export_actor(&pd, &onnx_path).unwrap();
    let mut scfg = f.config();
    scfg.max_plan_age_ms = 1;
    let running = serve::start(scfg).await.unwrap();
    let modes = vec![Mode::Controller, Mode::Hierarchical, Mode::Onboard];
    let mut cfg = SimConfig::new(&running.url(), "point_u_maze_eval", modes);
    (cfg.robots, cfg.episodes, cfg.episode_length, cfg.seed, cfg.plan_hz) = (3, 9, Some(200), 3, Some(10.0));
    cfg.control_hz = 500.0;
    cfg.student = Some(student_path);
    let mut reports = sim::run(&cfg).await.unwrap();
    cfg.modes = vec![Mode::Hierarchical];
    cfg.transport = sim::Transport::Ws;
    reports.extend(sim::run(&cfg).await.unwrap());
    // The same student from its ONNX export, run by tract on the robot.
    (cfg.modes, cfg.student) = (vec![Mode::Onboard], Some(onnx_path));
    reports.extend(sim::run(&cfg).await.unwrap());
    assert_eq!(reports.len(), 5);
    for r in &reports {
        assert!(r.per_goal.contains_key("12.0,12.0") && r.per_goal.len() >= 2, "{:?}: {:?}", r.mode, r.per_goal);
        for (goal, g) in &r.per_goal {
            let expected = if goal == "12.0,12.0" { g.episodes } else { 0 };
            assert_eq!(g.successes, expected, "{:?} over {:?} at {goal}: {g:?}", r.mode, r.transport);
        }
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_that_is_not_the_servers_controller_does_not_move() {
    let f = common::fixture();
    let running = serve::start(f.config()).await.unwrap();
    let other = f.dir.path().join("other").join("student.safetensors");
    models::checkpoint::save(&common::student_model(99, &f.run), &other).unwrap();
    let mut cfg = SimConfig::new(&running.url(), "point_u_maze_eval", vec![Mode::Onboard]);
    (cfg.robots, cfg.episodes, cfg.episode_length) = (1, 1, Some(10));
    cfg.student = Some(other.clone());
    let e = sim::run(&cfg).await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, robot::error::RobotError::ModelMismatch { .. }), "{msg}");
    assert!(msg.contains(&other.display().to_string()) && msg.contains("student.safetensors"), "{msg}");
    assert!(msg.contains("will not move") && msg.contains("--student"), "{msg}");
    // An ONNX student where the server has no export: refused, and the message says so.
    let onnx = f.dir.path().join("other").join("student.onnx");
    models::onnx::export_actor(&common::student_model(11, &f.run), &onnx).unwrap();
    cfg.student = Some(onnx);
    let msg = sim::run(&cfg).await.unwrap_err().to_string();
    assert!(msg.contains("no ONNX export") && msg.contains("student.onnx"), "{msg}");
    cfg.student = None;
    assert!(sim::run(&cfg).await.unwrap_err().to_string().contains("--student"));
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_makes_robots_hold_zero_instead_of_replaying() {
    // A half-open server: it accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let mut cfg = SimConfig::new(&url, "point_u_maze_eval", vec![Mode::Controller]);
    (cfg.robots, cfg.episodes, cfg.episode_length, cfg.control_hz, cfg.hold_after_ms) = (1, 1, Some(40), 200.0, 20.0);
    let r = sim::run_mode(&cfg, Mode::Controller).await.unwrap();
    assert_eq!((r.requests, r.missed, r.latency.count), (40, 40, 0), "{r:?}");
    // Nothing fresh ever came, so every tick past the first 20 ms (4 ticks at 200 Hz) held zero.
    assert!(r.held >= 40 - 5 && r.held <= 40, "{r:?}");
    hold.abort();
}
