//! The robot side of the deepcrl HTTP API (DESIGN.md section 8): one [`Client`] per server, shared by
//! every robot on a machine (it pools connections), with the control period as each act's deadline.
//!
//! Control requests never fail loudly: a late answer, an error status or a timeout is `None`, and the
//! robot keeps its last action, as a real controller must. Requests outside the control loop
//! (readiness, sessions) are errors that say what went wrong.

use std::time::Duration;

use crate::error::{Result, RobotError};
use reqwest::Method;
use serde_json::Value;

/// The environment variable both the server and its robots read the API key from.
pub const API_KEY_ENV: &str = "DEEPCRL_API_KEY";

/// An act's answer: the action, the server's own time in µs, and whether it steered straight to the
/// goal for lack of a fresh plan.
pub type Act = (Vec<f32>, u64, bool);

/// A connection pool to one server, for robots with one control period.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    period: Duration,
}

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:8080`), keeping up to `robots` idle
    /// connections so each robot reuses its own.
    pub fn new(base: &str, key: Option<String>, period: Duration, robots: usize) -> Result<Self> {
        let http = reqwest::Client::builder().pool_max_idle_per_host(robots.max(1)).tcp_nodelay(true).build()?;
        Ok(Client { http, base: base.trim_end_matches('/').to_string(), key, period })
    }

    /// `req` with the API key, when there is one.
    fn authed(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.key {
            Some(k) => req.bearer_auth(k),
            None => req,
        }
    }

    /// The control period: every act's deadline and timeout.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Fails unless the server answers `/readyz` with success.
    pub async fn check_ready(&self) -> Result<()> {
        let ready = self
            .http
            .get(format!("{}/readyz", self.base))
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|source| RobotError::Unreachable { base: self.base.clone(), source })?;
        if !ready.status().is_success() {
            return Err(RobotError::NotReady { base: self.base.clone(), status: ready.status() });
        }
        Ok(())
    }

    /// A request outside the control loop (sessions): status and JSON answer (`null` if not JSON).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
        let mut req =
            self.authed(self.http.request(method, format!("{}{path}", self.base))).timeout(Duration::from_secs(10));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
    }

    /// One control request under the period's deadline (`x-deadline-ms`); `None` on anything but a
    /// well-formed 200 in time.
    pub async fn act(&self, path: &str, body: Value) -> Option<Act> {
        let deadline = format!("{:.3}", self.period.as_secs_f64() * 1e3);
        let req = self.authed(self.http.post(format!("{}{path}", self.base)));
        let resp = req.header("x-deadline-ms", deadline).timeout(self.period).json(&body).send().await.ok()?;
        if resp.status() != 200 {
            return None;
        }
        let v: Value = serde_json::from_slice(&resp.bytes().await.ok()?).ok()?;
        let action =
            v["action"].as_array()?.iter().map(|x| x.as_f64().map(|f| f as f32)).collect::<Option<Vec<_>>>()?;
        Some((action, v["server_timing"]["total_us"].as_u64().unwrap_or(0), v["fallback"].as_bool().unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_absent_server_is_an_error_that_says_how_to_start_one() {
        // A port that was free a moment ago: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let client = Client::new(&format!("http://127.0.0.1:{port}/"), None, Duration::from_millis(5), 1).unwrap();
        let e = client.check_ready().await.unwrap_err();
        assert!(matches!(e, RobotError::Unreachable { .. }), "{e:?}");
        assert!(e.to_string().contains("cargo serve") && !e.to_string().contains("//readyz"), "{e}");
        assert_eq!(client.act("/v1/act", serde_json::json!({})).await, None, "a control request fails quietly");
    }
}
