//! The Open Inference Protocol v2 (KServe's and Triton's HTTP/REST protocol) beside `/v1`, so the
//! clients users already run (`tritonclient[http]`, KServe's, Seldon's) work unchanged:
//!
//! - `GET /v2`: server metadata (name, version, extensions: `binary_tensor_data`);
//! - `GET /v2/health/live`, `/v2/health/ready` (in [`crate::routes`], shared with `/healthz`, `/readyz`);
//! - `GET /v2/models/{name}` (metadata: inputs `obs` and `goal`, output `action`, FP32, `[-1, dim]`)
//!   and `GET /v2/models/{name}/ready`, for `controller` (the student) and `planner` (the deep
//!   teacher's actor);
//! - `POST /v2/models/{name}/infer`: the v2 tensor body ([`tensor`]), answered through the same
//!   micro-batched engine as `/v1/act`, with the same API key and deadline rules (`x-deadline-ms`,
//!   and Triton's `parameters.timeout` in microseconds: the earlier of the two).
//!
//! Each model has one version, [`VERSION`]; the `/versions/{version}` forms of the model routes take
//! it and refuse others with 404. A hot reload changes the model behind the name, and the metadata's
//! `parameters.sha256` says which file it is. Errors under `/v2` are v2 bodies, `{"error": "code:
//! message"}` ([`v2_errors`]), with the statuses of `/v1`.

pub mod tensor;

use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use serde_json::{json, Value};

use crate::controller::Batcher;
use crate::engine::{Engine, ModelsInfo};
use crate::error::ApiError;
use crate::loaded::ModelInfo;
use crate::routes::{self, ApiResult, AppState, Arrived, Body, Route};
use tensor::{Dims, DATATYPE, HEADER_LENGTH};

/// The one version each model has.
pub const VERSION: &str = "1";
/// The models, as v2 names them.
pub const MODELS: [&str; 2] = ["controller", "planner"];

/// The v2 routes, for [`crate::routes`]'s table.
pub(crate) fn routes() -> Vec<Route> {
    vec![
        ("get", "/v2", get(server_metadata)),
        ("get", "/v2/models/{name}", get(model_metadata)),
        ("get", "/v2/models/{name}/ready", get(model_ready)),
        ("post", "/v2/models/{name}/infer", post(infer)),
        ("get", "/v2/models/{name}/versions/{version}", get(versioned_metadata)),
        ("get", "/v2/models/{name}/versions/{version}/ready", get(versioned_ready)),
        ("post", "/v2/models/{name}/versions/{version}/infer", post(versioned_infer)),
    ]
}

fn is_v2(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// Rewrites every error answered under `/v2` into the v2 body, whoever raised it: ours, or axum's
/// own plain-text rejections (a path segment that is not UTF-8, say).
pub(crate) async fn v2_errors(req: Request, next: Next) -> Response {
    let v2 = is_v2(req.uri().path());
    let resp = next.run(req).await;
    if !v2 || resp.status().as_u16() < 400 {
        return resp;
    }
    if let Some(e) = resp.extensions().get::<ApiError>() {
        return e.clone().v2_response();
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 4096).await.unwrap_or_default();
    let code = match status.as_u16() {
        400 => "invalid_request",
        404 => "not_found",
        405 => "method_not_allowed",
        413 => "payload_too_large",
        _ => "error",
    };
    ApiError::new(status, code, String::from_utf8_lossy(&text).trim()).v2_response()
}

async fn server_metadata() -> Json<Value> {
    Json(json!({ "name": "deepcrl", "version": env!("CARGO_PKG_VERSION"), "extensions": ["binary_tensor_data"] }))
}

/// What a model name stands for: the batcher that runs it, and where `/v1/models` describes it.
type Pick<'a> = (&'a Batcher, fn(&ModelsInfo) -> &ModelInfo);

fn pick<'a>(engine: &'a Engine, name: &str, version: Option<&str>) -> ApiResult<Pick<'a>> {
    if let Some(v) = version.filter(|v| *v != VERSION) {
        return Err(ApiError::not_found(format!(
            "model {name:?} has no version {v:?}; its only version is {VERSION:?}"
        )));
    }
    match name {
        "controller" => Ok((&engine.controller, |m| &m.controller)),
        "planner" => Ok((&engine.planner_actor, |m| &m.planner)),
        _ => Err(ApiError::not_found(format!("no model {name:?}; this server has {}", MODELS.join(" and ")))),
    }
}

fn metadata(app: &crate::App, name: &str, version: Option<&str>) -> ApiResult<Json<Value>> {
    let engine = app.engine()?;
    let (_, describe) = pick(engine, name, version)?;
    let models = engine.models.load();
    let info = describe(&models);
    let d = &engine.dims;
    let tensor = |name: &str, dim: usize| json!({ "name": name, "datatype": DATATYPE, "shape": [-1, dim] });
    Ok(Json(json!({
        "name": name,
        "versions": [VERSION],
        "platform": "deepcrl",
        "inputs": [tensor("obs", d.state_dim), tensor("goal", d.goal_dim)],
        "outputs": [tensor("action", d.action_dim)],
        "parameters": {
            "sha256": info.sha256, "checkpoint": info.checkpoint, "env": info.env,
            "actor_depth": info.actor_depth, "width": info.width, "goal_indices": d.goal_indices,
        },
    })))
}

fn ready(app: &crate::App, name: &str, version: Option<&str>) -> ApiResult<Json<Value>> {
    app.ready()?;
    pick(app.engine()?, name, version)?;
    Ok(Json(json!({ "name": name, "ready": true })))
}

async fn model_metadata(State(app): AppState, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    metadata(&app, &name, None)
}

async fn versioned_metadata(State(app): AppState, Path((name, v)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    metadata(&app, &name, Some(&v))
}

async fn model_ready(State(app): AppState, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    ready(&app, &name, None)
}

async fn versioned_ready(State(app): AppState, Path((name, v)): Path<(String, String)>) -> ApiResult<Json<Value>> {
    ready(&app, &name, Some(&v))
}

async fn infer(
    State(app): AppState,
    Path(name): Path<String>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    infer_on(&app, &name, None, arrived, &headers, body).await
}

async fn versioned_infer(
    State(app): AppState,
    Path((name, v)): Path<(String, String)>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    infer_on(&app, &name, Some(&v), arrived, &headers, body).await
}

async fn infer_on(
    app: &crate::App,
    name: &str,
    version: Option<&str>,
    arrived: Arrived,
    headers: &HeaderMap,
    body: Body,
) -> ApiResult {
    let engine = app.engine()?;
    let (batcher, _) = pick(engine, name, version)?;
    let mut deadline = routes::deadline(headers, arrived.0)?;
    let header_length =
        match headers.get(HEADER_LENGTH) {
            None => None,
            Some(v) => Some(v.to_str().ok().and_then(|s| s.trim().parse::<usize>().ok()).ok_or_else(|| {
                ApiError::invalid(format!("{HEADER_LENGTH} must be the JSON part's length in bytes"))
            })?),
        };
    let bytes = routes::bytes(body)?;
    let d = &engine.dims;
    let req = tensor::parse_infer(&bytes, header_length, Dims { state: d.state_dim, goal: d.goal_dim })?;
    if let Some(us) = req.timeout_us {
        let by_timeout = arrived.0 + Duration::from_secs_f64(us.min(1e15) * 1e-6);
        deadline = Some(deadline.map_or(by_timeout, |h| h.min(by_timeout)));
    }
    let rows = routes::join_rows(&req.obs, &req.goal, req.rows, d.state_dim, d.goal_dim);
    let reply = routes::act_rows(app, batcher, rows, req.rows, deadline).await?;
    let timing = routes::server_timing(&reply, arrived.0);
    let out = tensor::infer_response(name, &req, &reply.actions, d.action_dim, timing);
    let mut resp = out.body.into_response();
    let h = resp.headers_mut();
    match out.header_length {
        Some(n) => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
            h.insert(HEADER_LENGTH, HeaderValue::from(n));
        }
        None => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
    }
    Ok(resp)
}
