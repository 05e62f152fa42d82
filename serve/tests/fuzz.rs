//! Property tests: random JSON (and random bytes) thrown at every route, with and without the API
//! key, and random Open Inference Protocol v2 requests (mutated tensors, binary data and header
//! lengths) never get a 5xx; every error has its API's shape (`/v1`'s `{"error": {"code", "message"}}`,
//! v2's `{"error": "..."}`), and the server still answers a valid request afterwards. Random messages
//! on the session stream, in both modes and both encodings, get answers or 4xx error frames, and
//! never close it.

mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use futures_util::{SinkExt, StreamExt};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;
use tower::ServiceExt;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        (-20.0f64..20.0).prop_map(|x| json!(x)),
        any::<i64>().prop_map(|x| json!(x)),
        "[a-z/._]{0,10}".prop_map(Value::String),
        prop_oneof![Just("controller"), Just("planner")].prop_map(|s| json!(s)),
        prop_oneof![Just("obs"), Just("goal"), Just("action"), Just("FP32"), Just("FP64")].prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
            prop::collection::btree_map(
                "(obs|goal|model|plan_hz|target|path|inputs|outputs|name|shape|datatype|data|parameters|id|[a-z]{1,4})",
                inner,
                0..4,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
struct Case {
    route: usize,
    method: Option<&'static str>,
    real_id: bool,
    body: Vec<u8>,
    key: bool,
}

fn case() -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        4 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => prop::collection::vec(any::<u8>(), 0..48),
    ];
    let method = prop_oneof![
        4 => Just(None),
        1 => prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("DELETE"), Just("PATCH")].prop_map(Some),
    ];
    (0..serve::routes::served().len(), method, any::<bool>(), body, prop::bool::weighted(0.9))
        .prop_map(|(route, method, real_id, body, key)| Case { route, method, real_id, body, key })
}

/// `/v1`'s error body, or under `/v2` the Open Inference Protocol's.
fn assert_error_shape(path: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    if path.starts_with("/v2") {
        prop_assert!(v["error"].as_str().is_some_and(|m| m.contains(": ")), "{path}: {v}");
    } else {
        prop_assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{path}: {v}");
    }
    Ok(())
}

#[test]
fn random_json_at_every_route_never_gets_a_5xx() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = common::fixture();
    let mut cfg = f.config();
    cfg.api_key = Some("key".into());
    cfg.max_sessions = 8;
    let running = rt.block_on(serve::start(cfg)).unwrap();
    let router = serve::routes::router(running.app.clone());
    let call = |method: &str, path: &str, body: Vec<u8>, key: bool| {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if key {
            req = req.header("authorization", "Bearer key");
        }
        let req = req.body(Body::from(body)).unwrap();
        let router = router.clone();
        rt.block_on(async move {
            let resp = router.oneshot(req).await.unwrap();
            let status = resp.status().as_u16();
            let bytes = resp.into_body().collect().await.unwrap().to_bytes();
            (status, bytes)
        })
    };
    let create = br#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#.to_vec();
    let (status, bytes) = call("POST", "/v1/sessions", create, true);
    assert_eq!(status, 201);
    let id = serde_json::from_slice::<Value>(&bytes).unwrap()["session_id"].as_str().unwrap().to_string();

    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner
        .run(&case(), |c| {
            let (method, template) = serve::routes::served()[c.route];
            let method = c.method.unwrap_or(method).to_uppercase();
            let path = template.replace("{id}", if c.real_id { &id } else { "0f0f" });
            let path =
                path.replace("{name}", if c.real_id { "controller" } else { "planer" }).replace("{version}", "1");
            let (status, bytes) = call(&method, &path, c.body.clone(), c.key);
            *seen.borrow_mut().entry(status).or_default() += 1;
            prop_assert!(
                status < 500,
                "{method} {path} {:?} → {status}: {:?}",
                String::from_utf8_lossy(&c.body),
                bytes
            );
            if status >= 400 {
                assert_error_shape(&path, &bytes)?;
            }
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    eprintln!("statuses: {seen:?}");
    for status in [200, 400, 401, 404, 405] {
        assert!(seen.contains_key(&status), "no case answered {status}: {seen:?}");
    }

    let (status, _) = call("POST", "/v1/act", br#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#.to_vec(), true);
    assert_eq!(status, 200);
    rt.block_on(running.shutdown()).unwrap();
}

/// One v2 input tensor of `n` rows meant as `name` (`dim` wide): each of its name, datatype, shape and
/// data length right most of the time and wrong otherwise, its data JSON numbers or binary bytes.
fn v2_input(
    name: &'static str,
    dim: usize,
    n: usize,
) -> impl Strategy<Value = (&'static str, &'static str, Vec<usize>, Vec<f32>, bool)> {
    let name = prop_oneof![8 => Just(name), 1 => Just("obs"), 1 => Just("action")];
    let datatype = prop_oneof![8 => Just("FP32"), 1 => Just("FP16"), 1 => Just("INT64")];
    let shape =
        prop_oneof![8 => Just(vec![n, dim]), 1 => Just(vec![n, 6 - dim]), 1 => prop::collection::vec(0usize..6, 0..4)];
    (name, datatype, shape, prop::bool::weighted(0.4)).prop_flat_map(|(name, datatype, shape, binary)| {
        let full = shape.iter().product::<usize>();
        let number = prop_oneof![16 => -20.0f32..20.0, 1 => any::<f32>()];
        let values = prop_oneof![8 => Just(full), 1 => 0usize..14]
            .prop_flat_map(move |len| prop::collection::vec(number.clone(), len));
        (Just(name), Just(datatype), Just(shape), values, Just(binary))
    })
}

/// A v2 request near a valid one: obs and goal tensors from [`v2_input`] (sometimes one more, one
/// fewer, or in the other order), random request parameters and outputs, and an
/// `inference-header-content-length` that is right most of the time, off by a few bytes otherwise.
fn v2_case() -> impl Strategy<Value = (Vec<u8>, Option<String>)> {
    let inputs = (1usize..4).prop_flat_map(|n| {
        let pair = (v2_input("obs", 4, n), v2_input("goal", 2, n));
        (pair, prop_oneof![6 => Just(0usize), 1 => Just(1), 1 => Just(2), 1 => Just(3)], v2_input("goal", 2, n))
    });
    let params = prop_oneof![4 => Just(json!(null)), 2 => Just(json!({ "binary_data_output": true, "priority": 2 })), 1 => Just(json!({ "timeout": 10_000_000 })), 1 => json_value()];
    let outputs = prop_oneof![4 => Just(json!(null)), 2 => Just(json!([{ "name": "action", "parameters": { "binary_data": true } }])), 1 => json_value()];
    let header = prop_oneof![8 => Just(0i64), 1 => -8i64..8];
    (inputs, params, outputs, header).prop_map(|(((obs, goal), arrangement, extra), params, outputs, header)| {
        let list = match arrangement {
            0 => vec![obs, goal],
            1 => vec![goal, obs],
            2 => vec![obs],
            _ => vec![obs, goal, extra],
        };
        let mut binary = Vec::new();
        let tensors: Vec<Value> = list
            .into_iter()
            .map(|(name, datatype, shape, values, as_binary)| {
                let mut t = json!({ "name": name, "datatype": datatype, "shape": shape });
                if as_binary {
                    t["parameters"] = json!({ "binary_data_size": 4 * values.len() });
                    binary.extend(values.iter().flat_map(|x| x.to_le_bytes()));
                } else {
                    // JSON cannot carry NaN or infinity: those become a number too large for FP32.
                    t["data"] = json!(values
                        .iter()
                        .map(|x| if x.is_finite() { json!(x) } else { json!(1e39) })
                        .collect::<Vec<_>>());
                }
                t
            })
            .collect();
        let mut body = json!({ "inputs": tensors });
        if !params.is_null() {
            body["parameters"] = params;
        }
        if !outputs.is_null() {
            body["outputs"] = outputs;
        }
        let mut bytes = body.to_string().into_bytes();
        let length = (!binary.is_empty()).then(|| (bytes.len() as i64 + header).to_string());
        bytes.extend(binary);
        (bytes, length)
    })
}

#[test]
fn random_v2_requests_never_get_a_5xx_and_errors_are_v2_bodies() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = common::fixture();
    let running = rt.block_on(serve::start(f.config())).unwrap();
    let router = serve::routes::router(running.app.clone());
    let call = |body: Vec<u8>, length: Option<String>| {
        let mut req = Request::builder().method("POST").uri("/v2/models/controller/infer");
        if let Some(n) = length {
            req = req.header("inference-header-content-length", n);
        }
        let router = router.clone();
        rt.block_on(async move {
            let resp = router.oneshot(req.body(Body::from(body)).unwrap()).await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.into_body().collect().await.unwrap().to_bytes())
        })
    };
    let seen = std::cell::RefCell::new(std::collections::BTreeMap::<u16, usize>::new());
    let mut runner = TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() });
    runner
        .run(&v2_case(), |(body, length)| {
            let (status, bytes) = call(body.clone(), length.clone());
            *seen.borrow_mut().entry(status).or_default() += 1;
            prop_assert!(status < 500, "{length:?} {:?} → {status}: {bytes:?}", String::from_utf8_lossy(&body));
            if status >= 400 {
                assert_error_shape("/v2", &bytes)?;
            }
            Ok(())
        })
        .unwrap();
    let seen = seen.into_inner();
    eprintln!("v2 statuses: {seen:?}");
    for status in [200, 400] {
        assert!(seen.contains_key(&status), "no case answered {status}: {seen:?}");
    }
    let good = json!({ "inputs": [
        { "name": "obs", "shape": [1, 4], "datatype": "FP32", "data": [4, 4, 0, 0] },
        { "name": "goal", "shape": [1, 2], "datatype": "FP32", "data": [12, 4] } ] });
    assert_eq!(call(good.to_string().into_bytes(), None).0, 200);
    rt.block_on(running.shutdown()).unwrap();
}

/// A stream message as a robot might get it wrong: a `type` (right, or not), and each field absent,
/// well-formed or random (`seq` any JSON, `state` and `goal` arrays of any length or anything).
fn stream_message() -> impl Strategy<Value = Value> {
    let numbers = |len: std::ops::Range<usize>| {
        prop::collection::vec(prop_oneof![19 => (-20.0f64..20.0).prop_map(|x| json!(x)), 1 => json_value()], len)
            .prop_map(Value::Array)
    };
    let field =
        |p: f64, good: BoxedStrategy<Value>| prop::option::weighted(p, prop_oneof![9 => good, 1 => json_value()]);
    let kind = prop_oneof![4 => Just(json!("obs")), 2 => Just(json!("goal")), 1 => json_value()];
    (
        kind,
        field(0.95, (0u64..1000).prop_map(|x| json!(x)).boxed()),
        field(0.95, prop_oneof![3 => numbers(4..5), 1 => numbers(0..7)].boxed()),
        field(0.95, prop_oneof![3 => numbers(2..3), 1 => numbers(0..4)].boxed()),
        field(0.3, prop_oneof![(-1.0f64..1e3).prop_map(|x| json!(x)), Just(json!(1e-9))].boxed()),
        // Far future (accepted: never older than the limit), the epoch's start, or a year ago (stale).
        field(0.3, prop_oneof![Just(json!(1e13)), Just(json!(0.0)), Just(json!(1.7e12))].boxed()),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(kind, seq, state, goal, deadline, stamp, foreign)| {
            // Mostly the fields of the message's own type; sometimes another type's too (refused).
            let own: &[&str] = match kind.as_str() {
                Some("obs") if !foreign => &["seq", "state", "deadline_ms", "stamp_ms"],
                Some("goal") if !foreign => &["goal", "state"],
                _ => &["seq", "state", "goal", "deadline_ms", "stamp_ms"],
            };
            let mut m = serde_json::Map::new();
            m.insert("type".into(), kind);
            for (k, v) in
                [("seq", seq), ("state", state), ("goal", goal), ("deadline_ms", deadline), ("stamp_ms", stamp)]
            {
                if let Some(v) = v.filter(|_| own.contains(&k)) {
                    m.insert(k.into(), v);
                }
            }
            Value::Object(m)
        })
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Sends `frame` and then the sentinel; everything the server sent before the sentinel's error frame.
async fn exchange(ws: &mut Ws, frame: Message, sentinel: &str, seq: u64) -> Result<Vec<Value>, String> {
    ws.send(frame).await.map_err(|e| e.to_string())?;
    ws.send(Message::Text(sentinel.into())).await.map_err(|e| e.to_string())?;
    let mut replies = Vec::new();
    loop {
        let reply: Value = match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Binary(b)))) => rmp_serde::from_slice(&b).map_err(|e| e.to_string())?,
            Ok(Some(Ok(Message::Text(t)))) => serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?,
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            other => return Err(format!("the stream ended: {other:?}")),
        };
        if reply["seq"] == json!(seq) {
            return Ok(replies);
        }
        replies.push(reply);
    }
}

#[test]
fn random_stream_messages_get_answers_or_4xx_error_frames_and_never_close_the_stream() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let f = common::fixture();
    let running = rt.block_on(serve::start(f.config())).unwrap();
    let client = common::Client::new(running.url());
    let ws_base = running.url().replacen("http://", "ws://", 1);
    // After each case a sentinel with a known refusal: everything the server sends before its error
    // frame answers the case (or is a pushed plan).
    const SENTINEL: u64 = 987_654_321;
    let sentinel = json!({ "type": "obs", "seq": SENTINEL, "state": [0] }).to_string();
    for mode in ["act", "plans"] {
        let id = rt.block_on(async {
            let (status, s) = client.post("/v1/sessions", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await;
            assert_eq!(status, 201, "{s}");
            s["session_id"].as_str().unwrap().to_string()
        });
        let url = format!("{ws_base}/v1/sessions/{id}/stream?mode={mode}");
        let ws = std::cell::Cell::new(Some(rt.block_on(tokio_tungstenite::connect_async(url)).unwrap().0));
        let seen = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
        let mut runner = TestRunner::new(Config { cases: 160, failure_persistence: None, ..Config::default() });
        runner
            .run(&(stream_message(), any::<bool>()), |(msg, binary)| {
                let frame = if binary {
                    Message::Binary(rmp_serde::to_vec_named(&msg).unwrap().into())
                } else {
                    Message::Text(msg.to_string().into())
                };
                let mut socket = ws.take().expect("the stream is open");
                let replies = rt.block_on(exchange(&mut socket, frame, &sentinel, SENTINEL));
                ws.replace(Some(socket));
                let replies = replies.map_err(|e| TestCaseError::fail(format!("{msg} → {e}")))?;
                for r in &replies {
                    let kind = r["type"].as_str().unwrap_or("?");
                    let label = if kind == "error" {
                        format!("error {}", r["code"].as_str().unwrap_or("?"))
                    } else {
                        kind.into()
                    };
                    *seen.borrow_mut().entry(label).or_default() += 1;
                    prop_assert!(["contract", "action", "plan", "goal_set", "error"].contains(&kind), "{msg} → {r}");
                    if kind == "error" {
                        let status = r["status"].as_u64().unwrap_or(0);
                        // A deadline of a few µs runs out: the HTTP API's 504, for the same reason.
                        let late = status == 504 && r["code"] == "deadline_exceeded";
                        prop_assert!((400..500).contains(&status) || late, "{msg} → {r}");
                        prop_assert!(r["message"].as_str().is_some_and(|m| !m.is_empty()), "{msg} → {r}");
                    }
                }
                let answers = replies.iter().filter(|r| r["type"] != "plan" && r["type"] != "contract").count();
                prop_assert!(answers <= 1, "{msg} → {replies:?}");
                Ok(())
            })
            .unwrap();
        let seen = seen.into_inner();
        eprintln!("{mode}: {seen:?}");
        let wanted: &[&str] = if mode == "act" {
            &["action", "goal_set", "error malformed_frame", "error wrong_dimension"]
        } else {
            &["goal_set", "error malformed_frame"]
        };
        for kind in wanted {
            assert!(seen.contains_key(*kind), "{mode}: no case answered {kind}: {seen:?}");
        }
    }
    rt.block_on(running.shutdown()).unwrap();
}
