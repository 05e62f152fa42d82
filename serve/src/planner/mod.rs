//! The planner (DESIGN.md section 8): everything the deep teacher does for the server, in the order a
//! plan is made.
//!
//! - [`distances`]: the CRL distance d(x, g) = ‖φ(x, π(x, g)) − ψ(g)‖ for many pairs at once
//!   ([`distances::DistanceNet`]).
//! - [`graph`]: the bank's node-to-node graph weighted by those distances, its cache file, Dijkstra.
//! - [`plan`]: plans for a batch of sessions in one network pass ([`plan::PlannerAssets`]).
//! - [`worker`]: the planner's own thread, which batches due sessions and installs their plans.

pub mod distances;
pub mod graph;
pub mod plan;
pub mod worker;

pub use worker::PlannerHandle;
