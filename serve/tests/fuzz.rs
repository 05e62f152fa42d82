//! Property test: random JSON (and random bytes) thrown at every route, with and without the API
//! key, never gets a 5xx, every error is the JSON error shape, and the server still answers a valid
//! request afterwards.

mod common;

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};
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
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..7).prop_map(Value::Array),
            prop::collection::btree_map("(obs|goal|model|plan_hz|target|path|[a-z]{1,4})", inner, 0..4)
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
            let (status, bytes) = call(&method, &path, c.body.clone(), c.key);
            *seen.borrow_mut().entry(status).or_default() += 1;
            prop_assert!(
                status < 500,
                "{method} {path} {:?} → {status}: {:?}",
                String::from_utf8_lossy(&c.body),
                bytes
            );
            if status >= 400 {
                let v: Value = serde_json::from_slice(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(v["error"]["code"].is_string() && v["error"]["message"].is_string(), "{v}");
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
