//! The session stream (`GET /v1/sessions/{id}/stream?mode=act|plans&format=msgpack|json`): a WebSocket
//! over an open session, for robots on real networks (the messages are `link::wire`).
//!
//! The upgrade is refused like any HTTP request (401 without the key, 404 for an unknown session, 400
//! for a bad query, 426 without an upgrade), so a robot learns what is wrong before it has a socket.
//! After it, the server's first frame is the [`link::wire::Contract`]; [`conn`] runs the rest.
//! Reconnecting to the same session within its TTL resumes it: the same goal, and in `plans` mode
//! the current plan is sent again at once.

mod conn;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use link::wire::{Contract, Format, ModelId, StreamMode, PROTOCOL};

use crate::error::ApiError;
use crate::loaded::ModelInfo;
use crate::routes::{session_error, ApiResult, AppState};
use crate::server::App;

/// What the query asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Query {
    mode: StreamMode,
    format: Format,
}

/// `mode` (default `act`) and `format` (default `msgpack`); anything else is refused by name.
fn query(raw: Option<&str>) -> Result<Query, ApiError> {
    let mut q = Query { mode: StreamMode::Act, format: Format::Msgpack };
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "mode" => {
                q.mode = StreamMode::parse(value).ok_or_else(|| {
                    ApiError::invalid(format!("mode={value:?} is unknown: use mode=act or mode=plans"))
                })?
            }
            "format" => {
                q.format = Format::parse(value).ok_or_else(|| {
                    ApiError::invalid(format!("format={value:?} is unknown: use format=msgpack or format=json"))
                })?
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "unknown query parameter {other:?}: the stream takes mode and format"
                )))
            }
        }
    }
    Ok(q)
}

fn model_id(info: &ModelInfo) -> ModelId {
    ModelId {
        sha256: info.sha256.clone(),
        onnx_sha256: info.onnx_sha256.clone(),
        checkpoint: info.checkpoint.clone(),
        actor_depth: info.actor_depth,
        width: info.width,
    }
}

/// The contract for session `id` as it stands now.
fn contract(app: &App, id: &str, mode: StreamMode) -> ApiResult<Contract> {
    let engine = app.engine()?;
    let view = engine.sessions.get(id, Instant::now()).map_err(session_error)?;
    let models = engine.models.load();
    let (d, cfg, follow) = (&engine.dims, &app.cfg, &engine.sessions.policy().follow);
    Ok(Contract {
        protocol: PROTOCOL,
        session_id: id.to_string(),
        mode,
        env: models.env.clone(),
        state_dim: d.state_dim,
        goal_dim: d.goal_dim,
        action_dim: d.action_dim,
        goal_indices: d.goal_indices.clone(),
        controller: model_id(&models.controller),
        planner: model_id(&models.planner),
        goal: view.goal,
        plan_hz: view.plan_hz,
        max_plan_age_ms: follow.max_plan_age.as_secs_f64() * 1e3,
        advance_radius: follow.advance_radius,
        max_obs_age_ms: cfg.stream_max_obs_age_ms,
        deadline_ms: cfg.stream_deadline_ms,
        max_frame_bytes: cfg.body_limit,
        queue_frames: cfg.stream_queue_frames,
        ping_interval_ms: cfg.stream_ping_ms,
        session_ttl_s: cfg.session_ttl_s,
    })
}

/// The upgrade: checks the query and the session, then hands the socket to [`conn::run`].
pub(crate) async fn open(
    State(app): AppState,
    Path(id): Path<String>,
    RawQuery(raw): RawQuery,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    let q = query(raw.as_deref())?;
    let contract = contract(&app, &id, q.mode)?;
    let ws = ws.map_err(|e| {
        ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "upgrade_required",
            format!("this route is a WebSocket ({}): open it with a WebSocket client", e.body_text()),
        )
    })?;
    let limit = app.cfg.body_limit;
    let app: Arc<App> = app.clone();
    Ok(ws
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| conn::run(socket, app, contract, q.format)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_takes_mode_and_format_and_names_what_it_refuses() {
        assert_eq!(query(None).unwrap(), Query { mode: StreamMode::Act, format: Format::Msgpack });
        let q = query(Some("format=json&mode=plans")).unwrap();
        assert_eq!(q, Query { mode: StreamMode::Plans, format: Format::Json });
        assert!(query(Some("mode=fast")).unwrap_err().message.contains("mode=act or mode=plans"));
        assert!(query(Some("format=cbor")).unwrap_err().message.contains("format=msgpack"));
        assert!(query(Some("seq=1")).unwrap_err().message.contains("\"seq\""));
    }
}
