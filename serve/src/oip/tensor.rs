//! The Open Inference Protocol v2 inference body, read and written: the JSON tensor format and Triton's
//! binary tensor data extension, which `tritonclient` uses by default (its `InferInput` sends binary
//! data and, with no outputs named, it asks for binary outputs).
//!
//! A request is `{"id"?, "parameters"?, "inputs": [...], "outputs"?: [...]}`. Each input is
//! `{"name", "shape", "datatype", "parameters"?, "data"?}`: here `obs` and `goal`, `FP32`, shape
//! `[batch, dim]`, the data flat or nested in row-major order, or, with `parameters.binary_data_size`,
//! that many little-endian bytes after the JSON (whose length the `Inference-Header-Content-Length`
//! header gives). Every problem is an [`ApiError`] with the same codes as `/v1` (the v2 routes turn
//! them into v2 error bodies): 400 for anything malformed, never a 5xx.
//!
//! ```
//! use serve::oip::tensor::{parse_infer, Dims};
//! let body = br#"{"id": "7", "inputs": [
//!     {"name": "obs", "shape": [1, 4], "datatype": "FP32", "data": [4, 4, 0, 0]},
//!     {"name": "goal", "shape": [1, 2], "datatype": "FP32", "data": [[12, 4]]}]}"#;
//! let req = parse_infer(body, None, Dims { state: 4, goal: 2 }).unwrap();
//! assert_eq!((req.rows, req.id.as_deref(), req.binary_output), (1, Some("7"), false));
//! assert_eq!((req.obs, req.goal), (vec![4.0, 4.0, 0.0, 0.0], vec![12.0, 4.0]));
//! let bad = br#"{"inputs": [{"name": "obs", "shape": [1, 4], "datatype": "FP64", "data": [0, 0, 0, 0]}]}"#;
//! assert!(parse_infer(bad, None, Dims { state: 4, goal: 2 }).unwrap_err().message.contains("FP32"));
//! ```

use serde_json::{json, Value};

use crate::api::{self, Object, MAX_ROWS};
use crate::error::ApiError;

/// The one datatype the models take and give.
pub const DATATYPE: &str = "FP32";
/// The header that gives the JSON part's length when binary tensor data follows it.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// The widths of the two inputs.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    pub state: usize,
    pub goal: usize,
}

/// A checked inference request: `rows` states and goals, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct InferRequest {
    pub id: Option<String>,
    pub obs: Vec<f32>,
    pub goal: Vec<f32>,
    pub rows: usize,
    /// Answer `action` as binary tensor data rather than JSON numbers.
    pub binary_output: bool,
    /// The request's `parameters.timeout`, in microseconds (Triton's request timeout).
    pub timeout_us: Option<f64>,
}

/// Reads the body of `POST /v2/models/{name}/infer`; `header_length` is the
/// `Inference-Header-Content-Length` header's value, when the request carries binary data.
pub fn parse_infer(body: &[u8], header_length: Option<usize>, dims: Dims) -> Result<InferRequest, ApiError> {
    let (head, mut binary) = match header_length {
        Some(n) if n > body.len() => {
            return Err(ApiError::invalid(format!(
                "{HEADER_LENGTH} says the JSON part is {n} bytes, but the body has only {}",
                body.len()
            )))
        }
        Some(n) => body.split_at(n),
        None => (body, &[][..]),
    };
    let obj = api::parse_object(head)?;
    api::check_fields(&obj, &["id", "parameters", "inputs", "outputs"])?;
    let id = api::opt_str(&obj, "id")?.map(str::to_owned);
    let params = parameters(&obj, "parameters")?;
    let timeout_us = match params.get("timeout") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_f64()
                .filter(|t| t.is_finite() && *t > 0.0)
                .ok_or_else(|| ApiError::invalid("parameters.timeout must be a positive number of microseconds"))?,
        ),
    };
    let request_binary = flag(params, "binary_data_output", "parameters")?.unwrap_or(false);

    let inputs = obj
        .get("inputs")
        .ok_or_else(|| ApiError::invalid("missing field \"inputs\": a v2 request lists its input tensors"))?
        .as_array()
        .ok_or_else(|| ApiError::invalid("inputs must be an array of tensors"))?;
    let (mut obs, mut goal) = (None, None);
    for (i, input) in inputs.iter().enumerate() {
        let t = tensor(input, i, dims, &mut binary)?;
        let slot = if t.name == "obs" { &mut obs } else { &mut goal };
        if slot.replace((t.data, t.rows)).is_some() {
            return Err(ApiError::invalid(format!("input {:?} is given twice", t.name)));
        }
    }
    if !binary.is_empty() {
        return Err(ApiError::invalid(format!(
            "{} bytes follow the inputs' binary data; binary_data_size must cover the body after the JSON",
            binary.len()
        )));
    }
    let missing = |name: &str| ApiError::invalid(format!("missing input {name:?}: the model takes obs and goal"));
    let (obs, rows) = obs.ok_or_else(|| missing("obs"))?;
    let (goal, goal_rows) = goal.ok_or_else(|| missing("goal"))?;
    if rows != goal_rows {
        return Err(ApiError::dimension(format!("obs has {rows} rows but goal has {goal_rows}")));
    }
    let binary_output = outputs(&obj, request_binary)?;
    Ok(InferRequest { id, obs, goal, rows, binary_output, timeout_us })
}

/// One input tensor, checked.
struct Input {
    name: &'static str,
    data: Vec<f32>,
    rows: usize,
}

fn tensor(v: &Value, i: usize, dims: Dims, binary: &mut &[u8]) -> Result<Input, ApiError> {
    let what = format!("inputs[{i}]");
    let t = v.as_object().ok_or_else(|| ApiError::invalid(format!("{what} must be a tensor object")))?;
    api::check_fields(t, &["name", "shape", "datatype", "parameters", "data"])?;
    let (name, dim) = match t.get("name").and_then(Value::as_str) {
        Some("obs") => ("obs", dims.state),
        Some("goal") => ("goal", dims.goal),
        Some(other) => {
            return Err(ApiError::invalid(format!("{what}: unknown input {other:?}; the model takes obs and goal")))
        }
        None => return Err(ApiError::invalid(format!("{what}.name must be \"obs\" or \"goal\""))),
    };
    match t.get("datatype").and_then(Value::as_str) {
        Some(DATATYPE) => {}
        Some(other) => {
            return Err(ApiError::invalid(format!("{name}: datatype {other:?} is not served; send {DATATYPE}")))
        }
        None => return Err(ApiError::invalid(format!("{name}.datatype must be the string {DATATYPE:?}"))),
    }
    let rows = shape(t.get("shape"), name, dim)?;
    let params = parameters(t, name)?;
    if params.keys().any(|k| k.starts_with("shared_memory")) {
        return Err(ApiError::invalid(format!(
            "{name}: shared memory is not supported; send the tensor as data or binary data"
        )));
    }
    let count = rows * dim;
    let data = match (params.get("binary_data_size"), t.get("data")) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(format!("{name} has both data and parameters.binary_data_size; send one")))
        }
        (Some(size), None) => from_binary(size, binary, name, count)?,
        (None, Some(data)) => from_json(data, name, rows, dim)?,
        (None, None) => {
            return Err(ApiError::invalid(format!("{name} has no data and no parameters.binary_data_size")))
        }
    };
    Ok(Input { name, data, rows })
}

/// The batch size of a `[batch, dim]` shape.
fn shape(v: Option<&Value>, name: &str, dim: usize) -> Result<usize, ApiError> {
    let expected = || format!("{name}.shape must be [batch, {dim}] with 1 to {MAX_ROWS} rows");
    let s = v.and_then(Value::as_array).ok_or_else(|| ApiError::invalid(expected()))?;
    let s: Vec<u64> =
        s.iter().map(Value::as_u64).collect::<Option<_>>().ok_or_else(|| ApiError::invalid(expected()))?;
    match s[..] {
        [rows, d] if d != dim as u64 => {
            Err(ApiError::dimension(format!("{name} has shape [{rows}, {d}], expected [batch, {dim}]")))
        }
        [rows, _] if (1..=MAX_ROWS as u64).contains(&rows) => Ok(rows as usize),
        _ => Err(ApiError::invalid(format!("{} (got {s:?})", expected()))),
    }
}

fn from_binary(size: &Value, binary: &mut &[u8], name: &str, count: usize) -> Result<Vec<f32>, ApiError> {
    let size = size
        .as_u64()
        .ok_or_else(|| ApiError::invalid(format!("{name}: parameters.binary_data_size must be a byte count")))?;
    if size != 4 * count as u64 {
        return Err(ApiError::dimension(format!(
            "{name}: binary_data_size is {size} bytes; its shape needs {} ({count} FP32 values)",
            4 * count
        )));
    }
    if binary.len() < 4 * count {
        return Err(ApiError::invalid(format!(
            "{name}: binary_data_size is {size} bytes but only {} follow the JSON (is {HEADER_LENGTH} right?)",
            binary.len()
        )));
    }
    let (mine, rest) = binary.split_at(4 * count);
    *binary = rest;
    let data: Vec<f32> = mine.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    if let Some(i) = data.iter().position(|x| !x.is_finite()) {
        return Err(ApiError::non_finite(format!("{name}[{i}] = {} is not a finite number", data[i])));
    }
    Ok(data)
}

/// Flat (`[x, ...]`, row-major) or nested as the shape (`[[x, ...], ...]`), read by the same
/// checks as `/v1`'s vectors ([`api::numbers`]).
fn from_json(data: &Value, name: &str, rows: usize, dim: usize) -> Result<Vec<f32>, ApiError> {
    let items = data.as_array().ok_or_else(|| ApiError::invalid(format!("{name}.data must be an array of numbers")))?;
    let mut out = Vec::with_capacity(rows * dim);
    if !items.first().is_some_and(Value::is_array) {
        if items.len() != rows * dim {
            return Err(ApiError::dimension(format!(
                "{name}.data has {} values; shape [{rows}, {dim}] needs {}",
                items.len(),
                rows * dim
            )));
        }
        api::numbers(items, name, rows * dim, &mut out)?;
        return Ok(out);
    }
    if items.len() != rows {
        return Err(ApiError::dimension(format!("{name}.data has {} rows, its shape says {rows}", items.len())));
    }
    for (r, row) in items.iter().enumerate() {
        let what = format!("{name}.data[{r}]");
        let row = row.as_array().ok_or_else(|| ApiError::invalid(format!("{what} must be an array")))?;
        api::numbers(row, &what, dim, &mut out)?;
    }
    Ok(out)
}

/// An optional `parameters` object (absent or `null`: empty).
fn parameters<'a>(obj: &'a Object, what: &str) -> Result<&'a Object, ApiError> {
    static EMPTY: std::sync::OnceLock<Object> = std::sync::OnceLock::new();
    match obj.get("parameters") {
        None | Some(Value::Null) => Ok(EMPTY.get_or_init(Object::new)),
        Some(Value::Object(p)) => Ok(p),
        Some(_) => Err(ApiError::invalid(format!("{what}.parameters must be an object"))),
    }
}

fn flag(params: &Object, key: &str, what: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::invalid(format!("{what}.{key} must be true or false"))),
    }
}

/// Whether `action` goes back as binary data: its own `binary_data`, else the request's
/// `binary_data_output`. The only output is `action`.
fn outputs(obj: &Object, request_binary: bool) -> Result<bool, ApiError> {
    let list = match obj.get("outputs") {
        None | Some(Value::Null) => return Ok(request_binary),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(ApiError::invalid("outputs must be an array of {\"name\": ...} objects")),
    };
    let mut binary = request_binary;
    for (i, o) in list.iter().enumerate() {
        let o = o.as_object().ok_or_else(|| ApiError::invalid(format!("outputs[{i}] must be an object")))?;
        api::check_fields(o, &["name", "parameters"])?;
        match o.get("name").and_then(Value::as_str) {
            Some("action") => {}
            other => {
                return Err(ApiError::invalid(format!(
                    "outputs[{i}]: unknown output {other:?}; the model gives action"
                )))
            }
        }
        let params = parameters(o, "action")?;
        if params.contains_key("classification") || params.keys().any(|k| k.starts_with("shared_memory")) {
            return Err(ApiError::invalid("action: classification and shared memory outputs are not supported"));
        }
        binary = flag(params, "binary_data", "action.parameters")?.unwrap_or(request_binary);
    }
    Ok(binary)
}

/// A response body: the JSON header, then (binary outputs) the raw action bytes.
pub struct InferResponse {
    pub body: Vec<u8>,
    /// The JSON part's length when binary data follows it (for [`HEADER_LENGTH`]).
    pub header_length: Option<usize>,
}

/// The v2 response for `rows` actions of `action_dim` values; `parameters` carries the server's timing.
pub fn infer_response(
    model: &str,
    req: &InferRequest,
    actions: &[f32],
    action_dim: usize,
    parameters: Value,
) -> InferResponse {
    let mut output = json!({ "name": "action", "datatype": DATATYPE, "shape": [req.rows, action_dim] });
    if req.binary_output {
        output["parameters"] = json!({ "binary_data_size": 4 * actions.len() });
    } else {
        output["data"] = json!(actions);
    }
    let mut head =
        json!({ "model_name": model, "model_version": super::VERSION, "outputs": [output], "parameters": parameters });
    if let Some(id) = &req.id {
        head["id"] = json!(id);
    }
    let mut body = head.to_string().into_bytes();
    if !req.binary_output {
        return InferResponse { body, header_length: None };
    }
    let header_length = Some(body.len());
    body.extend(actions.iter().flat_map(|x| x.to_le_bytes()));
    InferResponse { body, header_length }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIMS: Dims = Dims { state: 4, goal: 2 };

    fn input(name: &str, shape: Value, data: Value) -> Value {
        json!({ "name": name, "shape": shape, "datatype": "FP32", "data": data })
    }

    fn request(inputs: Vec<Value>) -> Vec<u8> {
        json!({ "inputs": inputs }).to_string().into_bytes()
    }

    fn code(body: &[u8], header: Option<usize>) -> &'static str {
        parse_infer(body, header, DIMS).err().map_or("ok", |e| e.code)
    }

    fn good() -> Vec<Value> {
        vec![
            input("obs", json!([2, 4]), json!([1, 2, 3, 4, 5, 6, 7, 8])),
            input("goal", json!([2, 2]), json!([[1, 2], [3, 4]])),
        ]
    }

    /// `tritonclient`'s layout: the JSON, then each binary input's bytes in input order.
    fn binary_request(obs: &[f32], goal: &[f32], rows: usize, extra: Value) -> (Vec<u8>, usize) {
        let b = |name: &str, d: usize, n: usize| json!({ "name": name, "shape": [rows, d], "datatype": "FP32", "parameters": { "binary_data_size": 4 * n } });
        let mut head = json!({ "inputs": [b("obs", 4, obs.len()), b("goal", 2, goal.len())] });
        for (k, v) in extra.as_object().unwrap() {
            head[k] = v.clone();
        }
        let mut body = head.to_string().into_bytes();
        let n = body.len();
        body.extend(obs.iter().chain(goal).flat_map(|x| x.to_le_bytes()));
        (body, n)
    }

    #[test]
    fn flat_nested_and_binary_data_read_the_same_rows() {
        let json_req = parse_infer(&request(good()), None, DIMS).unwrap();
        let obs = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let (body, n) = binary_request(&obs, &[1.0, 2.0, 3.0, 4.0], 2, json!({}));
        let bin_req = parse_infer(&body, Some(n), DIMS).unwrap();
        assert_eq!(json_req, bin_req);
        assert_eq!((json_req.rows, json_req.obs, json_req.goal), (2, obs.to_vec(), vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn each_kind_of_bad_tensor_is_a_400_with_its_code() {
        let with = |i: usize, key: &str, v: Value| {
            let mut inputs = good();
            inputs[i][key] = v;
            request(inputs)
        };
        assert_eq!(code(&request(good()), None), "ok");
        assert_eq!(code(b"{\"inputs\": [", None), "malformed_json");
        assert_eq!(code(b"[1, 2]", None), "invalid_request");
        assert_eq!(code(br#"{"obs": [1, 2, 3, 4], "goal": [1, 2]}"#, None), "invalid_request", "a /v1 body");
        assert_eq!(code(&with(0, "datatype", json!("FP64")), None), "invalid_request");
        assert_eq!(code(&with(0, "datatype", json!(1)), None), "invalid_request");
        assert_eq!(code(&with(0, "name", json!("state")), None), "invalid_request");
        assert_eq!(code(&request(vec![good()[0].clone(), good()[0].clone()]), None), "invalid_request", "obs twice");
        assert_eq!(code(&with(0, "shape", json!([0, 4])), None), "invalid_request", "batch 0");
        assert_eq!(code(&with(0, "shape", json!([4])), None), "invalid_request", "rank 1");
        assert_eq!(code(&with(0, "shape", json!([2, 4, 1])), None), "invalid_request", "rank 3");
        assert_eq!(code(&with(0, "shape", json!([2, -4])), None), "invalid_request");
        assert_eq!(code(&with(0, "shape", json!([2, 3])), None), "wrong_dimension");
        assert_eq!(code(&with(0, "shape", json!([1, 4])), None), "wrong_dimension", "data for 2 rows");
        assert_eq!(code(&with(0, "shape", json!([MAX_ROWS + 1, 4])), None), "invalid_request");
        assert_eq!(code(&with(1, "shape", json!([1, 2])), None), "wrong_dimension");
        assert_eq!(code(&with(1, "data", json!([[1, 2], [3]])), None), "wrong_dimension");
        assert_eq!(code(&with(1, "data", json!([[1, 2], 3])), None), "invalid_request");
        assert_eq!(code(&with(0, "data", json!([1, 2, 3, 4, 5, 6, 7, "8"])), None), "invalid_request");
        assert_eq!(code(&with(0, "data", json!([1, 2, 3, 4, 5, 6, 7, 1e39])), None), "non_finite");
        assert_eq!(code(&with(0, "data", json!("1 2 3")), None), "invalid_request");
        assert_eq!(code(&with(0, "extra", json!(1)), None), "invalid_request");
        assert_eq!(code(&with(0, "parameters", json!({ "shared_memory_region": "r" })), None), "invalid_request");
        assert_eq!(code(&with(0, "parameters", json!({ "binary_data_size": 32 })), None), "invalid_request", "both");
        let mut no_data = good();
        no_data[0].as_object_mut().unwrap().remove("data");
        assert_eq!(code(&request(no_data), None), "invalid_request");
        assert_eq!(code(&request(vec![good()[0].clone()]), None), "invalid_request", "goal missing");
        assert_eq!(code(br#"{"inputs": {}}"#, None), "invalid_request");
        assert_eq!(code(br#"{"inputs": [], "extra": 1}"#, None), "invalid_request");
        assert_eq!(code(br#"{"id": 7, "inputs": []}"#, None), "invalid_request");
        let mut short_goal = good();
        short_goal[1] = input("goal", json!([1, 2]), json!([1, 2]));
        assert_eq!(code(&request(short_goal), None), "wrong_dimension", "2 obs rows, 1 goal row");
    }

    #[test]
    fn bad_binary_data_is_a_400_and_nan_is_non_finite() {
        let obs = [1.0, 2.0, 3.0, 4.0];
        let (body, n) = binary_request(&obs, &[1.0, 2.0], 1, json!({}));
        assert_eq!(code(&body, Some(n)), "ok");
        assert_eq!(code(&body, Some(body.len() + 1)), "invalid_request", "header longer than the body");
        assert_eq!(code(&body, None), "malformed_json", "binary bytes read as JSON");
        assert_eq!(code(&body[..body.len() - 1], Some(n)), "invalid_request", "truncated");
        let mut longer = body.clone();
        longer.push(0);
        assert_eq!(code(&longer, Some(n)), "invalid_request", "trailing bytes");
        let (nan, n) = binary_request(&[1.0, f32::NAN, 3.0, 4.0], &[1.0, 2.0], 1, json!({}));
        assert_eq!(code(&nan, Some(n)), "non_finite");
        let (inf, n) = binary_request(&obs, &[f32::INFINITY, 2.0], 1, json!({}));
        assert_eq!(code(&inf, Some(n)), "non_finite");
        let (wrong, n) = binary_request(&obs[..3], &[1.0, 2.0], 1, json!({}));
        assert_eq!(code(&wrong, Some(n)), "wrong_dimension", "12 bytes for a [1, 4] tensor");
    }

    #[test]
    fn outputs_and_parameters_choose_binary_and_unknown_parameters_are_ignored() {
        let binary_of = |extra: Value| {
            let (body, n) = binary_request(&[0.0; 4], &[0.0; 2], 1, extra);
            parse_infer(&body, Some(n), DIMS).map(|r| r.binary_output)
        };
        assert_eq!(binary_of(json!({})), Ok(false));
        assert_eq!(binary_of(json!({ "parameters": { "binary_data_output": true, "priority": 3 } })), Ok(true));
        assert_eq!(
            binary_of(json!({ "outputs": [{ "name": "action", "parameters": { "binary_data": true } }] })),
            Ok(true)
        );
        let both = json!({ "parameters": { "binary_data_output": true }, "outputs": [{ "name": "action", "parameters": { "binary_data": false } }] });
        assert_eq!(binary_of(both), Ok(false), "the output's own setting wins");
        assert_eq!(binary_of(json!({ "outputs": [{ "name": "action" }] })), Ok(false));
        let bad = |extra: Value| binary_of(extra).unwrap_err().code;
        assert_eq!(bad(json!({ "outputs": [{ "name": "value" }] })), "invalid_request");
        assert_eq!(
            bad(json!({ "outputs": [{ "name": "action", "parameters": { "classification": 3 } }] })),
            "invalid_request"
        );
        assert_eq!(bad(json!({ "parameters": { "binary_data_output": "yes" } })), "invalid_request");
        assert_eq!(bad(json!({ "parameters": { "timeout": -1 } })), "invalid_request");
        assert_eq!(bad(json!({ "parameters": [] })), "invalid_request");
        let (body, n) = binary_request(&[0.0; 4], &[0.0; 2], 1, json!({ "parameters": { "timeout": 2500 } }));
        assert_eq!(parse_infer(&body, Some(n), DIMS).unwrap().timeout_us, Some(2500.0));
    }

    #[test]
    fn a_response_is_json_or_json_then_little_endian_bytes() {
        let mut req = parse_infer(&request(good()), None, DIMS).unwrap();
        req.id = Some("a1".into());
        let actions = [0.5, -0.25, 1.0, 0.0];
        let plain = infer_response("controller", &req, &actions, 2, json!({}));
        assert_eq!(plain.header_length, None);
        let v: Value = serde_json::from_slice(&plain.body).unwrap();
        assert_eq!(v["id"], "a1");
        assert_eq!(v["model_name"], "controller");
        assert_eq!(
            v["outputs"][0],
            json!({ "name": "action", "datatype": "FP32", "shape": [2, 2], "data": [0.5, -0.25, 1.0, 0.0] })
        );
        req.binary_output = true;
        let bin = infer_response("controller", &req, &actions, 2, json!({}));
        let n = bin.header_length.unwrap();
        let v: Value = serde_json::from_slice(&bin.body[..n]).unwrap();
        assert_eq!(v["outputs"][0]["parameters"]["binary_data_size"], 16);
        assert!(v["outputs"][0].get("data").is_none());
        let back: Vec<f32> = bin.body[n..].chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        assert_eq!(back, actions);
    }
}
