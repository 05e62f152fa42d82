//! deepcrl `robot`: the robot side of the server's HTTP API, without the ML stack or the server.
//!
//! - [`client`]: a pooled HTTP client for `/v1/act` and sessions, with the control period as deadline.
//! - [`error`]: `RobotError`, the crate's one error type.
//! - [`sim`]: simulated robots (built-in environments stepped in real time) behind the `robot-sim`
//!   binary, reporting success, time at goal and latency per mode.

pub mod client;
pub mod error;
pub mod sim;
