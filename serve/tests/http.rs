//! The HTTP API end to end on an ephemeral port with tiny models: every endpoint of DESIGN.md
//! section 8, the error contract, sessions (plan refresh, waypoints, stale-plan fallback, cap, TTL),
//! deadlines, the API key, hot reload and graceful shutdown.

mod common;

use std::time::Duration;

use common::{assert_error, fixture, Client};
use serde_json::{json, Value};

async fn started(cfg: serve::ServeConfig) -> (serve::Running, Client) {
    let running = serve::start(cfg).await.unwrap();
    let client = Client::new(running.url());
    (running, client)
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_models_metrics_and_openapi() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    for path in ["/healthz", "/v2/health/live"] {
        assert_eq!(c.get(path).await, (200, json!({ "status": "ok" })));
    }
    for path in ["/readyz", "/v2/health/ready"] {
        assert_eq!(c.get(path).await, (200, json!({ "status": "ready" })));
    }
    let (status, m) = c.get("/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(m["dims"], json!({ "state_dim": 4, "goal_dim": 2, "action_dim": 2, "goal_indices": [0, 1] }));
    assert_eq!(m["planner"]["critic_depth"], 4);
    assert_eq!(m["controller"]["critic_depth"], 0);
    assert_eq!(m["controller"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(m["graph"]["nodes"], 7);
    assert!(m["graph"]["edges"].as_u64().unwrap() > 0);

    let (status, doc) = c.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");

    c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await;
    c.get("/v1/sessions/nope").await;
    let resp = c.http.get(format!("{}/metrics", c.base)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for name in [
        "deepcrl_http_request_duration_seconds_bucket{route=\"/v1/act\"",
        "deepcrl_controller_batch_rows_count",
        "deepcrl_errors_total{code=\"not_found\"} 1",
        "deepcrl_active_sessions 0",
        "deepcrl_planner_pass_seconds",
        "deepcrl_plan_age_seconds",
    ] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_real_router_answers_every_documented_operation_and_refuses_the_rest() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let (_, doc) = c.get("/openapi.json").await;
    // Walk the real router: every documented operation is answered by a handler (not the router's
    // "no route" or "method not allowed" fallbacks), and every other method on its path gets 405.
    let mut documented = 0;
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "0f0f").replace("{name}", "controller").replace("{version}", "1");
        for method in ["get", "post", "put", "delete", "patch"] {
            let (status, body) = c.send(&method.to_uppercase(), &concrete, Some("{}"), &[]).await;
            // `/v1`'s error body, or the Open Inference Protocol's `{"error": "code: message"}`.
            let message = body["error"]["message"].as_str().or(body["error"].as_str()).unwrap_or("");
            let message = message.trim_start_matches("not_found: ");
            if ops[method].is_object() {
                documented += 1;
                assert!(status != 405 && !message.starts_with("no route"), "{method} {path}: {status} {body}");
            } else {
                assert_eq!(status, 405, "{method} {path} is not documented but answered: {body}");
            }
        }
    }
    assert_eq!(documented, serve::routes::served().len());
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_still_loading_answers_503_and_is_ready_after() {
    let f = fixture();
    let running = serve::server::bind(f.config()).await.unwrap();
    let c = Client::new(running.url());
    assert_eq!(c.get("/healthz").await, (200, json!({ "status": "ok" })), "alive while loading");
    assert_error(&c.get("/readyz").await, 503, "not_ready");
    assert_error(&c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await, 503, "not_ready");
    assert_error(&c.get("/v1/models").await, 503, "not_ready");
    running.load().await.unwrap();
    assert_eq!(c.get("/readyz").await, (200, json!({ "status": "ready" })));
    assert_eq!(c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateless_act_single_batched_and_planner() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let (status, one) = c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await;
    assert_eq!(status, 200, "{one}");
    let a = floats(&one["action"]);
    assert_eq!(a.len(), 2);
    assert!(a.iter().all(|x| x.abs() <= 1.0));
    assert_eq!(one["model"], "controller");
    for k in ["queue_us", "inference_us", "total_us"] {
        assert!(one["server_timing"][k].is_u64(), "{one}");
    }
    let (status, many) =
        c.post("/v1/act", r#"{"obs": [[4, 4, 0, 0], [8, 12, 1, 0]], "goal": [[12, 4], [4, 4]]}"#).await;
    assert_eq!(status, 200, "{many}");
    let rows = many["action"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    // Row 0 of a batch is the single request's answer.
    for (x, y) in floats(&rows[0]).iter().zip(&a) {
        assert!((x - y).abs() < 1e-5);
    }
    let (status, deep) = c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4], "model": "planner"}"#).await;
    assert_eq!((status, deep["model"].as_str()), (200, Some("planner")));
    assert_ne!(floats(&deep["action"]), a, "the planner's actor is another network");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_documented_status_and_a_json_error() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.body_limit = 4096;
    let (running, c) = started(cfg).await;
    let cases: [(&str, &str, &str, u16, &str); 14] = [
        ("POST", "/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4"#, 400, "malformed_json"),
        ("POST", "/v1/act", r#"{"obs": [NaN, 4, 0, 0], "goal": [12, 4]}"#, 400, "malformed_json"),
        ("POST", "/v1/act", r#"{"obs": [Infinity, 4, 0, 0], "goal": [12, 4]}"#, 400, "malformed_json"),
        ("POST", "/v1/act", r#"{"obs": [1e39, 4, 0, 0], "goal": [12, 4]}"#, 400, "non_finite"),
        ("POST", "/v1/act", r#"{"obs": [4, 4, 0], "goal": [12, 4]}"#, 400, "wrong_dimension"),
        ("POST", "/v1/act", r#"{"obs": [[4, 4, 0, 0]], "goal": [[12, 4], [1, 1]]}"#, 400, "wrong_dimension"),
        ("POST", "/v1/act", r#"{"obs": [4, 4, 0, 0]}"#, 400, "invalid_request"),
        ("POST", "/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4], "model": "huge"}"#, 400, "invalid_request"),
        ("POST", "/v1/act", r#"[1, 2]"#, 400, "invalid_request"),
        ("POST", "/v1/sessions", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4], "plan_hz": -1}"#, 400, "invalid_request"),
        ("POST", "/v1/sessions/0123/act", r#"{"obs": [4, 4, 0, 0]}"#, 404, "not_found"),
        ("DELETE", "/v1/sessions/0123", "", 404, "not_found"),
        ("GET", "/v1/nothing", "", 404, "not_found"),
        ("GET", "/v1/act", "", 405, "method_not_allowed"),
    ];
    for (method, path, body, status, code) in cases {
        let got = c.send(method, path, (!body.is_empty()).then_some(body), &[]).await;
        assert_error(&got, status, code);
    }
    let huge = format!(r#"{{"obs": [{}], "goal": [12, 4]}}"#, vec!["0.0"; 5000].join(","));
    assert_error(&c.post("/v1/act", &huge).await, 413, "payload_too_large");
    // Nothing above hurt the server.
    assert_eq!(c.post("/v1/act", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_plan_refresh_advance_and_delete() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let (status, s) = c.post("/v1/sessions", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#).await;
    assert_eq!(status, 201, "{s}");
    let id = s["session_id"].as_str().unwrap().to_string();
    let plan = &s["plan"];
    assert_eq!(plan["version"], 1, "{s}");
    assert!(plan["plan_id"].is_u64() && plan["created_at"].as_u64().unwrap() > 1_700_000_000_000);
    assert_eq!(plan["horizon"], 4);
    let wps = plan["waypoints"].as_array().unwrap();
    assert!(!wps.is_empty() && wps.len() <= 4);
    assert_eq!(floats(wps.last().unwrap()), vec![12.0, 4.0], "a plan ends with the commanded goal");

    let (status, a) = c.post(&format!("/v1/sessions/{id}/act"), r#"{"obs": [4, 4, 0, 0]}"#).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!(floats(&a["action"]).len(), 2);
    assert_eq!(a["fallback"], false);
    assert_eq!(a["plan_id"], plan["plan_id"]);
    assert!(a["plan_age_ms"].as_f64().unwrap() >= 0.0 && a["waypoint_index"].is_u64());
    assert_eq!(floats(&a["waypoint"]).len(), 2);
    assert!(a["server_timing"]["total_us"].is_u64());

    // At 20 Hz the plan is refreshed within a few periods.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, a2) = c.post(&format!("/v1/sessions/{id}/act"), r#"{"obs": [4, 4, 0, 0]}"#).await;
    assert!(a2["plan_version"].as_u64().unwrap() > 1, "no refresh: {a2}");
    assert!(a2["plan_age_ms"].as_f64().unwrap() < 1000.0);

    // A new goal: a new plan that ends there.
    let (status, g) = c.send("PUT", &format!("/v1/sessions/{id}/goal"), Some(r#"{"goal": [4, 12]}"#), &[]).await;
    assert_eq!(status, 200, "{g}");
    assert_eq!(floats(g["plan"]["waypoints"].as_array().unwrap().last().unwrap()), vec![4.0, 12.0]);

    let (status, view) = c.get(&format!("/v1/sessions/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(floats(&view["goal"]), vec![4.0, 12.0]);
    assert!(view["acts"].as_u64().unwrap() >= 2 && view["plan"]["plan_id"].is_u64());

    let resp = c.http.delete(format!("{}/v1/sessions/{id}", c.base)).send().await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_error(&c.get(&format!("/v1/sessions/{id}")).await, 404, "not_found");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_plan_falls_back_to_the_goal_and_says_so() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.max_plan_age_ms = 50;
    let (running, c) = started(cfg).await;
    // One plan now, the next in 100 s: it goes stale after 50 ms.
    let (status, s) = c.post("/v1/sessions", r#"{"obs": [4, 4, 0, 0], "goal": [12, 4], "plan_hz": 0.01}"#).await;
    assert_eq!(status, 201, "{s}");
    let act = format!("/v1/sessions/{}/act", s["session_id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(120)).await;
    let (status, a) = c.post(&act, r#"{"obs": [4, 4, 0, 0]}"#).await;
    assert_eq!(status, 200, "{a}");
    assert_eq!((a["fallback"].as_bool(), a["fallback_reason"].as_str()), (Some(true), Some("stale_plan")));
    assert_eq!(floats(&a["waypoint"]), vec![12.0, 4.0]);
    assert!(a["plan_age_ms"].as_f64().unwrap() >= 50.0);
    assert_eq!(a["plan_id"], s["plan"]["plan_id"]);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_past_the_controller_queue_answers_429_overloaded_and_the_rest_are_served() {
    let f = fixture();
    // A controller slow enough (depth 32, width 512: a 64-row batch takes milliseconds) that a burst
    // finds the worker busy, and a queue of one: all but one waiting request must be refused at once.
    let mut slow = models::ModelConfig::point_maze(32).with_width(512);
    slow.critic_depth = 0;
    let path = f.dir.path().join("slow/student.safetensors");
    models::checkpoint::save(&models::Model::init(&slow, 5).unwrap(), &path).unwrap();
    let mut cfg = f.config();
    cfg.controller = path;
    (cfg.queue_capacity, cfg.inline_max_rows, cfg.max_batch) = (1, 0, 64);
    let (running, c) = started(cfg).await;
    let rows: Vec<Value> = (0..64).map(|i| json!([4.0 + i as f64 * 0.01, 4.0, 0.0, 0.0])).collect();
    let goals: Vec<Value> = (0..64).map(|_| json!([12.0, 4.0])).collect();
    let body = json!({ "obs": rows, "goal": goals }).to_string();
    let mut burst = tokio::task::JoinSet::new();
    for _ in 0..48 {
        let (c, body) = (Client { base: c.base.clone(), http: c.http.clone(), key: None }, body.clone());
        burst.spawn(async move { c.post("/v1/act", &body).await });
    }
    let answers = burst.join_all().await;
    let refused = answers.iter().filter(|a| a.0 == 429).count();
    let served = answers.iter().filter(|a| a.0 == 200).count();
    assert_eq!(
        refused + served,
        answers.len(),
        "only 200 or 429: {:?}",
        answers.iter().map(|a| a.0).collect::<Vec<_>>()
    );
    assert!(refused > 0 && served > 0, "{refused} refused, {served} served");
    for a in answers.iter().filter(|a| a.0 == 429) {
        assert_error(a, 429, "overloaded");
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cap_answers_429_and_idle_sessions_expire() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.max_sessions = 2;
    cfg.session_ttl_s = 0.6;
    let (running, c) = started(cfg).await;
    let body = r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#;
    let (_, first) = c.post("/v1/sessions", body).await;
    assert_eq!(c.post("/v1/sessions", body).await.0, 201);
    assert_error(&c.post("/v1/sessions", body).await, 429, "too_many_sessions");
    tokio::time::sleep(Duration::from_millis(900)).await;
    let act = format!("/v1/sessions/{}/act", first["session_id"].as_str().unwrap());
    assert_error(&c.post(&act, r#"{"obs": [4, 4, 0, 0]}"#).await, 404, "not_found");
    assert_eq!(c.post("/v1/sessions", body).await.0, 201, "expired sessions free their slots");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_answer_504_at_once_or_are_met() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let body = Some(r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#);
    let t = std::time::Instant::now();
    let got = c.send("POST", "/v1/act", body, &[("x-deadline-ms", "0.001")]).await;
    assert_error(&got, 504, "deadline_exceeded");
    assert!(t.elapsed() < Duration::from_millis(500));
    assert_eq!(c.send("POST", "/v1/act", body, &[("x-deadline-ms", "5000")]).await.0, 200);
    assert_error(&c.send("POST", "/v1/act", body, &[("x-deadline-ms", "soon")]).await, 400, "invalid_deadline");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_v1_but_not_health() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.api_key = Some("s3cret".into());
    let (running, mut c) = started(cfg).await;
    assert_eq!(c.get("/healthz").await.0, 200);
    assert_eq!(c.get("/readyz").await.0, 200);
    assert_error(&c.get("/v1/models").await, 401, "unauthorized");
    c.key = Some("wrong".into());
    assert_error(&c.get("/v1/models").await, 401, "unauthorized");
    c.key = Some("s3cret".into());
    assert_eq!(c.get("/v1/models").await.0, 200);
    c.key = None;
    assert_eq!(c.send("GET", "/v1/models", None, &[("x-api-key", "s3cret")]).await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_swaps_atomically_and_keeps_the_old_model_on_bad_files() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.api_key = Some("k".into());
    let (running, mut c) = started(cfg).await;
    c.key = Some("k".into());
    let act = r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#;
    let before = c.post("/v1/act", act).await.1["action"].clone();
    let sha = |m: &Value| m["controller"]["sha256"].as_str().unwrap().to_string();
    let sha0 = sha(&c.get("/v1/models").await.1);

    // A garbage file and a model of the wrong sizes are refused; the old model keeps serving.
    let bad = f.dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a checkpoint").unwrap();
    let mut wrong = common::teacher_config();
    wrong.action_dim = 3;
    let wrong_path = f.dir.path().join("wrong.safetensors");
    models::checkpoint::save(&models::Model::init(&wrong, 1).unwrap(), &wrong_path).unwrap();
    for path in [&bad, &wrong_path, &f.dir.path().join("missing")] {
        let body = json!({ "target": "controller", "path": path }).to_string();
        assert_error(&c.post("/v1/admin/reload", &body).await, 400, "invalid_model");
        assert_eq!(c.post("/v1/act", act).await.1["action"], before);
    }
    assert_eq!(sha(&c.get("/v1/models").await.1), sha0);

    // A new student, swapped while requests keep coming: none fails.
    let new = f.dir.path().join("new");
    models::checkpoint::save(&common::student_model(99, &f.run), &new.join("student.safetensors")).unwrap();
    let hammer = {
        let c = Client { base: c.base.clone(), http: c.http.clone(), key: c.key.clone() };
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for _ in 0..200 {
                statuses.push(c.post("/v1/act", act).await.0);
            }
            statuses
        })
    };
    let body = json!({ "target": "controller", "path": new }).to_string();
    let (status, r) = c.post("/v1/admin/reload", &body).await;
    assert_eq!(status, 200, "{r}");
    assert!(hammer.await.unwrap().iter().all(|&s| s == 200));
    assert_ne!(c.post("/v1/act", act).await.1["action"], before);
    assert_ne!(sha(&c.get("/v1/models").await.1), sha0);

    // The planner reloads from its own directory (the same files: the cached graph is used).
    let (status, r) = c.post("/v1/admin/reload", r#"{"target": "planner"}"#).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(c.get("/v1/models").await.1["graph"]["cached"], true);
    assert_error(&c.post("/v1/admin/reload", r#"{"target": "both"}"#).await, 400, "invalid_request");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_an_api_key_and_the_graph_cache_follows_the_checkpoint() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    assert_error(&c.post("/v1/admin/reload", r#"{"target": "controller"}"#).await, 401, "unauthorized");
    assert_eq!(c.get("/v1/models").await.1["graph"]["cached"], false);
    running.shutdown().await.unwrap();
    assert!(f.run.join(serve::planner::graph::CACHE_NAME).is_file());

    let (running, c) = started(f.config()).await;
    assert_eq!(c.get("/v1/models").await.1["graph"]["cached"], true);
    running.shutdown().await.unwrap();

    // A changed checkpoint invalidates the cache.
    let other = models::Model::init(&common::teacher_config(), 8).unwrap();
    models::checkpoint::save(&other, &f.run.join("teacher.safetensors")).unwrap();
    let (running, c) = started(f.config()).await;
    assert_eq!(c.get("/v1/models").await.1["graph"]["cached"], false);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drains_in_flight_requests_and_stops_listening() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let f = fixture();
    let (running, c) = started(f.config()).await;
    // A request whose body is still on its way when the shutdown begins.
    let body = r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#;
    let mut tcp = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    let head = format!("POST /v1/act HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    tcp.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shutdown = tokio::spawn(running.shutdown());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!shutdown.is_finished(), "the shutdown did not wait for the request in flight");
    tcp.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tcp.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"action\""), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), shutdown).await.unwrap().unwrap().unwrap();
    assert!(reqwest::Client::new().get(format!("{}/healthz", c.base)).send().await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_model_directory_fails_to_start_with_a_clear_message() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.planner = f.student.clone();
    let err = serve::start(cfg).await.err().unwrap().to_string();
    assert!(err.contains("needs a critic"), "{err}");
    let mut cfg = f.config();
    cfg.controller = f.dir.path().join("nothing");
    let err = format!("{:#}", serve::start(cfg).await.err().unwrap());
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn the_binary_fails_to_start_on_a_missing_model_with_1_and_a_debug_build_says_first_that_it_is_one() {
    let f = fixture();
    let missing = f.dir.path().join("nothing");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_serve"))
        .args(["--planner", f.run.to_str().unwrap(), "--controller", missing.to_str().unwrap()])
        .args(["--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert_eq!(buildinfo::warned(&stderr), cfg!(debug_assertions), "a debug build says so, a release build does not");
}
