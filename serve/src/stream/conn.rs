//! One session stream's life: the contract, then frames in and out until either end stops.
//!
//! The socket's reading half stays in [`run`]'s loop, which answers each frame before it reads the
//! next (a robot that floods gets its answers at the rate they are made, and TCP holds the rest back);
//! the writing half is its own task behind a bounded queue of `queue_frames`, and every write has a
//! time limit. A robot that stops reading fills the queue, and its stream is closed (1008) without the
//! server waiting on it; one that goes silent for three pings is closed (1001). No other session shares
//! anything with a stream but the controller and the session table, which never wait on a socket.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::http::StatusCode;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use link::wire::{self, Action, Contract, Encoded, ErrorMsg, Format, GoalMsg, GoalSet, Obs, PlanMsg, StreamMode};
use link::wire::{ToRobot, ToServer};
use tokio::sync::mpsc;

use crate::api::check_floats;
use crate::engine::Engine;
use crate::error::ApiError;
use crate::planner::plan::Plan;
use crate::routes::{session_error, steer_act};
use crate::server::App;

/// How long one frame may take to go out before the robot counts as gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(2);

/// Close codes (RFC 6455, section 7.4.1).
const NORMAL: u16 = 1000;
const GOING_AWAY: u16 = 1001;
const PROTOCOL_ERROR: u16 = 1002;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;

/// How a stream ended: the close frame to send (if any) and the reason label for the metrics.
struct End {
    close: Option<(u16, String)>,
    reason: &'static str,
}

impl End {
    fn close(code: u16, why: impl Into<String>, reason: &'static str) -> Self {
        End { close: Some((code, why.into())), reason }
    }
}

/// The server's frames on their way to the socket.
struct Outbox {
    tx: mpsc::Sender<Message>,
    format: Format,
}

impl Outbox {
    /// Queues one message; false when the robot has stopped reading (the queue is full or the
    /// writer has given up).
    fn send(&self, msg: &ToRobot) -> bool {
        let frame = match wire::encode(msg, self.format) {
            Encoded::Binary(b) => Message::Binary(b.into()),
            Encoded::Text(t) => Message::Text(t.into()),
        };
        self.tx.try_send(frame).is_ok()
    }
}

/// Writes queued frames until the queue closes or a write fails or takes too long.
async fn write(mut sink: SplitSink<WebSocket, Message>, mut rx: mpsc::Receiver<Message>) {
    while let Some(frame) = rx.recv().await {
        let closing = matches!(frame, Message::Close(_));
        match tokio::time::timeout(SEND_TIMEOUT, sink.send(frame)).await {
            Ok(Ok(())) if !closing => {}
            _ => return,
        }
    }
}

/// Serves one upgraded stream for the session the contract names.
pub(super) async fn run(socket: WebSocket, app: Arc<App>, contract: Contract, format: Format) {
    let m = &app.metrics;
    m.streams_open.inc();
    let (sink, source) = socket.split();
    let (tx, rx) = mpsc::channel(contract.queue_frames.max(1));
    let writer = tokio::spawn(write(sink, rx));
    let out = Outbox { tx, format };
    let end = match app.engine() {
        Ok(engine) => serve(&app, engine.clone(), &contract, &out, source).await,
        Err(e) => End::close(GOING_AWAY, e.message, "not_ready"),
    };
    if let Some((code, why)) = end.close {
        // A close frame's reason has at most 123 bytes.
        let mut reason = why;
        while reason.len() > 123 {
            reason.pop();
        }
        let frame = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
        if out.tx.try_send(frame).is_err() {
            writer.abort(); // a robot that does not read would never take the close frame either
        }
    }
    drop(out);
    let _ = tokio::time::timeout(SEND_TIMEOUT, writer).await;
    m.streams_open.dec();
    m.stream_closes.with_label_values(&[end.reason]).inc();
    tracing::debug!(session = contract.session_id, reason = end.reason, "stream closed");
}

async fn serve(
    app: &App,
    engine: Arc<Engine>,
    c: &Contract,
    out: &Outbox,
    mut source: futures_util::stream::SplitStream<WebSocket>,
) -> End {
    let slow = || {
        End::close(
            POLICY,
            format!("the robot is not reading: {} frames are waiting for it", c.queue_frames),
            "slow_reader",
        )
    };
    let gone = |e: ApiError| End::close(GOING_AWAY, e.message, "session_gone");
    let mut plans = match engine.sessions.subscribe(&c.session_id, Instant::now()) {
        Ok(sub) => sub,
        Err(e) => return gone(session_error(e)),
    };
    if !out.send(&ToRobot::Contract(Box::new(c.clone()))) {
        return slow();
    }
    let every = Duration::from_millis(c.ping_interval_ms.max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            frame = source.next() => {
                let arrived = Instant::now();
                let decoded = match frame {
                    None => return End { close: None, reason: "peer_gone" },
                    Some(Err(e)) => return read_error(&e.to_string(), c.max_frame_bytes),
                    Some(Ok(Message::Binary(b))) => wire::decode_binary::<ToServer>(&b),
                    Some(Ok(Message::Text(t))) => wire::decode_text::<ToServer>(t.as_str()),
                    Some(Ok(Message::Close(_))) => return End::close(NORMAL, "closed by the robot", "peer_closed"),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                        heard = arrived;
                        continue;
                    }
                };
                heard = arrived;
                let reply = match decoded {
                    Ok(msg) => handle(app, &engine, c, msg, arrived).await,
                    Err(why) => Some(Err((None, ApiError::new(StatusCode::BAD_REQUEST, "malformed_frame", why)))),
                };
                let reply = match reply {
                    None => continue,
                    Some(Ok(msg)) => msg,
                    Some(Err((seq, e))) => {
                        app.metrics.errors.with_label_values(&[e.code]).inc();
                        if e.status == StatusCode::NOT_FOUND {
                            return gone(e);
                        }
                        ToRobot::Error(ErrorMsg { seq, status: e.status.as_u16(), code: e.code.into(), message: e.message })
                    }
                };
                if !out.send(&reply) {
                    return slow();
                }
            }
            changed = plans.changed(), if c.mode == StreamMode::Plans => {
                if changed.is_err() {
                    return gone(session_error(crate::sessions::SessionError::NotFound(c.session_id.clone())));
                }
                let plan = plans.borrow_and_update().clone();
                if let Some(p) = plan {
                    if !out.send(&ToRobot::Plan(plan_msg(&p))) {
                        return slow();
                    }
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > 3 * every {
                    let why = format!("nothing from the robot for {} ms (three pings)", heard.elapsed().as_millis());
                    return End::close(GOING_AWAY, why, "silent");
                }
                // An open stream keeps its session alive, even in plans mode with no state reports.
                if let Err(e) = engine.sessions.touch(&c.session_id, Instant::now()) {
                    return gone(session_error(e));
                }
                if out.tx.try_send(Message::Ping(Default::default())).is_err() {
                    return slow();
                }
            }
        }
    }
}

/// A frame the socket could not read: too large (1009), or broken (1002).
fn read_error(e: &str, limit: usize) -> End {
    if e.contains("Space limit exceeded") || e.contains("too long") {
        End::close(TOO_BIG, format!("a frame over the limit of {limit} bytes"), "too_big")
    } else {
        End::close(PROTOCOL_ERROR, format!("unreadable frame: {e}"), "protocol_error")
    }
}

type Reply = Option<Result<ToRobot, (Option<u64>, ApiError)>>;

async fn handle(app: &App, engine: &Engine, c: &Contract, msg: ToServer, arrived: Instant) -> Reply {
    match msg {
        ToServer::Obs(o) => {
            let seq = o.seq;
            let result = match c.mode {
                StreamMode::Act => act(app, engine, c, o, arrived).await.map(|a| Some(ToRobot::Action(a))),
                StreamMode::Plans => report(engine, c, &o).map(|()| None),
            };
            result.map_err(|e| (Some(seq), e)).transpose()
        }
        ToServer::Goal(g) => Some(goal(engine, c, g).map(ToRobot::GoalSet).map_err(|e| (None, e))),
    }
}

/// Checks the observation's state, and its age when it carries a stamp.
fn checked_obs(c: &Contract, o: &Obs) -> Result<(), ApiError> {
    check_floats(&o.state, "state", c.state_dim)?;
    if let Some(stamp) = o.stamp_ms {
        if !stamp.is_finite() {
            return Err(ApiError::invalid("stamp_ms must be a finite number of milliseconds since the Unix epoch"));
        }
        let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64() * 1e3);
        let age = now - stamp;
        if age > c.max_obs_age_ms {
            let msg = format!(
                "the observation is {age:.1} ms old, over the limit of {} ms (its stamp_ms is the robot's clock: \
                 keep it in sync with the server's, or leave stamp_ms out)",
                c.max_obs_age_ms
            );
            return Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, "stale_observation", msg));
        }
    }
    Ok(())
}

async fn act(app: &App, engine: &Engine, c: &Contract, o: Obs, arrived: Instant) -> Result<Action, ApiError> {
    checked_obs(c, &o)?;
    let budget = o.deadline_ms.unwrap_or(c.deadline_ms);
    if !(budget.is_finite() && budget > 0.0) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_deadline",
            "deadline_ms must be a positive number of milliseconds",
        ));
    }
    let deadline = arrived + Duration::from_secs_f64(budget.min(1e9) / 1e3);
    let (steer, reply) = steer_act(app, engine, &c.session_id, &o.state, Some(deadline)).await?;
    Ok(Action {
        seq: o.seq,
        action: reply.actions,
        waypoint: steer.target,
        waypoint_index: steer.waypoint_index,
        plan_id: steer.plan_id,
        plan_age_ms: steer.plan_age_ms,
        fallback: steer.fallback,
        server_us: arrived.elapsed().as_micros() as u64,
    })
}

/// A state report in plans mode: the next plan starts from it.
fn report(engine: &Engine, c: &Contract, o: &Obs) -> Result<(), ApiError> {
    checked_obs(c, o)?;
    engine.sessions.report(&c.session_id, &o.state, Instant::now()).map_err(session_error)
}

fn goal(engine: &Engine, c: &Contract, g: GoalMsg) -> Result<GoalSet, ApiError> {
    check_floats(&g.goal, "goal", c.goal_dim)?;
    if let Some(s) = &g.state {
        check_floats(s, "state", c.state_dim)?;
    }
    engine.sessions.set_goal(&c.session_id, g.goal.clone(), g.state, Instant::now()).map_err(session_error)?;
    engine.planner.wake();
    Ok(GoalSet { goal: g.goal })
}

fn plan_msg(p: &Plan) -> PlanMsg {
    PlanMsg {
        plan_id: p.plan_id,
        version: p.version,
        age_ms: p.age_ms(Instant::now()),
        waypoints: p.waypoints.clone(),
        goal: p.goal.clone(),
        source: p.source.name().into(),
    }
}
