//! Shared fixtures for the serve tests: a tiny teacher (actor + critic, depth 4, width 16), its
//! waypoint bank and an actor-only student, written the way `train` and `distill` lay out a run.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use models::bank::{BankInfo, WaypointBank};
use models::{checkpoint, Model, ModelConfig};
use serde_json::Value;
use serve::ServeConfig;

/// The U-maze's free cells, centred at (4i, 4j): the bank's states (x, y, vx, vy).
pub const BANK_XY: [[f32; 2]; 7] =
    [[4.0, 4.0], [4.0, 8.0], [4.0, 12.0], [8.0, 12.0], [12.0, 12.0], [12.0, 8.0], [12.0, 4.0]];

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub run: PathBuf,
    pub student: PathBuf,
}

pub fn teacher_config() -> ModelConfig {
    ModelConfig::point_maze(4).with_width(16)
}

pub fn student_model(seed: u64, parent: &Path) -> Model {
    let mut cfg = ModelConfig::point_maze(4).with_width(16);
    cfg.critic_depth = 0;
    cfg.parent = Some(parent.join("teacher.safetensors").display().to_string());
    Model::init(&cfg, seed).unwrap()
}

/// Writes a run (teacher + bank) and a student into a fresh temporary directory.
pub fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let teacher = Model::init(&teacher_config(), 7).unwrap();
    checkpoint::save(&teacher, &run.join("teacher.safetensors")).unwrap();
    let states: Vec<f32> = BANK_XY.iter().flat_map(|p| [p[0], p[1], 0.0, 0.0]).collect();
    let info = BankInfo { env: "point_u_maze".into(), goal_indices: vec![0, 1], selection: "test fixture".into() };
    WaypointBank::from_rows(info, 4, &states, &(0..BANK_XY.len()).collect::<Vec<_>>())
        .save(&run.join("bank.safetensors"))
        .unwrap();
    let student = run.join("students").join("s4");
    checkpoint::save(&student_model(11, &run), &student.join("student.safetensors")).unwrap();
    Fixture { dir, run, student }
}

impl Fixture {
    /// A config on an ephemeral port with quick planning.
    pub fn config(&self) -> ServeConfig {
        let mut cfg = ServeConfig::new(&self.run, &self.student);
        cfg.addr = "127.0.0.1:0".into();
        cfg.plan_hz = 20.0;
        cfg.horizon = 4;
        cfg.edge_quantile = 0.5;
        cfg
    }
}

/// A small HTTP client for one server.
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub key: Option<String>,
}

impl Client {
    pub fn new(base: String) -> Self {
        Client { base, http: reqwest::Client::new(), key: None }
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(k) = &self.key {
            req = req.bearer_auth(k);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b.to_string());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.send("POST", path, Some(body), &[]).await
    }
}

/// Asserts the error contract: the status, and `{"error": {"code", "message"}}` with this code.
pub fn assert_error(got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{:?}", got.1);
    assert_eq!(got.1["error"]["code"], code, "{:?}", got.1);
    assert!(got.1["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{:?}", got.1);
}
