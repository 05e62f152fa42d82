//! The robot's end of the session stream (`link::wire`): one background task per stream owns the
//! WebSocket, reconnects when the link drops (the server keeps the session for its TTL, so the robot
//! resumes the same goal and plan), and talks to the control loop through channels that never block
//! a tick: [`StreamLink::send`] queues or drops, [`StreamLink::act`] waits at most its limit, and the
//! latest plan is a `watch` the loop reads when it likes.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use link::wire::{self, Action, Contract, Encoded, Format, Obs, PlanMsg, ToRobot, ToServer};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::error::{Result, RobotError};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// How long connecting and the contract may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Pause between reconnection attempts while the link is down.
const RECONNECT_EVERY: Duration = Duration::from_millis(200);
/// Frames the control loop may queue for the socket.
const OUT_QUEUE: usize = 64;

/// A plan and when it arrived on this robot's clock.
#[derive(Clone, Debug)]
pub struct Received {
    pub plan: PlanMsg,
    pub at: Instant,
}

/// What the link saw, for the report.
#[derive(Debug, Default)]
pub struct LinkStats {
    pub up: AtomicBool,
    pub reconnects: AtomicU64,
    pub plans: AtomicU64,
    pub errors: AtomicU64,
}

/// One session's stream.
pub struct StreamLink {
    /// The contract of the first connection (the robot checked it before moving).
    pub contract: Contract,
    out: mpsc::Sender<ToServer>,
    inbox: mpsc::Receiver<ToRobot>,
    plans: watch::Receiver<Option<Received>>,
    pub stats: Arc<LinkStats>,
}

/// `ws://host:port/v1/sessions/{id}/stream?mode=...` from the server's HTTP base URL.
pub fn stream_url(base: &str, session: &str, mode: wire::StreamMode) -> String {
    let base = base.trim_end_matches('/');
    let ws = match base.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{base}"),
    };
    format!("{ws}/v1/sessions/{session}/stream?mode={}", mode.name())
}

async fn connect(url: &str, key: Option<&str>) -> Result<(Ws, Contract)> {
    let failed = |why: String| RobotError::Stream(format!("{url}: {why}"));
    let mut req = url.into_client_request().map_err(|e| failed(e.to_string()))?;
    if let Some(k) = key {
        let value = format!("Bearer {k}").parse().map_err(|_| failed("the API key is not a valid header".into()))?;
        req.headers_mut().insert("authorization", value);
    }
    // TCP_NODELAY: an observation must not wait behind the acknowledgement of the one before.
    let opened =
        tokio::time::timeout(CONNECT_TIMEOUT, tokio_tungstenite::connect_async_with_config(req, None, true)).await;
    let (mut ws, _) = match opened {
        Err(_) => return Err(failed(format!("no connection within {CONNECT_TIMEOUT:?}"))),
        Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) => {
            let body = resp.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().to_string();
            return Err(failed(format!("the server refused the stream with {}: {body}", resp.status())));
        }
        Ok(Err(e)) => return Err(failed(e.to_string())),
        Ok(Ok(pair)) => pair,
    };
    let first = tokio::time::timeout(CONNECT_TIMEOUT, next_message(&mut ws)).await;
    match first {
        Ok(Some(ToRobot::Contract(c))) if c.protocol == wire::PROTOCOL => Ok((ws, *c)),
        Ok(Some(ToRobot::Contract(c))) => Err(failed(format!(
            "the server speaks stream protocol {}, this robot {}: update one of them",
            c.protocol,
            wire::PROTOCOL
        ))),
        Ok(other) => Err(failed(format!("the first message was not a contract: {other:?}"))),
        Err(_) => Err(failed("no contract within the connect timeout".into())),
    }
}

/// The next decodable message, answering pings on the way; `None` when the socket is done.
async fn next_message(ws: &mut Ws) -> Option<ToRobot> {
    loop {
        match ws.next().await? {
            Ok(Message::Binary(b)) => return wire::decode_binary(&b).ok(),
            Ok(Message::Text(t)) => return wire::decode_text(t.as_str()).ok(),
            Ok(Message::Ping(_)) => {
                // tungstenite queued the pong; send it now rather than with our next frame.
                let _ = ws.flush().await;
            }
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

struct Drive {
    url: String,
    key: Option<String>,
    out: mpsc::Receiver<ToServer>,
    inbox: mpsc::Sender<ToRobot>,
    plans: watch::Sender<Option<Received>>,
    stats: Arc<LinkStats>,
}

impl Drive {
    /// Connects, serves, and reconnects until the [`StreamLink`] is dropped.
    async fn run(mut self, first: oneshot::Sender<Result<Contract>>) {
        let mut first = Some(first);
        loop {
            match connect(&self.url, self.key.as_deref()).await {
                Ok((ws, contract)) => {
                    self.stats.up.store(true, Ordering::Relaxed);
                    if let Some(f) = first.take() {
                        let _ = f.send(Ok(contract));
                    }
                    let stopped = self.serve(ws).await;
                    self.stats.up.store(false, Ordering::Relaxed);
                    if stopped {
                        return;
                    }
                }
                Err(e) => {
                    if let Some(f) = first.take() {
                        let _ = f.send(Err(e));
                        return;
                    }
                }
            }
            // Down: what the loop queued meanwhile is stale; drop it, and try again shortly.
            let until = tokio::time::Instant::now() + RECONNECT_EVERY;
            loop {
                match tokio::time::timeout_at(until, self.out.recv()).await {
                    Ok(Some(_)) => {}
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One connection; true when the robot is done with the link.
    async fn serve(&mut self, mut ws: Ws) -> bool {
        loop {
            tokio::select! {
                msg = self.out.recv() => {
                    let Some(msg) = msg else {
                        let _ = ws.close(None).await;
                        return true;
                    };
                    let frame = match wire::encode(&msg, Format::Msgpack) {
                        Encoded::Binary(b) => Message::Binary(b.into()),
                        Encoded::Text(t) => Message::Text(t.into()),
                    };
                    if !matches!(tokio::time::timeout(CONNECT_TIMEOUT, ws.send(frame)).await, Ok(Ok(()))) {
                        return false;
                    }
                }
                msg = next_message(&mut ws) => match msg {
                    None => return false,
                    Some(ToRobot::Plan(plan)) => {
                        self.stats.plans.fetch_add(1, Ordering::Relaxed);
                        self.plans.send_replace(Some(Received { plan, at: Instant::now() }));
                    }
                    Some(ToRobot::Contract(_)) => {}
                    Some(other) => {
                        if matches!(other, ToRobot::Error(_)) {
                            self.stats.errors.fetch_add(1, Ordering::Relaxed);
                        }
                        let _ = self.inbox.try_send(other);
                    }
                },
            }
        }
    }
}

impl StreamLink {
    /// Opens the stream at `url` (see [`stream_url`]); fails if the server refuses it or sends no
    /// contract.
    pub async fn open(url: String, key: Option<String>) -> Result<Self> {
        let (out_tx, out) = mpsc::channel(OUT_QUEUE);
        let (inbox, inbox_rx) = mpsc::channel(OUT_QUEUE);
        let (plans, plans_rx) = watch::channel(None);
        let stats = Arc::new(LinkStats::default());
        let (first_tx, first_rx) = oneshot::channel();
        let drive = Drive { url, key, out, inbox, plans, stats: stats.clone() };
        tokio::spawn(drive.run(first_tx));
        let contract = first_rx.await.map_err(|_| RobotError::Stream("the stream task stopped".into()))??;
        Ok(StreamLink { contract, out: out_tx, inbox: inbox_rx, plans: plans_rx, stats })
    }

    /// Queues a message without waiting; false when the link is down or its queue is full.
    pub fn send(&self, msg: ToServer) -> bool {
        self.stats.up.load(Ordering::Relaxed) && self.out.try_send(msg).is_ok()
    }

    /// Sends observation `seq` and waits until `wait` has passed for its action. If that does not
    /// come in time, the newest action that did, for an observation later than `after` (answers
    /// are pipelined: on a slow link the robot acts on the answer to an observation a few ticks old
    /// rather than on nothing). `None` when nothing newer than `after` arrived.
    pub async fn act(&mut self, seq: u64, state: &[f32], wait: Duration, after: u64) -> Option<Action> {
        let until = tokio::time::Instant::now() + wait;
        let sent = self.send(ToServer::Obs(Obs { seq, state: state.to_vec(), stamp_ms: None, deadline_ms: None }));
        let mut newest: Option<Action> = None;
        loop {
            // Answers already here first, then wait for more until the deadline.
            let next = match self.inbox.try_recv() {
                Ok(m) => Some(m),
                Err(mpsc::error::TryRecvError::Empty) if sent => {
                    tokio::time::timeout_at(until, self.inbox.recv()).await.ok().flatten()
                }
                Err(_) => None,
            };
            match next {
                Some(ToRobot::Action(a)) if a.seq == seq => return Some(a),
                Some(ToRobot::Action(a)) if a.seq > after && newest.as_ref().is_none_or(|n| a.seq > n.seq) => {
                    newest = Some(a)
                }
                Some(_) => {}
                None => return newest,
            }
        }
    }

    /// The newest plan, if one arrived since the last call.
    pub fn new_plan(&mut self) -> Option<Received> {
        if self.plans.has_changed().unwrap_or(false) {
            self.plans.borrow_and_update().clone()
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_url_follows_the_server_url() {
        let u = stream_url("http://10.0.0.2:8080/", "abc", wire::StreamMode::Plans);
        assert_eq!(u, "ws://10.0.0.2:8080/v1/sessions/abc/stream?mode=plans");
        assert!(stream_url("https://robots.example", "s", wire::StreamMode::Act).starts_with("wss://robots.example/"));
    }

    #[tokio::test]
    async fn an_absent_server_is_a_clear_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let url = stream_url(&format!("http://127.0.0.1:{port}"), "s", wire::StreamMode::Act);
        let e = StreamLink::open(url.clone(), None).await.err().expect("nothing listens there");
        assert!(e.to_string().contains(&url), "{e}");
    }
}
