//! One simulated robot's episodes in one mode: the environment stepped in real time, each tick's
//! action from the server (over HTTP or the stream) or from the student on board.
//!
//! The per-tick modes fail closed: a tick without a fresh answer repeats the last action only while
//! that action is younger than `hold_after`; after it the robot holds the safe action (zero) and
//! counts the tick as held, so a dead or half-open link never keeps replaying an old command.

use std::sync::Arc;
use std::time::{Duration, Instant};

use envs::{EnvOptions, GoalEnv};
use hdrhistogram::Histogram;
use link::follow::{Aim, Follower, HeldPlan, Rule};
use link::wire::{Obs, StreamMode, ToServer};
use reqwest::Method;
use serde_json::{json, Value};

use crate::client::Client;
use crate::error::{Result, RobotError};
use crate::onboard::{Policy, Student};
use crate::sim::{Mode, SimConfig, Transport, NEEDS_STUDENT};
use crate::stream::{stream_url, StreamLink};

/// What one robot counted; a mode's report sums them over its robots.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counts {
    pub requests: u64,
    pub missed: u64,
    /// Stream ticks that acted on the answer to an earlier observation (pipelined, late).
    pub late: u64,
    pub held: u64,
    pub fallbacks: u64,
    pub steps: u64,
    pub plans: u64,
    pub reconnects: u64,
    pub state_reports: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.missed += o.missed;
        self.late += o.late;
        self.held += o.held;
        self.fallbacks += o.fallbacks;
        self.steps += o.steps;
        self.plans += o.plans;
        self.reconnects += o.reconnects;
        self.state_reports += o.state_reports;
    }
}

/// What one robot measured.
pub(crate) struct RobotLog {
    pub goals: Vec<Vec<f32>>,
    pub successes: Vec<bool>,
    pub time_at_goal: Vec<f64>,
    /// Network round trips as the robot saw them.
    pub latency: Histogram<u64>,
    pub server: Histogram<u64>,
    /// The student's forward pass on the robot (onboard mode).
    pub local: Histogram<u64>,
    pub counts: Counts,
    /// Why this robot stopped before its last episode (it could not open a session or a stream).
    pub stopped: Option<String>,
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

fn us(d: Duration) -> u64 {
    d.as_micros().max(1) as u64
}

/// Where a robot's actions come from during one episode.
enum Source {
    /// `/v1/act` (controller or planner model) or `/v1/sessions/{id}/act`, one request per tick.
    Http { path: String, model: Option<&'static str> },
    /// The session stream in act mode: one observation and one action per tick.
    Stream(Box<Streamed>),
    /// The student on board, following plans pushed over the stream.
    Onboard(Box<Onboard>),
}

/// A per-tick robot on the stream: its observations' send times, by `seq` modulo their number,
/// give the round trip of an answer that comes late.
struct Streamed {
    link: StreamLink,
    seq: u64,
    used: u64,
    sent: [Option<Instant>; 256],
}

/// The onboard robot's side of a session.
struct Onboard {
    link: StreamLink,
    follower: Follower,
    policy: Policy,
    report_every: u64,
    seq: u64,
}

/// One tick's fresh answer.
struct Answer {
    action: Vec<f32>,
    fallback: bool,
}

pub(crate) struct Robot {
    pub cfg: SimConfig,
    pub mode: Mode,
    pub index: usize,
    pub http: Client,
    pub student: Option<Arc<Student>>,
}

impl Robot {
    /// Opens a session from this state and goal; its id. A lossy link may fail a try: three tries,
    /// half a second apart, before the robot gives up.
    async fn open_session(&self, state: &[f32], goal: &[f32]) -> Result<String> {
        let mut body = json!({ "obs": state, "goal": goal });
        if let Some(hz) = self.cfg.plan_hz {
            body["plan_hz"] = json!(hz);
        }
        let mut tries = 0;
        loop {
            tries += 1;
            let result = match self.http.call(Method::POST, "/v1/sessions", Some(body.clone())).await {
                Ok((status, v)) => match v["session_id"].as_str() {
                    Some(id) if status == 201 => return Ok(id.to_string()),
                    _ => Err(RobotError::Refused { what: "POST /v1/sessions".into(), status, body: v }),
                },
                Err(e) => Err(e),
            };
            match result {
                Err(e) if tries < 3 && e.is_link() => tokio::time::sleep(Duration::from_millis(500)).await,
                other => return other,
            }
        }
    }

    async fn source(&self, session: Option<&str>) -> Result<Source> {
        let key = self.cfg.api_key.clone();
        Ok(match (self.mode, self.cfg.transport, session) {
            (Mode::Controller, _, _) => Source::Http { path: "/v1/act".into(), model: None },
            (Mode::Planner, _, _) => Source::Http { path: "/v1/act".into(), model: Some("planner") },
            (Mode::Hierarchical, Transport::Http, Some(id)) => {
                Source::Http { path: format!("/v1/sessions/{id}/act"), model: None }
            }
            (Mode::Hierarchical, Transport::Ws, Some(id)) => {
                let link = StreamLink::open(stream_url(&self.cfg.server, id, StreamMode::Act), key).await?;
                Source::Stream(Box::new(Streamed { link, seq: 0, used: 0, sent: [None; 256] }))
            }
            (Mode::Onboard, _, Some(id)) => {
                let student = self.student.as_ref().ok_or_else(|| RobotError::Config(NEEDS_STUDENT.into()))?;
                let link = StreamLink::open(stream_url(&self.cfg.server, id, StreamMode::Plans), key).await?;
                let c = &link.contract;
                student.check(c)?;
                let rule = Rule {
                    advance_radius: c.advance_radius,
                    goal_indices: c.goal_indices.clone(),
                    max_plan_age: Duration::from_secs_f64(c.max_plan_age_ms / 1e3),
                };
                let follower = Follower::new(rule, c.goal.clone());
                // State reports at four per plan refresh: the planner plans from a recent state.
                let report_every = (self.cfg.control_hz / (4.0 * c.plan_hz)).round().max(1.0) as u64;
                Source::Onboard(Box::new(Onboard { follower, policy: student.policy(), report_every, seq: 0, link }))
            }
            (_, _, None) => return Err(RobotError::Config("this mode needs a session".into())),
        })
    }

    /// One tick: a fresh answer, or `None` (late, refused, link down).
    async fn tick(&self, src: &mut Source, obs: &[f32], sd: usize, log: &mut RobotLog) -> Option<Answer> {
        let period = self.http.period();
        match src {
            Source::Http { path, model } => {
                let mut body: Value = if self.mode == Mode::Hierarchical {
                    json!({ "obs": &obs[..sd] })
                } else {
                    json!({ "obs": &obs[..sd], "goal": &obs[sd..] })
                };
                if let Some(m) = model {
                    body["model"] = json!(m);
                }
                let sent = Instant::now();
                let answer = self.http.act(path, body).await;
                let rtt = sent.elapsed();
                log.counts.requests += 1;
                let (action, server_us, fallback) = answer.filter(|_| rtt <= period)?;
                log.latency.saturating_record(us(rtt));
                log.server.saturating_record(server_us.max(1));
                Some(Answer { action, fallback })
            }
            Source::Stream(st) => {
                st.seq += 1;
                let now = Instant::now();
                st.sent[(st.seq % 256) as usize] = Some(now);
                log.counts.requests += 1;
                // Wait for this tick's answer until shortly before the next tick, so the loop keeps its rate.
                let a = st.link.act(st.seq, &obs[..sd], period.mul_f64(0.9), st.used).await?;
                let sent_at = st.sent[(a.seq % 256) as usize].filter(|_| st.seq - a.seq < 256)?;
                st.used = a.seq;
                // An answer to an observation older than the hold limit is stale, however new its arrival.
                let age = sent_at.elapsed();
                if age.as_secs_f64() * 1e3 > self.cfg.hold_after_ms {
                    return None;
                }
                log.counts.late += (a.seq != st.seq) as u64;
                log.latency.saturating_record(us(age));
                log.server.saturating_record(a.server_us.max(1));
                Some(Answer { action: a.action, fallback: a.fallback.is_some() })
            }
            Source::Onboard(o) => {
                let Onboard { link, follower, policy, report_every, seq } = &mut **o;
                if let Some(r) = link.new_plan() {
                    let made = r.at.checked_sub(Duration::from_secs_f64(r.plan.age_ms.max(0.0) / 1e3)).unwrap_or(r.at);
                    follower.take(HeldPlan { plan_id: r.plan.plan_id, waypoints: r.plan.waypoints, made }, r.plan.goal);
                }
                let state = &obs[..sd];
                let started = Instant::now();
                let (target, aim) = follower.target(state, started);
                let action = policy.act(state, target).ok()?;
                log.local.saturating_record(us(started.elapsed()));
                *seq += 1;
                if *seq % *report_every == 0 {
                    let report =
                        ToServer::Obs(Obs { seq: *seq, state: state.to_vec(), stamp_ms: None, deadline_ms: None });
                    log.counts.state_reports += link.send(report) as u64;
                }
                Some(Answer { action, fallback: matches!(aim, Aim::Goal(_)) })
            }
        }
    }

    pub(crate) async fn run(self, episodes: usize) -> Result<RobotLog> {
        let cfg = &self.cfg;
        let opts =
            EnvOptions { episode_length: cfg.episode_length, layout: cfg.layout.clone(), ..EnvOptions::default() };
        let seed = cfg.seed.wrapping_add(self.index as u64 * 7919);
        let mut env: Box<dyn GoalEnv> = envs::make_with(&cfg.env, 1, seed, &opts)?;
        env.reset(seed);
        let spec = env.spec().clone();
        let (sd, ad, len) = (spec.state_dim, spec.action_dim, spec.episode_length);
        let mut log = RobotLog {
            goals: Vec::new(),
            successes: Vec::new(),
            time_at_goal: Vec::new(),
            latency: histogram(),
            server: histogram(),
            local: histogram(),
            counts: Counts::default(),
            stopped: None,
        };
        let hold_after = Duration::from_secs_f64(cfg.hold_after_ms / 1e3);
        let mut action = vec![0f32; ad];
        let mut tick = tokio::time::interval(self.http.period());
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        for _ in 0..episodes {
            let obs = env.observations().to_vec();
            let (state, goal) = (obs[..sd].to_vec(), obs[sd..].to_vec());
            let setup = async {
                let session = match self.mode {
                    Mode::Hierarchical | Mode::Onboard => Some(self.open_session(&state, &goal).await?),
                    Mode::Controller | Mode::Planner => None,
                };
                let src = self.source(session.as_deref()).await?;
                Ok::<_, RobotError>((session, src))
            };
            // A robot that cannot reach its server between episodes stops (and says why); one whose
            // student or settings are wrong fails the run.
            let (session, mut src) = match setup.await {
                Ok(pair) => pair,
                Err(e) if e.is_link() => {
                    log.stopped = Some(e.to_string());
                    break;
                }
                Err(e) => return Err(e),
            };
            let (mut success, mut at_goal) = (false, 0u32);
            action.iter_mut().for_each(|a| *a = 0.0);
            let mut fresh_at = Instant::now();
            for _ in 0..len {
                tick.tick().await;
                let obs = env.observations().to_vec();
                match self.tick(&mut src, &obs, sd, &mut log).await {
                    Some(a) if a.action.len() == ad => {
                        log.counts.fallbacks += a.fallback as u64;
                        action = a.action;
                        fresh_at = Instant::now();
                    }
                    _ => {
                        log.counts.missed += 1;
                        if fresh_at.elapsed() > hold_after {
                            action.iter_mut().for_each(|a| *a = 0.0);
                            log.counts.held += 1;
                        }
                    }
                }
                let info = env.step(&action)?[0];
                log.counts.steps += 1;
                success |= info.success;
                at_goal += info.success as u32;
                if info.done() {
                    break;
                }
            }
            let link = match &src {
                Source::Stream(st) => Some(&st.link),
                Source::Onboard(o) => Some(&o.link),
                Source::Http { .. } => None,
            };
            if let Some(link) = link {
                use std::sync::atomic::Ordering::Relaxed;
                log.counts.plans += link.stats.plans.load(Relaxed);
                log.counts.reconnects += link.stats.reconnects.load(Relaxed);
            }
            drop(src);
            if let Some(id) = session {
                let _ = self.http.call(Method::DELETE, &format!("/v1/sessions/{id}"), None).await;
            }
            log.goals.push(goal);
            log.successes.push(success);
            log.time_at_goal.push(at_goal as f64 / len as f64);
        }
        Ok(log)
    }
}
