//! The HTTP API of DESIGN.md section 8, built in one function ([`router`]) from one route table; each handler is a small
//! async function that reads its body through [`crate::api`], asks the engine, and answers JSON or an
//! [`ApiError`]. Acts go through [`act_rows`], which applies the request's deadline (`x-deadline-ms`,
//! a budget in milliseconds from arrival): refused with 504 at once when the controller's queue
//! cannot meet it, and 504 at the deadline rather than a late action.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::{Extension, Json, Router};
use serde_json::{json, Value};
use tower_http::catch_panic::CatchPanicLayer;

use crate::api::{self, Object};
use crate::controller::{ActError, ActReply, Batcher};
use crate::engine::{Engine, Target};
use crate::error::ApiError;
use crate::planner::plan::Plan;
use crate::server::App;
use crate::sessions::{SessionError, Steer};

/// The deadline header: the client's budget for this request, in milliseconds from arrival.
pub const DEADLINE_HEADER: &str = "x-deadline-ms";
/// How long session creation and goal changes wait for the first plan (without a tighter deadline).
const FIRST_PLAN_WAIT: Duration = Duration::from_secs(2);
/// Bounds on a session's own planning rate.
const PLAN_HZ_RANGE: (f64, f64) = (0.01, 1000.0);

pub(crate) type AppState = State<Arc<App>>;
pub(crate) type Body = Result<Bytes, BytesRejection>;
pub(crate) type ApiResult<T = Response> = Result<T, ApiError>;

/// When the request arrived (set by the tracking layer).
#[derive(Clone, Copy, Debug)]
pub struct Arrived(pub Instant);

/// One route: method (lower case, as OpenAPI spells it), path template, handler.
pub(crate) type Route = (&'static str, &'static str, MethodRouter<Arc<App>>);

/// Every route the server serves, in one list: the router is built from it, and the OpenAPI test
/// checks the document against it (and, over HTTP, that each entry is what the router answers).
fn table() -> Vec<Route> {
    let mut routes = vec![
        ("get", "/healthz", get(live)),
        ("get", "/v2/health/live", get(live)),
        ("get", "/readyz", get(ready)),
        ("get", "/v2/health/ready", get(ready)),
        ("get", "/metrics", get(metrics)),
        ("get", "/openapi.json", get(openapi)),
        ("post", "/v1/act", post(act)),
        ("get", "/v1/models", get(models)),
        ("post", "/v1/sessions", post(create_session)),
        ("get", "/v1/sessions/{id}", get(get_session)),
        ("delete", "/v1/sessions/{id}", delete(delete_session)),
        ("post", "/v1/sessions/{id}/act", post(session_act)),
        ("put", "/v1/sessions/{id}/goal", put(set_goal)),
        ("get", "/v1/sessions/{id}/stream", get(crate::stream::open)),
        ("post", "/v1/admin/reload", post(reload)),
    ];
    routes.extend(crate::oip::routes());
    routes
}

/// Whether a route needs the API key (when one is set): `/v1` and the v2 models; health, metrics,
/// the documents and the v2 server metadata do not.
fn keyed(path: &str) -> bool {
    path.starts_with("/v1/") || path.starts_with("/v2/models")
}

/// (method, path template) of every route the router serves.
pub fn served() -> Vec<(&'static str, &'static str)> {
    table().into_iter().map(|(method, path, _)| (method, path)).collect()
}

pub fn router(app: Arc<App>) -> Router {
    let (mut keyed_routes, mut open) = (Router::new(), Router::new());
    for (_, path, handler) in table() {
        if keyed(path) {
            keyed_routes = keyed_routes.route(path, handler);
        } else {
            open = open.route(path, handler);
        }
    }
    open.merge(keyed_routes.route_layer(middleware::from_fn_with_state(app.clone(), require_key)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.cfg.body_limit))
        .layer(middleware::from_fn_with_state(app.clone(), track))
        .layer(CatchPanicLayer::custom(|_| ApiError::internal("the handler panicked").into_response()))
        // Outermost, so every error under /v2 (key, body limit, no route, panic) has the v2 shape.
        .layer(middleware::from_fn(crate::oip::v2_errors))
        .with_state(app)
}

/// Times every request by route and counts statuses and error codes.
async fn track(State(app): AppState, mut req: Request, next: Next) -> Response {
    let arrived = Instant::now();
    let route = req.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    req.extensions_mut().insert(Arrived(arrived));
    let resp = next.run(req).await;
    let m = &app.metrics;
    m.request_seconds.with_label_values(&[route.as_str()]).observe(arrived.elapsed().as_secs_f64());
    m.requests.with_label_values(&[route.as_str(), resp.status().as_str()]).inc();
    if let Some(e) = resp.extensions().get::<ApiError>() {
        m.errors.with_label_values(&[e.code]).inc();
    }
    resp
}

/// With an API key configured, `/v1` needs `Authorization: Bearer KEY` (or `x-api-key: KEY`).
async fn require_key(State(app): AppState, req: Request, next: Next) -> Response {
    let Some(key) = app.cfg.api_key.as_deref() else {
        return next.run(req).await;
    };
    let h = req.headers();
    let given = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()));
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), key.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::unauthorized("wrong API key").into_response(),
        None => {
            ApiError::unauthorized("this server needs an API key: send `Authorization: Bearer KEY`").into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn not_found(req: Request) -> ApiError {
    ApiError::not_found(format!("no route {} {}; see /openapi.json", req.method(), req.uri().path()))
}

async fn method_not_allowed(req: Request) -> ApiError {
    let msg = format!("{} is not allowed on {}; see /openapi.json", req.method(), req.uri().path());
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", msg)
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn ready(State(app): AppState) -> ApiResult<Json<Value>> {
    app.ready()?;
    Ok(Json(json!({ "status": "ready" })))
}

async fn metrics(State(app): AppState) -> Response {
    if let Ok(engine) = app.engine() {
        app.metrics.active_sessions.set(engine.sessions.len() as i64);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], app.metrics.render()).into_response()
}

async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}

async fn models(State(app): AppState) -> ApiResult<Json<Value>> {
    let info = app.engine()?.models.load_full();
    Ok(Json(serde_json::to_value(&*info).map_err(|e| ApiError::internal(e.to_string()))?))
}

/// The body's bytes: 413 past the body limit.
pub(crate) fn bytes(body: Body) -> ApiResult<Bytes> {
    body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", e.body_text())
        }
        _ => ApiError::invalid(e.body_text()),
    })
}

/// The body as a JSON object with only `allowed` fields.
fn object(body: Body, allowed: &[&str]) -> ApiResult<Object> {
    let obj = api::parse_object(&bytes(body)?)?;
    api::check_fields(&obj, allowed)?;
    Ok(obj)
}

/// The request's deadline, if it set one.
pub(crate) fn deadline(headers: &HeaderMap, arrived: Instant) -> ApiResult<Option<Instant>> {
    let Some(v) = headers.get(DEADLINE_HEADER) else { return Ok(None) };
    let ms = v.to_str().ok().and_then(|s| s.trim().parse::<f64>().ok()).filter(|ms| ms.is_finite() && *ms > 0.0);
    let ms = ms.ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_deadline",
            format!("{DEADLINE_HEADER} must be a positive number of milliseconds"),
        )
    })?;
    Ok(Some(arrived + Duration::from_secs_f64(ms.min(1e9) / 1e3)))
}

pub(crate) fn server_timing(reply: &ActReply, arrived: Instant) -> Value {
    json!({ "queue_us": reply.queue_us, "inference_us": reply.inference_us, "total_us": arrived.elapsed().as_micros() as u64 })
}

/// Runs validated `[state, goal]` rows through a batcher under the request's deadline.
pub(crate) async fn act_rows(
    app: &App,
    batcher: &Batcher,
    rows: Vec<f32>,
    n: usize,
    deadline: Option<Instant>,
) -> ApiResult<ActReply> {
    if let Some(d) = deadline {
        if Instant::now() + batcher.estimated_latency(app.cfg.max_batch) > d {
            return Err(ApiError::deadline("the deadline cannot be met with the current queue"));
        }
    }
    let reply = match batcher.try_inline(&rows, n) {
        Some(inline) => inline.map_err(act_error)?,
        None => {
            let rx = batcher.submit(rows, n, deadline).map_err(act_error)?;
            let reply = match deadline {
                Some(d) => tokio::time::timeout_at(d.into(), rx)
                    .await
                    .map_err(|_| ApiError::deadline("the deadline passed before the action was ready"))?,
                None => rx.await,
            };
            reply.map_err(|_| ApiError::not_ready("the controller stopped"))?.map_err(act_error)?
        }
    };
    app.metrics.act_queue_seconds.observe(reply.queue_us as f64 * 1e-6);
    app.metrics.act_inference_seconds.observe(reply.inference_us as f64 * 1e-6);
    Ok(reply)
}

fn act_error(e: ActError) -> ApiError {
    match e {
        ActError::Overloaded(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string()),
        ActError::DeadlineExceeded => ApiError::deadline(e.to_string()),
        ActError::Closed => ApiError::not_ready(e.to_string()),
        ActError::Model(_) => ApiError::internal(e.to_string()),
    }
}

pub(crate) fn session_error(e: SessionError) -> ApiError {
    match e {
        SessionError::NotFound(_) => ApiError::not_found(e.to_string()),
        SessionError::Full(_) => ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_sessions", e.to_string()),
    }
}

/// `[state, goal]` rows from separate state and goal rows.
pub(crate) fn join_rows(states: &[f32], goals: &[f32], n: usize, sd: usize, gd: usize) -> Vec<f32> {
    let mut rows = Vec::with_capacity(n * (sd + gd));
    for i in 0..n {
        rows.extend_from_slice(&states[i * sd..(i + 1) * sd]);
        rows.extend_from_slice(&goals[i * gd..(i + 1) * gd]);
    }
    rows
}

async fn act(
    State(app): AppState,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let engine = app.engine()?;
    let deadline = deadline(&headers, arrived.0)?;
    let obj = object(body, &["obs", "goal", "model"])?;
    let d = &engine.dims;
    let (batcher, model) = match api::opt_str(&obj, "model")?.unwrap_or("controller") {
        "controller" => (&engine.controller, "controller"),
        "planner" => (&engine.planner_actor, "planner"),
        other => {
            return Err(ApiError::invalid(format!("model {other:?} is unknown: use \"controller\" or \"planner\"")))
        }
    };
    let (states, n, batched) = api::rows(&obj, "obs", d.state_dim)?;
    let (goals, ng, _) = api::rows(&obj, "goal", d.goal_dim)?;
    if n != ng {
        return Err(ApiError::dimension(format!("obs has {n} rows but goal has {ng}")));
    }
    let reply = act_rows(&app, batcher, join_rows(&states, &goals, n, d.state_dim, d.goal_dim), n, deadline).await?;
    let action: Value = if batched {
        reply.actions.chunks_exact(d.action_dim).map(|a| json!(a)).collect()
    } else {
        json!(reply.actions)
    };
    Ok(Json(json!({ "action": action, "model": model, "server_timing": server_timing(&reply, arrived.0) }))
        .into_response())
}

pub(crate) fn plan_json(plan: Option<&Arc<Plan>>) -> Value {
    match plan {
        Some(p) => {
            let mut v = serde_json::to_value(&**p).unwrap_or(Value::Null);
            v["age_ms"] = json!(p.age_ms(Instant::now()));
            v
        }
        None => Value::Null,
    }
}

/// Waits for a session's next plan, at most until the deadline or [`FIRST_PLAN_WAIT`].
async fn first_plan(rx: tokio::sync::oneshot::Receiver<Arc<Plan>>, deadline: Option<Instant>) -> Option<Arc<Plan>> {
    let limit = Instant::now() + FIRST_PLAN_WAIT;
    let until = deadline.map_or(limit, |d| d.min(limit));
    tokio::time::timeout_at(until.into(), rx).await.ok().and_then(Result::ok)
}

fn plan_hz(obj: &Object, default: f64) -> ApiResult<f64> {
    let hz = api::opt_number(obj, "plan_hz")?.unwrap_or(default);
    let (lo, hi) = PLAN_HZ_RANGE;
    if !(lo..=hi).contains(&hz) {
        return Err(ApiError::invalid(format!("plan_hz must be between {lo} and {hi} (got {hz})")));
    }
    Ok(hz)
}

async fn create_session(
    State(app): AppState,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let engine = app.engine()?;
    let deadline = deadline(&headers, arrived.0)?;
    let obj = object(body, &["obs", "goal", "plan_hz"])?;
    let state = api::vector(&obj, "obs", engine.dims.state_dim)?;
    let goal = api::vector(&obj, "goal", engine.dims.goal_dim)?;
    let hz = plan_hz(&obj, app.cfg.plan_hz)?;
    let (id, rx) = engine.sessions.create(state, goal, hz, Instant::now()).map_err(session_error)?;
    app.metrics.active_sessions.set(engine.sessions.len() as i64);
    engine.planner.wake();
    let plan = first_plan(rx, deadline).await;
    let body = json!({
        "session_id": id,
        "plan": plan_json(plan.as_ref()),
        "plan_hz": hz,
        "session_ttl_s": app.cfg.session_ttl_s,
        "max_plan_age_ms": app.cfg.max_plan_age_ms,
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn session_act(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let engine: &Engine = app.engine()?;
    let deadline = deadline(&headers, arrived.0)?;
    let obj = object(body, &["obs"])?;
    let d = &engine.dims;
    let state = api::vector(&obj, "obs", d.state_dim)?;
    let (steer, reply) = steer_act(&app, engine, &id, &state, deadline).await?;
    Ok(Json(json!({
        "action": reply.actions,
        "waypoint": steer.target,
        "waypoint_index": steer.waypoint_index,
        "plan_id": steer.plan_id,
        "plan_version": steer.plan_version,
        "plan_age_ms": steer.plan_age_ms,
        "fallback": steer.fallback.is_some(),
        "fallback_reason": steer.fallback,
        "server_timing": server_timing(&reply, arrived.0),
    }))
    .into_response())
}

/// One session act: the shared plan-following rule picks the target, the controller acts on it.
pub(crate) async fn steer_act(
    app: &App,
    engine: &Engine,
    id: &str,
    state: &[f32],
    deadline: Option<Instant>,
) -> ApiResult<(Steer, ActReply)> {
    let d = &engine.dims;
    let steer = engine.sessions.steer(id, state, Instant::now()).map_err(session_error)?;
    let m = &app.metrics;
    if let Some(age) = steer.plan_age_ms {
        m.plan_age_seconds.observe(age * 1e-3);
    }
    if let Some(reason) = steer.fallback {
        m.fallbacks.with_label_values(&[reason.name()]).inc();
    }
    let rows = join_rows(state, &steer.target, 1, d.state_dim, d.goal_dim);
    let reply = act_rows(app, &engine.controller, rows, 1, deadline).await?;
    Ok((steer, reply))
}

async fn set_goal(
    State(app): AppState,
    Path(id): Path<String>,
    Extension(arrived): Extension<Arrived>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let engine = app.engine()?;
    let deadline = deadline(&headers, arrived.0)?;
    let obj = object(body, &["goal", "obs"])?;
    let goal = api::vector(&obj, "goal", engine.dims.goal_dim)?;
    let state = api::opt_vector(&obj, "obs", engine.dims.state_dim)?;
    let rx = engine.sessions.set_goal(&id, goal.clone(), state, Instant::now()).map_err(session_error)?;
    engine.planner.wake();
    let plan = first_plan(rx, deadline).await;
    Ok(Json(json!({ "session_id": id, "goal": goal, "plan": plan_json(plan.as_ref()) })).into_response())
}

async fn get_session(State(app): AppState, Path(id): Path<String>) -> ApiResult {
    let view = app.engine()?.sessions.get(&id, Instant::now()).map_err(session_error)?;
    let mut v = serde_json::to_value(&view).map_err(|e| ApiError::internal(e.to_string()))?;
    v["plan"] = plan_json(view.plan.as_ref());
    Ok(Json(v).into_response())
}

async fn delete_session(State(app): AppState, Path(id): Path<String>) -> ApiResult {
    let engine = app.engine()?;
    if !engine.sessions.delete(&id) {
        return Err(session_error(SessionError::NotFound(id)));
    }
    app.metrics.active_sessions.set(engine.sessions.len() as i64);
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn reload(State(app): AppState, body: Body) -> ApiResult {
    if app.cfg.api_key.is_none() {
        return Err(ApiError::unauthorized("reloading needs the server to be started with --api-key"));
    }
    let engine = app.engine()?.clone();
    let obj = object(body, &["target", "path"])?;
    let target = match api::opt_str(&obj, "target")? {
        Some("planner") => Target::Planner,
        Some("controller") => Target::Controller,
        other => {
            return Err(ApiError::invalid(format!("target must be \"planner\" or \"controller\" (got {other:?})")))
        }
    };
    let path = api::opt_str(&obj, "path")?.map_or_else(|| engine.default_path(target), Into::into);
    let shown = path.display().to_string();
    let result = tokio::task::spawn_blocking(move || engine.reload(target, &path))
        .await
        .map_err(|e| ApiError::internal(format!("the reload panicked: {e}")))?;
    match result {
        Ok(info) => {
            tracing::info!(?target, path = shown, "reloaded");
            Ok(Json(json!({ "target": target, "model": info })).into_response())
        }
        Err(e) => {
            tracing::warn!(?target, path = shown, "reload rejected, keeping the old model: {e:#}");
            let msg = format!("{shown}: {e:#}; the old model is still serving");
            Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_model", msg))
        }
    }
}
