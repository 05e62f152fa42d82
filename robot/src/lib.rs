//! deepcrl `robot`: the robot side of the server's API, without the server.
//!
//! - [`client`]: a pooled HTTP client for `/v1/act` and sessions, with the control period as deadline.
//! - [`stream`]: the session stream's client (WebSocket, MessagePack), reconnecting on its own.
//! - [`onboard`]: the student on the robot, checked against the server's contract.
//! - `episode`: one simulated robot's episodes in each mode, failing closed on stale answers.
//! - [`error`]: `RobotError`, the crate's one error type.
//! - [`netlab`]: a TCP forwarder adding delay and jitter, for the Wi-Fi lab (`netlab-proxy`).
//! - [`sim`]: simulated robots (built-in environments stepped in real time) behind the `robot-sim`
//!   binary, reporting success, time at goal and latency per mode.

pub mod client;
pub(crate) mod episode;
pub mod error;
pub mod netlab;
pub mod onboard;
pub mod sim;
pub mod stream;
