//! The plan-following rule of DESIGN.md section 8, shared by `serve`'s session table and the
//! on-robot student ([`Follower`]), so both steer to the same waypoint from the same state.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Why the robot steers to the commanded goal instead of a waypoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// No plan yet (a new session, a new goal, or a robot that has not heard from its server).
    NoPlan,
    /// The plan is older than the maximum plan age.
    StalePlan,
}

impl Fallback {
    pub fn name(self) -> &'static str {
        match self {
            Fallback::NoPlan => "no_plan",
            Fallback::StalePlan => "stale_plan",
        }
    }
}

/// Where to steer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aim {
    /// The plan's waypoint with this index.
    Waypoint(usize),
    /// The commanded goal, for this reason.
    Goal(Fallback),
}

/// The rule's three parameters, as the server's contract states them.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// Goal-space distance at which the next waypoint becomes the active one.
    pub advance_radius: f32,
    /// Which state entries are the robot's position in goal space.
    pub goal_indices: Vec<usize>,
    /// A plan older than this is not followed.
    pub max_plan_age: Duration,
}

impl Rule {
    /// Whether `state` is within the advance radius of `waypoint` (in goal space).
    pub fn near(&self, state: &[f32], waypoint: &[f32]) -> bool {
        let d2: f32 = self
            .goal_indices
            .iter()
            .zip(waypoint)
            .map(|(&k, w)| {
                let d = state.get(k).copied().unwrap_or(f32::NAN) - w;
                d * d
            })
            .sum();
        d2.sqrt() < self.advance_radius
    }

    /// Where to steer from `state` with a plan of `waypoints` made `age` ago (`None`: no plan).
    /// `active` is the session's active waypoint: it moves on while the state is within the radius
    /// of it, and never past the last waypoint (the goal), which is kept for good.
    pub fn aim(&self, waypoints: Option<&[Vec<f32>]>, age: Duration, state: &[f32], active: &mut usize) -> Aim {
        let Some(w) = waypoints.filter(|w| !w.is_empty()) else { return Aim::Goal(Fallback::NoPlan) };
        if age > self.max_plan_age {
            return Aim::Goal(Fallback::StalePlan);
        }
        *active = (*active).min(w.len() - 1);
        while *active + 1 < w.len() && self.near(state, &w[*active]) {
            *active += 1;
        }
        Aim::Waypoint(*active)
    }
}

/// A plan as a robot holds it: its identity, its waypoints and when it was made, on the robot's clock
/// (the server sends the plan's age, so the two clocks need not agree).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldPlan {
    pub plan_id: u64,
    pub waypoints: Vec<Vec<f32>>,
    pub made: Instant,
}

/// The on-robot side of a session: the commanded goal, the latest plan, and the active waypoint.
#[derive(Clone, Debug)]
pub struct Follower {
    rule: Rule,
    goal: Vec<f32>,
    plan: Option<HeldPlan>,
    active: usize,
}

impl Follower {
    pub fn new(rule: Rule, goal: Vec<f32>) -> Self {
        Follower { rule, goal, plan: None, active: 0 }
    }

    pub fn rule(&self) -> &Rule {
        &self.rule
    }

    pub fn goal(&self) -> &[f32] {
        &self.goal
    }

    pub fn plan(&self) -> Option<&HeldPlan> {
        self.plan.as_ref()
    }

    /// Takes up a plan from the server. A plan seen before (the same plan sent again after a
    /// reconnect) keeps the active waypoint; a new one starts from its first, as the server does.
    pub fn take(&mut self, plan: HeldPlan, goal: Vec<f32>) {
        if self.plan.as_ref().is_none_or(|p| p.plan_id != plan.plan_id) {
            self.active = 0;
        }
        self.goal = goal;
        self.plan = Some(plan);
    }

    /// A new commanded goal: the old plan no longer applies.
    pub fn set_goal(&mut self, goal: Vec<f32>) {
        self.goal = goal;
        self.plan = None;
        self.active = 0;
    }

    /// The point to steer to from `state` at `now`, and why.
    pub fn target(&mut self, state: &[f32], now: Instant) -> (&[f32], Aim) {
        let (waypoints, age) = match &self.plan {
            Some(p) => (Some(p.waypoints.as_slice()), now.saturating_duration_since(p.made)),
            None => (None, Duration::ZERO),
        };
        let aim = self.rule.aim(waypoints, age, state, &mut self.active);
        match (aim, &self.plan) {
            (Aim::Waypoint(i), Some(p)) => (&p.waypoints[i], aim),
            _ => (&self.goal, aim),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule() -> Rule {
        Rule { advance_radius: 0.5, goal_indices: vec![0, 1], max_plan_age: Duration::from_secs(1) }
    }

    fn path() -> Vec<Vec<f32>> {
        vec![vec![1.0, 0.0], vec![4.0, 0.0], vec![8.0, 0.0]]
    }

    #[test]
    fn the_active_waypoint_advances_within_the_radius_and_stops_at_the_goal() {
        let (r, w) = (rule(), path());
        let mut active = 0;
        assert_eq!(r.aim(Some(&w), Duration::ZERO, &[0.0, 0.0, 9.0], &mut active), Aim::Waypoint(0));
        assert_eq!(r.aim(Some(&w), Duration::ZERO, &[1.2, 0.0, 9.0], &mut active), Aim::Waypoint(1));
        // Back far from waypoint 1: the rule never moves backwards.
        assert_eq!(r.aim(Some(&w), Duration::ZERO, &[0.0, 0.0], &mut active), Aim::Waypoint(1));
        assert_eq!(r.aim(Some(&w), Duration::ZERO, &[4.0, 0.4], &mut active), Aim::Waypoint(2));
        assert_eq!(r.aim(Some(&w), Duration::ZERO, &[8.0, 0.0], &mut active), Aim::Waypoint(2));
        // One call may pass several waypoints that lie within the radius of the state.
        let close = vec![vec![0.1, 0.0], vec![0.2, 0.0], vec![3.0, 0.0]];
        let mut active = 0;
        assert_eq!(r.aim(Some(&close), Duration::ZERO, &[0.0, 0.0], &mut active), Aim::Waypoint(2));
    }

    #[test]
    fn no_plan_and_a_stale_plan_fall_back_to_the_goal() {
        let (r, w) = (rule(), path());
        let mut active = 0;
        assert_eq!(r.aim(None, Duration::ZERO, &[0.0, 0.0], &mut active), Aim::Goal(Fallback::NoPlan));
        assert_eq!(r.aim(Some(&[]), Duration::ZERO, &[0.0, 0.0], &mut active), Aim::Goal(Fallback::NoPlan));
        let late = Duration::from_millis(1001);
        assert_eq!(r.aim(Some(&w), late, &[0.0, 0.0], &mut active), Aim::Goal(Fallback::StalePlan));
        assert_eq!(r.aim(Some(&w), Duration::from_secs(1), &[0.0, 0.0], &mut active), Aim::Waypoint(0));
    }

    #[test]
    fn a_state_too_short_for_the_goal_indices_is_never_near() {
        let r = Rule { goal_indices: vec![0, 5], ..rule() };
        assert!(!r.near(&[1.0, 0.0], &[1.0, 0.0]));
    }

    #[test]
    fn the_follower_keeps_its_place_in_a_plan_it_already_has_and_restarts_a_new_one() {
        let t0 = Instant::now();
        let mut f = Follower::new(rule(), vec![8.0, 0.0]);
        assert_eq!(f.target(&[0.0, 0.0], t0), (&[8.0f32, 0.0][..], Aim::Goal(Fallback::NoPlan)));
        let plan = HeldPlan { plan_id: 7, waypoints: path(), made: t0 };
        f.take(plan.clone(), vec![8.0, 0.0]);
        assert_eq!(f.target(&[1.0, 0.0], t0).1, Aim::Waypoint(1));
        f.take(plan.clone(), vec![8.0, 0.0]);
        assert_eq!(f.target(&[0.0, 0.0], t0).1, Aim::Waypoint(1), "the same plan again keeps the active waypoint");
        f.take(HeldPlan { plan_id: 8, ..plan }, vec![8.0, 0.0]);
        assert_eq!(f.target(&[0.0, 0.0], t0).1, Aim::Waypoint(0), "a new plan starts from its first waypoint");
        let (target, aim) = f.target(&[0.0, 0.0], t0 + Duration::from_secs(2));
        assert_eq!((target, aim), (&[8.0f32, 0.0][..], Aim::Goal(Fallback::StalePlan)));
        f.set_goal(vec![0.0, 8.0]);
        assert_eq!(f.target(&[0.0, 0.0], t0), (&[0.0f32, 8.0][..], Aim::Goal(Fallback::NoPlan)));
    }
}
