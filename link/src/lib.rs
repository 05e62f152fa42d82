//! deepcrl `link`: what the server and a robot must agree on, in one place, so they never drift.
//!
//! - [`follow`]: the plan-following rule (advance the active waypoint within the radius, fall back to
//!   the commanded goal when there is no plan or it is too old). The server's controller applies it
//!   per act; a robot running the student on board applies the same function to its copy of the plan.
//! - [`wire`]: the session stream's messages (`GET /v1/sessions/{id}/stream`), as MessagePack in binary
//!   frames and as the same maps in JSON text frames.
//!
//! No ML stack and no server: the robot's ARM build links it unchanged.

pub mod follow;
pub mod wire;
