//! The BFS waypoint controller reaches every evaluation goal of the U-maze and the big maze within
//! the chosen episode lengths, and a random policy does far worse.
//!
//! Episode lengths: the controller's slowest first success over 1000 episodes is 146 steps on the
//! U-maze (DESIGN.md's 200) and 259 on the big maze, so the big maze gets 350 (the same ≈ 1.35×
//! margin). Measure with `cargo run --release -p envs --example bfs_plot -- --out x.png
//! --eval-episodes 1000 --episode-length 1000`.

use envs::eval::{evaluate, EvalReport};
use envs::policies::{BfsWaypointPolicy, RandomPolicy};
use envs::{make_with, EnvOptions};

const U_MAZE_LENGTH: usize = 200;
const BIG_MAZE_LENGTH: usize = 350;
const EPISODES: usize = 256;

fn run(name: &str, length: usize, random: bool) -> EvalReport {
    let opts = EnvOptions { episode_length: Some(length), ..EnvOptions::default() };
    let mut env = make_with(name, 64, 11, &opts).unwrap();
    let report = if random {
        evaluate(env.as_mut(), &mut RandomPolicy::new(2, 5), EPISODES, 11)
    } else {
        evaluate(env.as_mut(), &mut BfsWaypointPolicy::for_env(name).unwrap(), EPISODES, 11)
    };
    let report = report.unwrap();
    let (s, g) = (report.success_rate, report.time_at_goal);
    let policy = if random { "random" } else { "bfs" };
    eprintln!(
        "{name} L={length} {policy}: success {:.3} [{:.3}, {:.3}], time_at_goal {:.3} [{:.3}, {:.3}]",
        s.mean, s.ci95_low, s.ci95_high, g.mean, g.ci95_low, g.ci95_high
    );
    report
}

#[test]
fn bfs_reaches_the_u_maze_eval_goals() {
    let r = run("point_u_maze_eval", U_MAZE_LENGTH, false);
    assert_eq!(r.episodes, EPISODES);
    assert!(r.success_rate.mean >= 0.95, "{:?}", r.success_rate);
    // Every eval goal cell was drawn and reached.
    for goal in [[12.0, 4.0], [12.0, 8.0], [12.0, 12.0]] {
        assert!(r.records.iter().any(|e| e.goal == goal && e.success), "goal {goal:?}");
    }
    let slowest = r.records.iter().filter_map(|e| e.first_success_step).max().unwrap();
    assert!(slowest < U_MAZE_LENGTH as u32, "{slowest}");
    assert!(r.time_at_goal.mean > 0.2, "{:?}", r.time_at_goal);
}

#[test]
fn bfs_reaches_the_big_maze_eval_goals_and_random_does_not() {
    let r = run("point_big_maze_eval", BIG_MAZE_LENGTH, false);
    assert!(r.success_rate.mean >= 0.95, "{:?}", r.success_rate);
    assert!(r.time_at_goal.mean > 0.2, "{:?}", r.time_at_goal);
    let random = run("point_big_maze_eval", BIG_MAZE_LENGTH, true);
    assert!(random.success_rate.mean < 0.5, "{:?}", random.success_rate);
    assert!(random.success_rate.ci95_high < r.success_rate.ci95_low);
}
