//! The session stream over real sockets: the contract, actions per observation, pushed plans, resume
//! after a reconnect, the HTTP refusals before the upgrade, error frames with the HTTP codes for bad
//! frames, and the peers that misbehave (oversized frames, random bytes, a robot that never reads, one
//! that goes silent, one that vanishes mid-frame) without stalling another session.

mod common;

use std::time::{Duration, Instant};

use common::{fixture, Client};
use futures_util::{SinkExt, StreamExt};
use link::wire::{self, Encoded, Format, GoalMsg, Obs, ToRobot, ToServer};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn started(cfg: serve::ServeConfig) -> (serve::Running, Client) {
    let running = serve::start(cfg).await.unwrap();
    let client = Client::new(running.url());
    (running, client)
}

async fn session(c: &Client, plan_hz: f64) -> String {
    let body = json!({ "obs": [4, 4, 0, 0], "goal": [12, 4], "plan_hz": plan_hz }).to_string();
    let (status, s) = c.post("/v1/sessions", &body).await;
    assert_eq!(status, 201, "{s}");
    s["session_id"].as_str().unwrap().to_string()
}

fn url(c: &Client, id: &str, query: &str) -> String {
    format!("{}/v1/sessions/{id}/stream?{query}", c.base.replacen("http://", "ws://", 1))
}

async fn connect(c: &Client, id: &str, query: &str) -> Ws {
    tokio_tungstenite::connect_async(url(c, id, query)).await.unwrap().0
}

/// The next message from the server, skipping control frames; panics after 5 s.
async fn recv(ws: &mut Ws) -> ToRobot {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next()).await.expect("a message within 5 s");
        match frame.expect("the stream is open").expect("a readable frame") {
            Message::Binary(b) => return wire::decode_binary(&b).unwrap(),
            Message::Text(t) => return wire::decode_text(t.as_str()).unwrap(),
            Message::Close(f) => panic!("closed: {f:?}"),
            _ => {}
        }
    }
}

/// Reads until the server closes; the close frame's code and reason.
async fn closed(ws: &mut Ws) -> (CloseCode, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await.expect("a close within 10 s") {
            Some(Ok(Message::Close(Some(f)))) => return (f.code, f.reason.to_string()),
            Some(Ok(Message::Close(None))) | None | Some(Err(_)) => return (CloseCode::Abnormal, String::new()),
            Some(Ok(_)) => {}
        }
    }
}

async fn send(ws: &mut Ws, msg: &ToServer, format: Format) {
    let frame = match wire::encode(msg, format) {
        Encoded::Binary(b) => Message::Binary(b.into()),
        Encoded::Text(t) => Message::Text(t.into()),
    };
    ws.send(frame).await.unwrap();
}

fn obs(seq: u64, state: Vec<f32>) -> ToServer {
    ToServer::Obs(Obs { seq, state, stamp_ms: None, deadline_ms: None })
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn metric(text: &str, line_start: &str) -> f64 {
    text.lines().find(|l| l.starts_with(line_start)).and_then(|l| l.rsplit(' ').next()?.parse().ok()).unwrap_or(0.0)
}

async fn metrics(c: &Client) -> String {
    c.http.get(format!("{}/metrics", c.base)).send().await.unwrap().text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn act_mode_answers_each_observation_as_the_controller_would() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let id = session(&c, 20.0).await;
    for format in [Format::Msgpack, Format::Json] {
        let query = if format == Format::Json { "mode=act&format=json" } else { "mode=act" };
        let mut ws = connect(&c, &id, query).await;
        let ToRobot::Contract(k) = recv(&mut ws).await else { panic!("the first message is the contract") };
        let (_, models) = c.get("/v1/models").await;
        assert_eq!(k.controller.sha256, models["controller"]["sha256"].as_str().unwrap());
        assert_eq!(k.planner.sha256, models["planner"]["sha256"].as_str().unwrap());
        assert_eq!((k.state_dim, k.goal_dim, k.action_dim, k.goal_indices.clone()), (4, 2, 2, vec![0, 1]));
        assert_eq!((k.session_id.as_str(), k.goal.clone(), k.protocol), (id.as_str(), vec![12.0, 4.0], 1));
        for seq in 1..=5u64 {
            let state = vec![4.0 + seq as f32 * 0.1, 4.0, 0.0, 0.0];
            send(&mut ws, &obs(seq, state.clone()), format).await;
            let ToRobot::Action(a) = recv(&mut ws).await else { panic!("an action") };
            assert_eq!(a.seq, seq);
            // The same student on the same [state, waypoint] row over HTTP gives the same action.
            let body = json!({ "obs": state, "goal": a.waypoint }).to_string();
            let (status, http) = c.post("/v1/act", &body).await;
            assert_eq!(status, 200, "{http}");
            assert_eq!(a.action, floats(&http["action"]));
        }
        ws.close(None).await.unwrap();
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plans_are_pushed_at_every_refresh_and_a_reconnect_resumes_the_same_plan() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let fast = session(&c, 20.0).await;
    let mut ws = connect(&c, &fast, "mode=plans").await;
    assert!(matches!(recv(&mut ws).await, ToRobot::Contract(_)));
    let mut versions = Vec::new();
    let t0 = Instant::now();
    while versions.len() < 4 {
        // State reports are answered by nothing: the next message is still a plan.
        send(&mut ws, &obs(versions.len() as u64, vec![4.0, 4.5, 0.0, 0.0]), Format::Msgpack).await;
        let ToRobot::Plan(p) = recv(&mut ws).await else { panic!("a plan") };
        assert_eq!(p.goal, vec![12.0, 4.0]);
        assert_eq!(p.waypoints.last().unwrap(), &vec![12.0, 4.0]);
        versions.push(p.version);
    }
    assert!(versions.windows(2).all(|w| w[1] > w[0]), "each refresh is a newer plan: {versions:?}");
    assert!(t0.elapsed() < Duration::from_secs(3), "4 plans at 20 Hz took {:?}", t0.elapsed());
    let (_, view) = c.get(&format!("/v1/sessions/{fast}")).await;
    assert_eq!(floats(&view["state"]), vec![4.0, 4.5, 0.0, 0.0], "the state report reached the session");

    // A slow session: drop the stream and reconnect before its next refresh.
    let slow = session(&c, 0.2).await;
    let mut ws = connect(&c, &slow, "mode=plans").await;
    assert!(matches!(recv(&mut ws).await, ToRobot::Contract(_)));
    let ToRobot::Plan(first) = recv(&mut ws).await else { panic!("the current plan") };
    drop(ws);
    let mut ws = connect(&c, &slow, "mode=plans&format=json").await;
    let ToRobot::Contract(k) = recv(&mut ws).await else { panic!() };
    assert_eq!(k.goal, vec![12.0, 4.0]);
    let ToRobot::Plan(again) = recv(&mut ws).await else { panic!("the plan again") };
    assert_eq!((again.plan_id, again.waypoints), (first.plan_id, first.waypoints));
    // A new goal over the stream: acknowledged, and the next plan ends there.
    let goal = ToServer::Goal(GoalMsg { goal: vec![4.0, 12.0], state: None });
    send(&mut ws, &goal, Format::Json).await;
    assert!(matches!(recv(&mut ws).await, ToRobot::GoalSet(g) if g.goal == vec![4.0, 12.0]));
    let ToRobot::Plan(p) = recv(&mut ws).await else { panic!("a plan for the new goal") };
    assert_eq!(p.goal, vec![4.0, 12.0]);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_upgrade_is_refused_like_any_request() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.api_key = Some("sesame".into());
    let (running, mut c) = started(cfg).await;
    let status = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    let keyed = |u: String, key: &str| {
        let mut req = u.into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {key}").parse().unwrap());
        req
    };
    assert_eq!(status(tokio_tungstenite::connect_async(url(&c, "x", "")).await), 401);
    assert_eq!(status(tokio_tungstenite::connect_async(keyed(url(&c, "x", ""), "wrong")).await), 401);
    assert_eq!(status(tokio_tungstenite::connect_async(keyed(url(&c, "nope", ""), "sesame")).await), 404);
    c.key = Some("sesame".into());
    let id = session(&c, 2.0).await;
    assert_eq!(status(tokio_tungstenite::connect_async(keyed(url(&c, &id, "mode=fast"), "sesame")).await), 400);
    let (code, body) = c.get(&format!("/v1/sessions/{id}/stream")).await;
    assert_eq!((code, body["error"]["code"].as_str()), (426, Some("upgrade_required")), "{body}");
    assert_eq!(status(tokio_tungstenite::connect_async(keyed(url(&c, &id, "mode=act"), "sesame")).await), 101);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_frames_with_the_http_codes_and_the_stream_goes_on() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.body_limit = 4096;
    let (running, c) = started(cfg).await;
    let id = session(&c, 20.0).await;
    let mut ws = connect(&c, &id, "mode=act").await;
    assert!(matches!(recv(&mut ws).await, ToRobot::Contract(_)));
    let now_ms = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() * 1e3;
    let cases: Vec<(Message, u16, &str, Option<u64>)> = vec![
        (Message::Binary(vec![0xc1, 0x00, 0x01].into()), 400, "malformed_frame", None),
        (Message::Text("{\"type\": \"obs\"".into()), 400, "malformed_frame", None),
        (Message::Text(json!({ "type": "teleport", "seq": 1 }).to_string().into()), 400, "malformed_frame", None),
        (
            Message::Text(json!({ "type": "obs", "seq": 1, "state": [0, 0] }).to_string().into()),
            400,
            "wrong_dimension",
            Some(1),
        ),
        (
            Message::Text(json!({ "type": "obs", "seq": 2, "state": [0, 0, 0, 1e39] }).to_string().into()),
            400,
            "non_finite",
            Some(2),
        ),
        (
            Message::Text(
                json!({ "type": "obs", "seq": 3, "state": [4, 4, 0, 0], "stamp_ms": now_ms() - 5000.0 })
                    .to_string()
                    .into(),
            ),
            408,
            "stale_observation",
            Some(3),
        ),
        (
            Message::Text(
                json!({ "type": "obs", "seq": 4, "state": [4, 4, 0, 0], "deadline_ms": -1 }).to_string().into(),
            ),
            400,
            "invalid_deadline",
            Some(4),
        ),
        (Message::Text(json!({ "type": "goal", "goal": [1, 2, 3] }).to_string().into()), 400, "wrong_dimension", None),
    ];
    // NaN as a robot in another language would pack it: a float64 in a plain map.
    #[derive(serde::Serialize)]
    struct Raw {
        r#type: &'static str,
        seq: u64,
        state: [f64; 4],
    }
    let nan = rmp_serde::to_vec_named(&Raw { r#type: "obs", seq: 5, state: [4.0, 4.0, 0.0, f64::NAN] }).unwrap();
    let mut cases = cases;
    cases.push((Message::Binary(nan.into()), 400, "non_finite", Some(5)));
    for (frame, status, code, seq) in cases {
        let shown = format!("{frame:?}");
        ws.send(frame).await.unwrap();
        let ToRobot::Error(e) = recv(&mut ws).await else { panic!("an error frame for {shown}") };
        assert_eq!((e.status, e.code.as_str(), e.seq), (status, code, seq), "{shown}: {}", e.message);
        assert!(!e.message.is_empty());
    }
    // Seeded random bytes: each gets an error frame, never a crash or a close.
    let mut rng = rand::rngs::StdRng::seed_from_u64(25);
    for _ in 0..200 {
        let n = rng.random_range(0..64);
        let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        ws.send(Message::Binary(bytes.into())).await.unwrap();
        assert!(matches!(recv(&mut ws).await, ToRobot::Error(e) if e.status == 400));
    }
    send(&mut ws, &obs(9, vec![4.0, 4.0, 0.0, 0.0]), Format::Msgpack).await;
    assert!(matches!(recv(&mut ws).await, ToRobot::Action(a) if a.seq == 9), "the stream still acts");
    // A frame over --body-limit closes the stream with 1009 and a reason.
    ws.send(Message::Binary(vec![0x90; 8192].into())).await.unwrap();
    let (code, reason) = closed(&mut ws).await;
    assert_eq!(code, CloseCode::Size, "{reason}");
    assert!(reason.contains("4096"), "{reason}");
    let text = metrics(&c).await;
    assert!(metric(&text, "deepcrl_errors_total{code=\"malformed_frame\"}") >= 202.0, "{text}");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn robots_that_never_read_go_silent_or_vanish_mid_frame_do_not_stall_another_session() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.stream_queue_frames = 4;
    cfg.stream_ping_ms = 100;
    let (running, c) = started(cfg).await;
    let (good, deaf, silent, vanishing) =
        (session(&c, 2.0).await, session(&c, 2.0).await, session(&c, 2.0).await, session(&c, 2.0).await);
    let mut g = connect(&c, &good, "mode=act").await;
    assert!(matches!(recv(&mut g).await, ToRobot::Contract(_)));

    // Silent: connects and never reads or writes, so it answers no ping.
    let _silent = connect(&c, &silent, "mode=act").await;
    // Vanishing: a frame header that promises 1000 bytes, 10 of them, then the socket is gone.
    let mut v = connect(&c, &vanishing, "mode=act").await;
    if let MaybeTlsStream::Plain(tcp) = v.get_mut() {
        tcp.write_all(&[0x82, 0xfe, 0x03, 0xe8, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).await.unwrap();
    }
    drop(v);
    // Deaf: floods observations and never reads an answer, from its own task.
    let deaf_ws = connect(&c, &deaf, "mode=act").await;
    let flood = tokio::spawn(async move {
        let (mut sink, _never_read) = deaf_ws.split();
        let Encoded::Binary(frame) = wire::encode(&obs(0, vec![4.0, 4.0, 0.0, 0.0]), Format::Msgpack) else { panic!() };
        let until = Instant::now() + Duration::from_secs(20);
        let mut sent = 0u64;
        while Instant::now() < until {
            let r =
                tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Binary(frame.clone().into()))).await;
            match r {
                Ok(Ok(())) => sent += 1,
                _ => break,
            }
        }
        sent
    });
    // Meanwhile the good robot keeps acting, every answer in time.
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut seq = 0;
    loop {
        seq += 1;
        let t = Instant::now();
        send(&mut g, &obs(seq, vec![4.0, 4.0, 0.0, 0.0]), Format::Msgpack).await;
        assert!(matches!(recv(&mut g).await, ToRobot::Action(a) if a.seq == seq));
        slowest = slowest.max(t.elapsed());
        let text = metrics(&c).await;
        let closes = |r: &str| metric(&text, &format!("deepcrl_stream_closes_total{{reason=\"{r}\"}}"));
        let vanished = closes("protocol_error") + closes("peer_gone");
        if closes("slow_reader") >= 1.0 && closes("silent") >= 1.0 && vanished >= 1.0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the misbehaving streams were not all closed:\n{text}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = flood.await.unwrap();
    assert!(sent > 4, "the flood sent {sent} frames");
    assert!(slowest < Duration::from_secs(1), "the good session waited {slowest:?} for one action");
    running.shutdown().await.unwrap();
}
