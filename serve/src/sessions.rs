//! The session table (DESIGN.md section 8): one entry per robot, holding its commanded goal, its
//! latest state, its current plan and active waypoint, and when its next plan is due.
//!
//! One short mutex guards the table; nothing slow ever runs under it (no inference, no I/O), so the
//! controller path ([`Sessions::steer`]) never waits for the planner, which only takes the lock to
//! collect due sessions and to install finished plans. Sessions idle longer than the TTL are gone;
//! a table at its cap refuses new sessions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use link::follow::{Aim, Rule};
use serde::Serialize;
use tokio::sync::{oneshot, watch};

use crate::planner::plan::{unix_ms, Plan, Planned};

/// Why an act used the commanded goal instead of a waypoint (the rule is `link::follow`, shared with
/// the on-robot student).
pub use link::follow::Fallback;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no session {0} (it never existed, was deleted, or expired after its idle TTL)")]
    NotFound(String),
    #[error("the session cap ({0}) is reached; delete finished sessions or retry later")]
    Full(usize),
}

/// What the controller should steer to, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Steer {
    /// The active waypoint (goal space): a plan waypoint, or the commanded goal on fallback.
    pub target: Vec<f32>,
    pub waypoint_index: Option<usize>,
    pub plan_id: Option<u64>,
    pub plan_version: Option<u64>,
    pub plan_age_ms: Option<f64>,
    pub fallback: Option<Fallback>,
}

/// A session's public view (`GET /v1/sessions/{id}`).
#[derive(Clone, Debug, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub goal: Vec<f32>,
    pub state: Vec<f32>,
    pub plan_hz: f64,
    pub waypoint_index: usize,
    pub acts: u64,
    pub plans: u64,
    pub idle_ms: f64,
    pub age_ms: f64,
    #[serde(skip)]
    pub plan: Option<Arc<Plan>>,
}

/// A session's plans as they are installed (`None` while a new goal waits for its first plan).
pub type PlanFeed = watch::Receiver<Option<Arc<Plan>>>;

/// A due session handed to the planner.
#[derive(Clone, Debug)]
pub struct DueJob {
    pub id: String,
    pub state: Vec<f32>,
    pub goal: Vec<f32>,
    goal_version: u64,
}

struct Session {
    goal: Vec<f32>,
    goal_version: u64,
    state: Vec<f32>,
    plan_hz: f64,
    plan: Option<Arc<Plan>>,
    waypoint: usize,
    next_plan_at: Instant,
    planning: bool,
    created: Instant,
    last_seen: Instant,
    acts: u64,
    plans: u64,
    waiters: Vec<oneshot::Sender<Arc<Plan>>>,
    /// Every plan installed, for the session's streams ([`Sessions::subscribe`]).
    pushed: watch::Sender<Option<Arc<Plan>>>,
}

/// The behaviour every session shares.
#[derive(Clone, Debug)]
pub struct SessionPolicy {
    pub max_sessions: usize,
    pub ttl: Duration,
    pub horizon: usize,
    /// Advance radius, goal indices and maximum plan age.
    pub follow: Rule,
}

pub struct Sessions {
    policy: SessionPolicy,
    table: Mutex<HashMap<String, Session>>,
    next_plan_id: AtomicU64,
}

impl Sessions {
    pub fn new(policy: SessionPolicy) -> Self {
        Sessions { policy, table: Mutex::new(HashMap::new()), next_plan_id: AtomicU64::new(1) }
    }

    pub fn policy(&self) -> &SessionPolicy {
        &self.policy
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Opens a session; its first plan is due at once and arrives on the returned channel.
    pub fn create(
        &self,
        state: Vec<f32>,
        goal: Vec<f32>,
        plan_hz: f64,
        now: Instant,
    ) -> Result<(String, oneshot::Receiver<Arc<Plan>>), SessionError> {
        let mut table = self.lock();
        expire_locked(&mut table, self.policy.ttl, now);
        if table.len() >= self.policy.max_sessions {
            return Err(SessionError::Full(self.policy.max_sessions));
        }
        let id = format!("{:032x}", rand::random::<u128>());
        let (tx, rx) = oneshot::channel();
        let session = Session {
            goal,
            goal_version: 0,
            state,
            plan_hz,
            plan: None,
            waypoint: 0,
            next_plan_at: now,
            planning: false,
            created: now,
            last_seen: now,
            acts: 0,
            plans: 0,
            waiters: vec![tx],
            pushed: watch::Sender::new(None),
        };
        table.insert(id.clone(), session);
        Ok((id, rx))
    }

    /// Commands a new goal (and optionally reports the state): the old plan is dropped and a new one
    /// is due at once; it arrives on the returned channel.
    pub fn set_goal(
        &self,
        id: &str,
        goal: Vec<f32>,
        state: Option<Vec<f32>>,
        now: Instant,
    ) -> Result<oneshot::Receiver<Arc<Plan>>, SessionError> {
        let mut table = self.lock();
        let s = live(&mut table, id, self.policy.ttl, now)?;
        s.goal = goal;
        s.goal_version += 1;
        if let Some(state) = state {
            s.state = state;
        }
        s.plan = None;
        s.pushed.send_replace(None);
        s.waypoint = 0;
        s.next_plan_at = now;
        let (tx, rx) = oneshot::channel();
        s.waiters.push(tx);
        Ok(rx)
    }

    /// The controller's question: where to steer from `state` now. Advances the active waypoint
    /// while the state is within the advance radius of it; falls back to the commanded goal when
    /// there is no plan or it is older than the maximum plan age.
    pub fn steer(&self, id: &str, state: &[f32], now: Instant) -> Result<Steer, SessionError> {
        let p = &self.policy;
        let mut table = self.lock();
        let s = live(&mut table, id, p.ttl, now)?;
        s.state.clear();
        s.state.extend_from_slice(state);
        s.acts += 1;
        let plan = s.plan.clone();
        let age = plan.as_ref().map_or(Duration::ZERO, |p| now.saturating_duration_since(p.made));
        let aim = p.follow.aim(plan.as_ref().map(|p| p.waypoints.as_slice()), age, state, &mut s.waypoint);
        let (target, waypoint_index, fallback) = match (aim, &plan) {
            (Aim::Waypoint(i), Some(plan)) => (plan.waypoints[i].clone(), Some(i), None),
            (Aim::Goal(why), _) => (s.goal.clone(), None, Some(why)),
            (Aim::Waypoint(_), None) => (s.goal.clone(), None, Some(Fallback::NoPlan)),
        };
        Ok(Steer {
            target,
            waypoint_index,
            plan_id: plan.as_ref().map(|p| p.plan_id),
            plan_version: plan.as_ref().map(|p| p.version),
            plan_age_ms: plan.as_ref().map(|_| age.as_secs_f64() * 1e3),
            fallback,
        })
    }

    /// A robot that runs the student itself reports its state: the next plan starts from it.
    pub fn report(&self, id: &str, state: &[f32], now: Instant) -> Result<(), SessionError> {
        let mut table = self.lock();
        let s = live(&mut table, id, self.policy.ttl, now)?;
        s.state.clear();
        s.state.extend_from_slice(state);
        Ok(())
    }

    /// The session's plans as they are installed, starting with the current one (a stream that
    /// reconnects is sent the plan it had). It ends when the session is deleted or expires.
    pub fn subscribe(&self, id: &str, now: Instant) -> Result<PlanFeed, SessionError> {
        let mut table = self.lock();
        let s = live(&mut table, id, self.policy.ttl, now)?;
        let mut rx = s.pushed.subscribe();
        rx.mark_changed();
        Ok(rx)
    }

    /// Keeps a session alive without an act (its stream is open).
    pub fn touch(&self, id: &str, now: Instant) -> Result<(), SessionError> {
        live(&mut self.lock(), id, self.policy.ttl, now).map(drop)
    }

    pub fn get(&self, id: &str, now: Instant) -> Result<SessionView, SessionError> {
        let mut table = self.lock();
        let s = live(&mut table, id, self.policy.ttl, now)?;
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        Ok(SessionView {
            session_id: id.to_string(),
            goal: s.goal.clone(),
            state: s.state.clone(),
            plan_hz: s.plan_hz,
            waypoint_index: s.waypoint,
            acts: s.acts,
            plans: s.plans,
            idle_ms: ms(now.saturating_duration_since(s.last_seen)),
            age_ms: ms(now.saturating_duration_since(s.created)),
            plan: s.plan.clone(),
        })
    }

    /// True when the session existed.
    pub fn delete(&self, id: &str) -> bool {
        self.lock().remove(id).is_some()
    }

    /// Drops sessions idle longer than the TTL; returns how many.
    pub fn expire(&self, now: Instant) -> usize {
        expire_locked(&mut self.lock(), self.policy.ttl, now)
    }

    /// Up to `max` sessions whose plan is due, earliest first, marked as being planned.
    pub fn take_due(&self, now: Instant, max: usize) -> Vec<DueJob> {
        let mut table = self.lock();
        let mut due: Vec<(&String, &mut Session)> =
            table.iter_mut().filter(|(_, s)| !s.planning && s.next_plan_at <= now).collect();
        due.sort_by_key(|(_, s)| s.next_plan_at);
        due.into_iter()
            .take(max)
            .map(|(id, s)| {
                s.planning = true;
                DueJob { id: id.clone(), state: s.state.clone(), goal: s.goal.clone(), goal_version: s.goal_version }
            })
            .collect()
    }

    /// When the earliest session not being planned is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.lock().values().filter(|s| !s.planning).map(|s| s.next_plan_at).min()
    }

    /// Stores a finished plan (unless the session is gone or its goal changed meanwhile) and wakes
    /// whoever waits for it. `started` is when the planner collected the job.
    pub fn install(&self, job: DueJob, planned: Planned, started: Instant) -> Option<Arc<Plan>> {
        let now = Instant::now();
        let mut table = self.lock();
        let s = table.get_mut(&job.id)?;
        s.planning = false;
        if s.goal_version != job.goal_version {
            return None; // a newer goal is due at once already
        }
        s.plans += 1;
        let plan = Arc::new(Plan {
            plan_id: self.next_plan_id.fetch_add(1, Ordering::Relaxed),
            version: s.plans,
            created_at: unix_ms(SystemTime::now()),
            made: now,
            horizon: self.policy.horizon,
            waypoints: planned.waypoints,
            nodes: planned.nodes,
            source: planned.source,
            cost: planned.cost,
            direct_cost: planned.direct_cost,
            state: job.state,
            goal: job.goal,
        });
        s.plan = Some(plan.clone());
        s.pushed.send_replace(Some(plan.clone()));
        s.waypoint = 0;
        s.next_plan_at = started + Duration::from_secs_f64(1.0 / s.plan_hz);
        for w in s.waiters.drain(..) {
            let _ = w.send(plan.clone());
        }
        Some(plan)
    }

    /// A planning attempt failed: the session keeps its old plan and is tried again after `retry`.
    pub fn failed(&self, job: &DueJob, retry: Duration) {
        if let Some(s) = self.lock().get_mut(&job.id) {
            s.planning = false;
            s.next_plan_at = Instant::now() + retry;
        }
    }

    /// Makes every session due now (after the planner model changed).
    pub fn all_due(&self, now: Instant) {
        for s in self.lock().values_mut() {
            s.next_plan_at = now;
        }
    }
}

/// The session `id` if it exists and has not expired (an expired one is removed); touches it.
fn live<'a>(
    table: &'a mut HashMap<String, Session>,
    id: &str,
    ttl: Duration,
    now: Instant,
) -> Result<&'a mut Session, SessionError> {
    let expired = table.get(id).is_some_and(|s| now.saturating_duration_since(s.last_seen) > ttl);
    if expired {
        table.remove(id);
    }
    let s = table.get_mut(id).ok_or_else(|| SessionError::NotFound(id.to_string()))?;
    s.last_seen = s.last_seen.max(now);
    Ok(s)
}

fn expire_locked(table: &mut HashMap<String, Session>, ttl: Duration, now: Instant) -> usize {
    let before = table.len();
    table.retain(|_, s| now.saturating_duration_since(s.last_seen) <= ttl);
    before - table.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::plan::PlanSource;

    fn sessions(max: usize) -> Sessions {
        Sessions::new(SessionPolicy {
            max_sessions: max,
            ttl: Duration::from_secs(10),
            horizon: 3,
            follow: Rule { advance_radius: 0.5, goal_indices: vec![0, 1], max_plan_age: Duration::from_secs(1) },
        })
    }

    fn planned(waypoints: Vec<Vec<f32>>) -> Planned {
        let nodes = (0..waypoints.len() - 1).collect();
        Planned { waypoints, nodes, source: PlanSource::Graph, cost: Some(1.0), direct_cost: 2.0 }
    }

    #[test]
    fn waypoints_advance_within_the_radius_and_stale_plans_fall_back() {
        let s = sessions(4);
        let t0 = Instant::now();
        let (id, mut rx) = s.create(vec![0.0; 4], vec![8.0, 0.0], 2.0, t0).unwrap();
        let st = s.steer(&id, &[0.0; 4], t0).unwrap();
        assert_eq!((st.fallback, st.target.clone()), (Some(Fallback::NoPlan), vec![8.0, 0.0]));

        let job = s.take_due(t0, 8).pop().unwrap();
        assert!(s.take_due(t0, 8).is_empty(), "a session being planned is not due twice");
        s.install(job, planned(vec![vec![1.0, 0.0], vec![4.0, 0.0], vec![8.0, 0.0]]), t0).unwrap();
        assert_eq!(rx.try_recv().unwrap().version, 1);
        let now = Instant::now();
        let st = s.steer(&id, &[0.0; 4], now).unwrap();
        assert_eq!((st.waypoint_index, st.target), (Some(0), vec![1.0, 0.0]));
        // Within 0.5 of waypoint 0: waypoint 1 becomes active, and the last waypoint is kept for good.
        assert_eq!(s.steer(&id, &[1.2, 0.0, 0.0, 0.0], now).unwrap().waypoint_index, Some(1));
        assert_eq!(s.steer(&id, &[8.0, 0.0, 0.0, 0.0], now).unwrap().waypoint_index, Some(1));
        assert_eq!(s.steer(&id, &[4.0, 0.1, 0.0, 0.0], now).unwrap().waypoint_index, Some(2));
        assert_eq!(s.steer(&id, &[8.0, 0.0, 0.0, 0.0], now).unwrap().waypoint_index, Some(2));
        // Past the plan age: the commanded goal, and the response says so.
        let late = now + Duration::from_millis(1500);
        let st = s.steer(&id, &[0.0; 4], late).unwrap();
        assert_eq!((st.fallback, st.target, st.plan_id.is_some()), (Some(Fallback::StalePlan), vec![8.0, 0.0], true));
        // The next plan is due one period (0.5 s at 2 Hz) after the last one started.
        assert!(s.take_due(t0 + Duration::from_millis(400), 8).is_empty());
        assert_eq!(s.take_due(t0 + Duration::from_millis(500), 8).len(), 1);
    }

    #[test]
    fn a_plan_for_an_old_goal_is_discarded() {
        let s = sessions(4);
        let t0 = Instant::now();
        let (id, _rx) = s.create(vec![0.0; 4], vec![8.0, 0.0], 2.0, t0).unwrap();
        let job = s.take_due(t0, 8).pop().unwrap();
        let _rx2 = s.set_goal(&id, vec![0.0, 8.0], None, t0).unwrap();
        assert!(s.install(job, planned(vec![vec![8.0, 0.0]]), t0).is_none());
        let job = s.take_due(t0, 8).pop().unwrap();
        assert_eq!(job.goal, vec![0.0, 8.0]);
    }

    #[test]
    fn the_cap_refuses_and_idle_sessions_expire() {
        let s = sessions(2);
        let t0 = Instant::now();
        let (a, _) = s.create(vec![0.0; 4], vec![1.0, 1.0], 1.0, t0).unwrap();
        s.create(vec![0.0; 4], vec![1.0, 1.0], 1.0, t0).unwrap();
        assert_eq!(s.create(vec![0.0; 4], vec![1.0, 1.0], 1.0, t0).unwrap_err(), SessionError::Full(2));
        assert!(s.delete(&a));
        assert!(!s.delete(&a));
        assert!(matches!(s.steer(&a, &[0.0; 4], t0), Err(SessionError::NotFound(_))));
        let (b, _) = s.create(vec![0.0; 4], vec![1.0, 1.0], 1.0, t0).unwrap();
        let later = t0 + Duration::from_secs(11);
        assert!(matches!(s.get(&b, later), Err(SessionError::NotFound(_))));
        assert_eq!(s.expire(later), 1);
        assert!(s.is_empty());
    }
}
