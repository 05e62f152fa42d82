//! deepcrl `serve`: the hierarchical planner/controller server for robots (DESIGN.md section 8). The
//! robot side (an HTTP client and the `robot-sim` simulated robots) is the `robot` crate.
//!
//! The deep teacher is too slow to act at a robot's control rate, so it plans: a background thread
//! ([`planner`]) refreshes each session's plan (waypoints through the run's bank, searched on a
//! graph weighted by the deep critic) a few times a second, batched across sessions. The
//! shallow student acts on every request ([`controller`]: micro-batched, allocation-free), steering to
//! the session's active waypoint ([`sessions`]); no act ever waits for the planner.
//!
//! - [`config`]: `ServeConfig`. [`loaded`]: reading and checking the models. [`engine`]: the loaded
//!   server, warm-up and hot reload. [`server`]: start, readiness, graceful shutdown.
//! - [`routes`], [`api`], [`error`]: the HTTP API and its error contract; [`failure`]: the library's
//!   error type (start, load, reload). [`metrics`], [`openapi`].
//! - [`oip`]: the Open Inference Protocol v2 beside `/v1`, for Triton's and KServe's clients.

pub mod api;
pub mod config;
pub mod controller;
pub mod engine;
pub mod error;
pub mod failure;
pub mod loaded;
pub mod metrics;
pub mod oip;
pub mod openapi;
pub mod planner;
pub mod routes;
pub mod server;
pub mod sessions;
pub mod stream;

pub use config::ServeConfig;
pub use server::{start, App, Running};
