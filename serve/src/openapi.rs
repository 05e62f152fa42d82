//! The OpenAPI 3 document served at `/openapi.json`, maintained by hand; a test checks it against the
//! router's own route table (`crate::routes::served`), both ways, and `serve/tests/http.rs` that every
//! documented operation is answered by the real router.

use serde_json::{json, Value};

fn vector(what: &str) -> Value {
    json!({ "type": "array", "items": { "type": "number" }, "description": what })
}

fn rows(what: &str) -> Value {
    json!({ "oneOf": [vector(what), { "type": "array", "items": vector(what) }] })
}

fn body(schema: Value) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": schema } } })
}

fn ok(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

fn errors(codes: &[&str], shape: &str) -> Value {
    let mut out = serde_json::Map::new();
    for code in codes {
        out.insert(code.to_string(), json!({ "$ref": format!("#/components/responses/{shape}") }));
    }
    Value::Object(out)
}

fn op(summary: &str, request: Option<Value>, status: &str, response: Value, codes: &[&str], secured: bool) -> Value {
    operation(summary, request, status, response, errors(codes, "Error"), secured)
}

/// An Open Inference Protocol v2 operation: its errors are `{"error": "..."}`.
fn v2_op(summary: &str, request: Option<Value>, response: Value, codes: &[&str], secured: bool) -> Value {
    operation(summary, request, "200", response, errors(codes, "V2Error"), secured)
}

fn operation(
    summary: &str,
    request: Option<Value>,
    status: &str,
    response: Value,
    errors: Value,
    secured: bool,
) -> Value {
    let mut responses = errors;
    responses[status] = response;
    let mut o = json!({ "summary": summary, "responses": responses });
    if let Some(r) = request {
        o["requestBody"] = r;
    }
    if secured {
        o["security"] = json!([{ "bearer": [] }]);
    } else {
        o["security"] = json!([]);
    }
    o
}

const ACT_ERRORS: [&str; 7] = ["400", "401", "413", "429", "503", "504", "500"];
const INFER_ERRORS: [&str; 8] = ["400", "401", "404", "413", "429", "503", "504", "500"];

pub fn document() -> Value {
    let health = ok("Status", json!({ "type": "object", "properties": { "status": { "type": "string" } } }));
    let deadline = json!({
        "name": "x-deadline-ms", "in": "header", "required": false,
        "description": "Budget in milliseconds from arrival: 504 at once if it cannot be met.",
        "schema": { "type": "number" }
    });
    let id = json!({ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } });
    let timing = json!({ "type": "object", "properties": {
        "queue_us": { "type": "integer" }, "inference_us": { "type": "integer" }, "total_us": { "type": "integer" } } });
    let plan = json!({ "type": "object", "nullable": true, "properties": {
        "plan_id": { "type": "integer" }, "version": { "type": "integer" },
        "created_at": { "type": "integer", "description": "Unix milliseconds" },
        "age_ms": { "type": "number" }, "horizon": { "type": "integer" },
        "waypoints": { "type": "array", "items": vector("goal-space waypoint") },
        "nodes": { "type": "array", "items": { "type": "integer" } },
        "source": { "type": "string", "enum": ["graph", "direct", "unreachable"] },
        "cost": { "type": "number", "nullable": true }, "direct_cost": { "type": "number" },
        "state": vector("state the plan was made from"), "goal": vector("commanded goal") } });
    let session_act = json!({ "type": "object", "properties": {
        "action": vector("action in [-1, 1]"), "waypoint": vector("active waypoint (goal space)"),
        "waypoint_index": { "type": "integer", "nullable": true },
        "plan_id": { "type": "integer", "nullable": true }, "plan_version": { "type": "integer", "nullable": true },
        "plan_age_ms": { "type": "number", "nullable": true }, "fallback": { "type": "boolean" },
        "fallback_reason": { "type": "string", "nullable": true, "enum": ["no_plan", "stale_plan"] },
        "server_timing": timing } });

    let mut paths = serde_json::Map::new();
    let mut add = |path: &str, method: &str, mut o: Value, params: Vec<Value>| {
        if !params.is_empty() {
            o["parameters"] = Value::Array(params);
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[method] = o;
    };
    for p in ["/healthz", "/v2/health/live"] {
        add(p, "get", op("Liveness", None, "200", health.clone(), &[], false), vec![]);
    }
    for p in ["/readyz", "/v2/health/ready"] {
        add(
            p,
            "get",
            op("Readiness (after the warm-up inference)", None, "200", health.clone(), &["503"], false),
            vec![],
        );
    }
    let text = json!({ "description": "Prometheus text format", "content": { "text/plain": {} } });
    add("/metrics", "get", op("Prometheus metrics", None, "200", text, &[], false), vec![]);
    add("/openapi.json", "get", op("This document", None, "200", ok("OpenAPI 3", json!({})), &[], false), vec![]);
    add(
        "/v1/models",
        "get",
        op(
            "The planner, its graph and the controller",
            None,
            "200",
            ok("Models", json!({ "type": "object" })),
            &["401", "503"],
            true,
        ),
        vec![],
    );
    let act_req = json!({ "type": "object", "required": ["obs", "goal"], "properties": {
        "obs": rows("state"), "goal": rows("goal"),
        "model": { "type": "string", "enum": ["controller", "planner"], "default": "controller" } } });
    let act_resp = json!({ "type": "object", "properties": { "action": rows("action"), "model": { "type": "string" }, "server_timing": timing } });
    add(
        "/v1/act",
        "post",
        op(
            "Stateless act (batched input allowed)",
            Some(body(act_req)),
            "200",
            ok("Actions", act_resp),
            &ACT_ERRORS,
            true,
        ),
        vec![deadline.clone()],
    );
    let create_req = json!({ "type": "object", "required": ["obs", "goal"], "properties": {
        "obs": vector("state"), "goal": vector("goal"), "plan_hz": { "type": "number" } } });
    let create_resp = json!({ "type": "object", "properties": { "session_id": { "type": "string" }, "plan": plan,
        "plan_hz": { "type": "number" }, "session_ttl_s": { "type": "number" }, "max_plan_age_ms": { "type": "integer" } } });
    add(
        "/v1/sessions",
        "post",
        op(
            "Open a session; answers with its first plan",
            Some(body(create_req)),
            "201",
            ok("Session", create_resp),
            &["400", "401", "413", "429", "503"],
            true,
        ),
        vec![deadline.clone()],
    );
    add(
        "/v1/sessions/{id}",
        "get",
        op(
            "A session and its plan",
            None,
            "200",
            ok("Session", json!({ "type": "object" })),
            &["401", "404", "503"],
            true,
        ),
        vec![id.clone()],
    );
    add(
        "/v1/sessions/{id}",
        "delete",
        op("Close a session", None, "204", json!({ "description": "Deleted" }), &["401", "404", "503"], true),
        vec![id.clone()],
    );
    let sact_req = json!({ "type": "object", "required": ["obs"], "properties": { "obs": vector("state") } });
    add(
        "/v1/sessions/{id}/act",
        "post",
        op(
            "Act toward the session's active waypoint",
            Some(body(sact_req)),
            "200",
            ok("Action", session_act),
            &["400", "401", "404", "413", "429", "503", "504"],
            true,
        ),
        vec![id.clone(), deadline.clone()],
    );
    let goal_req = json!({ "type": "object", "required": ["goal"], "properties": { "goal": vector("goal"), "obs": vector("state") } });
    add(
        "/v1/sessions/{id}/goal",
        "put",
        op(
            "Command a new goal; answers with the new plan",
            Some(body(goal_req)),
            "200",
            ok("Session", json!({ "type": "object" })),
            &["400", "401", "404", "413", "503"],
            true,
        ),
        vec![id.clone(), deadline.clone()],
    );
    add(
        "/v1/sessions/{id}/stream",
        "get",
        op(
            "Open the session's stream: a WebSocket of MessagePack (binary) or JSON (text) messages; the \
             first is the contract, then actions per observation (mode=act) or plans at every refresh \
             (mode=plans). Messages: README, \"The session stream\"",
            None,
            "101",
            json!({ "description": "Switching to the WebSocket protocol" }),
            &["400", "401", "404", "426", "503"],
            true,
        ),
        vec![
            id.clone(),
            json!({ "name": "mode", "in": "query", "required": false,
                    "schema": { "type": "string", "enum": ["act", "plans"], "default": "act" } }),
            json!({ "name": "format", "in": "query", "required": false,
                    "schema": { "type": "string", "enum": ["msgpack", "json"], "default": "msgpack" } }),
        ],
    );
    let reload_req = json!({ "type": "object", "required": ["target"], "properties": {
        "target": { "type": "string", "enum": ["planner", "controller"] }, "path": { "type": "string" } } });
    add(
        "/v1/admin/reload",
        "post",
        op(
            "Swap a model atomically (the old one stays if the new one fails validation)",
            Some(body(reload_req)),
            "200",
            ok("Reloaded", json!({ "type": "object" })),
            &["400", "401", "503"],
            true,
        ),
        vec![],
    );

    v2_paths(&mut add, deadline);

    let error = json!({ "type": "object", "properties": { "error": { "type": "object", "properties": {
        "code": { "type": "string" }, "message": { "type": "string" } } } } });
    let v2_error = json!({ "type": "object", "properties": { "error": { "type": "string" } } });
    json!({
        "openapi": "3.0.3",
        "info": { "title": "deepcrl serve", "version": env!("CARGO_PKG_VERSION"),
                  "description": "Hierarchical planner (deep CRL teacher) / controller (student) server." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "responses": {
                "Error": { "description": "Error", "content": { "application/json": { "schema": error } } },
                "V2Error": { "description": "Error (Open Inference Protocol v2: \"code: message\")",
                             "content": { "application/json": { "schema": v2_error } } }
            }
        }
    })
}

/// The Open Inference Protocol v2 routes (`crate::oip`), each with and without `/versions/{version}`.
fn v2_paths(add: &mut impl FnMut(&str, &str, Value, Vec<Value>), deadline: Value) {
    let name = json!({ "name": "name", "in": "path", "required": true,
        "schema": { "type": "string", "enum": crate::oip::MODELS } });
    let version = json!({ "name": "version", "in": "path", "required": true,
        "schema": { "type": "string", "enum": [crate::oip::VERSION] } });
    let meta = ok(
        "Server metadata",
        json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "version": { "type": "string" },
        "extensions": { "type": "array", "items": { "type": "string" } } } }),
    );
    add("/v2", "get", v2_op("Server metadata (Open Inference Protocol v2)", None, meta, &[], false), vec![]);
    let tensor_meta = json!({ "type": "object", "properties": { "name": { "type": "string" },
        "datatype": { "type": "string" }, "shape": { "type": "array", "items": { "type": "integer" } } } });
    let model_meta = ok(
        "Model metadata",
        json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "versions": { "type": "array", "items": { "type": "string" } },
        "platform": { "type": "string" }, "inputs": { "type": "array", "items": tensor_meta.clone() },
        "outputs": { "type": "array", "items": tensor_meta }, "parameters": { "type": "object" } } }),
    );
    let ready = ok(
        "Ready",
        json!({ "type": "object", "properties": {
        "name": { "type": "string" }, "ready": { "type": "boolean" } } }),
    );
    let tensor = json!({ "type": "object", "required": ["name", "shape", "datatype"], "properties": {
        "name": { "type": "string" }, "datatype": { "type": "string", "enum": ["FP32"] },
        "shape": { "type": "array", "items": { "type": "integer" } }, "parameters": { "type": "object" },
        "data": { "type": "array", "description": "row-major, flat or nested; absent with parameters.binary_data_size" } } });
    let infer_req = json!({ "type": "object", "required": ["inputs"], "properties": {
        "id": { "type": "string" }, "parameters": { "type": "object" },
        "inputs": { "type": "array", "items": tensor.clone(), "description": "obs [batch, state_dim] and goal [batch, goal_dim]" },
        "outputs": { "type": "array", "items": { "type": "object" } } } });
    let infer_resp = ok(
        "The action tensor (binary data after the JSON when asked for)",
        json!({ "type": "object",
        "properties": { "model_name": { "type": "string" }, "model_version": { "type": "string" },
        "id": { "type": "string" }, "parameters": { "type": "object" },
        "outputs": { "type": "array", "items": tensor } } }),
    );
    let header = json!({ "name": "inference-header-content-length", "in": "header", "required": false,
        "description": "Length of the JSON part when binary tensor data follows it", "schema": { "type": "integer" } });
    for (base, mut params) in
        [("/v2/models/{name}", vec![name.clone()]), ("/v2/models/{name}/versions/{version}", vec![name, version])]
    {
        add(
            base,
            "get",
            v2_op("Model metadata", None, model_meta.clone(), &["401", "404", "503"], true),
            params.clone(),
        );
        let path = format!("{base}/ready");
        add(&path, "get", v2_op("Model readiness", None, ready.clone(), &["401", "404", "503"], true), params.clone());
        params.extend([deadline.clone(), header.clone()]);
        let infer = v2_op(
            "Inference (through the /v1/act engine)",
            Some(body(infer_req.clone())),
            infer_resp.clone(),
            &INFER_ERRORS,
            true,
        );
        add(&format!("{base}/infer"), "post", infer, params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_lists_exactly_the_routes_the_router_serves() {
        let doc = document();
        let mut documented: Vec<(String, String)> = Vec::new();
        for (path, ops) in doc["paths"].as_object().unwrap() {
            for method in ops.as_object().unwrap().keys().filter(|k| *k != "parameters") {
                documented.push((method.clone(), path.clone()));
            }
        }
        let mut served: Vec<(String, String)> =
            crate::routes::served().into_iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        documented.sort();
        served.sort();
        assert_eq!(documented, served);
    }
}
