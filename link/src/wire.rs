//! The session stream's messages (`GET /v1/sessions/{id}/stream`, a WebSocket).
//!
//! Every message is a map with a `type` field. Binary frames carry MessagePack (maps with field names,
//! arrays, numbers, strings and nil; no extension types), text frames the same maps as JSON, for
//! debugging by hand. The server's first message is always a [`Contract`]; after it, in `act` mode the
//! robot sends [`Obs`] and gets an [`Action`] for each, and in `plans` mode the server pushes a
//! [`PlanMsg`] at every refresh while the robot reports its state with [`Obs`] (answered by nothing).
//! Any message may be answered by an [`ErrorMsg`] with the same status and code as the HTTP API.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::follow::Fallback;

/// The stream's version, in the contract; a robot that does not know it must not move.
pub const PROTOCOL: u32 = 1;

/// What the session's stream carries after the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamMode {
    /// Observations in, actions out, every tick (the server runs the student).
    Act,
    /// Plans pushed at every refresh (the robot runs the student itself).
    Plans,
}

impl StreamMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "act" => Some(StreamMode::Act),
            "plans" => Some(StreamMode::Plans),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StreamMode::Act => "act",
            StreamMode::Plans => "plans",
        }
    }
}

/// Which encoding the server writes (the robot may send either).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// Binary frames of MessagePack.
    Msgpack,
    /// Text frames of JSON.
    Json,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "msgpack" => Some(Format::Msgpack),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One model as the contract names it: a robot checks its own file's SHA-256 against this.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelId {
    /// Hex SHA-256 of the checkpoint file's bytes.
    pub sha256: String,
    /// Hex SHA-256 of its ONNX export on the server (`student.onnx` beside `student.safetensors`),
    /// for a robot that runs the export; `None` when the server has none.
    pub onnx_sha256: Option<String>,
    /// The checkpoint's path on the server (where to fetch it from).
    pub checkpoint: String,
    pub actor_depth: usize,
    pub width: usize,
}

/// The server's first message: everything both ends must agree on before the robot moves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    pub protocol: u32,
    pub session_id: String,
    pub mode: StreamMode,
    pub env: String,
    pub state_dim: usize,
    pub goal_dim: usize,
    pub action_dim: usize,
    /// Which state entries are the robot's position in goal space.
    pub goal_indices: Vec<usize>,
    pub controller: ModelId,
    pub planner: ModelId,
    /// The session's commanded goal.
    pub goal: Vec<f32>,
    /// Plan refreshes per second for this session.
    pub plan_hz: f64,
    /// The plan-following rule ([`crate::follow::Rule`]).
    pub max_plan_age_ms: f64,
    pub advance_radius: f32,
    /// An observation stamped longer ago than this is refused (`stale_observation`).
    pub max_obs_age_ms: f64,
    /// An action not ready this long after its observation arrived is refused (`deadline_exceeded`),
    /// unless the observation sets its own `deadline_ms`.
    pub deadline_ms: f64,
    /// Largest frame the server reads; a larger one closes the stream (1009).
    pub max_frame_bytes: usize,
    /// Server messages that may wait for a robot that does not read; then the stream closes (1008).
    pub queue_frames: usize,
    /// The server pings this often, and closes a stream silent for three intervals.
    pub ping_interval_ms: u64,
    /// A session outlives its stream this long: reconnecting within it resumes the same plan and goal.
    pub session_ttl_s: f64,
}

/// An observation (robot → server).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Obs {
    /// The robot's counter; the answer carries it back.
    pub seq: u64,
    pub state: Vec<f32>,
    /// When it was observed, in milliseconds since the Unix epoch on the robot's clock (optional; the
    /// server refuses one older than the contract's `max_obs_age_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stamp_ms: Option<f64>,
    /// This observation's budget in milliseconds from its arrival (default: the contract's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<f64>,
}

/// A new commanded goal (robot → server); the server answers with [`GoalSet`] and plans anew.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalMsg {
    pub goal: Vec<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Vec<f32>>,
}

/// Messages a robot sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToServer {
    Obs(Obs),
    Goal(GoalMsg),
}

/// The answer to one observation in `act` mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    pub seq: u64,
    pub action: Vec<f32>,
    /// The waypoint steered to (goal space): a plan's, or the commanded goal on fallback.
    pub waypoint: Vec<f32>,
    pub waypoint_index: Option<usize>,
    pub plan_id: Option<u64>,
    pub plan_age_ms: Option<f64>,
    pub fallback: Option<Fallback>,
    /// From the frame's arrival to the answer being queued, in µs.
    pub server_us: u64,
}

/// A plan pushed in `plans` mode (and, after a reconnect, the current one again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanMsg {
    pub plan_id: u64,
    pub version: u64,
    /// How old the plan was when sent, in milliseconds (so the robot's clock need not match).
    pub age_ms: f64,
    pub waypoints: Vec<Vec<f32>>,
    pub goal: Vec<f32>,
    /// `graph`, `direct` or `unreachable`.
    pub source: String,
}

/// The answer to a [`GoalMsg`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoalSet {
    pub goal: Vec<f32>,
}

/// A refused message, with the HTTP API's status and code (`invalid_request`, `wrong_dimension`,
/// `non_finite`, `malformed_frame`, `stale_observation`, `deadline_exceeded`, `overloaded`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorMsg {
    /// The observation's `seq`, when the refused message had one.
    pub seq: Option<u64>,
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ToRobot {
    Contract(Box<Contract>),
    Action(Action),
    Plan(PlanMsg),
    GoalSet(GoalSet),
    Error(ErrorMsg),
}

/// A message ready for the socket.
#[derive(Clone, Debug, PartialEq)]
pub enum Encoded {
    Binary(Vec<u8>),
    Text(String),
}

/// Encodes `msg` in `format`. Our messages hold only maps, arrays, numbers and strings, which both
/// encoders always take.
pub fn encode<T: Serialize>(msg: &T, format: Format) -> Encoded {
    match format {
        Format::Msgpack => Encoded::Binary(rmp_serde::to_vec_named(msg).unwrap_or_default()),
        Format::Json => Encoded::Text(serde_json::to_string(msg).unwrap_or_default()),
    }
}

/// Decodes a binary (MessagePack) frame.
pub fn decode_binary<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    rmp_serde::from_slice(bytes).map_err(|e| format!("the binary frame is not a valid message in MessagePack: {e}"))
}

/// Decodes a text (JSON) frame.
pub fn decode_text<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("the text frame is not a valid message in JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs() -> ToServer {
        ToServer::Obs(Obs { seq: 3, state: vec![0.5, -1.25, 0.0, 2.0], stamp_ms: Some(1.7e12), deadline_ms: None })
    }

    #[test]
    fn both_encodings_round_trip_and_carry_the_same_map() {
        for format in [Format::Msgpack, Format::Json] {
            let back: ToServer = match encode(&obs(), format) {
                Encoded::Binary(b) => decode_binary(&b).unwrap(),
                Encoded::Text(t) => decode_text(&t).unwrap(),
            };
            assert_eq!(back, obs());
        }
        let Encoded::Binary(b) = encode(&obs(), Format::Msgpack) else { panic!() };
        // The MessagePack map, read without our types, has the JSON's fields and values.
        let generic: serde_json::Value = rmp_serde::from_slice(&b).unwrap();
        assert_eq!(generic, serde_json::to_value(obs()).unwrap());
        assert_eq!(generic["type"], "obs");
    }

    #[test]
    fn a_robot_in_another_language_may_send_doubles_and_integers() {
        // As Python's msgpack packs a dict of floats: float64 values, an int where a float is expected.
        let msg = serde_json::json!({ "type": "obs", "seq": 1, "state": [1, 2.5, -3.0, 0.0] });
        let bytes = rmp_serde::to_vec_named(&msg).unwrap();
        let ToServer::Obs(o) = decode_binary::<ToServer>(&bytes).unwrap() else { panic!() };
        assert_eq!(o.state, vec![1.0, 2.5, -3.0, 0.0]);
    }

    #[test]
    fn malformed_frames_say_what_is_wrong() {
        assert!(decode_binary::<ToServer>(&[0xc1, 0x00]).unwrap_err().contains("MessagePack"));
        let unknown = serde_json::json!({ "type": "obs", "seq": 1, "state": [0.0], "extra": 1 }).to_string();
        assert!(decode_text::<ToServer>(&unknown).unwrap_err().contains("extra"));
        let no_type = serde_json::json!({ "seq": 1, "state": [0.0] }).to_string();
        assert!(decode_text::<ToServer>(&no_type).unwrap_err().contains("type"));
        // A MessagePack extension value where a number belongs is refused, not interpreted.
        let mut ext = rmp_serde::to_vec_named(&serde_json::json!({ "type": "obs", "seq": 1, "state": [] })).unwrap();
        let n = ext.len();
        ext[n - 1] = 0x91; // an array of one element...
        ext.extend_from_slice(&[0xd4, 0x01, 0x00]); // ...which is a fixext 1
        assert!(decode_binary::<ToServer>(&ext).is_err());
    }
}
