//! Reading request bodies: every body is parsed and checked here, field by field, so each problem
//! gets its own status and a message that says what was expected (DESIGN.md section 8): not JSON →
//! `malformed_json`; not an object, a missing, unknown or mistyped field → `invalid_request`; a vector
//! of the wrong length → `wrong_dimension`; NaN, ±Inf or a number too large for `f32` →
//! `non_finite`. Numbers that JSON cannot carry (NaN, Infinity) fail as malformed JSON.
//!
//! ```
//! use serve::api::{parse_object, vector};
//! let obj = parse_object(br#"{"obs": [1, 2.5, 0, 0]}"#).unwrap();
//! assert_eq!(vector(&obj, "obs", 4).unwrap(), vec![1.0, 2.5, 0.0, 0.0]);
//! assert_eq!(vector(&obj, "obs", 3).unwrap_err().code, "wrong_dimension");
//! assert_eq!(parse_object(b"{\"obs\": [1e39]}").map(|o| vector(&o, "obs", 1).unwrap_err().code).unwrap(), "non_finite");
//! ```

use serde_json::{Map, Value};

use crate::error::ApiError;

/// Most rows one `/v1/act` request may carry.
pub const MAX_ROWS: usize = 1024;

pub type Object = Map<String, Value>;

/// The body as a JSON object.
pub fn parse_object(body: &[u8]) -> Result<Object, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::malformed(format!("the body is not valid JSON: {e}")))?;
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(ApiError::invalid(format!("the body must be a JSON object, not {}", kind(&other)))),
    }
}

/// Refuses fields other than `allowed` (a misspelt optional field would otherwise be ignored).
pub fn check_fields(obj: &Object, allowed: &[&str]) -> Result<(), ApiError> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::invalid(format!("unknown field {k:?}; this route takes {}", allowed.join(", ")))),
        None => Ok(()),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn required<'a>(obj: &'a Object, field: &str) -> Result<&'a Value, ApiError> {
    obj.get(field).ok_or_else(|| ApiError::invalid(format!("missing field {field:?}")))
}

/// One finite `f32` from a JSON number.
fn number(v: &Value, what: &str) -> Result<f32, ApiError> {
    let x = v.as_f64().ok_or_else(|| ApiError::invalid(format!("{what} must be a number, not {}", kind(v))))?;
    let y = x as f32;
    if !y.is_finite() {
        return Err(ApiError::non_finite(format!("{what} = {x} is not a finite 32-bit float")));
    }
    Ok(y)
}

/// Appends exactly `dim` finite numbers from `items` to `out` (`field` names them in errors).
pub(crate) fn numbers(items: &[Value], field: &str, dim: usize, out: &mut Vec<f32>) -> Result<(), ApiError> {
    if items.len() != dim {
        return Err(ApiError::dimension(format!("{field} has {} values, expected {dim}", items.len())));
    }
    for (i, v) in items.iter().enumerate() {
        out.push(number(v, &format!("{field}[{i}]"))?);
    }
    Ok(())
}

/// Checks a vector already decoded as `f32` (a stream frame): exactly `dim` finite values.
pub(crate) fn check_floats(values: &[f32], field: &str, dim: usize) -> Result<(), ApiError> {
    if values.len() != dim {
        return Err(ApiError::dimension(format!("{field} has {} values, expected {dim}", values.len())));
    }
    match values.iter().position(|x| !x.is_finite()) {
        Some(i) => Err(ApiError::non_finite(format!("{field}[{i}] = {} is not a finite 32-bit float", values[i]))),
        None => Ok(()),
    }
}

/// A required vector of exactly `dim` finite numbers.
pub fn vector(obj: &Object, field: &str, dim: usize) -> Result<Vec<f32>, ApiError> {
    let items = required(obj, field)?
        .as_array()
        .ok_or_else(|| ApiError::invalid(format!("{field} must be an array of {dim} numbers")))?;
    let mut out = Vec::with_capacity(dim);
    numbers(items, field, dim, &mut out)?;
    Ok(out)
}

/// An optional vector (`null` counts as absent).
pub fn opt_vector(obj: &Object, field: &str, dim: usize) -> Result<Option<Vec<f32>>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => vector(obj, field, dim).map(Some),
    }
}

/// One row (`[x, ...]`) or a batch of rows (`[[x, ...], ...]`) of `dim` numbers: the values, row
/// count, and whether it was a batch.
pub fn rows(obj: &Object, field: &str, dim: usize) -> Result<(Vec<f32>, usize, bool), ApiError> {
    let items = required(obj, field)?.as_array().ok_or_else(|| {
        ApiError::invalid(format!("{field} must be an array of {dim} numbers or an array of such arrays"))
    })?;
    if !items.first().is_some_and(Value::is_array) {
        return vector(obj, field, dim).map(|v| (v, 1, false));
    }
    if items.len() > MAX_ROWS {
        return Err(ApiError::invalid(format!("{field} has {} rows; at most {MAX_ROWS} per request", items.len())));
    }
    let mut out = Vec::with_capacity(items.len() * dim);
    for (r, row) in items.iter().enumerate() {
        let name = format!("{field}[{r}]");
        let row =
            row.as_array().ok_or_else(|| ApiError::invalid(format!("{name} must be an array of {dim} numbers")))?;
        numbers(row, &name, dim, &mut out)?;
    }
    Ok((out, items.len(), true))
}

/// An optional number (`null` counts as absent).
pub fn opt_number(obj: &Object, field: &str) -> Result<Option<f64>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => {
            v.as_f64().map(Some).ok_or_else(|| ApiError::invalid(format!("{field} must be a number, not {}", kind(v))))
        }
    }
}

/// An optional string (`null` counts as absent).
pub fn opt_str<'a>(obj: &'a Object, field: &str) -> Result<Option<&'a str>, ApiError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(ApiError::invalid(format!("{field} must be a string, not {}", kind(v)))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str, f: impl Fn(&Object) -> Result<(), ApiError>) -> &'static str {
        match parse_object(body.as_bytes()) {
            Ok(obj) => f(&obj).err().map_or("ok", |e| e.code),
            Err(e) => e.code,
        }
    }

    #[test]
    fn each_kind_of_bad_input_has_its_code() {
        let obs = |o: &Object| vector(o, "obs", 2).map(drop);
        assert_eq!(code(r#"{"obs": [1, 2]}"#, obs), "ok");
        assert_eq!(code(r#"{"obs": [1, 2"#, obs), "malformed_json");
        assert_eq!(code(r#"{"obs": [NaN, 2]}"#, obs), "malformed_json");
        assert_eq!(code(r#"[1, 2]"#, obs), "invalid_request");
        assert_eq!(code(r#"{}"#, obs), "invalid_request");
        assert_eq!(code(r#"{"obs": "x"}"#, obs), "invalid_request");
        assert_eq!(code(r#"{"obs": [1, "2"]}"#, obs), "invalid_request");
        assert_eq!(code(r#"{"obs": [1, 2, 3]}"#, obs), "wrong_dimension");
        assert_eq!(code(r#"{"obs": [1, -1e300]}"#, obs), "non_finite");
        assert_eq!(code(r#"{"obs": [1, 2], "x": 1}"#, |o| check_fields(o, &["obs"])), "invalid_request");
    }

    #[test]
    fn rows_take_one_vector_or_a_batch() {
        let obj =
            parse_object(br#"{"a": [1, 2], "b": [[1, 2], [3, 4]], "c": [[1, 2], [3]], "d": [[1, 2], 3]}"#).unwrap();
        assert_eq!(rows(&obj, "a", 2).unwrap(), (vec![1.0, 2.0], 1, false));
        assert_eq!(rows(&obj, "b", 2).unwrap(), (vec![1.0, 2.0, 3.0, 4.0], 2, true));
        assert_eq!(rows(&obj, "c", 2).unwrap_err().code, "wrong_dimension");
        assert_eq!(rows(&obj, "d", 2).unwrap_err().code, "invalid_request");
        let empty = parse_object(br#"{"e": []}"#).unwrap();
        assert_eq!(rows(&empty, "e", 2).unwrap_err().code, "wrong_dimension");
    }
}
