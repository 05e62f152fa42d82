//! The simulated robot client against a live server: every mode runs its episodes and reports.

// The server's own test fixture (a tiny teacher, its bank and a student), shared rather than copied.
#[path = "../../serve/tests/common/mod.rs"]
mod common;

use robot::sim::{self, Mode, SimConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_run_every_mode_and_report_latency_and_success() {
    let f = common::fixture();
    let running = serve::start(f.config()).await.unwrap();
    let cfg = SimConfig {
        server: running.url(),
        env: "point_u_maze_eval".into(),
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
        assert!((0.0..=1.0).contains(&r.success_rate.mean) && (0.0..=1.0).contains(&r.time_at_goal.mean));
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
