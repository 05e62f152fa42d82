//! The Open Inference Protocol v2 over real HTTP with hand-written requests: server and model
//! metadata, readiness, inference in the JSON tensor format and in Triton's binary tensor data
//! extension (equal to `/v1/act` bit for bit), v2 error bodies for every kind of bad request, the API
//! key and the deadlines. `scripts/oip_clients.sh` runs `tritonclient` itself against a live server.

mod common;

use std::time::Duration;

use common::{fixture, Client};
use serde_json::{json, Value};

async fn started(cfg: serve::ServeConfig) -> (serve::Running, Client) {
    let running = serve::start(cfg).await.unwrap();
    let client = Client::new(running.url());
    (running, client)
}

/// A v2 error: this status and `{"error": "CODE: ..."}`.
fn assert_v2_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    let message = got.1["error"].as_str().unwrap_or_else(|| panic!("not a v2 error body: {:?}", got.1));
    assert!(message.starts_with(&format!("{code}: ")), "{message}");
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

const OBS: [[f32; 4]; 2] = [[4.0, 4.0, 0.0, 0.0], [8.0, 12.0, 1.0, 0.0]];
const GOAL: [[f32; 2]; 2] = [[12.0, 4.0], [4.0, 4.0]];

fn v2_body(id: &str) -> String {
    json!({ "id": id, "parameters": { "priority": 1, "unknown": "ignored" }, "inputs": [
        { "name": "obs", "shape": [2, 4], "datatype": "FP32", "data": OBS.concat() },
        { "name": "goal", "shape": [2, 2], "datatype": "FP32", "data": GOAL } ] })
    .to_string()
}

/// The same request in the binary extension, as `tritonclient` lays it out.
fn binary_body() -> (Vec<u8>, usize) {
    let head = json!({ "parameters": { "binary_data_output": true }, "inputs": [
        { "name": "obs", "shape": [2, 4], "datatype": "FP32", "parameters": { "binary_data_size": 32 } },
        { "name": "goal", "shape": [2, 2], "datatype": "FP32", "parameters": { "binary_data_size": 16 } } ] });
    let mut body = head.to_string().into_bytes();
    let n = body.len();
    body.extend(OBS.concat().iter().chain(&GOAL.concat()).flat_map(|x| x.to_le_bytes()));
    (body, n)
}

async fn v1_actions(c: &Client, model: &str) -> Vec<f32> {
    let body = json!({ "obs": OBS, "goal": GOAL, "model": model }).to_string();
    let (status, v) = c.post("/v1/act", &body).await;
    assert_eq!(status, 200, "{v}");
    v["action"].as_array().unwrap().iter().flat_map(floats).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_and_readiness_describe_both_models() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    let (status, server) = c.get("/v2").await;
    assert_eq!(status, 200);
    assert_eq!(server["name"], "deepcrl");
    assert_eq!(server["extensions"], json!(["binary_tensor_data"]));
    let (_, v1) = c.get("/v1/models").await;
    for name in ["controller", "planner"] {
        for path in [format!("/v2/models/{name}"), format!("/v2/models/{name}/versions/1")] {
            let (status, m) = c.get(&path).await;
            assert_eq!(status, 200, "{m}");
            assert_eq!((m["name"].as_str(), &m["versions"]), (Some(name), &json!(["1"])));
            assert_eq!(
                m["inputs"],
                json!([
                { "name": "obs", "datatype": "FP32", "shape": [-1, 4] },
                { "name": "goal", "datatype": "FP32", "shape": [-1, 2] } ])
            );
            assert_eq!(m["outputs"], json!([{ "name": "action", "datatype": "FP32", "shape": [-1, 2] }]));
            assert_eq!(m["parameters"]["sha256"], v1[name]["sha256"], "the same file as /v1/models names");
            let (status, r) = c.get(&format!("{path}/ready")).await;
            assert_eq!((status, r), (200, json!({ "name": name, "ready": true })));
        }
    }
    assert_v2_error(&c.get("/v2/models/teacher").await, 404, "not_found");
    assert_v2_error(&c.get("/v2/models/teacher/ready").await, 404, "not_found");
    assert_v2_error(&c.get("/v2/models/controller/versions/2").await, 404, "not_found");
    assert_v2_error(&c.get("/v2/models/controller/versions/2/ready").await, 404, "not_found");
    assert_v2_error(&c.get("/v2/nothing").await, 404, "not_found");
    assert_v2_error(&c.get("/v2/models/%FF").await, 400, "invalid_request");
    assert_v2_error(&c.get("/v2/models/controller/infer").await, 405, "method_not_allowed");
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_still_loading_is_not_ready_in_v2_terms() {
    let f = fixture();
    let running = serve::server::bind(f.config()).await.unwrap();
    let c = Client::new(running.url());
    assert_eq!(c.get("/v2").await.0, 200, "metadata answers while loading");
    assert_v2_error(&c.get("/v2/health/ready").await, 503, "not_ready");
    assert_v2_error(&c.get("/v2/models/controller/ready").await, 503, "not_ready");
    assert_v2_error(&c.post("/v2/models/controller/infer", &v2_body("x")).await, 503, "not_ready");
    running.load().await.unwrap();
    assert_eq!(c.get("/v2/models/controller/ready").await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_binary_inference_equal_v1_act_bit_for_bit() {
    let f = fixture();
    let (running, c) = started(f.config()).await;
    for name in ["controller", "planner"] {
        let want = v1_actions(&c, name).await;
        for path in [format!("/v2/models/{name}/infer"), format!("/v2/models/{name}/versions/1/infer")] {
            let (status, v) = c.post(&path, &v2_body("req-7")).await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(
                (v["id"].as_str(), v["model_name"].as_str(), v["model_version"].as_str()),
                (Some("req-7"), Some(name), Some("1"))
            );
            let out = &v["outputs"][0];
            assert_eq!(
                (out["name"].as_str(), out["datatype"].as_str(), &out["shape"]),
                (Some("action"), Some("FP32"), &json!([2, 2]))
            );
            assert_eq!(floats(&out["data"]), want, "{name}: JSON v2 = /v1/act");
            assert!(v["parameters"]["inference_us"].is_u64());

            let (body, n) = binary_body();
            let resp = c
                .http
                .post(format!("{}{path}", c.base))
                .header("inference-header-content-length", n)
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], "application/octet-stream");
            let head_len: usize = resp.headers()["inference-header-content-length"].to_str().unwrap().parse().unwrap();
            let bytes = resp.bytes().await.unwrap();
            let head: Value = serde_json::from_slice(&bytes[..head_len]).unwrap();
            assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 16);
            assert!(head.get("id").is_none(), "no id asked, none echoed");
            let got: Vec<f32> =
                bytes[head_len..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
            assert_eq!(got, want, "{name}: binary v2 = /v1/act");
        }
    }
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_v2_requests_get_a_4xx_v2_error_never_a_5xx() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.body_limit = 4096;
    let (running, c) = started(cfg).await;
    let infer = "/v2/models/controller/infer";
    let with = |i: usize, key: &str, v: Value| {
        let mut body: Value = serde_json::from_str(&v2_body("x")).unwrap();
        body["inputs"][i][key] = v;
        body.to_string()
    };
    let cases: Vec<(String, &str)> = vec![
        (with(0, "datatype", json!("INT64")), "invalid_request"),
        (with(0, "shape", json!([2, 3])), "wrong_dimension"),
        (with(0, "shape", json!([0, 4])), "invalid_request"),
        (with(1, "shape", json!([1, 2])), "wrong_dimension"),
        (with(0, "name", json!("state")), "invalid_request"),
        (with(0, "data", json!([1, 2, 3])), "wrong_dimension"),
        (with(0, "data", json!([1e39, 0, 0, 0, 0, 0, 0, 0])), "non_finite"),
        (
            r#"{"inputs": [{"name": "obs", "shape": [1, 4], "datatype": "FP32", "data": [NaN, 0, 0, 0]}]}"#.into(),
            "malformed_json",
        ),
        (r#"{"obs": [4, 4, 0, 0], "goal": [12, 4]}"#.into(), "invalid_request"),
        ("[]".into(), "invalid_request"),
        ("{\"inputs\": [".into(), "malformed_json"),
    ];
    for (body, code) in &cases {
        assert_v2_error(&c.post(infer, body).await, 400, code);
    }
    // NaN rides in binary data where JSON cannot carry it.
    let (mut body, n) = binary_body();
    body[n..n + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let send = |body: Vec<u8>, header: String| {
        let req = c.http.post(format!("{}{infer}", c.base)).header("inference-header-content-length", header);
        async move {
            let resp = req.body(body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, serde_json::from_slice::<Value>(&resp.bytes().await.unwrap()).unwrap())
        }
    };
    assert_v2_error(&send(body.clone(), n.to_string()).await, 400, "non_finite");
    assert_v2_error(&send(body.clone(), "lots".into()).await, 400, "invalid_request");
    let (clean, n) = binary_body();
    assert_v2_error(&send(clean[..clean.len() - 3].to_vec(), n.to_string()).await, 400, "invalid_request");
    let huge = with(0, "data", json!(vec![0.0; 2000]));
    assert_v2_error(&c.post(infer, &huge).await, 413, "payload_too_large");
    assert_v2_error(&c.post("/v2/models/teacher/infer", &v2_body("x")).await, 404, "not_found");
    assert_v2_error(&c.post("/v2/models/controller/versions/9/infer", &v2_body("x")).await, 404, "not_found");
    // Nothing above hurt the server.
    assert_eq!(c.post(infer, &v2_body("x")).await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_guards_the_models_and_deadlines_hold() {
    let f = fixture();
    let mut cfg = f.config();
    cfg.api_key = Some("s3cret".into());
    let (running, mut c) = started(cfg).await;
    for open in ["/v2", "/v2/health/live", "/v2/health/ready"] {
        assert_eq!(c.get(open).await.0, 200, "{open} needs no key");
    }
    assert_v2_error(&c.get("/v2/models/controller").await, 401, "unauthorized");
    assert_v2_error(&c.post("/v2/models/controller/infer", &v2_body("x")).await, 401, "unauthorized");
    let resp = c.http.get(format!("{}/v2/models/controller/ready", c.base)).send().await.unwrap();
    assert_eq!((resp.status().as_u16(), resp.headers()["www-authenticate"].to_str().unwrap()), (401, "Bearer"));
    c.key = Some("s3cret".into());
    let infer = "/v2/models/controller/infer";
    assert_eq!(c.post(infer, &v2_body("x")).await.0, 200);

    let t = std::time::Instant::now();
    assert_v2_error(
        &c.send("POST", infer, Some(&v2_body("x")), &[("x-deadline-ms", "0.001")]).await,
        504,
        "deadline_exceeded",
    );
    let mut by_timeout: Value = serde_json::from_str(&v2_body("x")).unwrap();
    by_timeout["parameters"]["timeout"] = json!(1);
    assert_v2_error(&c.post(infer, &by_timeout.to_string()).await, 504, "deadline_exceeded");
    assert!(t.elapsed() < Duration::from_millis(500), "refused at once");
    by_timeout["parameters"]["timeout"] = json!(5_000_000);
    assert_eq!(c.post(infer, &by_timeout.to_string()).await.0, 200);
    assert_v2_error(
        &c.send("POST", infer, Some(&v2_body("x")), &[("x-deadline-ms", "soon")]).await,
        400,
        "invalid_deadline",
    );
    running.shutdown().await.unwrap();
}
