//! deepcrl `train`: Contrastive RL training of deep goal-conditioned teachers (DESIGN.md section 3).
//!
//! This crate is being built in slices; so far it has the trajectory replay and the hindsight goal
//! sampler ([`replay`]). The training loop, CLI, evaluation and checkpoints come next (issue 4).

pub mod replay;
